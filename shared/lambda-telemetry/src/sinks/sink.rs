//! The shape every sink has: [`Sink`], and what a sink is built from ([`Setup`]).
//!
//! Modelled on opentelemetry-sdk's `SpanExporter` (export a batch, flush, shut down; retries
//! are the exporter's business), with two differences the Lambda life cycle asks for: every
//! operation has a deadline, the flush budget, and none fails: what did not leave is counted.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use opentelemetry_sdk::Resource;

use super::loss::Loss;
use super::spans::SpanBatch;
use crate::config::{Config, SettingProblem, yes_or_no};
use crate::constants::{OTEL_METRICS_EXPORTER, OTEL_TRACES_EXPORTER};
use crate::logs::hooks::EventHook;
use crate::logs::{LineCopy, Output};
use crate::metrics::MetricBatch;

/// Where telemetry leaves the process: one backend or output (OTLP, X-Ray, the console,
/// Rollbar, CloudWatch Logs).
///
/// After each response is posted the pipeline calls [`flush`](Sink::flush) on every sink, in
/// the order of the list, then awaits what they return side by side, until one deadline. A
/// sink never fails a flush: what it could not deliver is counted in the [`Loss`] it returns,
/// which the pipeline says.
pub(crate) trait Sink: Send + Sync + fmt::Debug {
    /// Whether the sink is handed spans. While no sink is, spans are not even buffered.
    fn takes_spans(&self) -> bool {
        false
    }

    /// Whether the sink is handed metrics. While no sink is, metrics are not even recorded.
    fn takes_metrics(&self) -> bool {
        false
    }

    /// Sends, before `deadline`, what the sink queued itself since the last flush and, if it
    /// takes spans or metrics, those of `batch`. The call does what needs the batch (the
    /// future cannot borrow it): reads the spans or [claims](SpanBatch::claim_sampled) the
    /// sampled ones, encodes the metrics, sends what costs no wait (a UDP datagram, a line on
    /// stdout); the future does the waiting.
    fn flush<'s>(&'s self, batch: &mut Batch, deadline: Instant) -> BoxFuture<'s, Loss>;

    /// At shutdown, after the last flush: a last chance, before `deadline`, for what is still
    /// queued, and the count of what never left.
    fn close(&self, _deadline: Instant) -> BoxFuture<'_, Loss> {
        Loss::default().at_once()
    }

    /// Starts what the sink does between invocations, once, when serving starts. `budget`
    /// bounds each of its sends as it bounds a flush.
    fn start_background(&self, _budget: Duration) {}
}

/// What one flush hands every sink: the spans ended and the metrics recorded since the last.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    /// Ended spans, secrets masked.
    pub(crate) spans: SpanBatch,
    /// Every invocation's metrics group closed since the last flush.
    pub(crate) metrics: MetricBatch,
}

/// A line to say at start, once the log is up: whether a sink is on, and why not.
pub(crate) type Notice = Box<dyn FnOnce()>;

/// What a sink is built from, and where it hands the parts that are not the sink: what the
/// log layer is composed with, and the problems and notices said at start.
pub(crate) struct Setup<'a> {
    /// The settings given in code, over the environment's.
    pub(crate) config: &'a Config,
    /// The resource spans are exported with (`service.name`, the FaaS attributes).
    pub(crate) resource: &'a Resource,
    /// Settings that cannot be used, in words that name the setting and the reason, never the
    /// value (it may be a key): said as WARN lines once the log is up.
    pub(crate) problems: Vec<SettingProblem>,
    /// What consumes log events besides the line (Rollbar's capture).
    pub(crate) event_hooks: Vec<Arc<dyn EventHook>>,
    /// Where a copy of each log line goes besides stdout (CloudWatch Logs' queue).
    pub(crate) line_copies: Vec<Arc<dyn LineCopy>>,
    /// The log output once every sink is built: stdout and the copies above.
    log_output: Arc<OnceLock<Output>>,
    /// `OTEL_TRACES_EXPORTER`'s entries.
    traces: ExporterList,
    /// `OTEL_METRICS_EXPORTER`'s entries.
    metrics: ExporterList,
    /// What to say at start, after the problems.
    notices: Vec<Notice>,
    /// What the OTLP sinks of traces and metrics share (the headers' secret).
    pub(crate) otlp: super::otlp::Shared,
}

/// Every entry `OTEL_METRICS_EXPORTER` may hold.
const METRICS_EXPORTERS: [&str; 4] = ["emf", "otlp", "console", "none"];

/// The entries of one exporters setting, and the names sinks asked for: every other entry is
/// a problem.
struct ExporterList {
    setting: &'static str,
    /// Lowercase; `None` when the setting is not set.
    entries: Option<Vec<String>>,
    known: Vec<&'static str>,
}

impl ExporterList {
    fn new(setting: &'static str, value: Option<&str>) -> Self {
        Self {
            setting,
            entries: value.map(|value| {
                value
                    .split(',')
                    .map(|name| name.trim().to_ascii_lowercase())
                    .collect()
            }),
            known: Vec::new(),
        }
    }

    fn lists(&mut self, name: &'static str) -> bool {
        if !self.known.contains(&name) {
            self.known.push(name);
        }
        self.entries
            .as_ref()
            .is_some_and(|names| names.iter().any(|n| n == name))
    }

    /// An entry no sink asked for, by position: a setting's value is never said (it may be a
    /// key in the wrong place).
    fn unknown(&self) -> Vec<SettingProblem> {
        let Some(names) = &self.entries else {
            return Vec::new();
        };
        let known = self.known.join(", ");
        names
            .iter()
            .enumerate()
            .filter(|(_, name)| {
                !name.is_empty() && *name != "none" && !self.known.iter().any(|k| k == name)
            })
            .map(|(i, _)| {
                SettingProblem::entry(
                    self.setting,
                    i + 1,
                    names.len(),
                    format!("is not {known} or none; it is ignored"),
                )
            })
            .collect()
    }
}

impl<'a> Setup<'a> {
    /// A setup with the exporters of `config` (`OTEL_TRACES_EXPORTER`, or set in code).
    pub(crate) fn new(config: &'a Config, resource: &'a Resource) -> Self {
        Self::with_exporters(config, resource, config.traces.exporters.as_deref())
    }

    /// A setup with `exporters` as the value of `OTEL_TRACES_EXPORTER`.
    pub(crate) fn with_exporters(
        config: &'a Config,
        resource: &'a Resource,
        exporters: Option<&str>,
    ) -> Self {
        Self {
            config,
            resource,
            problems: Vec::new(),
            event_hooks: Vec::new(),
            line_copies: Vec::new(),
            log_output: Arc::default(),
            traces: ExporterList::new(OTEL_TRACES_EXPORTER, exporters),
            metrics: ExporterList::new(OTEL_METRICS_EXPORTER, config.metrics.exporters.as_deref()),
            notices: Vec::new(),
            otlp: Default::default(),
        }
    }

    /// Whether `OTEL_TRACES_EXPORTER` lists `name` (in any case, once or more). Every span
    /// exporter asks, so that the entries no sink asked for can be reported.
    pub(crate) fn exporter(&mut self, name: &'static str) -> bool {
        self.traces.lists(name)
    }

    /// Whether `OTEL_TRACES_EXPORTER` is set at all: unset, a sink may export by default
    /// (OTLP does when an endpoint is configured).
    pub(crate) fn exporters_named(&self) -> bool {
        self.traces.entries.is_some()
    }

    /// Whether `OTEL_METRICS_EXPORTER` lists `name`, or, unset, whether `name` is the default
    /// (`emf`: in Lambda, stdout already reaches CloudWatch). Never when metrics are disabled
    /// (`POWERTOOLS_METRICS_DISABLED`).
    /// A list that names none of `emf`, `otlp`, `console`, `none` (a typo) counts as unset:
    /// a deployed typo must not leave the dashboard empty and the alarms silent.
    pub(crate) fn metrics_exporter(&mut self, name: &'static str) -> bool {
        let listed = self.metrics.lists(name);
        let on = if self.metrics_exporters_named() {
            listed
        } else {
            name == "emf"
        };
        on && !self.metrics_disabled()
    }

    /// Whether `OTEL_METRICS_EXPORTER` names at least one exporter this crate knows.
    fn metrics_exporters_named(&self) -> bool {
        self.metrics
            .entries
            .iter()
            .flatten()
            .any(|entry| METRICS_EXPORTERS.contains(&entry.as_str()))
    }

    fn metrics_disabled(&mut self) -> bool {
        self.config
            .metrics
            .disabled
            .resolve(yes_or_no, &mut self.problems)
            .unwrap_or(false)
    }

    /// The log output, for a sink that writes lines of its own (EMF): usable once every sink
    /// is built, so that it has every sink's copies, whatever the order of the sinks.
    pub(crate) fn log_output(&self) -> Arc<OnceLock<Output>> {
        Arc::clone(&self.log_output)
    }

    /// Composes the log output from the copies sinks asked for, and hands it to the sinks
    /// that write lines.
    pub(crate) fn finish_log_output(&mut self) -> Output {
        let output = Output::new(std::mem::take(&mut self.line_copies));
        let _ = self.log_output.set(output.clone());
        output
    }

    /// Says `notice` at start (whether a sink is on, and why not), after the problems.
    pub(crate) fn notice(&mut self, notice: impl FnOnce() + 'static) {
        self.notices.push(Box::new(notice));
    }

    /// The entries of `OTEL_TRACES_EXPORTER` a sink asked for, in its order, once each.
    #[cfg(test)]
    pub(crate) fn listed(&self) -> Vec<&str> {
        let mut listed: Vec<&str> = Vec::new();
        for name in self.traces.entries.iter().flatten() {
            if self.traces.known.iter().any(|k| k == name) && !listed.contains(&name.as_str()) {
                listed.push(name);
            }
        }
        listed
    }

    /// The problems, those of the exporters' lists first, and the notices.
    pub(crate) fn finish(&mut self) -> (Vec<SettingProblem>, Vec<Notice>) {
        let mut problems = self.traces.unknown();
        problems.extend(self.metrics.unknown());
        if self.metrics.entries.is_some() && !self.metrics_exporters_named() {
            problems.push(SettingProblem::new(
                OTEL_METRICS_EXPORTER,
                "names none of emf, otlp, console, none; using emf",
            ));
        }
        // A setting two sinks read (the secrets' maximum age) is said once.
        for problem in self.problems.drain(..) {
            if !problems.contains(&problem) {
                problems.push(problem);
            }
        }
        (problems, std::mem::take(&mut self.notices))
    }
}
