//! One invocation through a loopback Runtime API with only the `otlp` exporter on: with
//! no span of the handler's, and with [`common::SPANS`] of them, each timed from the event
//! handed out to the end of the post-response flush. Their difference over `SPANS` is the
//! cost of one span: created, ended, encoded and sent.

mod common;

use criterion::{Criterion, criterion_group, criterion_main};

fn flush(c: &mut Criterion) {
    common::invocations(c, "otlp");
}

criterion_group!(benches, flush);
criterion_main!(benches);
