//! Observability for Rust AWS Lambda functions, set up with one call in `main`.
//!
//! [`run`] installs the telemetry and serves an HTTP handler (API Gateway REST or HTTP API,
//! function URLs, ALB, `cargo lambda watch`) on the Lambda runtime. From then on:
//!
//! - every `tracing` event is one JSON line on stdout (or a readable text line), with the
//!   keys of Powertools for AWS Lambda: `timestamp`, `level`, `message`, `service`,
//!   `cold_start`, `function_name`, `function_memory_size`, `function_arn`,
//!   `function_request_id`, `xray_trace_id`, `correlation_id`, and the event's own fields;
//! - every invocation runs in a span named after its method and route, with the
//!   OpenTelemetry attributes for FaaS and HTTP, and writes one access-log line at INFO;
//! - that span continues the caller's trace (see "Choosing the parent" below); its
//!   `trace_id` and `span_id` are on every log line, and the response names the trace in
//!   `traceresponse` and `X-Amzn-Trace-Id`;
//! - a handler that fails or panics answers a generic 500, its cause and location are
//!   logged at ERROR, and the process goes on serving;
//! - values of secret-looking fields and query parameters (`authorization`, `cookie`,
//!   `token`, `password`, ...) are masked; headers are never logged.
//!
//! ```no_run
//! use lambda_http::{Body, Error, Request, Response};
//!
//! async fn handler(_request: Request) -> Result<Response<Body>, Error> {
//!     tracing::info!(greeting = "hello", "served");
//!     Ok(Response::new(Body::from("hello")))
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), lambda_telemetry::Error> {
//!     lambda_telemetry::run(lambda_http::service_fn(handler)).await
//! }
//! ```
//!
//! # Choosing the parent
//!
//! In the order of `OTEL_PROPAGATORS` (default `tracecontext,xray-lambda`):
//! 1. a valid W3C `traceparent` on the request (the span then links to the Lambda X-Ray
//!    context);
//! 2. the Lambda X-Ray context, so the OpenTelemetry trace id equals the X-Ray trace id;
//! 3. with `xray` listed, the request's own `X-Amzn-Trace-Id`;
//! 4. a new root, with an X-Ray compatible trace id.
//!
//! `none` always starts a new root. Invalid headers are ignored, never an error.
//!
//! # Sampling
//!
//! OTLP follows `OTEL_TRACES_SAMPLER` (a parent-based sampler follows a W3C caller's sampled
//! flag); X-Ray follows the `Sampled` flag Lambda hands the invocation; the log level decides
//! neither. The rules and the decision table are in the README, "Sampling".
//!
//! # Exports
//!
//! `OTEL_TRACES_EXPORTER` lists them: `otlp` (OTLP/HTTP protobuf, standard `OTEL_EXPORTER_OTLP_*`
//! settings), `xray` (segment documents over UDP to the X-Ray daemon; the invocation span is a
//! subsegment of the Lambda function's segment even under a browser's trace), `console` (a
//! tree on stderr), `none`. Ended spans are buffered and flushed after each response is
//! posted, within `LAMBDA_TELEMETRY_FLUSH_BUDGET_MS`, and once more on SIGTERM.
//!
//! # Marking up spans
//!
//! Spans are `tracing` spans; their fields are the OpenTelemetry attributes:
//! - `otel.name`, `otel.kind` (`server`, `client`, ...), `otel.status_code` (`ok`, `error`) and
//!   `otel.status_description` set the span's name, kind and status;
//! - [`constants::span_fields::XRAY_ANNOTATIONS`] (`"aws.xray.annotations" = "app.handle"`)
//!   names the attributes X-Ray indexes as annotations (`app_handle`); every other attribute
//!   is X-Ray metadata in the namespace of its first dotted segment (`app.now` →
//!   `{"app": {"now": ...}}`);
//! - `tracing` events inside a span are its span events; a handler that fails or panics adds
//!   an `exception` event to the invocation span, which X-Ray shows as a `cause`.
//!
//! ```
//! let span = tracing::info_span!(
//!     "mock-data",
//!     app.handle = "andrewbrown",
//!     "app.results-size" = tracing::field::Empty,
//!     "aws.xray.annotations" = "app.handle",
//!     otel.status_code = "ok",
//! );
//! span.record("app.results-size", 1);
//! ```
//!
//! Outgoing HTTP calls made with [`http_client`] are CLIENT spans and carry `traceparent`,
//! `tracestate` and `X-Amzn-Trace-Id` to the service they call.
//!
//! Settings are read once from the environment (see [`constants`]); [`Config`]'s `with_*`
//! methods set any of them in code, which wins. A setting that cannot be used is a
//! [`SettingProblem`], said once at start; the default is used instead.
#![warn(missing_docs, rust_2018_idioms)]

/// How the crate's AWS calls retry and time out.
#[cfg(any(feature = "cloudwatch", feature = "secrets"))]
mod aws_calls;
/// Traced outgoing HTTP for handlers.
mod client;
/// Settings, read from the environment and overridable in code.
mod config;
/// Environment variable names, defaults and telemetry keys.
pub mod constants;
/// The crate's error type.
mod error;
/// A handler's errors and panics, recorded once and answered.
mod failure;
/// The invocation layer: its span, the request summary, the task-local scope, the access line.
mod invocation;
/// JSON and text log lines with the Lambda context.
mod logs;
/// Panics as log lines.
mod panics;
/// Choosing an invocation's parent trace context.
mod propagation;
/// Masking of secret values.
mod redact;
/// Keys read from Secrets Manager or Parameter Store, cached and refreshed off the request path.
mod secrets;
/// Error reports to Rollbar.
#[cfg(feature = "rollbar")]
pub use sinks::rollbar;
/// Metrics: the `metrics` facade's recorder, per invocation, and what the crate records itself.
pub mod metrics;
/// Our loop on the Lambda Runtime API.
mod runtime;
/// Which spans are recorded, for OTLP and for X-Ray.
mod sampling;
/// One more flush at shutdown.
mod shutdown;
/// Where telemetry leaves the process: the sinks, and the pipeline that flushes them.
mod sinks;
/// The W3C Trace Context grammar: `traceparent`, `tracestate`, `traceresponse`.
mod tracecontext;
/// The OpenTelemetry tracer provider behind `tracing` spans.
mod traces;
/// The one HTTP client the sinks and the traced client share.
mod transport;

use std::sync::{Arc, OnceLock};

use lambda_http::{IntoResponse, Request, Service};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;

pub use client::{TraceRequests, http_client};
pub use config::{Config, LogFormat, SettingProblem, Temporality};
pub use error::{Error, Result};
pub use failure::{CatchFailure, CatchFailureLayer, LocatedError};
pub use invocation::scope::{spawn, spawn_blocking};
pub use invocation::{Invocation, InvocationLayer};
pub use logs::LogBuffer;
pub use logs::buffer::{clear_log_buffer, flush_log_buffer};
pub use logs::keys::{append_keys, remove_keys};
/// The client type [`http_client`] returns, re-exported so callers need not depend on it.
pub use reqwest_middleware;

/// The installed telemetry. [`Config::init`] and [`init`] return it; it serves handlers.
#[derive(Clone, Debug)]
pub struct Telemetry {
    config: Config,
    pipeline: Arc<sinks::Pipeline>,
    // Owns the span processors; kept alive for as long as the telemetry is.
    _provider: opentelemetry_sdk::trace::SdkTracerProvider,
}

static INSTALLED: OnceLock<Telemetry> = OnceLock::new();

/// Installs the telemetry with the settings of the environment: see [`Config::from_env`].
/// Calling it again returns the telemetry already installed.
pub fn init() -> Telemetry {
    Config::from_env().init()
}

/// Installs the telemetry from the environment and serves `handler` until the runtime stops.
///
/// `handler` is any tower service of [`lambda_http::Request`], such as
/// `lambda_http::service_fn(handler)`; it runs inside the [`InvocationLayer`].
pub async fn run<S>(handler: S) -> Result<()>
where
    S: Service<Request> + Clone + Send + 'static,
    S::Response: IntoResponse + Send,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send,
    S::Future: Send + 'static,
{
    init().run(handler).await
}

impl Config {
    /// Installs the global `tracing` subscriber and the panic hook, once per process: a
    /// second call returns the telemetry the first one installed and changes nothing.
    pub fn init(self) -> Telemetry {
        INSTALLED.get_or_init(|| install(self)).clone()
    }
}

impl Telemetry {
    /// The settings in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Serves `handler` on the Lambda Runtime API, inside the [`InvocationLayer`], with a
    /// loop of the crate's own (see the `runtime` module for why not `lambda_http::run`).
    /// Invocations run one at a time, or as many at once as Lambda Managed Instances allow
    /// (`AWS_LAMBDA_MAX_CONCURRENCY`). An HTTP event lambda_http cannot make a request of is
    /// answered 400 without calling `handler`. Telemetry is flushed after each response. On
    /// SIGTERM or SIGINT no more invocations are asked for, those in flight are answered
    /// (within the flush budget), telemetry is flushed once more, and this returns `Ok`; an
    /// unreachable Runtime API is [`Error::Runtime`].
    pub async fn run<S>(&self, handler: S) -> Result<()>
    where
        S: Service<Request> + Clone + Send + 'static,
        S::Response: IntoResponse + Send,
        S::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send,
        S::Future: Send + 'static,
    {
        if self.pipeline.exports() {
            shutdown::register_extension(&self.config).await;
        }
        self.pipeline.start_background();
        let mut invocation = InvocationLayer::from_config(&self.config);
        if let Some(route) = &self.config.route {
            invocation = invocation.with_route(route.as_str());
        }
        let drain = Arc::new(runtime::Drain::default());
        let serve = runtime::serve(
            &self.config,
            invocation,
            handler,
            Arc::clone(&self.pipeline),
            Arc::clone(&drain),
        );
        tokio::pin!(serve);
        tokio::select! {
            served = &mut serve => return served.map_err(Error::Runtime),
            () = shutdown::signal() => {}
        }
        // The invocations handed out are answered and flushed first, within the flush budget;
        // no more are asked for. Then the loops (waiting for work) are dropped.
        drain.stop();
        let answered = async {
            tokio::select! {
                _ = &mut serve => {}
                () = drain.idle() => {}
            }
        };
        if tokio::time::timeout(self.pipeline.budget(), answered)
            .await
            .is_err()
        {
            tracing::warn!(
                in_flight = drain.in_flight(),
                "shutting down before these invocations were answered (the flush budget ran out)"
            );
        }
        self.pipeline.shutdown().await;
        Ok(())
    }
}

/// The layers [`init`] installs, each with its own filter: spans go to OpenTelemetry at a fixed
/// level, lines through the log filter, so the log level never changes what is traced. The
/// log layer writes to `writer` and hands events to `hooks`, both composed from the sinks.
pub(crate) fn subscriber<W>(
    config: &Config,
    provider: &opentelemetry_sdk::trace::SdkTracerProvider,
    log_filter: EnvFilter,
    writer: W,
    hooks: logs::hooks::EventHooks,
) -> impl tracing::Subscriber + Send + Sync + 'static
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let log_layer = logs::LogLayer::new(config, writer, hooks);
    tracing_subscriber::registry()
        .with(traces::layer(provider))
        .with(
            log_layer.with_filter(logs::filter(
                log_filter,
                &config.log_filter,
                config.debug_sample_rate(&mut Vec::new()),
                config
                    .log_buffer(&mut Vec::new())
                    .map(|buffer| buffer.level),
            )),
        )
}

fn install(config: Config) -> Telemetry {
    let mut problems = Vec::new();
    let filter = EnvFilter::try_new(&config.log_filter).unwrap_or_else(|_| {
        // Neither the filter nor the parser's message (which quotes it) is repeated: a
        // settings problem names the setting and the reason, never the value.
        problems.push(SettingProblem::new(
            constants::RUST_LOG,
            format!(
                "(or the log filter set in code) is not a valid tracing filter; using {}",
                constants::DEFAULT_LOG_LEVEL
            ),
        ));
        EnvFilter::new(constants::DEFAULT_LOG_LEVEL)
    });
    if logs::only_targets(&config.log_filter) {
        // `RUST_LOG=debgu` is a valid filter: the target `debgu` at every level, and nothing
        // else, ERRORs included. Said, since such a log says nothing itself.
        problems.push(SettingProblem::new(
            constants::RUST_LOG,
            "(or the log filter set in code) names targets without a level and no default \
             level: every other target's lines are off; if a level was meant, it is misspelt",
        ));
    }
    if let Some(name) = config.unreadable_log_level {
        problems.push(SettingProblem::new(
            name,
            "is not a level (TRACE, DEBUG, INFO, WARN or WARNING, ERROR; FATAL, CRITICAL; \
             SILENT); the next log level setting is read",
        ));
    }
    // Read again where it is used (the filter, the lines, the invocation layer); said here.
    config.debug_sample_rate(&mut problems);
    let log_buffer = config.log_buffer(&mut problems);
    let resource = traces::resource(&config);
    let sinks = sinks::from_config(&config, &resource);
    problems.extend(sinks.problems);
    let (sampler, sampler_problem) = sampling::sampler(&config.traces);
    problems.extend(sampler_problem);
    let pipeline = Arc::new(sinks.pipeline);
    let provider = traces::provider(resource, sinks.processor, sampler);
    let subscriber = subscriber(
        &config,
        &provider,
        filter,
        sinks.log_output,
        sinks.log_hooks,
    );
    match tracing::subscriber::set_global_default(subscriber) {
        Ok(()) => panics::install_hook(),
        // Someone else's subscriber is in charge; say so through it and leave it alone.
        Err(_) => tracing::warn!(
            "a global tracing subscriber was already set; lambda-telemetry's log lines are off"
        ),
    }
    if let Some(metrics) = sinks.metrics {
        metrics::install(metrics);
    }
    // Said now that there is a log to say it in; each once, at start.
    // A setting read by two parts (LAMBDA_TELEMETRY_OTLP_SIGV4, by traces and metrics) is
    // said once.
    let mut said = std::collections::HashSet::new();
    for problem in problems {
        if said.insert(problem.to_string()) {
            tracing::warn!(problem = %problem, "telemetry setting ignored");
        }
    }
    // Powertools says the same: Lambda filters the flushed lines by its own level.
    if let (Some(buffer), Some(lambda_level)) = (log_buffer, config.lambda_log_level)
        && buffer.level > lambda_level
    {
        tracing::warn!(
            buffer_level = %buffer.level,
            lambda_log_level = %lambda_level,
            "AWS_LAMBDA_LOG_LEVEL is less verbose than LAMBDA_TELEMETRY_LOG_BUFFER: Lambda drops \
             the held lines below its level when they are flushed"
        );
    }
    for notice in sinks.notices {
        notice();
    }
    Telemetry {
        config,
        pipeline,
        _provider: provider,
    }
}
