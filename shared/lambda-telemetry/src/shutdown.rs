//! One more flush when the execution environment shuts down.
//!
//! Spans are flushed after every invocation, so at shutdown only what ended since (work a
//! handler spawned) is left. Lambda sends the runtime SIGTERM before shutting an environment
//! down only when an extension is registered. With `LAMBDA_TELEMETRY_SHUTDOWN_FLUSH=on` this
//! registers a no-op internal extension (as lambda_runtime's `graceful-shutdown` does, but
//! without its panic when registration fails: here that is one WARN line and no SIGTERM).
//!
//! It is off by default because the registration is a Runtime API round trip that every cold
//! start waits for before its first invocation (0.3 ms of 2.1 in `make bench`), to save what
//! rarely exists: spans that end between invocations. Off Lambda, SIGTERM and SIGINT arrive
//! without it and always flush.

use http::Method;
use lambda_runtime_api_client::body::Body;
use lambda_runtime_api_client::{PooledClient, build_request};

use crate::config::Config;

/// The extension's name: unique among the function's internal extensions.
const EXTENSION_NAME: &str = "lambda-telemetry-shutdown";

/// Registers the no-op extension when `LAMBDA_TELEMETRY_SHUTDOWN_FLUSH` (or
/// [`Config::with_shutdown_flush`]) asks for it; must run before the runtime asks for its first
/// invocation. Off Lambda (no Runtime API) there is nothing to register.
pub(crate) async fn register_extension(config: &Config) {
    if !config.flush.at_shutdown || config.runtime.api.is_none() {
        return;
    }
    let client = PooledClient::builder().build();
    let register = build_request()
        .method(Method::POST)
        .uri("/2020-01-01/extension/register")
        .header("Lambda-Extension-Name", EXTENSION_NAME)
        .body(Body::from(r#"{"events":[]}"#));
    let id = match register.map(|r| client.call(r)) {
        Ok(call) => match call.await {
            Ok(response) if response.status().is_success() => response
                .headers()
                .get("Lambda-Extension-Identifier")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            Ok(response) => {
                tracing::warn!(
                    status = response.status().as_u16(),
                    "could not register the shutdown extension; no flush at shutdown"
                );
                None
            }
            Err(error) => {
                tracing::warn!(%error, "could not register the shutdown extension; no flush at shutdown");
                None
            }
        },
        Err(_) => None,
    };
    let Some(id) = id else { return };
    // Lambda ends the init phase once every extension waits for its next event. With no
    // events subscribed the wait lasts until shutdown; the connection sits idle until then.
    tokio::spawn(async move {
        loop {
            let next = build_request()
                .method(Method::GET)
                .uri("/2020-01-01/extension/event/next")
                .header("Lambda-Extension-Identifier", &id)
                .body(Body::empty());
            let Ok(next) = next else { return };
            if client.call(next).await.is_err() {
                return;
            }
        }
    });
}

/// Completes on SIGTERM or SIGINT; never if signals cannot be listened to.
pub(crate) async fn signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
