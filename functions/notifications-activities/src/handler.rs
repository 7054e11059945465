//! `GET /api/activities/notifications`: the notifications feed.

use chrono::Utc;
use cruddur::{Result, mock, response};
use http::StatusCode;
use lambda_http::{Body, Request, Response};

/// The one activity of the notifications feed.
pub async fn handle(_request: Request) -> Result<Response<Body>> {
    let now = Utc::now();
    // The original set this span's status to OK explicitly, with an attribute.
    let span = tracing::info_span!(
        "notifications-activities-mock-data",
        otel.status_code = "ok",
        app.now = %now.to_rfc3339(),
        app.result_length = tracing::field::Empty,
    );
    let activities = span.in_scope(|| mock::notification_activities(now));
    span.record("app.result_length", activities.len() as i64);
    metrics::histogram!("app.activities.result_length", "feed" => "notifications")
        .record(activities.len() as f64);
    Ok(response::json(StatusCode::OK, &activities))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[tokio::test]
    async fn answers_the_one_notification() {
        let event =
            lambda_http::request::from_str(include_str!("../../../events/notifications.json"))
                .unwrap();
        let response = handle(event).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "application/json");
        let body: Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(body.as_array().unwrap().len(), 1);
        assert_eq!(body[0]["handle"], "coco");
        assert_eq!(body[0]["replies"][0]["handle"], "worf");
    }
}
