//! Building responses: JSON data, plain text.

use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use serde::Serialize;

/// `value` as JSON with `status`.
pub fn json(status: StatusCode, value: &impl Serialize) -> Response<Body> {
    match serde_json::to_string(value) {
        Ok(body) => with_body(status, "application/json", body),
        // Our types always serialize; should one ever fail, answer like any other failure.
        Err(error) => {
            tracing::error!(
                error = &error as &dyn std::error::Error,
                "response did not serialize"
            );
            with_body(
                StatusCode::INTERNAL_SERVER_ERROR,
                "application/json",
                r#"["internal_server_error"]"#.to_owned(),
            )
        }
    }
}

/// `text` as `text/plain` with status 200.
pub fn text(text: &str) -> Response<Body> {
    with_body(StatusCode::OK, "text/plain; charset=utf-8", text.to_owned())
}

fn with_body(status: StatusCode, content_type: &'static str, body: String) -> Response<Body> {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
