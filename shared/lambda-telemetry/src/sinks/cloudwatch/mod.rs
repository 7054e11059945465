//! Log lines shipped to a CloudWatch Logs group off Lambda (feature `cloudwatch`), the way the
//! original's watchtower did, beside the console.
//!
//! On with `CLOUDWATCH_LOG_GROUP`, and never in Lambda (`LAMBDA_TASK_ROOT` set), where stdout
//! already reaches CloudWatch. Each line the log layer writes is queued byte for byte (a mutex
//! push: the request path never waits on the network) and sent with PutLogEvents in the flush
//! after each invocation, within the flush budget, every few seconds between invocations, and
//! at shutdown.
//!
//! Not the `tracing-cloudwatch` crate (0.4): it batches by event count only (no byte or 24-hour
//! limit), has no bounded queue or loss count, and cannot flush on Lambda's schedule; and it
//! would format lines its own way instead of shipping the ones on the console.
//!
//! Delivery: batches keep PutLogEvents' limits (1,048,576 bytes counting 26 per event, 10,000
//! events, 24 hours, time order). The SDK retries throttling and transient errors with backoff;
//! lines it could not send in time stay queued for the next flush. The queue is bounded; lines
//! that do not fit, that CloudWatch refuses, or that are still queued at shutdown are counted
//! and said in one WARN per episode of trouble, and the recovery in one INFO with the total.
//! The SDK's own calls are made with `tracing` silenced: they would otherwise log about
//! shipping logs, and feed themselves.

mod aws;
mod batch;
mod settings;
mod shipper;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;

use super::loss::{Counts, Loss, Lost};
use super::sink::{Batch, Setup, Sink};
use crate::constants::CLOUDWATCH_LOG_GROUP;
use settings::Settings;
use shipper::Shipper;

/// The CloudWatch Logs sink, when `CLOUDWATCH_LOG_GROUP` is set, off Lambda; said at start.
pub(crate) fn build(setup: &mut Setup<'_>) -> Option<Box<dyn Sink>> {
    let group = setup.config.cloudwatch.group.clone()?;
    if setup.config.runtime.task_root.is_some() {
        setup.notice(|| {
            tracing::info!(
                target: "lambda_telemetry::cloudwatch",
                "{CLOUDWATCH_LOG_GROUP} is ignored in Lambda: stdout already reaches CloudWatch Logs"
            )
        });
        return None;
    }
    let settings = Settings::new(group, setup.config);
    let said = format!(
        "shipping log lines to CloudWatch Logs group {} stream {}",
        settings.group, settings.stream
    );
    let shipper = Shipper::new(settings);
    setup.notice(move || tracing::info!(target: "lambda_telemetry::cloudwatch", "{said}"));
    let shipper = Arc::new(shipper);
    // Every log line is queued as it is written: a copy composed into the log layer's writer.
    setup.line_copies.push(Arc::clone(&shipper) as _);
    Some(Box::new(CloudwatchLogs(shipper)))
}

/// The sink: sends the queued lines at each flush, between invocations and at shutdown. Its
/// losses are said by the shipper, once per episode of trouble rather than once per flush;
/// the flush only counts them, for the `lambda_telemetry.lost` metric.
#[derive(Debug)]
struct CloudwatchLogs(Arc<Shipper>);

impl Sink for CloudwatchLogs {
    fn flush<'s>(&'s self, _: &mut Batch, deadline: Instant) -> BoxFuture<'s, Loss> {
        Box::pin(async move {
            self.0.flush(deadline).await;
            lines_lost(self.0.take_lost_since_flush())
        })
    }

    fn close(&self, deadline: Instant) -> BoxFuture<'_, Loss> {
        Box::pin(async move {
            self.0.close(deadline).await;
            lines_lost(self.0.take_lost_since_flush())
        })
    }

    fn start_background(&self, budget: Duration) {
        self.0.start_background(budget);
    }
}

/// Log lines lost: counted for the metric, said by the shipper (once per episode), not here.
static LOG_LINES_LOST: Lost = Lost {
    name: "log_lines",
    say: |_, _| {},
};

fn lines_lost(dropped: u64) -> Loss {
    Loss::of(
        &LOG_LINES_LOST,
        Counts {
            dropped,
            ..Counts::default()
        },
    )
}
