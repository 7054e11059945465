//! Rollbar's levels, and how [`report_message`](super::report_message) asks for an item.

use std::cell::RefCell;

/// Rollbar's levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// `debug`
    Debug,
    /// `info`
    Info,
    /// `warning`
    Warning,
    /// `error`
    Error,
    /// `critical`
    Critical,
}

impl Level {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Error => "error",
            Level::Critical => "critical",
        }
    }

    pub(super) fn of(level: tracing::Level) -> Self {
        match level {
            tracing::Level::ERROR => Level::Error,
            tracing::Level::WARN => Level::Warning,
            tracing::Level::INFO => Level::Info,
            _ => Level::Debug,
        }
    }
}

/// The target of the log event [`report_message`](super::report_message) writes: its item is
/// made whatever `ROLLBAR_LEVEL` says.
pub(super) const REPORT_TARGET: &str = "lambda_telemetry::report";

thread_local! {
    /// The uuid of the item the last `report_message` on this thread made: the reporter makes
    /// it inside the `tracing` call, on this thread, and `report_message` takes it back after.
    static LAST_REPORT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Keeps the uuid of the item made for `report_message`'s event.
pub(super) fn hand_back(uuid: Option<String>) {
    LAST_REPORT.with(|last| *last.borrow_mut() = uuid);
}

/// The uuid [`hand_back`] kept on this thread, if any.
pub(super) fn take_handed_back() -> Option<String> {
    LAST_REPORT.with(|last| last.borrow_mut().take())
}
