//! `OTEL_TRACES_EXPORTER=counting`, in tests only: a sink that counts what it is handed. It is
//! the proof that a new sink is this file and one line in `SINKS`: it is named in the setting
//! like the others, its spans are buffered and handed over at each flush, its loss is said in
//! a line of its own, and it is closed at shutdown, with no other file touched.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;

use super::loss::{Counts, Loss, Lost};
use super::sink::{Batch, Setup, Sink};

/// What it was handed; its `Debug` shows the counts.
#[derive(Debug, Default)]
struct Counting {
    spans: AtomicU64,
    flushes: AtomicU64,
    closes: AtomicU64,
}

/// The counting sink, when `OTEL_TRACES_EXPORTER` lists `counting`.
pub(super) fn build(setup: &mut Setup<'_>) -> Option<Box<dyn Sink>> {
    setup
        .exporter("counting")
        .then(|| Box::new(Counting::default()) as Box<dyn Sink>)
}

/// Its kind of loss: it says every span it took as lost, so that a test sees its line.
static COUNTED: Lost = Lost {
    name: "counted",
    say: say_counted,
};

fn say_counted(counts: &Counts, budget: Duration) {
    tracing::warn!(
        counted_spans = counts.dropped,
        budget_ms = budget.as_millis() as u64,
        "the counting sink took spans"
    );
}

impl Sink for Counting {
    fn takes_spans(&self) -> bool {
        true
    }

    fn flush<'s>(&'s self, batch: &mut Batch, _deadline: Instant) -> BoxFuture<'s, Loss> {
        let claim = batch.spans.claim_sampled();
        Box::pin(async move {
            let taken = claim.take().len() as u64;
            self.spans.fetch_add(taken, Ordering::Relaxed);
            self.flushes.fetch_add(1, Ordering::Relaxed);
            let counts = Counts {
                dropped: taken,
                ..Counts::default()
            };
            Loss::of(&COUNTED, counts)
        })
    }

    fn close(&self, _deadline: Instant) -> BoxFuture<'_, Loss> {
        self.closes.fetch_add(1, Ordering::Relaxed);
        Loss::default().at_once()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LogFormat;
    use crate::logs::testing::{capture, config, default_sampler};
    use opentelemetry::trace::{Tracer as _, TracerProvider as _};

    /// The rule: "a new sink is one new file plus one line where sinks are listed".
    /// This file and its line in `SINKS` are all the counting sink has: named in
    /// `OTEL_TRACES_EXPORTER`, it is built, fed the spans, flushed, said and closed.
    #[test]
    fn a_new_sink_is_one_file_and_one_line_and_gets_every_span_flush_and_close() {
        let config = config(LogFormat::Json);
        let resource = crate::traces::resource(&config);
        let sinks =
            super::super::build(Setup::with_exporters(&config, &resource, Some("counting")));
        assert_eq!(sinks.problems, Vec::new(), "its name is known");
        let processor = sinks.processor.expect("it takes spans: they are buffered");
        let pipeline = sinks.pipeline;
        let provider = crate::traces::provider(resource, Some(processor), default_sampler());
        let tracer = provider.tracer("test");
        tracer.in_span("outer", |_| tracer.in_span("inner", |_| {}));

        let runtime = crate::logs::testing::current_thread_runtime();
        let lines = capture(LogFormat::Json, || runtime.block_on(pipeline.flush()));
        let [line] = lines.as_slice() else {
            panic!("one line for its loss: {lines:#?}")
        };
        let line: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(
            (&line["level"], &line["counted_spans"]),
            (&"WARN".into(), &2.into())
        );
        assert!(
            format!("{pipeline:?}").contains("Counting { spans: 2, flushes: 1, closes: 0 }"),
            "{pipeline:?}"
        );

        let lines = capture(LogFormat::Json, || runtime.block_on(pipeline.flush()));
        assert!(lines.is_empty(), "nothing taken, nothing said: {lines:#?}");
        let lines = capture(LogFormat::Json, || runtime.block_on(pipeline.shutdown()));
        assert!(
            lines[0].contains("shutting down; telemetry flushed"),
            "{lines:#?}"
        );
        assert!(
            format!("{pipeline:?}").contains("Counting { spans: 2, flushes: 3, closes: 1 }"),
            "{pipeline:?}"
        );
    }

    /// Unnamed, it is not built, and with no sink that takes spans, spans are not buffered.
    #[test]
    fn a_sink_left_unnamed_is_not_built_and_no_span_is_buffered_for_it() {
        let config = config(LogFormat::Json);
        let resource = crate::traces::resource(&config);
        let sinks = super::super::build(Setup::with_exporters(&config, &resource, Some("none")));
        assert!(sinks.processor.is_none());
        assert!(!format!("{:?}", sinks.pipeline).contains("Counting"));
    }
}
