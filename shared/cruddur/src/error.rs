//! The app's errors, and the one place that maps them to HTTP answers.

use std::fmt;

use lambda_telemetry::LocatedError;

use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};

use crate::response::json;

/// Why a request did not get its data. Each variant is answered with a status and the JSON
/// list of error codes the front end reads (`["blank_user_handle"]`).
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// `/api/activities/@` with nothing after the `@`.
    BlankUserHandle,
    /// A handle longer than any real one.
    UserHandleTooLong,
    /// A handle with characters no handle has (control characters, `/`, bad encoding).
    InvalidUserHandle,
    /// Nothing lives at this path.
    NotFound,
    /// The route exists but not for this method.
    MethodNotAllowed,
    /// The handler could not do its job: what went wrong and where the handler gave up.
    /// [`serve`](crate::serve) hands it to lambda-telemetry, which logs and reports it and
    /// answers `500 ["internal_server_error"]`; the cause is never sent.
    Internal(LocatedError),
}

/// `Result` with the app's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Methods every Cruddur route answers, for the `Allow` header of a 405.
const ALLOWED_METHODS: &str = "GET, HEAD, OPTIONS";

impl Error {
    /// An internal error, remembering where it was raised so the log line can say so.
    #[track_caller]
    pub fn internal(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Error::Internal(LocatedError::new(source))
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::BlankUserHandle | Error::UserHandleTooLong | Error::InvalidUserHandle => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Error::NotFound => StatusCode::NOT_FOUND,
            Error::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The code the front end reads.
    pub fn code(&self) -> &'static str {
        match self {
            Error::BlankUserHandle => "blank_user_handle",
            Error::UserHandleTooLong => "user_handle_too_long",
            Error::InvalidUserHandle => "invalid_user_handle",
            Error::NotFound => "not_found",
            Error::MethodNotAllowed => "method_not_allowed",
            Error::Internal(_) => INTERNAL_SERVER_ERROR,
        }
    }

    /// The response: the status and `[code]`. A 500 says nothing more than
    /// `["internal_server_error"]`; logging its cause is lambda-telemetry's (see [`serve`](crate::serve)).
    pub fn into_response(self) -> Response<Body> {
        let mut response = json(self.status(), &[self.code()]);
        if let Error::MethodNotAllowed = self {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(ALLOWED_METHODS));
        }
        response
    }
}

/// The answer to a handler that failed or panicked, whatever the cause:
/// `500 ["internal_server_error"]`.
pub(crate) fn internal_server_error() -> Response<Body> {
    json(StatusCode::INTERNAL_SERVER_ERROR, &[INTERNAL_SERVER_ERROR])
}

/// The code of every 500.
const INTERNAL_SERVER_ERROR: &str = "internal_server_error";

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Internal(error) => write!(f, "{error} (at {})", error.location()),
            other => f.write_str(other.code()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Internal(error) => Some(error),
            _ => None,
        }
    }
}
