//! Panics become log lines: a JSON line at ERROR, inside the invocation's span, instead of
//! the standard library's text on stderr that Logs Insights cannot parse.

use std::backtrace::{Backtrace, BacktraceStatus};
use std::cell::{Cell, RefCell};
use std::panic::{PanicHookInfo, UnwindSafe};

thread_local! {
    /// Where the last panic on this thread happened, and its backtrace when one was captured:
    /// the hook knows them, the code that catches the panic does not.
    static LAST_PANIC: RefCell<Option<(Option<String>, Option<String>)>> = const { RefCell::new(None) };
    /// Set while [`catch_quietly`] runs: its caller reports the panic itself.
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` and catches its panic without the hook's ERROR line, for a caller that reports
/// the failure itself, once, where it knows which invocation it belongs to. The error is the
/// panic's message and location.
pub(crate) fn catch_quietly<R>(f: impl FnOnce() -> R + UnwindSafe) -> Result<R, String> {
    let was = QUIET.with(|quiet| quiet.replace(true));
    let result = std::panic::catch_unwind(f);
    QUIET.with(|quiet| quiet.set(was));
    result.map_err(|panic| {
        let message = payload_message(&*panic);
        match take_last_panic().0 {
            Some(location) => format!("{message} at {location}"),
            None => message.to_owned(),
        }
    })
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
    if QUIET.with(Cell::get) {
        LAST_PANIC.with(|last| *last.borrow_mut() = Some((location, None)));
        return;
    }
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
