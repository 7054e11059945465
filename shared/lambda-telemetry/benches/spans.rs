//! Creating and ending one span with every layer on (JSON logs, OpenTelemetry, the span
//! buffer that OTLP and X-Ray are flushed from), outside any invocation.

// Only the sinks: the Runtime API driver is for the flush benchmarks.
#[allow(dead_code)]
mod common;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

fn spans(c: &mut Criterion) {
    let _telemetry = common::sinks("otlp,xray").init();
    let mut group = c.benchmark_group("span");
    group.bench_function("create", |b| {
        b.iter_with_large_drop(|| tracing::info_span!("bench-span", app.n = 1_i64))
    });
    group.bench_function("end", |b| {
        b.iter_batched(
            || tracing::info_span!("bench-span", app.n = 1_i64),
            drop,
            BatchSize::SmallInput,
        )
    });
    group.bench_function("create, enter, end", |b| {
        b.iter(|| drop(tracing::info_span!("bench-span", app.n = 1_i64).entered()))
    });
    group.finish();
}

criterion_group!(benches, spans);
criterion_main!(benches);
