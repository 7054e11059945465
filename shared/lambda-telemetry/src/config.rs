//! Settings: read from the environment, each one overridable in code.

use std::env;

use crate::constants::{
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE, AWS_LAMBDA_FUNCTION_NAME, AWS_LAMBDA_LOG_FORMAT,
    AWS_LAMBDA_LOG_LEVEL, AWS_SAM_LOCAL, DEFAULT_LOG_LEVEL, DEFAULT_SERVICE_NAME, LAMBDA_TASK_ROOT,
    OTEL_SERVICE_NAME, RUST_LOG,
};

/// How a log line looks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line, for CloudWatch Logs Insights and Lambda's JSON log format.
    #[default]
    Json,
    /// One readable line per event, for people at a terminal: time, level, request id,
    /// message, the event's fields and the trace id (see the `logs` module). A value of
    /// several lines (a backtrace) follows on indented lines.
    Text,
}

/// What [`Config::init`] sets up. Built from the environment, changed with `with_*` methods;
/// a setting given in code wins over the environment.
///
/// ```
/// use lambda_telemetry::{Config, LogFormat};
///
/// let config = Config::from_env()
///     .with_service_name("cruddur")
///     .with_log_format(LogFormat::Text);
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    pub(crate) service_name: String,
    pub(crate) log_filter: String,
    pub(crate) log_format: LogFormat,
    pub(crate) function_name: Option<String>,
    pub(crate) function_memory_size: Option<u32>,
    pub(crate) route: Option<String>,
    /// Running in Lambda itself, where every stdout line becomes a CloudWatch Logs event:
    /// `LAMBDA_TASK_ROOT` set, and not by SAM CLI's emulator (`AWS_SAM_LOCAL`), whose output
    /// goes to a terminal. Decides how a text line breaks (see `logs`).
    pub(crate) in_lambda: bool,
}

/// A setting of the environment: `None` when unset or blank, so that an empty variable (a
/// template's empty parameter) means the default everywhere.
pub(crate) fn setting(name: &str) -> Option<String> {
    env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// A whole-number setting read with `lookup`: `None` when unset or blank, and also when it is
/// not a whole number, in which case the problem goes to `problems` in words that name the
/// setting and what it should be, never its value (it may be a key pasted into the wrong
/// variable).
pub(crate) fn number(
    name: &str,
    lookup: impl Fn(&str) -> Option<String>,
    problems: &mut Vec<String>,
) -> Option<u64> {
    let value = lookup(name).filter(|v| !v.trim().is_empty())?;
    let parsed = value.trim().parse().ok();
    if parsed.is_none() {
        problems.push(format!("{name} is not a whole number; using the default"));
    }
    parsed
}

/// A yes/no setting: `on`, `true`, `yes`, `1` or `off`, `false`, `no`, `0` (any case);
/// anything else, or nothing, is `default`.
pub(crate) fn flag(name: &str, default: bool) -> bool {
    match setting(name)
        .map(|v| v.trim().to_ascii_lowercase())
        .as_deref()
    {
        Some("on" | "true" | "yes" | "1") => true,
        Some("off" | "false" | "no" | "0") => false,
        _ => default,
    }
}

impl Config {
    /// Reads `OTEL_SERVICE_NAME`, `AWS_LAMBDA_LOG_LEVEL`, `RUST_LOG`, `AWS_LAMBDA_LOG_FORMAT`
    /// and the function's name and memory size that Lambda sets.
    pub fn from_env() -> Self {
        Self::from_lookup(setting)
    }

    fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Self {
        let function_name = var(AWS_LAMBDA_FUNCTION_NAME);
        Self {
            service_name: var(OTEL_SERVICE_NAME)
                .or_else(|| function_name.clone())
                .unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_owned()),
            log_filter: var(AWS_LAMBDA_LOG_LEVEL)
                .and_then(|level| lambda_level_directive(&level))
                .or_else(|| var(RUST_LOG))
                .unwrap_or_else(|| DEFAULT_LOG_LEVEL.to_owned()),
            log_format: match var(AWS_LAMBDA_LOG_FORMAT) {
                Some(format) if format.trim().eq_ignore_ascii_case("text") => LogFormat::Text,
                _ => LogFormat::Json,
            },
            function_memory_size: var(AWS_LAMBDA_FUNCTION_MEMORY_SIZE)
                .and_then(|m| m.trim().parse().ok()),
            function_name,
            route: None,
            in_lambda: var(LAMBDA_TASK_ROOT).is_some()
                && !var(AWS_SAM_LOCAL).is_some_and(|v| v.trim().eq_ignore_ascii_case("true")),
        }
    }

    /// The `service` on every log line.
    pub fn with_service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = name.into();
        self
    }

    /// A level (`debug`) or `tracing-subscriber` filter directives (`info,hyper=warn`).
    pub fn with_log_filter(mut self, directives: impl Into<String>) -> Self {
        self.log_filter = directives.into();
        self
    }

    /// The route template the function serves, for events that name none (function URLs,
    /// `cargo lambda watch`): see [`InvocationLayer::with_route`](crate::InvocationLayer::with_route).
    pub fn with_route(mut self, route: impl Into<String>) -> Self {
        self.route = Some(route.into());
        self
    }

    /// JSON or text lines.
    pub fn with_log_format(mut self, format: LogFormat) -> Self {
        self.log_format = format;
        self
    }
}

/// Lambda's levels (`TRACE` .. `FATAL`) as a `tracing` directive; `FATAL` has no `tracing`
/// level, and `ERROR` is the closest that still lets fatal lines through. Anything else is
/// ignored: as a directive, a stray word would name a target and silence every other line.
fn lambda_level_directive(level: &str) -> Option<String> {
    let level = level.trim().to_ascii_lowercase();
    match level.as_str() {
        "trace" | "debug" | "info" | "warn" | "error" => Some(level),
        "fatal" => Some("error".to_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn a_number_that_is_not_one_is_said_by_name_and_never_by_value() {
        let mut problems = Vec::new();
        let lookup = |name: &str| match name {
            "GOOD_MS" => Some(" 250 ".to_owned()),
            "BAD_MS" => Some("fast-x9".to_owned()),
            "BLANK_MS" => Some("  ".to_owned()),
            _ => None,
        };
        assert_eq!(number("GOOD_MS", lookup, &mut problems), Some(250));
        assert_eq!(number("UNSET_MS", lookup, &mut problems), None);
        assert_eq!(number("BLANK_MS", lookup, &mut problems), None);
        assert!(problems.is_empty());
        assert_eq!(number("BAD_MS", lookup, &mut problems), None);
        assert_eq!(
            problems,
            ["BAD_MS is not a whole number; using the default"]
        );
    }

    fn config(vars: &[(&str, &str)]) -> Config {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn lambda_log_level_wins_over_rust_log() {
        let c = config(&[("AWS_LAMBDA_LOG_LEVEL", "DEBUG"), ("RUST_LOG", "warn")]);
        assert_eq!(c.log_filter, "debug");
        assert_eq!(
            config(&[("RUST_LOG", "warn,h=off")]).log_filter,
            "warn,h=off"
        );
        assert_eq!(config(&[]).log_filter, "info");
        assert_eq!(
            config(&[("AWS_LAMBDA_LOG_LEVEL", "FATAL")]).log_filter,
            "error"
        );
    }

    #[test]
    fn log_format_is_json_unless_text_is_asked_for() {
        assert_eq!(config(&[]).log_format, LogFormat::Json);
        let text = config(&[("AWS_LAMBDA_LOG_FORMAT", "Text")]);
        assert_eq!(text.log_format, LogFormat::Text);
        let json = config(&[("AWS_LAMBDA_LOG_FORMAT", "JSON")]);
        assert_eq!(json.log_format, LogFormat::Json);
    }

    /// Lambda sets `LAMBDA_TASK_ROOT` (`/var/task`); so does SAM CLI's emulator, which adds
    /// `AWS_SAM_LOCAL=true`; `cargo lambda watch` sets neither.
    #[test]
    fn only_lambda_itself_counts_as_in_lambda() {
        assert!(config(&[("LAMBDA_TASK_ROOT", "/var/task")]).in_lambda);
        assert!(!config(&[("LAMBDA_TASK_ROOT", "/var/task"), ("AWS_SAM_LOCAL", "true")]).in_lambda);
        assert!(!config(&[("AWS_LAMBDA_FUNCTION_NAME", "home")]).in_lambda);
    }

    #[test]
    fn service_name_falls_back_to_the_function_name() {
        let c = config(&[
            ("AWS_LAMBDA_FUNCTION_NAME", "home"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ]);
        assert_eq!(c.service_name, "home");
        assert_eq!(c.function_memory_size, Some(128));
        let c = config(&[
            ("AWS_LAMBDA_FUNCTION_NAME", "home"),
            ("OTEL_SERVICE_NAME", "cruddur"),
        ]);
        assert_eq!(c.service_name, "cruddur");
        assert_eq!(config(&[]).service_name, "unknown_service");
    }

    #[test]
    fn settings_in_code_win_over_the_environment() {
        let c = config(&[("OTEL_SERVICE_NAME", "env")])
            .with_service_name("code")
            .with_log_format(LogFormat::Text)
            .with_log_filter("trace");
        assert_eq!(
            (c.service_name.as_str(), c.log_format, c.log_filter.as_str()),
            ("code", LogFormat::Text, "trace")
        );
    }
}
