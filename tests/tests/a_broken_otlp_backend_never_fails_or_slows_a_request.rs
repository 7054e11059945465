//! An OTLP backend that refuses connections, refuses the key, stays busy or never answers, and
//! an X-Ray daemon that is not there, cost spans, never a request: each request still
//! succeeds, the flush stays within its budget, the loss is reported, and the key never
//! appears in any output.

use std::time::{Duration, Instant};

use tests::otlp_receiver::{Answer, OtlpReceiver};
use tests::{CLOSED_ADDRESS, LocalApi};

const BUDGET_MS: &str = "300";

/// Serves requests with the OTLP backend answering `answer`, or refusing connections when
/// `None`; the X-Ray daemon is never there.
fn run(answer: Option<Answer>) -> (Vec<String>, usize) {
    let receiver = answer.map(OtlpReceiver::start);
    let endpoint = receiver.as_ref().map_or_else(
        || format!("http://{CLOSED_ADDRESS}"),
        OtlpReceiver::endpoint,
    );
    let daemon = CLOSED_ADDRESS;
    let api = LocalApi::start(&[
        ("OTEL_TRACES_EXPORTER", "otlp,xray"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("AWS_XRAY_DAEMON_ADDRESS", daemon),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "x-honeycomb-team=canary-key-77aa",
        ),
        ("LAMBDA_TELEMETRY_FLUSH_BUDGET_MS", BUDGET_MS),
    ]);
    api.get("/rollbar/test", &[]); // the first request builds and starts the function
    for _ in 0..3 {
        let started = Instant::now();
        let reply = api.get("/rollbar/test", &[]);
        assert_eq!(reply.status, 200, "{answer:?}");
        // It waited at most for the previous flush, which the budget bounds (generous margin
        // for a loaded machine; the figures themselves belong to the benchmarks).
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{answer:?}: {:?}",
            started.elapsed()
        );
    }
    let lines = api.function_lines();
    for line in &lines {
        assert!(!line.contains("canary-key"), "the key leaked: {line}");
    }
    (lines, receiver.map_or(0, |r| r.exports().len()))
}

#[test]
fn a_broken_otlp_backend_never_fails_or_slows_a_request() {
    let (lines, _) = run(None);
    assert!(
        lines.iter().any(|l| l.contains("\"dropped_spans\"")),
        "refused connections: {lines:#?}"
    );

    let (lines, attempts) = run(Some(Answer::Status(401, None)));
    let refused: Vec<_> = lines
        .iter()
        .filter(|l| l.contains("refused the spans"))
        .collect();
    assert_eq!(
        refused.len(),
        1,
        "a refused key is reported once: {lines:#?}"
    );
    assert!(refused[0].contains("\"status\":401"));
    assert_eq!(attempts, 4, "401 is never retried");

    let (lines, attempts) = run(Some(Answer::Status(503, None)));
    assert!(
        lines.iter().any(|l| l.contains("\"dropped_spans\"")),
        "{lines:#?}"
    );
    assert!(attempts > 4, "503 is retried within the budget");

    let (lines, attempts) = run(Some(Answer::Status(429, Some(60))));
    assert!(
        lines.iter().any(|l| l.contains("\"dropped_spans\"")),
        "{lines:#?}"
    );
    assert_eq!(
        attempts, 4,
        "a Retry-After beyond the budget is not waited for"
    );

    let (_, attempts) = run(Some(Answer::Status(429, Some(0))));
    assert!(
        attempts > 4,
        "a Retry-After within the budget is honoured and retried"
    );

    let (lines, _) = run(Some(Answer::Silence));
    assert!(
        lines.iter().any(|l| l.contains("\"dropped_spans\"")),
        "{lines:#?}"
    );
}
