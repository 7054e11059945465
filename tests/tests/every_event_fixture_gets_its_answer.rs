//! Each API Gateway event in `events/`, sent as the HTTP request it stands for.

use tests::{FRONTEND_ORIGIN, LocalApi};

#[test]
fn every_event_fixture_gets_its_answer() {
    let api = LocalApi::start(&[]);
    let expected = [
        ("home", 200),
        ("notifications", 200),
        ("user-activities", 200),
        ("user-activities-blank-handle", 422),
        ("user-activities-without-at", 404),
        ("user-activities-percent-encoded", 200),
        ("rollbar-test", 200),
        ("home-with-traceparent", 200),
        ("home-with-xray-header", 200),
        ("home-preflight", 200),
        ("home-foreign-origin", 200),
    ];
    let on_disk = std::fs::read_dir(tests::workspace_root().join("events"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "json"))
        .count();
    assert_eq!(on_disk, expected.len(), "every fixture in events/ has an expectation here");

    for (name, status) in expected {
        let reply = api.replay(name);
        assert_eq!(reply.status, status, "{name}: {reply:?}");
        let allow_origin = reply.header("access-control-allow-origin");
        if name == "home-foreign-origin" {
            assert_eq!(allow_origin, None, "{name}");
        } else {
            assert_eq!(allow_origin, Some(FRONTEND_ORIGIN), "{name}");
        }
        if name != "home-preflight" && name != "rollbar-test" {
            reply.json();
        }
    }
}
