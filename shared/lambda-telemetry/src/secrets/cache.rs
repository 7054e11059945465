//! A secret's value, read in the background and kept for its maximum age, the way Powertools'
//! Parameters utility caches (`max_age`), with two differences a sink after the response asks
//! for: no read ever runs on the request path, and a failed read keeps the value it replaces.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::instrument::WithSubscriber as _;

use super::SecretFor;
use super::arn::SecretArn;
use super::read::{self, Failure, Unreadable};

/// The longest wait before a failed read is tried again (sooner when the maximum age is
/// shorter): a missing secret may be created, a role granted, a network come back.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(10);
/// Reads in a row that may fail unanswered after their flush without a line (see `read`).
const UNSAID_OUTLIVED_READS: u32 = 2;
/// The log target of the lines about secrets.
const TARGET: &str = "lambda_telemetry::secrets";

/// One secret: what it is for, where it is, and its cached value.
pub(crate) struct Secret<T> {
    purpose: SecretFor<T>,
    arn: SecretArn,
    max_age: Duration,
    /// The AWS configuration to read with; `None`: the process's (tests give their own, each
    /// with its own moto).
    aws: Option<aws_config::SdkConfig>,
    state: Mutex<State<T>>,
    /// No value, and the last read failed: [`is_off`](Self::is_off), kept apart from the
    /// state so that asking never takes its lock.
    off: AtomicBool,
    /// Counts finished reads, so that a flush can wait for the one under way.
    reads: tokio::sync::watch::Sender<u64>,
}

struct State<T> {
    value: Option<Arc<T>>,
    /// When the value was read.
    read_at: Option<Instant>,
    /// When the next read is due; `None`: now.
    next_read: Option<Instant>,
    reading: bool,
    /// The end of the last flush that started or waited for the read under way: a read that
    /// fails after it may have been frozen with the process.
    flush_deadline: Option<Instant>,
    /// Reads in a row that failed unanswered after their flush, not said (see `read`).
    unsaid_in_a_row: u32,
    /// The failure said last: a line when one starts or changes, not on every retry.
    said: Option<Failure>,
}

impl<T> std::fmt::Debug for Secret<T> {
    /// The ARN, never the value.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secret")
            .field("setting", &self.purpose.setting)
            .field("arn", &self.arn.as_str())
            .finish_non_exhaustive()
    }
}

impl<T: Send + Sync + 'static> Secret<T> {
    pub(crate) fn new(purpose: SecretFor<T>, arn: SecretArn, max_age: Duration) -> Self {
        Self {
            purpose,
            arn,
            max_age,
            aws: None,
            state: Mutex::new(State {
                value: None,
                read_at: None,
                next_read: None,
                reading: false,
                flush_deadline: None,
                unsaid_in_a_row: 0,
                said: None,
            }),
            off: AtomicBool::new(false),
            reads: tokio::sync::watch::Sender::new(0),
        }
    }

    /// The same, read with `aws` rather than the process's AWS configuration.
    #[cfg(test)]
    pub(crate) fn with_aws_config(mut self, aws: aws_config::SdkConfig) -> Self {
        self.aws = Some(aws);
        self
    }

    /// How many reads have finished.
    #[cfg(test)]
    pub(crate) fn reads_finished(&self) -> u64 {
        *self.reads.borrow()
    }

    /// Starts a read in the background if one is due (never read, older than the maximum
    /// age, or failed long enough ago) and none is under way; waits for nothing. Every flush
    /// calls it, with something to send or not, so that an off sink comes back on; `deadline`
    /// is that flush's end. Needs a tokio runtime; without one (a test's synchronous code) it
    /// does nothing.
    pub(crate) fn read_if_due(self: &Arc<Self>, deadline: Instant) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        {
            let Ok(mut state) = self.state.lock() else {
                return;
            };
            if state.reading {
                // A later flush waits for it too: it is frozen, if at all, after that one.
                state.flush_deadline = state.flush_deadline.max(Some(deadline));
                return;
            }
            if state.next_read.is_some_and(|at| Instant::now() < at) {
                return;
            }
            state.reading = true;
            state.flush_deadline = Some(deadline);
        }
        let secret = Arc::clone(self);
        runtime.spawn(async move { secret.read().await });
    }

    /// The value to send with, for a flush that must be done by `deadline`: the cached one,
    /// after starting a read when one is due. While a read is under way it waits for it: until
    /// `deadline` when there is no value yet (nothing can be sent without one), else for half
    /// the time left at most (the old value still works while a rotation is under way).
    pub(crate) async fn value_by(self: &Arc<Self>, deadline: Instant) -> Option<Arc<T>> {
        let mut reads = self.reads.subscribe();
        self.read_if_due(deadline);
        let (value, reading) = match self.state.lock() {
            Ok(state) => (state.value.clone(), state.reading),
            Err(_) => return None,
        };
        if !reading {
            return value;
        }
        let wait_until = match value {
            None => deadline,
            Some(_) => {
                let now = Instant::now();
                now + deadline.saturating_duration_since(now) / 2
            }
        };
        let _ = tokio::time::timeout_at(wait_until.into(), reads.changed()).await;
        self.state.lock().ok().and_then(|state| state.value.clone())
    }

    /// Whether the sink is off for now: no value, and the last read failed (its line said
    /// why). A retry under way does not turn it on; only a value does.
    /// Lock-free: Rollbar asks on every log event.
    pub(crate) fn is_off(&self) -> bool {
        self.off.load(Ordering::Relaxed)
    }

    /// The backend refused the value (rotated, or revoked): read it again soon, without
    /// reading on every refused flush.
    pub(crate) fn refused(&self) {
        if let Ok(mut state) = self.state.lock()
            && let Some(read_at) = state.read_at
        {
            let soon = read_at + self.retry_after_failure();
            state.next_read = Some(state.next_read.map_or(soon, |at| at.min(soon)));
        }
    }

    fn say(&self, said: Said) {
        let (setting, sink, arn) = (self.purpose.setting, self.purpose.sink, self.arn.as_str());
        match said {
            Said::Nothing => {}
            Said::Read {
                after_failure: true,
            } => {
                tracing::info!(target: TARGET, arn, "{sink} is on: {setting} was read")
            }
            Said::Read {
                after_failure: false,
            } => tracing::debug!(target: TARGET, arn, "{setting} was read"),
            Said::Unreadable {
                unreadable,
                kept_for: None,
            } => tracing::warn!(
                target: TARGET,
                arn,
                "{sink} is off: the secret that {setting} names {unreadable}; read again every {} s until it is read",
                self.retry_after_failure().as_secs_f64(),
            ),
            Said::Unreadable {
                unreadable,
                kept_for: Some(age),
            } => tracing::warn!(
                target: TARGET,
                arn,
                "the secret that {setting} names {unreadable}; the value read {} s ago is still used",
                age.as_secs(),
            ),
        }
    }

    fn retry_after_failure(&self) -> Duration {
        self.max_age.min(RETRY_AFTER_FAILURE)
    }

    /// One read, its outcome kept and said. The SDK's own events are not logged: with
    /// `LOG_SENSITIVE_BODIES` at TRACE they hold the response, the value with it.
    async fn read(self: Arc<Self>) {
        let outcome = async {
            let aws = self
                .aws
                .as_ref()
                .unwrap_or_else(|| read::lambda_sdk_config());
            read::read(aws, &self.arn).await
        }
        .with_subscriber(tracing::subscriber::NoSubscriber::default())
        .await
        .and_then(|text| (self.purpose.parse)(&text).map_err(Unreadable::malformed));
        let now = Instant::now();
        // What to say is decided under the lock and said after it: a line goes through the
        // log layer's hooks, and Rollbar's asks whether its own secret is off.
        let said = {
            let Ok(mut state) = self.state.lock() else {
                return;
            };
            state.reading = false;
            let said = match outcome {
                Ok(value) => {
                    state.value = Some(Arc::new(value));
                    state.read_at = Some(now);
                    state.next_read = Some(later(now, self.max_age));
                    state.said = None;
                    state.unsaid_in_a_row = 0;
                    // "On again" only when it was off: a failed refresh kept the old value.
                    Said::Read {
                        after_failure: self.off.load(Ordering::Relaxed),
                    }
                }
                // Unanswered after its flush was over: Lambda may have frozen the process, the
                // read with it, and its timeouts ran out during the freeze, which says nothing of
                // the store. Tried again at the next flush, unsaid, up to twice in a row (a store
                // that never answers within a flush is said at the third).
                Err(unreadable)
                    if unreadable.kind == Failure::Unreachable
                        && state.flush_deadline.is_some_and(|end| now > end)
                        && state.unsaid_in_a_row < UNSAID_OUTLIVED_READS =>
                {
                    state.unsaid_in_a_row += 1;
                    state.next_read = None;
                    Said::Nothing
                }
                Err(unreadable) => {
                    state.unsaid_in_a_row = 0;
                    state.next_read = Some(later(now, self.retry_after_failure()));
                    if state.said == Some(unreadable.kind) {
                        Said::Nothing
                    } else {
                        state.said = Some(unreadable.kind);
                        Said::Unreadable {
                            unreadable,
                            kept_for: state.read_at.map(|at| now.duration_since(at)),
                        }
                    }
                }
            };
            self.off.store(
                state.value.is_none() && state.said.is_some(),
                Ordering::Relaxed,
            );
            said
        };
        self.say(said);
        self.reads.send_modify(|reads| *reads += 1);
    }
}

/// What a read's outcome is worth a line for.
enum Said {
    Nothing,
    Read {
        after_failure: bool,
    },
    Unreadable {
        unreadable: Unreadable,
        /// How old the value still used is, when there is one.
        kept_for: Option<Duration>,
    },
}

/// `now + wait`, or a year from now when that is beyond what an `Instant` holds.
fn later(now: Instant, wait: Duration) -> Instant {
    now.checked_add(wait)
        .or_else(|| now.checked_add(Duration::from_secs(365 * 24 * 3600)))
        .unwrap_or(now)
}
