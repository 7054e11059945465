//! Under Lambda Managed Instances one process serves several invocations at once
//! (`AWS_LAMBDA_MAX_CONCURRENCY`); whatever is per invocation must stay per invocation. Through
//! the real binaries and the loopback Runtime API, 8 loops and 400 invocations, each with a
//! fresh sampled Lambda X-Ray trace (`Root=1-<time>-<n>;Parent=<n>`) under one browser trace:
//! - every X-Ray document lands in its own invocation's Lambda trace: the invocation
//!   subsegment under its own Lambda segment, the handler's child span under that subsegment
//!   (another loop's flush may export a child before its invocation span has ended);
//! - `ROLLBAR_MAX_ITEMS=1` is a cap per invocation: each invocation's one item arrives.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::Value;
use tests::rollbar_api::{Answer, RollbarApi};
use tests::runtime_api::{Function, RuntimeApi, function_binary};
use tests::xray_daemon::XrayDaemon;

const INVOCATIONS: usize = 400;
const BROWSER_TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// A fixture with the browser's `traceparent` added, as every request of one page load has.
fn event_with_traceparent(name: &str) -> Vec<u8> {
    let path = tests::workspace_root().join(format!("events/{name}.json"));
    let mut event: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    event["headers"]["traceparent"] = BROWSER_TRACEPARENT.into();
    event["multiValueHeaders"]["traceparent"] = serde_json::json!([BROWSER_TRACEPARENT]);
    serde_json::to_vec(&event).unwrap()
}

fn serve(function: &str, event: &[u8], env: &[(&str, &str)]) -> (RuntimeApi, Function) {
    let binary = function_binary(function);
    let api = RuntimeApi::start();
    api.discard_answers();
    // Each loop waits a little after posting, so that its flush and the next loops' work
    // interleave.
    api.set_post_delay(Duration::from_millis(2));
    api.queue(event, INVOCATIONS);
    let mut all = vec![("AWS_LAMBDA_MAX_CONCURRENCY", "8")];
    all.extend_from_slice(env);
    let process = Function::start_quiet(&binary, &api, &all);
    assert!(
        api.wait_for(INVOCATIONS, Duration::from_secs(120)),
        "{} of {INVOCATIONS} answered",
        api.invocations().len()
    );
    assert!(api.max_in_flight() > 1, "the invocations overlapped");
    assert!(api.invocations().iter().all(|i| !i.failed));
    (api, process)
}

/// The number the loopback Runtime API put in both parts of invocation n's trace header.
fn root_number(trace_id: &str) -> u64 {
    u64::from_str_radix(&trace_id[trace_id.len() - 16..], 16).unwrap()
}

#[test]
fn overlapping_invocations_keep_their_own_trace_and_cap() {
    let daemon = XrayDaemon::start();
    let address = daemon.address();
    let (_api, _process) = serve(
        "home-activities",
        &event_with_traceparent("home"),
        &[
            ("OTEL_TRACES_EXPORTER", "xray"),
            ("AWS_XRAY_DAEMON_ADDRESS", &address),
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let documents = loop {
        let documents = daemon.documents();
        if documents.len() >= 2 * INVOCATIONS || Instant::now() > deadline {
            break documents;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        documents.len(),
        2 * INVOCATIONS,
        "one invocation and one child each"
    );
    let by_id: HashMap<&str, &Value> = documents
        .iter()
        .map(|d| (d["id"].as_str().unwrap(), d))
        .collect();
    let mut misplaced = Vec::new();
    for doc in &documents {
        let trace_id = doc["trace_id"].as_str().unwrap();
        let parent_id = doc["parent_id"].as_str().unwrap_or_default();
        let placed = match by_id.get(parent_id) {
            // A child: in its invocation subsegment's trace.
            Some(parent) => parent["trace_id"] == doc["trace_id"],
            // The invocation subsegment: under its own Lambda segment, `Parent=<n>` of
            // `Root=1-<time>-<n>`.
            None => u64::from_str_radix(parent_id, 16).ok() == Some(root_number(trace_id)),
        };
        if !placed {
            misplaced.push(doc);
        }
    }
    assert!(
        misplaced.is_empty(),
        "{} of {} X-Ray documents in the wrong place: {:#?}",
        misplaced.len(),
        documents.len(),
        &misplaced[..misplaced.len().min(3)]
    );

    let rollbar = RollbarApi::start(Answer::Status(200, None));
    let endpoint = rollbar.endpoint();
    let (_api, _process) = serve(
        "rollbar-test",
        &event_with_traceparent("rollbar-test"),
        &[
            ("ROLLBAR_ACCESS_TOKEN", "canary-token-77a1"),
            ("ROLLBAR_ENDPOINT", &endpoint),
            ("ROLLBAR_MAX_ITEMS", "1"),
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while rollbar.items().len() < INVOCATIONS && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        rollbar.items().len(),
        INVOCATIONS,
        "one item per invocation under a cap of one per invocation"
    );
}
