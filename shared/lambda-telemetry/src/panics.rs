//! Panics become log lines: a JSON line at ERROR, inside the invocation's span, instead of
//! the standard library's text on stderr that Logs Insights cannot parse.

use std::backtrace::{Backtrace, BacktraceStatus};
use std::cell::{Cell, RefCell};
use std::panic::{PanicHookInfo, UnwindSafe};

use crate::constants::log_keys;

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
    // A panic in an invocation writes the lines it held first, as a failure does.
    crate::logs::buffer::flush_log_buffer();
    log_line(message, location.as_deref(), backtrace.as_deref());
    LAST_PANIC.with(|last| *last.borrow_mut() = Some((location, backtrace)));
}

/// The ERROR line of a panic. The backtrace is std's text, a frame and its location to a
/// line: JSON keeps its line breaks escaped in the one line; text shows it on the lines that
/// follow.
fn log_line(message: &str, location: Option<&str>, backtrace: Option<&str>) {
    tracing::error!(
        { log_keys::ERROR } = message,
        { log_keys::PANIC_LOCATION } = location,
        { log_keys::BACKTRACE } = backtrace,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LogFormat;
    use crate::logs::testing::capture;
    use serde_json::Value;

    /// The `file:line:column` ends of a backtrace's `at` lines.
    fn locations(backtrace: &str) -> Vec<&str> {
        backtrace
            .lines()
            .filter_map(|line| line.trim_start().strip_prefix("at "))
            .collect()
    }

    /// A location keeps its line and column: `path:12:5`.
    fn has_line_and_column(location: &str) -> bool {
        let mut parts = location.rsplitn(3, ':');
        let numbers = [parts.next(), parts.next()];
        numbers
            .iter()
            .all(|n| n.is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())))
            && parts.next().is_some_and(|path| !path.is_empty())
    }

    /// The issue: "a panic's backtrace in the log loses every frame's line and column to
    /// `[REDACTED]`, and its newlines". A backtrace std really captured goes through both
    /// formats with every frame's location whole, while the secret in the panic's message is
    /// masked.
    #[test]
    fn a_panic_line_keeps_every_frame_of_a_real_backtrace_with_its_line_and_column() {
        let backtrace = Backtrace::force_capture().to_string();
        let frames = locations(&backtrace);
        assert!(frames.len() >= 3, "{backtrace}");
        assert!(frames.iter().all(|l| has_line_and_column(l)), "{backtrace}");
        let message = "lookup failed for Authorization: Bearer canary-1";
        let log = || log_line(message, Some("src/auth.rs:12:5"), Some(&backtrace));

        let json = capture(LogFormat::Json, log);
        let [line] = json.as_slice() else {
            panic!("{json:#?}")
        };
        assert!(!line.contains("canary"), "{line}");
        assert!(line.contains(r"\n"), "line breaks escaped, in one line");
        let line: Value = serde_json::from_str(line).unwrap();
        assert_eq!(line["backtrace"], backtrace.as_str(), "kept byte for byte");
        assert_eq!(line["panic_location"], "src/auth.rs:12:5");
        assert_eq!(
            line["message"],
            "panicked: lookup failed for Authorization: Bearer [REDACTED]"
        );

        let text = capture(LogFormat::Text, log);
        assert!(!text.concat().contains("canary"), "{text:#?}");
        let head = &text[0];
        assert!(
            head.contains(
                " panicked: lookup failed for Authorization: Bearer [REDACTED] \
                 panic_location=src/auth.rs:12:5"
            ),
            "{head}"
        );
        assert_eq!(text[1], "    backtrace:");
        let shown: Vec<&str> = text[2..]
            .iter()
            .map(|line| line.strip_prefix("    ").unwrap_or(line))
            .collect();
        assert_eq!(shown, backtrace.lines().collect::<Vec<_>>());
    }
}
