//! Ended spans on their way from the SDK to the sinks: the bounded buffer they wait in until
//! the flush ([`SpanBuffer`], filled by [`BufferProcessor`]) and the batch one flush hands the
//! sinks ([`SpanBatch`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry::trace::SpanId;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanProcessor};

use super::loss::{Counts, Lost};
use crate::sampling::{InvocationTrace, XrayTrace};

/// Ended spans kept between two flushes; more are dropped and counted. Internal tuning, not
/// a setting.
pub(crate) const SPAN_BUFFER_CAPACITY: usize = 2048;

/// Spans lost to a full buffer, a backend that refused them, or the budget: said in one WARN
/// line per flush, whichever sinks lost them.
pub(crate) static SPANS_LOST: Lost = Lost {
    name: "spans",
    say: say_spans_lost,
};

fn say_spans_lost(counts: &Counts, budget: Duration) {
    tracing::warn!(
        dropped_spans = counts.dropped,
        xray_unsent_spans = counts.unsent,
        refused_status = counts.refused_status,
        budget_ms = budget.as_millis() as u64,
        "spans were dropped: the buffer was full, the backend refused them, or the export missed the flush budget"
    );
}

/// An ended span, with the X-Ray trace of the invocation it belongs to (if any).
#[derive(Clone, Debug)]
pub(crate) struct EndedSpan {
    /// The span as the SDK's exporters take it.
    pub(crate) data: SpanData,
    /// Where it goes in X-Ray and whether X-Ray sampled it: see [`XrayTrace`].
    pub(crate) xray: Option<XrayTrace>,
}

/// Ended spans waiting for the next flush.
#[derive(Debug, Default)]
pub(crate) struct SpanBuffer {
    spans: Mutex<Vec<EndedSpan>>,
    dropped: AtomicU64,
}

impl SpanBuffer {
    fn push(&self, span: EndedSpan) {
        let Ok(mut spans) = self.spans.lock() else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if spans.len() < SPAN_BUFFER_CAPACITY {
            spans.push(span);
        } else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Every span buffered so far; the buffer is left empty.
    pub(crate) fn take(&self) -> Vec<EndedSpan> {
        self.spans
            .lock()
            .map(|mut spans| std::mem::take(&mut *spans))
            .unwrap_or_default()
    }

    /// How many spans a full buffer turned away since the last call.
    pub(crate) fn take_dropped(&self) -> u64 {
        self.dropped.swap(0, Ordering::Relaxed)
    }
}

/// The span processor that fills a [`SpanBuffer`]. It learns each span's X-Ray trace when the
/// span starts, from the invocation's decisions in its parent context, and pairs them when it
/// ends: a span's placement never waits on another span.
#[derive(Debug)]
pub(crate) struct BufferProcessor {
    buffer: Arc<SpanBuffer>,
    /// The X-Ray trace of each started span that has not ended; bounded by the open spans,
    /// and by [`SPAN_BUFFER_CAPACITY`] for spans that are never ended.
    open: Mutex<HashMap<SpanId, XrayTrace>>,
}

impl BufferProcessor {
    pub(crate) fn new(buffer: Arc<SpanBuffer>) -> Self {
        Self {
            buffer,
            open: Mutex::default(),
        }
    }
}

impl SpanProcessor for BufferProcessor {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &opentelemetry::Context) {
        use opentelemetry::trace::Span as _;
        let Some(xray) = InvocationTrace::of(cx).and_then(|invocation| invocation.xray) else {
            return;
        };
        if let Ok(mut open) = self.open.lock()
            && open.len() < SPAN_BUFFER_CAPACITY
        {
            open.insert(span.span_context().span_id(), xray);
        }
    }

    fn on_end(&self, span: SpanData) {
        let xray = self
            .open
            .lock()
            .ok()
            .and_then(|mut open| open.remove(&span.span_context.span_id()));
        // Recorded, but neither OTLP nor X-Ray wants it: see `sampling`.
        let wanted =
            span.span_context.is_sampled() || xray.is_some_and(|x| x.sampled == Some(true));
        if wanted {
            self.buffer.push(EndedSpan { data: span, xray });
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        // Flushing is the pipeline's job, after the response: see `Pipeline::flush`.
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }

    fn set_resource(&mut self, _resource: &Resource) {}
}

/// The spans of one flush, secrets masked, as every sink that takes spans is handed them.
#[derive(Debug, Default)]
pub(crate) struct SpanBatch {
    spans: Vec<EndedSpan>,
    /// The sinks' claims on the sampled spans, settled once every sink has read the batch.
    claims: Vec<Claim>,
}

/// A sink's claim on the sampled spans of a batch: see [`SpanBatch::claim_sampled`].
#[derive(Debug, Default)]
pub(crate) struct Claim(Arc<Mutex<Vec<SpanData>>>);

impl Claim {
    /// The spans claimed; empty before the batch is settled.
    pub(crate) fn take(&self) -> Vec<SpanData> {
        self.0
            .lock()
            .map(|mut spans| std::mem::take(&mut *spans))
            .unwrap_or_default()
    }
}

impl SpanBatch {
    pub(crate) fn new(spans: Vec<EndedSpan>) -> Self {
        Self {
            spans,
            claims: Vec::new(),
        }
    }

    /// Every span ended since the last flush, with its X-Ray trace: what X-Ray decides on by
    /// its own sampling.
    pub(crate) fn spans(&self) -> &[EndedSpan] {
        &self.spans
    }

    /// The spans the OpenTelemetry sampler sampled: what every sink but X-Ray exports.
    pub(crate) fn sampled(&self) -> impl Iterator<Item = &SpanData> {
        self.spans
            .iter()
            .map(|span| &span.data)
            .filter(|data| data.span_context.is_sampled())
    }

    /// A claim on the sampled spans, for a sink that consumes them (OTLP's encoder does). The
    /// spans are handed over once every sink has read the batch: moved to the last claim,
    /// copied for any other, so the order of the sinks never costs a copy or a span.
    pub(crate) fn claim_sampled(&mut self) -> Claim {
        let claim = Claim::default();
        self.claims.push(Claim(Arc::clone(&claim.0)));
        claim
    }

    /// Hands the sampled spans to the claims; what nothing claimed is dropped.
    pub(crate) fn settle(mut self) {
        let Some(last) = self.claims.pop() else {
            return;
        };
        let sampled: Vec<SpanData> = self
            .spans
            .into_iter()
            .map(|span| span.data)
            .filter(|data| data.span_context.is_sampled())
            .collect();
        for claim in &self.claims {
            if let Ok(mut spans) = claim.0.lock() {
                spans.clone_from(&sampled);
            }
        }
        if let Ok(mut spans) = last.0.lock() {
            *spans = sampled;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::testing::capture_spans;

    /// "Moved to the last claim, copied for any other": every sink that claims the sampled
    /// spans gets each of them, and only them, whichever sinks read the batch before.
    #[test]
    fn every_claim_gets_every_sampled_span_and_no_other() {
        let mut data = capture_spans(|| {
            tracing::info_span!("outer").in_scope(|| tracing::info_span!("inner").in_scope(|| {}))
        });
        assert_eq!(data.len(), 2);
        let mut unsampled = data[0].clone();
        unsampled.name = "unsampled".into();
        unsampled.span_context = opentelemetry::trace::SpanContext::new(
            unsampled.span_context.trace_id(),
            unsampled.span_context.span_id(),
            opentelemetry::trace::TraceFlags::default(),
            false,
            Default::default(),
        );
        data.push(unsampled);
        let ended = data
            .into_iter()
            .map(|data| EndedSpan { data, xray: None })
            .collect();
        let mut batch = SpanBatch::new(ended);
        let first = batch.claim_sampled();
        assert_eq!(
            batch.spans().len(),
            3,
            "a reader after a claim sees every span"
        );
        let second = batch.claim_sampled();
        assert!(
            first.take().is_empty(),
            "nothing before the batch is settled"
        );
        batch.settle();
        for claim in [first, second] {
            let mut names: Vec<String> = claim.take().iter().map(|s| s.name.to_string()).collect();
            names.sort();
            assert_eq!(names, ["inner", "outer"]);
        }
    }
}
