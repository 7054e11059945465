//! The OpenTelemetry side of `tracing` spans: the tracer provider, its resource, its ids
//! and its sampler.
//!
//! Ended spans go to the [`export`](crate::export) pipeline.

use std::env;

use opentelemetry::trace::{Link, SpanKind, TraceContextExt, TraceId, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_aws::trace::XrayIdGenerator;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SamplingResult, SdkTracerProvider, ShouldSample, Tracer};

use tracing::Subscriber;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::registry::LookupSpan;

use crate::config::Config;
use crate::constants::{
    AWS_LAMBDA_FUNCTION_VERSION, AWS_LAMBDA_LOG_STREAM_NAME, AWS_REGION, OTEL_TRACES_SAMPLER,
    OTEL_TRACES_SAMPLER_ARG,
};
use crate::export::BufferProcessor;

/// The provider behind the `tracing-opentelemetry` layer; ended spans go to `processor`,
/// or nowhere when there is none (spans still get ids for logs and headers).
pub(crate) fn provider(
    resource: Resource,
    processor: Option<BufferProcessor>,
) -> SdkTracerProvider {
    let builder = SdkTracerProvider::builder()
        // X-Ray accepts only trace ids that start with the epoch seconds; these work everywhere.
        .with_id_generator(XrayIdGenerator::default())
        .with_sampler(CallerCannotForce(sampler_from_env()))
        .with_resource(resource);
    match processor {
        Some(processor) => builder.with_span_processor(processor).build(),
        None => builder.build(),
    }
}

/// The tracer the `tracing` layer records with.
fn tracer(provider: &SdkTracerProvider) -> Tracer {
    provider.tracer(env!("CARGO_PKG_NAME"))
}

/// The `tracing-opentelemetry` layer. The Lambda runtime's own spans (one per poll of the
/// Runtime API) are left out: they would start a trace of their own for every invocation.
pub(crate) fn layer<S>(provider: &SdkTracerProvider) -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    tracing_opentelemetry::layer()
        .with_tracer(tracer(provider))
        // A Lambda function runs on one thread; busy/idle timing costs a clock read on every
        // enter and exit of every span; the target repeats `code.module.name`.
        .with_threads(false)
        .with_tracked_inactivity(false)
        .with_target(false)
        .with_filter(filter_fn(|metadata| {
            !metadata.target().starts_with("lambda_runtime")
        }))
}

/// `service.name` and the FaaS and cloud attributes of the OpenTelemetry semantic
/// conventions, from what Lambda sets; `OTEL_RESOURCE_ATTRIBUTES` adds to them.
pub(crate) fn resource(config: &Config) -> Resource {
    let var = crate::config::setting;
    let mut attributes = vec![
        KeyValue::new("cloud.provider", "aws"),
        KeyValue::new("cloud.platform", "aws_lambda"),
    ];
    if let Some(region) = var(AWS_REGION) {
        attributes.push(KeyValue::new("cloud.region", region));
    }
    if let Some(name) = &config.function_name {
        attributes.push(KeyValue::new("faas.name", name.clone()));
    }
    if let Some(version) = var(AWS_LAMBDA_FUNCTION_VERSION) {
        attributes.push(KeyValue::new("faas.version", version));
    }
    if let Some(stream) = var(AWS_LAMBDA_LOG_STREAM_NAME) {
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

/// `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`, as the specification names them;
/// the default is `parentbased_always_on`.
fn sampler_from_env() -> Sampler {
    let ratio = || {
        env::var(OTEL_TRACES_SAMPLER_ARG)
            .ok()
            .and_then(|arg| arg.trim().parse::<f64>().ok())
            .filter(|r| (0.0..=1.0).contains(r))
            .unwrap_or(1.0)
    };
    let name = env::var(OTEL_TRACES_SAMPLER).unwrap_or_default();
    match name.trim().to_ascii_lowercase().as_str() {
        "always_on" => Sampler::AlwaysOn,
        "always_off" => Sampler::AlwaysOff,
        "traceidratio" => Sampler::TraceIdRatioBased(ratio()),
        "parentbased_always_off" => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
        "parentbased_traceidratio" => {
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio())))
        }
        _ => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
    }
}

/// A caller may ask for sampling (a browser's `traceparent` with the sampled flag), but
/// the configured sampler decides: a sampled remote parent is sampled only if the sampler
/// would sample a new trace with the same id. Unsampled and local parents are followed.
#[derive(Clone, Debug)]
struct CallerCannotForce(Sampler);

impl ShouldSample for CallerCannotForce {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        span_kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        let remote_sampled = parent_context
            .map(|cx| cx.span().span_context().clone())
            .filter(|parent| parent.is_valid() && parent.is_remote() && parent.is_sampled());
        match remote_sampled {
            Some(parent) => {
                let mut result = self
                    .0
                    .should_sample(None, trace_id, name, span_kind, attributes, links);
                // Decided as a root, but the caller's trace state still travels on.
                result.trace_state = parent.trace_state().clone();
                result
            }
            None => {
                self.0
                    .should_sample(parent_context, trace_id, name, span_kind, attributes, links)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceState};
    use opentelemetry_sdk::trace::SamplingDecision;

    fn remote(sampled: bool) -> Context {
        let flags = if sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        let state = TraceState::from_key_value([("rojo", "1")]).unwrap();
        Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            flags,
            true,
            state,
        ))
    }

    fn decide(sampler: Sampler, parent: &Context) -> SamplingResult {
        CallerCannotForce(sampler).should_sample(
            Some(parent),
            parent.span().span_context().trace_id(),
            "GET /",
            &SpanKind::Server,
            &[],
            &[],
        )
    }

    #[test]
    fn a_sampled_caller_cannot_force_sampling_past_the_sampler() {
        let never = Sampler::ParentBased(Box::new(Sampler::AlwaysOff));
        let result = decide(never, &remote(true));
        assert_eq!(result.decision, SamplingDecision::Drop);

        let always = Sampler::ParentBased(Box::new(Sampler::AlwaysOn));
        let result = decide(always, &remote(true));
        assert_eq!(result.decision, SamplingDecision::RecordAndSample);
        assert_eq!(
            result.trace_state.get("rojo"),
            Some("1"),
            "the caller's trace state travels on"
        );
    }

    #[test]
    fn an_unsampled_caller_is_followed() {
        let always = Sampler::ParentBased(Box::new(Sampler::AlwaysOn));
        assert_eq!(
            decide(always, &remote(false)).decision,
            SamplingDecision::Drop
        );
    }
}
