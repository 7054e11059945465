//! Metrics through the real functions on a loopback Runtime API, as Lambda runs them: each
//! invocation's metrics are CloudWatch Embedded Metric Format lines on stdout, valid against
//! the specification (`tests::emf::check`, written from it), carrying that invocation's ids and
//! dimensions and no other's, also when one process serves four invocations at once (Lambda
//! Managed Instances); a cold start is counted once per process; and the lines pass Lambda's
//! log-level filter at any application log level.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;
use tests::runtime_api::{Function, RuntimeApi, function_binary};

/// `user-activities`' event for `@<handle>`.
fn user_event(handle: &str) -> Vec<u8> {
    let event =
        std::fs::read_to_string(tests::workspace_root().join("events/user-activities.json"))
            .unwrap();
    event.replace("andrewbrown", handle).into_bytes()
}

/// Serves `handles` (one invocation each, `concurrency` at once), returns the stdout lines
/// that are EMF documents, each checked, and the access lines.
fn serve(handles: &[String], env: &[(&str, &str)]) -> (Vec<Value>, Vec<Value>, Vec<String>) {
    let binary = function_binary("user-activities");
    let api = RuntimeApi::start();
    // Each answer's acknowledgement is held, so the invocations overlap.
    api.set_post_delay(Duration::from_millis(200));
    for handle in handles {
        api.queue(&user_event(handle), 1);
    }
    let function = Function::start(&binary, &api, env);
    assert!(
        api.wait_for(handles.len(), Duration::from_secs(60)),
        "{:#?}",
        function.lines()
    );
    assert!(api.invocations().iter().all(|i| !i.failed));
    // The last invocation's lines follow its answer by a flush.
    std::thread::sleep(Duration::from_millis(300));
    let lines = function.lines();
    let emf_lines: Vec<String> = lines
        .iter()
        .filter(|l| tests::emf::is_emf(l))
        .cloned()
        .collect();
    let documents = emf_lines
        .iter()
        .map(|line| {
            tests::emf::check(line).unwrap_or_else(|problems| panic!("{problems:#?}\n{line}"))
        })
        .collect();
    let access = function
        .json_lines()
        .into_iter()
        .filter(|l| l.get("duration_ms").is_some())
        .collect();
    (documents, access, emf_lines)
}

fn sum(documents: &[Value], metric: &str) -> f64 {
    documents
        .iter()
        .filter_map(|d| d.get(metric))
        .map(|v| match v {
            Value::Array(values) => values.iter().filter_map(Value::as_f64).sum(),
            other => other.as_f64().unwrap_or_default(),
        })
        .sum()
}

/// Twelve invocations, four at once, each for its own handle: every EMF line is valid; the
/// document that carries an invocation's handle (its metadata) carries that invocation's
/// request id, trace ids and no other's; every invocation is counted once and the cold start
/// once, however many invocations ran at once.
#[test]
fn each_invocation_publishes_valid_emf_with_only_its_own_ids() {
    let handles: Vec<String> = (0..12).map(|i| format!("handle{i}")).collect();
    let (documents, access, _) = serve(&handles, &[("AWS_LAMBDA_MAX_CONCURRENCY", "4")]);
    assert_eq!(access.len(), 12, "one access line per invocation");
    assert_eq!(sum(&documents, "faas.invocations"), 12.0, "{documents:#?}");
    assert_eq!(sum(&documents, "faas.errors"), 0.0);
    assert_eq!(
        sum(&documents, "faas.coldstarts"),
        1.0,
        "once per process, not per loop"
    );
    let by_handle: HashMap<&str, &Value> = documents
        .iter()
        .filter_map(|d| Some((d.get("app.handle")?.as_str()?, d)))
        .collect();
    assert_eq!(by_handle.len(), 12, "{documents:#?}");
    for line in &access {
        let path = line["path"].as_str().unwrap();
        let handle = path.rsplit('@').next().unwrap();
        let document = by_handle[handle];
        for key in ["function_request_id", "xray_trace_id", "trace_id"] {
            assert_eq!(document[key], line[key], "{key} of @{handle}: {document:#}");
        }
        assert_eq!(document["feed"], "user");
        assert_eq!(
            document["app.activities.result_length"],
            serde_json::json!([1.0])
        );
        assert_eq!(
            document["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "home-activities"
        );
    }
    for document in &documents {
        assert!(document.get("message").is_none() && document.get("duration_ms").is_none());
        assert!(
            document.get("level").is_none(),
            "INFO needs none: {document:#}"
        );
        assert_eq!(document["service"], "home-activities");
    }
    let per_route = documents
        .iter()
        .find(|d| d.get("faas.invoke_duration").is_some())
        .unwrap();
    assert_eq!(per_route["http.route"], "/api/activities/{handle}");
    assert_eq!(per_route["http.response.status_class"], "2xx");
    assert_eq!(per_route["faas.name"], "home-activities");
}

/// Lambda's log-level filter reads a JSON line without `level` as INFO: at an application log
/// level of ERROR it would drop metrics lines. Here they pass at ERROR and at FATAL, and the
/// namespace is `POWERTOOLS_METRICS_NAMESPACE`'s.
#[test]
fn emf_lines_pass_lambdas_log_level_filter_at_error_and_fatal() {
    for level in ["ERROR", "FATAL"] {
        let handles = ["handle0".to_owned()];
        let (documents, _, lines) = serve(
            &handles,
            &[
                ("AWS_LAMBDA_LOG_LEVEL", level),
                ("POWERTOOLS_METRICS_NAMESPACE", "Cruddur"),
            ],
        );
        assert!(!lines.is_empty());
        for line in &lines {
            assert!(
                tests::emf::lambda_log_level_passes(line, level),
                "{level}: {line}"
            );
        }
        assert_eq!(
            documents[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "Cruddur"
        );
        assert_eq!(sum(&documents, "faas.invocations"), 1.0);
    }
}
