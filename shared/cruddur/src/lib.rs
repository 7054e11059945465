//! Cruddur's domain: the activity model, the mock data, and the HTTP edges every function
//! shares (JSON responses, error codes, CORS).
//!
//! A function is a plain async handler served by [`serve`]:
//!
//! ```no_run
//! use cruddur::{Result, mock, response};
//! use lambda_http::{Body, Request, Response};
//!
//! async fn handle(_request: Request) -> Result<Response<Body>> {
//!     let activities = mock::home_activities(chrono::Utc::now());
//!     Ok(response::json(http::StatusCode::OK, &activities))
//! }
//!
//! #[tokio::main]
//! async fn main() -> std::process::ExitCode {
//!     cruddur::serve("/api/activities/home", handle).await
//! }
//! ```
#![warn(missing_docs, rust_2018_idioms)]

/// CORS from `FRONTEND_URL` and `BACKEND_URL`.
pub mod cors;
/// The app's errors and their HTTP answers.
mod error;
/// The original's mock data.
pub mod mock;
/// The activity model.
mod model;
/// Response builders.
pub mod response;

use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::process::ExitCode;

use futures_util::FutureExt as _;
use http::Method;
use lambda_http::{Body, Request, Response, Service, service_fn};
use tower::Layer as _;

pub use error::{Error, Result};
pub use model::Activity;

/// Serves `handler` as a Cruddur Lambda function, with the telemetry of `lambda-telemetry`
/// and CORS from the environment, until the runtime stops. A runtime that cannot start is
/// logged as a JSON line too, and the process exits with a failure code.
///
/// `route` is the function's path in template.yaml (`/api/activities/{handle}`): API
/// Gateway's events name it, the local ones (`make serve`, function URLs) do not, and with it
/// the span's name, `http.route` and the log lines' `route` are the same in both.
pub async fn serve<H, F>(route: &str, handler: H) -> ExitCode
where
    H: Fn(Request) -> F + Clone + Send + 'static,
    F: Future<Output = Result<Response<Body>>> + Send + 'static,
{
    let telemetry = lambda_telemetry::Config::from_env()
        .with_route(route)
        .init();
    match telemetry.run(app(handler, &cors::origins_from_env())).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(
                error = &error as &dyn std::error::Error,
                "the function stopped"
            );
            ExitCode::FAILURE
        }
    }
}

/// The service [`serve`] runs, without the Lambda runtime: CORS around `handler`, with the
/// handler's errors and panics answered inside CORS, so a browser can read even a 500.
pub fn app<H, F>(
    handler: H,
    origins: &[String],
) -> impl Service<Request, Response = Response<Body>, Error = Infallible, Future: Send + 'static>
+ Clone
+ Send
+ use<H, F>
where
    H: Fn(Request) -> F + Clone + Send + 'static,
    F: Future<Output = Result<Response<Body>>> + Send + 'static,
{
    let respond = service_fn(move |request: Request| {
        let handler = handler.clone();
        async move { Ok::<_, Infallible>(respond(handler, request).await) }
    });
    cors::layer(origins).layer(respond)
}

async fn respond<H, F>(handler: H, request: Request) -> Response<Body>
where
    H: Fn(Request) -> F,
    F: Future<Output = Result<Response<Body>>>,
{
    // Every Cruddur route reads; preflights never get here (CORS answers them).
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        return Error::MethodNotAllowed.into_response();
    }
    let outcome = AssertUnwindSafe(async move { handler(request).await })
        .catch_unwind()
        .await;
    match outcome {
        Ok(Ok(response)) => response,
        Ok(Err(error)) => error.into_response(),
        Err(_panic) => Error::Panicked.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;
    use tower::ServiceExt as _;

    const FRONTEND: &str = "http://localhost:3000";

    fn event(json: &str) -> Request {
        lambda_http::request::from_str(json).expect("a valid API Gateway event")
    }

    async fn ok(_: Request) -> Result<Response<Body>> {
        Ok(response::text("ok"))
    }

    async fn call<H, F>(handler: H, request: Request) -> Response<Body>
    where
        H: Fn(Request) -> F + Clone + Send + 'static,
        F: Future<Output = Result<Response<Body>>> + Send + 'static,
    {
        let origins = vec![format!("{FRONTEND}/"), "https://api.example.com".to_owned()];
        app(handler, &origins).oneshot(request).await.unwrap()
    }

    #[tokio::test]
    async fn an_allowed_origin_gets_cors_headers() {
        let response = call(ok, event(include_str!("../../../events/home.json"))).await;
        let headers = response.headers();
        assert_eq!(headers["access-control-allow-origin"], FRONTEND);
        // The Fetch standard: a response header that is not CORS-safelisted is readable by a
        // page only when `Access-Control-Expose-Headers` names it.
        assert_eq!(
            headers["access-control-expose-headers"],
            "location,link,traceresponse,x-amzn-trace-id"
        );
        assert!(headers.get("access-control-allow-credentials").is_none());
    }

    #[tokio::test]
    async fn a_foreign_origin_gets_no_allow_origin() {
        let response = call(
            ok,
            event(include_str!("../../../events/home-foreign-origin.json")),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            response
                .headers()
                .get("access-control-allow-origin")
                .is_none()
        );
    }

    #[tokio::test]
    async fn a_preflight_allows_the_trace_headers() {
        let response = call(
            ok,
            event(include_str!("../../../events/home-preflight.json")),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers();
        assert_eq!(headers["access-control-allow-origin"], FRONTEND);
        let allowed = headers["access-control-allow-headers"].to_str().unwrap();
        for header in [
            "content-type",
            "if-modified-since",
            "traceparent",
            "tracestate",
            "authorization",
        ] {
            assert!(allowed.contains(header), "{header} not in {allowed}");
        }
        assert_eq!(
            headers["access-control-allow-methods"],
            "OPTIONS,GET,HEAD,POST"
        );
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_a_generic_500_that_a_browser_can_read() {
        async fn panics(_: Request) -> Result<Response<Body>> {
            panic!("secret detail")
        }
        let response = call(panics, event(include_str!("../../../events/home.json"))).await;
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()["access-control-allow-origin"], FRONTEND);
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(response.body().as_ref(), br#"["internal_server_error"]"#);
    }

    #[tokio::test]
    async fn a_failing_handler_answers_a_generic_500() {
        async fn fails(_: Request) -> Result<Response<Body>> {
            Err(Error::internal("database password=hunter2 rejected"))
        }
        let response = call(fails, event(include_str!("../../../events/home.json"))).await;
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.body().as_ref(), br#"["internal_server_error"]"#);
    }

    #[tokio::test]
    async fn a_method_the_route_does_not_have_is_405() {
        let mut request = event(include_str!("../../../events/home.json"));
        *request.method_mut() = Method::DELETE;
        let response = call(ok, request).await;
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()["allow"], "GET, HEAD, OPTIONS");
    }
}
