//! `OTEL_TRACES_EXPORTER=console`: each flush's sampled spans as a tree on stderr, for people
//! at a terminal (`make serve`); `OTEL_METRICS_EXPORTER=console`: under it, one line per
//! invocation with its metrics.

use std::fmt::Write as _;
use std::time::Instant;

use futures_util::future::BoxFuture;
use opentelemetry::trace::Status;
use opentelemetry_sdk::trace::SpanData;

use super::loss::Loss;
use super::sink::{Batch, Setup, Sink};
use crate::constants::metric_keys;
use crate::metrics::{Recorded, Value, description};

/// Prints one block per trace on stderr, and a line of metrics per invocation.
#[derive(Debug)]
struct Console {
    spans: bool,
    metrics: bool,
}

/// The console sink, when `OTEL_TRACES_EXPORTER` or `OTEL_METRICS_EXPORTER` lists `console`.
pub(super) fn build(setup: &mut Setup<'_>) -> Option<Box<dyn Sink>> {
    let spans = setup.exporter("console");
    let metrics = setup.metrics_exporter("console");
    (spans || metrics).then(|| Box::new(Console { spans, metrics }) as Box<dyn Sink>)
}

impl Sink for Console {
    fn takes_spans(&self) -> bool {
        self.spans
    }

    fn takes_metrics(&self) -> bool {
        self.metrics
    }

    fn flush<'s>(&'s self, batch: &mut Batch, _deadline: Instant) -> BoxFuture<'s, Loss> {
        let sampled: Vec<&SpanData> = batch.spans.sampled().collect();
        let mut out = String::new();
        if self.spans && !sampled.is_empty() {
            out.push_str(&tree(&sampled));
        }
        if self.metrics {
            out.push_str(&metric_lines(&batch.metrics.groups));
        }
        if !out.is_empty() {
            eprint!("{out}");
        }
        Loss::default().at_once()
    }
}

/// The dimensions of the crate's own metrics, left out of the console line (the route and
/// the function are in the span tree above it).
const BUILTIN_DIMENSIONS: [&str; 3] = [
    metric_keys::FAAS_NAME,
    metric_keys::HTTP_ROUTE,
    metric_keys::HTTP_RESPONSE_STATUS_CLASS,
];

/// One line per invocation (by request id; `process` for what was recorded outside one):
/// `metrics 8476a536  faas.invocations=1  faas.invoke_duration=0.0012 s  app.served{feed=home}=2`.
fn metric_lines(groups: &[Recorded]) -> String {
    let mut lines: Vec<(String, String)> = Vec::new();
    for group in groups {
        let who = group
            .ids
            .as_ref()
            .and_then(|ids| ids.request_id.clone())
            .unwrap_or_else(|| "process".to_owned());
        let index = match lines.iter().position(|(w, _)| *w == who) {
            Some(index) => index,
            None => {
                lines.push((who.clone(), String::new()));
                lines.len() - 1
            }
        };
        let line = &mut lines[index].1;
        // What the handler added (`add_dimension`, a set's values), not the crate's own.
        let added: Vec<String> = group
            .dimensions
            .iter()
            .filter(|(name, _)| !BUILTIN_DIMENSIONS.contains(&name.as_str()))
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        if !added.is_empty() {
            let _ = write!(line, "  [{}]", added.join(" "));
        }
        for series in &group.series {
            let _ = write!(line, "  {}", series.key.name());
            let labels: Vec<String> = series
                .key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            if !labels.is_empty() {
                let _ = write!(line, "{{{}}}", labels.join(","));
            }
            let unit = description(series.key.name())
                .unit
                .map(|u| u.as_canonical_label())
                .filter(|label| !label.is_empty())
                .map(|label| format!(" {label}"))
                .unwrap_or_default();
            let _ = match &series.value {
                Value::Counter(n) => write!(line, "={n}{unit}"),
                Value::Gauge(v) => write!(line, "={v}{unit}"),
                Value::Histogram(values) if values.len() == 1 => {
                    write!(line, "={}{unit}", values[0])
                }
                Value::Histogram(values) if values.is_empty() => write!(line, "=[]"),
                Value::Histogram(values) => {
                    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
                    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    write!(line, "=[{} values {min}..{max}{unit}]", values.len())
                }
            };
        }
    }
    lines
        .into_iter()
        .map(|(who, line)| format!("metrics {who}{line}\n"))
        .collect()
}

/// One block per trace, a line per span, indented under its parent:
/// `GET /api/activities/home  0.412 ms  Server  http.response.status_code=200`. A span whose
/// parent is another process's (the caller's `traceparent`, Lambda's X-Ray segment) names it,
/// `parent 00f067aa0ba902b7 (remote)`, so the tree can be hung under the caller's span.
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
    if span.parent_span_is_remote {
        let _ = write!(out, "  parent {} (remote)", span.parent_span_id);
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{InvocationIds, Series};
    use metrics::{Key, Label};

    /// One line per invocation, its own groups and the crate's joined, under its request id.
    #[test]
    fn metrics_are_one_line_per_invocation() {
        let ids = InvocationIds {
            request_id: Some("req-1".into()),
            ..InvocationIds::default()
        };
        let group = |series, ids| {
            Recorded::builtin(
                series,
                vec![
                    ("tenant".to_owned(), "acme".to_owned()),
                    ("faas.name".to_owned(), "cruddur-home".to_owned()),
                ],
                vec![Vec::new()],
                ids,
            )
        };
        let text = metric_lines(&[
            group(
                vec![Series {
                    key: Key::from_static_name("console.test.calls"),
                    value: Value::Counter(1),
                }],
                Some(ids.clone()),
            ),
            group(
                vec![Series {
                    key: Key::from_parts("console.test.size", vec![Label::new("feed", "home")]),
                    value: Value::Histogram(vec![2.0, 5.0]),
                }],
                Some(ids),
            ),
            group(
                vec![Series {
                    key: Key::from_static_name("console.test.pool"),
                    value: Value::Gauge(4.0),
                }],
                None,
            ),
        ]);
        assert_eq!(
            text,
            "metrics req-1  [tenant=acme]  console.test.calls=1  [tenant=acme]  console.test.size{feed=home}=[2 values 2..5]\n\
             metrics process  [tenant=acme]  console.test.pool=4\n"
        );
    }
}
