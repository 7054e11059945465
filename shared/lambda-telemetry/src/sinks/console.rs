//! `OTEL_TRACES_EXPORTER=console`: each flush's sampled spans as a tree on stderr, for people
//! at a terminal (`make serve`).

use std::fmt::Write as _;
use std::time::Instant;

use futures_util::future::BoxFuture;
use opentelemetry::trace::Status;
use opentelemetry_sdk::trace::SpanData;

use super::loss::Loss;
use super::sink::{Batch, Setup, Sink};

/// Prints one block per trace on stderr.
#[derive(Debug)]
struct Console;

/// The console sink, when `OTEL_TRACES_EXPORTER` lists `console`.
pub(super) fn build(setup: &mut Setup<'_>) -> Option<Box<dyn Sink>> {
    setup
        .exporter("console")
        .then(|| Box::new(Console) as Box<dyn Sink>)
}

impl Sink for Console {
    fn takes_spans(&self) -> bool {
        true
    }

    fn flush<'s>(&'s self, batch: &mut Batch, _deadline: Instant) -> BoxFuture<'s, Loss> {
        let sampled: Vec<&SpanData> = batch.spans.sampled().collect();
        if !sampled.is_empty() {
            eprint!("{}", tree(&sampled));
        }
        Loss::default().at_once()
    }
}

/// One block per trace, a line per span, indented under its parent:
/// `GET /api/activities/home  0.412 ms  server  http.response.status_code=200`.
fn tree(spans: &[&SpanData]) -> String {
    let mut out = String::new();
    let mut traces = Vec::new();
    for span in spans {
        if !traces.contains(&span.span_context.trace_id()) {
            traces.push(span.span_context.trace_id());
        }
    }
    for trace_id in traces {
        let mut in_trace: Vec<&SpanData> = spans
            .iter()
            .copied()
            .filter(|s| s.span_context.trace_id() == trace_id)
            .collect();
        in_trace.sort_by_key(|s| s.start_time);
        let _ = writeln!(out, "trace {trace_id}");
        let roots = in_trace.iter().filter(|s| {
            !in_trace
                .iter()
                .any(|p| p.span_context.span_id() == s.parent_span_id)
        });
        for root in roots {
            write_span(&mut out, root, &in_trace, 1);
        }
    }
    out
}

fn write_span(out: &mut String, span: &SpanData, all: &[&SpanData], depth: usize) {
    let duration = span
        .end_time
        .duration_since(span.start_time)
        .unwrap_or_default();
    let _ = write!(
        out,
        "{:indent$}{}  {:.3} ms  {:?}",
        "",
        span.name,
        duration.as_secs_f64() * 1e3,
        span.span_kind,
        indent = depth * 2
    );
    if let Status::Error { description } = &span.status {
        let _ = write!(out, "  ERROR {description}");
    }
    for kv in &span.attributes {
        let key = kv.key.as_str();
        if key.starts_with("app.") || key == "http.response.status_code" || key == "http.route" {
            let _ = write!(out, "  {key}={}", kv.value);
        }
    }
    out.push('\n');
    for child in all
        .iter()
        .filter(|c| c.parent_span_id == span.span_context.span_id())
    {
        write_span(out, child, all, depth + 1);
    }
}
