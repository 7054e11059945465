//! An event that is not an HTTP event, or not JSON at all, has no HTTP answer to give: the
//! function posts an invocation error whose `errorType` says which, writes one ERROR line
//! that names the invocation (one Rollbar item at most), does not panic, and serves the next
//! event as usual.

use std::time::Duration;

use serde_json::Value;
use tests::rollbar_api::{Answer, RollbarApi};
use tests::runtime_api::{Function, RuntimeApi, function_binary};

#[test]
fn events_that_are_not_http_are_invocation_errors_without_a_panic() {
    let home = std::fs::read(tests::workspace_root().join("events/home.json")).unwrap();
    let binary = function_binary("home-activities");
    let rollbar = RollbarApi::start(Answer::Status(200, None));
    let api = RuntimeApi::start();
    api.queue(
        br#"{"detail-type":"Scheduled Event","source":"aws.events"}"#,
        1,
    );
    api.queue(b"%%% not JSON", 1);
    api.queue(&home, 1);
    let function = Function::start(
        &binary,
        &api,
        &[
            ("ROLLBAR_ACCESS_TOKEN", "test-token"),
            ("ROLLBAR_ENDPOINT", &rollbar.endpoint()),
        ],
    );
    assert!(
        api.wait_for(3, Duration::from_secs(60)),
        "{:#?}",
        function.lines()
    );

    let invocations = api.invocations();
    let lines = function.json_lines();
    for (invocation, error_type) in invocations[..2]
        .iter()
        .zip(["Runtime.UnsupportedEvent", "Runtime.InvalidJson"])
    {
        assert!(invocation.failed, "{error_type}: not an invocation error");
        let error: Value = serde_json::from_slice(&invocation.response).unwrap();
        assert_eq!(error["errorType"], error_type, "{error}");
        assert!(
            error["errorMessage"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
        let errors: Vec<&Value> = lines
            .iter()
            .filter(|l| l["level"] == "ERROR")
            .filter(|l| l["function_request_id"] == invocation.request_id.as_str())
            .collect();
        assert_eq!(errors.len(), 1, "{error_type}: {lines:#?}");
    }
    assert_eq!(
        lines.iter().filter(|l| l["level"] == "ERROR").count(),
        2,
        "{lines:#?}"
    );
    let served: Value = serde_json::from_slice(&invocations[2].response).unwrap();
    assert_eq!(served["statusCode"], 200, "{served}");
    let all = function.lines().join("\n");
    assert!(!all.contains("panicked"), "{all}");
    assert!(rollbar.items().len() <= 2, "{:#?}", rollbar.items());
}
