//! Where telemetry leaves the process: every sink behind one [`Sink`](crate::sinks::Sink)
//! trait, built from the settings into the list the [`Pipeline`](crate::sinks::Pipeline)
//! flushes after each response.
//!
//! A sink is one file: a type that implements `Sink` and a `build` function that makes it
//! from a [`Setup`](crate::sinks::Setup) (or leaves it off, saying why); here, its `mod` line
//! and its line in `SINKS` (`counting.rs`, in tests, is one). A feature that leaves a sink out
//! gates those lines, nothing else.

mod console;
mod emf;
mod loss;
mod otlp;
mod pipeline;
mod sink;
mod spans;
mod xray;

#[cfg(feature = "cloudwatch")]
mod cloudwatch;
#[cfg(test)]
mod counting;
#[cfg(feature = "rollbar")]
pub mod rollbar;

use std::sync::Arc;
use std::time::Duration;

use opentelemetry_sdk::Resource;

pub(crate) use pipeline::Pipeline;
pub(crate) use sink::{Notice, Setup, Sink};
pub(crate) use spans::{BufferProcessor, SpanBuffer};
#[cfg(test)]
pub(crate) use {spans::EndedSpan, xray::XrayExporter};

use crate::config::{Config, SettingProblem, whole_number};
use crate::constants::DEFAULT_FLUSH_BUDGET_MS;
use crate::logs::Output;
use crate::logs::hooks::EventHooks;
use crate::metrics::Metrics;

/// Makes a sink from the settings, or `None` when they leave it off.
type Build = fn(&mut Setup<'_>) -> Option<Box<dyn Sink>>;

/// Every sink, in the order they are built (their problems said) and flushed.
const SINKS: &[Build] = &[
    otlp::build_traces,
    xray::build,
    console::build,
    #[cfg(feature = "rollbar")]
    rollbar::build,
    // Before CloudWatch Logs: EMF's lines are written when it reads the batch, and reach
    // CloudWatch's queue before CloudWatch takes it.
    emf::build,
    #[cfg(feature = "cloudwatch")]
    cloudwatch::build,
    #[cfg(not(feature = "cloudwatch"))]
    cloudwatch_left_out,
    otlp::build_metrics,
    #[cfg(test)]
    counting::build,
];

/// The sinks the settings ask for, ready to be installed.
pub(crate) struct Sinks {
    /// The buffer and the sinks it is flushed to.
    pub(crate) pipeline: Pipeline,
    /// The span processor that fills the buffer; `None` when no sink takes spans, so that
    /// spans are not even buffered.
    pub(crate) processor: Option<BufferProcessor>,
    /// The metrics to install as the facade's recorder; `None` when no sink takes metrics,
    /// so that nothing is recorded.
    pub(crate) metrics: Option<Arc<Metrics>>,
    /// Settings that cannot be used, in words, to say as WARN lines once the log is up.
    pub(crate) problems: Vec<SettingProblem>,
    /// What to say at start, after the problems: which sinks are on, and why not.
    pub(crate) notices: Vec<Notice>,
    /// What consumes log events besides the line, for the log layer.
    pub(crate) log_hooks: EventHooks,
    /// Where log lines go: stdout, and the copies sinks asked for.
    pub(crate) log_output: Output,
}

/// Builds every sink of [`SINKS`] from `config`.
pub(crate) fn from_config(config: &Config, resource: &Resource) -> Sinks {
    build(Setup::new(config, resource))
}

fn build(mut setup: Setup<'_>) -> Sinks {
    let sinks: Vec<Box<dyn Sink>> = SINKS.iter().filter_map(|build| build(&mut setup)).collect();
    let budget = budget(setup.config, &mut setup.problems);
    let buffer = Arc::new(SpanBuffer::default());
    let mut pipeline = Pipeline::new(Arc::clone(&buffer), sinks, budget);
    let processor = pipeline.takes_spans().then(|| BufferProcessor::new(buffer));
    let metrics = pipeline
        .takes_metrics()
        .then(|| Arc::new(Metrics::from_config(setup.config, &mut setup.problems)));
    if let Some(metrics) = &metrics {
        pipeline = pipeline.with_metrics(Arc::clone(metrics));
    }
    let (problems, notices) = setup.finish();
    Sinks {
        pipeline,
        processor,
        metrics,
        problems,
        notices,
        log_output: setup.finish_log_output(),
        log_hooks: EventHooks::new(setup.event_hooks),
    }
}

/// The flush budget: set in code, else `LAMBDA_TELEMETRY_FLUSH_BUDGET_MS`, else 500 ms.
fn budget(config: &Config, problems: &mut Vec<SettingProblem>) -> Duration {
    config
        .flush
        .budget
        .resolve(
            |name, text| whole_number(name, text).map(Duration::from_millis),
            problems,
        )
        .unwrap_or(Duration::from_millis(DEFAULT_FLUSH_BUDGET_MS))
}

/// Without the `cloudwatch` feature, `CLOUDWATCH_LOG_GROUP` is said to be ignored.
#[cfg(not(feature = "cloudwatch"))]
fn cloudwatch_left_out(setup: &mut Setup<'_>) -> Option<Box<dyn Sink>> {
    use crate::constants::CLOUDWATCH_LOG_GROUP;
    if setup.config.cloudwatch.group.is_some() {
        setup.notice(|| {
            tracing::info!(
                target: "lambda_telemetry::cloudwatch",
                "{CLOUDWATCH_LOG_GROUP} is ignored: lambda-telemetry was built without its `cloudwatch` feature"
            )
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LogFormat;

    #[test]
    fn exporter_names_come_from_otel_traces_exporter() {
        let config = crate::logs::testing::config(LogFormat::Json);
        let resource = crate::traces::resource(&config);
        let mut setup = Setup::with_exporters(
            &config,
            &resource,
            Some("console, otlp,none,xray,console,OTLP,jaeger"),
        );
        let sinks: Vec<Box<dyn Sink>> = [otlp::build_traces, xray::build, console::build]
            .iter()
            .filter_map(|build| build(&mut setup))
            .collect();
        assert_eq!(setup.listed(), vec!["console", "otlp", "xray"]);
        assert_eq!(sinks.len(), 3);
        let (unavailable, _) = setup.finish();
        let unavailable: Vec<String> = unavailable.iter().map(ToString::to_string).collect();
        assert_eq!(unavailable.len(), 1);
        assert!(
            unavailable[0].starts_with("OTEL_TRACES_EXPORTER: entry 7 of 7 "),
            "{unavailable:?}"
        );
        assert!(!unavailable[0].contains("jaeger"), "{unavailable:?}");
    }

    /// A typo in `OTEL_METRICS_EXPORTER` is said and leaves the default (`emf`) on: a
    /// deployed stack with a typo must not lose its dashboard and alarms without a word. A
    /// list with one known entry is taken as it is, its unknown entries said.
    #[test]
    fn a_metrics_exporter_typo_keeps_emf_on_and_is_said() {
        for (value, emf_on, console_on, said) in [
            ("emf-x9", true, false, 2),
            ("console,emf-x9", false, true, 1),
            ("none", false, false, 0),
        ] {
            let config = Config::from_lookup(&|name| {
                (name == "OTEL_METRICS_EXPORTER").then(|| value.to_owned())
            });
            let resource = crate::traces::resource(&config);
            let mut setup = Setup::new(&config, &resource);
            assert_eq!(setup.metrics_exporter("emf"), emf_on, "{value}");
            assert_eq!(setup.metrics_exporter("console"), console_on, "{value}");
            setup.metrics_exporter("otlp");
            let (problems, _) = setup.finish();
            assert_eq!(problems.len(), said, "{value}: {problems:?}");
            assert!(problems.iter().all(|p| !p.to_string().contains("x9")));
        }
    }

    /// Sinks take their settings from the `Config` they are handed, never from the
    /// environment: what is set in code is what they are built with, and a bad value in the
    /// environment that code overrides is never parsed, so never said.
    #[test]
    fn sinks_are_built_from_the_settings_given_in_code() {
        let config = Config::from_lookup(&|name| match name {
            "OTEL_TRACES_EXPORTER" => Some("none".to_owned()),
            "OTEL_EXPORTER_OTLP_TIMEOUT" => Some("slow-x9".to_owned()),
            "AWS_XRAY_DAEMON_ADDRESS" => Some("nowhere-x9".to_owned()),
            _ => None,
        });
        let resource = crate::traces::resource(&config);
        let mut setup = Setup::new(&config, &resource);
        let built = [otlp::build_traces, xray::build]
            .iter()
            .filter_map(|build| build(&mut setup))
            .count();
        assert_eq!(built, 0, "none asked for");
        let (problems, _) = setup.finish();
        assert!(problems.is_empty(), "OTLP and X-Ray are off: {problems:?}");
        let config = config
            .with_exporters("otlp,xray")
            .with_otlp_timeout(Duration::from_secs(1))
            .with_xray_daemon_address(([127, 0, 0, 1], 2000).into());
        let mut setup = Setup::new(&config, &resource);
        let built = [otlp::build_traces, xray::build]
            .iter()
            .filter_map(|build| build(&mut setup))
            .count();
        assert_eq!((built, setup.listed()), (2, vec!["otlp", "xray"]));
        let (problems, _) = setup.finish();
        assert!(problems.is_empty(), "{problems:?}");
    }
}
