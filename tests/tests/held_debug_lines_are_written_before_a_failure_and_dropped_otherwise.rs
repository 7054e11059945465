//! Log buffering through the real emulator (`LAMBDA_TELEMETRY_LOG_BUFFER=debug`, the log level
//! INFO): a request's DEBUG lines are held; when it fails or panics they are written first, in
//! the order they were logged, with their own timestamps and the request's ids, then the
//! ERROR line; a request that succeeds writes none of them.

use serde_json::Value;
use tests::{LocalApi, Reply};

/// The lines of the request `reply` answered, found by the trace its `traceresponse` names,
/// but its access line.
fn lines_of(lines: &[Value], reply: &Reply) -> Vec<Value> {
    let traceresponse = reply.header("traceresponse").expect("a traceresponse");
    let trace_id = traceresponse.split('-').nth(1).unwrap();
    lines
        .iter()
        .filter(|l| l["trace_id"] == trace_id && l.get("status").is_none())
        .filter(|l| !tests::emf::is_emf(&l.to_string()))
        .cloned()
        .collect()
}

fn levels_and_messages(lines: &[Value]) -> Vec<(String, String)> {
    lines
        .iter()
        .map(|l| {
            (
                l["level"].as_str().unwrap().to_owned(),
                l["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn held_debug_lines_are_written_before_a_failure_and_dropped_otherwise() {
    let api = LocalApi::start(&[("LAMBDA_TELEMETRY_LOG_BUFFER", "debug")]);
    let ok = api.get("/rollbar/test", &[]);
    let failed = api.get("/rollbar/test?error=1", &[]);
    let panicked = api.get("/rollbar/test?panic=1", &[]);
    assert_eq!((ok.status, failed.status, panicked.status), (200, 500, 500));
    let lines: Vec<Value> = api
        .function_lines()
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();

    let of_ok = lines_of(&lines, &ok);
    assert!(
        of_ok.iter().all(|l| l["level"] != "DEBUG"),
        "a request that succeeds writes nothing held: {of_ok:#?}"
    );

    for (reply, error) in [
        (&failed, "handler failed"),
        (&panicked, "panicked: the Rollbar test panic (?panic=1)"),
    ] {
        let of_it = lines_of(&lines, reply);
        let seen = levels_and_messages(&of_it);
        let asked = seen
            .iter()
            .position(|(level, message)| level == "DEBUG" && message == "Rollbar test asked")
            .unwrap_or_else(|| panic!("the held line is written: {seen:#?}"));
        let failure = seen
            .iter()
            .position(|(level, message)| level == "ERROR" && message == error)
            .unwrap_or_else(|| panic!("the error line: {seen:#?}"));
        assert!(asked < failure, "held lines come first: {seen:#?}");
        // The crate's own DEBUG line, logged before the handler's, is written before it.
        let chosen = seen
            .iter()
            .position(|(_, message)| message == "trace parent chosen")
            .unwrap_or_else(|| panic!("the crate's held line: {seen:#?}"));
        assert!(chosen < asked, "in the order they were logged: {seen:#?}");
        let request_id = &of_it[failure]["function_request_id"];
        assert!(request_id.is_string());
        for held in &of_it[..failure] {
            assert_eq!(&held["function_request_id"], request_id, "{held}");
            // A sanity check only: that a held line keeps the time it was logged, not the
            // flush's, is the concurrency test's (its handler sleeps between its lines).
            assert!(
                held["timestamp"].as_str() <= of_it[failure]["timestamp"].as_str(),
                "{held}"
            );
        }
    }
}
