//! A function for the concurrency test (`concurrent_invocations_keep_their_own_context`): a
//! handler whose invocations overlap across `.await` points and leave something of their own
//! in every signal, served by `lambda_telemetry::run` as the Cruddur functions are, on the
//! tokio flavour `FIXTURE_TOKIO_FLAVOR` names (`current_thread` or `multi_thread`, the
//! default): `#[tokio::main]` would fix one.
//!
//! The event's query string carries the order number `n` (`?n=5`); for each invocation the
//! handler
//! 1. adds the key `order` = n to every line of the invocation,
//! 2. logs an INFO line and a DEBUG line (`held <n> step 1`), then sleeps a few ms that vary
//!    with n, so that the invocations interleave,
//! 3. awaits a task started with `lambda_telemetry::spawn` that logs a DEBUG line
//!    (`held <n> step 2`) and counts n in the metric `fixture.orders`,
//! 4. for an odd n logs an ERROR (a Rollbar item, and the held DEBUG lines when logs are
//!    buffered) and answers 500; for an even n answers 200.

use std::process::ExitCode;
use std::time::Duration;

use lambda_http::{Body, Error, Request, RequestExt as _, Response, service_fn};

/// The variable that picks the tokio flavour.
const FLAVOR: &str = "FIXTURE_TOKIO_FLAVOR";

fn main() -> ExitCode {
    let flavor = std::env::var(FLAVOR).unwrap_or_default();
    let mut builder = match flavor.as_str() {
        "current_thread" => tokio::runtime::Builder::new_current_thread(),
        "multi_thread" | "" => tokio::runtime::Builder::new_multi_thread(),
        other => {
            eprintln!("{FLAVOR}={other:?}: expected current_thread or multi_thread");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("no tokio runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(lambda_telemetry::run(service_fn(handle))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(
                error = &error as &dyn std::error::Error,
                "the function stopped"
            );
            ExitCode::FAILURE
        }
    }
}

async fn handle(request: Request) -> Result<Response<Body>, Error> {
    let n: u64 = request
        .query_string_parameters_ref()
        .and_then(|query| query.first("n"))
        .and_then(|n| n.parse().ok())
        .ok_or("the event has no order number `?n=`")?;
    lambda_telemetry::append_keys([("order", n)]);
    tracing::info!("order {n} received");
    tracing::debug!("held {n} step 1");
    // 2 to 12 ms, in an order unlike n's, so that later invocations overtake earlier ones.
    tokio::time::sleep(Duration::from_millis(2 + (n * 7) % 11)).await;
    lambda_telemetry::spawn(async move {
        tracing::debug!("held {n} step 2");
        lambda_telemetry::metrics::counter!("fixture.orders").increment(n);
    })
    .await?;
    // `?hold_ms=`: a slow handler, still running when the process is told to end.
    let hold_ms: u64 = request
        .query_string_parameters_ref()
        .and_then(|query| query.first("hold_ms"))
        .and_then(|ms| ms.parse().ok())
        .unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(hold_ms)).await;
    if n % 2 == 1 {
        tracing::error!("order {n} failed");
        return Ok(answer(500, format!("order {n} failed"))?);
    }
    Ok(answer(200, format!("order {n} served"))?)
}

fn answer(status: u16, text: String) -> http::Result<Response<Body>> {
    Response::builder().status(status).body(Body::from(text))
}
