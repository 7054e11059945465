//! Metrics, the third signal: recorded with the [`metrics`](https://docs.rs/metrics) crate's
//! macros, published per invocation as CloudWatch Embedded Metric Format lines, over
//! OTLP/HTTP, or on the console (`OTEL_METRICS_EXPORTER`).
//!
//! ```
//! use lambda_telemetry::metrics::{Unit, counter, describe_histogram, histogram};
//!
//! // Once, at start-up, after `lambda_telemetry::init()` (the recorder `describe_*!` talks to
//! // is installed there): the unit goes with the name.
//! describe_histogram!("app.activities.load_time", Unit::Milliseconds, "time to load a feed");
//!
//! // In the handler.
//! counter!("app.activities.served", "feed" => "home").increment(1);
//! histogram!("app.activities.load_time").record(12.5);
//! lambda_telemetry::metrics::add_dimension("tenant", "acme");
//! lambda_telemetry::metrics::add_metadata("order_id", "4711");
//! ```
//!
//! # Why the `metrics` facade, not the OpenTelemetry metrics API
//!
//! Its macros are what Rust services already record with; a value recorded is a call through
//! one trait object with no instrument to build or keep; and its recorder is ours, so each
//! value lands in the invocation it was recorded in, which Powertools' EMF output needs (one
//! document per invocation, with its request id and trace id) and which the OpenTelemetry
//! SDK's process-wide aggregation cannot give under concurrent invocations. OpenTelemetry is
//! where metrics may go (`OTEL_METRICS_EXPORTER=otlp`), not how they are recorded: the meter
//! provider the crate installs records nothing, and says so once when a meter is asked of it.
//!
//! # What belongs to an invocation
//!
//! Inside an invocation (the handler, and what it `.await`s), every value, dimension and
//! metadata entry belongs to that invocation alone, also when one process serves several at
//! once (Lambda Managed Instances). Outside one (start-up, a task the handler started with
//! `tokio::spawn`), they belong to the process and are published at the next flush without a
//! request id. Values are published after the response, in the flush, within its budget.

mod builtin;
mod describe;
mod opentelemetry_api;
mod record;
mod store;
#[cfg(test)]
mod tests;

use std::sync::{Arc, OnceLock};

/// The `metrics` facade's macros and units, re-exported so that what a handler records with
/// is always the version this crate's recorder listens to (a handler that depends on another
/// major version of `metrics` records into that version's no-op recorder).
pub use ::metrics::{
    Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};
pub use builtin::Builtins;
pub(crate) use builtin::InvocationOutcome;
pub(crate) use describe::description;
#[cfg(test)]
pub(crate) use record::Op;
pub(crate) use record::{Instrument, InvocationIds, Pending, Recorded, Series, Value};
pub(crate) use store::{MetricBatch, MetricStore, StoreRecorder};

use crate::config::{Config, Setting, SettingProblem, yes_or_no};
use crate::invocation::scope;

/// Adds a dimension to every metric the current invocation records, in its default
/// dimension set (with `service` and each metric's labels). A name added twice keeps the last
/// value. Powertools' `add_dimension`.
///
/// CloudWatch takes at most 30 dimensions per set and values of 1 to 1,024 characters; a set
/// that breaks either is not published under (said in a WARN line). Each distinct value is a
/// new CloudWatch metric: use a dimension for what you will group by (a tenant, a feed), and
/// [`add_metadata`] for what you will search by (an order id).
pub fn add_dimension(name: impl Into<String>, value: impl Into<String>) {
    let (name, value) = (name.into(), value.into());
    with_pending(|pending| pending.add_dimension(name, value));
}

/// Publishes every metric of the current invocation once more under a dimension set of its
/// own: `service`, these dimensions, and each metric's labels. Powertools TypeScript's
/// `addDimensions`. EMF only: OTLP has no dimension sets (every dimension is an attribute of
/// the data point, and the backend groups by any of them).
///
/// ```
/// lambda_telemetry::metrics::add_dimension_set([("environment", "prod"), ("region", "eu-west-1")]);
/// ```
pub fn add_dimension_set<I, N, V>(dimensions: I)
where
    I: IntoIterator<Item = (N, V)>,
    N: Into<String>,
    V: Into<String>,
{
    let set: Vec<(String, String)> = dimensions
        .into_iter()
        .map(|(n, v)| (n.into(), v.into()))
        .collect();
    with_pending(|pending| pending.add_dimension_set(set));
}

/// Adds `key` to the current invocation's EMF document as a property that is not a dimension:
/// searchable in CloudWatch Logs Insights, no new metric, no cost per value. Powertools'
/// `add_metadata`. EMF only. A value under a secret-looking key (`token`, `password`, ...) is
/// masked, like a log field's.
pub fn add_metadata(key: impl Into<String>, value: impl Into<serde_json::Value>) {
    let (key, value) = (key.into(), value.into());
    with_pending(|pending| pending.add_metadata(key, value));
}

/// Stores the metric `name` at one-second resolution (EMF `StorageResolution: 1`) instead of
/// one minute. CloudWatch charges high-resolution metrics' alarms more; call it once, at
/// start-up, for the metrics that need it.
pub fn high_resolution(name: &str) {
    describe::describe(name, describe::Instrumented::HighResolution);
}

/// Runs `f` on the current invocation's pending metrics, or on the process's outside one.
fn with_pending(f: impl FnOnce(&mut record::Pending)) {
    let mut f = Some(f);
    let in_invocation = scope::with_pending_metrics(|pending| {
        if let Some(f) = f.take() {
            f(pending);
        }
    });
    if !in_invocation
        && let Some(f) = f
        && let Some(installed) = installed()
    {
        installed.store.with_outside(f);
    }
}

/// The metrics signal as installed: where groups wait, and what the crate records itself.
#[derive(Debug)]
pub(crate) struct Metrics {
    pub(crate) store: Arc<MetricStore>,
    pub(crate) builtins: Builtins,
    /// `LAMBDA_TELEMETRY_METRICS_REQUIRED`: an invocation that records no metric of its own
    /// is an ERROR line.
    pub(crate) required: bool,
    /// `faas.name` of the crate's own metrics.
    pub(crate) function_name: String,
}

impl Metrics {
    /// From the metrics settings of `config`; what cannot be used is added to `problems`.
    pub(crate) fn from_config(config: &Config, problems: &mut Vec<SettingProblem>) -> Self {
        let settings = &config.metrics;
        Self {
            store: Arc::default(),
            builtins: match &settings.builtins {
                Setting::Code(builtins) => *builtins,
                Setting::Env(name, text) => Builtins::parse(name, text, problems),
                Setting::Unset => Builtins::ALL,
            },
            required: settings
                .required
                .resolve(yes_or_no, problems)
                .unwrap_or(false),
            function_name: config
                .function_name
                .clone()
                .unwrap_or_else(|| config.service_name.clone()),
        }
    }
}

impl Metrics {
    /// Metrics with a store of their own, every built-in on, for `faas.name` `cruddur-home`.
    #[cfg(test)]
    pub(crate) fn for_test() -> Self {
        Self {
            store: Arc::default(),
            builtins: Builtins::ALL,
            required: false,
            function_name: "cruddur-home".into(),
        }
    }

    /// Every group closed since the last flush, once, secrets masked: what a flush hands the
    /// sinks.
    pub(crate) fn take_batch(&self) -> MetricBatch {
        let mut batch = self.store.take();
        for group in batch.groups.iter_mut().filter(|g| !g.crate_own) {
            crate::redact::redact_metrics(group);
        }
        batch
    }
}

static INSTALLED: OnceLock<Arc<Metrics>> = OnceLock::new();

/// Makes `metrics` the process's: the facade's global recorder records into its store. When
/// another recorder was installed first (a Prometheus exporter), it stays, says a WARN line, and
/// `false` is returned.
pub(crate) fn install(metrics: Arc<Metrics>) -> bool {
    let recorder = StoreRecorder::new(Arc::clone(&metrics.store));
    if ::metrics::set_global_recorder(recorder).is_err() {
        tracing::warn!(
            "another `metrics` recorder was installed first; lambda-telemetry's metrics are off"
        );
        return false;
    }
    builtin::describe_builtins();
    // Quietly: the API's own INFO line ("Meters can now be created using global::meter()")
    // would say the opposite of what this provider does.
    tracing::subscriber::with_default(tracing::subscriber::NoSubscriber::default(), || {
        opentelemetry::global::set_meter_provider(opentelemetry_api::FacadeOnly::default());
    });
    let _ = INSTALLED.set(metrics);
    true
}

/// The installed metrics, if any: what the invocation layer records into.
pub(crate) fn installed() -> Option<Arc<Metrics>> {
    INSTALLED.get().cloned()
}
