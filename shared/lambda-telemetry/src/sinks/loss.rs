//! What a flush could not deliver: [`Loss`], the one loss type of every sink, counted by kind
//! and said once per flush.

use std::fmt;
use std::time::Duration;

use futures_util::future::BoxFuture;

/// What one flush could not deliver, by kind. The pipeline adds up the losses of every sink
/// and says each kind in one WARN line per flush (X-Ray's and OTLP's lost spans share a line),
/// and nothing when nothing was lost.
#[derive(Debug, Default)]
pub(crate) struct Loss {
    kinds: Vec<(&'static Lost, Counts)>,
}

/// A kind of loss and the WARN line it is said in. One `static` per kind: losses of the same
/// static add up.
pub(crate) struct Lost {
    /// What is lost, plural: the `kind` of the `lambda_telemetry.lost` metric (`spans`).
    pub(crate) name: &'static str,
    /// Writes the line, with the counts and the budget the flush had.
    pub(crate) say: fn(&Counts, Duration),
}

impl fmt::Debug for Lost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Lost")
    }
}

/// How much of one kind a flush lost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Refused by the backend or not delivered within the budget (spans: also those a full
    /// buffer turned away).
    pub(crate) dropped: u64,
    /// Never handed to the network (X-Ray: the socket's buffer was full).
    pub(crate) unsent: u64,
    /// Over a cap (Rollbar's `ROLLBAR_MAX_ITEMS` per invocation), never sent.
    pub(crate) over_cap: u64,
    /// The status a backend refused with, if one did.
    pub(crate) refused_status: Option<u16>,
}

impl Counts {
    fn is_zero(&self) -> bool {
        self.dropped == 0 && self.unsent == 0 && self.over_cap == 0
    }

    pub(crate) fn add(&mut self, other: &Counts) {
        self.dropped += other.dropped;
        self.unsent += other.unsent;
        self.over_cap += other.over_cap;
        self.refused_status = other.refused_status.or(self.refused_status);
    }
}

impl Loss {
    /// `counts` of `kind`; no loss at all when every count is zero.
    pub(crate) fn of(kind: &'static Lost, counts: Counts) -> Self {
        let mut loss = Self::default();
        loss.add_counts(kind, &counts);
        loss
    }

    /// This loss and `other`'s, kind by kind.
    pub(crate) fn add(&mut self, other: Loss) {
        for (kind, counts) in &other.kinds {
            self.add_counts(kind, counts);
        }
    }

    fn add_counts(&mut self, kind: &'static Lost, counts: &Counts) {
        if counts.is_zero() {
            return;
        }
        match self.kinds.iter_mut().find(|(k, _)| std::ptr::eq(*k, kind)) {
            Some((_, total)) => total.add(counts),
            None => self.kinds.push((kind, *counts)),
        }
    }

    /// Says each kind lost, in its WARN line.
    pub(crate) fn say(&self, budget: Duration) {
        for (kind, counts) in &self.kinds {
            (kind.say)(counts, budget);
        }
    }

    /// Each kind's name and everything it lost.
    pub(crate) fn totals(&self) -> Vec<(&'static str, u64)> {
        self.kinds
            .iter()
            .map(|(kind, c)| (kind.name, c.dropped + c.unsent + c.over_cap))
            .collect()
    }

    /// A future that is this loss at once: for a sink with nothing to wait for.
    pub(crate) fn at_once(self) -> BoxFuture<'static, Loss> {
        Box::pin(std::future::ready(self))
    }
}

/// Metric values lost: a full store, a value no export can carry (NaN, infinity, past a
/// histogram's cap), a backend that refused them or missed the budget. One WARN line per flush.
pub(crate) static METRIC_VALUES_LOST: Lost = Lost {
    name: "metric_values",
    say: say_metric_values_lost,
};

fn say_metric_values_lost(counts: &Counts, budget: Duration) {
    tracing::warn!(
        dropped_metric_values = counts.dropped,
        refused_status = counts.refused_status,
        budget_ms = budget.as_millis() as u64,
        "metric values were dropped: not finite, over a histogram's 1,000 values per invocation, or not delivered within the flush budget"
    );
}
