//! An OTLP backend that refuses, stays busy or never answers costs spans, never a request:
//! each request still succeeds, the flush stays within its budget, the loss is reported, and
//! the key never appears in any output.

use std::time::{Duration, Instant};

use tests::LocalApi;
use tests::otlp_receiver::{Answer, OtlpReceiver};

const BUDGET_MS: &str = "300";

fn run(answer: Answer) -> (Vec<String>, usize) {
    let receiver = OtlpReceiver::start(answer);
    let endpoint = receiver.endpoint();
    let api = LocalApi::start(&[
        ("OTEL_TRACES_EXPORTER", "otlp"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
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
    (lines, receiver.exports().len())
}

#[test]
fn a_broken_otlp_backend_never_fails_or_slows_a_request() {
    let (lines, attempts) = run(Answer::Status(401, None));
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

    let (lines, attempts) = run(Answer::Status(503, None));
    assert!(
        lines.iter().any(|l| l.contains("\"dropped_spans\"")),
        "{lines:#?}"
    );
    assert!(attempts > 4, "503 is retried within the budget");

    let (lines, attempts) = run(Answer::Status(429, Some(60)));
    assert!(
        lines.iter().any(|l| l.contains("\"dropped_spans\"")),
        "{lines:#?}"
    );
    assert_eq!(
        attempts, 4,
        "a Retry-After beyond the budget is not waited for"
    );

    let (lines, _) = run(Answer::Silence);
    assert!(
        lines.iter().any(|l| l.contains("\"dropped_spans\"")),
        "{lines:#?}"
    );
}
