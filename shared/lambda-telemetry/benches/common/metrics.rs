//! What the metrics benchmarks share (included by each with `#[path]`, beside `common`): the
//! recording each one times, and a handler that does it inside an invocation and tells the
//! benchmark how long it took.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lambda_http::{Body, Request, Response};
use lambda_telemetry::metrics::{counter, histogram};

/// The operations timed, as the handler's `x-bench-op` header names them.
pub const OPS: [&str; 5] = [
    "counter!",
    "counter! with a label",
    "counter, handle kept",
    "histogram!",
    "add_dimension",
];

/// Label values of the `series` operation: that many distinct series.
const SERIES: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

/// Histogram values one invocation (or the process, between two flushes) keeps of a series;
/// past it they are refused, a cheaper path than what a handler pays, so the timed loops of
/// histograms are cut into invocations of at most this many values.
pub const KEPT: u64 = 1_000;

/// Nanoseconds the handler spent in [`record`], summed over invocations: only the loop is
/// timed, not the invocation around it.
static RECORDING_NS: AtomicU64 = AtomicU64::new(0);

/// Does `op` `n` times, as a handler would.
pub fn record(op: &str, n: u64) {
    match op {
        "counter!" => {
            for _ in 0..n {
                counter!("bench.counter").increment(1);
            }
        }
        "counter! with a label" => {
            for _ in 0..n {
                counter!("bench.counter", "feed" => "home").increment(1);
            }
        }
        // The handle the macro returns, made once: what is left of the cost without the
        // registration every `counter!` call goes through.
        "counter, handle kept" => {
            let counter = counter!("bench.counter");
            for _ in 0..n {
                counter.increment(1);
            }
        }
        "histogram!" => {
            for i in 0..n {
                histogram!("bench.histogram").record(std::hint::black_box(i as f64));
            }
        }
        "add_dimension" => {
            for _ in 0..n {
                lambda_telemetry::metrics::add_dimension("tenant", "acme");
            }
        }
        // `n` counters with distinct labels (ten at most): `n` series, each its own EMF
        // dimension set.
        "series" => {
            for label in SERIES.iter().cycle().take(n as usize) {
                counter!("bench.series", "n" => *label).increment(1);
            }
        }
        _ => {}
    }
}

/// How long `op` may be repeated in one invocation: histograms keep [`KEPT`] values.
pub fn chunk(op: &str, iters: u64) -> u64 {
    if op == "histogram!" { KEPT } else { iters }
}

/// The handler: `x-bench-op` done `x-bench-n` times, its time added to [`RECORDING_NS`];
/// then an empty 200.
pub async fn handler(request: Request) -> Result<Response<Body>, lambda_http::Error> {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let op = header("x-bench-op");
    let n = header("x-bench-n").parse().unwrap_or(0);
    let started = Instant::now();
    record(&op, n);
    let elapsed = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
    RECORDING_NS.fetch_add(elapsed, Ordering::SeqCst);
    Ok(Response::new(Body::Empty))
}

/// The event that has the handler do `op` `n` times.
pub fn event(op: &str, n: u64) -> Vec<u8> {
    crate::common::event_with(&[("x-bench-op", op.to_owned()), ("x-bench-n", n.to_string())])
}

/// Time spent in `op` done `iters` times inside invocations (as many as [`chunk`] needs).
pub fn inside(served: &mut crate::common::Served, op: &str, iters: u64) -> Duration {
    let before = RECORDING_NS.load(Ordering::SeqCst);
    let mut left = iters;
    while left > 0 {
        let n = left.min(chunk(op, iters));
        served.invoke(&event(op, n));
        left -= n;
    }
    Duration::from_nanos(RECORDING_NS.load(Ordering::SeqCst) - before)
}

/// Time spent in `op` done `iters` times outside any invocation, in the benchmark's thread;
/// after each chunk, an invocation whose flush takes the process's values (untimed).
pub fn outside(served: &mut crate::common::Served, op: &str, iters: u64) -> Duration {
    let flush = event("", 0);
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(chunk(op, iters));
        let started = Instant::now();
        record(op, n);
        total += started.elapsed();
        served.invoke(&flush);
        left -= n;
    }
    total
}
