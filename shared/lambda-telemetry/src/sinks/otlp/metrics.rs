//! Metrics over OTLP/HTTP: `OTEL_METRICS_EXPORTER=otlp`, one `ExportMetricsServiceRequest` per
//! flush, with the spans' resource and the scope `lambda-telemetry`.
//!
//! A flush hands over one group per invocation; OTLP has no groups, and no dimension sets: a
//! data point's attributes are its group's dimensions and its series' labels, and the groups of
//! one flush add up per metric name, instrument and attributes (a counter's sum, a gauge's
//! latest value, a histogram's buckets). Two invocations with different dimensions stay two
//! points, never merged.
//!
//! Temporality is delta by default, not the specification's cumulative: Lambda may freeze an
//! execution environment after any response and end it without a word, and a delta point
//! stands on its own. Each export covers the time since the previous one, nothing is sent
//! twice, and a failed export's points are counted as lost, not sent again. Cumulative keeps
//! each series' running total in the process, from the start of the window it first appeared
//! in, for as many series as [`MAX_CUMULATIVE_SERIES`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use futures_util::future::BoxFuture;
use metrics::Unit;
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Exemplar, Gauge, Histogram, HistogramDataPoint, Metric,
    NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, exemplar, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource as ProtoResource;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use prost::Message as _;

use super::{PartialSuccess, Sender, Signal};
use crate::config::{Config, Temporality};
use crate::constants::{metric_keys, span_fields};
use crate::metrics::{Instrument, Recorded, Value};
use crate::sinks::loss::{Counts, Loss, METRIC_VALUES_LOST};
use crate::sinks::sink::{Batch, Setup, Sink};

/// Series whose running totals the cumulative temporality keeps; a new series past it is not
/// exported and its points are counted as lost. Delta keeps none.
pub(crate) const MAX_CUMULATIVE_SERIES: usize = 2_000;

/// The OpenTelemetry SDKs' default explicit bucket bounds, for any unit but seconds.
const DEFAULT_BOUNDS: &[f64] = &[
    0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0,
    10000.0,
];

/// For durations in seconds: the semantic conventions' advisory bounds for
/// `http.server.request.duration` (the SDK's defaults are milliseconds', one bucket below 5 s).
const SECONDS_BOUNDS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// The scope every metric is exported under.
const SCOPE: &str = "lambda-telemetry";

/// The OTLP metrics sink, when `OTEL_METRICS_EXPORTER` lists `otlp`.
pub(crate) fn build(setup: &mut Setup<'_>) -> Option<Box<dyn Sink>> {
    if !setup.metrics_exporter("otlp") {
        return None;
    }
    let secret = super::headers_secret(setup);
    let Setup {
        config,
        resource,
        problems,
        ..
    } = setup;
    let settings = &config.otlp;
    let signal = Signal {
        what: "metrics",
        endpoint: settings.metrics_endpoint.as_deref(),
        path: "/v1/metrics",
        headers: &settings.metrics_headers,
        timeout: &settings.metrics_timeout,
        gzip: &settings.metrics_gzip,
        headers_setting: "OTEL_EXPORTER_OTLP_HEADERS and OTEL_EXPORTER_OTLP_METRICS_HEADERS",
        aws_service: "monitoring",
    };
    let sender = Sender::new(signal, settings, secret, problems);
    let temporality = temporality(config, problems);
    Some(Box::new(OtlpMetrics::new(sender, resource, temporality)))
}

/// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`, or set in code; delta by default.
fn temporality(config: &Config, problems: &mut Vec<crate::SettingProblem>) -> Temporality {
    config
        .otlp
        .temporality
        .resolve(Temporality::parse, problems)
        .unwrap_or_default()
}

/// Sends each flush's metrics to an OTLP/HTTP endpoint.
#[derive(Debug)]
pub(crate) struct OtlpMetrics {
    sender: Sender,
    resource: ProtoResource,
    schema_url: String,
    temporality: Temporality,
    state: Mutex<State>,
    partial_success: PartialSuccess,
}

/// What the sink keeps between flushes.
#[derive(Debug)]
struct State {
    /// The end of the previous export (the sink's start before the first): a delta point's
    /// start time, a new cumulative series' too.
    window_start: SystemTime,
    /// Cumulative only: each series' running total and its start time.
    totals: HashMap<SeriesId, (SystemTime, Aggregate)>,
}

/// A series' identity across the groups of a flush (and, cumulative, across flushes): the
/// name, the instrument, the attributes sorted by key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct SeriesId {
    name: String,
    instrument: Instrument,
    attributes: Vec<(String, String)>,
}

/// One series' value over a window (or, cumulative, since its start).
#[derive(Clone, Debug, PartialEq)]
enum Aggregate {
    Sum(u64),
    /// The latest value, and when its group closed.
    Gauge(f64, SystemTime),
    Histogram(Buckets),
}

/// An explicit-bounds histogram: `counts[i]` counts the values in `(bounds[i-1], bounds[i]]`,
/// the last one those above every bound.
#[derive(Clone, Debug, PartialEq)]
struct Buckets {
    bounds: &'static [f64],
    counts: Vec<u64>,
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
}

impl Buckets {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: vec![0; bounds.len() + 1],
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }

    /// OTLP: "bucket_counts[i] ... counts values in (explicit_bounds[i-1], explicit_bounds[i]]":
    /// a value equal to a bound is in that bound's bucket.
    fn record(&mut self, value: f64) {
        let index = self
            .bounds
            .iter()
            .position(|bound| value <= *bound)
            .unwrap_or(self.bounds.len());
        self.counts[index] += 1;
        self.count += 1;
        self.sum += value;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
    }

    fn merge(&mut self, other: &Buckets) {
        for (count, more) in self.counts.iter_mut().zip(&other.counts) {
            *count += more;
        }
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }
}

impl Aggregate {
    /// Adds a later window's `other` to a running total; `false` when they cannot add up (a
    /// histogram whose bounds changed with its unit).
    fn add(&mut self, other: &Aggregate) -> bool {
        match (self, other) {
            (Self::Sum(total), Self::Sum(more)) => *total = total.saturating_add(*more),
            (Self::Histogram(total), Self::Histogram(more)) if total.bounds == more.bounds => {
                total.merge(more);
            }
            _ => return false,
        }
        true
    }
}

/// One series over one flush: its aggregate, and the exemplar that leads to a trace.
#[derive(Debug)]
struct Point {
    aggregate: Aggregate,
    exemplar: Option<Exemplar>,
}

/// What one flush encodes.
struct Encoded {
    request: ExportMetricsServiceRequest,
    /// Cumulative series past [`MAX_CUMULATIVE_SERIES`], not exported.
    over_cap: u64,
}

impl OtlpMetrics {
    fn new(
        sender: Sender,
        resource: &opentelemetry_sdk::Resource,
        temporality: Temporality,
    ) -> Self {
        let resource = ResourceAttributesWithSchema::from(resource);
        Self {
            sender,
            resource: ProtoResource {
                attributes: resource.attributes.0,
                ..ProtoResource::default()
            },
            schema_url: resource.schema_url.unwrap_or_default(),
            temporality,
            state: Mutex::new(State {
                window_start: SystemTime::now(),
                totals: HashMap::new(),
            }),
            partial_success: PartialSuccess::default(),
        }
    }

    /// A sink to `endpoint`, with no headers and an empty resource, for tests.
    #[cfg(test)]
    pub(crate) fn with_endpoint(endpoint: String, temporality: Temporality) -> Self {
        Self::new(
            Sender::with_endpoint(endpoint, "metrics"),
            &opentelemetry_sdk::Resource::builder_empty().build(),
            temporality,
        )
    }

    /// The request for `groups`, closing the window at `now`; `None` when there is nothing to
    /// send. The window closes whatever becomes of the request: a delta point is never sent
    /// twice.
    fn encode(&self, groups: &[Recorded], now: SystemTime) -> Option<Encoded> {
        let points = aggregate(groups);
        let Ok(mut state) = self.state.lock() else {
            return None;
        };
        let start = std::mem::replace(&mut state.window_start, now);
        if points.is_empty() {
            return None;
        }
        let mut over_cap = 0;
        let (temporality, exported) = match self.temporality {
            Temporality::Delta => (
                AggregationTemporality::Delta,
                points
                    .into_iter()
                    .map(|(id, point)| (id, start, point))
                    .collect::<Vec<_>>(),
            ),
            Temporality::Cumulative => {
                let mut exemplars = HashMap::new();
                let mut gauges = Vec::new();
                for (id, point) in points {
                    if let Aggregate::Gauge(..) = point.aggregate {
                        gauges.push((id, start, point));
                        continue;
                    }
                    if let Some(exemplar) = point.exemplar {
                        exemplars.insert(id.clone(), exemplar);
                    }
                    let full = state.totals.len() >= MAX_CUMULATIVE_SERIES;
                    match state.totals.get_mut(&id) {
                        Some(kept) => {
                            if !kept.1.add(&point.aggregate) {
                                *kept = (start, point.aggregate);
                            }
                        }
                        None if full => over_cap += 1,
                        None => {
                            state.totals.insert(id, (start, point.aggregate));
                        }
                    }
                }
                let mut exported: Vec<_> = state
                    .totals
                    .iter()
                    .map(|(id, (since, total))| {
                        let point = Point {
                            aggregate: total.clone(),
                            exemplar: exemplars.remove(id),
                        };
                        (id.clone(), *since, point)
                    })
                    .chain(gauges)
                    .collect();
                exported.sort_by(|a, b| a.0.cmp(&b.0));
                (AggregationTemporality::Cumulative, exported)
            }
        };
        drop(state);
        let metrics = metrics(exported, temporality, now);
        let request = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(self.resource.clone()),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(InstrumentationScope {
                        name: SCOPE.to_owned(),
                        version: env!("CARGO_PKG_VERSION").to_owned(),
                        ..InstrumentationScope::default()
                    }),
                    metrics,
                    schema_url: String::new(),
                }],
                schema_url: self.schema_url.clone(),
            }],
        };
        Some(Encoded { request, over_cap })
    }

    /// The data points an `ExportMetricsServiceResponse` says were rejected, said once.
    fn rejected(&self, answer: &[u8]) -> u64 {
        let Some(partial) = ExportMetricsServiceResponse::decode(answer)
            .ok()
            .and_then(|response| response.partial_success)
        else {
            return 0;
        };
        self.partial_success.rejected(
            partial.rejected_data_points,
            &partial.error_message,
            |rejected, reason| {
                // The backend's own words: they say why (a dataset missing, a limit).
                tracing::warn!(
                    rejected_data_points = rejected,
                    reason,
                    "the OTLP endpoint rejected some metric data points (reported once; each flush's are counted as lost)"
                );
            },
        )
    }
}

impl Sink for OtlpMetrics {
    fn takes_metrics(&self) -> bool {
        true
    }

    /// Every group of the flush, aggregated; a request that fails costs all its points.
    fn flush<'s>(&'s self, batch: &mut Batch, deadline: Instant) -> BoxFuture<'s, Loss> {
        // Off while its headers' secret cannot be read: its line said so once, and the points
        // are not counted as lost on every invocation. The window still closes.
        let off = self.sender.off(deadline);
        let Some(Encoded { request, over_cap }) =
            self.encode(&batch.metrics.groups, SystemTime::now())
        else {
            return Loss::default().at_once();
        };
        let capped = Counts {
            over_cap,
            ..Counts::default()
        };
        if off {
            return Loss::of(&METRIC_VALUES_LOST, capped).at_once();
        }
        // As many requests as the endpoint's limits ask (AWS's: 1,000 points, 1 MB), sent
        // one after another; what did not arrive is counted by its points.
        let requests = super::limits::metric_requests(request, self.sender.metric_limits());
        Box::pin(async move {
            let mut counts = capped;
            for request in requests {
                let points = request_points(&request);
                let sent = self.sender.send(request.encode_to_vec(), deadline).await;
                counts.add(&Sender::lost(sent, points, |answer| self.rejected(answer)));
            }
            Loss::of(&METRIC_VALUES_LOST, counts)
        })
    }
}

/// Every series of `groups` added up by name, instrument and attributes, sorted so that one
/// metric's points are side by side.
fn aggregate(groups: &[Recorded]) -> BTreeMap<SeriesId, Point> {
    let mut points: BTreeMap<SeriesId, Point> = BTreeMap::new();
    for group in groups {
        let trace_id = group
            .ids
            .as_ref()
            .and_then(|ids| ids.trace_id.as_deref())
            .and_then(trace_id_bytes);
        for series in &group.series {
            let name = series.key.name();
            let (instrument, aggregate, sample) = match &series.value {
                Value::Counter(n) => (
                    Instrument::Counter,
                    Aggregate::Sum(*n),
                    exemplar::Value::AsInt(i64::try_from(*n).unwrap_or(i64::MAX)),
                ),
                Value::Gauge(v) => (
                    Instrument::Gauge,
                    Aggregate::Gauge(*v, group.timestamp),
                    exemplar::Value::AsDouble(*v),
                ),
                Value::Histogram(values) => {
                    let Some(last) = values.last() else {
                        continue;
                    };
                    let mut buckets = Buckets::new(bounds(&unit(name)));
                    for value in values {
                        buckets.record(*value);
                    }
                    (
                        Instrument::Histogram,
                        Aggregate::Histogram(buckets),
                        exemplar::Value::AsDouble(*last),
                    )
                }
            };
            let id = SeriesId {
                name: name.to_owned(),
                instrument,
                attributes: attributes(group, series),
            };
            let exemplar = trace_id.map(|trace_id| Exemplar {
                filtered_attributes: group
                    .ids
                    .as_ref()
                    .and_then(|ids| ids.request_id.clone())
                    .map(|id| vec![string(span_fields::FAAS_INVOCATION_ID, id)])
                    .unwrap_or_default(),
                time_unix_nano: nanos(group.timestamp),
                span_id: Vec::new(),
                trace_id: trace_id.to_vec(),
                value: Some(sample),
            });
            match points.get_mut(&id) {
                None => {
                    points.insert(
                        id,
                        Point {
                            aggregate,
                            exemplar,
                        },
                    );
                }
                Some(point) => {
                    match (&mut point.aggregate, aggregate) {
                        (Aggregate::Gauge(last, at), Aggregate::Gauge(value, closed)) => {
                            // The latest group's value, whatever order the groups came in.
                            if closed >= *at {
                                (*last, *at) = (value, closed);
                            }
                        }
                        (total, more) => {
                            total.add(&more);
                        }
                    }
                    if exemplar.is_some() {
                        point.exemplar = exemplar;
                    }
                }
            }
        }
    }
    points
}

/// A data point's attributes: the group's dimensions, then the series' labels (a label wins
/// over a dimension of the same name), sorted by key.
fn attributes(group: &Recorded, series: &crate::metrics::Series) -> Vec<(String, String)> {
    let mut attributes: Vec<(String, String)> = group.dimensions.clone();
    for label in series.key.labels() {
        let (key, value) = (label.key().to_owned(), label.value().to_owned());
        match attributes.iter_mut().find(|(k, _)| *k == key) {
            Some((_, old)) => *old = value,
            None => attributes.push((key, value)),
        }
    }
    attributes.sort();
    attributes
}

/// The protobuf metrics, one per name and instrument, from `points` sorted by [`SeriesId`].
fn metrics(
    points: Vec<(SeriesId, SystemTime, Point)>,
    temporality: AggregationTemporality,
    now: SystemTime,
) -> Vec<Metric> {
    let mut metrics: Vec<Metric> = Vec::new();
    let mut current: Option<(String, Instrument)> = None;
    let time_unix_nano = nanos(now);
    for (id, start, point) in points {
        let same = current
            .as_ref()
            .is_some_and(|(name, instrument)| *name == id.name && *instrument == id.instrument);
        if !same {
            let data = match id.instrument {
                Instrument::Counter => metric::Data::Sum(Sum {
                    data_points: Vec::new(),
                    aggregation_temporality: temporality as i32,
                    is_monotonic: true,
                }),
                Instrument::Gauge => metric::Data::Gauge(Gauge {
                    data_points: Vec::new(),
                }),
                Instrument::Histogram => metric::Data::Histogram(Histogram {
                    data_points: Vec::new(),
                    aggregation_temporality: temporality as i32,
                }),
            };
            metrics.push(Metric {
                name: id.name.clone(),
                unit: unit(&id.name),
                data: Some(data),
                ..Metric::default()
            });
            current = Some((id.name.clone(), id.instrument));
        }
        let attributes: Vec<KeyValue> = id
            .attributes
            .into_iter()
            .map(|(key, value)| string(&key, value))
            .collect();
        let exemplars: Vec<Exemplar> = point.exemplar.into_iter().collect();
        let start_time_unix_nano = nanos(start);
        let Some(metric) = metrics.last_mut() else {
            continue;
        };
        match (&mut metric.data, point.aggregate) {
            (Some(metric::Data::Sum(sum)), Aggregate::Sum(total)) => {
                sum.data_points.push(NumberDataPoint {
                    attributes,
                    start_time_unix_nano,
                    time_unix_nano,
                    exemplars,
                    value: Some(number_data_point::Value::AsInt(
                        i64::try_from(total).unwrap_or(i64::MAX),
                    )),
                    ..NumberDataPoint::default()
                });
            }
            (Some(metric::Data::Gauge(gauge)), Aggregate::Gauge(value, _)) => {
                // A gauge's start time is optional: a value has no window.
                gauge.data_points.push(NumberDataPoint {
                    attributes,
                    time_unix_nano,
                    exemplars,
                    value: Some(number_data_point::Value::AsDouble(value)),
                    ..NumberDataPoint::default()
                });
            }
            (Some(metric::Data::Histogram(histogram)), Aggregate::Histogram(buckets)) => {
                histogram.data_points.push(HistogramDataPoint {
                    attributes,
                    start_time_unix_nano,
                    time_unix_nano,
                    count: buckets.count,
                    // The proto: "Negative events *can* be recorded, but sum should not be
                    // filled out when doing so."
                    sum: (buckets.min >= 0.0).then_some(buckets.sum),
                    bucket_counts: buckets.counts,
                    explicit_bounds: buckets.bounds.to_vec(),
                    exemplars,
                    min: Some(buckets.min),
                    max: Some(buckets.max),
                    ..HistogramDataPoint::default()
                });
            }
            // The instrument decides both; they cannot differ.
            _ => {}
        }
    }
    metrics
}

/// The metric's unit in UCUM, as OTLP wants it: the semantic conventions' for the crate's own
/// metrics, else the one described with the facade's `describe_*!` macros, else none.
fn unit(name: &str) -> String {
    let builtin = match name {
        metric_keys::INVOCATIONS => Some("{invocation}"),
        metric_keys::ERRORS => Some("{error}"),
        metric_keys::COLDSTARTS => Some("{coldstart}"),
        metric_keys::INVOKE_DURATION => Some("s"),
        metric_keys::LOST => Some("{item}"),
        _ => None,
    };
    builtin
        .or_else(|| crate::metrics::description(name).unit.map(ucum))
        .unwrap_or_default()
        .to_owned()
}

/// The facade's units in UCUM (the case-sensitive codes OpenTelemetry uses).
fn ucum(unit: Unit) -> &'static str {
    match unit {
        Unit::Count => "1",
        Unit::Percent => "%",
        Unit::Seconds => "s",
        Unit::Milliseconds => "ms",
        Unit::Microseconds => "us",
        Unit::Nanoseconds => "ns",
        Unit::Tebibytes => "TiBy",
        Unit::Gibibytes => "GiBy",
        Unit::Mebibytes => "MiBy",
        Unit::Kibibytes => "KiBy",
        Unit::Bytes => "By",
        Unit::TerabitsPerSecond => "Tbit/s",
        Unit::GigabitsPerSecond => "Gbit/s",
        Unit::MegabitsPerSecond => "Mbit/s",
        Unit::KilobitsPerSecond => "kbit/s",
        Unit::BitsPerSecond => "bit/s",
        Unit::CountPerSecond => "1/s",
    }
}

/// A histogram's bounds by its unit: seconds have bounds of their own.
fn bounds(unit: &str) -> &'static [f64] {
    if unit == "s" {
        SECONDS_BOUNDS
    } else {
        DEFAULT_BOUNDS
    }
}

/// A W3C trace id, 32 hex digits, as 16 bytes; anything else is no exemplar.
fn trace_id_bytes(hex: &str) -> Option<[u8; 16]> {
    if hex.len() != 32 {
        return None;
    }
    let mut bytes = [0; 16];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    (bytes != [0; 16]).then_some(bytes)
}

fn string(key: &str, value: String) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value)),
        }),
        ..KeyValue::default()
    }
}

fn nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;

/// The data points of `request`.
fn request_points(request: &ExportMetricsServiceRequest) -> u64 {
    request
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .map(|metric| super::limits::points(metric) as u64)
        .sum()
}
