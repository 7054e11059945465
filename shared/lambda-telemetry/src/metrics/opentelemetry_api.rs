//! The OpenTelemetry metrics API, answered so that it cannot be mistaken for the way to record:
//! lambda-telemetry records with the `metrics` facade, and a meter asked of
//! `opentelemetry::global` is a no-op that says so in one WARN line, instead of the silent
//! no-op the API would hand out with no provider installed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::InstrumentationScope;
use opentelemetry::metrics::{InstrumentProvider, Meter, MeterProvider};

/// The global meter provider lambda-telemetry installs.
#[derive(Debug, Default)]
pub(crate) struct FacadeOnly {
    said: AtomicBool,
}

/// Every instrument a no-op: the API's defaults.
struct Noop;

impl InstrumentProvider for Noop {}

impl MeterProvider for FacadeOnly {
    fn meter_with_scope(&self, scope: InstrumentationScope) -> Meter {
        if !self.said.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                scope = scope.name(),
                "an OpenTelemetry meter records nothing here: lambda-telemetry's metrics are recorded with the `metrics` crate's macros (counter!, histogram!, gauge!), README \"Metrics\""
            );
        }
        Meter::new(Arc::new(Noop))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LogFormat;
    use crate::logs::testing::capture;

    /// A meter asked for is said once, whatever the scope: the first call is the mistake.
    #[test]
    fn an_opentelemetry_meter_says_once_that_it_records_nothing() {
        let provider = FacadeOnly::default();
        let lines = capture(LogFormat::Json, || {
            let meter = provider.meter("app");
            meter.u64_counter("orders").build().add(1, &[]);
            provider.meter("other");
        });
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains("\"WARN\"") && lines[0].contains("counter!"));
    }
}
