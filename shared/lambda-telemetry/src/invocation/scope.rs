//! What code running inside an invocation may ask about it: a task-local, so that concurrent
//! invocations of one process (Lambda Managed Instances) never see each other's.
//!
//! The layer sets it; outgoing requests read the trace contexts, error reports the request
//! and their count. Outside an invocation (tasks the handler spawns, start-up) there is none.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::request::{RequestDetails, RequestSummary};
use crate::logs::LogBuffer;
use crate::logs::buffer::{Flushed, HeldLines, WriteLine};
use crate::metrics::Pending;
use crate::sampling::XrayTrace;
use crate::tracecontext::CallerTrace;

/// One invocation's context. Made once per invocation, in the one allocation of its `Arc`.
pub(crate) struct InvocationScope {
    /// The Lambda X-Ray context, for outgoing requests.
    pub(super) lambda_xray: Option<XrayTrace>,
    /// The caller's W3C trace context when it is the parent, for outgoing requests and
    /// `traceresponse`: the SDK's span contexts lose its random flag and cannot hold every
    /// valid `tracestate`.
    pub(super) caller: Option<CallerTrace>,
    /// The request as the span and the access line say it.
    pub(super) summary: RequestSummary,
    /// What error reports add of the request; only while something reports errors. Boxed:
    /// a request that keeps none pays a pointer, not the size of a header map.
    pub(super) details: Option<Box<RequestDetails>>,
    /// Error reports made so far in this invocation, for its cap (`ROLLBAR_MAX_ITEMS`): per
    /// invocation, so that concurrent invocations never spend each other's.
    reports: AtomicU64,
    /// The metrics recorded in this invocation, its dimensions and metadata: per invocation,
    /// so that concurrent invocations never carry each other's. Empty (no allocation) until
    /// the handler records one. `None` when nothing closes the invocation's metrics (no
    /// metrics installed): values then go to the process's group, never into a void.
    pub(super) metrics: Option<Mutex<Pending>>,
    /// The keys the handler added to every line (`append_keys`): replaced whole on each
    /// change, so that a line takes a reference, not a copy, and no lock is held while it is
    /// written.
    keys: Mutex<Arc<Vec<(String, serde_json::Value)>>>,
    /// Whether this invocation logs at DEBUG whatever the level (`POWERTOOLS_LOGGER_SAMPLE_RATE`),
    /// decided once, when it starts.
    pub(super) debug_sampled: bool,
    /// How the invocation's lines are buffered, `None` when they are not (buffering off, or
    /// the invocation sampled at DEBUG); read for every event that may be held, without a lock.
    log_buffer: Option<LogBuffer>,
    /// The lines it holds: allocated with the first.
    held_lines: Mutex<Option<HeldLines>>,
    /// The invocation has answered: what a task it spawned records later is the process's
    /// (its metrics group is closed, and nothing would publish it).
    closed: AtomicBool,
}

impl InvocationScope {
    pub(super) fn new(
        summary: RequestSummary,
        details: Option<Box<RequestDetails>>,
        lambda_xray: Option<XrayTrace>,
        caller: Option<CallerTrace>,
        records_metrics: bool,
        debug_sampled: bool,
        log_buffer: Option<LogBuffer>,
    ) -> Self {
        Self {
            lambda_xray,
            caller,
            summary,
            details,
            reports: AtomicU64::new(0),
            metrics: records_metrics.then(Mutex::default),
            keys: Mutex::default(),
            debug_sampled,
            log_buffer: log_buffer.filter(|_| !debug_sampled),
            held_lines: Mutex::new(None),
            closed: AtomicBool::new(false),
        }
    }
}

tokio::task_local! {
    // Shared: the handler's synchronous call and its future see the same scope.
    pub(super) static INVOCATION: Arc<InvocationScope>;
}

/// The Lambda X-Ray context of the invocation the caller runs in, if any (not in tasks the
/// handler spawns: they run outside the invocation).
pub(crate) fn lambda_xray_context() -> Option<XrayTrace> {
    INVOCATION
        .try_with(|scope| scope.lambda_xray)
        .ok()
        .flatten()
}

/// Runs `f` with the caller's W3C trace context of the invocation the code runs in, or with
/// `None` outside one (tasks the handler spawns) or when the caller's context is not the
/// parent. Borrowed, not cloned: this runs for every outgoing request.
pub(crate) fn with_caller_trace<R>(f: impl Fn(Option<&CallerTrace>) -> R) -> R {
    INVOCATION
        .try_with(|scope| f(scope.caller.as_ref()))
        .unwrap_or_else(|_| f(None))
}

/// Runs `f` with the request of the invocation the caller runs in, when its details were
/// kept (something reports errors); `None` otherwise. Borrowed: an error report describes the
/// request only when it is made.
#[cfg_attr(not(feature = "rollbar"), allow(dead_code))]
pub(crate) fn with_request<R>(f: impl FnOnce(&RequestSummary, &RequestDetails) -> R) -> Option<R> {
    INVOCATION
        .try_with(|scope| {
            scope
                .details
                .as_ref()
                .map(|details| f(&scope.summary, details))
        })
        .ok()
        .flatten()
}

/// How many error reports the invocation the caller runs in had made before this one; `None`
/// outside an invocation.
#[cfg_attr(not(feature = "rollbar"), allow(dead_code))]
pub(crate) fn count_report() -> Option<u64> {
    INVOCATION
        .try_with(|scope| scope.reports.fetch_add(1, Ordering::Relaxed))
        .ok()
}

/// Runs `f` on the metrics of the invocation the caller runs in; `false` (and `f` not run)
/// outside one, in one whose metrics nothing closes, or in one that has answered (a task it
/// spawned, running on).
pub(crate) fn with_pending_metrics(f: impl FnOnce(&mut Pending)) -> bool {
    INVOCATION
        .try_with(|scope| {
            let Some(metrics) = &scope.metrics else {
                return false;
            };
            if scope.closed.load(Ordering::Acquire) {
                return false;
            }
            if let Ok(mut pending) = metrics.lock() {
                f(&mut pending);
            }
            true
        })
        .unwrap_or(false)
}

impl InvocationScope {
    /// Marks the invocation answered: see [`with_pending_metrics`]. The lines it still holds
    /// are dropped, and a task it spawned writes its lines as if there were no buffer.
    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        if self.log_buffer.is_some()
            && let Ok(mut held) = self.held_lines.lock()
        {
            *held = None;
        }
    }
}

/// The keys added to every line of the invocation the caller runs in; `None` outside one or
/// when none were added.
pub(crate) fn invocation_keys() -> Option<Arc<Vec<(String, serde_json::Value)>>> {
    INVOCATION
        .try_with(|scope| {
            scope
                .keys
                .lock()
                .ok()
                .map(|keys| Arc::clone(&keys))
                .filter(|keys| !keys.is_empty())
        })
        .ok()
        .flatten()
}

/// Changes the keys of the invocation the caller runs in; `false` outside one.
pub(crate) fn edit_keys(f: impl FnOnce(&mut Vec<(String, serde_json::Value)>)) -> bool {
    INVOCATION
        .try_with(|scope| {
            if let Ok(mut keys) = scope.keys.lock() {
                f(Arc::make_mut(&mut keys));
            }
        })
        .is_ok()
}

/// `tokio::spawn`, inside the current invocation: the task's lines carry the invocation's
/// context and added keys, its spans are children of the current span, and what it records
/// before the invocation answers is the invocation's (after, the process's). Outside an
/// invocation it is `tokio::spawn` with the current span.
///
/// Panics outside a tokio runtime, as `tokio::spawn` does.
pub fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    use tracing::Instrument as _;
    use tracing::instrument::WithSubscriber as _;
    // The caller's subscriber too: on another worker thread the task would see the global one.
    let future = future
        .instrument(tracing::Span::current())
        .with_current_subscriber();
    match INVOCATION.try_with(Arc::clone) {
        Ok(scope) => tokio::spawn(INVOCATION.scope(scope, future)),
        Err(_) => tokio::spawn(future),
    }
}

/// `tokio::task::spawn_blocking`, inside the current invocation: as [`spawn`], for blocking
/// work on tokio's blocking threads (a task-local does not follow a closure there by itself).
/// Outside an invocation it is `spawn_blocking` with the current span.
///
/// Panics outside a tokio runtime, as `spawn_blocking` does.
pub fn spawn_blocking<F, R>(f: F) -> tokio::task::JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let span = tracing::Span::current();
    // The caller's subscriber too: another thread would see the global one only.
    let dispatch = tracing::dispatcher::get_default(Clone::clone);
    let scope = INVOCATION.try_with(Arc::clone).ok();
    tokio::task::spawn_blocking(move || {
        tracing::dispatcher::with_default(&dispatch, || match scope {
            Some(scope) => INVOCATION.sync_scope(scope, || span.in_scope(f)),
            None => span.in_scope(f),
        })
    })
}

/// Runs `f` with what decides, per invocation, which events reach the log layer: whether the
/// invocation the caller runs in was sampled to log at DEBUG, and how it buffers its lines
/// (`None` when it does not, or has answered). `false` outside an invocation.
pub(crate) fn with_log_choices(f: impl FnOnce(bool, Option<&LogBuffer>) -> bool) -> bool {
    INVOCATION
        .try_with(|scope| {
            let buffer = scope
                .log_buffer
                .as_ref()
                .filter(|_| !scope.closed.load(Ordering::Acquire));
            f(scope.debug_sampled, buffer)
        })
        .unwrap_or(false)
}

/// What the log layer does with a line: see [`hold_line`].
pub(crate) enum Holding {
    /// Write it: no buffer holds it.
    Write,
    /// The invocation's buffer holds it.
    Held,
    /// Too long for a buffer of this many bytes: write it, and say why.
    TooLong(usize),
    /// An ERROR line: write these held lines first, then it.
    FlushFirst(Flushed),
}

/// Holds `line` (formatted at `level`, without its newline) in the log buffer of the
/// invocation the caller runs in when it holds that level, or says what else to do with it.
/// A line `never_held` (the buffer's own WARN, a line a Rollbar item names) is written.
pub(crate) fn hold_line(
    level: tracing::Level,
    never_held: bool,
    line: &[u8],
    write: &WriteLine,
) -> Holding {
    INVOCATION
        .try_with(|scope| {
            let Some(buffer) = scope.log_buffer else {
                return Holding::Write;
            };
            let Ok(mut held) = scope.held_lines.lock() else {
                return Holding::Write;
            };
            // Read under the lock `close` empties the buffer under: a line held after that
            // would be held for no one.
            if scope.closed.load(Ordering::Acquire) {
                return Holding::Write;
            }
            if level == tracing::Level::ERROR {
                return match held.as_mut() {
                    Some(held) if buffer.flush_on_error_log => Holding::FlushFirst(held.take()),
                    _ => Holding::Write,
                };
            }
            if never_held || !buffer.holds(level) {
                return Holding::Write;
            }
            match held
                .get_or_insert_with(|| HeldLines::new(buffer))
                .hold(line, write)
            {
                Ok(()) => Holding::Held,
                Err(()) => Holding::TooLong(buffer.max_bytes),
            }
        })
        .unwrap_or(Holding::Write)
}

/// Takes the lines the invocation the caller runs in holds; `None` outside one, when it
/// buffers nothing, or holds nothing.
pub(crate) fn take_held_lines() -> Option<Flushed> {
    INVOCATION
        .try_with(|scope| {
            scope
                .held_lines
                .lock()
                .ok()
                .and_then(|mut held| held.as_mut().map(HeldLines::take))
        })
        .ok()
        .flatten()
}
