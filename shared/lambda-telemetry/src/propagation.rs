//! Choosing an invocation's parent, and telling the caller which trace it joined.
//!
//! The rule, in order (each step only with its propagator in `OTEL_PROPAGATORS`):
//! 1. `tracecontext`: a valid W3C `traceparent` on the request is the parent, so the
//!    browser's trace continues; the Lambda X-Ray context becomes a link.
//! 2. `xray-lambda`: the Lambda X-Ray context (`Context::xray_trace_id`) is the parent, so
//!    the OpenTelemetry trace id is the X-Ray trace id. (`_X_AMZN_TRACE_ID` is not read:
//!    our Runtime API loop never sets it, see [`crate::runtime`].)
//! 3. `xray`: the request's own `X-Amzn-Trace-Id` header, as the caller sent it (our loop
//!    leaves the event's headers as they are; lambda_http's adapter put Lambda's there).
//! 4. Otherwise a new root.
//!
//! `OTEL_PROPAGATORS` lists the propagators in the order they are tried (the default is
//! `tracecontext,xray-lambda`); `none` always starts a new root; `baggage` adds the W3C
//! `baggage` header to the parent context. Invalid headers are ignored, as the W3C Trace
//! Context specification says: they never fail a request.

use http::HeaderMap;
use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{SpanContext, TraceContextExt};
use opentelemetry_aws::trace::XrayPropagator;
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};

use crate::constants::OTEL_PROPAGATORS;

/// One entry of `OTEL_PROPAGATORS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Propagator {
    /// W3C `traceparent` and `tracestate`.
    TraceContext,
    /// W3C `baggage`.
    Baggage,
    /// The request's `X-Amzn-Trace-Id` header.
    Xray,
    /// The X-Ray context Lambda hands the invocation.
    XrayLambda,
}

/// The propagators in force, in the order they are tried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Propagators(Vec<Propagator>);

impl Default for Propagators {
    fn default() -> Self {
        Self(vec![Propagator::TraceContext, Propagator::XrayLambda])
    }
}

impl Propagators {
    /// Parses `OTEL_PROPAGATORS`; unknown names are skipped (and returned, to be reported).
    pub(crate) fn parse(value: &str) -> (Self, Vec<String>) {
        let mut propagators = Vec::new();
        let mut unknown = Vec::new();
        for name in value.split(',').map(|n| n.trim().to_ascii_lowercase()) {
            let propagator = match name.as_str() {
                "" => continue,
                "none" => return (Self(Vec::new()), unknown),
                "tracecontext" => Propagator::TraceContext,
                "baggage" => Propagator::Baggage,
                "xray" => Propagator::Xray,
                "xray-lambda" => Propagator::XrayLambda,
                _ => {
                    unknown.push(name);
                    continue;
                }
            };
            if !propagators.contains(&propagator) {
                propagators.push(propagator);
            }
        }
        (Self(propagators), unknown)
    }

    /// From the environment; unset or empty gives the default.
    pub(crate) fn from_env() -> (Self, Vec<String>) {
        match std::env::var(OTEL_PROPAGATORS) {
            Ok(value) if !value.trim().is_empty() => Self::parse(&value),
            _ => (Self::default(), Vec::new()),
        }
    }
}

/// Where an invocation's parent came from.
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

/// The chosen parent of an invocation's server span.
#[derive(Debug)]
pub(crate) struct Parent {
    /// What the server span's parent is (an empty context for a new root).
    pub(crate) context: Context,
    /// Which rule chose it.
    pub(crate) source: ParentSource,
    /// The Lambda X-Ray context when it is not the parent: the span links to it.
    pub(crate) link: Option<SpanContext>,
    /// The Lambda X-Ray context, parent or not: outgoing requests carry its trace to X-Ray.
    pub(crate) lambda: Option<SpanContext>,
}

/// Applies the rule in the module documentation.
pub(crate) fn choose_parent(
    propagators: &Propagators,
    headers: &HeaderMap,
    lambda_xray_header: Option<&str>,
) -> Parent {
    let request = HeaderExtractor(headers);
    let lambda_xray = lambda_xray_header.and_then(xray_span_context);

    let mut chosen: Option<(Context, ParentSource)> = None;
    for propagator in &propagators.0 {
        if chosen.is_some() {
            break;
        }
        let found = match propagator {
            Propagator::TraceContext => {
                let cx = TraceContextPropagator::new().extract(&request);
                has_valid_span(&cx).then_some((cx, ParentSource::TraceContext))
            }
            Propagator::XrayLambda => lambda_xray.clone().map(|sc| {
                (
                    Context::new().with_remote_span_context(sc),
                    ParentSource::XrayLambda,
                )
            }),
            Propagator::Xray => {
                let cx = XrayPropagator::new().extract(&request);
                has_valid_span(&cx).then_some((cx, ParentSource::Xray))
            }
            Propagator::Baggage => None,
        };
        chosen = found;
    }
    let (mut context, source) = chosen.unwrap_or_else(|| (Context::new(), ParentSource::Root));
    if propagators.0.contains(&Propagator::Baggage) {
        context = BaggagePropagator::new().extract_with_context(&context, &request);
    }
    let link = match source {
        ParentSource::XrayLambda => None,
        _ => lambda_xray.clone(),
    };
    Parent {
        context,
        source,
        link,
        lambda: lambda_xray,
    }
}

fn has_valid_span(cx: &Context) -> bool {
    cx.span().span_context().is_valid()
}

/// The span context an X-Ray trace header names, when it names a whole one (`Root` and
/// `Parent`); a header without `Parent` cannot be a parent.
pub(crate) fn xray_span_context(header: &str) -> Option<SpanContext> {
    opentelemetry_aws::trace::xray_propagator::span_context_from_str(header.trim())
        .filter(SpanContext::is_valid)
}

/// The W3C `traceresponse` header for a span: `00-<trace id>-<span id>-<flags>`.
pub(crate) fn traceresponse(span: &SpanContext) -> Option<String> {
    span.is_valid().then(|| {
        format!(
            "00-{}-{}-{:02x}",
            span.trace_id(),
            span.span_id(),
            span.trace_flags().to_u8()
        )
    })
}

/// The X-Ray trace header for a span: `Root=1-...;Parent=...;Sampled=1`.
pub(crate) fn xray_header(span: &SpanContext) -> Option<String> {
    opentelemetry_aws::trace::xray_propagator::span_context_to_string(span)
}

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanId, TraceId};

    const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const LAMBDA_XRAY: &str =
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                http::HeaderValue::from_bytes(value.as_bytes()).unwrap(),
            );
        }
        map
    }

    fn span(parent: &Parent) -> SpanContext {
        parent.context.span().span_context().clone()
    }

    #[test]
    fn a_valid_traceparent_is_the_parent_and_the_lambda_context_a_link() {
        let request = headers(&[
            ("traceparent", TRACEPARENT),
            ("tracestate", "rojo=00f067aa0ba902b7"),
        ]);
        let parent = choose_parent(&Propagators::default(), &request, Some(LAMBDA_XRAY));
        assert_eq!(parent.source, ParentSource::TraceContext);
        assert_eq!(
            span(&parent).trace_id(),
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap()
        );
        assert_eq!(
            span(&parent).span_id(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap()
        );
        assert_eq!(
            span(&parent).trace_state().get("rojo"),
            Some("00f067aa0ba902b7")
        );
        let link = parent.link.expect("a link to the Lambda X-Ray context");
        assert_eq!(
            link.trace_id(),
            TraceId::from_hex("5759e988bd862e3fe1be46a994272793").unwrap()
        );
    }

    #[test]
    fn without_traceparent_the_lambda_xray_context_is_the_parent() {
        let parent = choose_parent(
            &Propagators::default(),
            &HeaderMap::new(),
            Some(LAMBDA_XRAY),
        );
        assert_eq!(parent.source, ParentSource::XrayLambda);
        assert_eq!(
            span(&parent).trace_id(),
            TraceId::from_hex("5759e988bd862e3fe1be46a994272793").unwrap()
        );
        assert_eq!(
            span(&parent).span_id(),
            SpanId::from_hex("53995c3f42cd8ad8").unwrap()
        );
        assert!(parent.link.is_none());
    }

    #[test]
    fn malformed_traceparent_falls_back_to_the_lambda_context() {
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "garbage",
            "",
        ] {
            let parent = choose_parent(
                &Propagators::default(),
                &headers(&[("traceparent", bad)]),
                Some(LAMBDA_XRAY),
            );
            assert_eq!(parent.source, ParentSource::XrayLambda, "{bad:?}");
        }
    }

    #[test]
    fn without_any_context_a_new_root() {
        let parent = choose_parent(
            &Propagators::default(),
            &HeaderMap::new(),
            Some("Root=1-5759e988-bd862e3fe1be46a994272793"),
        );
        assert_eq!(parent.source, ParentSource::Root);
        assert!(!span(&parent).is_valid());
    }

    #[test]
    fn otel_propagators_overrides_the_default() {
        let request = headers(&[
            ("traceparent", TRACEPARENT),
            ("x-amzn-trace-id", LAMBDA_XRAY),
            ("baggage", "user=alice"),
        ]);

        let (none, _) = Propagators::parse("none");
        assert_eq!(
            choose_parent(&none, &request, Some(LAMBDA_XRAY)).source,
            ParentSource::Root
        );

        let (lambda_first, _) = Propagators::parse("xray-lambda,tracecontext");
        assert_eq!(
            choose_parent(&lambda_first, &request, Some(LAMBDA_XRAY)).source,
            ParentSource::XrayLambda
        );

        let (xray, _) = Propagators::parse("xray");
        let parent = choose_parent(&xray, &request, Some(LAMBDA_XRAY));
        assert_eq!(parent.source, ParentSource::Xray);
        assert!(parent.link.is_some());

        let (with_baggage, unknown) = Propagators::parse("tracecontext, baggage, b3");
        assert_eq!(unknown, vec!["b3".to_owned()]);
        let parent = choose_parent(&with_baggage, &request, None);
        assert_eq!(parent.source, ParentSource::TraceContext);
        use opentelemetry::baggage::BaggageExt;
        assert_eq!(
            parent.context.baggage().get("user").map(|v| v.to_string()),
            Some("alice".to_owned())
        );
    }

    #[test]
    fn response_headers_name_the_span() {
        let span = xray_span_context(LAMBDA_XRAY).unwrap();
        assert_eq!(
            traceresponse(&span).unwrap(),
            "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01"
        );
        assert_eq!(xray_header(&span).unwrap(), LAMBDA_XRAY);
        assert_eq!(traceresponse(&SpanContext::empty_context()), None);
    }

    #[test]
    fn xray_headers_of_any_shape_never_panic() {
        for header in [
            "Root=1-5759e988-bd862e3fe1be46a994272793;Lineage=a87bd80c:1|68fd508a:5",
            "Root=1-00000000-000000000000000000000000;Parent=0000000000000000;Sampled=1",
            "Root=2-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8",
            "Root=1-zzzzzzzz-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8",
            ";;;==;Root;Parent=",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=?",
            "\u{0}\u{7f}",
        ] {
            let _ = xray_span_context(header);
            let _ = choose_parent(&Propagators::default(), &HeaderMap::new(), Some(header));
        }
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Strings near the real shapes (hex runs, dashes, `;`, `=`, the keys), where parser bugs
    /// live, as well as anything at all.
    fn header_like() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[0-9a-fA-F-]{0,70}",
            "(00|01|ff|zz)-[0-9a-f]{30,34}-[0-9a-f]{14,18}-[0-9a-f]{1,3}(-[ -~]{0,10})?",
            "(Root=1-[0-9a-f]{8}-[0-9a-f]{24}|Root=[ -~]{0,40})(;(Parent|Sampled|Lineage|Self)=[ -~]{0,20}){0,4}",
            "([a-z0-9@*/_-]{0,20}=[ -~]{0,20},?){0,40}",
        ]
    }

    proptest! {
        #[test]
        fn no_header_ever_makes_choosing_a_parent_panic(
            traceparent in header_like(),
            tracestate in header_like(),
            xray in header_like(),
            lambda in header_like(),
            baggage in header_like(),
        ) {
            let mut headers = HeaderMap::new();
            for (name, value) in [("traceparent", &traceparent), ("tracestate", &tracestate), ("x-amzn-trace-id", &xray), ("baggage", &baggage)] {
                // What HTTP cannot carry never reaches a handler.
                if let Ok(value) = http::HeaderValue::from_str(value) {
                    headers.insert(name, value);
                }
            }
            let (all, _) = Propagators::parse("tracecontext,baggage,xray,xray-lambda");
            let parent = choose_parent(&all, &headers, Some(&lambda));
            let span = parent.context.span().span_context().clone();
            // Whatever is chosen is either a whole span context or nothing.
            prop_assert!(span.is_valid() || parent.source == ParentSource::Root);
            if let Some(link) = parent.link {
                prop_assert!(link.is_valid());
            }
            let _ = traceresponse(&span);
            let _ = xray_header(&span);
        }
    }
}
