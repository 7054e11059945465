//! Getting telemetry out before Lambda freezes the process, without delaying the response.
//!
//! Ended spans wait in a bounded in-memory buffer ([`SpanBuffer`]); error reports and shipped
//! log lines wait in their sinks' own queues. After each invocation's response has been posted,
//! and before the next invocation is asked for, the Runtime API loop ([`crate::runtime`]) has
//! [`Pipeline::flush`] hand them to every sink, side by side, bounded by the flush budget. A
//! full buffer or a sink that misses the budget costs telemetry, never the response: the loss
//! is counted and said in one WARN line per kind and invocation.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;

use super::loss::{Counts, Loss, METRIC_VALUES_LOST};
use super::sink::{Batch, Sink};
use super::spans::{SPANS_LOST, SpanBatch, SpanBuffer};
use crate::metrics::Metrics;

/// The span buffer, the metric store and the sinks they are flushed to, within one budget.
#[derive(Debug)]
pub(crate) struct Pipeline {
    buffer: Arc<SpanBuffer>,
    /// Where invocations' metrics wait; `None` when no sink takes metrics.
    metrics: Option<Arc<Metrics>>,
    sinks: Vec<Box<dyn Sink>>,
    budget: Duration,
}

impl Pipeline {
    /// `sinks`, in the order they are flushed, fed from `buffer`, within `budget`.
    pub(crate) fn new(
        buffer: Arc<SpanBuffer>,
        sinks: Vec<Box<dyn Sink>>,
        budget: Duration,
    ) -> Self {
        Self {
            buffer,
            metrics: None,
            sinks,
            budget,
        }
    }

    /// The same, with the metrics whose store each flush empties.
    pub(crate) fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Whether any sink is handed metrics: if none is, metrics need not be recorded.
    pub(crate) fn takes_metrics(&self) -> bool {
        self.sinks.iter().any(|sink| sink.takes_metrics())
    }

    /// Whether anything leaves at a flush: spans, error reports or log lines.
    pub(crate) fn exports(&self) -> bool {
        !self.sinks.is_empty()
    }

    /// Whether any sink is handed spans: if none is, spans need not be buffered.
    pub(crate) fn takes_spans(&self) -> bool {
        self.sinks.iter().any(|sink| sink.takes_spans())
    }

    /// Hands what waits to every sink, within the budget, and says what was lost.
    pub(crate) async fn flush(&self) {
        let deadline = deadline_after(self.budget);
        let mut spans = self.buffer.take();
        // Here, off the response path, once for every sink: attributes, events and statuses
        // carry free text (error chains, panic messages, `tracing` fields).
        for span in &mut spans {
            crate::redact::redact_span(&mut span.data);
        }
        let full = Counts {
            dropped: self.buffer.take_dropped(),
            ..Counts::default()
        };
        let mut loss = Loss::of(&SPANS_LOST, full);
        let metrics = self
            .metrics
            .as_ref()
            .map(|m| m.take_batch())
            .unwrap_or_default();
        loss.add(Loss::of(
            &METRIC_VALUES_LOST,
            Counts {
                dropped: metrics.dropped,
                ..Counts::default()
            },
        ));
        let mut batch = Batch {
            spans: SpanBatch::new(spans),
            metrics,
        };
        // Each sink reads the batch in the order of the list (X-Ray's datagrams and EMF's
        // lines leave now), then all of them send side by side, within one budget.
        let sending: Vec<_> = self
            .sinks
            .iter()
            .map(|sink| {
                // The call reads the batch (EMF encodes all of it there): a panic in it costs
                // that sink's flush, like one in its future, never the process.
                let flush =
                    std::panic::catch_unwind(AssertUnwindSafe(|| sink.flush(&mut batch, deadline)))
                        .unwrap_or_else(|_| {
                    tracing::error!(sink = ?sink, "a telemetry sink panicked; what it held is lost");
                    Loss::default().at_once()
                });
                unwinding_is_no_loss(sink.as_ref(), flush)
            })
            .collect();
        batch.spans.settle();
        for lost in futures_util::future::join_all(sending).await {
            loss.add(lost);
        }
        loss.say(self.budget);
        // Telemetry about telemetry: what this flush lost is published by the next one.
        if let Some(metrics) = &self.metrics {
            metrics.record_losses(&loss.totals());
        }
    }

    /// The last flush, at shutdown; then each sink's last chance, and what never left.
    pub(crate) async fn shutdown(&self) {
        self.flush().await;
        tracing::info!("shutting down; telemetry flushed");
        let deadline = deadline_after(self.budget);
        let closing = self
            .sinks
            .iter()
            .map(|sink| unwinding_is_no_loss(sink.as_ref(), sink.close(deadline)));
        let mut loss = Loss::default();
        for lost in futures_util::future::join_all(closing).await {
            loss.add(lost);
        }
        loss.say(self.budget);
    }

    /// How long a flush may take.
    pub(crate) fn budget(&self) -> Duration {
        self.budget
    }

    /// Starts what sinks do between invocations (CloudWatch Logs' shipping every few seconds).
    pub(crate) fn start_background(&self) {
        for sink in &self.sinks {
            sink.start_background(self.budget);
        }
    }
}

/// `now + wait`, or a year from now when `wait` is beyond what an `Instant` holds (a budget
/// or a `Retry-After` of absurd size): a deadline is never a panic.
pub(crate) fn deadline_after(wait: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(wait)
        .unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600))
}

/// A sink's flush or close that panics ends as if it had sent nothing new: the panic hook
/// has logged the panic, and the process goes on serving. Without this, a bug in one sink
/// would end the Runtime API loop, and every later invocation with it.
fn unwinding_is_no_loss<'s>(sink: &'s dyn Sink, work: BoxFuture<'s, Loss>) -> BoxFuture<'s, Loss> {
    Box::pin(AssertUnwindSafe(work).catch_unwind().map(move |done| {
        done.unwrap_or_else(|_| {
            // Named only when it happens: formatting a sink on every flush costs.
            tracing::error!(sink = ?sink, "a telemetry sink panicked; what it held is lost");
            Loss::default()
        })
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LogFormat;
    use crate::logs::testing::capture;
    use crate::sinks::otlp::OtlpExporter;
    use crate::sinks::spans::BufferProcessor;
    use crate::sinks::spans::SPAN_BUFFER_CAPACITY;
    use crate::sinks::xray::XrayExporter;
    use opentelemetry::trace::{Tracer as _, TracerProvider as _};
    use opentelemetry_sdk::trace::SdkTracerProvider;

    /// A deadline is `now + budget`; a budget or a `Retry-After` past what `Instant` can hold
    /// (`LAMBDA_TELEMETRY_FLUSH_BUDGET_MS=18446744073709551615`) is a far deadline, not a
    /// panic in the flush that would end the Runtime API loop.
    #[test]
    fn a_deadline_beyond_what_an_instant_holds_is_far_away_not_a_panic() {
        let far = deadline_after(Duration::MAX);
        assert!(far > Instant::now() + Duration::from_secs(300 * 24 * 3600));
        let near = deadline_after(Duration::from_millis(500));
        assert!(near <= Instant::now() + Duration::from_millis(500));
    }

    #[derive(Debug)]
    struct Panicking;

    impl Sink for Panicking {
        fn flush<'s>(&'s self, _: &mut Batch, _: Instant) -> BoxFuture<'s, Loss> {
            Box::pin(async { panic!("a bug in a sink") })
        }
    }

    /// A sink's bug costs what it held, never the process: the flush returns, says which
    /// sink, and the next flush runs as usual.
    #[test]
    fn a_sink_that_panics_costs_its_flush_not_the_process() {
        let pipeline = Pipeline::new(
            Arc::new(SpanBuffer::default()),
            vec![Box::new(Panicking)],
            Duration::from_millis(50),
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        for _ in 0..2 {
            let lines = capture(LogFormat::Json, || runtime.block_on(pipeline.flush()));
            assert!(
                lines
                    .iter()
                    .any(|l| l.contains("a telemetry sink panicked") && l.contains("Panicking")),
                "{lines:?}"
            );
        }
    }

    #[derive(Debug)]
    struct Losing;

    impl Sink for Losing {
        fn flush<'s>(&'s self, _: &mut Batch, _: Instant) -> BoxFuture<'s, Loss> {
            let counts = Counts {
                dropped: 2,
                unsent: 1,
                ..Counts::default()
            };
            Loss::of(&SPANS_LOST, counts).at_once()
        }
    }

    /// Telemetry about telemetry: what a flush lost is recorded as `lambda_telemetry.lost`
    /// by kind (every count of it), for the next flush to publish; a flush that lost nothing
    /// records nothing.
    #[test]
    fn what_a_flush_loses_is_a_metric_of_the_next_flush() {
        use crate::constants::metric_keys;
        use crate::metrics::{Builtins, Metrics, Value};
        let metrics = Arc::new(Metrics::for_test());
        let pipeline = Pipeline::new(
            Arc::new(SpanBuffer::default()),
            vec![Box::new(Losing)],
            Duration::from_millis(50),
        )
        .with_metrics(Arc::clone(&metrics));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        capture(LogFormat::Json, || runtime.block_on(pipeline.flush()));
        let groups = metrics.store.take().groups;
        assert_eq!(groups.len(), 1, "{groups:?}");
        let lost = &groups[0].series[0];
        assert_eq!(lost.key.name(), metric_keys::LOST);
        let kinds: Vec<_> = lost
            .key
            .labels()
            .map(|l| (l.key().to_owned(), l.value().to_owned()))
            .collect();
        assert_eq!(kinds, [(metric_keys::KIND.to_owned(), "spans".to_owned())]);
        assert_eq!(lost.value, Value::Counter(3));

        let off = Arc::new(Metrics {
            builtins: Builtins {
                losses: false,
                ..Builtins::ALL
            },
            ..Metrics::for_test()
        });
        let pipeline = Pipeline::new(
            Arc::new(SpanBuffer::default()),
            vec![Box::new(Losing)],
            Duration::from_millis(50),
        )
        .with_metrics(Arc::clone(&off));
        capture(LogFormat::Json, || runtime.block_on(pipeline.flush()));
        assert!(off.store.take().groups.is_empty(), "turned off");
    }

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
        let pipeline = Pipeline::new(Arc::clone(&buffer), Vec::new(), Duration::from_millis(50));
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
        let runtimes = crate::logs::testing::runtimes_of_both_flavours(2);
        for runtime in runtimes {
            let otlp = OtlpExporter::with_endpoint(format!("http://{closed}/v1/traces"));
            let buffer = Arc::new(SpanBuffer::default());
            let provider = SdkTracerProvider::builder()
                .with_span_processor(BufferProcessor::new(Arc::clone(&buffer)))
                .build();
            provider.tracer("test").in_span("work", |_| {});
            let pipeline = Pipeline::new(buffer, vec![Box::new(otlp)], Duration::from_millis(200));
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
        let xray = XrayExporter::new(daemon.address().parse().unwrap(), "cruddur");
        let pipeline = Pipeline::new(buffer, vec![Box::new(xray)], Duration::from_millis(200));
        let subscriber = crate::subscriber(
            &config,
            &provider,
            tracing_subscriber::EnvFilter::new("info"),
            std::io::sink,
            crate::logs::hooks::EventHooks::default(),
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
        let runtime = crate::logs::testing::current_thread_runtime();
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
}
