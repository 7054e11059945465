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
/// that discard what they get.
pub fn sinks(exporters: &str) -> Config {
    // Their threads serve for the whole benchmark process.
    let sinks = CountingSinks::start(Answer::Status(200, None));
    Config::from_env()
        .with_service_name("bench")
        .with_exporters(exporters)
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

/// The installed telemetry serving [`handler`] on a Runtime API of its own.
pub struct Served {
    api: RuntimeApi,
    done: usize,
    events: [Vec<u8>; 2],
}

impl Served {
    pub fn start(config: Config) -> Self {
        let api = RuntimeApi::start();
        let telemetry = config.with_runtime_api(api.address()).init();
        thread::spawn(move || {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("a tokio runtime")
                .block_on(telemetry.run(lambda_http::service_fn(handler)))
        });
        let with_spans = |n: usize| {
            let mut event: serde_json::Value = serde_json::from_slice(EVENT).unwrap();
            event["headers"]["x-bench-spans"] = n.to_string().into();
            serde_json::to_vec(&event).unwrap()
        };
        Self {
            api,
            done: 0,
            events: [with_spans(0), with_spans(SPANS)],
        }
    }

    /// Invokes once, with 0 or [`SPANS`] spans; the time from the event handed out to the
    /// end of the flush.
    pub fn invoke(&mut self, many: bool) -> Duration {
        self.api.queue(&self.events[usize::from(many)], 1);
        self.done += 1;
        assert!(
            self.api.wait_for(self.done, Duration::from_secs(30)),
            "the invocation did not finish"
        );
        let invocation = &self.api.invocations()[self.done - 1];
        invocation.next.expect("finished") - invocation.handed_out
    }

    /// Total time of `iters` invocations.
    pub fn time(&mut self, iters: u64, many: bool) -> Duration {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            total += self.invoke(many);
        }
        total
    }
}

/// The benchmark group `invocation_<exporter>`: one invocation with no span of the handler's
/// and one with [`SPANS`] of them, only `exporter` on. One exporter per benchmark binary: the
/// telemetry is installed once per process.
pub fn invocations(c: &mut criterion::Criterion, exporter: &str) {
    let mut served = Served::start(sinks(exporter));
    let mut group = c.benchmark_group(format!("invocation_{exporter}"));
    group.bench_function("0 spans", |b| {
        b.iter_custom(|iters| served.time(iters, false))
    });
    group.bench_function("100 spans", |b| {
        b.iter_custom(|iters| served.time(iters, true))
    });
    group.finish();
}
