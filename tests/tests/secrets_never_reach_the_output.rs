//! Credentials a browser sends never appear in anything the functions print.

use tests::LocalApi;

#[test]
fn secrets_never_reach_the_output() {
    let api = LocalApi::start(&[]);
    let canary = "canary-7f3a9c";
    let bearer = format!("Bearer {canary}-authorization");
    let cookie = format!("session={canary}-cookie");
    let api_key = format!("{canary}-api-key");
    let headers = [
        ("Authorization", bearer.as_str()),
        ("Cookie", cookie.as_str()),
        ("X-Api-Key", api_key.as_str()),
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
    let access = lines.iter().filter(|l| l.contains("\"status\"")).count();
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
}
