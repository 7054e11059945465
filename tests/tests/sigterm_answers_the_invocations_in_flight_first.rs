//! Under Lambda Managed Instances one process serves several invocations at once, so SIGTERM
//! can come while some are in flight. The process asks for no more, answers those it was
//! handed (their responses posted, their lines and metrics written), flushes once more, and
//! exits cleanly, rather than dropping them (the caller would get a Lambda error, their
//! telemetry lost).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use tests::runtime_api::{Function, RuntimeApi, function_binary, order_event};

#[test]
fn sigterm_answers_the_invocations_in_flight_first() {
    let binary = function_binary("overlapping-handler");
    let api = RuntimeApi::start();
    // Three slow invocations (each holds 400 ms), served at once; two more wait in the queue.
    for n in [2, 4, 6, 8, 10] {
        api.queue(&order_event(n, 400), 1);
    }
    let mut function = Function::start(&binary, &api, &[("AWS_LAMBDA_MAX_CONCURRENCY", "3")]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while api.invocations().len() < 3 {
        assert!(Instant::now() < deadline, "{:#?}", function.lines());
        std::thread::sleep(Duration::from_millis(10));
    }
    function.terminate();
    let status = function
        .wait_for_exit(Duration::from_secs(10))
        .unwrap_or_else(|| panic!("still running: {:#?}", function.lines()));
    assert!(status.success(), "{status}: {:#?}", function.lines());

    let invocations = api.invocations();
    assert_eq!(invocations.len(), 3, "no more were asked for after SIGTERM");
    for invocation in &invocations {
        assert!(
            invocation.posted.is_some() && !invocation.failed,
            "answered: {invocation:?}"
        );
    }
    let lines = function.json_lines();
    let answered: HashSet<&str> = lines
        .iter()
        .filter(|l| l["status"] == 200)
        .filter_map(|l| l["function_request_id"].as_str())
        .collect();
    let metered: HashSet<&str> = lines
        .iter()
        .filter(|l| l.get("fixture.orders").is_some())
        .filter_map(|l| l["function_request_id"].as_str())
        .collect();
    for invocation in &invocations {
        let id = invocation.request_id.as_str();
        assert!(answered.contains(id), "its access line: {lines:#?}");
        assert!(metered.contains(id), "its metrics: {lines:#?}");
    }
    let flushed = lines
        .iter()
        .position(|l| l["message"] == "shutting down; telemetry flushed")
        .unwrap_or_else(|| panic!("the last flush: {lines:#?}"));
    assert!(
        lines[..flushed]
            .iter()
            .filter(|l| l["status"] == 200)
            .count()
            == 3,
        "the invocations were answered before the last flush: {lines:#?}"
    );
    assert!(
        !lines
            .iter()
            .any(|l| l["level"] == "ERROR" || l["level"] == "WARN"),
        "{lines:#?}"
    );
}
