//! Which spans are recorded, and for which backend: OTLP follows the OpenTelemetry sampler,
//! X-Ray follows X-Ray's own decision, and neither ever depends on the log level.
//!
//! Two decisions are made for every invocation, once, when its server span starts:
//!
//! - **OTLP** (and the console): the sampler of `OTEL_TRACES_SAMPLER` /
//!   `OTEL_TRACES_SAMPLER_ARG` (default `parentbased_always_on`). A parent-based sampler follows
//!   the sampled flag of a W3C caller's `traceparent`, as the OpenTelemetry specification's
//!   `ParentBased` sampler does. An X-Ray `Sampled` flag is X-Ray's decision, taken by X-Ray's
//!   reservoir and rate for X-Ray's budget, so it is *not* a parent's decision for OTLP: with an
//!   X-Ray parent (or no parent), the sampler decides as for a new root, on the trace id.
//! - **X-Ray**: the `Sampled` flag of the X-Ray trace header Lambda hands the invocation. With
//!   `Sampled=1` the invocation's spans go to X-Ray (as subsegments of the Lambda segment, or
//!   as a segment when Lambda made none); with `Sampled=0` none do, so no subsegment is ever
//!   sent under an unsampled Lambda segment. Without a flag, or without an X-Ray context at all
//!   (off Lambda), X-Ray export follows the OTLP decision.
//!
//! A span is recorded when either backend wants it. When only X-Ray does, it is recorded but
//! not sampled (`RecordOnly`): its `traceparent` flags and `traceresponse` say `00`, because
//! they speak for the OpenTelemetry trace. Spans of an invocation follow its decisions.
//!
//! The decisions travel in the OpenTelemetry [`Context`](opentelemetry::Context) the invocation layer sets as the
//! server span's parent ([`InvocationTrace`](crate::sampling::InvocationTrace)); `tracing-opentelemetry` builds every child's
//! parent context from it, so every span of the invocation carries them to the sampler and to
//! the span processor.

use opentelemetry::trace::{Link, SpanContext, SpanId, SpanKind, TraceContextExt, TraceId};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{Sampler, SamplingDecision, SamplingResult, ShouldSample};

use crate::config::{SettingProblem, TraceSettings};
use crate::constants::{OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG};

/// Where an invocation's spans live in X-Ray, and whether X-Ray sampled it: the X-Ray trace
/// header Lambda hands the invocation (`Root=1-…;Parent=…;Sampled=1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct XrayTrace {
    /// `Root`: the X-Ray trace.
    pub(crate) trace_id: TraceId,
    /// `Parent`: the Lambda function's segment, the invocation span's X-Ray parent. `None`
    /// when Lambda made no segment (PassThrough mode, or a load balancer's header).
    pub(crate) segment_id: Option<SpanId>,
    /// `Sampled`: `Some(true)` for `1`, `Some(false)` for `0`, `None` when absent or `?`.
    pub(crate) sampled: Option<bool>,
}

impl XrayTrace {
    /// Whether spans with this OpenTelemetry decision go to X-Ray.
    pub(crate) fn exports(this: Option<&Self>, otel_sampled: bool) -> bool {
        match this.and_then(|xray| xray.sampled) {
            Some(sampled) => sampled,
            None => otel_sampled,
        }
    }

    fn flags(&self) -> opentelemetry::trace::TraceFlags {
        if self.sampled == Some(true) {
            opentelemetry::trace::TraceFlags::SAMPLED
        } else {
            opentelemetry::trace::TraceFlags::default()
        }
    }

    /// The Lambda segment as a remote span context, when Lambda made one.
    pub(crate) fn segment(&self) -> Option<SpanContext> {
        self.segment_id
            .map(|segment| {
                SpanContext::new(
                    self.trace_id,
                    segment,
                    self.flags(),
                    true,
                    Default::default(),
                )
            })
            .filter(SpanContext::is_valid)
    }
}

/// Where an invocation's parent came from: the sampler treats a W3C caller as a parent and
/// an X-Ray one not ([`propagation`](crate::propagation) chooses it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ParentSource {
    /// The caller's W3C trace context.
    TraceContext,
    /// The Lambda X-Ray context.
    XrayLambda,
    /// The request's `X-Amzn-Trace-Id`.
    Xray,
    /// None: a new trace.
    Root,
}

/// What the sampler and the span processor need to know of the invocation a span belongs to;
/// a value of the server span's parent [`Context`], inherited by every child's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct InvocationTrace {
    /// Which rule chose the server span's parent.
    pub(crate) source: ParentSource,
    /// The Lambda X-Ray context, if the invocation has one.
    pub(crate) xray: Option<XrayTrace>,
}

impl InvocationTrace {
    /// The invocation's decisions, read from a span's parent context.
    pub(crate) fn of(cx: &Context) -> Option<&Self> {
        cx.get::<Self>()
    }
}

/// The sampler set in code, else `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`, as the
/// specification names them; the default is `parentbased_always_on`. An unknown name or a
/// ratio outside 0..=1 falls back to the default (the specification's rule) and is returned
/// to be reported.
pub(crate) fn sampler(settings: &TraceSettings) -> (InvocationSampler, Option<SettingProblem>) {
    let (sampler, problem) = match &settings.sampler {
        Some(sampler) => (sampler.clone(), None),
        None => parse_sampler(
            settings.sampler_name.as_deref(),
            settings.sampler_arg.as_deref(),
        ),
    };
    (InvocationSampler(sampler), problem)
}

fn parse_sampler(name: Option<&str>, arg: Option<&str>) -> (Sampler, Option<SettingProblem>) {
    let mut problem = None;
    let mut ratio = || match arg.map(|a| a.trim().parse::<f64>()) {
        None => 1.0,
        Some(Ok(ratio)) if (0.0..=1.0).contains(&ratio) => ratio,
        Some(_) => {
            problem = Some(SettingProblem::new(
                OTEL_TRACES_SAMPLER_ARG,
                "is not a ratio between 0 and 1; using 1.0",
            ));
            1.0
        }
    };
    let default = || Sampler::ParentBased(Box::new(Sampler::AlwaysOn));
    let sampler = match name.map(|n| n.trim().to_ascii_lowercase()).as_deref() {
        None | Some("parentbased_always_on") => default(),
        Some("always_on") => Sampler::AlwaysOn,
        Some("always_off") => Sampler::AlwaysOff,
        Some("traceidratio") => Sampler::TraceIdRatioBased(ratio()),
        Some("parentbased_always_off") => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
        Some("parentbased_traceidratio") => {
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio())))
        }
        Some(_) => {
            problem = Some(SettingProblem::new(
                OTEL_TRACES_SAMPLER,
                "names a sampler this crate does not have; using parentbased_always_on",
            ));
            default()
        }
    };
    (sampler, problem)
}

/// The configured sampler, applied by the rules of the module documentation.
#[derive(Clone, Debug)]
pub(crate) struct InvocationSampler(pub(crate) Sampler);

impl ShouldSample for InvocationSampler {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        span_kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        let invocation = parent_context.and_then(InvocationTrace::of).copied();
        let parent = parent_context
            .map(|cx| cx.span().span_context().clone())
            .filter(SpanContext::is_valid);
        let otel = match &parent {
            // Inside the function, a span follows its parent's decision: the invocation's.
            Some(parent) if !parent.is_remote() => SamplingResult {
                decision: if parent.is_sampled() {
                    SamplingDecision::RecordAndSample
                } else {
                    SamplingDecision::Drop
                },
                attributes: Vec::new(),
                trace_state: parent.trace_state().clone(),
            },
            // A W3C caller is a parent as the specification means it.
            Some(_) if invocation.is_none_or(|i| i.source == ParentSource::TraceContext) => self
                .0
                .should_sample(parent_context, trace_id, name, span_kind, attributes, links),
            // An X-Ray parent's flag is X-Ray's decision: decide as for a new root.
            _ => self
                .0
                .should_sample(None, trace_id, name, span_kind, attributes, links),
        };
        let xray_wants = invocation.and_then(|i| i.xray).and_then(|x| x.sampled) == Some(true);
        match otel.decision {
            SamplingDecision::RecordAndSample => otel,
            _ if xray_wants => SamplingResult {
                decision: SamplingDecision::RecordOnly,
                ..otel
            },
            _ => SamplingResult {
                decision: SamplingDecision::Drop,
                ..otel
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{TraceFlags, TraceState};

    const TRACE: &str = "5759e988bd862e3fe1be46a994272793";

    fn remote(sampled: bool) -> SpanContext {
        SpanContext::new(
            TraceId::from_hex(TRACE).unwrap(),
            SpanId::from_hex("53995c3f42cd8ad8").unwrap(),
            if sampled {
                TraceFlags::SAMPLED
            } else {
                TraceFlags::default()
            },
            true,
            TraceState::from_key_value([("rojo", "1")]).unwrap(),
        )
    }

    fn xray(sampled: Option<bool>) -> Option<XrayTrace> {
        Some(XrayTrace {
            trace_id: TraceId::from_hex(TRACE).unwrap(),
            segment_id: SpanId::from_hex("53995c3f42cd8ad8").ok(),
            sampled,
        })
    }

    fn decide(
        sampler: Sampler,
        parent: Option<SpanContext>,
        source: ParentSource,
        xray: Option<XrayTrace>,
    ) -> SamplingDecision {
        let mut cx = Context::new().with_value(InvocationTrace { source, xray });
        if let Some(parent) = parent {
            cx = cx.with_remote_span_context(parent);
        }
        InvocationSampler(sampler)
            .should_sample(
                Some(&cx),
                TraceId::from_hex(TRACE).unwrap(),
                "GET /",
                &SpanKind::Server,
                &[],
                &[],
            )
            .decision
    }

    use SamplingDecision::{Drop, RecordAndSample as Sample, RecordOnly};

    fn on() -> Sampler {
        Sampler::ParentBased(Box::new(Sampler::AlwaysOn))
    }

    fn off() -> Sampler {
        Sampler::AlwaysOff
    }

    #[test]
    fn a_w3c_callers_flag_decides_under_a_parent_based_sampler() {
        use ParentSource::TraceContext as W3c;
        assert_eq!(decide(on(), Some(remote(true)), W3c, None), Sample);
        assert_eq!(decide(on(), Some(remote(false)), W3c, None), Drop);
        // ParentBased's default for a sampled remote parent is AlwaysOn, whatever its root.
        let parent_based_off = Sampler::ParentBased(Box::new(Sampler::AlwaysOff));
        assert_eq!(
            decide(parent_based_off, Some(remote(true)), W3c, None),
            Sample
        );
        // A sampler that is not parent-based decides alone.
        assert_eq!(decide(off(), Some(remote(true)), W3c, None), Drop);
        assert_eq!(
            decide(Sampler::AlwaysOn, Some(remote(false)), W3c, None),
            Sample
        );
    }

    #[test]
    fn xray_sampled_0_never_keeps_a_span_from_otlp() {
        // X-Ray's reservoir said no: OTLP still gets the span (parentbased_always_on).
        let decision = decide(
            on(),
            Some(remote(false)),
            ParentSource::XrayLambda,
            xray(Some(false)),
        );
        assert_eq!(decision, Sample);
        // And with no context at all, the sampler decides as for a root.
        assert_eq!(decide(on(), None, ParentSource::Root, None), Sample);
        assert_eq!(decide(off(), None, ParentSource::Root, None), Drop);
    }

    #[test]
    fn xray_sampled_1_records_what_otlp_does_not_sample() {
        // W3C caller unsampled, X-Ray sampled: recorded for X-Ray only.
        let decision = decide(
            on(),
            Some(remote(false)),
            ParentSource::TraceContext,
            xray(Some(true)),
        );
        assert_eq!(decision, RecordOnly);
        let decision = decide(
            off(),
            Some(remote(true)),
            ParentSource::XrayLambda,
            xray(Some(true)),
        );
        assert_eq!(decision, RecordOnly);
        // Neither wants it: dropped.
        let decision = decide(
            off(),
            Some(remote(true)),
            ParentSource::XrayLambda,
            xray(Some(false)),
        );
        assert_eq!(decision, Drop);
    }

    #[test]
    fn a_child_follows_its_invocation() {
        let invocation = InvocationTrace {
            source: ParentSource::XrayLambda,
            xray: xray(Some(true)),
        };
        let local = |flags| {
            SpanContext::new(
                TraceId::from_hex(TRACE).unwrap(),
                SpanId::from_hex("00f067aa0ba902b7").unwrap(),
                flags,
                false,
                TraceState::default(),
            )
        };
        let child = |parent: SpanContext, invocation: InvocationTrace| {
            let cx = Context::new()
                .with_value(invocation)
                .with_remote_span_context(parent);
            InvocationSampler(off())
                .should_sample(
                    Some(&cx),
                    TraceId::from_hex(TRACE).unwrap(),
                    "work",
                    &SpanKind::Internal,
                    &[],
                    &[],
                )
                .decision
        };
        // `with_remote_span_context` marks whatever it is given; a local parent is not remote.
        assert_eq!(child(local(TraceFlags::SAMPLED), invocation), Sample);
        assert_eq!(child(local(TraceFlags::default()), invocation), RecordOnly);
        let unsampled = InvocationTrace {
            xray: xray(Some(false)),
            ..invocation
        };
        assert_eq!(child(local(TraceFlags::default()), unsampled), Drop);
    }

    #[test]
    fn sampler_names_and_ratios_follow_the_specification() {
        let (sampler, problem) = parse_sampler(None, None);
        assert!(matches!(sampler, Sampler::ParentBased(_)) && problem.is_none());
        let (sampler, problem) = parse_sampler(Some(" TraceIdRatio "), Some("0.25"));
        assert!(matches!(sampler, Sampler::TraceIdRatioBased(r) if r == 0.25));
        assert!(problem.is_none());
        let (sampler, problem) = parse_sampler(Some("traceidratio"), Some("2"));
        assert!(matches!(sampler, Sampler::TraceIdRatioBased(r) if r == 1.0));
        let problem = problem.unwrap().to_string();
        assert!(problem.contains(OTEL_TRACES_SAMPLER_ARG) && !problem.contains('2'));
        let (sampler, problem) = parse_sampler(Some("jaeger_remote"), None);
        assert!(matches!(sampler, Sampler::ParentBased(_)));
        assert!(!problem.unwrap().to_string().contains("jaeger"));
    }

    #[test]
    fn without_an_xray_flag_xray_export_follows_otlp() {
        assert!(XrayTrace::exports(None, true));
        assert!(!XrayTrace::exports(None, false));
        let unsaid = xray(None);
        assert!(XrayTrace::exports(unsaid.as_ref(), true));
        assert!(!XrayTrace::exports(xray(Some(false)).as_ref(), true));
        assert!(XrayTrace::exports(xray(Some(true)).as_ref(), false));
    }
}
