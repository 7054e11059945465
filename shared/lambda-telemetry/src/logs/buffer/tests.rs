//! Log buffering through the invocation layer and the log layer, as a handler sees it. The
//! rules are Powertools' (TypeScript `logBufferOptions`, its docs' "Buffering FAQs"), per
//! invocation also when several run at once.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use lambda_http::{Request, RequestExt as _};
use serde_json::Value;
use tower::{Layer as _, ServiceExt as _};
use tracing::Level;

use super::{DROPPED_MESSAGE, LogBuffer, TOO_LONG_MESSAGE};
use crate::config::{Config, LogFormat};
use crate::failure::BoxError;
use crate::invocation::InvocationLayer;
use crate::invocation::tests::event;

fn config(buffer: LogBuffer) -> Config {
    crate::logs::testing::config(LogFormat::Json).with_log_buffer(buffer)
}

/// Serves one invocation per id, all at once on one thread (the test's subscriber is the
/// thread's), through the invocation layer made from `config`, at the log level INFO, then
/// runs `then`; gives the lines.
fn serve_at_once<F, Fut>(
    config: Config,
    ids: &[&str],
    handler: F,
    then: impl Future<Output = ()>,
) -> Vec<Value>
where
    F: Fn(String) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<&'static str, BoxError>> + Send + 'static,
{
    let level = tracing_subscriber::filter::LevelFilter::INFO;
    serve_at_once_at(config, level, ids, handler, then)
}

/// [`serve_at_once`] at the log level `level`.
fn serve_at_once_at<F, Fut>(
    config: Config,
    level: tracing_subscriber::filter::LevelFilter,
    ids: &[&str],
    handler: F,
    then: impl Future<Output = ()>,
) -> Vec<Value>
where
    F: Fn(String) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<&'static str, BoxError>> + Send + 'static,
{
    let runtime = crate::logs::testing::current_thread_runtime();
    let layer = InvocationLayer::from_config(&config);
    let service = tower::service_fn(move |request: Request| {
        handler.clone()(request.lambda_context().request_id)
    });
    let requests = ids.iter().map(|id| {
        let mut context = lambda_http::Context::default();
        context.request_id = (*id).into();
        layer
            .layer(service.clone())
            .oneshot(event().with_lambda_context(context))
    });
    let lines = crate::logs::testing::capture_with(config, level, || {
        runtime.block_on(async {
            tracing::debug!("at start-up, never held");
            for response in futures_util::future::join_all(requests).await {
                response.unwrap();
            }
            then.await;
        })
    });
    lines
        .iter()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// [`serve_at_once`], and nothing after.
fn serve<F, Fut>(config: Config, ids: &[&str], handler: F) -> Vec<Value>
where
    F: Fn(String) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<&'static str, BoxError>> + Send + 'static,
{
    serve_at_once(config, ids, handler, async {})
}

/// The lines of invocation `id` the handler logged, in order: not its access line, nor the
/// crate's DEBUG line at its start (held like the handler's).
fn handler_lines<'a>(lines: &'a [Value], id: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|l| l["function_request_id"] == id && l.get("status").is_none())
        .filter(|l| l["message"] != "trace parent chosen")
        .collect()
}

/// The messages of [`handler_lines`].
fn messages(lines: &[Value], id: &str) -> Vec<String> {
    handler_lines(lines, id)
        .iter()
        .map(|l| l["message"].as_str().unwrap().to_owned())
        .collect()
}

/// Powertools: lines at or below the buffer's level are held per invocation; "When the
/// invocation logs an ERROR ... the held lines are written first, in order, then the error;
/// otherwise they are dropped at the end of the invocation". A held line keeps its own
/// timestamp ("The timestamp preserves the original time when the log record was created")
/// and its invocation's ids; two invocations at once never see each other's.
#[test]
fn held_lines_come_before_their_invocations_error_in_order_and_are_dropped_otherwise() {
    let lines = serve(config(LogBuffer::default()), &["req-a", "req-b"], |me| {
        async move {
            tracing::debug!("{me} one");
            // Later than the first by more than the timestamps' millisecond.
            tokio::time::sleep(Duration::from_millis(3)).await;
            tracing::debug!("{me} two");
            tracing::info!("{me} info, written at once");
            tokio::task::yield_now().await;
            if me == "req-a" {
                tokio::time::sleep(Duration::from_millis(3)).await;
                tracing::error!("{me} failed");
                tracing::debug!("{me} after the error, held anew and dropped");
            }
            Ok("ok")
        }
    });
    assert_eq!(
        messages(&lines, "req-a"),
        [
            "req-a info, written at once",
            "req-a one",
            "req-a two",
            "req-a failed"
        ],
        "{lines:#?}"
    );
    assert_eq!(
        messages(&lines, "req-b"),
        ["req-b info, written at once"],
        "{lines:#?}"
    );
    let of_a = handler_lines(&lines, "req-a");
    let stamp = |message: &str| {
        of_a.iter()
            .find(|l| l["message"] == message)
            .map(|l| l["timestamp"].as_str().unwrap().to_owned())
            .unwrap()
    };
    assert!(stamp("req-a one") < stamp("req-a two"), "{of_a:#?}");
    assert!(stamp("req-a two") < stamp("req-a failed"), "{of_a:#?}");
    let held = of_a.iter().find(|l| l["message"] == "req-a two").unwrap();
    assert_eq!(held["level"], "DEBUG");
    let failed = of_a
        .iter()
        .find(|l| l["message"] == "req-a failed")
        .unwrap();
    assert!(held["trace_id"].is_string(), "{held}");
    assert_eq!(held["trace_id"], failed["trace_id"]);
    assert_ne!(held["span_id"], Value::Null);
    assert!(
        !lines
            .iter()
            .any(|l| l["message"] == "at start-up, never held"),
        "outside an invocation the log level alone decides"
    );
}

/// The buffer holds what the log would write at the buffer's level: the log filter's
/// default level is raised to it, a crate's own directive keeps its level (`noisy=warn` stays
/// quiet), TRACE is held only by a buffer at TRACE, and a log that is `off` (Powertools'
/// `SILENT`) holds and writes nothing, failure or not.
#[test]
fn the_buffer_holds_what_the_log_would_write_at_its_level() {
    let handler = |_| async {
        tracing::debug!("app debug");
        tracing::trace!("app trace");
        tracing::debug!(target: "noisy", "noisy debug");
        tracing::warn!(target: "noisy", "noisy warn");
        tracing::error!("failed");
        Ok("ok")
    };
    let at = |level: Level, directives: &str| {
        let config = config(LogBuffer::at(level)).with_log_filter(directives);
        let filter = directives.split(',').next().unwrap().parse().unwrap();
        let lines = serve_at_once_at(config, filter, &["req-a"], handler, async {});
        messages(&lines, "req-a")
    };
    assert_eq!(
        at(Level::DEBUG, "info,noisy=warn"),
        // WARN is written at once, the held lines before the error.
        ["noisy warn", "app debug", "failed"]
    );
    assert_eq!(
        at(Level::TRACE, "info,noisy=warn"),
        // A buffer at TRACE holds TRACE only (Powertools' `bufferAtVerbosity`): the DEBUG line
        // is neither held nor, at INFO, written.
        ["noisy warn", "app trace", "failed"]
    );
    assert_eq!(
        at(Level::DEBUG, "info"),
        ["noisy warn", "app debug", "noisy debug", "failed"]
    );
    assert!(at(Level::DEBUG, "off").is_empty());
}

/// "Older logs are removed from the buffer to make room for new logs ... we emit a warning
/// when flushing the buffer to indicate that some logs have been dropped": the newest lines
/// that fit are written, in order, then one WARN line with how many were dropped.
#[test]
fn a_full_buffer_drops_its_oldest_and_the_flush_says_how_many() {
    const MAX_BYTES: usize = 2_000;
    let lines = serve(
        config(LogBuffer::default().max_bytes(MAX_BYTES)),
        &["req-a"],
        |_| async {
            for n in 0..30 {
                tracing::debug!(n, padding = "x".repeat(100), "held");
            }
            tracing::error!("failed");
            Ok("ok")
        },
    );
    let of_a = handler_lines(&lines, "req-a");
    let held: Vec<u64> = of_a
        .iter()
        .filter(|l| l["message"] == "held")
        .map(|l| l["n"].as_u64().unwrap())
        .collect();
    assert!(!held.is_empty() && held.len() < 30, "{held:?}");
    let newest: Vec<u64> = (30 - held.len() as u64..30).collect();
    assert_eq!(held, newest, "the newest, in order");
    let bytes: usize = of_a[..held.len()].iter().map(|l| l.to_string().len()).sum();
    assert!(bytes <= MAX_BYTES, "{bytes} bytes held");
    let notice = of_a[held.len()];
    assert_eq!(notice["level"], "WARN");
    assert_eq!(notice["message"], DROPPED_MESSAGE);
    // And the crate's line at the invocation's start, the oldest.
    assert_eq!(notice["dropped_lines"], 30 - held.len() + 1);
    assert_eq!(notice["max_bytes"], MAX_BYTES);
    assert_eq!(of_a[held.len() + 1]["message"], "failed");
    assert_eq!(of_a.len(), held.len() + 2, "{of_a:#?}");
}

/// "What happens if I try to add a log line that is bigger than max buffer size? The log will
/// be emitted directly ... we emit a warning to indicate that the log line was too big".
#[test]
fn a_line_longer_than_the_buffer_is_written_at_once_after_a_warning() {
    let lines = serve(
        config(LogBuffer::default().max_bytes(1_000)),
        &["req-a"],
        |_| async {
            tracing::debug!(padding = "x".repeat(1_000), "too long to hold");
            tracing::debug!("short, held and dropped");
            Ok("ok")
        },
    );
    assert_eq!(
        messages(&lines, "req-a"),
        [TOO_LONG_MESSAGE, "too long to hold"],
        "{lines:#?}"
    );
    let warning = lines
        .iter()
        .find(|l| l["message"] == TOO_LONG_MESSAGE)
        .unwrap();
    assert_eq!(warning["level"], "WARN");
    assert_eq!(warning["max_bytes"], 1_000);
    assert!(warning["line_bytes"].as_u64().unwrap() > 1_000);
}

/// With `flushOnErrorLog` false an ERROR line writes nothing held; a handler that fails or
/// panics still writes its held lines first (Powertools' `flushBufferOnUncaughtError`, here
/// always on): what led to a failure is what the buffer is for.
#[test]
fn a_failure_or_a_panic_writes_the_held_lines_first_though_an_error_line_does_not() {
    let buffer = LogBuffer::default().flush_on_error_log(false);
    let lines = serve(
        config(buffer),
        &["req-logs", "req-fails", "req-panics"],
        |me| async move {
            tracing::debug!("{me} held");
            tokio::task::yield_now().await;
            match me.as_str() {
                "req-logs" => {
                    tracing::error!("an error line");
                    Ok("ok")
                }
                "req-fails" => Err("the handler's error".into()),
                _ => panic!("the handler's panic"),
            }
        },
    );
    assert_eq!(
        messages(&lines, "req-logs"),
        ["an error line"],
        "{lines:#?}"
    );
    assert_eq!(
        messages(&lines, "req-fails"),
        ["req-fails held", "handler failed"],
        "{lines:#?}"
    );
    assert_eq!(
        messages(&lines, "req-panics"),
        // The panic's ERROR line is the hook's, which `init` installs (not this test: the hook
        // is the process's).
        ["req-panics held"],
        "{lines:#?}"
    );
}

/// Powertools' `flushBuffer` writes the held lines now, `clearBuffer` drops them; both leave
/// the buffer empty and holding again.
#[test]
fn a_handler_flushes_or_clears_its_own_buffer() {
    let lines = serve(config(LogBuffer::default()), &["req-a"], |_| async {
        tracing::debug!("flushed by the handler");
        crate::flush_log_buffer();
        tracing::debug!("cleared");
        crate::clear_log_buffer();
        tracing::debug!("held after the clear");
        tracing::error!("failed");
        Ok("ok")
    });
    assert_eq!(
        messages(&lines, "req-a"),
        ["flushed by the handler", "held after the clear", "failed"],
        "{lines:#?}"
    );
}

/// A task started with `spawn` holds into its invocation's buffer while the invocation runs;
/// once it has answered (its buffer dropped), the task's lines are written by the log level
/// alone, still with the invocation's context, and a flush finds nothing.
#[test]
fn a_spawned_task_holds_into_its_invocation_until_it_answers() {
    let answered = Arc::new(tokio::sync::Notify::new());
    let (tasks, mut spawned) = tokio::sync::mpsc::unbounded_channel();
    let handler = {
        let answered = Arc::clone(&answered);
        move |_| {
            let answered = Arc::clone(&answered);
            let tasks = tasks.clone();
            async move {
                crate::spawn(async { tracing::debug!("from a task") })
                    .await
                    .unwrap();
                let later = crate::spawn(async move {
                    answered.notified().await;
                    tracing::debug!("debug from a task after the answer");
                    tracing::info!("info from a task after the answer");
                    crate::flush_log_buffer();
                });
                tasks.send(later).unwrap();
                tracing::error!("failed");
                Ok("ok")
            }
        }
    };
    let lines = serve_at_once(
        config(LogBuffer::default()),
        &["req-a"],
        handler,
        async move {
            answered.notify_one();
            spawned.recv().await.unwrap().await.unwrap();
        },
    );
    assert_eq!(
        messages(&lines, "req-a"),
        ["from a task", "failed", "info from a task after the answer"],
        "{lines:#?}"
    );
}

/// An invocation sampled to log at DEBUG (`POWERTOOLS_LOGGER_SAMPLE_RATE`) shows its DEBUG
/// lines as they happen: nothing of it is held, though buffering is on.
#[test]
fn a_sampled_invocation_holds_nothing() {
    let config = config(LogBuffer::default()).with_log_sample_rate(1.0);
    let lines = serve(config, &["req-a"], |_| async {
        tracing::debug!("written at once");
        tracing::trace!("below the sampled level");
        Ok("ok")
    });
    assert_eq!(messages(&lines, "req-a"), ["written at once"], "{lines:#?}");
}

/// Reading the settings: a level (`on` is `debug`), or off; a bad level is said and turns
/// buffering off; a bad size or flag is said and takes the default; code wins over all.
#[test]
fn the_buffer_settings_read_as_powertools_options() {
    let read = |vars: &[(&str, &str)]| {
        let config = Config::from_lookup(&|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        });
        let mut problems = Vec::new();
        let buffer = config.log_buffer(&mut problems);
        (buffer, problems.len())
    };
    assert_eq!(read(&[]), (None, 0));
    assert_eq!(read(&[("LAMBDA_TELEMETRY_LOG_BUFFER", "off")]), (None, 0));
    assert_eq!(
        read(&[("LAMBDA_TELEMETRY_LOG_BUFFER", "on")]),
        (Some(LogBuffer::default()), 0)
    );
    assert_eq!(
        read(&[("LAMBDA_TELEMETRY_LOG_BUFFER", " Warning ")]),
        (Some(LogBuffer::at(Level::WARN)), 0)
    );
    assert_eq!(read(&[("LAMBDA_TELEMETRY_LOG_BUFFER", "error")]), (None, 1));
    assert_eq!(
        read(&[("LAMBDA_TELEMETRY_LOG_BUFFER", "verbose")]),
        (None, 1)
    );
    assert_eq!(
        read(&[
            ("LAMBDA_TELEMETRY_LOG_BUFFER", "trace"),
            ("LAMBDA_TELEMETRY_LOG_BUFFER_MAX_BYTES", "65536"),
            ("LAMBDA_TELEMETRY_LOG_BUFFER_FLUSH_ON_ERROR_LOG", "false"),
        ]),
        (
            Some(
                LogBuffer::at(Level::TRACE)
                    .max_bytes(65_536)
                    .flush_on_error_log(false)
            ),
            0
        )
    );
    for (max_bytes, flush) in [("0", "true"), ("20k", "true"), ("1024", "sometimes")] {
        let (buffer, problems) = read(&[
            ("LAMBDA_TELEMETRY_LOG_BUFFER", "debug"),
            ("LAMBDA_TELEMETRY_LOG_BUFFER_MAX_BYTES", max_bytes),
            ("LAMBDA_TELEMETRY_LOG_BUFFER_FLUSH_ON_ERROR_LOG", flush),
        ]);
        assert_eq!(problems, 1, "{max_bytes} {flush}");
        let buffer = buffer.unwrap();
        assert!(buffer.flush_on_error_log);
        assert!(buffer.max_bytes == 1024 || buffer.max_bytes == super::DEFAULT_MAX_BYTES);
    }
    let config = Config::from_lookup(&|name| {
        (name == "LAMBDA_TELEMETRY_LOG_BUFFER").then(|| "debug".to_owned())
    })
    .with_log_buffer(None);
    assert_eq!(config.log_buffer(&mut Vec::new()), None);
    // ERROR lines are never held: `at(ERROR)` holds what `at(WARN)` does.
    assert_eq!(LogBuffer::at(Level::ERROR), LogBuffer::at(Level::WARN));
}
