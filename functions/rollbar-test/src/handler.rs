//! `GET /rollbar/test`: a route a deployer calls after `sam deploy` to see that error
//! reporting works: a `warning` message item; with `?error=1` a real error through the
//! normal error path (a 500 and an `error` item); with `?panic=1` a panic (a 500 and an
//! `error` item of class `panic`, with its location).

use cruddur::{Error, Result, response};
use lambda_http::{Body, Request, RequestExt, Response};
use lambda_telemetry::rollbar::{Level, report_message};

/// `Hello World!` as plain text, reported to Rollbar as a warning; `?error=1` fails,
/// `?panic=1` panics.
pub async fn handle(request: Request) -> Result<Response<Body>> {
    let asked = |name| {
        request
            .query_string_parameters_ref()
            .and_then(|q| q.first(name))
            .is_some_and(|v| v == "1")
    };
    // Held by log buffering (`LAMBDA_TELEMETRY_LOG_BUFFER=debug`), written only when the
    // request fails: what led to a failure, without a DEBUG line for every request.
    tracing::debug!(
        error = asked("error"),
        panic = asked("panic"),
        "Rollbar test asked"
    );
    if asked("error") {
        return Err(Error::internal("the Rollbar test error (?error=1)"));
    }
    if asked("panic") {
        panic!("the Rollbar test panic (?panic=1)");
    }
    report_message(Level::Warning, "Hello World!");
    Ok(response::text("Hello World!"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_hello_world_as_text() {
        let event =
            lambda_http::request::from_str(include_str!("../../../events/rollbar-test.json"))
                .unwrap();
        let response = handle(event).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"],
            "text/plain; charset=utf-8"
        );
        assert_eq!(response.body().as_ref(), b"Hello World!");
    }
}
