//! Error reporting through `cargo lambda watch` to a stand-in for Rollbar's item API:
//! `/rollbar/test` reports a warning, `?error=1` an error through the normal error path,
//! `?panic=1` a panic, each
//! item has what Rollbar requires and what a person needs (request, trace ids, a trace link),
//! the log line names the item, and no secret reaches Rollbar or the log. A Rollbar that
//! throttles, fails, is silent or absent never fails or slows a request.

use std::time::{Duration, Instant};

use serde_json::Value;
use tests::rollbar_api::{Answer, Item, RollbarApi};
use tests::{CLOSED_ADDRESS, LocalApi};

const TOKEN: &str = "canary-token-31c7";

fn start(endpoint: &str) -> LocalApi {
    LocalApi::start(&[
        ("ROLLBAR_ACCESS_TOKEN", TOKEN),
        ("ROLLBAR_ENDPOINT", endpoint),
        ("ROLLBAR_ENVIRONMENT", "test"),
        ("LAMBDA_TELEMETRY_FLUSH_BUDGET_MS", "300"),
        (
            "LAMBDA_TELEMETRY_TRACE_LINK",
            "https://ui.honeycomb.io/cruddur/trace?trace_id={trace_id}",
        ),
    ])
}

fn eventually(api: &RollbarApi, count: usize) -> Vec<Item> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let items = api.items();
        if items.len() >= count {
            return items;
        }
        assert!(
            Instant::now() < deadline,
            "only {} items: {items:#?}",
            items.len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn errors_reach_rollbar_linked_to_the_trace() {
    let rollbar = RollbarApi::start(Answer::Status(200, None));
    let api = start(&rollbar.endpoint());

    let reply = api.get("/rollbar/test", &[]);
    assert_eq!((reply.status, reply.body.as_str()), (200, "Hello World!"));
    let reply = api.get(
        "/rollbar/test?error=1&token=canary-query-8a",
        &[
            ("authorization", "Bearer canary-auth-5e"),
            ("cookie", "session=canary-cookie-2b"),
        ],
    );
    assert_eq!(reply.status, 500);
    let reply = api.get("/rollbar/test?panic=1", &[]);
    assert_eq!(reply.status, 500);
    assert!(!reply.body.contains("Rollbar test panic"), "{}", reply.body);

    let items = eventually(&rollbar, 3);
    assert_eq!(items.len(), 3, "{items:#?}");
    for item in &items {
        assert!(
            item.headers
                .contains(&("x-rollbar-access-token".into(), TOKEN.into())),
            "{:?}",
            item.headers
        );
        let data = &item.json["data"];
        assert_eq!(data["environment"], "test");
        let body = data["body"].as_object().unwrap();
        assert_eq!(
            body.contains_key("trace") as u8 + body.contains_key("message") as u8,
            1,
            "exactly one of trace and message: {body:?}"
        );
        for key in ["code_version", "platform", "language", "framework", "uuid"] {
            assert!(data[key].is_string(), "{key}: {data:#}");
        }
        // Built from a git checkout: the commit.
        let code_version = data["code_version"].as_str().unwrap();
        assert!(
            code_version.len() == 40 && code_version.bytes().all(|b| b.is_ascii_hexdigit()),
            "{code_version}"
        );
        assert_eq!(data["language"], "rust");
        assert!(data["server"]["host"].is_string() && data["server"]["root"].is_string());
        let custom = &data["custom"];
        assert_eq!(
            custom["trace_id"].as_str().map(str::len),
            Some(32),
            "{custom:#}"
        );
        assert!(
            custom["xray_trace_id"]
                .as_str()
                .is_some_and(|x| x.starts_with("1-"))
        );
        assert!(custom["function_request_id"].is_string());
        assert_eq!(custom["function_name"], "rollbar-test");
        assert!(custom["cold_start"].is_boolean());
        assert_eq!(
            custom["trace_link"],
            format!(
                "https://ui.honeycomb.io/cruddur/trace?trace_id={}",
                custom["trace_id"].as_str().unwrap()
            )
            .as_str()
        );
        for canary in ["canary-auth", "canary-cookie", "canary-query"] {
            assert!(
                !item.raw.contains(canary),
                "{canary} reached Rollbar: {}",
                item.raw
            );
        }
    }
    let warning = items
        .iter()
        .map(|i| &i.json["data"])
        .find(|d| d["level"] == "warning")
        .expect("the warning item");
    assert_eq!(warning["body"]["message"]["body"], "Hello World!");
    let error = items
        .iter()
        .map(|i| &i.json["data"])
        .find(|d| d["level"] == "error" && d["body"]["trace"]["exception"]["class"] == "Error")
        .expect("the error item");
    let panic = items
        .iter()
        .map(|i| &i.json["data"])
        .find(|d| d["body"]["trace"]["exception"]["class"] == "panic")
        .expect("the panic item");
    assert_eq!(panic["level"], "error");
    let panic_trace = &panic["body"]["trace"];
    assert!(
        panic_trace["exception"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("the Rollbar test panic")),
        "{panic_trace:#}"
    );
    let last_frame = panic_trace["frames"].as_array().and_then(|f| f.last());
    assert!(
        last_frame.is_some_and(|f| f["filename"]
            .as_str()
            .is_some_and(|f| f.ends_with("rollbar-test/src/handler.rs"))),
        "the panic's location is the last frame: {panic_trace:#}"
    );
    let trace = &error["body"]["trace"];
    assert!(
        trace["exception"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("Rollbar test error")),
        "{trace:#}"
    );
    assert!(
        trace["frames"][0]["filename"]
            .as_str()
            .is_some_and(|f| f.contains("rollbar-test")),
        "{trace:#}"
    );
    assert_eq!(error["request"]["method"], "GET");
    assert_eq!(error["request"]["headers"]["authorization"], "[REDACTED]");
    assert_eq!(error["request"]["headers"]["cookie"], "[REDACTED]");
    assert!(
        error["request"]["url"]
            .as_str()
            .is_some_and(|u| u.contains("/rollbar/test")),
        "{:#}",
        error["request"]
    );

    // The log line of the error names its item; no secret reaches the log either.
    let lines = api.function_lines();
    let uuid = error["uuid"].as_str().unwrap();
    assert!(
        lines
            .iter()
            .any(|l| { serde_json::from_str::<Value>(l).is_ok_and(|l| l["rollbar_uuid"] == uuid) }),
        "no line carries {uuid}: {lines:#?}"
    );
    for line in &lines {
        for canary in ["canary-auth", "canary-cookie", "canary-query", TOKEN] {
            assert!(!line.contains(canary), "{canary} leaked: {line}");
        }
    }
}

#[test]
fn a_broken_rollbar_never_fails_or_slows_a_request() {
    let answers = [
        Some(Answer::Status(429, Some(60))),
        Some(Answer::Status(500, None)),
        Some(Answer::Silence),
        None,
    ];
    for answer in answers {
        let rollbar = answer.map(RollbarApi::start);
        let endpoint = rollbar.as_ref().map_or_else(
            || format!("http://{CLOSED_ADDRESS}/api/1/item/"),
            RollbarApi::endpoint,
        );
        let api = start(&endpoint);
        api.get("/rollbar/test", &[]); // builds and starts the function
        for _ in 0..3 {
            let started = Instant::now();
            assert_eq!(api.get("/rollbar/test?error=1", &[]).status, 500);
            assert!(
                started.elapsed() < Duration::from_secs(3),
                "{answer:?}: {:?}",
                started.elapsed()
            );
        }
        let lines = api.function_lines();
        let warnings = lines
            .iter()
            .filter(|l| l.contains("Rollbar items were dropped"))
            .count();
        assert!(
            warnings >= 1,
            "{answer:?}: the loss is reported: {lines:#?}"
        );
        assert!(
            lines.iter().all(|l| !l.contains(TOKEN)),
            "{answer:?}: the token leaked"
        );
    }
}
