//! Credentials a browser sends, or a deployer types into a setting, never appear in anything
//! the functions print, report to Rollbar or export as spans (OTLP and X-Ray), at any log
//! level: the functions run at TRACE, the level at which the Lambda runtime logs whole events
//! (the template allows it). The brief: a secret "never reaches a log line, span, metric,
//! error report or error message".

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use tests::LocalApi;
use tests::eventually;
use tests::otlp_receiver::OtlpReceiver;
use tests::rollbar_api::{Answer, RollbarApi};
use tests::xray_daemon::XrayDaemon;

fn attribute(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| match kv.value.clone()?.value? {
            Value::StringValue(text) => Some(text),
            _ => None,
        })
}

#[test]
fn secrets_never_reach_the_output() {
    let canary = "canary-7f3a9c";
    let rollbar = RollbarApi::start(Answer::Status(200, None));
    let rollbar_endpoint = rollbar.endpoint();
    let receiver = OtlpReceiver::start(tests::otlp_receiver::Answer::Status(200, None));
    let otlp_endpoint = receiver.endpoint();
    let daemon = XrayDaemon::start();
    // A key typed with a blank where `=` belongs: the entry is malformed, the key is not news.
    let otlp_headers = format!("x-honeycomb-team {canary}-otlp-key");
    let api = LocalApi::start(&[
        ("AWS_LAMBDA_LOG_LEVEL", "TRACE"),
        ("ROLLBAR_ACCESS_TOKEN", "rollbar-token-canary-7f3a9c"),
        ("ROLLBAR_ENDPOINT", &rollbar_endpoint),
        ("OTEL_TRACES_EXPORTER", "otlp,xray"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &otlp_endpoint),
        ("OTEL_EXPORTER_OTLP_HEADERS", &otlp_headers),
        ("AWS_XRAY_DAEMON_ADDRESS", &daemon.address()),
        ("LAMBDA_TELEMETRY_FLUSH_BUDGET_MS", "100"),
    ]);
    let bearer = format!("Bearer {canary}-authorization");
    let cookie = format!("session={canary}-cookie");
    let api_key = format!("{canary}-api-key");
    // The first parameter of an absolute URL, and a password in its userinfo.
    let referer = format!("https://app.example/reset?token={canary}-referer&page=3");
    let origin_url = format!("https://user:{canary}-userinfo@app.example/");
    // A header every span carries (`user_agent.original`, X-Ray's `http.request.user_agent`),
    // and ALB's signed OIDC claims, a JWT, which reach Rollbar's request headers.
    let user_agent = format!("curl/8.5 (token={canary}-user-agent)");
    let oidc_data = format!("eyJhbGciOiJFUzI1NiIsImtpZCI6IjEifQ.eyJzdWIiOiIxIn0.{canary}-jwt");
    let headers = [
        ("Authorization", bearer.as_str()),
        ("Cookie", cookie.as_str()),
        ("X-Api-Key", api_key.as_str()),
        ("Referer", referer.as_str()),
        ("X-Forwarded-Host", origin_url.as_str()),
        ("User-Agent", user_agent.as_str()),
        ("X-Amzn-Oidc-Data", oidc_data.as_str()),
    ];
    let query = format!("access_token={canary}-query&password={canary}-password&page=2");
    // The handle is a span attribute (`app.handle`, an X-Ray annotation) and in `url.path`;
    // `?error=1` fails the handler: an ERROR event in the span, an error status, an X-Ray
    // fault.
    let handle = format!("/api/activities/@password={canary}-handle?");
    for (path, failing) in [
        ("/api/activities/home?", false),
        ("/api/activities/@worf?", false),
        ("/api/activities/@?", false),
        (handle.as_str(), false),
        ("/rollbar/test?", false),
        ("/rollbar/test?error=1&", true),
    ] {
        let path = format!("{path}{query}");
        let reply = api.get(&path, &headers);
        assert_eq!(reply.status >= 500, failing, "{path}: {reply:?}");
        assert!(
            !reply.body.contains(canary),
            "{path} answered with a secret: {}",
            reply.body
        );
    }

    let lines = api.function_lines();
    let access = lines
        .iter()
        .filter(|l| l.contains("\"duration_ms\""))
        .count();
    assert_eq!(access, 6, "the requests were logged: {lines:#?}");
    for line in &lines {
        assert!(
            !line.contains(canary),
            "a secret reached the output: {line}"
        );
    }
    assert!(
        lines.iter().any(|l| l.contains("page=2")),
        "harmless query values are kept"
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("raw JSON event received from Lambda")),
        "the runtime's raw events are never written, even at TRACE"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("OTEL_EXPORTER_OTLP_HEADERS: entry 1 of 1 has no `=`")),
        "the malformed setting is reported, by name: {lines:#?}"
    );

    assert_no_secret_in_spans(&receiver, &daemon, canary);

    // `/rollbar/test` reports a message, with the request and its headers.
    let deadline = Instant::now() + Duration::from_secs(15);
    while rollbar.items().is_empty() {
        assert!(Instant::now() < deadline, "no Rollbar item arrived");
        std::thread::sleep(Duration::from_millis(100));
    }
    for item in rollbar.items() {
        assert!(
            !item.raw.contains(canary),
            "a secret reached Rollbar: {}",
            item.raw
        );
        let headers = &item.json["data"]["request"]["headers"];
        assert_eq!(
            headers["referer"], "https://app.example/reset?token=[REDACTED]&page=3",
            "the URL is kept, its secret masked: {headers}"
        );
        assert_eq!(
            headers["x-forwarded-host"], "https://user:[REDACTED]@app.example/",
            "{headers}"
        );
    }
}

/// The spans of the requests above, over OTLP and to the X-Ray daemon: the canaries did
/// travel into them (masked), and none arrived whole anywhere in a span or a document.
fn assert_no_secret_in_spans(receiver: &OtlpReceiver, daemon: &XrayDaemon, canary: &str) {
    let masked_handle = "password=[REDACTED]";
    let spans = eventually(
        "the handle's span and the failed request's over OTLP",
        || {
            let spans = receiver.spans();
            let handle = spans.iter().any(|s| attribute(s, "app.handle").is_some());
            // An error status (OTLP's STATUS_CODE_ERROR, 2) on a span with events.
            let failed = spans.iter().any(|s| {
                s.status.as_ref().is_some_and(|status| status.code == 2) && !s.events.is_empty()
            });
            (handle && failed).then_some(spans)
        },
    );
    for span in &spans {
        let text = format!("{span:?}");
        assert!(!text.contains(canary), "a secret reached OTLP: {text}");
    }
    assert!(
        spans
            .iter()
            .any(|s| attribute(s, "app.handle").as_deref() == Some(masked_handle)),
        "the handle travelled into a span, masked: {spans:#?}"
    );
    assert!(
        spans
            .iter()
            .any(|s| attribute(s, "user_agent.original").as_deref()
                == Some("curl/8.5 (token=[REDACTED])")),
        "the user agent travelled into a span, masked: {spans:#?}"
    );

    let documents = eventually(
        "the handle's and the failed request's X-Ray documents",
        || {
            let documents = daemon.documents();
            let handle = documents
                .iter()
                .any(|d| d["annotations"]["app_handle"].is_string());
            let fault = documents.iter().any(|d| d["fault"] == true);
            (handle && fault).then_some(documents)
        },
    );
    for document in &documents {
        let text = document.to_string();
        assert!(!text.contains(canary), "a secret reached X-Ray: {text}");
    }
    assert!(
        documents
            .iter()
            .any(|d| d["annotations"]["app_handle"] == masked_handle),
        "the handle is an annotation, masked: {documents:#?}"
    );
}
