//! `OTEL_TRACES_EXPORTER=console` (the local run's default): after each invocation, its spans
//! as a tree, in the trace the response names; with `OTEL_METRICS_EXPORTER=console` (also the
//! local run's), one line of its metrics under it, and no EMF JSON in the terminal.

use tests::LocalApi;

#[test]
fn console_exporter_prints_each_invocations_spans() {
    let api = LocalApi::start(&[
        ("OTEL_TRACES_EXPORTER", "console"),
        ("OTEL_METRICS_EXPORTER", "console"),
    ]);
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
    // Its parent is the caller's span, in another process: named, so the tree hangs under it.
    assert!(
        server.contains("  parent 00f067aa0ba902b7 (remote)"),
        "{server}"
    );
    let child = &lines[at + 2];
    assert!(
        child.starts_with("    ") && !child.contains("parent"),
        "a child in the process names no parent: {child}"
    );
}

#[test]
fn console_exporter_prints_each_invocations_metrics_under_its_spans() {
    let api = LocalApi::start(&[
        ("OTEL_TRACES_EXPORTER", "console"),
        ("OTEL_METRICS_EXPORTER", "console"),
    ]);
    assert_eq!(api.get("/api/activities/home", &[]).status, 200);
    let lines = api.function_lines();
    let request_id = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find_map(|l| l["function_request_id"].as_str().map(str::to_owned))
        .expect("a line with the request id");
    let tree = lines
        .iter()
        .position(|l| l.starts_with("trace "))
        .expect("a tree");
    let metrics = lines
        .iter()
        .position(|l| l.starts_with(&format!("metrics {request_id} ")))
        .unwrap_or_else(|| panic!("no metrics line for {request_id}: {lines:#?}"));
    assert!(metrics > tree, "under the tree: {lines:#?}");
    let line = &lines[metrics];
    for part in [
        "faas.invocations=1",
        "faas.errors=0",
        "faas.invoke_duration=",
        "app.activities.result_length{feed=home}=3",
    ] {
        assert!(line.contains(part), "{part} missing: {line}");
    }
    assert!(!lines.iter().any(|l| tests::emf::is_emf(l)), "{lines:#?}");
}
