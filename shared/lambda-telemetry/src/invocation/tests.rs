//! The invocation layer through its public face: spans, access lines, failures, parents.

use super::request::forwarded_for;
use super::*;
use crate::config::LogFormat;
use crate::logs::testing::capture;
use http::{HeaderMap, StatusCode, header};
use serde_json::Value;
use tower::ServiceExt as _;

pub(crate) fn event() -> Request {
    let event = include_str!("../../../../events/user-activities.json");
    let mut request = lambda_http::request::from_str(event).unwrap();
    *request.uri_mut() = "https://example.com/api/activities/@andrewbrown?token=canary&page=2"
        .parse()
        .unwrap();
    request
}

/// Serves one request through the layer; returns the response and the log lines.
fn serve<S>(service: S) -> (Response<Body>, Vec<Value>)
where
    S: Service<
            Request,
            Future: Send + 'static,
            Response: IntoResponse + Send,
            Error: Into<BoxError> + Send,
        >,
{
    serve_request(service, event())
}

pub(crate) fn serve_request<S>(service: S, request: Request) -> (Response<Body>, Vec<Value>)
where
    S: Service<
            Request,
            Future: Send + 'static,
            Response: IntoResponse + Send,
            Error: Into<BoxError> + Send,
        >,
{
    serve_through(InvocationLayer::default(), service, request)
}

fn serve_through<S>(
    layer: InvocationLayer,
    service: S,
    request: Request,
) -> (Response<Body>, Vec<Value>)
where
    S: Service<
            Request,
            Future: Send + 'static,
            Response: IntoResponse + Send,
            Error: Into<BoxError> + Send,
        >,
{
    let runtime = crate::logs::testing::current_thread_runtime();
    let mut response = None;
    let lines = capture(LogFormat::Json, || {
        response = Some(
            runtime
                .block_on(layer.layer(service).oneshot(request))
                .unwrap(),
        );
    });
    let lines = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (response.unwrap(), lines)
}

#[test]
fn one_access_line_at_info_with_the_request_and_without_secrets() {
    let handler = tower::service_fn(|_: Request| async {
        tracing::info!("inside");
        Ok::<_, BoxError>("hello")
    });
    let (response, lines) = serve(handler);
    assert_eq!(response.status(), StatusCode::OK);
    let [inside, access] = lines.as_slice() else {
        panic!("{lines:?}")
    };
    assert_eq!(inside["message"], "inside");
    assert_eq!(inside["correlation_id"], access["correlation_id"]);
    assert_eq!(access["level"], "INFO");
    assert_eq!(access["message"], "GET /api/activities/@andrewbrown 200");
    assert_eq!(access["route"], "/api/activities/{handle}");
    assert_eq!(access["path"], "/api/activities/@andrewbrown");
    assert_eq!(access["query"], "token=[REDACTED]&page=2");
    assert_eq!(access["status"], 200);
    assert_eq!(access["source_ip"], "203.0.113.7");
    assert!(
        access["user_agent"]
            .as_str()
            .unwrap()
            .starts_with("Mozilla/5.0")
    );
    assert!(access["duration_ms"].as_f64().unwrap() >= 0.0);
    assert!(!serde_json::to_string(&lines).unwrap().contains("canary"));
}

fn hello()
-> impl Service<Request, Response = &'static str, Error = BoxError, Future: Send + 'static> + Clone
{
    tower::service_fn(|_: Request| async {
        tracing::info!("inside");
        Ok::<_, BoxError>("hello")
    })
}

/// The server span of one request served through the layer, as exporters receive it.
fn server_span<S>(service: S) -> opentelemetry_sdk::trace::SpanData
where
    S: Service<
            Request,
            Future: Send + 'static,
            Response: IntoResponse + Send,
            Error: Into<BoxError> + Send,
        >,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let spans = crate::logs::testing::capture_spans(|| {
        let answer = runtime
            .block_on(InvocationLayer::default().layer(service).oneshot(event()))
            .unwrap();
        assert_eq!(answer.status(), 500);
    });
    spans
        .into_iter()
        .find(|s| s.span_kind == opentelemetry::trace::SpanKind::Server)
        .expect("a server span")
}

fn exception_message(span: &opentelemetry_sdk::trace::SpanData) -> String {
    let event = span
        .events
        .iter()
        .find(|e| e.name == "exception")
        .unwrap_or_else(|| panic!("no exception event: {:?}", span.events));
    event
        .attributes
        .iter()
        .find(|kv| kv.key.as_str() == "exception.message")
        .map(|kv| kv.value.to_string())
        .unwrap_or_default()
}

#[test]
fn a_failed_handler_is_an_error_span_with_an_exception_event() {
    let span = server_span(tower::service_fn(|_: Request| async {
        Err::<&str, BoxError>("database unreachable".into())
    }));
    assert!(matches!(
        span.status,
        opentelemetry::trace::Status::Error { .. }
    ));
    assert!(exception_message(&span).contains("database unreachable"));
}

#[test]
fn a_panicking_handler_is_an_error_span_with_an_exception_event() {
    // The hook the crate installs writes the panic as an ERROR event in the span.
    let previous = std::panic::take_hook();
    crate::panics::install_hook();
    let span = server_span(tower::service_fn(|_: Request| async {
        if true {
            panic!("index out of range");
        }
        Ok::<&str, BoxError>("unreachable")
    }));
    std::panic::set_hook(previous);
    assert!(matches!(
        span.status,
        opentelemetry::trace::Status::Error { .. }
    ));
    assert!(exception_message(&span).contains("index out of range"));
}

#[test]
fn a_traceparent_continues_the_callers_trace_in_logs_and_response() {
    let mut request = event();
    request.headers_mut().insert(
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            .parse()
            .unwrap(),
    );
    let (response, lines) = serve_request(hello(), request);
    for line in &lines {
        assert_eq!(
            line["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736",
            "{line}"
        );
        assert_eq!(line["span_id"].as_str().map(str::len), Some(16), "{line}");
        assert_ne!(
            line["span_id"], "00f067aa0ba902b7",
            "the server span is the caller's child"
        );
    }
    let traceresponse = response.headers()["traceresponse"].to_str().unwrap();
    assert!(
        traceresponse.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "{traceresponse}"
    );
    assert!(traceresponse.contains(lines[0]["span_id"].as_str().unwrap()));
}

#[test]
fn without_traceparent_the_trace_id_is_the_lambda_xray_trace_id() {
    let mut context = lambda_http::Context::default();
    context.request_id = "req-1".into();
    context.xray_trace_id =
        Some("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".into());
    let request = event().with_lambda_context(context);
    let (response, lines) = serve_request(hello(), request);
    for line in &lines {
        assert_eq!(
            line["trace_id"], "5759e988bd862e3fe1be46a994272793",
            "{line}"
        );
        assert_eq!(
            line["xray_trace_id"], "1-5759e988-bd862e3fe1be46a994272793",
            "{line}"
        );
        assert_eq!(line["function_request_id"], "req-1");
    }
    assert_eq!(
        response.headers()["x-amzn-trace-id"],
        "Root=1-5759e988-bd862e3fe1be46a994272793"
    );
    assert!(
        response.headers()["traceresponse"]
            .to_str()
            .unwrap()
            .starts_with("00-5759e988bd862e3fe1be46a994272793-")
    );
}

#[test]
fn a_failing_handler_is_a_generic_500_and_an_error_line_with_its_cause() {
    let handler = tower::service_fn(|_: Request| async {
        Err::<&str, BoxError>(std::io::Error::other("connection refused").into())
    });
    let (response, lines) = serve(handler);
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    assert_eq!(
        response.body().as_ref(),
        br#"{"message":"Internal Server Error"}"#
    );
    assert_eq!(lines[0]["level"], "ERROR");
    assert_eq!(lines[0]["error"], "connection refused");
    assert_eq!(lines[1]["status"], 500);
}

#[test]
fn a_panicking_handler_is_a_generic_500_and_the_service_goes_on() {
    let handler = tower::service_fn(|request: Request| async move {
        if request.uri().query().is_some() {
            panic!("secret detail");
        }
        Ok::<_, BoxError>("hello")
    });
    let (response, lines) = serve(handler);
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!String::from_utf8_lossy(response.body()).contains("secret"));
    assert_eq!(lines.last().unwrap()["status"], 500);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut service = InvocationLayer::default().layer(handler);
    let mut request = event();
    *request.uri_mut() = "https://example.com/api/activities/@a".parse().unwrap();
    let response = runtime.block_on(service.ready()).unwrap();
    let response = runtime.block_on(response.call(request)).unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// Serves `request` through the subscriber `init` installs, at `log_filter` with `sampler`.
fn serve_traced(
    request: Request,
    log_filter: &str,
    sampler: opentelemetry_sdk::trace::Sampler,
) -> (Response<Body>, Vec<Value>, Vec<crate::sinks::EndedSpan>) {
    serve_traced_with(InvocationLayer::default(), request, log_filter, sampler)
}

fn serve_traced_with(
    layer: InvocationLayer,
    request: Request,
    log_filter: &str,
    sampler: opentelemetry_sdk::trace::Sampler,
) -> (Response<Body>, Vec<Value>, Vec<crate::sinks::EndedSpan>) {
    let runtime = crate::logs::testing::current_thread_runtime();
    let mut response = None;
    let sampler = crate::sampling::InvocationSampler(sampler);
    let (lines, spans) = crate::logs::testing::capture_all(log_filter, sampler, || {
        response = Some(
            runtime
                .block_on(layer.layer(hello()).oneshot(request))
                .unwrap(),
        );
    });
    let lines = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (response.unwrap(), lines, spans)
}

fn with_lambda_xray(request: Request, header: &str) -> Request {
    let mut context = lambda_http::Context::default();
    context.request_id = "req-1".into();
    context.xray_trace_id = Some(header.into());
    request.with_lambda_context(context)
}

fn parent_based_on() -> opentelemetry_sdk::trace::Sampler {
    use opentelemetry_sdk::trace::Sampler;
    Sampler::ParentBased(Box::new(Sampler::AlwaysOn))
}

#[test]
fn the_log_level_never_changes_what_is_traced() {
    let request = || {
        with_lambda_xray(
            event(),
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        )
    };
    let (_, info_lines, info_spans) = serve_traced(request(), "info", parent_based_on());
    assert_eq!(info_spans.len(), 1, "the server span at INFO");
    assert!(info_lines.iter().any(|l| l["status"] == 200));
    for level in ["error", "warn", "debug", "trace", "lambda_telemetry=off"] {
        let (response, lines, spans) = serve_traced(request(), level, parent_based_on());
        assert_eq!(spans.len(), info_spans.len(), "at {level}");
        assert!(spans[0].data.span_context.is_sampled(), "at {level}");
        assert!(
            response.headers()["traceresponse"]
                .to_str()
                .unwrap()
                .starts_with("00-5759e988bd862e3fe1be46a994272793-"),
            "at {level}"
        );
        if level == "warn" || level == "error" {
            assert!(
                lines.is_empty(),
                "at {level} the INFO lines are not printed"
            );
        }
    }
}

#[test]
fn an_error_line_at_warn_still_carries_the_invocation_context() {
    let handler = tower::service_fn(|_: Request| async {
        tracing::error!("broken");
        Ok::<_, BoxError>("ok")
    });
    let request = with_lambda_xray(
        event(),
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (lines, _) =
        crate::logs::testing::capture_all("warn", crate::logs::testing::default_sampler(), || {
            runtime
                .block_on(InvocationLayer::default().layer(handler).oneshot(request))
                .unwrap();
        });
    let [line] = lines.as_slice() else {
        panic!("{lines:?}")
    };
    let line: Value = serde_json::from_str(line).unwrap();
    assert_eq!(line["function_request_id"], "req-1");
    assert_eq!(line["trace_id"], "5759e988bd862e3fe1be46a994272793");
}

#[test]
fn an_xray_root_without_parent_keeps_its_trace_id_in_span_logs_and_response() {
    // What Lambda passes in PassThrough mode, and what a load balancer sends.
    let request = with_lambda_xray(event(), "Root=1-5759e988-bd862e3fe1be46a994272793");
    let (response, lines, spans) = serve_traced(request, "info", parent_based_on());
    let [server] = spans.as_slice() else {
        panic!("{spans:?}")
    };
    assert_eq!(
        server.data.span_context.trace_id().to_string(),
        "5759e988bd862e3fe1be46a994272793"
    );
    assert_eq!(
        server.data.parent_span_id,
        opentelemetry::trace::SpanId::INVALID,
        "a new root: no parent that does not exist"
    );
    for line in &lines {
        assert_eq!(line["trace_id"], "5759e988bd862e3fe1be46a994272793");
        assert_eq!(line["xray_trace_id"], "1-5759e988-bd862e3fe1be46a994272793");
    }
    assert!(
        response.headers()["traceresponse"]
            .to_str()
            .unwrap()
            .starts_with("00-5759e988bd862e3fe1be46a994272793-")
    );
    assert_eq!(
        response.headers()["x-amzn-trace-id"],
        "Root=1-5759e988-bd862e3fe1be46a994272793"
    );
}

/// The README's decision table ("Sampling"), row by row: which propagators, where the
/// parent comes from, what Lambda's X-Ray header says, the sampler → whether OTLP gets the
/// spans, what X-Ray gets (the documents the exporter makes, a segment or a subsegment),
/// and the flags `traceresponse` writes.
#[test]
fn the_sampling_decision_table_holds_row_by_row() {
    use opentelemetry_sdk::trace::Sampler;
    const W3C_SAMPLED: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const W3C_UNSAMPLED: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
    const XRAY_1: &str =
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    const XRAY_0: &str =
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0";
    const XRAY_UNSAID: &str =
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=?";
    const XRAY_NO_FLAG: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8";
    const ROOT_ONLY_1: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1";
    const ROOT_ONLY_0: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0";
    // A caller's own X-Ray header (`OTEL_PROPAGATORS=xray`), unsampled by the caller.
    const CALLER_XRAY_0: &str =
        "Root=1-6759e988-bd862e3fe1be46a994272794;Parent=63995c3f42cd8ad9;Sampled=0";
    let on = parent_based_on;
    let off = || Sampler::AlwaysOff;
    let always = || Sampler::AlwaysOn;
    let ratio_1 = || Sampler::TraceIdRatioBased(1.0);
    let parent_based_off = || Sampler::ParentBased(Box::new(Sampler::AlwaysOff));
    const SUB: Option<&str> = Some("subsegment");
    const SEG: Option<&str> = Some("segment");
    type Row = (
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
        fn() -> Sampler,
        bool,
        Option<&'static str>,
        &'static str,
    );
    #[rustfmt::skip]
    let rows: [Row; 23] = [
        // propagators, traceparent / X-Amzn-Trace-Id, Lambda X-Ray, sampler, OTLP, X-Ray, flags
        ("default", Some(W3C_SAMPLED),   Some(XRAY_1),       on,               true,  SUB,  "01"),
        ("default", Some(W3C_UNSAMPLED), Some(XRAY_1),       on,               false, SUB,  "00"),
        ("default", Some(W3C_SAMPLED),   Some(XRAY_0),       on,               true,  None, "01"),
        ("default", Some(W3C_UNSAMPLED), Some(XRAY_0),       on,               false, None, "00"),
        ("default", Some(W3C_SAMPLED),   Some(XRAY_1),       off,              false, SUB,  "00"),
        ("default", Some(W3C_SAMPLED),   Some(XRAY_0),       parent_based_off, true,  None, "01"),
        ("default", Some(W3C_SAMPLED),   None,               on,               true,  SEG,  "01"),
        ("default", Some(W3C_UNSAMPLED), None,               on,               false, None, "00"),
        ("default", Some(W3C_UNSAMPLED), None,               always,           true,  SEG,  "01"),
        ("default", Some(W3C_UNSAMPLED), Some(XRAY_0),       ratio_1,          true,  None, "01"),
        ("default", None,                Some(XRAY_1),       on,               true,  SUB,  "01"),
        ("default", None,                Some(XRAY_0),       on,               true,  None, "01"),
        ("default", None,                Some(XRAY_1),       off,              false, SUB,  "00"),
        ("default", None,                Some(XRAY_0),       off,              false, None, "00"),
        ("default", None,                Some(XRAY_1),       parent_based_off, false, SUB,  "00"),
        ("default", None,                Some(XRAY_UNSAID),  on,               true,  SUB,  "01"),
        ("default", None,                Some(XRAY_NO_FLAG), off,              false, None, "00"),
        ("default", None,                Some(ROOT_ONLY_1),  on,               true,  SEG,  "01"),
        ("default", None,                Some(ROOT_ONLY_0),  on,               true,  None, "01"),
        ("default", None,                None,               on,               true,  SEG,  "01"),
        ("default", None,                None,               off,              false, None, "00"),
        ("xray",    Some(CALLER_XRAY_0), Some(XRAY_1),       on,               true,  SUB,  "01"),
        ("xray",    Some(CALLER_XRAY_0), None,               on,               true,  None, "01"),
    ];
    let exporter = crate::sinks::XrayExporter::new(([127, 0, 0, 1], 2000).into(), "cruddur");
    for (index, (propagators, caller, xray, sampler, otlp, to_xray, flags)) in
        rows.into_iter().enumerate()
    {
        let mut request = event();
        let layer = match propagators {
            "xray" => {
                if let Some(caller) = caller {
                    request
                        .headers_mut()
                        .insert("x-amzn-trace-id", caller.parse().unwrap());
                }
                InvocationLayer {
                    propagators: Arc::new(Propagators::parse("xray").0),
                    ..InvocationLayer::default()
                }
            }
            _ => {
                if let Some(traceparent) = caller {
                    request
                        .headers_mut()
                        .insert("traceparent", traceparent.parse().unwrap());
                }
                InvocationLayer::default()
            }
        };
        if let Some(xray) = xray {
            request = with_lambda_xray(request, xray);
        }
        let (response, _, spans) = serve_traced_with(layer, request, "info", sampler());
        let row = format!("row {}: {propagators} {caller:?} {xray:?}", index + 1);
        let sent_to_otlp = spans.iter().any(|s| s.data.span_context.is_sampled());
        assert_eq!(sent_to_otlp, otlp, "OTLP, {row}");
        let documents: Vec<Value> = exporter
            .documents(&spans)
            .iter()
            .map(|d| {
                let body = d.splitn(2, |b| *b == b'\n').nth(1).unwrap();
                serde_json::from_slice(body).unwrap()
            })
            .collect();
        let sent_as = documents.first().map(|d| match d.get("type") {
            Some(_) => "subsegment",
            None => "segment",
        });
        assert_eq!(sent_as, to_xray, "X-Ray, {row}: {documents:?}");
        if let Some(doc) = documents.first() {
            let trace = match (propagators, xray) {
                ("xray", None) => "1-6759e988-bd862e3fe1be46a994272794",
                (_, None) => doc["trace_id"].as_str().unwrap(),
                _ => "1-5759e988-bd862e3fe1be46a994272793",
            };
            assert_eq!(doc["trace_id"], trace, "X-Ray trace, {row}");
        }
        let traceresponse = response.headers()["traceresponse"].to_str().unwrap();
        assert!(
            traceresponse.ends_with(&format!("-{flags}")),
            "{traceresponse}, {row}"
        );
    }
}

/// A function URL's event, as AWS documents it and `cargo lambda watch` sends it: no
/// resource, and the route key `$default`.
fn function_url_event() -> Request {
    let event = serde_json::json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/api/activities/@andrewbrown",
        "rawQueryString": "",
        "headers": { "host": "abc.lambda-url.us-east-1.on.aws" },
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abc",
            "domainName": "abc.lambda-url.us-east-1.on.aws",
            "http": {
                "method": "GET",
                "path": "/api/activities/@andrewbrown",
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "curl/8"
            },
            "requestId": "req-url-1",
            "routeKey": "$default",
            "stage": "$default",
            "timeEpoch": 1_700_000_000_000u64
        },
        "isBase64Encoded": false
    });
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

/// The server span's name and `http.route` for `request` served through `layer`.
fn span_name_and_route(layer: InvocationLayer, request: Request) -> (String, Option<String>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let spans = crate::logs::testing::capture_spans(|| {
        runtime
            .block_on(layer.layer(hello()).oneshot(request))
            .unwrap();
    });
    let server = spans
        .into_iter()
        .find(|s| s.span_kind == opentelemetry::trace::SpanKind::Server)
        .expect("a server span");
    let route = server
        .attributes
        .iter()
        .find(|kv| kv.key.as_str() == span_fields::HTTP_ROUTE)
        .map(|kv| kv.value.to_string());
    (server.name.into_owned(), route)
}

/// OpenTelemetry's HTTP server spans: named `{method} {http.route}`, the route being the
/// template the server matched. The same under a function URL (`make serve`) as under
/// API Gateway, when the function names its route.
#[test]
fn a_configured_route_names_events_without_one_and_the_events_own_route_wins() {
    let route = "/api/activities/{handle}";
    let layer = || InvocationLayer::default().with_route(route);

    // Without a configured route, a function URL's event has none: the span is `GET`.
    assert_eq!(
        span_name_and_route(InvocationLayer::default(), function_url_event()),
        ("GET".to_owned(), None)
    );
    assert_eq!(
        span_name_and_route(layer(), function_url_event()),
        (format!("GET {route}"), Some(route.to_owned()))
    );
    let (_, lines) = serve_through(layer(), hello(), function_url_event());
    assert_eq!(lines.last().unwrap()["route"], route);

    // API Gateway's resource wins over the configured route.
    let configured = || InvocationLayer::default().with_route("/configured");
    assert_eq!(
        span_name_and_route(configured(), event()),
        (format!("GET {route}"), Some(route.to_owned()))
    );
    let (_, lines) = serve_through(configured(), hello(), event());
    assert_eq!(lines.last().unwrap()["route"], route);
}

/// RFC 9110 §5.5: field values may hold bytes beyond ASCII (obs-text); clients send
/// UTF-8. Such a value is written, decoded, not dropped.
#[test]
fn header_values_beyond_ascii_reach_the_access_line_and_the_span() {
    let with_headers = || {
        let mut request = event();
        let headers = request.headers_mut();
        headers.insert(
            header::USER_AGENT,
            HeaderValue::from_bytes("Café/1.0 (Linux; é)".as_bytes()).unwrap(),
        );
        request
    };
    let (_, lines) = serve_request(hello(), with_headers());
    let access = lines.last().unwrap();
    assert_eq!(access["user_agent"], "Café/1.0 (Linux; é)");
    // The fixture's own source IP wins over the header; the header alone is read here.
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-forwarded-for",
        HeaderValue::from_bytes(b"198.51.100.9\xe9, 10.0.0.1").unwrap(),
    );
    assert_eq!(
        forwarded_for(&headers).as_deref(),
        Some("198.51.100.9\u{fffd}")
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let spans = crate::logs::testing::capture_spans(|| {
        runtime
            .block_on(
                InvocationLayer::default()
                    .layer(hello())
                    .oneshot(with_headers()),
            )
            .unwrap();
    });
    let server = spans
        .iter()
        .find(|s| s.span_kind == opentelemetry::trace::SpanKind::Server)
        .expect("a server span");
    let user_agent = server
        .attributes
        .iter()
        .find(|kv| kv.key.as_str() == "user_agent.original")
        .map(|kv| kv.value.to_string());
    assert_eq!(user_agent.as_deref(), Some("Café/1.0 (Linux; é)"));
}

/// Lambda's tenant isolation mode hands the runtime the invocation's tenant
/// (`Lambda-Runtime-Aws-Tenant-Id`): without a line of code it is on every line of the
/// invocation (`tenant_id`, Powertools' key) and on its span (`aws.lambda.tenant_id`, an X-Ray
/// annotation to filter by); an invocation without one has neither.
#[test]
fn the_lambda_tenant_is_on_every_line_and_on_the_span() {
    for tenant in [Some("blue"), None] {
        let mut context = lambda_http::Context::default();
        context.request_id = "req-tenant".into();
        context.tenant_id = tenant.map(str::to_owned);
        let request = event().with_lambda_context(context.clone());
        let (response, lines) = serve_request(hello(), request);
        assert_eq!(response.status(), 200);
        let in_invocation: Vec<&Value> = lines
            .iter()
            .filter(|l| l["function_request_id"] == "req-tenant")
            .collect();
        assert_eq!(in_invocation.len(), 2, "{lines:#?}");
        for line in in_invocation {
            assert_eq!(
                line.get("tenant_id").and_then(Value::as_str),
                tenant,
                "{line}"
            );
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let spans = crate::logs::testing::capture_spans(|| {
            let request = event().with_lambda_context(context.clone());
            runtime
                .block_on(InvocationLayer::default().layer(hello()).oneshot(request))
                .unwrap();
        });
        let server = spans
            .iter()
            .find(|s| s.span_kind == opentelemetry::trace::SpanKind::Server)
            .expect("a server span");
        let attribute = server
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == "aws.lambda.tenant_id")
            .map(|kv| kv.value.to_string());
        assert_eq!(attribute.as_deref(), tenant);
    }
}

/// Keys for the whole invocation (Powertools' `append_keys`): on every line of the invocation
/// after they are added, across `.await` points and in a task started with `crate::spawn`;
/// an event's own field of the same name wins; a secret-looking one is masked; the crate's
/// own keys cannot be taken; `remove_keys` takes one off. Two invocations at once never see
/// each other's, and the next invocation starts with none.
#[test]
fn added_keys_are_on_every_later_line_of_their_invocation_only() {
    let gate = std::sync::Arc::new(tokio::sync::Barrier::new(2));
    let handler = {
        let gate = std::sync::Arc::clone(&gate);
        tower::service_fn(move |request: Request| {
            let gate = std::sync::Arc::clone(&gate);
            async move {
                let me = request.lambda_context().request_id;
                tracing::info!("before");
                crate::append_keys([("user_id", me.clone()), ("api_token", "tok-x9".into())]);
                crate::append_keys([("level", "x9"), ("order", "4711")]);
                gate.wait().await;
                tracing::info!(order = "from the event", "after an await");
                crate::spawn(async { tracing::info!("in a spawned task") })
                    .await
                    .unwrap();
                crate::spawn_blocking(|| tracing::info!("in a blocking task"))
                    .await
                    .unwrap();
                crate::remove_keys(["order"]);
                tracing::info!("removed");
                gate.wait().await;
                Ok::<_, BoxError>("ok")
            }
        })
    };
    let request = |id: &str| {
        let mut context = lambda_http::Context::default();
        context.request_id = id.into();
        event().with_lambda_context(context)
    };
    // One thread: the test's subscriber is the thread's, and the spawned task must run under
    // it (the crate's own subscriber is global; a test's cannot be).
    let runtime = crate::logs::testing::current_thread_runtime();
    let lines = capture(LogFormat::Json, || {
        runtime.block_on(async {
            let layer = InvocationLayer::default();
            let (a, b) = tokio::join!(
                layer.layer(handler.clone()).oneshot(request("req-a")),
                layer.layer(handler.clone()).oneshot(request("req-b")),
            );
            assert_eq!(a.unwrap().status(), 200);
            assert_eq!(b.unwrap().status(), 200);
            layer
                .layer(hello())
                .oneshot(request("req-c"))
                .await
                .unwrap();
        })
    });
    let lines: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!format!("{lines:?}").contains("x9"), "{lines:#?}");
    let by = |id: &str, message: &str| {
        lines
            .iter()
            .find(|l| l["function_request_id"] == id && l["message"] == message)
            .unwrap_or_else(|| panic!("{id} {message}: {lines:#?}"))
            .clone()
    };
    for id in ["req-a", "req-b"] {
        assert!(by(id, "before").get("user_id").is_none());
        let after = by(id, "after an await");
        assert_eq!(after["user_id"], id);
        assert_eq!(after["api_token"], "[REDACTED]");
        assert_eq!(after["order"], "from the event", "the event's field wins");
        assert_eq!(after["level"], "INFO", "the crate's own key is not taken");
        for task in ["in a spawned task", "in a blocking task"] {
            let spawned = by(id, task);
            assert_eq!(spawned["user_id"], id);
            assert_eq!(spawned["order"], "4711");
        }
        let removed = by(id, "removed");
        assert!(removed.get("order").is_none() && removed["user_id"] == id);
    }
    assert!(
        lines
            .iter()
            .filter(|l| l["function_request_id"] == "req-c")
            .all(|l| l.get("user_id").is_none()),
        "the next invocation starts with none"
    );
    let refused = lines
        .iter()
        .filter(|l| l["level"] == "WARN" && l["message"].as_str().unwrap().contains("append_keys"))
        .count();
    assert_eq!(refused, 2, "said once per call that tried");
}

/// Debug sampling (`POWERTOOLS_LOGGER_SAMPLE_RATE`): a share of invocations logs at DEBUG
/// whatever the level, decided once per invocation from its trace id (as `traceidratio`
/// decides: the id's low 64 bits against the rate), so an invocation is sampled whole or not
/// at all, and two at once are decided each for itself; every line says the rate in force
/// (`sampling_rate`, Powertools' key). Lines outside invocations keep the level.
#[test]
fn a_sampled_invocation_logs_at_debug_whole_and_another_at_once_does_not() {
    let config = crate::logs::testing::config(LogFormat::Json).with_log_sample_rate(0.5);
    let handler = tower::service_fn(|_: Request| async {
        tracing::debug!("debug one");
        tokio::task::yield_now().await;
        tracing::debug!("debug two");
        tracing::info!("info");
        Ok::<_, BoxError>("ok")
    });
    // Low 64 bits 0x0...01: below half the range, sampled; 0xf...f: above, not.
    let traced = |trace: &str, id: &str| {
        let mut context = lambda_http::Context::default();
        context.request_id = id.into();
        let mut request = event().with_lambda_context(context);
        request.headers_mut().insert(
            "traceparent",
            format!("00-{trace}-00f067aa0ba902b7-01").parse().unwrap(),
        );
        request
    };
    let runtime = crate::logs::testing::current_thread_runtime();
    let layer = InvocationLayer::from_config(&config);
    let lines = crate::logs::testing::capture_with(
        config,
        tracing_subscriber::filter::LevelFilter::INFO,
        || {
            runtime.block_on(async {
                tracing::debug!("outside, not sampled");
                let (a, b) = tokio::join!(
                    layer
                        .layer(handler)
                        .oneshot(traced("4bf92f3577b34da60000000000000001", "req-in")),
                    layer
                        .layer(handler)
                        .oneshot(traced("4bf92f3577b34da6ffffffffffffffff", "req-out")),
                );
                assert_eq!(a.unwrap().status(), 200);
                assert_eq!(b.unwrap().status(), 200);
            })
        },
    );
    let lines: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let messages = |id: &str| -> Vec<String> {
        lines
            .iter()
            .filter(|l| l["function_request_id"] == id)
            .map(|l| l["message"].as_str().unwrap().to_owned())
            .collect()
    };
    let sampled = messages("req-in");
    assert!(
        sampled.contains(&"debug one".to_owned()) && sampled.contains(&"debug two".to_owned()),
        "{lines:#?}"
    );
    assert!(
        !messages("req-out").iter().any(|m| m.starts_with("debug")),
        "{lines:#?}"
    );
    assert!(!lines.iter().any(|l| l["message"] == "outside, not sampled"));
    assert!(
        lines.iter().all(|l| l["sampling_rate"] == 0.5),
        "{lines:#?}"
    );
}

/// A rate that is not a number from 0 to 1 is said, by name, never quoted, and samples none.
#[test]
fn a_sample_rate_out_of_range_samples_nothing_and_is_said() {
    for text in ["1.5", "-0.1", "half-x9"] {
        let config = crate::Config::from_lookup(&|name| {
            (name == "POWERTOOLS_LOGGER_SAMPLE_RATE").then(|| text.to_owned())
        });
        let mut problems = Vec::new();
        assert_eq!(config.debug_sample_rate(&mut problems), 0.0, "{text}");
        assert_eq!(problems.len(), 1, "{text}");
        assert!(!problems[0].to_string().contains("x9"));
    }
}
