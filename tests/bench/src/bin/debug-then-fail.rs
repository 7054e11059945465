//! rollbar-test's own handler (a failure with `?error=1`) after ten DEBUG lines, served by
//! the crate as the Cruddur functions are: the invocation the log buffer is for. No Cruddur
//! function logs at DEBUG inside its handler, so with buffering on their failures flush an
//! empty buffer; this one holds about 5 KB when its ERROR line flushes them (and, buffering
//! off, filters the ten lines out at the default INFO level).

#[path = "../../../../functions/rollbar-test/src/handler.rs"]
mod handler;

/// What the handler logs before it fails: a handler saying what it does.
const DEBUG_LINES: usize = 10;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    cruddur::serve("/rollbar/test", |request| async move {
        for step in 0..DEBUG_LINES {
            tracing::debug!(step, table = "activities", "reading the page of activities");
        }
        handler::handle(request).await
    })
    .await
}
