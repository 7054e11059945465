//! A warm function's memory does not grow with the invocations it serves.
//!
//! lambda_runtime 1.5 called `setenv("_X_AMZN_TRACE_ID", ..)` on every invocation, and
//! glibc's `setenv` never frees a replaced value: with a unique trace id per invocation, as
//! Lambda's active tracing gives, the process grew by about 175 bytes each time, 16 MB over
//! the 95,000 invocations measured here. The real function binary is served 100,000 REST API
//! events by a loopback Runtime API, each with its own `Lambda-Runtime-Trace-Id`; the
//! resident set after 5,000 (the allocator and every lazy structure warm) and after the
//! last must differ by less than 2 MB: an eighth of the old growth, and room for allocator
//! noise (a few hundred KB between runs here).

use std::time::{Duration, Instant};

use tests::runtime_api::{Function, RuntimeApi, function_binary};

const WARM_UP: usize = 5_000;
const TOTAL: usize = 100_000;
const MAX_GROWTH_KIB: u64 = 2 * 1024;

#[test]
fn rss_stays_flat_over_100000_invocations() {
    let binary = function_binary("home-activities");
    let event = std::fs::read(tests::workspace_root().join("events/home.json")).unwrap();
    let api = RuntimeApi::start();
    api.discard_answers();
    api.queue(&event, TOTAL);
    // Warnings and errors only: the access lines are not what is measured, and 100,000 of
    // them would be most of the run's time.
    let function = Function::start_quiet(&binary, &api, &[("AWS_LAMBDA_LOG_LEVEL", "WARN")]);

    let started = Instant::now();
    assert!(
        api.wait_for(WARM_UP, Duration::from_secs(120)),
        "the first {WARM_UP} invocations were not served"
    );
    let warm = function.rss_kib();
    let warm_at = started.elapsed();
    assert!(
        api.wait_for(TOTAL, Duration::from_secs(600)),
        "the {TOTAL} invocations were not served"
    );
    let last = function.rss_kib();
    let elapsed = started.elapsed();

    let invocations = api.invocations();
    assert_eq!(invocations.len(), TOTAL);
    assert!(
        invocations.iter().all(|i| !i.failed),
        "an invocation failed"
    );
    let growth = last.saturating_sub(warm);
    println!(
        "VmRSS after {WARM_UP}: {warm} KiB ({:.1} s); after {TOTAL}: {last} KiB ({:.1} s); growth {growth} KiB, {:.1} B per invocation",
        warm_at.as_secs_f64(),
        elapsed.as_secs_f64(),
        growth as f64 * 1024.0 / (TOTAL - WARM_UP) as f64,
    );
    assert!(
        growth < MAX_GROWTH_KIB,
        "the resident set grew by {growth} KiB over {} invocations",
        TOTAL - WARM_UP
    );
}
