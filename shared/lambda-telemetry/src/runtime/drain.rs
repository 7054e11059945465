//! Ending the process without dropping the invocations in flight: on SIGTERM or SIGINT the
//! loops ask for no more, and the invocations already handed out are answered and flushed
//! before the last flush. With one invocation at a time Lambda signals an idle process, so
//! this matters under Lambda Managed Instances (several at once) and off Lambda (Ctrl-C in
//! `make serve`), where a signal can come at any moment.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::Notify;

/// The invocations in flight, and whether the loops should ask for more.
#[derive(Debug, Default)]
pub(crate) struct Drain {
    stopping: AtomicBool,
    in_flight: AtomicUsize,
    idle: Notify,
}

impl Drain {
    /// From now on no loop asks for another invocation.
    pub(crate) fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
    }

    /// Whether [`stop`](Self::stop) was called.
    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// How many invocations were handed out and are not yet answered and flushed.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Counts one invocation in flight until the guard is dropped.
    pub(crate) fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(Arc::clone(self))
    }

    /// Completes once no invocation is in flight.
    pub(crate) async fn idle(&self) {
        loop {
            // Registered before the count is read, so a guard dropped in between still wakes it.
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.in_flight() == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// One invocation in flight: see [`Drain::begin`].
pub(crate) struct InFlight(Arc<Drain>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// `idle` waits for the last invocation in flight, also one that ends while it waits, and
    /// returns at once when there is none.
    #[test]
    fn idle_completes_when_the_last_invocation_in_flight_ends() {
        let runtime = crate::logs::testing::current_thread_runtime();
        runtime.block_on(async {
            let drain = Arc::new(Drain::default());
            drain.idle().await;
            let first = drain.begin();
            let second = drain.begin();
            assert_eq!(drain.in_flight(), 2);
            let waiting = tokio::spawn({
                let drain = Arc::clone(&drain);
                async move { drain.idle().await }
            });
            tokio::task::yield_now().await;
            drop(first);
            tokio::task::yield_now().await;
            assert!(!waiting.is_finished(), "one is still in flight");
            drop(second);
            tokio::time::timeout(Duration::from_secs(5), waiting)
                .await
                .expect("idle once none is in flight")
                .unwrap();
            assert!(!drain.stopping());
            drain.stop();
            assert!(drain.stopping());
        });
    }
}
