//! One invocation through a loopback Runtime API with only the `xray` exporter on: with
//! no span of the handler's, and with [`common::SPANS`] of them, each timed from the event
//! handed out to the end of the post-response flush. Their difference over `SPANS` is the
//! cost of one span: created, ended, encoded and sent.

mod common;

use criterion::{Criterion, criterion_group, criterion_main};

fn flush(c: &mut Criterion) {
    common::sinks_from_env("xray");
    let mut served = common::Served::start();
    let mut group = c.benchmark_group("invocation_xray");
    group.bench_function("0 spans", |b| {
        b.iter_custom(|iters| served.time(iters, false))
    });
    group.bench_function("100 spans", |b| {
        b.iter_custom(|iters| served.time(iters, true))
    });
    group.finish();
}

criterion_group!(benches, flush);
criterion_main!(benches);
