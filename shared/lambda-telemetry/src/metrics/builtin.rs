//! What the crate records by itself, without a line of handler code: per invocation a request
//! count, an error count and a duration by function, route and status class; a cold start once
//! per execution environment; and the telemetry each flush lost.
//!
//! Names follow the OpenTelemetry FaaS metric conventions (`faas.invocations`, `faas.errors`,
//! `faas.invoke_duration` in seconds, `faas.coldstarts`); `http.response.status_class` is ours
//! (`2xx`...`5xx`), so that a route's metrics stay a handful of series.

use std::time::Duration;

use http::StatusCode;
use metrics::Key;

use super::record::{InvocationIds, Pending, Recorded, Series, Value};
use super::{Metrics, describe};
use crate::config::SettingProblem;
use crate::constants::metric_keys;

/// Which of the crate's own metrics are recorded: `LAMBDA_TELEMETRY_METRICS_BUILTIN`, a list of
/// `invocations`, `cold_starts`, `losses` (all by default), or `none`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Builtins {
    /// `faas.invocations`, `faas.errors` and `faas.invoke_duration` per invocation.
    pub invocations: bool,
    /// `faas.coldstarts` on the first invocation of the execution environment.
    pub cold_starts: bool,
    /// `lambda_telemetry.lost`: spans, log lines, error reports and metric values a flush lost.
    pub losses: bool,
}

impl Default for Builtins {
    fn default() -> Self {
        Self::ALL
    }
}

impl Builtins {
    /// Every built-in metric.
    pub const ALL: Self = Self {
        invocations: true,
        cold_starts: true,
        losses: true,
    };
    /// None of them.
    pub const NONE: Self = Self {
        invocations: false,
        cold_starts: false,
        losses: false,
    };

    /// Reads `LAMBDA_TELEMETRY_METRICS_BUILTIN`'s list: the entries it names are on, the
    /// others off; an unknown entry is a problem (named by position, never quoted) and the
    /// others still count.
    pub(crate) fn parse(
        setting: &'static str,
        text: &str,
        problems: &mut Vec<SettingProblem>,
    ) -> Self {
        let mut builtins = Self::NONE;
        let entries: Vec<String> = text
            .split(',')
            .map(|e| e.trim().to_ascii_lowercase())
            .collect();
        for (i, entry) in entries.iter().enumerate() {
            match entry.as_str() {
                "invocations" => builtins.invocations = true,
                "cold_starts" => builtins.cold_starts = true,
                "losses" => builtins.losses = true,
                "none" | "" => {}
                _ => problems.push(SettingProblem::entry(
                    setting,
                    i + 1,
                    entries.len(),
                    "is not invocations, cold_starts, losses or none; it is ignored",
                )),
            }
        }
        builtins
    }
}

/// How an invocation ended, as its built-in metrics tell it.
pub(crate) struct InvocationOutcome<'a> {
    /// The route template, `None` when neither the event nor the code named one.
    pub(crate) route: Option<&'a str>,
    pub(crate) status: StatusCode,
    /// From the request to the response, the handler's time.
    pub(crate) duration: Duration,
    pub(crate) cold_start: bool,
    pub(crate) ids: InvocationIds,
}

/// The route of an invocation no route was named for: one series, never the raw path (its
/// every value would be a new CloudWatch metric).
const UNKNOWN_ROUTE: &str = "unknown";

impl Metrics {
    /// Closes the invocation: its own group (if it recorded anything) and the crate's, moved
    /// to the store for the flush after the response.
    pub(crate) fn finish_invocation(&self, pending: &mut Pending, outcome: InvocationOutcome<'_>) {
        if self.required && pending.is_empty() {
            tracing::error!(
                "the invocation recorded no metric of its own (LAMBDA_TELEMETRY_METRICS_REQUIRED)"
            );
        }
        let InvocationOutcome {
            route,
            status,
            duration,
            cold_start,
            ids,
        } = outcome;
        if self.builtins.invocations {
            let error = u64::from(status.is_server_error());
            self.store.push(Recorded::builtin(
                vec![
                    counter(metric_keys::INVOCATIONS, 1),
                    counter(metric_keys::ERRORS, error),
                    Series {
                        key: Key::from_static_name(metric_keys::INVOKE_DURATION),
                        value: Value::Histogram(vec![duration.as_secs_f64()]),
                    },
                ],
                vec![
                    (
                        metric_keys::FAAS_NAME.to_owned(),
                        self.function_name.clone(),
                    ),
                    (
                        metric_keys::HTTP_ROUTE.to_owned(),
                        route.unwrap_or(UNKNOWN_ROUTE).to_owned(),
                    ),
                    (
                        metric_keys::HTTP_RESPONSE_STATUS_CLASS.to_owned(),
                        status_class(status).to_owned(),
                    ),
                ],
                vec![
                    vec![
                        metric_keys::FAAS_NAME.to_owned(),
                        metric_keys::HTTP_ROUTE.to_owned(),
                        metric_keys::HTTP_RESPONSE_STATUS_CLASS.to_owned(),
                    ],
                    vec![metric_keys::FAAS_NAME.to_owned()],
                ],
                Some(ids.clone()),
            ));
        }
        if self.builtins.cold_starts && cold_start {
            self.store.push(
                self.per_function(vec![counter(metric_keys::COLDSTARTS, 1)], Some(ids.clone())),
            );
        }
        if !pending.is_empty() || pending.refused > 0 {
            self.store.push(pending.take(Some(ids)));
        }
    }

    /// Records what a flush lost, by kind (`spans`, `log_lines`, ...), for the next flush.
    pub(crate) fn record_losses(&self, lost: &[(&'static str, u64)]) {
        if !self.builtins.losses || lost.is_empty() {
            return;
        }
        let series = lost
            .iter()
            .map(|(kind, count)| Series {
                key: Key::from_parts(
                    metric_keys::LOST,
                    vec![metrics::Label::new(metric_keys::KIND, *kind)],
                ),
                value: Value::Counter(*count),
            })
            .collect();
        self.store.push(self.per_function(series, None));
    }

    /// A group published by function only: `[service, faas.name]`.
    fn per_function(&self, series: Vec<Series>, ids: Option<InvocationIds>) -> Recorded {
        Recorded::builtin(
            series,
            vec![(
                metric_keys::FAAS_NAME.to_owned(),
                self.function_name.clone(),
            )],
            vec![vec![metric_keys::FAAS_NAME.to_owned()]],
            ids,
        )
    }
}

fn counter(name: &'static str, value: u64) -> Series {
    Series {
        key: Key::from_static_name(name),
        value: Value::Counter(value),
    }
}

/// `2xx`, `4xx`, ...: the class of an HTTP status.
fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

/// The units of the crate's own metrics, said once when metrics are installed.
pub(crate) fn describe_builtins() {
    use describe::Instrumented::Unit as U;
    use metrics::Unit;
    describe::describe_builtin(metric_keys::INVOCATIONS, U(Some(Unit::Count)));
    describe::describe_builtin(metric_keys::ERRORS, U(Some(Unit::Count)));
    describe::describe_builtin(metric_keys::INVOKE_DURATION, U(Some(Unit::Seconds)));
    describe::describe_builtin(metric_keys::COLDSTARTS, U(Some(Unit::Count)));
    describe::describe_builtin(metric_keys::LOST, U(Some(Unit::Count)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_are_read_from_a_list_and_unknown_entries_are_named_by_position() {
        let parse = |text| {
            let mut problems = Vec::new();
            let builtins = Builtins::parse(
                crate::constants::LAMBDA_TELEMETRY_METRICS_BUILTIN,
                text,
                &mut problems,
            );
            (builtins, problems)
        };
        assert_eq!(parse("none"), (Builtins::NONE, vec![]));
        assert_eq!(
            parse(" Cold_Starts ,losses").0,
            Builtins {
                invocations: false,
                cold_starts: true,
                losses: true
            }
        );
        // A typo turns nothing on: the valid entries count, the typo is said.
        let (builtins, problems) = parse("none,coldstart-x9");
        assert_eq!(builtins, Builtins::NONE);
        let problem = problems[0].to_string();
        assert!(problem.contains("entry 2 of 2"), "{problem}");
        assert!(!problem.contains("x9"), "{problem}");
    }

    #[test]
    fn status_classes_bound_the_series_of_a_route() {
        assert_eq!(status_class(StatusCode::OK), "2xx");
        assert_eq!(status_class(StatusCode::NOT_FOUND), "4xx");
        assert_eq!(status_class(StatusCode::BAD_GATEWAY), "5xx");
        assert_eq!(status_class(StatusCode::SWITCHING_PROTOCOLS), "1xx");
    }
}
