//! Under Lambda Managed Instances (`AWS_LAMBDA_MAX_CONCURRENCY` = N > 1) one process serves N
//! invocations at once: N Runtime API loops, as lambda_runtime's `run_concurrent` runs.
//! The loopback Runtime API holds each answer's acknowledgement a while, so every loop that
//! posted stays busy: with 4 loops, 4 invocations are in flight together, never more; a
//! malformed value serves one at a time.

use std::time::Duration;

use tests::runtime_api::{Function, RuntimeApi, function_binary};

fn most_in_flight(max_concurrency: &str) -> usize {
    let binary = function_binary("home-activities");
    let event = std::fs::read(tests::workspace_root().join("events/home.json")).unwrap();
    let api = RuntimeApi::start();
    api.set_post_delay(Duration::from_millis(300));
    api.queue(&event, 12);
    let function = Function::start(
        &binary,
        &api,
        &[("AWS_LAMBDA_MAX_CONCURRENCY", max_concurrency)],
    );
    assert!(
        api.wait_for(12, Duration::from_secs(60)),
        "{:#?}",
        function.lines()
    );
    let invocations = api.invocations();
    assert!(invocations.iter().all(|i| !i.failed));
    let ids: std::collections::HashSet<_> = invocations.iter().map(|i| &i.request_id).collect();
    assert_eq!(ids.len(), 12, "each invocation answered once");
    if max_concurrency == "four" {
        let warnings: Vec<String> = function
            .lines()
            .into_iter()
            .filter(|l| l.contains("AWS_LAMBDA_MAX_CONCURRENCY"))
            .collect();
        assert_eq!(warnings.len(), 1, "{warnings:#?}");
        assert!(warnings[0].contains("\"WARN\""), "{warnings:#?}");
    }
    api.max_in_flight()
}

#[test]
fn max_concurrency_serves_invocations_at_once() {
    assert_eq!(most_in_flight("4"), 4);
    assert_eq!(most_in_flight("four"), 1);
}
