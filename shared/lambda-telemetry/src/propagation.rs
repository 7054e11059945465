//! Choosing an invocation's parent, and telling the caller which trace it joined.
//!
//! The rule, in order (each step only with its propagator in `OTEL_PROPAGATORS`):
//! 1. `tracecontext`: a valid W3C `traceparent` on the request is the parent, so the
//!    browser's trace continues; the Lambda X-Ray context becomes a link.
//! 2. `xray-lambda`: the Lambda X-Ray context (`Context::xray_trace_id`) is the parent, so
//!    the OpenTelemetry trace id is the X-Ray trace id. (`_X_AMZN_TRACE_ID` is not read:
//!    our Runtime API loop never sets it, see [`crate::runtime`].) A header with `Root` but
//!    no `Parent` (Lambda in PassThrough mode, a load balancer) names a trace but no parent
//!    span: the server span is a new root *in that trace*, so its `trace_id`, the log lines'
//!    `trace_id` and `xray_trace_id` and the response all agree.
//! 3. `xray`: the request's own `X-Amzn-Trace-Id` header, as the caller sent it (our loop
//!    leaves the event's headers as they are; lambda_http's adapter put Lambda's there).
//! 4. Otherwise a new root.
//!
//! `OTEL_PROPAGATORS` lists the propagators in the order they are tried (the default is
//! `tracecontext,xray-lambda`); `none` always starts a new root; `baggage` adds the W3C
//! `baggage` header to the parent context. Invalid headers are ignored, as the W3C Trace
//! Context specification says: they never fail a request. `traceparent` and `tracestate` are
//! read, and `traceresponse` written, by the grammar of [`tracecontext`](crate::tracecontext).

use http::HeaderMap;
use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceId};
use opentelemetry_aws::trace::XrayPropagator;
use opentelemetry_sdk::propagation::BaggagePropagator;

use crate::config::SettingProblem;
use crate::constants::OTEL_PROPAGATORS;
pub(crate) use crate::sampling::ParentSource;
use crate::sampling::{InvocationTrace, XrayTrace};
use crate::tracecontext::{CallerTrace, TraceParent, TraceStateList};

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

    /// From the setting (`OTEL_PROPAGATORS`, or set in code); unset or empty gives the
    /// default. With unknown entries, the problem to say and how many there are.
    pub(crate) fn from_setting(value: Option<&str>) -> (Self, Option<(SettingProblem, usize)>) {
        match value {
            Some(value) if !value.trim().is_empty() => {
                let (propagators, unknown) = Self::parse(value);
                // Counted, never quoted: a settings problem never repeats the value, which
                // may be a key typed into the wrong variable.
                let problem = (!unknown.is_empty()).then(|| {
                    let problem = SettingProblem::new(
                        OTEL_PROPAGATORS,
                        "names entries other than tracecontext, baggage, xray, xray-lambda and none; they are ignored",
                    );
                    (problem, unknown.len())
                });
                (propagators, problem)
            }
            _ => (Self::default(), None),
        }
    }
}

/// The chosen parent of an invocation's server span.
#[derive(Debug)]
pub(crate) struct Parent {
    /// What the server span's parent is (no span for a new root), with the invocation's
    /// sampling inputs ([`InvocationTrace`]) as a value every span of the invocation inherits.
    pub(crate) context: Context,
    /// Which rule chose it.
    pub(crate) source: ParentSource,
    /// The trace a new root joins: the Lambda X-Ray `Root` when Lambda named no `Parent`.
    pub(crate) root_trace_id: Option<TraceId>,
    /// The Lambda X-Ray context when it is not the parent: the span links to it.
    pub(crate) link: Option<SpanContext>,
    /// The Lambda X-Ray context, parent or not: outgoing requests carry its trace to X-Ray.
    pub(crate) lambda: Option<XrayTrace>,
    /// The caller's W3C trace context when it is the parent: outgoing requests and
    /// `traceresponse` carry its random flag and its whole `tracestate`.
    pub(crate) caller: Option<CallerTrace>,
}

/// Applies the rule in the module documentation.
pub(crate) fn choose_parent(
    propagators: &Propagators,
    headers: &HeaderMap,
    lambda_xray_header: Option<&str>,
) -> Parent {
    let request = HeaderExtractor(headers);
    let xray = lambda_xray_header.and_then(xray_trace);
    let lambda_xray = xray.as_ref().and_then(XrayTrace::segment);
    let mut root_trace_id = None;

    let mut chosen: Option<(Context, ParentSource)> = None;
    let mut caller = None;
    for propagator in &propagators.0 {
        if chosen.is_some() {
            break;
        }
        let found = match propagator {
            Propagator::TraceContext => caller_trace(headers).map(|found| {
                let state = found
                    .tracestate
                    .as_ref()
                    .map(TraceStateList::trace_state)
                    .unwrap_or_default();
                let cx =
                    Context::new().with_remote_span_context(found.traceparent.span_context(state));
                caller = Some(found);
                (cx, ParentSource::TraceContext)
            }),
            Propagator::XrayLambda => match (&lambda_xray, &xray) {
                (Some(segment), _) => Some((
                    Context::new().with_remote_span_context(segment.clone()),
                    ParentSource::XrayLambda,
                )),
                (None, Some(xray)) => {
                    root_trace_id = Some(xray.trace_id);
                    Some((Context::new(), ParentSource::XrayLambda))
                }
                (None, None) => None,
            },
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
        _ => lambda_xray,
    };
    // Where the invocation hangs in X-Ray: under Lambda's segment, else (off Lambda) under the
    // caller's own X-Ray segment when that was the parent.
    let xray_home = xray.or_else(|| {
        (source == ParentSource::Xray)
            .then(|| {
                headers
                    .get("x-amzn-trace-id")?
                    .to_str()
                    .ok()
                    .and_then(xray_trace)
            })
            .flatten()
    });
    Parent {
        context: context.with_value(InvocationTrace {
            source,
            xray: xray_home,
        }),
        source,
        root_trace_id,
        link,
        lambda: xray,
        caller,
    }
}

/// The caller's W3C trace context, read strictly (see [`crate::tracecontext`]) instead of by
/// `opentelemetry_sdk`'s `TraceContextPropagator` 0.33.1, which lets malformed headers through,
/// drops the random flag and reads only the first `tracestate` field.
///
/// `None` unless there is exactly one valid `traceparent`: RFC 9110 allows several fields of
/// one name only for a list, which `traceparent` is not, and the W3C test suite
/// (`test_traceparent_duplicated`) expects two of them to start a new trace. `tracestate` is
/// read only then ("If the vendor failed to parse traceparent, it MUST NOT attempt to parse
/// tracestate"), and all its fields, in order, as one list.
fn caller_trace(headers: &HeaderMap) -> Option<CallerTrace> {
    let mut traceparents = headers.get_all("traceparent").iter();
    let traceparent = match (traceparents.next(), traceparents.next()) {
        (Some(only), None) => TraceParent::parse(only.to_str().ok()?)?,
        _ => return None,
    };
    let fields = headers.get_all("tracestate");
    // A field that is not ASCII breaks the grammar like any other broken member.
    let tracestate = fields
        .iter()
        .all(|field| field.to_str().is_ok())
        .then(|| TraceStateList::parse(fields.iter().filter_map(|f| f.to_str().ok())))
        .flatten();
    Some(CallerTrace {
        traceparent,
        tracestate,
    })
}

fn has_valid_span(cx: &Context) -> bool {
    cx.span().span_context().is_valid()
}

/// The X-Ray trace a Lambda trace header names: `Root` (required, `1-<8 hex>-<24 hex>`),
/// `Parent` (16 hex) and `Sampled` (`1`, `0`; `?` or absent is no decision), in any order,
/// keys case-insensitive, as the X-Ray documentation's "Tracing header" describes it. A
/// malformed `Parent` or `Sampled` is treated as absent; a malformed `Root` as no header.
pub(crate) fn xray_trace(header: &str) -> Option<XrayTrace> {
    let mut root = None;
    let mut parent = None;
    let mut sampled = None;
    for (key, value) in header
        .split(';')
        .filter_map(|part| part.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim()))
    {
        if key.eq_ignore_ascii_case("root") {
            root = xray_root_trace_id(value);
        } else if key.eq_ignore_ascii_case("parent") {
            parent = (value.len() == 16)
                .then(|| SpanId::from_hex(value).ok())
                .flatten()
                .filter(|id| *id != SpanId::INVALID);
        } else if key.eq_ignore_ascii_case("sampled") {
            sampled = match value {
                "1" => Some(true),
                "0" => Some(false),
                _ => None,
            };
        }
    }
    Some(XrayTrace {
        trace_id: root?,
        segment_id: parent,
        sampled,
    })
}

/// The `Root` of an X-Ray trace header as written (`Root=1-…;Parent=…` → `1-…`), for the log
/// lines' `xray_trace_id`; `None` when absent or empty.
pub(crate) fn xray_root(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|part| part.trim().split_once('='))
        .find(|(key, _)| key.eq_ignore_ascii_case("root"))
        .map(|(_, value)| value.trim())
        .filter(|root| !root.is_empty())
}

/// `1-5759e988-bd862e3fe1be46a994272793` → its 128-bit trace id.
fn xray_root_trace_id(root: &str) -> Option<TraceId> {
    let mut parts = root.split('-');
    let (Some("1"), Some(time), Some(random), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    if !hex(time, 8) || !hex(random, 24) {
        return None;
    }
    TraceId::from_hex(&format!("{time}{random}"))
        .ok()
        .filter(|id| *id != TraceId::INVALID)
}

/// The W3C `traceresponse` header for a span: `00-<trace id>-<span id>-<flags>`, with the
/// random flag of the caller's `traceparent` when the span continues its trace (Level 2: a
/// participant that continues a trace "MUST set the random-trace-id flag in the
/// traceresponse header to the same value that was found in the incoming traceparent
/// header"). `caller` is the invocation's caller trace context when it is the parent.
pub(crate) fn traceresponse(span: &SpanContext, caller: Option<&CallerTrace>) -> Option<String> {
    TraceParent::outgoing(span, caller).map(|traceparent| traceparent.to_string())
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
    fn the_root_is_read_from_any_position_and_garbage_gives_none() {
        assert_eq!(
            xray_root("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"),
            Some("1-5759e988-bd862e3fe1be46a994272793")
        );
        assert_eq!(xray_root("Sampled=0; root=1-2-3"), Some("1-2-3"));
        for garbage in ["", "Root=", "Parent=1", ";;;", "Root"] {
            assert_eq!(xray_root(garbage), None, "{garbage:?}");
        }
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

    /// The W3C test suite's `traceparent` headers that must start a new trace, and what
    /// opentelemetry_sdk 0.33.1's `TraceContextPropagator` let through.
    const MALFORMED: [&str; 12] = [
        "0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "000-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-001",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
        "+0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-+bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-+0f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-+1",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
    ];

    #[test]
    fn a_malformed_traceparent_starts_a_new_trace_and_drops_tracestate() {
        for bad in MALFORMED {
            let request = headers(&[
                ("traceparent", bad),
                ("tracestate", "rojo=00f067aa0ba902b7"),
            ]);
            for lambda in [Some(LAMBDA_XRAY), None] {
                let parent = choose_parent(&Propagators::default(), &request, lambda);
                assert_ne!(parent.source, ParentSource::TraceContext, "{bad}");
                assert_ne!(
                    span(&parent).trace_id(),
                    TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
                    "{bad}"
                );
                assert_eq!(span(&parent).trace_state().header(), "", "{bad}");
                assert!(parent.caller.is_none(), "{bad}");
            }
        }
    }

    // RFC 9110 allows repeated fields only for lists; the W3C test suite's
    // test_traceparent_duplicated expects a new trace.
    #[test]
    fn two_traceparent_headers_start_a_new_trace() {
        let mut request = headers(&[("tracestate", "rojo=00f067aa0ba902b7")]);
        for value in [
            TRACEPARENT,
            "00-12345678901234567890123456789012-1234567890123456-01",
        ] {
            request.append("traceparent", http::HeaderValue::from_static(value));
        }
        let parent = choose_parent(&Propagators::default(), &request, None);
        assert_eq!(parent.source, ParentSource::Root);
        assert!(parent.caller.is_none());
    }

    // API Gateway REST events name each header in `headers` and in `multiValueHeaders`:
    // that is one traceparent, not two.
    #[test]
    fn a_rest_api_event_with_a_traceparent_continues_the_trace() {
        let event = include_str!("../../../events/home-with-traceparent.json");
        let request = lambda_http::request::from_str(event).unwrap();
        let parent = choose_parent(&Propagators::default(), request.headers(), None);
        assert_eq!(parent.source, ParentSource::TraceContext);
        assert_eq!(
            span(&parent).trace_state().header(),
            "rojo=00f067aa0ba902b7"
        );
    }

    #[test]
    fn the_callers_random_flag_and_every_tracestate_field_reach_the_parent() {
        let mut request = headers(&[(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03",
        )]);
        for field in ["rojo=00f067aa0ba902b7", "", "congo=t61rcWkgMzE"] {
            request.append("tracestate", http::HeaderValue::from_static(field));
        }
        let parent = choose_parent(&Propagators::default(), &request, None);
        assert_eq!(parent.source, ParentSource::TraceContext);
        assert_eq!(span(&parent).trace_flags().to_u8(), 0x03);
        assert_eq!(
            span(&parent).trace_state().header(),
            "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
        );
        let caller = parent.caller.expect("the caller's trace context");
        assert_eq!(
            caller.tracestate.map(|s| s.as_str().to_owned()).as_deref(),
            Some("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")
        );
    }

    #[test]
    fn a_tracestate_field_that_is_not_ascii_drops_the_whole_tracestate() {
        let mut request = headers(&[("traceparent", TRACEPARENT), ("tracestate", "rojo=1")]);
        request.append(
            "tracestate",
            http::HeaderValue::from_bytes("congo=caf\u{e9}".as_bytes()).unwrap(),
        );
        let parent = choose_parent(&Propagators::default(), &request, None);
        assert_eq!(parent.source, ParentSource::TraceContext);
        assert_eq!(parent.caller.and_then(|c| c.tracestate), None);
    }

    #[test]
    fn a_broken_tracestate_is_dropped_and_the_traceparent_still_continues() {
        // "failure to parse tracestate MUST NOT affect the parsing of traceparent"
        let request = headers(&[("traceparent", TRACEPARENT), ("tracestate", "foo=,bar=3")]);
        let parent = choose_parent(&Propagators::default(), &request, None);
        assert_eq!(parent.source, ParentSource::TraceContext);
        assert_eq!(span(&parent).trace_state().header(), "");
        assert_eq!(parent.caller.and_then(|c| c.tracestate), None);
    }

    #[test]
    fn without_any_context_a_new_root() {
        for lambda in [None, Some("Root=garbage;Parent=53995c3f42cd8ad8")] {
            let parent = choose_parent(&Propagators::default(), &HeaderMap::new(), lambda);
            assert_eq!(parent.source, ParentSource::Root);
            assert!(!span(&parent).is_valid());
            assert_eq!(parent.root_trace_id, None);
        }
    }

    #[test]
    fn an_xray_root_without_parent_is_a_new_root_in_that_trace() {
        // PassThrough mode and load balancers send `Root` (and maybe `Sampled`) without
        // `Parent`: there is no span to continue, but the trace is named.
        for header in [
            "Root=1-5759e988-bd862e3fe1be46a994272793",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0;Lineage=a87bd80c:1",
            "Sampled=1; root=1-5759e988-bd862e3fe1be46a994272793",
        ] {
            let parent = choose_parent(&Propagators::default(), &HeaderMap::new(), Some(header));
            assert!(!span(&parent).is_valid(), "{header}");
            assert_eq!(
                parent.root_trace_id,
                TraceId::from_hex("5759e988bd862e3fe1be46a994272793").ok(),
                "{header}"
            );
            assert!(parent.link.is_none(), "no segment to link to: {header}");
        }
    }

    #[test]
    fn the_invocation_hangs_under_lambdas_segment_else_under_the_x_ray_caller() {
        let caller = "Root=1-6759e988-bd862e3fe1be46a994272794;Parent=63995c3f42cd8ad9;Sampled=1";
        let request = headers(&[("x-amzn-trace-id", caller)]);
        let (xray, _) = Propagators::parse("xray");
        let home = |lambda| {
            let parent = choose_parent(&xray, &request, lambda);
            assert_eq!(parent.source, ParentSource::Xray);
            InvocationTrace::of(&parent.context).and_then(|i| i.xray)
        };
        assert_eq!(home(Some(LAMBDA_XRAY)), xray_trace(LAMBDA_XRAY));
        assert_eq!(
            home(None),
            xray_trace(caller),
            "off Lambda, the caller's segment"
        );
        // A W3C caller off Lambda is no X-Ray segment: nothing to hang under.
        let w3c = headers(&[("traceparent", TRACEPARENT)]);
        let parent = choose_parent(&Propagators::default(), &w3c, None);
        assert_eq!(
            InvocationTrace::of(&parent.context).and_then(|i| i.xray),
            None
        );
    }

    #[test]
    fn the_xray_header_reads_root_parent_and_sampled_in_any_order() {
        let trace = xray_trace(
            "Sampled=0;Parent=53995c3f42cd8ad8;Root=1-5759e988-bd862e3fe1be46a994272793",
        )
        .unwrap();
        assert_eq!(trace.sampled, Some(false));
        assert_eq!(trace.segment_id, SpanId::from_hex("53995c3f42cd8ad8").ok());
        assert_eq!(xray_trace(LAMBDA_XRAY).unwrap().sampled, Some(true));
        let undecided = xray_trace("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=?").unwrap();
        assert_eq!(undecided.sampled, None);
        for bad_root in [
            "Root=2-5759e988-bd862e3fe1be46a994272793",
            "Root=1-5759e98-bd862e3fe1be46a9942727930",
            "Root=1-zzzzzzzz-bd862e3fe1be46a994272793",
            "Root=1-00000000-000000000000000000000000",
            "Root=1-5759e988-bd862e3fe1be46a994272793-00",
            "Parent=53995c3f42cd8ad8",
        ] {
            assert_eq!(xray_trace(bad_root), None, "{bad_root}");
        }
        let bad_parent =
            xray_trace("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f").unwrap();
        assert_eq!(bad_parent.segment_id, None);
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
        let span = xray_trace(LAMBDA_XRAY).and_then(|x| x.segment()).unwrap();
        assert_eq!(
            traceresponse(&span, None).unwrap(),
            "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01"
        );
        assert_eq!(xray_header(&span).unwrap(), LAMBDA_XRAY);
        assert_eq!(traceresponse(&SpanContext::empty_context(), None), None);
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
            let _ = xray_trace(header);
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
            prop_assert!(span.is_valid() || parent.source == ParentSource::Root || parent.root_trace_id.is_some());
            if let Some(link) = parent.link {
                prop_assert!(link.is_valid());
            }
            let _ = traceresponse(&span, None);
            let _ = xray_header(&span);
        }
    }
}
