//! `GET /rollbar/test`: a route a deployer calls to see that error reporting works.

use cruddur::{Result, response};
use lambda_http::{Body, Request, Response};

/// `Hello World!` as plain text.
pub async fn handle(_request: Request) -> Result<Response<Body>> {
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
