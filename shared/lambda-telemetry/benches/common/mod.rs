//! What the span benchmarks share: loopback sinks that keep nothing, and the telemetry
//! serving a handler through a loopback Runtime API, driven one invocation at a time.

use std::thread;
use std::time::Duration;

use lambda_http::{Body, Request, Response};
use lambda_telemetry::Config;
use tests::counting_sinks::CountingSinks;
use tests::http_stub::Answer;
use tests::runtime_api::RuntimeApi;

/// An API Gateway REST event, as every benchmark invocation gets it.
pub const EVENT: &[u8] = include_bytes!("../../../../events/home.json");

/// Spans each handler invocation creates and ends, besides the invocation's own.
pub const SPANS: usize = 100;

/// Settings, given in code, that point the exporters named in `exporters` at loopback sinks
/// that discard what they get. Metrics are off whatever the environment says (`make` exports
/// `OTEL_METRICS_EXPORTER=console` for `make serve`): the span benchmarks time spans alone,
/// as before metrics existed; the metrics benchmarks turn them on.
pub fn sinks(exporters: &str) -> Config {
    // Their threads serve for the whole benchmark process.
    let sinks = CountingSinks::start(Answer::Status(200, None));
    Config::from_env()
        .with_service_name("bench")
        .with_exporters(exporters)
        .with_metrics_exporters("none")
        .with_otlp_endpoint(format!("{}/v1/traces", sinks.otlp_endpoint()))
        .with_xray_daemon_address(sinks.xray_address().parse().expect("a socket address"))
}

/// The handler: `spans` spans under the invocation's, then an empty 200.
async fn handler(request: Request) -> Result<Response<Body>, lambda_http::Error> {
    let spans: usize = request
        .headers()
        .get("x-bench-spans")
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .unwrap_or(0);
    for n in 0..spans {
        let span = tracing::info_span!("bench-span", app.n = n as i64);
        drop(span.entered());
    }
    Ok(Response::new(Body::Empty))
}

/// The installed telemetry serving a handler on a Runtime API of its own.
pub struct Served {
    api: RuntimeApi,
    done: usize,
}

impl Served {
    /// Serves the span handler: `x-bench-spans` spans per invocation.
    pub fn start(config: Config) -> Self {
        Self::serve(config, lambda_http::service_fn(handler))
    }

    /// Serves `handler` in a tokio runtime of its own thread.
    pub fn serve<S>(config: Config, handler: S) -> Self
    where
        S: lambda_http::Service<Request> + Clone + Send + 'static,
        S::Response: lambda_http::IntoResponse + Send,
        S::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send,
        S::Future: Send + 'static,
    {
        let api = RuntimeApi::start();
        // Tens of thousands of invocations: their answers would be the benchmark's memory.
        api.discard_answers();
        let telemetry = config.with_runtime_api(api.address()).init();
        thread::spawn(move || {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("a tokio runtime")
                .block_on(telemetry.run(handler))
        });
        Self { api, done: 0 }
    }

    /// Invokes once with `event`; the time from the event handed out to the end of the flush.
    pub fn invoke(&mut self, event: &[u8]) -> Duration {
        self.api.queue(event, 1);
        self.done += 1;
        assert!(
            self.api.wait_for(self.done, Duration::from_secs(60)),
            "the invocation did not finish"
        );
        let invocation = self.api.invocation(self.done - 1).expect("finished");
        invocation.next.expect("finished") - invocation.handed_out
    }

    /// Total time of `iters` invocations with `event`.
    pub fn time(&mut self, iters: u64, event: &[u8]) -> Duration {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            total += self.invoke(event);
        }
        total
    }
}

/// [`EVENT`] with these request headers, which tell the handler what to do.
pub fn event_with(headers: &[(&str, String)]) -> Vec<u8> {
    let mut event: serde_json::Value = serde_json::from_slice(EVENT).expect("JSON");
    for (name, value) in headers {
        event["headers"][*name] = value.clone().into();
    }
    serde_json::to_vec(&event).expect("JSON")
}

/// The benchmark group `invocation_<exporter>`: one invocation with no span of the handler's
/// and one with [`SPANS`] of them, only `exporter` on. One exporter per benchmark binary: the
/// telemetry is installed once per process.
pub fn invocations(c: &mut criterion::Criterion, exporter: &str) {
    let mut served = Served::start(sinks(exporter));
    let none = event_with(&[("x-bench-spans", "0".into())]);
    let many = event_with(&[("x-bench-spans", SPANS.to_string())]);
    let mut group = c.benchmark_group(format!("invocation_{exporter}"));
    group.bench_function("0 spans", |b| {
        b.iter_custom(|iters| served.time(iters, &none))
    });
    group.bench_function("100 spans", |b| {
        b.iter_custom(|iters| served.time(iters, &many))
    });
    group.finish();
}
