//! Traces and metrics straight to AWS over OTLP, through the functions under the real
//! emulator, against loopback stand-ins of CloudWatch's OTLP endpoints that recompute every
//! request's SigV4 signature with botocore (`tests/local/sigv4_otlp_endpoint.py`) and refuse a
//! wrong one with a 403, as AWS does:
//!
//! - every request the functions send is signed right, for `xray` (traces) and `monitoring`
//!   (metrics) in the region, with Lambda's temporary credentials from the environment;
//! - the spans are those the daemon path sends in the same run, with the same trace id, and
//!   the access line's ids find them;
//! - AWS's answers are honoured: a 429 is retried (signed again, right), a partial success is
//!   counted and said once, a 403 is said once with the permission it needs; the request is
//!   answered all the same, and no credential reaches a line.

use std::time::{Duration, Instant};

use serde_json::Value;
use tests::LocalApi;
use tests::aws_otlp::{Answer, AwsOtlpEndpoint, TestCredentials, partial_success_traces};
use tests::otlp_receiver::hex;
use tests::xray_daemon::XrayDaemon;

const REGION: &str = "us-east-1";

/// `1-5759e988-bd862e3fe1be46a994272793` as OpenTelemetry writes it.
fn otel_id(xray_trace_id: &str) -> String {
    xray_trace_id.trim_start_matches("1-").replace('-', "")
}

#[test]
fn signed_otlp_reaches_aws_as_the_daemon_path_does() {
    let credentials = TestCredentials::LAMBDA;
    let traces = AwsOtlpEndpoint::start("xray", REGION, &credentials);
    let metrics = AwsOtlpEndpoint::start("monitoring", REGION, &credentials);
    let daemon = XrayDaemon::start();
    let traces_endpoint = traces.endpoint("/v1/traces");
    let metrics_endpoint = metrics.endpoint("/v1/metrics");
    let daemon_address = daemon.address();
    let mut env = vec![
        ("OTEL_TRACES_EXPORTER", "otlp,xray"),
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            traces_endpoint.as_str(),
        ),
        ("OTEL_METRICS_EXPORTER", "otlp"),
        (
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
            metrics_endpoint.as_str(),
        ),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        // Loopback stand-ins are not AWS's hosts: signing is asked for.
        ("LAMBDA_TELEMETRY_OTLP_SIGV4", "on"),
        ("AWS_REGION", REGION),
        ("AWS_XRAY_DAEMON_ADDRESS", daemon_address.as_str()),
    ];
    env.extend(credentials.env());
    let api = LocalApi::start(&env);

    // 1. Everything signed right; the same spans and ids as the daemon path.
    let first = api.get("/api/activities/home", &[]);
    assert_eq!(first.status, 200);
    // The next request waits for the previous flush: after it, the first's telemetry left.
    assert_eq!(api.get("/api/activities/notifications", &[]).status, 200);
    let received = traces.received();
    assert!(!received.is_empty(), "no traces request arrived");
    for request in received.iter().chain(&metrics.received()) {
        assert!(
            request.verified,
            "{} refused: {:?}",
            request.path, request.reason
        );
        assert_eq!(request.header("content-encoding"), Some("gzip"));
    }
    let lines: Vec<Value> = api
        .function_lines()
        .iter()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    let access = lines
        .iter()
        .find(|l| l["path"] == "/api/activities/home" && l["status"] == 200)
        .unwrap_or_else(|| panic!("the access line: {lines:#?}"));
    let trace_id = access["trace_id"].as_str().unwrap().to_owned();
    if let Some(xray_trace_id) = access["xray_trace_id"].as_str() {
        assert_eq!(otel_id(xray_trace_id), trace_id, "one trace, two spellings");
    }
    let spans = traces.spans();
    let server = spans
        .iter()
        .find(|s| hex(&s.trace_id) == trace_id && s.name == "GET /api/activities/home")
        .unwrap_or_else(|| panic!("the invocation span over OTLP: {spans:#?}"));
    let documents = daemon.documents();
    let by_daemon = documents
        .iter()
        .find(|d| d["name"] == "GET /api/activities/home")
        .unwrap_or_else(|| panic!("the invocation span over the daemon: {documents:#?}"));
    assert_eq!(otel_id(by_daemon["trace_id"].as_str().unwrap()), trace_id);
    assert_eq!(by_daemon["id"], hex(&server.span_id), "the same span id");
    let points: Vec<String> = metrics
        .received()
        .iter()
        .flat_map(|r| r.metrics().resource_metrics)
        .flat_map(|r| r.scope_metrics)
        .flat_map(|s| s.metrics)
        .map(|m| m.name)
        .collect();
    assert!(
        points.iter().any(|name| name == "faas.invocations"),
        "{points:?}"
    );

    // 2. AWS's answers: a 429 retried, a partial success counted, a 403 said with what it
    //    needs; the requests answered all the same.
    traces.answer_next(vec![
        Answer::status(429).with_header("Retry-After", "0"),
        Answer::ok_with(partial_success_traces(1, "a span older than 24 hours")),
    ]);
    metrics.answer_next(vec![Answer::status(403)]);
    let traces_before = traces.received().len();
    let started = Instant::now();
    assert_eq!(api.get("/api/activities/home", &[]).status, 200);
    assert_eq!(api.get("/api/activities/home", &[]).status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "answered, not held by the backend"
    );
    let retried = &traces.received()[traces_before..];
    assert!(retried.len() >= 2, "the 429 was retried: {retried:#?}");
    assert!(
        retried.iter().all(|r| r.verified),
        "the retry signed right too"
    );
    let lines = api.function_lines();
    let said = |text: &str| lines.iter().filter(|l| l.contains(text)).count();
    assert_eq!(said("rejected some spans"), 1, "{lines:#?}");
    assert_eq!(said("cloudwatch:PutMetricData"), 1, "{lines:#?}");
    for secret in [
        credentials.secret_access_key,
        credentials.session_token.unwrap(),
    ] {
        assert!(
            !lines.concat().contains(secret),
            "a credential in the output"
        );
    }
}
