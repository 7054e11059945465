//! `OTEL_TRACES_EXPORTER=console` (the local run's default): after each invocation, its spans
//! as a tree, in the trace the response names.

use tests::LocalApi;

#[test]
fn console_exporter_prints_each_invocations_spans() {
    let api = LocalApi::start(&[("OTEL_TRACES_EXPORTER", "console")]);
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let reply = api.get("/api/activities/home", &[("traceparent", traceparent)]);
    assert_eq!(reply.status, 200);
    let traceresponse = reply
        .header("traceresponse")
        .expect("a traceresponse header");
    assert!(
        traceresponse.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "{traceresponse}"
    );

    let lines = api.function_lines();
    let at = lines
        .iter()
        .position(|l| l == "trace 4bf92f3577b34da6a3ce929d0e0e4736")
        .unwrap_or_else(|| panic!("no tree for the caller's trace: {lines:#?}"));
    let server = &lines[at + 1];
    assert!(server.starts_with("  GET"), "{server}");
    assert!(
        server.contains("Server") && server.contains("http.response.status_code=200"),
        "{server}"
    );
}
