//! The crate's one error type.

use std::fmt;

/// What can go wrong in this crate.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The Lambda runtime stopped: it could not reach the Runtime API or was not started
    /// inside Lambda (or `cargo lambda watch`).
    Runtime(lambda_http::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Runtime(_) => f.write_str("the Lambda runtime stopped"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Runtime(source) => Some(source.as_ref()),
        }
    }
}

/// `outer: inner: root cause`, as `anyhow` prints a chain with `{:#}`: the cause is what
/// people search for.
pub(crate) fn cause_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
