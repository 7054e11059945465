//! What is recorded: the series of one invocation ([`Pending`], while it runs) and what it
//! leaves for the flush ([`Recorded`]).
//!
//! Values are kept as the `metrics` facade hands them, aggregated the way each export needs
//! least: a counter's sum, a gauge's last value, every value of a histogram (EMF publishes
//! them as they are; OTLP buckets them at the flush).

use std::time::SystemTime;

use metrics::Key;
use serde_json::{Map, Value as Json};

/// Values one histogram series keeps per invocation; more are counted as lost. EMF publishes
/// 100 values per document, so this is at most ten documents per series and invocation.
pub(crate) const MAX_HISTOGRAM_VALUES: usize = 1_000;

/// The three instruments of the `metrics` facade.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Instrument {
    Counter,
    Gauge,
    Histogram,
}

/// One series' value over an invocation (or, for what is recorded outside one, since the
/// last flush).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    /// The sum of the increments (an `absolute` adds its rise).
    Counter(u64),
    /// The last value set (increments and decrements apply to it).
    Gauge(f64),
    /// Every value recorded, in order, up to [`MAX_HISTOGRAM_VALUES`].
    Histogram(Vec<f64>),
}

impl Value {
    fn empty(instrument: Instrument) -> Self {
        match instrument {
            Instrument::Counter => Self::Counter(0),
            Instrument::Gauge => Self::Gauge(0.0),
            Instrument::Histogram => Self::Histogram(Vec::new()),
        }
    }

    /// How many values it holds: one for a counter or a gauge.
    pub(crate) fn len(&self) -> usize {
        match self {
            Self::Histogram(values) => values.len(),
            _ => 1,
        }
    }

    /// The instrument the value was recorded with.
    pub(crate) fn instrument(&self) -> Instrument {
        match self {
            Self::Counter(_) => Instrument::Counter,
            Self::Gauge(_) => Instrument::Gauge,
            Self::Histogram(_) => Instrument::Histogram,
        }
    }
}

/// One metric name with one set of labels: the facade's [`Key`], and its value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Series {
    pub(crate) key: Key,
    pub(crate) value: Value,
}

/// The largest magnitude CloudWatch takes ("Values must be in the range of -2^360 to 2^360";
/// NaN and infinities are not supported): beyond it a value is refused, not published.
const MAX_MAGNITUDE: f64 = 2.348_542_582_773_833e108;

/// Series one group keeps; more are refused. A label with one value per item (an id) would
/// otherwise grow the group, the scan of it on the request path, and its EMF lines, without
/// bound.
pub(crate) const MAX_SERIES: usize = 1_000;

/// One operation on an invocation's series, as the recorder resolved it: a counter's
/// `absolute` and a gauge's `increment`/`decrement` act on the process's value first (see
/// `store`), and reach the invocation as what they mean for it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Op {
    /// Adds to a counter.
    Increment(u64),
    /// Sets a gauge to the process's current value.
    GaugeSet(f64),
    /// Records a value into a histogram, this many times.
    Record(f64, usize),
    /// Values the recorder could not follow (a gauge or an `absolute` past its process-wide
    /// cap): counted as refused, never published.
    Lost(u64),
}

impl Op {
    fn instrument(self) -> Instrument {
        match self {
            Self::Increment(_) => Instrument::Counter,
            Self::GaugeSet(_) => Instrument::Gauge,
            Self::Record(..) | Self::Lost(_) => Instrument::Histogram,
        }
    }
}

/// Whether CloudWatch (and a sum) can take `value`.
pub(crate) fn publishable(value: f64) -> bool {
    value.is_finite() && value.abs() <= MAX_MAGNITUDE
}

/// What the handler recorded so far in one invocation, and the dimensions and metadata it
/// added: everything [`add_dimension`](crate::metrics::add_dimension) and the facade touch.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    series: Vec<Series>,
    /// Every dimension's value, by name, in order, a name once (the last value given wins,
    /// by `add_dimension` or `add_dimension_set`).
    dimensions: Vec<(String, String)>,
    /// The names `add_dimension` gave: the default set.
    default_set: Vec<String>,
    /// `add_dimension_set`'s sets, each a list of names of `dimensions`.
    dimension_sets: Vec<Vec<String>>,
    metadata: Map<String, Json>,
    /// Values not kept: not publishable, past a histogram's cap, past the series cap.
    pub(crate) refused: u64,
}

impl Pending {
    /// Applies `op` to the series of `key`, made on first use. Few series per invocation: a
    /// scan of a short list, by the key's precomputed hash first, beats a hash map.
    pub(crate) fn apply(&mut self, key: &Key, op: Op) {
        // Refused before its series is made: a refused gauge must not publish a made-up 0.
        let refused = match op {
            Op::GaugeSet(v) | Op::Record(v, _) => !publishable(v),
            Op::Increment(_) => false,
            Op::Lost(_) => true,
        };
        if refused {
            return self.refuse(op);
        }
        let instrument = op.instrument();
        let found = self
            .series
            .iter()
            .position(|s| s.value.instrument() == instrument && s.key == *key);
        let index = match found {
            Some(index) => index,
            None if self.series.len() < MAX_SERIES => {
                self.series.push(Series {
                    key: key.clone(),
                    value: Value::empty(instrument),
                });
                self.series.len() - 1
            }
            None => return self.refuse(op),
        };
        match (&mut self.series[index].value, op) {
            (Value::Counter(sum), Op::Increment(n)) => *sum = sum.saturating_add(n),
            (Value::Gauge(last), Op::GaugeSet(v)) if publishable(v) => *last = v,
            (Value::Histogram(values), Op::Record(v, count)) if publishable(v) => {
                let kept = count.min(MAX_HISTOGRAM_VALUES - values.len());
                values.extend(std::iter::repeat_n(v, kept));
                self.refused = self.refused.saturating_add((count - kept) as u64);
            }
            // NaN, infinities and values past 2^360 have no place in EMF or in a sum.
            _ => self.refuse(op),
        }
    }

    fn refuse(&mut self, op: Op) {
        let count = match op {
            Op::Record(_, count) => count as u64,
            Op::Lost(count) => count,
            _ => 1,
        };
        self.refused = self.refused.saturating_add(count);
    }

    /// Whether nothing was recorded.
    pub(crate) fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// A dimension of the default set.
    pub(crate) fn add_dimension(&mut self, name: String, value: String) {
        if !self.default_set.contains(&name) {
            self.default_set.push(name.clone());
        }
        self.set_value(name, value);
    }

    fn set_value(&mut self, name: String, value: String) {
        match self.dimensions.iter_mut().find(|(n, _)| *n == name) {
            Some((_, old)) => *old = value,
            None => self.dimensions.push((name, value)),
        }
    }

    /// One more dimension set; its values join the dimensions now, so that whichever of
    /// `add_dimension` and `add_dimension_set` names a dimension last gives its value.
    pub(crate) fn add_dimension_set(&mut self, set: Vec<(String, String)>) {
        let mut names = Vec::with_capacity(set.len());
        for (name, value) in set {
            if !names.contains(&name) {
                names.push(name.clone());
            }
            self.set_value(name, value);
        }
        if !self.dimension_sets.contains(&names) {
            self.dimension_sets.push(names);
        }
    }

    pub(crate) fn add_metadata(&mut self, key: String, value: Json) {
        self.metadata.insert(key, value);
    }

    /// Everything recorded, for the flush, with `context`; `self` is left empty.
    pub(crate) fn take(&mut self, context: Option<InvocationIds>) -> Recorded {
        let pending = std::mem::take(self);
        let mut dimension_sets = vec![pending.default_set];
        dimension_sets.extend(pending.dimension_sets);
        Recorded {
            series: pending.series,
            dimensions: pending.dimensions,
            dimension_sets,
            metadata: pending.metadata,
            ids: context,
            timestamp: SystemTime::now(),
            refused: pending.refused,
            crate_own: false,
        }
    }
}

/// The ids that lead from a metric to its invocation's logs and traces.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct InvocationIds {
    /// Lambda's request id (`function_request_id` in the logs).
    pub(crate) request_id: Option<String>,
    /// The X-Ray trace id, `1-...` (`xray_trace_id`).
    pub(crate) xray_trace_id: Option<String>,
    /// The W3C trace id, 32 hex digits (`trace_id`).
    pub(crate) trace_id: Option<String>,
    /// The tenant Lambda's tenant isolation mode handed the invocation (`tenant_id`).
    pub(crate) tenant_id: Option<String>,
}

/// One group of series as a flush hands it to the sinks: one invocation's metrics (or, for
/// values recorded outside invocations, the process's since the last flush), or one of the
/// crate's own groups (each built-in metric group is its own, with its own dimension sets).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Recorded {
    pub(crate) series: Vec<Series>,
    /// The dimensions every series of the group has, name and value, besides its labels.
    pub(crate) dimensions: Vec<(String, String)>,
    /// The dimension sets, each a list of names of [`dimensions`](Self::dimensions): EMF
    /// publishes every series once per set (each set also gets `service` first and the
    /// series' label names last). The first is the default set (possibly empty: `service` alone).
    pub(crate) dimension_sets: Vec<Vec<String>>,
    /// Properties that are not dimensions (EMF only).
    pub(crate) metadata: Map<String, Json>,
    /// The invocation's ids; `None` outside an invocation.
    pub(crate) ids: Option<InvocationIds>,
    /// When the group was closed (the invocation ended): the EMF timestamp, OTLP's time.
    pub(crate) timestamp: SystemTime,
    /// Values refused while recording (non-finite, past the histogram cap).
    pub(crate) refused: u64,
    /// Its dimensions and labels are the crate's own (the function's name, a route template,
    /// a status class, a kind of loss), never a request's: nothing in it to mask.
    pub(crate) crate_own: bool,
}

impl Recorded {
    /// A group of the crate's own: `series` with `dimensions`, published under `dimension_sets`.
    pub(crate) fn builtin(
        series: Vec<Series>,
        dimensions: Vec<(String, String)>,
        dimension_sets: Vec<Vec<String>>,
        ids: Option<InvocationIds>,
    ) -> Self {
        Self {
            series,
            dimensions,
            dimension_sets,
            metadata: Map::new(),
            ids,
            timestamp: SystemTime::now(),
            refused: 0,
            crate_own: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &'static str) -> Key {
        Key::from_static_name(name)
    }

    /// A counter sums its increments.
    #[test]
    fn counters_sum_their_increments() {
        let mut pending = Pending::default();
        pending.apply(&key("c"), Op::Increment(2));
        pending.apply(&key("c"), Op::Increment(3));
        let recorded = pending.take(None);
        assert_eq!(recorded.series.len(), 1);
        assert_eq!(recorded.series[0].value, Value::Counter(5));
    }

    /// A gauge keeps its last value; a histogram every value, in order, up to its cap (also
    /// `record_many`'s, at once), and what is refused (NaN, infinity, past 2^360, past the
    /// cap) is counted, never kept.
    #[test]
    fn gauges_keep_the_last_value_histograms_every_value_up_to_the_cap() {
        let mut pending = Pending::default();
        pending.apply(&key("g"), Op::GaugeSet(3.0));
        pending.apply(&key("g"), Op::GaugeSet(4.5));
        pending.apply(&key("g"), Op::GaugeSet(f64::NAN));
        pending.apply(&key("g"), Op::GaugeSet(1e300));
        for i in 0..MAX_HISTOGRAM_VALUES - 2 {
            pending.apply(&key("h"), Op::Record(i as f64, 1));
        }
        pending.apply(&key("h"), Op::Record(7.0, 50_000_000));
        pending.apply(&key("h2"), Op::Record(f64::INFINITY, 1));
        let recorded = pending.take(None);
        assert_eq!(recorded.series[0].value, Value::Gauge(4.5));
        let Value::Histogram(values) = &recorded.series[1].value else {
            panic!("{recorded:?}")
        };
        assert_eq!(values.len(), MAX_HISTOGRAM_VALUES);
        assert_eq!(values[..3], [0.0, 1.0, 2.0]);
        assert_eq!(values[MAX_HISTOGRAM_VALUES - 2..], [7.0, 7.0]);
        assert_eq!(recorded.refused, 2 + (50_000_000 - 2) + 1);
        assert_eq!(
            recorded.series.len(),
            2,
            "a refused first value makes no series"
        );
    }

    /// A group keeps 1,000 series; a label with one value per item does not grow it further.
    #[test]
    fn a_group_keeps_a_thousand_series() {
        let mut pending = Pending::default();
        for i in 0..MAX_SERIES + 5 {
            let key = Key::from_parts("c", vec![metrics::Label::new("id", i.to_string())]);
            pending.apply(&key, Op::Increment(1));
        }
        let recorded = pending.take(None);
        assert_eq!(recorded.series.len(), MAX_SERIES);
        assert_eq!(recorded.refused, 5);
    }

    /// The default set is the `add_dimension` names; each `add_dimension_set` is one more set
    /// (the same set twice is one); a value is the last one given for its name, by either.
    #[test]
    fn dimension_sets_are_the_default_one_then_each_set_added() {
        let mut pending = Pending::default();
        pending.add_dimension("tenant".into(), "a".into());
        pending.add_dimension("tenant".into(), "b".into());
        let set = vec![("region".to_owned(), "global".to_owned())];
        pending.add_dimension_set(set.clone());
        pending.add_dimension_set(set);
        pending.add_dimension("region".into(), "eu".into());
        pending.apply(&key("c"), Op::Increment(1));
        let recorded = pending.take(None);
        assert_eq!(
            recorded.dimensions,
            [
                ("tenant".into(), "b".into()),
                ("region".into(), "eu".into())
            ]
        );
        assert_eq!(
            recorded.dimension_sets,
            [vec!["tenant", "region"], vec!["region"]]
        );
        assert!(pending.is_empty(), "take leaves nothing behind");
    }
}
