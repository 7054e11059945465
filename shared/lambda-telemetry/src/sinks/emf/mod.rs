//! `OTEL_METRICS_EXPORTER=emf` (the default): each invocation's metrics as CloudWatch Embedded
//! Metric Format documents, one JSON object per line on stdout, where Lambda already sends
//! every line to CloudWatch Logs, which extracts the metrics. No API call, no wait, no cost
//! per call: the lines are written in the flush after the response.
//!
//! The lines keep the JSON log contract: they have no `message` or `duration_ms` (the saved
//! Logs Insights queries pass them by), they go through the log output (CloudWatch Logs
//! shipping copies them too), and they carry a `level` only when Lambda's application log
//! level is above INFO, then that level (beside the RFC 3339 `timestamp` every line has, without
//! which Lambda ignores a level), so that Lambda's filter, which reads a line without one as
//! INFO, keeps them.

mod document;

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use futures_util::future::BoxFuture;

use self::document::{Documents, Emf as EmfContext};
use super::loss::{Counts, Loss, METRIC_VALUES_LOST};
use super::sink::{Batch, Setup, Sink};
use crate::config::SettingProblem;
use crate::constants::POWERTOOLS_METRICS_NAMESPACE;
use crate::logs::Output;

/// Writes every metrics group of a flush as EMF lines.
struct Emf {
    context: EmfContext,
    /// The log output, set once every sink is built.
    output: Arc<OnceLock<Output>>,
}

impl std::fmt::Debug for Emf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emf")
            .field("namespace", &self.context.namespace)
            .finish_non_exhaustive()
    }
}

/// The EMF sink, when `OTEL_METRICS_EXPORTER` lists `emf` or is unset.
pub(super) fn build(setup: &mut Setup<'_>) -> Option<Box<dyn Sink>> {
    if !setup.metrics_exporter("emf") {
        return None;
    }
    let namespace = namespace(setup);
    let level = level_for_lambda(setup.config.metrics.lambda_log_level.as_deref());
    Some(Box::new(Emf {
        context: EmfContext {
            namespace,
            service: setup.config.service_name.clone(),
            level,
        },
        output: setup.log_output(),
    }))
}

impl Sink for Emf {
    fn takes_metrics(&self) -> bool {
        true
    }

    fn flush<'s>(&'s self, batch: &mut Batch, _deadline: Instant) -> BoxFuture<'s, Loss> {
        let mut unpublished = Vec::new();
        let mut dropped = 0;
        let mut all_lines = Vec::new();
        for group in &batch.metrics.groups {
            let Documents {
                lines,
                unpublished: left_out,
                dropped_values,
            } = document::documents(group, &self.context);
            all_lines.extend(lines);
            dropped += dropped_values;
            for what in left_out {
                if !unpublished.contains(&what) {
                    unpublished.push(what);
                }
            }
        }
        if !all_lines.is_empty() {
            let _ = self
                .output
                .get_or_init(Output::default)
                .write_lines(&all_lines);
        }
        if !unpublished.is_empty() {
            // Names only: a value may be anything the handler was handed.
            tracing::warn!(
                unpublished = ?unpublished,
                "some metrics, dimension sets or metadata were not published: CloudWatch takes printable ASCII dimension names of 1 to 250 characters and values of 1 to 1,024, at most 30 dimensions per set, metric names of 1 to 255 characters, and no name the line has itself (service, timestamp, level, message, duration_ms, the ids)"
            );
        }
        Loss::of(
            &METRIC_VALUES_LOST,
            Counts {
                dropped,
                ..Counts::default()
            },
        )
        .at_once()
    }
}

/// The namespace: given in code or `POWERTOOLS_METRICS_NAMESPACE`, else the resource's
/// `service.namespace` (OpenTelemetry's name for it, from `OTEL_RESOURCE_ATTRIBUTES`), else
/// the service name. One CloudWatch cannot take is a problem, and the next one down is used.
fn namespace(setup: &mut Setup<'_>) -> String {
    if let Some(given) = &setup.config.metrics.namespace {
        match valid_namespace(given) {
            Ok(()) => return given.trim().to_owned(),
            Err(reason) => setup
                .problems
                .push(SettingProblem::new(POWERTOOLS_METRICS_NAMESPACE, reason)),
        }
    }
    let from_resource = setup
        .resource
        .get(&opentelemetry::Key::from_static_str("service.namespace"))
        .map(|value| value.to_string())
        .filter(|namespace| valid_namespace(namespace).is_ok());
    from_resource.unwrap_or_else(|| {
        let service = &setup.config.service_name;
        if valid_namespace(service).is_ok() {
            service.clone()
        } else {
            service_as_namespace(service)
        }
    })
}

/// CloudWatch's rule for a namespace: 1 to 255 characters, letters, digits and `.-_/#:` or a
/// space, at least one not a space, not starting with `AWS/` (AWS's own). Said without the value.
fn valid_namespace(namespace: &str) -> Result<(), &'static str> {
    let namespace = namespace.trim();
    if namespace.is_empty() || namespace.chars().count() > 255 {
        return Err("must be 1 to 255 characters; using service.namespace, else the service name");
    }
    if !namespace
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || ".-_/#: ".contains(c))
    {
        return Err(
            "may hold only letters, digits, spaces and . - _ / # :; using service.namespace, else the service name",
        );
    }
    if namespace.starts_with("AWS/") {
        return Err(
            "must not start with AWS/ (AWS's own namespaces); using service.namespace, else the service name",
        );
    }
    Ok(())
}

/// A service name CloudWatch would refuse as a namespace, made acceptable: other characters
/// as `_`, a `_` first when it is blank or starts with `AWS/`, cut at 255.
fn service_as_namespace(service: &str) -> String {
    let mut namespace: String = service
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_/#: ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if namespace.trim().is_empty() || namespace.starts_with("AWS/") {
        namespace.insert(0, '_');
    }
    namespace.truncate(255);
    namespace
}

/// The `level` EMF lines carry: none when Lambda's application log level lets INFO through
/// (Lambda reads a line without a level as INFO), else that level, so its filter keeps them.
fn level_for_lambda(lambda_level: Option<&str>) -> Option<&'static str> {
    match lambda_level?.trim().to_ascii_uppercase().as_str() {
        "WARN" => Some("WARN"),
        "ERROR" => Some("ERROR"),
        "FATAL" => Some("FATAL"),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
