//! Getting spans out before Lambda freezes the process, without delaying the response.
//!
//! Ended spans wait in a bounded in-memory buffer ([`SpanBuffer`]). After each invocation's
//! response has been posted, and before the next invocation is asked for, the Runtime API
//! loop ([`crate::runtime`]) has [`Pipeline::flush`] hand them to the exporters, bounded by the flush budget. A full buffer or an exporter
//! that misses the budget costs spans, never the response: the loss is counted and written
//! in one WARN line per invocation.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry::trace::{SpanId, Status};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanProcessor};

use crate::config::setting;
use crate::constants::{
    DEFAULT_FLUSH_BUDGET_MS, LAMBDA_TELEMETRY_FLUSH_BUDGET_MS, OTEL_EXPORTER_OTLP_ENDPOINT,
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_TRACES_EXPORTER, SPAN_BUFFER_CAPACITY,
};
use crate::otlp::{ExportFailure, OtlpExporter};
use crate::sampling::{InvocationTrace, XrayTrace};
use crate::xray::XrayExporter;

/// Where spans go: `OTEL_TRACES_EXPORTER`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ExporterKind {
    /// OTLP/HTTP protobuf.
    Otlp,
    /// Segment documents to the X-Ray daemon.
    Xray,
    /// A compact tree of each invocation's spans on stderr.
    Console,
}

/// The exporters `OTEL_TRACES_EXPORTER` names, and what is wrong with it, in words.
fn exporters_from_env() -> (Vec<ExporterKind>, Vec<String>) {
    match setting(OTEL_TRACES_EXPORTER) {
        Some(value) => parse_exporters(&value),
        // The specification's default is `otlp`; without an endpoint, though, it would only
        // knock on localhost for every invocation, and Lambda bills the wait.
        _ if [
            OTEL_EXPORTER_OTLP_ENDPOINT,
            OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
        ]
        .iter()
        .any(|v| setting(v).is_some()) =>
        {
            (vec![ExporterKind::Otlp], Vec::new())
        }
        _ => (Vec::new(), Vec::new()),
    }
}

fn parse_exporters(value: &str) -> (Vec<ExporterKind>, Vec<String>) {
    let mut kinds = Vec::new();
    let mut unavailable = Vec::new();
    let names: Vec<String> = value
        .split(',')
        .map(|n| n.trim().to_ascii_lowercase())
        .collect();
    for (i, name) in names.iter().enumerate() {
        match name.as_str() {
            "" | "none" => {}
            "console" if !kinds.contains(&ExporterKind::Console) => {
                kinds.push(ExporterKind::Console)
            }
            "otlp" if !kinds.contains(&ExporterKind::Otlp) => kinds.push(ExporterKind::Otlp),
            "xray" if !kinds.contains(&ExporterKind::Xray) => kinds.push(ExporterKind::Xray),
            "console" | "otlp" | "xray" => {}
            // By position: a setting's value is never said (it may be a key in the wrong place).
            _ => unavailable.push(format!(
                "{OTEL_TRACES_EXPORTER}: entry {} of {} is not otlp, xray, console or none; it is ignored",
                i + 1,
                names.len()
            )),
        }
    }
    (kinds, unavailable)
}

/// The flush budget: `LAMBDA_TELEMETRY_FLUSH_BUDGET_MS`, 500 ms by default.
fn budget_from_env(problems: &mut Vec<String>) -> Duration {
    let ms = crate::config::number(LAMBDA_TELEMETRY_FLUSH_BUDGET_MS, setting, problems)
        .unwrap_or(DEFAULT_FLUSH_BUDGET_MS);
    Duration::from_millis(ms)
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

    pub(crate) fn take(&self) -> Vec<EndedSpan> {
        self.spans
            .lock()
            .map(|mut spans| std::mem::take(&mut *spans))
            .unwrap_or_default()
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

/// The buffer and the exporters it is flushed to.
#[derive(Debug)]
pub(crate) struct Pipeline {
    buffer: Arc<SpanBuffer>,
    exporters: Vec<ExporterKind>,
    otlp: Option<OtlpExporter>,
    xray: Option<XrayExporter>,
    budget: Duration,
}

impl Pipeline {
    /// The exporters `OTEL_TRACES_EXPORTER` names, the processor that feeds them (none when
    /// nothing is exported, so spans are not even buffered), and the settings that cannot be
    /// used, in words to report once the log is up.
    pub(crate) fn from_env(resource: &Resource) -> (Self, Option<BufferProcessor>, Vec<String>) {
        let (mut exporters, mut problems) = exporters_from_env();
        let otlp = exporters
            .contains(&ExporterKind::Otlp)
            .then(|| OtlpExporter::from_env(resource, &mut problems));
        let xray = if exporters.contains(&ExporterKind::Xray) {
            let service = resource
                .get(&opentelemetry::Key::from_static_str("service.name"))
                .map(|v| v.as_str().into_owned())
                .unwrap_or_default();
            XrayExporter::from_env(&service)
                .map_err(|problem| {
                    exporters.retain(|k| *k != ExporterKind::Xray);
                    problems.push(problem);
                })
                .ok()
        } else {
            None
        };
        let buffer = Arc::new(SpanBuffer::default());
        let processor = (!exporters.is_empty()).then(|| BufferProcessor::new(Arc::clone(&buffer)));
        let pipeline = Self {
            buffer,
            exporters,
            otlp,
            xray,
            budget: budget_from_env(&mut problems),
        };
        (pipeline, processor, problems)
    }

    #[cfg(test)]
    fn only_buffer(buffer: Arc<SpanBuffer>, budget: Duration) -> Self {
        Self {
            buffer,
            exporters: Vec::new(),
            otlp: None,
            xray: None,
            budget,
        }
    }

    /// Whether anything leaves at a flush: spans or error reports.
    pub(crate) fn exports(&self) -> bool {
        #[cfg(feature = "cloudwatch")]
        if crate::cloudwatch::shipper().is_some() {
            return true;
        }
        #[cfg(feature = "rollbar")]
        if crate::rollbar::reporter().is_some() {
            return true;
        }
        !self.exporters.is_empty()
    }

    /// Exports what the buffer holds, within the budget, and reports what was lost.
    pub(crate) async fn flush(&self) {
        let deadline = Instant::now() + self.budget;
        // Spans, error reports and shipped log lines leave side by side, within one budget.
        tokio::join!(
            self.flush_spans(deadline),
            self.flush_reports(deadline),
            flush_log_lines(deadline)
        );
    }

    /// The last flush, at shutdown: what could not leave is counted once more.
    pub(crate) async fn shutdown(&self) {
        self.flush().await;
        tracing::info!("shutting down; telemetry flushed");
        #[cfg(feature = "cloudwatch")]
        if let Some(shipper) = crate::cloudwatch::shipper() {
            shipper.close(Instant::now() + self.budget).await;
        }
    }

    /// Between invocations, log lines still leave every few seconds (off Lambda only: shipping
    /// is never on in Lambda, whose frozen process would hold the timer).
    pub(crate) fn start_background(&self) {
        #[cfg(feature = "cloudwatch")]
        if let Some(shipper) = crate::cloudwatch::shipper() {
            shipper.start_background(self.budget);
        }
    }

    #[cfg(feature = "rollbar")]
    async fn flush_reports(&self, deadline: Instant) {
        let Some(reporter) = crate::rollbar::reporter() else {
            return;
        };
        let undelivered = reporter.flush(deadline).await;
        if undelivered != Default::default() {
            tracing::warn!(
                target: "lambda_telemetry::rollbar",
                dropped_items = undelivered.dropped,
                over_cap_items = undelivered.over_cap,
                budget_ms = self.budget.as_millis() as u64,
                "Rollbar items were dropped: Rollbar refused or missed the flush budget, or the invocation reached ROLLBAR_MAX_ITEMS"
            );
        }
    }

    #[cfg(not(feature = "rollbar"))]
    async fn flush_reports(&self, _deadline: Instant) {}

    async fn flush_spans(&self, deadline: Instant) {
        let mut spans = self.buffer.take();
        // Here, off the response path, once for every exporter: attributes, events and
        // statuses carry free text (error chains, panic messages, `tracing` fields).
        for span in &mut spans {
            crate::redact::redact_span(&mut span.data);
        }
        let mut dropped = self.buffer.dropped.swap(0, Ordering::Relaxed);
        let mut refused = None;
        let mut xray_unsent = 0;
        if !spans.is_empty() {
            // UDP first: it takes microseconds and cannot wait on the network.
            if let Some(xray) = &self.xray {
                xray_unsent = xray.export(&spans);
            }
            // The rest speak for the OpenTelemetry trace: only what its sampler sampled.
            let sampled: Vec<SpanData> = spans
                .into_iter()
                .filter(|span| span.data.span_context.is_sampled())
                .map(|span| span.data)
                .collect();
            let count = sampled.len() as u64;
            if self.exporters.contains(&ExporterKind::Console) && !sampled.is_empty() {
                console(&sampled);
            }
            if let Some(otlp) = self.otlp.as_ref().filter(|_| !sampled.is_empty()) {
                match otlp.export(sampled, deadline).await {
                    Ok(()) => {}
                    Err(ExportFailure::Refused(status)) => {
                        dropped += count;
                        refused = Some(status);
                    }
                    Err(ExportFailure::GaveUp) => dropped += count,
                }
            }
        }
        if dropped > 0 || xray_unsent > 0 {
            tracing::warn!(
                dropped_spans = dropped,
                xray_unsent_spans = xray_unsent,
                refused_status = refused,
                budget_ms = self.budget.as_millis() as u64,
                "spans were dropped: the buffer was full, the backend refused them, or the export missed the flush budget"
            );
        }
    }
}

/// One block per trace on stderr, a line per span, indented under its parent:
/// `GET /api/activities/home  0.412 ms  server  http.response.status_code=200`.
fn console(spans: &[SpanData]) {
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
    eprint!("{out}");
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

/// Sends the log lines queued for CloudWatch Logs, when shipping is on.
async fn flush_log_lines(_deadline: Instant) {
    #[cfg(feature = "cloudwatch")]
    if let Some(shipper) = crate::cloudwatch::shipper() {
        shipper.flush(_deadline).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LogFormat;
    use crate::logs::testing::capture;
    use opentelemetry::trace::{Tracer as _, TracerProvider as _};
    use opentelemetry_sdk::trace::SdkTracerProvider;

    #[test]
    fn a_full_buffer_drops_spans_and_says_so_once_per_flush() {
        let buffer = Arc::new(SpanBuffer::default());
        let provider = SdkTracerProvider::builder()
            .with_span_processor(BufferProcessor::new(Arc::clone(&buffer)))
            .build();
        let tracer = provider.tracer("test");
        for _ in 0..SPAN_BUFFER_CAPACITY + 3 {
            tracer.in_span("work", |_| {});
        }
        let pipeline = Pipeline::only_buffer(Arc::clone(&buffer), Duration::from_millis(50));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let lines = capture(LogFormat::Json, || runtime.block_on(pipeline.flush()));
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["dropped_spans"], 3);
        assert!(
            buffer.take().is_empty(),
            "the flush took every buffered span"
        );

        let lines = capture(LogFormat::Json, || runtime.block_on(pipeline.flush()));
        assert!(lines.is_empty(), "nothing more was lost: {lines:?}");
    }

    /// An OTLP backend that refuses connections, on a runtime of each flavour: the flush
    /// returns (no deadlock on a single thread) and reports the loss.
    #[test]
    fn the_flush_completes_on_both_runtime_flavours() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let runtimes = [
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap(),
        ];
        for runtime in runtimes {
            let otlp = OtlpExporter::with_endpoint(format!("http://{closed}/v1/traces"));
            let buffer = Arc::new(SpanBuffer::default());
            let provider = SdkTracerProvider::builder()
                .with_span_processor(BufferProcessor::new(Arc::clone(&buffer)))
                .build();
            provider.tracer("test").in_span("work", |_| {});
            let pipeline = Pipeline {
                buffer,
                exporters: vec![ExporterKind::Otlp],
                otlp: Some(otlp),
                xray: None,
                budget: Duration::from_millis(200),
            };
            let lines = capture(LogFormat::Json, || runtime.block_on(pipeline.flush()));
            assert_eq!(lines.len(), 1, "{lines:?}");
            assert!(lines[0].contains("\"dropped_spans\":1"), "{lines:?}");
        }
    }

    /// Two invocations at once in the same browser trace (the worst case: one trace id, two
    /// Lambda segments), and a flush while both are mid-flight, as another worker's flush under
    /// Lambda Managed Instances would be: it exports their ended children before their
    /// invocation spans end. Every X-Ray document must still land in its own invocation's
    /// Lambda trace, the invocation span under its Lambda segment, each child under its
    /// invocation span.
    #[test]
    fn a_flush_mid_flight_never_misplaces_another_invocations_xray_subsegments() {
        use crate::invocation::InvocationLayer;
        use lambda_http::RequestExt as _;
        use tower::{Layer as _, ServiceExt as _};

        let daemon = ::tests::xray_daemon::XrayDaemon::start();
        let buffer = Arc::new(SpanBuffer::default());
        let config = crate::logs::testing::config(LogFormat::Json);
        let provider = crate::traces::provider(
            crate::traces::resource(&config),
            Some(BufferProcessor::new(Arc::clone(&buffer))),
            crate::logs::testing::default_sampler(),
        );
        let pipeline = Pipeline {
            buffer,
            exporters: vec![ExporterKind::Xray],
            otlp: None,
            xray: Some(XrayExporter::new(
                daemon.address().parse().unwrap(),
                "cruddur",
            )),
            budget: Duration::from_millis(200),
        };
        let subscriber = crate::subscriber(
            &config,
            &provider,
            tracing_subscriber::EnvFilter::new("info"),
            std::io::sink,
        );
        // Both handlers end a child, then wait at the gate twice: once until both children
        // have ended, once until the mid-flight flush is done.
        let gate = Arc::new(tokio::sync::Barrier::new(3));
        let handler = {
            let gate = Arc::clone(&gate);
            tower::service_fn(move |_: lambda_http::Request| {
                let gate = Arc::clone(&gate);
                async move {
                    tracing::info_span!("work").in_scope(|| tracing::info!("working"));
                    gate.wait().await;
                    gate.wait().await;
                    Ok::<_, crate::Error>("ok")
                }
            })
        };
        let lambdas = [
            ("5759e988bd862e3fe1be46a994272793", "53995c3f42cd8ad8"),
            ("6759e988bd862e3fe1be46a994272794", "63995c3f42cd8ad9"),
        ];
        let request = |(root, segment): (&str, &str)| {
            let mut request = crate::invocation::tests::event();
            request.headers_mut().insert(
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
                    .parse()
                    .unwrap(),
            );
            let mut context = lambda_http::Context::default();
            context.xray_trace_id = Some(format!(
                "Root=1-{}-{};Parent={segment};Sampled=1",
                &root[..8],
                &root[8..]
            ));
            request.with_lambda_context(context)
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        tracing::subscriber::with_default(subscriber, || {
            runtime.block_on(async {
                let layer = InvocationLayer::default();
                let mid_flight = async {
                    gate.wait().await;
                    pipeline.flush().await;
                    gate.wait().await;
                };
                let (a, b, ()) = tokio::join!(
                    layer.layer(handler.clone()).oneshot(request(lambdas[0])),
                    layer.layer(handler.clone()).oneshot(request(lambdas[1])),
                    mid_flight,
                );
                assert_eq!(a.unwrap().status(), 200);
                assert_eq!(b.unwrap().status(), 200);
                pipeline.flush().await;
            })
        });

        let mut documents = Vec::new();
        for _ in 0..100 {
            documents = daemon.documents();
            if documents.len() == 4 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(documents.len(), 4, "{documents:#?}");
        let by_id = |id: &serde_json::Value| {
            documents
                .iter()
                .find(|d| d["id"] == *id)
                .unwrap_or_else(|| panic!("no document {id}: {documents:#?}"))
        };
        let mut segments_seen = Vec::new();
        for doc in documents.iter().filter(|d| d["name"] == "work") {
            let invocation = by_id(&doc["parent_id"]);
            assert_eq!(doc["trace_id"], invocation["trace_id"], "{doc:#}");
            let (root, segment) = lambdas
                .iter()
                .find(|(_, segment)| invocation["parent_id"] == *segment)
                .unwrap_or_else(|| panic!("not under a Lambda segment: {invocation:#}"));
            assert_eq!(
                invocation["trace_id"],
                format!("1-{}-{}", &root[..8], &root[8..]),
                "{invocation:#}"
            );
            segments_seen.push(*segment);
        }
        segments_seen.sort();
        assert_eq!(segments_seen, ["53995c3f42cd8ad8", "63995c3f42cd8ad9"]);
    }

    #[test]
    fn exporter_names_come_from_otel_traces_exporter() {
        let (kinds, unavailable) = parse_exporters("console, otlp,none,xray,console,OTLP,jaeger");
        assert_eq!(
            kinds,
            vec![
                ExporterKind::Console,
                ExporterKind::Otlp,
                ExporterKind::Xray
            ]
        );
        assert_eq!(unavailable.len(), 1);
        assert!(
            unavailable[0].starts_with("OTEL_TRACES_EXPORTER: entry 7 of 7 "),
            "{unavailable:?}"
        );
        assert!(!unavailable[0].contains("jaeger"), "{unavailable:?}");
    }
}
