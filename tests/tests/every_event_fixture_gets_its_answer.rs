//! Each API Gateway event in `events/`, both sent as the HTTP request it stands for and
//! handed to its function as it is, with `cargo lambda invoke --data-file`.

use tests::{FRONTEND_ORIGIN, LocalApi};

/// Fixture, the function it belongs to, and the status it must get.
const EXPECTED: [(&str, &str, u16); 11] = [
    ("home", "home-activities", 200),
    ("notifications", "notifications-activities", 200),
    ("user-activities", "user-activities", 200),
    ("user-activities-blank-handle", "user-activities", 422),
    ("user-activities-without-at", "user-activities", 404),
    ("user-activities-percent-encoded", "user-activities", 200),
    ("rollbar-test", "rollbar-test", 200),
    ("home-with-traceparent", "home-activities", 200),
    ("home-with-xray-header", "home-activities", 200),
    ("home-preflight", "home-activities", 200),
    ("home-foreign-origin", "home-activities", 200),
];

#[test]
fn every_event_fixture_gets_its_answer() {
    let on_disk = std::fs::read_dir(tests::workspace_root().join("events"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "json")
        })
        .count();
    assert_eq!(
        on_disk,
        EXPECTED.len(),
        "every fixture in events/ has an expectation here"
    );

    let api = LocalApi::start(&[]);
    for (name, function, status) in EXPECTED {
        let expected_origin = (name != "home-foreign-origin").then_some(FRONTEND_ORIGIN);

        let reply = api.replay(name);
        assert_eq!(reply.status, status, "{name} over HTTP: {reply:?}");
        assert_eq!(
            reply.header("access-control-allow-origin"),
            expected_origin,
            "{name}"
        );
        if name != "home-preflight" && name != "rollbar-test" {
            reply.json();
        }

        let response = api.invoke(function, name);
        assert_eq!(response["statusCode"], status, "{name} invoked: {response}");
        let allow_origin = response["multiValueHeaders"]["access-control-allow-origin"][0].as_str();
        assert_eq!(allow_origin, expected_origin, "{name} invoked: {response}");
    }
}
