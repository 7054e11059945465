//! Panics become log lines: a JSON line at ERROR, inside the invocation's span, instead of
//! the standard library's text on stderr that Logs Insights cannot parse.

use std::backtrace::{Backtrace, BacktraceStatus};
use std::panic::PanicHookInfo;

/// Replaces the panic hook. The standard hook is not chained: its text output would break
/// the one-JSON-object-per-line promise.
pub(crate) fn install_hook() {
    std::panic::set_hook(Box::new(log_panic));
}

fn log_panic(info: &PanicHookInfo<'_>) {
    let message = payload_message(info.payload());
    let location = info
        .location()
        .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
    // Captured only when RUST_BACKTRACE or RUST_LIB_BACKTRACE asks for it, as std does.
    let backtrace = Backtrace::capture();
    let backtrace =
        (backtrace.status() == BacktraceStatus::Captured).then(|| backtrace.to_string());
    tracing::error!(
        error = message,
        panic_location = location,
        backtrace = backtrace,
        "panicked: {message}"
    );
}

/// The text a panic carries: `panic!("...")` gives a `&str` or a `String`; anything else is
/// a payload of a type we cannot print.
pub(crate) fn payload_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic with a non-string payload")
}
