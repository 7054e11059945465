//! What the functions print: one JSON object per line, with Powertools' keys; the metrics
//! lines among them are valid CloudWatch Embedded Metric Format documents of the same service.

use serde_json::Value;
use tests::LocalApi;

const PROCESS_KEYS: [&str; 6] = [
    "timestamp",
    "level",
    "message",
    "service",
    "function_name",
    "function_memory_size",
];
const INVOCATION_KEYS: [&str; 5] = [
    "cold_start",
    "function_arn",
    "function_request_id",
    "xray_trace_id",
    "correlation_id",
];

#[test]
fn every_function_line_is_json_with_the_lambda_context() {
    let api = LocalApi::start(&[("OTEL_SERVICE_NAME", "cruddur-test")]);
    let paths = [
        "/api/activities/home",
        "/api/activities/notifications",
        "/api/activities/@worf",
        "/api/activities/@",
        "/rollbar/test",
        "/api/activities/home",
    ];
    for path in paths {
        api.get(path, &[("User-Agent", "cruddur-tests/1")]);
    }

    let lines = api.function_lines();
    assert!(!lines.is_empty(), "the functions printed nothing");
    let mut access = Vec::new();
    let mut traces: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    let mut metrics_lines = 0;
    for line in &lines {
        let value: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        if tests::emf::is_emf(line) {
            let document = tests::emf::check(line).unwrap_or_else(|p| panic!("{p:#?}: {line}"));
            assert_eq!(document["service"], "cruddur-test");
            metrics_lines += 1;
            continue;
        }
        for key in PROCESS_KEYS {
            assert!(value.get(key).is_some(), "{key} missing: {line}");
        }
        assert_eq!(value["service"], "cruddur-test");
        if value.get("function_request_id").is_some() {
            for key in INVOCATION_KEYS {
                assert!(value.get(key).is_some(), "{key} missing: {line}");
            }
            let request = value["function_request_id"].as_str().unwrap().to_owned();
            let trace = value["trace_id"].as_str().unwrap().to_owned();
            assert_eq!(trace.len(), 32, "{line}");
            assert_eq!(value["span_id"].as_str().map(str::len), Some(16), "{line}");
            // `cargo lambda watch` sends a traceparent of its own: every line of a request
            // is in the one trace that continues it.
            let first = traces.entry(request).or_insert_with(|| trace.clone());
            assert_eq!(*first, trace, "one trace per request: {line}");
        }
        if value.get("status").is_some() {
            access.push(value);
        }
    }

    assert_eq!(
        access.len(),
        paths.len(),
        "one access line per request: {lines:#?}"
    );
    assert!(
        metrics_lines >= paths.len(),
        "metrics of every request: {lines:#?}"
    );
    // The emulator's events name no route; each function names its own, so the route is
    // the one API Gateway gives in production (template.yaml's paths).
    let routes = [
        "/api/activities/home",
        "/api/activities/notifications",
        "/api/activities/{handle}",
        "/api/activities/{handle}",
        "/rollbar/test",
        "/api/activities/home",
    ];
    for ((line, path), route) in access.iter().zip(paths).zip(routes) {
        assert_eq!(line["route"], route, "{line}");
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["method"], "GET");
        assert_eq!(line["path"], path);
        assert!(line["duration_ms"].is_number());
        assert_eq!(line["user_agent"], "cruddur-tests/1");
        assert_eq!(line["source_ip"], "127.0.0.1");
    }
    assert_eq!(access[3]["status"], 422);
    // Each function's first invocation is its cold start; the second home request is warm.
    assert_eq!(access[0]["cold_start"], true);
    assert_eq!(access[5]["cold_start"], false);

    let hello = lines
        .iter()
        .filter(|l| l.contains("Hello Cloudwatch! from /api/activities/home"))
        .count();
    assert_eq!(hello, 2, "the home function says hello on each request");
}
