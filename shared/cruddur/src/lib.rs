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
use std::process::ExitCode;

use http::Method;
use lambda_http::{Body, Request, Response, Service, service_fn};
use lambda_telemetry::{CatchFailureLayer, LocatedError};
use tower::{Layer as _, ServiceExt as _};

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
    run(telemetry, app(handler, &cors::origins_from_env())).await
}

/// Serves [`not_found`] as a Lambda function, the way [`serve`] serves a route. It is the
/// `not-found` binary, which `make serve` routes every path no function has to, in place of
/// the gateway response API Gateway answers such a path with (template.yaml,
/// `MISSING_AUTHENTICATION_TOKEN`). It has no route: the request matched none, and
/// OpenTelemetry leaves `http.route` out then.
pub async fn serve_not_found() -> ExitCode {
    run(
        lambda_telemetry::init(),
        not_found(&cors::origins_from_env()),
    )
    .await
}

async fn run<S>(telemetry: lambda_telemetry::Telemetry, app: S) -> ExitCode
where
    S: Service<Request, Response = Response<Body>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    match telemetry.run(app).await {
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
    let respond = service_fn(move |request: Request| respond(handler.clone(), request));
    // Inside CORS, so that a browser can read the 500 too.
    let failures = CatchFailureLayer::new(error::internal_server_error);
    cors::layer(origins).layer(failures.layer(respond))
}

/// The API's answer to a path none of its routes has, as deployed: `404 ["not_found"]` to
/// every method, with the CORS headers of an actual request. API Gateway answers such a path
/// with its gateway response whatever the method, a preflight's `OPTIONS` too, so a preflight
/// is not answered as one here either.
pub fn not_found(
    origins: &[String],
) -> impl Service<Request, Response = Response<Body>, Error = Infallible, Future: Send + 'static>
+ Clone
+ Send
+ use<> {
    let answer = service_fn(|_: Request| async { Ok(Error::NotFound.into_response()) });
    let cors = cors::layer(origins).layer(answer);
    service_fn(move |mut request: Request| {
        // tower-http answers every OPTIONS as a preflight; shown a GET, it adds the headers
        // of an actual request to the 404.
        if request.method() == Method::OPTIONS {
            *request.method_mut() = Method::GET;
        }
        cors.clone().oneshot(request)
    })
}

/// The handler's answer, or its own errors' (4xx); an internal error goes on to
/// lambda-telemetry's [`CatchFailure`](lambda_telemetry::CatchFailure), which owns failures:
/// it logs and reports them (and a panic) once, and answers them.
async fn respond<H, F>(handler: H, request: Request) -> Result<Response<Body>, LocatedError>
where
    H: Fn(Request) -> F,
    F: Future<Output = Result<Response<Body>>>,
{
    // Every Cruddur route reads; preflights never get here (CORS answers them).
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        return Ok(Error::MethodNotAllowed.into_response());
    }
    match handler(request).await {
        Ok(response) => Ok(response),
        Err(Error::Internal(error)) => Err(error),
        Err(error) => Ok(error.into_response()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

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
    }

    /// The Fetch standard: a preflight's `Access-Control-Allow-Methods` lists the methods the
    /// resource allows; RFC 9110: a 405's `Allow` lists "the methods supported by the target
    /// resource". Both are the methods every route answers, and nothing else (no POST).
    #[tokio::test]
    async fn a_preflight_allows_exactly_the_methods_a_405_names() {
        let preflight = call(
            ok,
            event(include_str!("../../../events/home-preflight.json")),
        )
        .await;
        let mut request = event(include_str!("../../../events/home.json"));
        *request.method_mut() = Method::POST;
        let refused = call(ok, request).await;
        assert_eq!(refused.status(), StatusCode::METHOD_NOT_ALLOWED);
        let methods = |value: &http::HeaderValue| {
            let mut methods: Vec<String> = value
                .to_str()
                .unwrap()
                .split(',')
                .map(|m| m.trim().to_owned())
                .collect();
            methods.sort();
            methods
        };
        assert_eq!(
            methods(&preflight.headers()["access-control-allow-methods"]),
            ["GET", "HEAD", "OPTIONS"]
        );
        assert_eq!(
            methods(&refused.headers()["allow"]),
            ["GET", "HEAD", "OPTIONS"]
        );
    }

    /// API Gateway answers a path it has no resource for with one gateway response, whatever
    /// the method; the local stand-in does the same: `404 ["not_found"]`, with the CORS
    /// headers of an actual request for an allowed origin, a preflight included.
    #[tokio::test]
    async fn an_unrouted_path_is_404_not_found_to_every_method() {
        let origins = vec![FRONTEND.to_owned()];
        for method in [
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::DELETE,
            Method::OPTIONS,
        ] {
            let mut request = event(include_str!("../../../events/home-preflight.json"));
            *request.method_mut() = method.clone();
            let response = not_found(&origins).oneshot(request).await.unwrap();
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method}");
            let headers = response.headers();
            assert_eq!(headers["content-type"], "application/json", "{method}");
            assert_eq!(headers["access-control-allow-origin"], FRONTEND, "{method}");
            assert_eq!(
                headers["access-control-expose-headers"],
                "location,link,traceresponse,x-amzn-trace-id",
                "{method}"
            );
            assert!(
                headers.get("access-control-allow-methods").is_none(),
                "{method}"
            );
            assert_eq!(response.body().as_ref(), br#"["not_found"]"#, "{method}");
        }
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
