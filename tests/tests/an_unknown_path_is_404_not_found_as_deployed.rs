//! A path no route has is answered as the deployed API answers it: API Gateway's
//! `MISSING_AUTHENTICATION_TOKEN` gateway response in template.yaml, which is the API's own
//! error shape (README: unknown → 404 `["not_found"]`), to every method, a preflight's too,
//! readable by the front end. Locally the catch-all of the router (Cargo.toml) sends such a
//! path to the `not-found` binary instead of the emulator's own 404 and ERROR line.

use tests::{FRONTEND_ORIGIN, LocalApi, workspace_root};

/// What template.yaml deploys for a path no route has, with its parameters' defaults put in.
#[derive(Debug)]
struct GatewayResponse {
    status: u16,
    json_body: String,
    headers: Vec<(String, String)>,
}

/// The `MISSING_AUTHENTICATION_TOKEN` block of the API's `GatewayResponses`.
fn deployed_answer() -> GatewayResponse {
    let template = std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap();
    let lines: Vec<&str> = template.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let start = lines
        .iter()
        .position(|l| l.trim() == "MISSING_AUTHENTICATION_TOKEN:")
        .expect("template.yaml has a MISSING_AUTHENTICATION_TOKEN gateway response");
    let block: Vec<&str> = lines[start + 1..]
        .iter()
        .take_while(|l| l.trim().is_empty() || indent(l) > indent(lines[start]))
        .map(|l| l.trim())
        .collect();
    let value = |key: &str| {
        block
            .iter()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(": "))
            .unwrap_or_else(|| panic!("no {key} in {block:#?}"))
    };
    // `"'value'"` and `!Sub "'${Parameter}'"`: a YAML string holding a quoted literal.
    let literal = |yaml: &str| {
        let text = yaml.trim_start_matches("!Sub ").trim_matches('"');
        let text = text.trim_matches('\'');
        text.replace("${FrontendUrl}", &parameter_default(&lines, "FrontendUrl"))
    };
    let headers = [
        "Access-Control-Allow-Origin",
        "Access-Control-Expose-Headers",
    ]
    .into_iter()
    .map(|name| (name.to_ascii_lowercase(), literal(value(name))))
    .collect();
    GatewayResponse {
        status: value("StatusCode")
            .trim_matches('"')
            .parse()
            .expect("a status"),
        json_body: literal(value("application/json")),
        headers,
    }
}

fn parameter_default(lines: &[&str], name: &str) -> String {
    let at = lines
        .iter()
        .position(|l| l.trim() == format!("{name}:"))
        .unwrap_or_else(|| panic!("no parameter {name}"));
    lines[at + 1..]
        .iter()
        .find_map(|l| l.trim().strip_prefix("Default: "))
        .unwrap_or_else(|| panic!("{name} has no default"))
        .to_owned()
}

#[test]
fn an_unknown_path_is_404_not_found_as_deployed() {
    let deployed = deployed_answer();
    // The API's contract, whichever side answers.
    assert_eq!(deployed.status, 404, "{deployed:?}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&deployed.json_body).unwrap(),
        serde_json::json!(["not_found"])
    );
    // The harness allows the template's default front end.
    assert!(
        deployed
            .headers
            .contains(&("access-control-allow-origin".into(), FRONTEND_ORIGIN.into())),
        "{deployed:?}"
    );

    let api = LocalApi::start(&[]);
    let preflight = [
        ("Origin", FRONTEND_ORIGIN),
        ("Access-Control-Request-Method", "GET"),
    ];
    let origin = [("Origin", FRONTEND_ORIGIN)];
    for path in [
        "/",
        "/nope",
        "/api",
        "/api/activities",
        // A route's path with more after it, which neither API Gateway nor the router matches.
        "/api/activities/home/extra",
        "/api/activities/@worf/replies",
        "/rollbar/test/x",
    ] {
        for (method, headers) in [
            ("GET", &origin[..]),
            ("POST", &origin[..]),
            ("DELETE", &origin[..]),
            ("OPTIONS", &preflight[..]),
        ] {
            let reply = api.request(method, path, headers);
            let what = format!("{method} {path}: {reply:?}");
            assert_eq!(reply.status, deployed.status, "{what}");
            assert_eq!(reply.body, deployed.json_body, "{what}");
            assert_eq!(
                reply.header("content-type"),
                Some("application/json"),
                "{what}"
            );
            for (name, value) in &deployed.headers {
                assert_eq!(reply.header(name), Some(value.as_str()), "{name} of {what}");
            }
        }
        let head = api.request("HEAD", path, &origin);
        assert_eq!((head.status, head.body.as_str()), (404, ""), "HEAD {path}");
    }

    // The emulator's own answer to a path it cannot route is logged at ERROR; the API's 404
    // is the caller's mistake, an INFO access line.
    let errors: Vec<String> = api
        .all_lines()
        .into_iter()
        .filter(|l| l.contains("ERROR"))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
}
