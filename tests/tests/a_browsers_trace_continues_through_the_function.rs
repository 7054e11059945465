//! A real browser's trace continues through the function: headless Chromium opens the Cruddur
//! page (`tests/browser`: the home feed, traced with the OpenTelemetry web SDK) on
//! `http://localhost:P`, which fetches the feed from the API on `http://127.0.0.1:Q`, another
//! origin, so the browser sends a CORS preflight first. The rules checked:
//!
//! - Fetch Standard, CORS protocol: the request carries `traceparent` and `tracestate`, which
//!   are not CORS-safelisted, so the browser sends them only after a preflight whose answer has
//!   an ok status, names the page's origin in `Access-Control-Allow-Origin` and lists both in
//!   `Access-Control-Allow-Headers`; a page may read a response header that is not safelisted
//!   (`traceresponse`) only when `Access-Control-Expose-Headers` names it; a page from an
//!   origin the API does not name gets nothing.
//! - W3C Trace Context: the function's server span is in the `traceparent`'s trace-id and its
//!   parent is the `traceparent`'s parent-id, the browser's fetch span; `tracestate` is carried
//!   on; every log line of the invocation names the trace.
//! - W3C Trace Context Level 2, `traceresponse`: "the trace-id ... of the trace the server
//!   participated in" and, as its parent-id (child-id), the span the server served it in.
//!
//! The same page runs a second time against API Gateway's own preflight answer, made from
//! template.yaml's `Cors` by SAM's transform (`tests/local/api_gateway_cors.py`), so that the
//! deployed path is checked too: there the function never sees the preflight.
//!
//! The browser's spans go to the same OTLP receiver as the function's, which answers CORS for
//! the page's origin as a collector configured for browsers does.

use std::collections::BTreeSet;

use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use serde_json::Value;
use tests::api_gateway_cors::ApiGatewayCors;
use tests::browser::{self, Visit, Visited};
use tests::otlp_receiver::{OtlpReceiver, hex};
use tests::{LocalApi, eventually, free_port, workspace_root};

/// The feed the page fetches.
const FEED: &str = "/api/activities/home";

/// The browser's service name (tests/browser/src/page.js).
const BROWSER_SERVICE: &str = "cruddur-frontend";

/// The `tracestate` the page's sampler writes: OpenTelemetry's `ot` key with a rejection
/// threshold of 0, "always sampled".
const BROWSER_TRACESTATE: &str = "ot=th:0";

/// A header's value as a set of lower-case list members (`a, B,c` -> {a, b, c}): header names
/// are case-insensitive and a list header's members are comma-separated (RFC 9110, 5.6.1).
fn members(value: Option<&str>) -> BTreeSet<String> {
    value
        .map(|v| {
            v.split(',')
                .map(|m| m.trim().to_ascii_lowercase())
                .collect()
        })
        .unwrap_or_default()
}

/// The fields of a version-00 `traceparent` or `traceresponse`: trace-id, parent-id, flags.
fn trace_fields(header: &str) -> (String, String, String) {
    let fields: Vec<&str> = header.split('-').collect();
    assert_eq!(
        fields.len(),
        4,
        "version-format has four fields: {header:?}"
    );
    assert_eq!(fields[0], "00", "{header:?}");
    let (trace_id, parent_id, flags) = (fields[1], fields[2], fields[3]);
    let lower_hex = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    assert!(
        trace_id.len() == 32 && lower_hex(trace_id) && trace_id != "0".repeat(32),
        "{header:?}"
    );
    assert!(
        parent_id.len() == 16 && lower_hex(parent_id) && parent_id != "0".repeat(16),
        "{header:?}"
    );
    (trace_id.into(), parent_id.into(), flags.into())
}

/// A span's `service.name`, from the resource it came under.
fn service_of(receiver: &OtlpReceiver, span: &Span) -> Option<String> {
    receiver
        .exports()
        .into_iter()
        .flat_map(|e| e.request.resource_spans)
        .find(|r| r.scope_spans.iter().any(|s| s.spans.contains(span)))
        .and_then(|r| r.resource)
        .and_then(|r| r.attributes.into_iter().find(|kv| kv.key == "service.name"))
        .and_then(|kv| match kv.value?.value? {
            opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(s) => Some(s),
            _ => None,
        })
}

/// Checks one visit whose page was allowed: the preflight, the request, what the page read,
/// and that the browser's and the function's spans and lines are one trace. Returns the
/// trace-id.
fn check_allowed_visit(
    visited: &Visited,
    feed_url: &str,
    page_origin: &str,
    expected_activities: usize,
    receiver: &OtlpReceiver,
    api: &LocalApi,
) -> String {
    let what = &visited.name;
    assert!(
        visited.done,
        "{what}: the page never finished: {visited:#?}"
    );

    // The browser's verdict first: it let the page have the feed (a refused preflight shows
    // as a failed request and a console error naming the header or origin).
    let get = visited
        .request("GET", feed_url)
        .unwrap_or_else(|| panic!("{what}: no GET {feed_url}: {visited:#?}"));
    assert!(
        get.status == Some(200)
            && get.cors_error.is_none()
            && visited.activities == expected_activities,
        "{what}: the page did not get the feed ({}); the browser said {:?}: {get:#?}",
        visited.status,
        visited.console
    );

    // The preflight: the browser asked for both trace headers, and the answer allowed them
    // for this origin with an ok status (200-299).
    let preflight = visited
        .preflight(feed_url)
        .unwrap_or_else(|| panic!("{what}: no preflight for {feed_url}: {visited:#?}"));
    let asked = members(preflight.request_header("access-control-request-headers"));
    assert!(
        asked.contains("traceparent") && asked.contains("tracestate"),
        "{what}: the browser asked for {asked:?}"
    );
    assert!(
        preflight.status.is_some_and(|s| (200..300).contains(&s)),
        "{what}: {preflight:#?}"
    );
    assert_eq!(
        preflight.response_header("access-control-allow-origin"),
        Some(page_origin),
        "{what}: {preflight:#?}"
    );
    let allowed = members(preflight.response_header("access-control-allow-headers"));
    for header in ["traceparent", "tracestate"] {
        assert!(
            allowed.contains(header),
            "{what}: the preflight does not allow {header}: {allowed:?}"
        );
    }

    // The request came from the page's origin and carried its trace: the fetch span's ids,
    // sampled, and tracestate.
    assert_eq!(get.request_header("origin"), Some(page_origin), "{what}");
    let traceparent = get
        .request_header("traceparent")
        .unwrap_or_else(|| panic!("{what}: the page sent no traceparent: {get:#?}"));
    let (trace_id, fetch_span_id, flags) = trace_fields(traceparent);
    assert_eq!(flags, "01", "{what}: the page samples every trace");
    assert_eq!(
        get.request_header("tracestate"),
        Some(BROWSER_TRACESTATE),
        "{what}"
    );

    // The page read `traceresponse` (exposed), and it names the browser's trace.
    let traceresponse = visited
        .traceresponse
        .as_deref()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| {
            panic!(
                "{what}: the page could not read traceresponse; exposed: {:?}",
                get.response_header("access-control-expose-headers")
            )
        });
    assert_eq!(
        get.response_header("traceresponse"),
        Some(traceresponse),
        "{what}"
    );
    let (served_trace_id, served_span_id, _) = trace_fields(traceresponse);
    assert_eq!(
        served_trace_id, trace_id,
        "{what}: traceresponse names another trace"
    );

    // The spans: the browser's fetch span (its id is the traceparent's parent-id) under the
    // page's own span, and the function's server span under the fetch span.
    let sent_by_page = format!(
        "{what}: the browser's fetch span (the page logged {:?})",
        visited.console
    );
    let fetch = eventually(&sent_by_page, || {
        receiver
            .spans()
            .into_iter()
            .find(|s| hex(&s.trace_id) == trace_id && hex(&s.span_id) == fetch_span_id)
    });
    assert_eq!(fetch.kind, SpanKind::Client as i32, "{what}: {fetch:?}");
    assert_eq!(
        service_of(receiver, &fetch).as_deref(),
        Some(BROWSER_SERVICE),
        "{what}"
    );
    let page_span = receiver
        .spans()
        .into_iter()
        .find(|s| s.span_id == fetch.parent_span_id)
        .unwrap_or_else(|| panic!("{what}: the fetch span's parent did not arrive: {fetch:?}"));
    assert_eq!(page_span.name, "load home feed", "{what}");
    assert!(
        page_span.parent_span_id.is_empty(),
        "{what}: the page's span is the root"
    );

    let server = eventually(&format!("{what}: the function's server span"), || {
        receiver
            .spans()
            .into_iter()
            .find(|s| hex(&s.trace_id) == trace_id && s.kind == SpanKind::Server as i32)
    });
    assert_eq!(
        hex(&server.parent_span_id),
        fetch_span_id,
        "{what}: the function's span is not the fetch span's child: {server:?}"
    );
    assert_ne!(
        service_of(receiver, &server).as_deref(),
        Some(BROWSER_SERVICE)
    );
    assert_eq!(
        hex(&server.span_id),
        served_span_id,
        "{what}: traceresponse names another span than the one that served the request"
    );
    assert_eq!(
        server.trace_state, BROWSER_TRACESTATE,
        "{what}: tracestate lost"
    );

    // Every line of the invocation names the trace; the access line is among them (read once
    // it has reached the pipe: the spans may arrive first).
    let lines = eventually(&format!("{what}: the access line of the trace"), || {
        let lines: Vec<Value> = api
            .function_lines()
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let access = lines
            .iter()
            .any(|v| v["trace_id"] == trace_id.as_str() && v["status"] == 200);
        access.then_some(lines)
    });
    let in_trace: Vec<&Value> = lines
        .iter()
        .filter(|v| v["trace_id"] == trace_id.as_str())
        .collect();
    let request_ids: BTreeSet<&str> = in_trace
        .iter()
        .filter_map(|v| v["function_request_id"].as_str())
        .collect();
    assert_eq!(
        request_ids.len(),
        1,
        "{what}: one invocation: {in_trace:#?}"
    );
    let invocation = lines
        .iter()
        .filter(|v| v["function_request_id"].as_str() == request_ids.first().copied())
        .count();
    assert_eq!(
        invocation,
        in_trace.len(),
        "{what}: a line of the invocation is not in the browser's trace"
    );
    trace_id
}

#[test]
fn a_browsers_trace_continues_through_the_function() {
    let page_port = free_port();
    // Two origins of one page server: the front end the API allows, and a foreign one.
    let page_origin = format!("http://localhost:{page_port}");
    let foreign_origin = format!("http://127.0.0.1:{page_port}");
    let receiver = OtlpReceiver::for_browsers_from(&page_origin);
    let api = LocalApi::start(&[
        ("FRONTEND_URL", page_origin.as_str()),
        ("OTEL_TRACES_EXPORTER", "otlp"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.endpoint()),
    ]);
    let gateway = ApiGatewayCors::start(&api.url(""), &page_origin);
    // Started before the browser (the emulator starts a function on its first request), and
    // what the feed holds, for the page to show.
    let feed = api.get(FEED, &[]);
    assert_eq!(feed.status, 200, "{feed:?}");
    let expected_activities = feed.json().as_array().map_or(0, Vec::len);
    assert!(expected_activities > 0, "{feed:?}");

    let otlp = format!("{}/v1/traces", receiver.endpoint());
    let page = |origin: &str, api: &str| format!("{origin}/?api={api}&otlp={otlp}");
    // The foreign page sends its spans nowhere: the receiver would refuse its origin too, and
    // the exporter retry for seconds; the refusal under test is the API's.
    let foreign_page = format!("{foreign_origin}/?api={}", api.url(""));
    let screenshot = workspace_root().join("target/browser/home-feed.png");
    let run = browser::visit(
        page_port,
        &[
            Visit {
                name: "the front end's page",
                page: page(&page_origin, &api.url("")),
            },
            Visit {
                name: "the page through API Gateway's preflight",
                page: page(&page_origin, &gateway.url()),
            },
            Visit {
                name: "a foreign page",
                page: foreign_page,
            },
        ],
        &screenshot,
    );
    eprintln!("{}; screenshot: {}", run.browser, screenshot.display());
    let [direct, through_gateway, foreign] = &run.visits[..] else {
        panic!("three visits: {run:#?}");
    };

    // The front end calls the functions' own CORS (as `make serve` and function URLs do).
    let direct_trace = check_allowed_visit(
        direct,
        &api.url(FEED),
        &page_origin,
        expected_activities,
        &receiver,
        &api,
    );

    // Deployed, API Gateway answers the preflight from the template and the function the
    // request: both must allow the page.
    let gateway_feed = format!("{}{FEED}", gateway.url());
    let gateway_trace = check_allowed_visit(
        through_gateway,
        &gateway_feed,
        &page_origin,
        expected_activities,
        &receiver,
        &api,
    );
    let preflight = through_gateway.preflight(&gateway_feed).unwrap();
    assert!(
        preflight.response_header("x-amzn-requestid").is_some()
            && preflight.response_header("traceresponse").is_none(),
        "the preflight was answered by the gateway's mock, not the function: {preflight:#?}"
    );
    assert_ne!(
        direct_trace, gateway_trace,
        "each page load is a trace of its own"
    );

    // A page from an origin the API does not name: its preflight gets no
    // Access-Control-Allow-Origin, the browser never sends the request, the page gets nothing.
    assert!(foreign.done, "{foreign:#?}");
    assert_eq!(foreign.activities, 0, "{foreign:#?}");
    assert!(
        foreign.status.contains("Failed to fetch"),
        "{}",
        foreign.status
    );
    let refused = foreign
        .request("GET", &api.url(FEED))
        .unwrap_or_else(|| panic!("{foreign:#?}"));
    assert_eq!(refused.status, None, "{refused:#?}");
    assert_eq!(
        refused.cors_error.as_deref(),
        Some("PreflightMissingAllowOriginHeader"),
        "{refused:#?}"
    );
    let foreign_preflight = foreign.preflight(&api.url(FEED)).unwrap();
    assert_eq!(
        foreign_preflight.response_header("access-control-allow-origin"),
        None,
        "{foreign_preflight:#?}"
    );
    let foreign_traceparent = refused
        .request_header("traceparent")
        .unwrap_or_else(|| panic!("the foreign page sent no traceparent: {refused:#?}"));
    let (foreign_trace, _, _) = trace_fields(foreign_traceparent);
    assert!(
        !api.function_lines()
            .iter()
            .any(|l| l.contains(&foreign_trace)),
        "the function served the foreign page's request"
    );
}
