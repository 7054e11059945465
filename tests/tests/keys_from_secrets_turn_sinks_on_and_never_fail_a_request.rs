//! Deployed, the Rollbar token and the OTLP headers come from AWS Secrets Manager and SSM
//! Parameter Store (template.yaml gives the functions their ARNs, never their values). Here
//! moto stands in for both on loopback, and the function runs against a Lambda Runtime API on
//! loopback, with only the variables Lambda would set and these:
//!
//! - found: the items and the spans leave with the secrets' values, the response never
//!   having waited for a read;
//! - rotated: after the maximum age the new value is used;
//! - unreachable: every request still answers 200, the sinks stay off, one line says why;
//! - at TRACE, with the SDK asked to log bodies (`LOG_SENSITIVE_BODIES`), no value reaches any
//!   output of the function.

use std::time::Duration;

use serde_json::Value;
use tests::eventually;
use tests::moto::Moto;
use tests::otlp_receiver::{Answer as OtlpAnswer, OtlpReceiver};
use tests::rollbar_api::{Answer, Item, RollbarApi};
use tests::runtime_api::{Function, RuntimeApi, function_binary};

const TOKEN: &str = "canary-secret-token-5d1e";
const ROTATED_TOKEN: &str = "canary-rotated-token-90b2";
const HONEYCOMB_KEY: &str = "canary-secret-hny-33f8";
const AWS_SECRET_KEY: &str = "canary-aws-secret-key-0c4e";

/// `/rollbar/test` as API Gateway hands it over: each invocation reports a Rollbar item.
fn event() -> Vec<u8> {
    std::fs::read(tests::workspace_root().join("events/rollbar-test.json")).unwrap()
}

fn start(
    api: &RuntimeApi,
    aws: &str,
    token_arn: &str,
    headers_arn: &str,
    rollbar: &str,
    otlp: &str,
) -> Function {
    Function::start(
        &function_binary("rollbar-test"),
        api,
        &[
            ("ROLLBAR_ACCESS_TOKEN_SECRET_ARN", token_arn),
            ("OTEL_EXPORTER_OTLP_HEADERS_SECRET_ARN", headers_arn),
            ("LAMBDA_TELEMETRY_SECRETS_MAX_AGE_SECONDS", "1"),
            ("ROLLBAR_ENDPOINT", rollbar),
            ("OTEL_TRACES_EXPORTER", "otlp"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", otlp),
            ("LAMBDA_TELEMETRY_FLUSH_BUDGET_MS", "2000"),
            ("AWS_ENDPOINT_URL", aws),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", AWS_SECRET_KEY),
            ("RUST_LOG", "trace"),
            // The SDK's own switch to log request and response bodies: they would hold the
            // value, were its events let through.
            ("LOG_SENSITIVE_BODIES", "true"),
        ],
    )
}

/// Serves one more `/rollbar/test` and waits until it is done, flush included; its status.
fn invoke(api: &RuntimeApi, done: usize) -> u64 {
    api.queue(&event(), 1);
    assert!(
        api.wait_for(done, Duration::from_secs(60)),
        "invocation {done} not done"
    );
    let response: Value = serde_json::from_slice(&api.invocations()[done - 1].response).unwrap();
    response["statusCode"].as_u64().unwrap()
}

fn token(item: &Item) -> Option<&str> {
    item.headers
        .iter()
        .find(|(name, _)| name == "x-rollbar-access-token")
        .map(|(_, value)| value.as_str())
}

fn assert_no_value(function: &Function) {
    let lines = function.lines();
    assert!(
        lines.iter().any(|l| l.contains(r#""level":"TRACE""#)),
        "the function logs at TRACE: {lines:#?}"
    );
    for line in lines {
        for value in [TOKEN, ROTATED_TOKEN, HONEYCOMB_KEY, AWS_SECRET_KEY] {
            assert!(
                !line.contains(value),
                "a secret value reached the output: {line}"
            );
        }
    }
}

#[test]
fn keys_from_secrets_turn_the_sinks_on_and_follow_a_rotation() {
    let moto = Moto::start(&[]);
    // The token in Parameter Store: its answer holds it under `Value`, a name no redaction
    // rule masks, so only keeping the SDK's events out of the log keeps it out.
    let token_arn = moto.put_parameter("/cruddur/rollbar-token", TOKEN);
    let headers_arn = moto.create_secret(
        "cruddur/otlp-headers",
        &format!("x-honeycomb-team={HONEYCOMB_KEY}"),
    );
    let rollbar = RollbarApi::start(Answer::Status(200, None));
    let otlp = OtlpReceiver::start(OtlpAnswer::Status(200, None));
    let api = RuntimeApi::start();
    let function = start(
        &api,
        &moto.endpoint(),
        &token_arn,
        &headers_arn,
        &rollbar.endpoint(),
        &otlp.endpoint(),
    );

    assert_eq!(invoke(&api, 1), 200);
    let items = eventually("an item sent with the secret's token", || {
        let items = rollbar.items();
        (!items.is_empty()).then_some(items)
    });
    assert_eq!(token(&items[0]), Some(TOKEN));
    let exports = eventually("spans sent with the secret's headers", || {
        let exports = otlp.exports();
        (!exports.is_empty()).then_some(exports)
    });
    let team = exports[0]
        .headers
        .iter()
        .find(|(name, _)| name == "x-honeycomb-team")
        .map(|(_, value)| value.as_str());
    assert_eq!(team, Some(HONEYCOMB_KEY));

    // Rotated: once the value is older than its maximum age (1 s here), the next flush reads
    // it again and sends with the new one.
    moto.put_parameter("/cruddur/rollbar-token", ROTATED_TOKEN);
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(invoke(&api, 2), 200);
    let items = eventually("two items", || {
        let items = rollbar.items();
        (items.len() >= 2).then_some(items)
    });
    assert_eq!(token(&items[1]), Some(ROTATED_TOKEN));
    assert_no_value(&function);
}

/// The store unreachable: every request answers, nothing is sent, one line per sink says why;
/// once the store answers (moto started where the function looks for it), the next flushes
/// read the secrets and the sinks are on.
#[test]
fn an_unreachable_store_never_fails_a_request_and_the_sinks_come_on_once_it_answers() {
    let rollbar = RollbarApi::start(Answer::Status(200, None));
    let otlp = OtlpReceiver::start(OtlpAnswer::Status(200, None));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let api = RuntimeApi::start();
    let function = start(
        &api,
        &format!("http://127.0.0.1:{port}"),
        "arn:aws:ssm:us-east-1:123456789012:parameter/cruddur/rollbar-token",
        "arn:aws:ssm:us-east-1:123456789012:parameter/cruddur/otlp-headers",
        &rollbar.endpoint(),
        &otlp.endpoint(),
    );
    for done in 1..=4 {
        assert_eq!(invoke(&api, done), 200);
    }
    assert!(rollbar.items().is_empty(), "nothing sent without the token");
    assert!(
        otlp.exports().is_empty(),
        "nothing sent without the headers"
    );
    let lines = function.lines();
    for (setting, sink) in [
        (
            "ROLLBAR_ACCESS_TOKEN_SECRET_ARN",
            "Rollbar reporting is off",
        ),
        (
            "OTEL_EXPORTER_OTLP_HEADERS_SECRET_ARN",
            "OTLP export is off",
        ),
    ] {
        let said: Vec<&String> = lines
            .iter()
            .filter(|l| l.contains(sink) && l.contains(setting))
            .collect();
        assert_eq!(said.len(), 1, "{setting}: said once: {lines:#?}");
        assert!(said[0].contains("the store did not answer"), "{}", said[0]);
    }

    let moto = Moto::start_on(port, &[]);
    moto.put_parameter("/cruddur/rollbar-token", TOKEN);
    moto.put_parameter(
        "/cruddur/otlp-headers",
        &format!("x-honeycomb-team={HONEYCOMB_KEY}"),
    );
    // Tried again 1 s (the maximum age here) after the last failure, at a flush.
    std::thread::sleep(Duration::from_millis(1100));
    let mut done = 4;
    eventually("the sinks on once the store answers", || {
        done += 1;
        assert_eq!(invoke(&api, done), 200);
        let sent = rollbar
            .items()
            .iter()
            .any(|item| token(item) == Some(TOKEN))
            && !otlp.exports().is_empty();
        sent.then_some(())
    });
    let lines = function.lines();
    for on in ["Rollbar reporting is on", "OTLP export is on"] {
        assert!(lines.iter().any(|l| l.contains(on)), "{on}: {lines:#?}");
    }
    assert_no_value(&function);
}
