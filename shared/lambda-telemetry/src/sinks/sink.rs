//! The shape every sink has: [`Sink`], what a flush could not deliver ([`Loss`]), and what a
//! sink is built from ([`Setup`]).
//!
//! Modelled on opentelemetry-sdk's `SpanExporter` (export a batch, flush, shut down; retries
//! are the exporter's business), with two differences the Lambda life cycle asks for: every
//! operation has a deadline, the flush budget, and none fails: what did not leave is counted.

use std::fmt;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use opentelemetry_sdk::Resource;

use super::spans::SpanBatch;
use crate::config::{Config, setting};
use crate::constants::OTEL_TRACES_EXPORTER;

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

    /// Sends, before `deadline`, what the sink queued itself since the last flush and, if it
    /// takes spans, those of `spans`. The call does what needs the batch (the future cannot
    /// borrow it): reads the spans or [claims](SpanBatch::claim_sampled) the sampled ones,
    /// sends what costs no wait (a UDP datagram); the future does the waiting.
    fn flush<'s>(&'s self, spans: &mut SpanBatch, deadline: Instant) -> BoxFuture<'s, Loss>;

    /// At shutdown, after the last flush: a last chance, before `deadline`, for what is still
    /// queued, and the count of what never left.
    fn close(&self, _deadline: Instant) -> BoxFuture<'_, Loss> {
        Loss::default().at_once()
    }

    /// Starts what the sink does between invocations, once, when serving starts. `budget`
    /// bounds each of its sends as it bounds a flush.
    fn start_background(&self, _budget: Duration) {}
}

/// What one flush could not deliver, by kind. The pipeline adds up the losses of every sink
/// and says each kind in one WARN line per flush (X-Ray's and OTLP's lost spans share a line),
/// and nothing when nothing was lost.
#[derive(Debug, Default)]
pub(crate) struct Loss {
    kinds: Vec<(&'static Lost, Counts)>,
}

/// A kind of loss and the WARN line it is said in. One `static` per kind: losses of the same
/// static add up.
pub(crate) struct Lost {
    /// Writes the line, with the counts and the budget the flush had.
    pub(crate) say: fn(&Counts, Duration),
}

impl fmt::Debug for Lost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Lost")
    }
}

/// How much of one kind a flush lost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Refused by the backend or not delivered within the budget (spans: also those a full
    /// buffer turned away).
    pub(crate) dropped: u64,
    /// Never handed to the network (X-Ray: the socket's buffer was full).
    pub(crate) unsent: u64,
    /// Over a cap (Rollbar's `ROLLBAR_MAX_ITEMS` per invocation), never sent.
    pub(crate) over_cap: u64,
    /// The status a backend refused with, if one did.
    pub(crate) refused_status: Option<u16>,
}

impl Counts {
    fn is_zero(&self) -> bool {
        self.dropped == 0 && self.unsent == 0 && self.over_cap == 0
    }

    fn add(&mut self, other: &Counts) {
        self.dropped += other.dropped;
        self.unsent += other.unsent;
        self.over_cap += other.over_cap;
        self.refused_status = other.refused_status.or(self.refused_status);
    }
}

impl Loss {
    /// `counts` of `kind`; no loss at all when every count is zero.
    pub(crate) fn of(kind: &'static Lost, counts: Counts) -> Self {
        let mut loss = Self::default();
        loss.add_counts(kind, &counts);
        loss
    }

    /// This loss and `other`'s, kind by kind.
    pub(crate) fn add(&mut self, other: Loss) {
        for (kind, counts) in &other.kinds {
            self.add_counts(kind, counts);
        }
    }

    fn add_counts(&mut self, kind: &'static Lost, counts: &Counts) {
        if counts.is_zero() {
            return;
        }
        match self.kinds.iter_mut().find(|(k, _)| std::ptr::eq(*k, kind)) {
            Some((_, total)) => total.add(counts),
            None => self.kinds.push((kind, *counts)),
        }
    }

    /// Says each kind lost, in its WARN line.
    pub(crate) fn say(&self, budget: Duration) {
        for (kind, counts) in &self.kinds {
            (kind.say)(counts, budget);
        }
    }

    /// A future that is this loss at once: for a sink with nothing to wait for.
    pub(crate) fn at_once(self) -> BoxFuture<'static, Loss> {
        Box::pin(std::future::ready(self))
    }
}

/// A line to say at start, once the log is up: whether a sink is on, and why not.
pub(crate) type Notice = Box<dyn FnOnce()>;

/// What a sink is built from, and where it hands the parts that are not the sink: the
/// problems and notices said at start.
pub(crate) struct Setup<'a> {
    /// The settings given in code, over the environment's.
    pub(crate) config: &'a Config,
    /// The resource spans are exported with (`service.name`, the FaaS attributes).
    pub(crate) resource: &'a Resource,
    /// Settings that cannot be used, in words that name the setting and the reason, never the
    /// value (it may be a key): said as WARN lines once the log is up.
    pub(crate) problems: Vec<String>,
    /// `OTEL_TRACES_EXPORTER`'s entries, lowercase; `None` when it is not set.
    exporters: Option<Vec<String>>,
    /// The exporter names sinks asked for: every other entry is a problem.
    known: Vec<&'static str>,
    /// What to say at start, after the problems.
    notices: Vec<Notice>,
}

impl<'a> Setup<'a> {
    /// A setup with `OTEL_TRACES_EXPORTER` read from the environment.
    pub(crate) fn from_env(config: &'a Config, resource: &'a Resource) -> Self {
        Self::with_exporters(config, resource, setting(OTEL_TRACES_EXPORTER).as_deref())
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
            exporters: exporters.map(|value| {
                value
                    .split(',')
                    .map(|name| name.trim().to_ascii_lowercase())
                    .collect()
            }),
            known: Vec::new(),
            notices: Vec::new(),
        }
    }

    /// Whether `OTEL_TRACES_EXPORTER` lists `name` (in any case, once or more). Every span
    /// exporter asks, so that the entries no sink asked for can be reported.
    pub(crate) fn exporter(&mut self, name: &'static str) -> bool {
        if !self.known.contains(&name) {
            self.known.push(name);
        }
        self.exporters
            .as_ref()
            .is_some_and(|names| names.iter().any(|n| n == name))
    }

    /// Whether `OTEL_TRACES_EXPORTER` is set at all: unset, a sink may export by default
    /// (OTLP does when an endpoint is configured).
    pub(crate) fn exporters_named(&self) -> bool {
        self.exporters.is_some()
    }

    /// Says `notice` at start (whether a sink is on, and why not), after the problems.
    pub(crate) fn notice(&mut self, notice: impl FnOnce() + 'static) {
        self.notices.push(Box::new(notice));
    }

    /// The entries of `OTEL_TRACES_EXPORTER` a sink asked for, in its order, once each.
    #[cfg(test)]
    pub(crate) fn listed(&self) -> Vec<&str> {
        let mut listed: Vec<&str> = Vec::new();
        for name in self.exporters.iter().flatten() {
            if self.known.iter().any(|k| k == name) && !listed.contains(&name.as_str()) {
                listed.push(name);
            }
        }
        listed
    }

    /// The problems, those of `OTEL_TRACES_EXPORTER` first, and the notices.
    pub(crate) fn finish(self) -> (Vec<String>, Vec<Notice>) {
        let mut problems = self.unknown_exporters();
        problems.extend(self.problems);
        (problems, self.notices)
    }

    /// An entry of `OTEL_TRACES_EXPORTER` no sink asked for, by position: a setting's value is
    /// never said (it may be a key in the wrong place).
    fn unknown_exporters(&self) -> Vec<String> {
        let Some(names) = &self.exporters else {
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
                format!(
                    "{OTEL_TRACES_EXPORTER}: entry {} of {} is not {known} or none; it is ignored",
                    i + 1,
                    names.len()
                )
            })
            .collect()
    }
}
