//! Every route over HTTP through `cargo lambda watch`: status, content type, body shape.

use tests::LocalApi;

fn assert_rfc3339(value: &serde_json::Value) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("not a timestamp: {value}"));
    assert!(
        text.len() > 19 && (text.ends_with('Z') || text[19..].contains(['+', '-'])),
        "no offset: {text}"
    );
}

fn assert_activity_fields(activity: &serde_json::Value) {
    for field in [
        "uuid",
        "handle",
        "message",
        "created_at",
        "expires_at",
        "likes_count",
        "replies_count",
        "reposts_count",
        "replies",
        "reply_to_activity_uuid",
    ] {
        assert!(
            activity.get(field).is_some(),
            "{field} missing from {activity}"
        );
    }
    assert_rfc3339(&activity["created_at"]);
    if !activity["expires_at"].is_null() {
        assert_rfc3339(&activity["expires_at"]);
    }
    for reply in activity["replies"].as_array().expect("replies is a list") {
        assert_activity_fields(reply);
    }
}

#[test]
fn every_route_answers_as_api_gateway_would() {
    let api = LocalApi::start(&[]);

    let home = api.get("/api/activities/home", &[]);
    assert_eq!(home.status, 200, "{home:?}");
    assert_eq!(home.header("content-type"), Some("application/json"));
    let activities = home.json();
    assert_eq!(activities.as_array().map(Vec::len), Some(3));
    activities
        .as_array()
        .unwrap()
        .iter()
        .for_each(assert_activity_fields);
    assert_eq!(activities[0]["replies"].as_array().map(Vec::len), Some(1));

    let notifications = api.get("/api/activities/notifications", &[]);
    assert_eq!(notifications.status, 200);
    assert_eq!(notifications.json().as_array().map(Vec::len), Some(1));
    notifications
        .json()
        .as_array()
        .unwrap()
        .iter()
        .for_each(assert_activity_fields);

    let user = api.get("/api/activities/@andrewbrown", &[]);
    assert_eq!(user.status, 200);
    assert_eq!(user.json()[0]["message"], "Cloud is fun!");
    assert_activity_fields(&user.json()[0]);

    let encoded = api.get("/api/activities/%40andrew%20brown", &[]);
    assert_eq!(encoded.status, 200, "{encoded:?}");

    let blank = api.get("/api/activities/@", &[]);
    assert_eq!(
        (blank.status, blank.json()),
        (422, serde_json::json!(["blank_user_handle"]))
    );

    let without_at = api.get("/api/activities/andrewbrown", &[]);
    assert_eq!(without_at.status, 404);
    assert_eq!(without_at.header("content-type"), Some("application/json"));
    assert_eq!(without_at.json(), serde_json::json!(["not_found"]));

    let huge = api.get(&format!("/api/activities/@{}", "x".repeat(10 * 1024)), &[]);
    assert_eq!(
        (huge.status, huge.json()),
        (422, serde_json::json!(["user_handle_too_long"]))
    );

    let control = api.get("/api/activities/@a%00b%07", &[]);
    assert_eq!(
        (control.status, control.json()),
        (422, serde_json::json!(["invalid_user_handle"]))
    );

    let rollbar = api.get("/rollbar/test", &[]);
    assert_eq!(rollbar.status, 200);
    assert_eq!(
        rollbar.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(rollbar.body, "Hello World!");

    let post = api.request("POST", "/api/activities/home", &[]);
    assert_eq!(post.status, 405);
    assert_eq!(post.json(), serde_json::json!(["method_not_allowed"]));
}
