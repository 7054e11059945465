//! What one OTLP request may hold, and keeping within it by splitting, never by dropping.
//!
//! CloudWatch's OTLP endpoints take at most, per traces request, 5 MB uncompressed and 10,000
//! spans, each span at most 200 KB and each resource and scope at most 16 KB; per metrics
//! request 1 MB and 1,000 data points (CloudWatch User Guide, "OTLP endpoint quotas"). The
//! sizes are read as decimal (5,000,000 bytes), the smaller reading, so a request within them
//! is within either. A batch beyond them becomes several requests; a span or a resource too
//! big alone is shrunk, its longest strings cut first, then its events, links and attributes
//! dropped and counted in OTLP's `dropped_*_count`, so the backend shows what is missing.

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{Metric, ResourceMetrics, ScopeMetrics, metric};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message as _;
use prost::encoding::encoded_len_varint;

/// The bounds of one traces request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TraceLimits {
    /// The encoded request, uncompressed, in bytes.
    pub(crate) request_bytes: usize,
    pub(crate) spans: usize,
    /// One encoded span, in bytes.
    pub(crate) span_bytes: usize,
    /// One encoded resource, and one encoded instrumentation scope, in bytes.
    pub(crate) resource_and_scope_bytes: usize,
}

/// CloudWatch's OTLP traces endpoint's.
pub(crate) const AWS_TRACES: TraceLimits = TraceLimits {
    request_bytes: 5_000_000,
    spans: 10_000,
    span_bytes: 200_000,
    resource_and_scope_bytes: 16_000,
};

/// Any other endpoint's: no bound of the specification's, so only what keeps a request sane.
pub(crate) const OTHER_TRACES: TraceLimits = TraceLimits {
    request_bytes: usize::MAX,
    spans: usize::MAX,
    span_bytes: usize::MAX,
    resource_and_scope_bytes: usize::MAX,
};

/// The bounds of one metrics request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MetricLimits {
    /// The encoded request, uncompressed, in bytes.
    pub(crate) request_bytes: usize,
    pub(crate) data_points: usize,
}

/// CloudWatch's OTLP metrics endpoint's.
pub(crate) const AWS_METRICS: MetricLimits = MetricLimits {
    request_bytes: 1_000_000,
    data_points: 1_000,
};

/// Any other endpoint's.
pub(crate) const OTHER_METRICS: MetricLimits = MetricLimits {
    request_bytes: usize::MAX,
    data_points: usize::MAX,
};

/// The bytes a length-delimited field of `len` bytes takes in its parent: its tag (every
/// field number here is below 16: one byte), its length, itself.
fn field(len: usize) -> usize {
    1 + encoded_len_varint(len as u64) + len
}

/// `resource_spans` as requests within `limits`, every span in one of them, in order.
pub(crate) fn trace_requests(
    resource_spans: Vec<ResourceSpans>,
    limits: &TraceLimits,
) -> Vec<ExportTraceServiceRequest> {
    let mut requests = Vec::new();
    let mut open = TraceRequest::default();
    for mut resource_spans in resource_spans {
        if let Some(resource) = &mut resource_spans.resource {
            let bytes = limits.resource_and_scope_bytes;
            fit(
                &mut resource.attributes,
                &mut resource.dropped_attributes_count,
                bytes,
                resource_len,
            );
        }
        let scopes = std::mem::take(&mut resource_spans.scope_spans);
        for mut scope_spans in scopes {
            if let Some(scope) = &mut scope_spans.scope {
                let (name, version) = (scope.name.len(), scope.version.len());
                fit(
                    &mut scope.attributes,
                    &mut scope.dropped_attributes_count,
                    limits.resource_and_scope_bytes,
                    |attributes| scope_len(name, version, attributes),
                );
            }
            let spans = std::mem::take(&mut scope_spans.spans);
            let mut in_open = false;
            for mut span in spans {
                fit_span(&mut span, limits.span_bytes);
                if !open.takes(&resource_spans, &scope_spans, &span, in_open, limits) {
                    requests.push(std::mem::take(&mut open).request);
                    in_open = false;
                }
                open.add(&resource_spans, &scope_spans, span, in_open);
                in_open = true;
            }
        }
    }
    if open.spans > 0 {
        requests.push(open.request);
    }
    requests
}

/// A traces request being filled, with its exact encoded size.
#[derive(Default)]
struct TraceRequest {
    request: ExportTraceServiceRequest,
    spans: usize,
    /// The encoded size of the resource spans before the last, whole.
    closed_bytes: usize,
    /// The last resource spans' size without its last scope spans.
    resource_bytes: usize,
    /// The last scope spans' size.
    scope_bytes: usize,
}

impl TraceRequest {
    /// The request's size with `span` in the last scope spans (`in_open`), or in new ones.
    fn bytes_with(
        &self,
        resource: &ResourceSpans,
        scope: &ScopeSpans,
        span: &Span,
        in_open: bool,
    ) -> usize {
        let span = field(span.encoded_len());
        if in_open && self.spans > 0 {
            let scope_bytes = self.scope_bytes + span;
            self.closed_bytes + field(self.resource_bytes + field(scope_bytes))
        } else {
            let scope_bytes = empty_scope_len(scope) + span;
            self.bytes() + field(empty_resource_len(resource) + field(scope_bytes))
        }
    }

    /// The request's size now.
    fn bytes(&self) -> usize {
        if self.spans == 0 {
            return 0;
        }
        self.closed_bytes + field(self.resource_bytes + field(self.scope_bytes))
    }

    /// Whether `span` fits: an empty request takes any one span.
    fn takes(
        &self,
        resource: &ResourceSpans,
        scope: &ScopeSpans,
        span: &Span,
        in_open: bool,
        limits: &TraceLimits,
    ) -> bool {
        self.spans == 0
            || (self.spans < limits.spans
                && self.bytes_with(resource, scope, span, in_open) <= limits.request_bytes)
    }

    fn add(&mut self, resource: &ResourceSpans, scope: &ScopeSpans, span: Span, in_open: bool) {
        let span_bytes = field(span.encoded_len());
        if in_open && self.spans > 0 {
            self.scope_bytes += span_bytes;
        } else {
            // A new resource spans each time: a resource seen again after another is rare
            // (one per flush), and its own entry costs only its wrapper.
            self.closed_bytes = self.bytes();
            self.resource_bytes = empty_resource_len(resource);
            self.scope_bytes = empty_scope_len(scope) + span_bytes;
            self.request.resource_spans.push(ResourceSpans {
                resource: resource.resource.clone(),
                scope_spans: vec![ScopeSpans {
                    scope: scope.scope.clone(),
                    spans: Vec::new(),
                    schema_url: scope.schema_url.clone(),
                }],
                schema_url: resource.schema_url.clone(),
            });
        }
        if let Some(scope_spans) = self
            .request
            .resource_spans
            .last_mut()
            .and_then(|resource| resource.scope_spans.last_mut())
        {
            scope_spans.spans.push(span);
        }
        self.spans += 1;
    }
}

fn empty_resource_len(resource: &ResourceSpans) -> usize {
    ResourceSpans {
        resource: resource.resource.clone(),
        scope_spans: Vec::new(),
        schema_url: resource.schema_url.clone(),
    }
    .encoded_len()
}

fn empty_scope_len(scope: &ScopeSpans) -> usize {
    ScopeSpans {
        scope: scope.scope.clone(),
        spans: Vec::new(),
        schema_url: scope.schema_url.clone(),
    }
    .encoded_len()
}

fn resource_len(attributes: &[KeyValue]) -> usize {
    opentelemetry_proto::tonic::resource::v1::Resource {
        attributes: attributes.to_vec(),
        ..Default::default()
    }
    .encoded_len()
}

fn scope_len(name: usize, version: usize, attributes: &[KeyValue]) -> usize {
    let text = |len: usize| if len == 0 { 0 } else { field(len) };
    text(name)
        + text(version)
        + attributes
            .iter()
            .map(|kv| field(kv.encoded_len()))
            .sum::<usize>()
}

/// Shrinks `span` to at most `max` encoded bytes: its longest strings (attributes, events'
/// and links' attributes) cut first, then its last events, links and attributes dropped,
/// each counted.
fn fit_span(span: &mut Span, max: usize) {
    while span.encoded_len() > max {
        let excess = span.encoded_len() - max;
        let mut lists: Vec<&mut Vec<KeyValue>> = vec![&mut span.attributes];
        lists.extend(span.events.iter_mut().map(|event| &mut event.attributes));
        lists.extend(span.links.iter_mut().map(|link| &mut link.attributes));
        if cut_longest_string(&mut lists, excess) {
            continue;
        }
        if span.events.pop().is_some() {
            span.dropped_events_count += 1;
        } else if span.links.pop().is_some() {
            span.dropped_links_count += 1;
        } else if span.attributes.pop().is_some() {
            span.dropped_attributes_count += 1;
        } else {
            // A name or ids alone beyond the limit: nothing of ours left to cut.
            break;
        }
    }
}

/// Shrinks `attributes` until `len(attributes)` is at most `max`: the longest strings cut
/// first, then the last attributes dropped and counted in `dropped`.
fn fit(
    attributes: &mut Vec<KeyValue>,
    dropped: &mut u32,
    max: usize,
    len: impl Fn(&[KeyValue]) -> usize,
) {
    while len(attributes) > max {
        let excess = len(attributes) - max;
        if cut_longest_string(&mut [&mut *attributes], excess) {
            continue;
        }
        if attributes.pop().is_none() {
            break;
        }
        *dropped += 1;
    }
}

/// The shortest a cut string is left: what it says must stay readable.
const KEEP: usize = 64;

/// Cuts the longest string value of `lists` by up to `excess` bytes (never below [`KEEP`],
/// at a character boundary); `false` when none is longer than that.
fn cut_longest_string(lists: &mut [&mut Vec<KeyValue>], excess: usize) -> bool {
    let longest = lists
        .iter_mut()
        .flat_map(|list| list.iter_mut())
        .filter_map(|kv| match kv.value.as_mut()?.value.as_mut()? {
            any_value::Value::StringValue(text) if text.len() > KEEP => Some(text),
            _ => None,
        })
        .max_by_key(|text| text.len());
    let Some(text) = longest else {
        return false;
    };
    let mut keep = text.len().saturating_sub(excess).max(KEEP);
    while !text.is_char_boundary(keep) {
        keep -= 1;
    }
    text.truncate(keep);
    true
}

/// `request` as requests within `limits`, every data point in one of them, in order. A
/// metric whose points do not fit one request is repeated, its points divided.
pub(crate) fn metric_requests(
    request: ExportMetricsServiceRequest,
    limits: &MetricLimits,
) -> Vec<ExportMetricsServiceRequest> {
    let mut requests = Vec::new();
    let mut open = MetricRequest::default();
    for mut resource_metrics in request.resource_metrics {
        for mut scope_metrics in std::mem::take(&mut resource_metrics.scope_metrics) {
            for metric in std::mem::take(&mut scope_metrics.metrics) {
                for piece in points_one_by_one(metric) {
                    if !open.takes(&resource_metrics, &scope_metrics, &piece, limits) {
                        requests.push(std::mem::take(&mut open).request);
                    }
                    open.add(&resource_metrics, &scope_metrics, piece);
                }
            }
        }
    }
    if open.points > 0 {
        requests.push(open.request);
    }
    requests
}

/// `metric` as one metric per data point, in order (merged back by [`MetricRequest::add`]).
fn points_one_by_one(metric: Metric) -> Vec<Metric> {
    let Metric {
        name,
        description,
        unit,
        data,
        metadata,
    } = metric;
    let one = |data| Metric {
        name: name.clone(),
        description: description.clone(),
        unit: unit.clone(),
        data: Some(data),
        metadata: metadata.clone(),
    };
    use metric::Data;
    match data {
        Some(Data::Sum(sum)) => sum
            .data_points
            .iter()
            .map(|point| {
                one(Data::Sum(opentelemetry_proto::tonic::metrics::v1::Sum {
                    data_points: vec![point.clone()],
                    ..sum.clone()
                }))
            })
            .collect(),
        Some(Data::Gauge(gauge)) => gauge
            .data_points
            .into_iter()
            .map(|point| {
                one(Data::Gauge(
                    opentelemetry_proto::tonic::metrics::v1::Gauge {
                        data_points: vec![point],
                    },
                ))
            })
            .collect(),
        Some(Data::Histogram(histogram)) => histogram
            .data_points
            .iter()
            .map(|point| {
                one(Data::Histogram(
                    opentelemetry_proto::tonic::metrics::v1::Histogram {
                        data_points: vec![point.clone()],
                        ..histogram.clone()
                    },
                ))
            })
            .collect(),
        // The crate records no other kind; one it might is sent whole.
        other => vec![Metric {
            name,
            description,
            unit,
            data: other,
            metadata,
        }],
    }
}

/// The data points a metric holds.
pub(crate) fn points(metric: &Metric) -> usize {
    use metric::Data;
    match &metric.data {
        Some(Data::Sum(sum)) => sum.data_points.len(),
        Some(Data::Gauge(gauge)) => gauge.data_points.len(),
        Some(Data::Histogram(histogram)) => histogram.data_points.len(),
        Some(Data::ExponentialHistogram(histogram)) => histogram.data_points.len(),
        Some(Data::Summary(summary)) => summary.data_points.len(),
        None => 0,
    }
}

/// A metrics request being filled, with a bound of its encoded size: each piece counted as
/// the whole metric it is (merged, its points share one entry and cost less), each resource
/// and scope entry with room for its length prefix.
#[derive(Default)]
struct MetricRequest {
    request: ExportMetricsServiceRequest,
    points: usize,
    bytes: usize,
}

impl MetricRequest {
    /// The bytes `piece` adds at most.
    fn cost(&self, resource: &ResourceMetrics, scope: &ScopeMetrics, piece: &Metric) -> usize {
        let (same_resource, same_scope) = self.same(resource, scope);
        let mut cost = field(piece.encoded_len());
        if !same_scope {
            let empty = ScopeMetrics {
                scope: scope.scope.clone(),
                metrics: Vec::new(),
                schema_url: scope.schema_url.clone(),
            };
            // Its length prefix grows with its metrics: up to the longest varint.
            cost += field(empty.encoded_len()) + 10;
        }
        if !same_resource {
            let empty = ResourceMetrics {
                resource: resource.resource.clone(),
                scope_metrics: Vec::new(),
                schema_url: resource.schema_url.clone(),
            };
            cost += field(empty.encoded_len()) + 10;
        }
        cost
    }

    /// Whether the last entries are `resource`'s and `scope`'s.
    fn same(&self, resource: &ResourceMetrics, scope: &ScopeMetrics) -> (bool, bool) {
        let Some(last) = self.request.resource_metrics.last() else {
            return (false, false);
        };
        let same_resource =
            last.resource == resource.resource && last.schema_url == resource.schema_url;
        let same_scope = same_resource
            && last
                .scope_metrics
                .last()
                .is_some_and(|s| s.scope == scope.scope && s.schema_url == scope.schema_url);
        (same_resource, same_scope)
    }

    /// Whether `piece` fits: an empty request takes any one.
    fn takes(
        &self,
        resource: &ResourceMetrics,
        scope: &ScopeMetrics,
        piece: &Metric,
        limits: &MetricLimits,
    ) -> bool {
        self.points == 0
            || (self.points + points(piece) <= limits.data_points
                && self.bytes + self.cost(resource, scope, piece) <= limits.request_bytes)
    }

    /// Adds `piece` to the last metric when it is the same metric of the same scope and
    /// resource, else as a new entry.
    fn add(&mut self, resource: &ResourceMetrics, scope: &ScopeMetrics, piece: Metric) {
        self.bytes += self.cost(resource, scope, &piece);
        self.points += points(&piece);
        let (same_resource, same_scope) = self.same(resource, scope);
        if !same_resource {
            self.request.resource_metrics.push(ResourceMetrics {
                resource: resource.resource.clone(),
                scope_metrics: Vec::new(),
                schema_url: resource.schema_url.clone(),
            });
        }
        let Some(last_resource) = self.request.resource_metrics.last_mut() else {
            return;
        };
        if !same_scope {
            last_resource.scope_metrics.push(ScopeMetrics {
                scope: scope.scope.clone(),
                metrics: Vec::new(),
                schema_url: scope.schema_url.clone(),
            });
        }
        let Some(last_scope) = last_resource.scope_metrics.last_mut() else {
            return;
        };
        match last_scope.metrics.last_mut() {
            Some(last) if same_metric(last, &piece) => merge(last, piece),
            _ => last_scope.metrics.push(piece),
        }
    }
}

/// The same metric, of the same kind and temporality: its points may share one entry.
fn same_metric(a: &Metric, b: &Metric) -> bool {
    use metric::Data;
    let kind = |metric: &Metric| match &metric.data {
        Some(Data::Sum(sum)) => Some((1, sum.aggregation_temporality, sum.is_monotonic)),
        Some(Data::Gauge(_)) => Some((2, 0, false)),
        Some(Data::Histogram(histogram)) => Some((3, histogram.aggregation_temporality, false)),
        _ => None,
    };
    a.name == b.name
        && a.unit == b.unit
        && a.description == b.description
        && a.metadata == b.metadata
        && kind(a).is_some()
        && kind(a) == kind(b)
}

fn merge(into: &mut Metric, piece: Metric) {
    use metric::Data;
    match (&mut into.data, piece.data) {
        (Some(Data::Sum(into)), Some(Data::Sum(piece))) => {
            into.data_points.extend(piece.data_points)
        }
        (Some(Data::Gauge(into)), Some(Data::Gauge(piece))) => {
            into.data_points.extend(piece.data_points)
        }
        (Some(Data::Histogram(into)), Some(Data::Histogram(piece))) => {
            into.data_points.extend(piece.data_points)
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests;
