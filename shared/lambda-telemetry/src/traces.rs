//! The OpenTelemetry side of `tracing` spans: the tracer provider, its resource, its ids
//! and its sampler.
//!
//! Ended spans go to the [`sinks`](crate::sinks) pipeline.

use std::cell::Cell;

use opentelemetry::KeyValue;
use opentelemetry::trace::{SpanId, TraceId, TracerProvider as _};
use opentelemetry_aws::trace::XrayIdGenerator;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{
    IdGenerator, SdkTracerProvider, ShouldSample, SpanProcessor, Tracer,
};

use tracing::Subscriber;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::registry::LookupSpan;

use crate::config::Config;

/// The provider behind the `tracing-opentelemetry` layer; ended spans go to `processor` (the
/// sinks' buffer), or nowhere when there is none (spans still get ids for logs and headers);
/// `sampler` is the invocation's (see `sampling`).
pub(crate) fn provider(
    resource: Resource,
    processor: Option<impl SpanProcessor + 'static>,
    sampler: impl ShouldSample + 'static,
) -> SdkTracerProvider {
    let builder = SdkTracerProvider::builder()
        .with_id_generator(Ids::default())
        .with_sampler(sampler)
        .with_resource(resource);
    match processor {
        Some(processor) => builder.with_span_processor(processor).build(),
        None => builder.build(),
    }
}

/// X-Ray accepts only trace ids that start with the epoch seconds; these work everywhere. A
/// new root may be handed its trace id instead: see [`start_with_trace_id`].
#[derive(Debug, Default)]
struct Ids(XrayIdGenerator);

thread_local! {
    /// The trace id the next new root on this thread gets, set by [`start_with_trace_id`].
    static NEXT_ROOT_TRACE_ID: Cell<Option<TraceId>> = const { Cell::new(None) };
}

impl IdGenerator for Ids {
    fn new_trace_id(&self) -> TraceId {
        NEXT_ROOT_TRACE_ID
            .take()
            .unwrap_or_else(|| self.0.new_trace_id())
    }

    fn new_span_id(&self) -> SpanId {
        self.0.new_span_id()
    }
}

/// Starts the OpenTelemetry span of `span` now; if it is a new root, its trace id is
/// `trace_id`. An X-Ray header with `Root` but no `Parent` (Lambda in PassThrough mode, a load
/// balancer) names the trace without a parent span: the invocation keeps that trace.
///
/// The SDK asks the id generator for a trace id only for a span without a valid parent, and
/// `tracing-opentelemetry` starts the span synchronously when its context is first asked for,
/// so the id is handed over on this thread and taken back at once if it was not used.
pub(crate) fn start_with_trace_id(span: &tracing::Span, trace_id: Option<TraceId>) {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    NEXT_ROOT_TRACE_ID.set(trace_id.filter(|id| *id != TraceId::INVALID));
    let _ = span.context();
    NEXT_ROOT_TRACE_ID.set(None);
}

/// The tracer the `tracing` layer records with.
fn tracer(provider: &SdkTracerProvider) -> Tracer {
    provider.tracer(env!("CARGO_PKG_NAME"))
}

/// Spans and span events at this level and above are traced.
const TRACED_LEVEL: tracing::Level = tracing::Level::INFO;

/// The `tracing-opentelemetry` layer. The Lambda runtime's own spans (one per poll of the
/// Runtime API) are left out: they would start a trace of their own for every invocation.
pub(crate) fn layer<S>(provider: &SdkTracerProvider) -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    tracing_opentelemetry::layer()
        .with_tracer(tracer(provider))
        // Thread ids say nothing useful about an invocation (its task moves between the
        // runtime's threads); busy/idle timing costs a clock read on every enter and exit of
        // every span; the target repeats `code.module.name`.
        .with_threads(false)
        .with_tracked_inactivity(false)
        .with_target(false)
        // A fixed level, not the log filter's: the log level decides which lines are printed,
        // never what is traced, so spans, their export and the response headers are the same
        // at every level.
        .with_filter(
            filter_fn(|metadata| {
                *metadata.level() <= TRACED_LEVEL
                    && !metadata.target().starts_with("lambda_runtime")
            })
            .with_max_level_hint(TRACED_LEVEL),
        )
}

/// `service.name` and the FaaS and cloud attributes of the OpenTelemetry semantic
/// conventions, from what Lambda sets; `OTEL_RESOURCE_ATTRIBUTES` adds to them.
pub(crate) fn resource(config: &Config) -> Resource {
    let runtime = &config.runtime;
    let mut attributes = vec![
        KeyValue::new("cloud.provider", "aws"),
        KeyValue::new("cloud.platform", "aws_lambda"),
    ];
    if let Some(region) = runtime.region.clone() {
        attributes.push(KeyValue::new("cloud.region", region));
    }
    if let Some(name) = &config.function_name {
        attributes.push(KeyValue::new("faas.name", name.clone()));
    }
    if let Some(version) = runtime.function_version.clone() {
        attributes.push(KeyValue::new("faas.version", version));
    }
    if let Some(stream) = runtime.log_stream.clone() {
        attributes.push(KeyValue::new("faas.instance", stream));
    }
    if let Some(memory_mb) = config.function_memory_size {
        // The convention counts bytes.
        attributes.push(KeyValue::new(
            "faas.max_memory",
            i64::from(memory_mb) * 1024 * 1024,
        ));
    }
    Resource::builder()
        .with_attributes(attributes)
        .with_service_name(config.service_name.clone())
        .build()
}
