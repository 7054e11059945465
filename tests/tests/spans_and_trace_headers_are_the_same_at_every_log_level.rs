//! The log level decides which lines are printed, never what is traced: at
//! `AWS_LAMBDA_LOG_LEVEL=WARN` (a level the template offers) the server span still reaches the
//! OTLP receiver in the caller's trace, and the response still names the trace.

use tests::LocalApi;
use tests::otlp_receiver::hex;
use tests::otlp_receiver::{Answer, OtlpReceiver};

#[test]
fn spans_and_trace_headers_are_the_same_at_every_log_level() {
    let receiver = OtlpReceiver::start(Answer::Status(200, None));
    let endpoint = receiver.endpoint();
    let api = LocalApi::start(&[
        ("OTEL_TRACES_EXPORTER", "otlp"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("AWS_LAMBDA_LOG_LEVEL", "WARN"),
    ]);
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let reply = api.get("/api/activities/home", &[("traceparent", traceparent)]);
    assert_eq!(reply.status, 200);
    let traceresponse = reply
        .header("traceresponse")
        .unwrap_or_else(|| panic!("no traceresponse at WARN: {:?}", reply.headers));
    assert!(
        traceresponse.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "{traceresponse}"
    );
    // The next request waits for the previous flush: after it, the spans have left.
    api.get("/api/activities/home", &[]);

    let spans = receiver.spans();
    let server = spans
        .iter()
        .find(|s| hex(&s.trace_id) == "4bf92f3577b34da6a3ce929d0e0e4736" && s.kind == 2)
        .unwrap_or_else(|| panic!("no server span at WARN: {spans:#?}"));
    assert_eq!(
        format!("00-{}-{}-01", hex(&server.trace_id), hex(&server.span_id)),
        traceresponse
    );
    // And WARN still means WARN: no INFO line (the access line) was printed.
    let lines = api.function_lines();
    assert!(
        !lines.iter().any(|l| l.contains("\"level\":\"INFO\"")),
        "{lines:#?}"
    );
}
