//! The same as benches/metrics.rs with metrics off (`POWERTOOLS_METRICS_DISABLED=true`, in
//! code): no recorder is installed, so the facade's calls go to its no-op recorder, and no
//! invocation has a group to close or EMF lines to write. A process of its own: the recorder
//! is installed once per process.
//! - `metric/counter!, metrics off`: one call, timed in a handler;
//! - `invocation_metrics_off/<n>`: one whole invocation, as `invocation_emf/<n>`.

#[allow(dead_code)]
mod common;
// Only what a handler records inside an invocation: off, there is nothing outside to time.
#[allow(dead_code)]
#[path = "common/metrics.rs"]
mod recording;

use criterion::{Criterion, criterion_group, criterion_main};

fn metrics_off(c: &mut Criterion) {
    let config = common::sinks("none").with_metrics(false);
    let mut served = common::Served::serve(config, lambda_http::service_fn(recording::handler));
    let mut group = c.benchmark_group("metric");
    // Histograms are the same no-op call; timed in chunks of `KEPT` (the cap with metrics
    // on), they would take an invocation per thousand nanoseconds.
    group.bench_function("counter!, metrics off", |b| {
        b.iter_custom(|iters| recording::inside(&mut served, "counter!", iters))
    });
    group.finish();

    let mut group = c.benchmark_group("invocation_metrics_off");
    for (name, op, n) in [("0 metrics", "", 0), ("1 histogram value", "histogram!", 1)] {
        let event = recording::event(op, n);
        group.bench_function(name, |b| b.iter_custom(|iters| served.time(iters, &event)));
    }
    group.finish();
}

criterion_group!(benches, metrics_off);
criterion_main!(benches);
