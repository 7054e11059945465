//! Credentials a browser sends, or a deployer types into a setting, never appear in anything
//! the functions print or report to Rollbar, at any log level: the functions run at TRACE, the
//! level at which the Lambda runtime logs whole events (the template allows it).

use std::time::{Duration, Instant};

use tests::rollbar_api::{Answer, RollbarApi};
use tests::{CLOSED_ADDRESS, LocalApi};

#[test]
fn secrets_never_reach_the_output() {
    let canary = "canary-7f3a9c";
    let rollbar = RollbarApi::start(Answer::Status(200, None));
    let rollbar_endpoint = rollbar.endpoint();
    let otlp_endpoint = format!("http://{CLOSED_ADDRESS}");
    // A key typed with a blank where `=` belongs: the entry is malformed, the key is not news.
    let otlp_headers = format!("x-honeycomb-team {canary}-otlp-key");
    let api = LocalApi::start(&[
        ("AWS_LAMBDA_LOG_LEVEL", "TRACE"),
        ("ROLLBAR_ACCESS_TOKEN", "rollbar-token-canary-7f3a9c"),
        ("ROLLBAR_ENDPOINT", &rollbar_endpoint),
        ("OTEL_TRACES_EXPORTER", "otlp"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &otlp_endpoint),
        ("OTEL_EXPORTER_OTLP_HEADERS", &otlp_headers),
        ("LAMBDA_TELEMETRY_FLUSH_BUDGET_MS", "100"),
    ]);
    let bearer = format!("Bearer {canary}-authorization");
    let cookie = format!("session={canary}-cookie");
    let api_key = format!("{canary}-api-key");
    // The first parameter of an absolute URL, and a password in its userinfo.
    let referer = format!("https://app.example/reset?token={canary}-referer&page=3");
    let origin_url = format!("https://user:{canary}-userinfo@app.example/");
    let headers = [
        ("Authorization", bearer.as_str()),
        ("Cookie", cookie.as_str()),
        ("X-Api-Key", api_key.as_str()),
        ("Referer", referer.as_str()),
        ("X-Forwarded-Host", origin_url.as_str()),
    ];
    let query = format!("?access_token={canary}-query&password={canary}-password&page=2");
    for path in [
        "/api/activities/home",
        "/api/activities/@worf",
        "/api/activities/@",
        "/rollbar/test",
    ] {
        let reply = api.get(&format!("{path}{query}"), &headers);
        assert!(reply.status < 500, "{path}: {reply:?}");
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
    assert_eq!(access, 4, "the requests were logged: {lines:#?}");
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
