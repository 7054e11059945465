//! Lambda ends an execution environment with SIGTERM (delivered because, with
//! `LAMBDA_TELEMETRY_SHUTDOWN_FLUSH=on`, the crate registers its shutdown extension with the
//! Runtime API, which `cargo lambda watch` accepts: a failed registration would be a WARN
//! line): the function flushes its telemetry once more, says so, and exits without an error or
//! a panic.

use std::time::{Duration, Instant};

use serde_json::Value;
use tests::LocalApi;
use tests::otlp_receiver::{Answer, OtlpReceiver};

#[test]
fn sigterm_flushes_once_more_and_exits_cleanly() {
    let receiver = OtlpReceiver::start(Answer::Status(200, None));
    let api = LocalApi::start(&[
        ("OTEL_TRACES_EXPORTER", "otlp"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.endpoint()),
        ("LAMBDA_TELEMETRY_SHUTDOWN_FLUSH", "on"),
    ]);
    assert_eq!(api.get("/api/activities/home", &[]).status, 200);

    api.terminate_function("home-activities");
    let deadline = Instant::now() + Duration::from_secs(10);
    let lines: Vec<Value> = loop {
        let lines: Vec<Value> = api
            .function_lines()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect();
        let done = lines
            .iter()
            .any(|l| l["message"] == "shutting down; telemetry flushed");
        if done || Instant::now() > deadline {
            break lines;
        }
    };
    let shutdown = lines
        .iter()
        .find(|l| l["message"] == "shutting down; telemetry flushed")
        .unwrap_or_else(|| panic!("no shutdown line: {lines:#?}"));
    assert_eq!(shutdown["level"], "INFO");
    assert_eq!(shutdown["function_name"], "home-activities");
    for line in &lines {
        assert_ne!(line["level"], "ERROR", "{line}");
        assert_ne!(line["level"], "WARN", "{line}");
    }
}
