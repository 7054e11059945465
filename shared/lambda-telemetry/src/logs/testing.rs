//! Subscribers that write log lines into memory, for tests.

use std::sync::{Arc, Mutex};

use tracing_subscriber::fmt::MakeWriter;

use super::hooks::EventHooks;
use crate::config::{Config, LogFormat};
use crate::constants::span_fields;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<String> {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

pub(crate) fn config(format: LogFormat) -> Config {
    Config {
        service_name: "cruddur".into(),
        function_name: Some("home-activities".into()),
        function_memory_size: Some(128),
        log_format: format,
        log_filter: "info".into(),
        route: None,
        in_lambda: false,
        ..Config::from_lookup(&|_| None)
    }
}

/// The spans `f` ends, as the exporters receive them.
pub(crate) fn capture_spans(f: impl FnOnce()) -> Vec<opentelemetry_sdk::trace::SpanData> {
    let (_, spans) = capture_all("info", default_sampler(), f);
    spans.into_iter().map(|span| span.data).collect()
}

/// The lines `f` logs, in `format`, at INFO and above.
pub(crate) fn capture(format: LogFormat, f: impl FnOnce()) -> Vec<String> {
    capture_at(tracing_subscriber::filter::LevelFilter::INFO, format, f)
}

/// The lines `f` logs, in `format`, at `level` and above.
pub(crate) fn capture_at(
    level: tracing_subscriber::filter::LevelFilter,
    format: LogFormat,
    f: impl FnOnce(),
) -> Vec<String> {
    capture_with(config(format), level, f)
}

/// The lines `f` logs with `config`, at `level` and above.
pub(crate) fn capture_with(
    config: Config,
    level: tracing_subscriber::filter::LevelFilter,
    f: impl FnOnce(),
) -> Vec<String> {
    capture_hooked(config, level, EventHooks::default(), f)
}

/// The lines `f` logs with `config`, at `level` and above, with `hooks` on the log layer.
pub(crate) fn capture_hooked(
    config: Config,
    level: tracing_subscriber::filter::LevelFilter,
    hooks: EventHooks,
    f: impl FnOnce(),
) -> Vec<String> {
    let captured = Captured::default();
    let provider = crate::traces::provider(
        crate::traces::resource(&config),
        None::<crate::sinks::BufferProcessor>,
        default_sampler(),
    );
    let filter = tracing_subscriber::EnvFilter::new(level.to_string());
    let subscriber = crate::subscriber(&config, &provider, filter, captured.clone(), hooks);
    tracing::subscriber::with_default(subscriber, f);
    captured.lines()
}

/// `parentbased_always_on`, the default.
pub(crate) fn default_sampler() -> crate::sampling::InvocationSampler {
    crate::sampling::InvocationSampler(opentelemetry_sdk::trace::Sampler::ParentBased(Box::new(
        opentelemetry_sdk::trace::Sampler::AlwaysOn,
    )))
}

/// The JSON lines `f` logs and the spans it ends, through the subscriber `init` installs,
/// with `log_filter` as the log level and `sampler` as the sampler.
pub(crate) fn capture_all(
    log_filter: &str,
    sampler: crate::sampling::InvocationSampler,
    f: impl FnOnce(),
) -> (Vec<String>, Vec<crate::sinks::EndedSpan>) {
    let captured = Captured::default();
    let buffer = Arc::new(crate::sinks::SpanBuffer::default());
    let config = config(LogFormat::Json);
    let provider = crate::traces::provider(
        crate::traces::resource(&config),
        Some(crate::sinks::BufferProcessor::new(Arc::clone(&buffer))),
        sampler,
    );
    let filter = tracing_subscriber::EnvFilter::new(log_filter);
    let subscriber = crate::subscriber(
        &config,
        &provider,
        filter,
        captured.clone(),
        EventHooks::default(),
    );
    tracing::subscriber::with_default(subscriber, f);
    (captured.lines(), buffer.take())
}

/// A span with the fields of an invocation span, as the log layer reads them.
pub(crate) fn invocation_span() -> tracing::Span {
    tracing::info_span!(
        "invocation",
        { span_fields::FAAS_COLDSTART } = true,
        { span_fields::FAAS_INVOCATION_ID } = "req-1",
        { span_fields::AWS_LAMBDA_INVOKED_ARN } = "arn:aws:lambda:us-east-1:1:function:f",
        { span_fields::AWS_XRAY_TRACE_ID } = "1-5759e988-bd862e3fe1be46a994272793",
        { span_fields::AWS_APIGATEWAY_REQUEST_ID } = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
        { span_fields::HTTP_ROUTE } = "/api/activities/home",
    )
}

/// A current-thread runtime and a multi-thread one with `workers` threads, both with I/O and
/// time: for the tests that must hold on either flavour.
pub(crate) fn runtimes_of_both_flavours(workers: usize) -> [tokio::runtime::Runtime; 2] {
    [
        current_thread_runtime(),
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
            .unwrap(),
    ]
}

/// A current-thread runtime with I/O and time: the tests' default, since [`capture`] keeps
/// what the calling thread logs, and a worker thread's lines would be lost to it.
pub(crate) fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}
