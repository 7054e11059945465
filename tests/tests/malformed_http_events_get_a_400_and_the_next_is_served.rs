//! An HTTP event lambda_http cannot make a request of gets a 400 from the function, not an
//! invocation error: one access line that names the invocation, no panic, no error report
//! (the caller's mistake is not ours), and the next event is served as usual.
//!
//! Before, lambda_http's conversion panicked on them (`failed to decode aws base64 encoded
//! body`, `failed to build request`): Lambda got an invocation error (a 502 for the client),
//! ERROR lines without a request id, two Rollbar items and no access line. An event with an
//! HTTP event's shape that aws_lambda_events cannot deserialize at all (a header value with a
//! line break, a header name with a space) was an invocation error too,
//! `Runtime.UnsupportedEvent` "not an HTTP event", with no access line.

use std::time::Duration;

use serde_json::{Value, json};
use tests::rollbar_api::{Answer, RollbarApi};
use tests::runtime_api::{Function, RuntimeApi, function_binary};

fn home() -> Value {
    let text = std::fs::read_to_string(tests::workspace_root().join("events/home.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn malformed_http_events_get_a_400_and_the_next_is_served() {
    let mut invalid_base64 = home();
    invalid_base64["isBase64Encoded"] = json!(true);
    invalid_base64["body"] = json!("%%%");
    let mut long_uri = home();
    long_uri["path"] = json!(format!("/api/activities/{}", "a".repeat(70 * 1024)));
    let mut header_value_with_newline = home();
    header_value_with_newline["headers"]["Authorization"] =
        json!("Bearer sk-live-0123456789\nX-Injected: 1");
    let alb_header_name_with_space = json!({
        "requestContext": {"elb": {"targetGroupArn":
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/cruddur/1"}},
        "httpMethod": "GET",
        "path": "/api/activities/home",
        "multiValueQueryStringParameters": {},
        "multiValueHeaders": {"host": ["cruddur.example"], "x sk-live-0123456789": ["1"]},
        "isBase64Encoded": false,
        "body": "",
    });
    let kinds = [
        "invalid base64",
        "long URI",
        "header value with a line break",
        "ALB header name with a space",
    ];

    let binary = function_binary("home-activities");
    let rollbar = RollbarApi::start(Answer::Status(200, None));
    let api = RuntimeApi::start();
    for event in [
        &invalid_base64,
        &long_uri,
        &header_value_with_newline,
        &alb_header_name_with_space,
        &home(),
    ] {
        api.queue(event.to_string().as_bytes(), 1);
    }
    let function = Function::start(
        &binary,
        &api,
        &[
            ("ROLLBAR_ACCESS_TOKEN", "test-token"),
            ("ROLLBAR_ENDPOINT", &rollbar.endpoint()),
        ],
    );
    assert!(
        api.wait_for(5, Duration::from_secs(60)),
        "{:#?}",
        function.lines()
    );

    let invocations = api.invocations();
    let lines = function.json_lines();
    for (invocation, kind) in invocations[..4].iter().zip(kinds) {
        assert!(!invocation.failed, "{kind}: an invocation error");
        let answer: Value = serde_json::from_slice(&invocation.response).unwrap();
        assert_eq!(answer["statusCode"], 400, "{kind}: {answer}");
        assert_eq!(answer["body"], r#"{"message":"Bad Request"}"#, "{kind}");
        let access: Vec<&Value> = lines
            .iter()
            .filter(|l| l["function_request_id"] == invocation.request_id.as_str())
            .filter(|l| l.get("status").is_some())
            .collect();
        assert_eq!(access.len(), 1, "{kind}: {lines:#?}");
        assert_eq!(access[0]["status"], 400, "{kind}");
        assert_eq!(access[0]["level"], "INFO", "{kind}");
    }
    let served: Value = serde_json::from_slice(&invocations[4].response).unwrap();
    assert_eq!(served["statusCode"], 200, "{served}");

    let all = function.lines().join("\n");
    assert!(!all.contains("panicked"), "{all}");
    // The reason names the part that failed, never its value.
    assert!(
        all.contains("a header value is not a valid HTTP field value"),
        "{all}"
    );
    assert!(
        all.contains("a header name is not a valid HTTP field name"),
        "{all}"
    );
    assert!(!all.contains("sk-live"), "{all}");
    assert!(lines.iter().all(|l| l["level"] != "ERROR"), "{lines:#?}");
    assert!(rollbar.items().is_empty(), "{:#?}", rollbar.items());
}
