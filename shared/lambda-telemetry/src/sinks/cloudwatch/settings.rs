//! Where lines are shipped: the group and stream, and whether to create them.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::Config;
#[cfg(test)]
use crate::constants::DEFAULT_LOG_RETENTION_DAYS;

/// Where and how lines are shipped.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) group: String,
    pub(crate) stream: String,
    /// Create the group (with `retention_days`) and the stream when missing.
    pub(crate) create: bool,
    pub(crate) retention_days: i32,
}

impl Settings {
    /// To `group`, with `config`'s CloudWatch settings.
    pub(super) fn new(group: String, config: &Config) -> Self {
        let settings = &config.cloudwatch;
        let host = config.runtime.hostname.as_deref();
        Self {
            group,
            stream: settings
                .stream
                .clone()
                .unwrap_or_else(|| default_stream(&config.service_name, host)),
            create: settings.create,
            retention_days: settings.retention_days,
        }
    }
}

/// `<service>/<date>/<host>-<pid>-<random>`: which program, which day, which process, as
/// Lambda's own `2026/11/21/[$LATEST]<id>` streams tell which execution environment.
fn default_stream(service: &str, host: Option<&str>) -> String {
    let host = host
        .map(str::to_owned)
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    let random = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
        ^ std::process::id().rotate_left(16);
    let stream = format!(
        "{service}/{}/{host}-{}-{random:08x}",
        chrono::Utc::now().format("%Y/%m/%d"),
        std::process::id()
    );
    // Log stream names cannot hold ':' or '*'.
    stream.replace([':', '*'], "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_name_says_service_date_and_instance() {
        let stream = default_stream("home-activities", None);
        let parts: Vec<_> = stream.split('/').collect();
        assert_eq!(parts.len(), 5, "{stream}");
        assert_eq!(parts[1].len(), 4, "{stream}");
        assert!(
            parts[4].contains(&format!("-{}-", std::process::id())),
            "{stream}"
        );
        assert!(!stream.contains([':', '*']));
    }

    #[test]
    fn the_default_retention_is_the_templates() {
        let template = include_str!("../../../../../template.yaml");
        let retention = template
            .split("LogRetentionInDays:")
            .nth(1)
            .and_then(|rest| rest.split("Default:").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap();
        assert_eq!(
            retention.parse::<i32>().unwrap(),
            DEFAULT_LOG_RETENTION_DAYS
        );
    }
}
