//! The one owner of a handler's failures: a handler that returns an error or panics is
//! recorded once (an ERROR line, the OpenTelemetry `exception` event on the invocation span,
//! and so a Rollbar item and an X-Ray `cause`) and answered with a response that leaks
//! nothing, and the process goes on serving.
//!
//! The [`InvocationLayer`](crate::InvocationLayer) wraps every handler in a [`CatchFailure`]
//! with a generic 500. An application that answers its failures in its own shape, inside
//! layers that must still see the answer (CORS, so a browser can read the 500), puts a
//! [`CatchFailureLayer`] with its response where it wants it; the failure is recorded by the
//! same code either way.

use std::any::Any;
use std::convert::Infallible;
use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, Location};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::FutureExt as _;
use http::{StatusCode, header};
use lambda_http::{Body, IntoResponse, Request, Response};
use opentelemetry::KeyValue;
use tower::{Layer, Service};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::constants::log_keys;

pub(crate) type BoxError = Box<dyn StdError + Send + Sync>;

/// A handler's error with the place in the handler's code it was raised, so that the ERROR
/// line names it in `error_location` and the Rollbar item gets it as its top frame.
///
/// It is transparent: its text and its `source()` are those of the error it wraps, so the
/// cause chain reads as if it were not there.
#[derive(Debug)]
pub struct LocatedError {
    error: BoxError,
    location: &'static Location<'static>,
}

impl LocatedError {
    /// `error`, raised where this is called (`#[track_caller]`).
    #[track_caller]
    pub fn new(error: impl Into<BoxError>) -> Self {
        Self::at(error, Location::caller())
    }

    /// `error`, raised at `location`: for an error type that already took its caller's place.
    pub fn at(error: impl Into<BoxError>, location: &'static Location<'static>) -> Self {
        Self {
            error: error.into(),
            location,
        }
    }

    /// Where the error was raised.
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }
}

impl fmt::Display for LocatedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl StdError for LocatedError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.error.source()
    }
}

/// Wraps a handler in [`CatchFailure`], answering each failure with `response()`.
#[derive(Clone, Copy, Debug)]
pub struct CatchFailureLayer {
    response: fn() -> Response<Body>,
}

impl CatchFailureLayer {
    /// Failures are answered with `response()`: a status and a body that say nothing of the
    /// cause (it goes to the log, never to the client).
    pub fn new(response: fn() -> Response<Body>) -> Self {
        Self { response }
    }
}

impl Default for CatchFailureLayer {
    /// Failures are answered `500 {"message":"Internal Server Error"}`, API Gateway's own
    /// words for its 500.
    fn default() -> Self {
        Self::new(internal_server_error)
    }
}

impl<S> Layer<S> for CatchFailureLayer {
    type Service = CatchFailure<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CatchFailure {
            inner,
            response: self.response,
            unready: None,
        }
    }
}

/// A handler whose errors and panics are recorded and answered: see the module. It never
/// fails: a handler that cannot take requests (`poll_ready` fails) is a failure of the next
/// call, recorded and answered like the others.
#[derive(Debug)]
pub struct CatchFailure<S> {
    inner: S,
    response: fn() -> Response<Body>,
    unready: Option<BoxError>,
}

impl<S: Clone> Clone for CatchFailure<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            response: self.response,
            unready: None,
        }
    }
}

impl<S> Service<Request> for CatchFailure<S>
where
    S: Service<Request>,
    S::Response: IntoResponse + Send,
    S::Error: Into<BoxError> + Send,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        match self.inner.poll_ready(cx) {
            Poll::Ready(Err(error)) => {
                self.unready = Some(error.into());
                Poll::Ready(Ok(()))
            }
            other => other.map(|_| Ok(())),
        }
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let response = self.response;
        if let Some(error) = self.unready.take() {
            // tower's contract: a service whose `poll_ready` failed is not called.
            record_error(error);
            return Box::pin(std::future::ready(Ok(response())));
        }
        // A handler can panic before it returns its future, as well as while it runs.
        let call = std::panic::catch_unwind(AssertUnwindSafe(|| self.inner.call(request)));
        Box::pin(async move {
            let outcome = match call {
                Ok(future) => AssertUnwindSafe(future).catch_unwind().await,
                Err(panic) => Err(panic),
            };
            Ok(match outcome {
                Ok(Ok(answer)) => answer.into_response().await,
                Ok(Err(error)) => {
                    record_error(error.into());
                    response()
                }
                Err(panic) => {
                    record_panic(&*panic);
                    response()
                }
            })
        })
    }
}

/// A failed handler: its ERROR line (with the error's location when it is a
/// [`LocatedError`]) and the `exception` event.
fn record_error(error: BoxError) {
    let (cause, location): (&(dyn StdError + 'static), _) =
        match error.downcast_ref::<LocatedError>() {
            Some(located) => (&*located.error, Some(located.location)),
            None => (&*error, None),
        };
    // The lines held for this moment come first, whatever `flush_on_error_log` says.
    crate::logs::buffer::flush_log_buffer();
    tracing::error!(
        { log_keys::ERROR } = cause,
        { log_keys::ERROR_LOCATION } = location.map(tracing::field::display),
        "handler failed"
    );
    record_exception("error", crate::error::cause_chain(cause), None);
}

/// A panicked handler: the panic hook has logged the message and the location; the
/// `exception` event carries them and the backtrace.
fn record_panic(panic: &(dyn Any + Send)) {
    let (location, backtrace) = crate::panics::take_last_panic();
    let message = crate::panics::payload_message(panic);
    let message = match location {
        Some(location) => format!("{message} at {location}"),
        None => message.to_owned(),
    };
    record_exception("panic", message, backtrace);
}

/// An OpenTelemetry `exception` event on the current span: the semantic conventions' record
/// of a failure, which OTLP backends show and the X-Ray exporter turns into a `cause`.
fn record_exception(kind: &'static str, message: String, stacktrace: Option<String>) {
    let mut attributes = vec![
        KeyValue::new("exception.type", kind),
        KeyValue::new("exception.message", message),
    ];
    if let Some(stacktrace) = stacktrace {
        attributes.push(KeyValue::new("exception.stacktrace", stacktrace));
    }
    tracing::Span::current().add_event("exception", attributes);
}

/// What a client sees when the handler failed: a status and nothing that helps an attacker.
fn internal_server_error() -> Response<Body> {
    let mut response = Response::new(Body::from(r#"{"message":"Internal Server Error"}"#));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LogFormat;
    use crate::logs::testing::capture;
    use tower::ServiceExt as _;

    #[derive(Debug)]
    struct Outer(std::io::Error);

    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("saving the activity")
        }
    }

    impl StdError for Outer {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.0)
        }
    }

    /// A `LocatedError` adds a place and nothing else: its text and its cause chain are the
    /// wrapped error's, and the place is the line that made it.
    #[test]
    fn a_located_error_reads_as_the_error_it_wraps_and_knows_its_line() {
        let line = line!() + 1;
        let located = LocatedError::new(Outer(std::io::Error::other("disk full")));
        assert_eq!(located.to_string(), "saving the activity");
        assert_eq!(
            crate::error::cause_chain(&located),
            "saving the activity: disk full"
        );
        assert_eq!(located.location().file(), file!());
        assert_eq!(located.location().line(), line);
    }

    fn request() -> Request {
        Request::new(Body::Empty)
    }

    fn teapot() -> Response<Body> {
        let mut response = Response::new(Body::from("custom"));
        *response.status_mut() = StatusCode::IM_A_TEAPOT;
        response
    }

    fn answer(
        service: impl Service<Request, Response = Response<Body>, Error = Infallible>,
    ) -> (StatusCode, Vec<String>) {
        let mut status = None;
        let lines = capture(LogFormat::Json, || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            let Ok(response) = runtime.block_on(service.oneshot(request()));
            status = Some(response.status());
        });
        (status.unwrap(), lines)
    }

    /// Every failure ends in the application's own answer, and its ERROR line: an error
    /// (with the place a `LocatedError` names), and a handler that cannot take requests at
    /// all, which tower says must not be called then.
    #[test]
    fn every_failure_gets_the_given_answer_and_one_error_line() {
        let failing = CatchFailureLayer::new(teapot).layer(tower::service_fn(|_: Request| async {
            Err::<Response<Body>, _>(LocatedError::new("no database"))
        }));
        let (status, lines) = answer(failing);
        assert_eq!(status, StatusCode::IM_A_TEAPOT);
        assert_eq!(lines.len(), 1, "{lines:#?}");
        let line: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(line["message"], "handler failed");
        assert_eq!(line["error"], "no database");
        assert!(
            line["error_location"]
                .as_str()
                .is_some_and(|l| l.starts_with(concat!(file!(), ":"))),
            "{line}"
        );

        #[derive(Clone)]
        struct Unready;
        impl Service<Request> for Unready {
            type Response = Response<Body>;
            type Error = BoxError;
            type Future = std::future::Ready<Result<Response<Body>, BoxError>>;
            fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
                Poll::Ready(Err("the pool is closed".into()))
            }
            fn call(&mut self, _: Request) -> Self::Future {
                panic!("called although not ready")
            }
        }
        let (status, lines) = answer(CatchFailureLayer::new(teapot).layer(Unready));
        assert_eq!(status, StatusCode::IM_A_TEAPOT);
        assert_eq!(lines.len(), 1, "{lines:#?}");
        assert!(
            lines[0].contains(r#""error":"the pool is closed""#),
            "{}",
            lines[0]
        );
    }
}
