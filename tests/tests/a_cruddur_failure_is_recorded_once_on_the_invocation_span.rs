//! One owner for failures: a Cruddur handler's internal error and its panic are recorded by
//! lambda-telemetry, as any handler's are. The OpenTelemetry semantic conventions for
//! exceptions: "an exception SHOULD be recorded as an Event on the span during which it
//! occurred", named `exception`, with `exception.type` and `exception.message`; the span's
//! status is Error (a 5xx of a server span). The client still gets Cruddur's own
//! `500 ["internal_server_error"]`, readable cross-origin (CORS headers on the 500).

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::{Span, status::StatusCode};
use tests::LocalApi;
use tests::otlp_receiver::{Answer, OtlpReceiver, hex};

const ORIGIN: &str = "http://localhost:3000";

fn exception_events(span: &Span) -> Vec<(String, String)> {
    let text = |event: &opentelemetry_proto::tonic::trace::v1::span::Event, key: &str| {
        event
            .attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| match kv.value.clone()?.value? {
                Value::StringValue(text) => Some(text),
                _ => None,
            })
            .unwrap_or_default()
    };
    span.events
        .iter()
        .filter(|event| event.name == "exception")
        .map(|event| {
            (
                text(event, "exception.type"),
                text(event, "exception.message"),
            )
        })
        .collect()
}

#[test]
fn a_cruddur_failure_is_recorded_once_on_the_invocation_span() {
    let receiver = OtlpReceiver::start(Answer::Status(200, None));
    let endpoint = receiver.endpoint();
    let api = LocalApi::start(&[
        ("OTEL_TRACES_EXPORTER", "otlp"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("FRONTEND_URL", ORIGIN),
    ]);

    for (query, kind, message) in [
        ("error=1", "error", "the Rollbar test error (?error=1)"),
        ("panic=1", "panic", "the Rollbar test panic (?panic=1)"),
    ] {
        let reply = api.get(&format!("/rollbar/test?{query}"), &[("origin", ORIGIN)]);
        assert_eq!(reply.status, 500, "{query}");
        assert_eq!(reply.body, r#"["internal_server_error"]"#, "{query}");
        assert_eq!(
            reply.header("access-control-allow-origin"),
            Some(ORIGIN),
            "{query}: the 500 is readable by the front end"
        );
        let traceresponse = reply.header("traceresponse").expect("traceresponse");
        let trace_id = traceresponse.split('-').nth(1).unwrap().to_owned();

        // The next request waits for the previous flush: after it, the spans have left.
        api.get("/rollbar/test", &[]);
        let server = tests::eventually("the failed invocation's server span", || {
            receiver
                .spans()
                .into_iter()
                .find(|s| hex(&s.trace_id) == trace_id && s.kind == 2)
        });
        let exceptions = exception_events(&server);
        assert_eq!(
            exceptions.len(),
            1,
            "{query}: one exception event, recorded once: {exceptions:?}"
        );
        assert_eq!(exceptions[0].0, kind, "{query}");
        assert!(
            exceptions[0].1.starts_with(message),
            "{query}: {:?} names the failure",
            exceptions[0].1
        );
        assert_eq!(
            server.status.as_ref().map(|s| s.code),
            Some(StatusCode::Error as i32),
            "{query}: a 5xx server span is an error"
        );
    }

    // The error's ERROR line names where the handler raised it, once.
    let lines = api.function_lines();
    let failed: Vec<&String> = lines
        .iter()
        .filter(|line| line.contains(r#""message":"handler failed""#))
        .collect();
    assert_eq!(failed.len(), 1, "{failed:#?}");
    let line: serde_json::Value = serde_json::from_str(failed[0]).unwrap();
    assert_eq!(line["error"], "the Rollbar test error (?error=1)");
    assert!(
        line["error_location"]
            .as_str()
            .is_some_and(|l| l.starts_with("functions/rollbar-test/src/handler.rs:")),
        "{line}"
    );
}
