//! Error reporting to Rollbar, linked to the trace (feature `rollbar`, on by default).
//!
//! No Rust Rollbar client is fit for use (crates.io `rollbar` 0.7 is built on tokio 0.1 and
//! hyper 0.12; Rollbar's `rollbar-rust` was never published), so this is a small one on the
//! crate's reqwest client.
//!
//! Items come from three places: `tracing` events at or above `ROLLBAR_LEVEL` (default
//! `error`; panics and failed handlers are such events), and [`report_message`]. Each is
//! queued with a client-made uuid, which the log line of the same event carries as
//! `rollbar_uuid`, and sent during the flush after the response, inside the flush budget. Items
//! beyond `ROLLBAR_MAX_ITEMS` per invocation are counted, not sent; a Rollbar that answers 429,
//! 5xx or nothing costs its items (counted, one WARN), never the response. The token and the
//! payload are never logged.

mod item;
mod level;
mod reporter;
mod request;

use std::sync::Arc;
use std::time::Instant;

use futures_util::future::BoxFuture;
use serde_json::Value;

use super::loss::{Counts, Loss, Lost};
use super::sink::{Batch, Setup, Sink};
use crate::constants::log_keys;
use crate::logs::hooks::{self, EventHook, LogEvent};
pub use level::Level;
use level::REPORT_TARGET;
use reporter::Reporter;

/// Reports `text` at `level`, whatever `ROLLBAR_LEVEL` says, with the current request, trace
/// and Lambda context. It is written as a log line too (at the matching log level, which the
/// log filter must let through), and that line carries the item's uuid, which this returns;
/// `None` when reporting is off or the invocation's cap is reached.
pub fn report_message(level: Level, text: &str) -> Option<String> {
    // On when the log layer in charge hands its events to a reporter.
    if !hooks::installed::<Reporter>() {
        return None;
    }
    match level {
        Level::Debug => tracing::debug!(target: REPORT_TARGET, "{text}"),
        Level::Info => tracing::info!(target: REPORT_TARGET, "{text}"),
        Level::Warning => tracing::warn!(target: REPORT_TARGET, "{text}"),
        Level::Error => tracing::error!(target: REPORT_TARGET, "{text}"),
        Level::Critical => {
            tracing::error!(target: REPORT_TARGET, rollbar_level = "critical", "{text}")
        }
    }
    level::take_handed_back()
}

/// Items lost in a flush: refused, not answered within the budget, or over the invocation's
/// cap. One WARN line per flush, whose target keeps it from being reported to Rollbar itself.
pub(crate) static ITEMS_LOST: Lost = Lost {
    name: "rollbar_items",
    say: say_items_lost,
};

fn say_items_lost(counts: &Counts, budget: std::time::Duration) {
    tracing::warn!(
        target: "lambda_telemetry::rollbar",
        dropped_items = counts.dropped,
        over_cap_items = counts.over_cap,
        budget_ms = budget.as_millis() as u64,
        "Rollbar items were dropped: Rollbar refused or missed the flush budget, or the invocation reached ROLLBAR_MAX_ITEMS"
    );
}

/// The Rollbar sink, when `ROLLBAR_ACCESS_TOKEN` is set; said at start either way.
pub(crate) fn build(setup: &mut Setup<'_>) -> Option<Box<dyn Sink>> {
    let (reporter, said) = match Reporter::from_settings(setup.config, &mut setup.problems) {
        Ok(reporter) if reporter.token.is_given() => {
            (Some(Arc::new(reporter)), "Rollbar reporting is on")
        }
        Ok(reporter) => (
            Some(Arc::new(reporter)),
            "Rollbar reporting is on once ROLLBAR_ACCESS_TOKEN_SECRET_ARN is read",
        ),
        Err(off) => (None, off),
    };
    setup.notice(move || tracing::info!(target: "lambda_telemetry::rollbar", "{said}"));
    let reporter = reporter?;
    // Items are made from log events: the log layer hands each one to the reporter.
    setup.event_hooks.push(Arc::clone(&reporter) as _);
    Some(Box::new(Rollbar(reporter)))
}

/// The sink: sends the reporter's queue at each flush.
#[derive(Debug)]
struct Rollbar(Arc<Reporter>);

impl Sink for Rollbar {
    fn flush<'s>(&'s self, _: &mut Batch, deadline: Instant) -> BoxFuture<'s, Loss> {
        Box::pin(async move { Loss::of(&ITEMS_LOST, self.0.flush(deadline).await) })
    }
}

/// The item of every event at or above `ROLLBAR_LEVEL` (and of `report_message`), named on
/// the event's line by its uuid.
impl EventHook for Reporter {
    fn on_event(&self, event: &LogEvent<'_>) -> Option<(&'static str, Value)> {
        let uuid = self.capture(event)?;
        Some((log_keys::ROLLBAR_UUID, Value::from(uuid)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LogFormat;
    use crate::logs::hooks::EventHooks;
    use crate::logs::testing::{capture, capture_hooked, config};
    use tracing_subscriber::filter::LevelFilter;

    /// No global decides whether Rollbar is on: `report_message` reports when the log layer in
    /// charge hands its events to a reporter, and its line names the item; under a layer
    /// without one it returns `None` and writes nothing.
    #[test]
    fn report_message_reports_through_the_log_layer_in_charge_only() {
        let reporter = Reporter::from_settings(
            &reporter::tests::config_of(&[(crate::constants::ROLLBAR_ACCESS_TOKEN, "canary")]),
            &mut Vec::new(),
        )
        .unwrap();
        let hooks = EventHooks::new(vec![Arc::new(reporter)]);
        let mut uuid = None;
        let lines = capture_hooked(config(LogFormat::Json), LevelFilter::INFO, hooks, || {
            uuid = report_message(Level::Warning, "Hello World!");
        });
        let uuid = uuid.expect("an item was made");
        let [line] = lines.as_slice() else {
            panic!("{lines:#?}")
        };
        let line: Value = serde_json::from_str(line).unwrap();
        assert_eq!(line["rollbar_uuid"], uuid.as_str());
        assert_eq!(line["message"], "Hello World!");

        let lines = capture(LogFormat::Json, || {
            assert_eq!(report_message(Level::Warning, "Hello World!"), None);
        });
        assert!(lines.is_empty(), "{lines:#?}");
    }
}
