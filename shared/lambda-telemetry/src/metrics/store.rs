//! Where recorded metrics wait for the flush: [`MetricStore`], and the facade's recorder that
//! fills it ([`StoreRecorder`]).
//!
//! A value recorded inside an invocation goes to that invocation's own [`Pending`] (in its
//! task-local scope), never to a shared one: concurrent invocations of one process (Lambda
//! Managed Instances) never see each other's series, dimensions or metadata. When the
//! invocation ends its group is moved here whole; the flush after the response takes every
//! group at once, so nothing recorded before the freeze is left behind and nothing is taken
//! twice. Values recorded outside an invocation (start-up, tasks the handler spawned with
//! `tokio::spawn`) wait in the process's own `Pending`, published at the next flush.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use metrics::{Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName};
use metrics::{Metadata, SharedString, Unit};

use super::describe::{Instrumented, describe};
use super::record::{Op, Pending, Recorded};
use crate::invocation::scope;

/// Invocations' groups kept between two flushes; more are dropped and counted. One flush
/// follows every response, so only a flush that cannot keep up (an absurd budget, a stalled
/// sink under Lambda Managed Instances) reaches it. Internal tuning, not a setting.
pub(crate) const MAX_WAITING_GROUPS: usize = 4_096;

/// The groups waiting for the next flush, and the process's own values.
#[derive(Debug, Default)]
pub(crate) struct MetricStore {
    waiting: Mutex<Vec<Recorded>>,
    outside: Mutex<Pending>,
    /// Values lost to a full store since the last flush.
    dropped: AtomicU64,
    /// What the facade keeps per process, not per invocation: a gauge's current value (an
    /// increment applies to it, not to 0), and the last `absolute` of a counter (so that
    /// only its rise is counted, once).
    process: Mutex<ProcessValues>,
}

/// A gauge is the process's; a counter's `absolute` follows an external total.
#[derive(Debug, Default)]
struct ProcessValues {
    gauges: HashMap<Key, f64>,
    absolutes: HashMap<Key, u64>,
}

/// More gauges or absolute counters than this are not followed (an id as a label).
const MAX_PROCESS_VALUES: usize = 1_000;

/// What one flush takes from the store.
#[derive(Debug, Default)]
pub(crate) struct MetricBatch {
    /// Each group, in the order it was closed.
    pub(crate) groups: Vec<Recorded>,
    /// Values recorded but not kept (a full store, non-finite values, past a histogram's cap).
    pub(crate) dropped: u64,
}

impl MetricStore {
    /// Keeps `group` for the next flush, or counts its values when the store is full.
    pub(crate) fn push(&self, group: Recorded) {
        let Ok(mut waiting) = self.waiting.lock() else {
            return;
        };
        if waiting.len() < MAX_WAITING_GROUPS {
            waiting.push(group);
        } else {
            drop(waiting);
            let values: usize = group.series.iter().map(|s| s.value.len()).sum();
            let lost = (values as u64).saturating_add(group.refused);
            let _ = self
                .dropped
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |d| {
                    Some(d.saturating_add(lost))
                });
        }
    }

    /// Applies `op` outside any invocation.
    fn apply_outside(&self, key: &Key, op: Op) {
        self.with_outside(|outside| outside.apply(key, op));
    }

    /// Runs `f` on the process's own group (what is recorded outside invocations).
    pub(crate) fn with_outside(&self, f: impl FnOnce(&mut Pending)) {
        if let Ok(mut outside) = self.outside.lock() {
            f(&mut outside);
        }
    }

    /// Everything waiting, and the process's own values as one more group.
    pub(crate) fn take(&self) -> MetricBatch {
        let mut groups = self
            .waiting
            .lock()
            .map(|mut waiting| std::mem::take(&mut *waiting))
            .unwrap_or_default();
        if let Ok(mut outside) = self.outside.lock()
            && (!outside.is_empty() || outside.refused > 0)
        {
            groups.push(outside.take(None));
        }
        let refused = groups
            .iter()
            .fold(0u64, |sum, g| sum.saturating_add(g.refused));
        MetricBatch {
            groups,
            dropped: self
                .dropped
                .swap(0, Ordering::Relaxed)
                .saturating_add(refused),
        }
    }
}

/// The `metrics` facade's recorder: each handle records into the invocation it is used in,
/// or into the store's process-wide group outside one.
#[derive(Debug)]
pub(crate) struct StoreRecorder {
    store: Arc<MetricStore>,
}

impl StoreRecorder {
    pub(crate) fn new(store: Arc<MetricStore>) -> Self {
        Self { store }
    }

    fn handle(&self, key: &Key) -> Arc<Handle> {
        Arc::new(Handle {
            key: key.clone(),
            store: Arc::clone(&self.store),
        })
    }
}

impl metrics::Recorder for StoreRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
        describe(key.as_str(), Instrumented::Unit(unit));
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
        describe(key.as_str(), Instrumented::Unit(unit));
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
        describe(key.as_str(), Instrumented::Unit(unit));
    }

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.handle(key))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.handle(key))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.handle(key))
    }
}

/// A handle of one series: where it records is decided at each use, so a handle made at
/// start-up and kept records into whichever invocation uses it.
struct Handle {
    key: Key,
    store: Arc<MetricStore>,
}

impl Handle {
    fn apply(&self, op: Op) {
        if !scope::with_pending_metrics(|pending| pending.apply(&self.key, op)) {
            self.store.apply_outside(&self.key, op);
        }
    }

    /// Changes the process's value of this gauge and records the result.
    fn gauge(&self, change: impl FnOnce(f64) -> f64) {
        let Ok(mut process) = self.store.process.lock() else {
            return;
        };
        let known = process.gauges.len() < MAX_PROCESS_VALUES;
        let current = match process.gauges.get_mut(&self.key) {
            Some(value) => value,
            None if known => process.gauges.entry(self.key.clone()).or_insert(0.0),
            None => {
                // Past the cap a gauge is not followed: a `set` needs no process value, a
                // change of one does, and is counted as refused.
                drop(process);
                let op = match change(f64::NAN) {
                    v if v.is_nan() => Op::Lost(1),
                    v => Op::GaugeSet(v),
                };
                return self.apply(op);
            }
        };
        let next = change(*current);
        // A result CloudWatch cannot take (an overflow) leaves the gauge as it was; the
        // invocation is handed it and counts it refused.
        if super::record::publishable(next) {
            *current = next;
        }
        drop(process);
        self.apply(Op::GaugeSet(next));
    }
}

impl CounterFn for Handle {
    fn increment(&self, value: u64) {
        self.apply(Op::Increment(value));
    }

    /// "Sets the counter to at least the given amount": the rise since the last `absolute`
    /// is counted, once; a total that did not rise adds nothing.
    fn absolute(&self, value: u64) {
        let Ok(mut process) = self.store.process.lock() else {
            return;
        };
        if process.absolutes.len() >= MAX_PROCESS_VALUES
            && !process.absolutes.contains_key(&self.key)
        {
            drop(process);
            return self.apply(Op::Lost(1));
        }
        let last = process.absolutes.entry(self.key.clone()).or_insert(0);
        let rise = value.saturating_sub(*last);
        *last = (*last).max(value);
        drop(process);
        if rise > 0 {
            self.apply(Op::Increment(rise));
        }
    }
}

impl GaugeFn for Handle {
    fn increment(&self, value: f64) {
        self.gauge(|current| current + value);
    }

    fn decrement(&self, value: f64) {
        self.gauge(|current| current - value);
    }

    fn set(&self, value: f64) {
        self.gauge(|_| value);
    }
}

impl HistogramFn for Handle {
    fn record(&self, value: f64) {
        self.apply(Op::Record(value, 1));
    }

    /// Once, not `count` times: only the histogram's cap is kept, the rest counted.
    fn record_many(&self, value: f64, count: usize) {
        self.apply(Op::Record(value, count));
    }
}
