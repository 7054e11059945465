//! `GET /api/activities/home`: the home feed.

use chrono::Utc;
use cruddur::{Result, mock, response};
use http::StatusCode;
use lambda_http::{Body, Request, Response};

/// The three activities of the home feed.
pub async fn handle(_request: Request) -> Result<Response<Body>> {
    let now = Utc::now();
    // The original's custom span, with its name spelt right this time.
    let span = tracing::info_span!(
        "home-activities-mock-data",
        app.now = %now.to_rfc3339(),
        app.result_length = tracing::field::Empty,
    );
    let activities = span.in_scope(|| mock::home_activities(now));
    // As i64: tracing-opentelemetry exports an unsigned value recorded later as a string.
    span.record("app.result_length", activities.len() as i64);
    // The original's Honeycomb heatmap of result lengths, as a metric per feed.
    metrics::histogram!("app.activities.result_length", "feed" => "home")
        .record(activities.len() as f64);
    // The original's CloudWatch line, kept so its log searches still find something.
    tracing::info!(
        result_length = activities.len(),
        "Hello Cloudwatch! from /api/activities/home"
    );
    Ok(response::json(StatusCode::OK, &activities))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn event(json: &str) -> Request {
        lambda_http::request::from_str(json).expect("a valid API Gateway event")
    }

    #[tokio::test]
    async fn answers_the_three_activities_as_json() {
        let response = handle(event(include_str!("../../../events/home.json")))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "application/json");
        let body: Value = serde_json::from_slice(response.body()).unwrap();
        let activities = body.as_array().unwrap();
        assert_eq!(activities.len(), 3);
        assert_eq!(activities[0]["handle"], "Andrew Brown");
        assert_eq!(
            activities[0]["replies"][0]["message"],
            "This post has no honor!"
        );
        for activity in activities {
            for field in [
                "likes_count",
                "replies_count",
                "reposts_count",
                "expires_at",
            ] {
                assert!(!activity[field].is_null(), "{field} missing in {activity}");
            }
        }
    }
}
