//! `GET /api/activities/@{handle}`: a user's activities.
//!
//! API Gateway REST cannot route a literal and a variable in one segment (`@{handle}`), so
//! the deployed route is `/api/activities/{handle}` and the `@` is checked here.

use chrono::Utc;
use cruddur::{Error, Result, mock, response};
use http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use percent_encoding::percent_decode_str;

/// Handles longer than this are refused; real ones are a few dozen characters at most.
const MAX_HANDLE_CHARS: usize = 64;
const ROUTE_PREFIX: &str = "/api/activities/";

/// One activity for a non-empty `@handle`.
pub async fn handle(request: Request) -> Result<Response<Body>> {
    let handle = user_handle(&request)?;
    let now = Utc::now();
    // The original's X-Ray subsegment `mock-data`: the handle as an annotation to search by,
    // and metadata `{"now", "results-size"}` in the namespace `app`.
    let span = tracing::info_span!(
        "mock-data",
        app.handle = handle.as_str(),
        app.now = %now.to_rfc3339(),
        "app.results-size" = tracing::field::Empty,
        "aws.xray.annotations" = "app.handle",
    );
    let activities = span.in_scope(|| mock::user_activities(now));
    span.record("app.results-size", activities.len() as i64);
    metrics::histogram!("app.activities.result_length", "feed" => "user")
        .record(activities.len() as f64);
    // Searchable on the metrics line, but not a dimension: one metric per handle would cost.
    lambda_telemetry::metrics::add_metadata("app.handle", handle.as_str());
    Ok(response::json(StatusCode::OK, &activities))
}

/// The handle after the `@`, from API Gateway's `pathParameters` or, in events that have
/// none (function URLs, `cargo lambda watch`), from the path itself; percent-decoded.
fn user_handle(request: &Request) -> Result<String> {
    let segment = match request
        .path_parameters_ref()
        .and_then(|p| p.first("handle"))
    {
        Some(segment) => segment.to_owned(),
        None => {
            let path = match request.raw_http_path() {
                "" => request.uri().path(),
                raw => raw,
            };
            let segment = path.strip_prefix(ROUTE_PREFIX).ok_or(Error::NotFound)?;
            if segment.contains('/') {
                return Err(Error::NotFound);
            }
            segment.to_owned()
        }
    };
    let decoded = percent_decode_str(&segment)
        .decode_utf8()
        .map_err(|_| Error::InvalidUserHandle)?;
    let handle = decoded.strip_prefix('@').ok_or(Error::NotFound)?;
    if handle.is_empty() {
        return Err(Error::BlankUserHandle);
    }
    if handle.chars().count() > MAX_HANDLE_CHARS {
        return Err(Error::UserHandleTooLong);
    }
    if handle
        .chars()
        .any(|c| c.is_control() || c == '/' || c == '@')
    {
        return Err(Error::InvalidUserHandle);
    }
    Ok(handle.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn event(json: &str) -> Request {
        lambda_http::request::from_str(json).expect("a valid API Gateway event")
    }

    /// A request as `cargo lambda watch` or a function URL makes it: no path parameters.
    fn bare(path: &str) -> Request {
        http::Request::get(format!("https://example.com{path}"))
            .body(Body::Empty)
            .unwrap()
    }

    async fn answer(request: Request) -> (StatusCode, Value) {
        let response = handle(request).await.unwrap_or_else(Error::into_response);
        assert_eq!(response.headers()["content-type"], "application/json");
        (
            response.status(),
            serde_json::from_slice(response.body()).unwrap(),
        )
    }

    #[tokio::test]
    async fn a_handle_gets_its_activity() {
        let (status, body) =
            answer(event(include_str!("../../../events/user-activities.json"))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body[0]["message"], "Cloud is fun!");
        assert!(
            chrono::DateTime::parse_from_rfc3339(body[0]["expires_at"].as_str().unwrap()).is_ok()
        );
    }

    #[tokio::test]
    async fn a_blank_handle_is_422_blank_user_handle() {
        let (status, body) = answer(event(include_str!(
            "../../../events/user-activities-blank-handle.json"
        )))
        .await;
        assert_eq!(
            (status, body),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                serde_json::json!(["blank_user_handle"])
            )
        );
        let (status, _) = answer(bare("/api/activities/@")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }

    #[tokio::test]
    async fn a_segment_without_the_at_is_not_found() {
        let (status, body) = answer(event(include_str!(
            "../../../events/user-activities-without-at.json"
        )))
        .await;
        assert_eq!(
            (status, body),
            (StatusCode::NOT_FOUND, serde_json::json!(["not_found"]))
        );
        assert_eq!(
            answer(bare("/api/activities/andrew")).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            answer(bare("/api/activities/@a/b")).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(answer(bare("/elsewhere")).await.0, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn the_handle_comes_from_the_path_when_there_are_no_path_parameters() {
        assert_eq!(
            user_handle(&bare("/api/activities/@andrew")).unwrap(),
            "andrew"
        );
    }

    #[tokio::test]
    async fn percent_encoding_is_decoded() {
        let request = event(include_str!(
            "../../../events/user-activities-percent-encoded.json"
        ));
        assert_eq!(user_handle(&request).unwrap(), "andrew brown");
        assert_eq!(
            user_handle(&bare("/api/activities/%40worf")).unwrap(),
            "worf"
        );
    }

    #[tokio::test]
    async fn absurd_handles_are_refused_with_a_4xx() {
        let long = format!("/api/activities/@{}", "a".repeat(10 * 1024));
        assert_eq!(
            answer(bare(&long)).await.1,
            serde_json::json!(["user_handle_too_long"])
        );
        for path in [
            "/api/activities/@a%00b",
            "/api/activities/@a%0Ab",
            "/api/activities/@%FF",
            "/api/activities/@a%2Fb",
        ] {
            let (status, body) = answer(bare(path)).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}");
            assert_eq!(body, serde_json::json!(["invalid_user_handle"]), "{path}");
        }
    }
}
