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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Instrument {
    Counter,
    Gauge,
    Histogram,
}

/// One series' value over an invocation (or, for what is recorded outside one, since the
/// last flush).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    /// The sum of the increments (`absolute` sets it).
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

/// One operation of a facade handle.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Op {
    Increment(u64),
    Absolute(u64),
    GaugeIncrement(f64),
    GaugeDecrement(f64),
    GaugeSet(f64),
    Record(f64),
}

impl Op {
    fn instrument(self) -> Instrument {
        match self {
            Self::Increment(_) | Self::Absolute(_) => Instrument::Counter,
            Self::GaugeIncrement(_) | Self::GaugeDecrement(_) | Self::GaugeSet(_) => {
                Instrument::Gauge
            }
            Self::Record(_) => Instrument::Histogram,
        }
    }
}

/// What the handler recorded so far in one invocation, and the dimensions and metadata it
/// added: everything [`add_dimension`](crate::metrics::add_dimension) and the facade touch.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    series: Vec<Series>,
    /// `add_dimension`'s pairs, in order, a name once (the last value wins).
    dimensions: Vec<(String, String)>,
    /// `add_dimension_set`'s sets, each a list of pairs.
    dimension_sets: Vec<Vec<(String, String)>>,
    metadata: Map<String, Json>,
    /// Values not kept: non-finite ones, and histogram values past the cap.
    pub(crate) refused: u64,
}

impl Pending {
    /// Applies `op` to the series of `key`, made on first use. Few series per invocation: a
    /// scan of a short list, by the key's precomputed hash first, beats a hash map.
    pub(crate) fn apply(&mut self, key: &Key, op: Op) {
        let instrument = op.instrument();
        let index = match self
            .series
            .iter()
            .position(|s| s.value.instrument() == instrument && s.key == *key)
        {
            Some(index) => index,
            None => {
                self.series.push(Series {
                    key: key.clone(),
                    value: Value::empty(instrument),
                });
                self.series.len() - 1
            }
        };
        let value = &mut self.series[index].value;
        match (value, op) {
            (Value::Counter(sum), Op::Increment(n)) => *sum = sum.saturating_add(n),
            (Value::Counter(sum), Op::Absolute(n)) => *sum = (*sum).max(n),
            (Value::Gauge(last), Op::GaugeSet(v)) if v.is_finite() => *last = v,
            (Value::Gauge(last), Op::GaugeIncrement(v)) if v.is_finite() => *last += v,
            (Value::Gauge(last), Op::GaugeDecrement(v)) if v.is_finite() => *last -= v,
            (Value::Histogram(values), Op::Record(v))
                if v.is_finite() && values.len() < MAX_HISTOGRAM_VALUES =>
            {
                values.push(v);
            }
            // NaN and infinities have no place in EMF or in a sum; past the cap, memory.
            _ => self.refused += 1,
        }
    }

    /// Whether nothing was recorded.
    pub(crate) fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    pub(crate) fn add_dimension(&mut self, name: String, value: String) {
        match self.dimensions.iter_mut().find(|(n, _)| *n == name) {
            Some((_, old)) => *old = value,
            None => self.dimensions.push((name, value)),
        }
    }

    pub(crate) fn add_dimension_set(&mut self, set: Vec<(String, String)>) {
        self.dimension_sets.push(set);
    }

    pub(crate) fn add_metadata(&mut self, key: String, value: Json) {
        self.metadata.insert(key, value);
    }

    /// Everything recorded, for the flush, with `context`; `self` is left empty.
    pub(crate) fn take(&mut self, context: Option<InvocationIds>) -> Recorded {
        let pending = std::mem::take(self);
        let dimension_keys: Vec<String> =
            pending.dimensions.iter().map(|(n, _)| n.clone()).collect();
        let mut dimensions = pending.dimensions;
        let mut dimension_sets = vec![dimension_keys];
        for set in pending.dimension_sets {
            let mut keys = Vec::with_capacity(set.len());
            for (name, value) in set {
                keys.push(name.clone());
                // A set's dimension shares the root member of a default one by the same name:
                // the last value given wins, as for `add_dimension`.
                match dimensions.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, old)) => *old = value,
                    None => dimensions.push((name, value)),
                }
            }
            if !dimension_sets.contains(&keys) {
                dimension_sets.push(keys);
            }
        }
        Recorded {
            series: pending.series,
            dimensions,
            dimension_sets,
            metadata: pending.metadata,
            ids: context,
            timestamp: SystemTime::now(),
            refused: pending.refused,
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &'static str) -> Key {
        Key::from_static_name(name)
    }

    /// A counter sums its increments; `absolute` raises it to at least the value (the
    /// facade's contract: "sets the counter to at least the given amount").
    #[test]
    fn counters_sum_and_absolute_never_lowers() {
        let mut pending = Pending::default();
        pending.apply(&key("c"), Op::Increment(2));
        pending.apply(&key("c"), Op::Increment(3));
        pending.apply(&key("c"), Op::Absolute(4));
        let recorded = pending.take(None);
        assert_eq!(recorded.series.len(), 1);
        assert_eq!(recorded.series[0].value, Value::Counter(5));
    }

    /// A gauge keeps its last value; a histogram every value, in order, up to its cap, and
    /// what is refused (NaN, infinity, past the cap) is counted, never kept.
    #[test]
    fn gauges_keep_the_last_value_histograms_every_value_up_to_the_cap() {
        let mut pending = Pending::default();
        pending.apply(&key("g"), Op::GaugeSet(3.0));
        pending.apply(&key("g"), Op::GaugeIncrement(2.0));
        pending.apply(&key("g"), Op::GaugeDecrement(0.5));
        pending.apply(&key("g"), Op::GaugeSet(f64::NAN));
        for i in 0..MAX_HISTOGRAM_VALUES + 2 {
            pending.apply(&key("h"), Op::Record(i as f64));
        }
        pending.apply(&key("h2"), Op::Record(f64::INFINITY));
        let recorded = pending.take(None);
        assert_eq!(recorded.series[0].value, Value::Gauge(4.5));
        let Value::Histogram(values) = &recorded.series[1].value else {
            panic!("{recorded:?}")
        };
        assert_eq!(values.len(), MAX_HISTOGRAM_VALUES);
        assert_eq!(values[..3], [0.0, 1.0, 2.0]);
        assert_eq!(recorded.refused, 1 + 2 + 1);
        assert_eq!(recorded.series[2].value, Value::Histogram(Vec::new()));
    }

    /// The default set is the `add_dimension` names; each `add_dimension_set` is one more set
    /// (the same set twice is one), and its values share the root members.
    #[test]
    fn dimension_sets_are_the_default_one_then_each_set_added() {
        let mut pending = Pending::default();
        pending.add_dimension("tenant".into(), "a".into());
        pending.add_dimension("tenant".into(), "b".into());
        let set = vec![("region".to_owned(), "eu".to_owned())];
        pending.add_dimension_set(set.clone());
        pending.add_dimension_set(set);
        pending.apply(&key("c"), Op::Increment(1));
        let recorded = pending.take(None);
        assert_eq!(
            recorded.dimensions,
            [
                ("tenant".into(), "b".into()),
                ("region".into(), "eu".into())
            ]
        );
        assert_eq!(recorded.dimension_sets, [vec!["tenant"], vec!["region"]]);
        assert!(pending.is_empty(), "take leaves nothing behind");
    }
}
