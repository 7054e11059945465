//! Metrics on (EMF, the default), through the public API only:
//! - `metric/<op>, in an invocation` and `metric/<op>, outside one`: one `counter!`,
//!   `histogram!` or `add_dimension` call, timed inside a handler (the invocation's own
//!   task-local group) and in the benchmark's thread (the process's group);
//! - `invocation_emf/<n>`: one whole invocation, from the event handed out to the end of the
//!   flush after the response, with the handler recording nothing of its own (the built-in
//!   `faas.*` metrics only) or `n` values; the difference to `0 metrics` is the cost of the
//!   invocation's own group recorded, closed and written as EMF lines. `invocation_metrics_off`
//!   (benches/metrics_off.rs) is the same with metrics off.

// The span handler and the span group are the span benchmarks'.
#[allow(dead_code)]
mod common;
#[path = "common/metrics.rs"]
mod recording;

use criterion::{Criterion, criterion_group, criterion_main};

/// What the `invocation_emf` invocations record: (benchmark, operation, times).
pub const INVOCATIONS: [(&str, &str, u64); 4] = [
    ("0 metrics (built-ins only)", "", 0),
    ("1 histogram value", "histogram!", 1),
    ("10 series (labelled counters)", "series", 10),
    ("100 histogram values", "histogram!", 100),
];

fn metrics(c: &mut Criterion) {
    // Traces off, metrics to EMF whatever the environment says: the metrics' cost alone.
    let config = common::sinks("none").with_metrics_exporters("emf");
    let mut served = common::Served::serve(config, lambda_http::service_fn(recording::handler));
    let mut group = c.benchmark_group("metric");
    for op in recording::OPS {
        group.bench_function(format!("{op}, in an invocation"), |b| {
            b.iter_custom(|iters| recording::inside(&mut served, op, iters))
        });
        group.bench_function(format!("{op}, outside one"), |b| {
            b.iter_custom(|iters| recording::outside(&mut served, op, iters))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("invocation_emf");
    for (name, op, n) in INVOCATIONS {
        let event = recording::event(op, n);
        group.bench_function(name, |b| b.iter_custom(|iters| served.time(iters, &event)));
    }
    group.finish();
}

criterion_group!(benches, metrics);
criterion_main!(benches);
