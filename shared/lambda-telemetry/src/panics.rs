//! Panics become log lines: a JSON line at ERROR, inside the invocation's span, instead of
//! the standard library's text on stderr that Logs Insights cannot parse.

use std::backtrace::{Backtrace, BacktraceStatus};
use std::cell::RefCell;
use std::panic::PanicHookInfo;

thread_local! {
    /// Where the last panic on this thread happened, and its backtrace when one was captured:
    /// the hook knows them, the code that catches the panic does not.
    static LAST_PANIC: RefCell<Option<(Option<String>, Option<String>)>> = const { RefCell::new(None) };
}

/// The location and backtrace of the panic just caught on this thread, if the hook saw it.
pub(crate) fn take_last_panic() -> (Option<String>, Option<String>) {
    LAST_PANIC
        .with(|last| last.borrow_mut().take())
        .unwrap_or_default()
}

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
    LAST_PANIC.with(|last| *last.borrow_mut() = Some((location, backtrace)));
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
