//! The limits at their boundaries: one more span, byte or data point than a request takes is
//! a second request; one more byte than a span, resource or scope takes is cut from its
//! longest string; nothing is lost.

use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope};
use opentelemetry_proto::tonic::metrics::v1::{
    HistogramDataPoint, NumberDataPoint, Sum, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::Event;

use super::*;

fn text(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..Default::default()
    }
}

fn span(n: usize, padding: usize) -> Span {
    Span {
        trace_id: vec![1; 16],
        span_id: (n as u64 + 1).to_be_bytes().to_vec(),
        name: format!("span {n}"),
        attributes: vec![text("padding", &"x".repeat(padding))],
        ..Default::default()
    }
}

fn resource_spans(resource: &str, scope: &str, spans: Vec<Span>) -> ResourceSpans {
    ResourceSpans {
        resource: Some(Resource {
            attributes: vec![text("service.name", resource)],
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            scope: Some(InstrumentationScope {
                name: scope.to_owned(),
                ..Default::default()
            }),
            spans,
            schema_url: String::new(),
        }],
        schema_url: String::new(),
    }
}

/// The span names of `requests`, in order, and each request's span count.
fn names(requests: &[ExportTraceServiceRequest]) -> (Vec<String>, Vec<usize>) {
    let spans = |request: &ExportTraceServiceRequest| -> Vec<String> {
        request
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .map(|s| s.name.clone())
            .collect()
    };
    (
        requests.iter().flat_map(spans).collect(),
        requests.iter().map(|r| spans(r).len()).collect(),
    )
}

/// "10,000 spans per request": 10,000 are one request, 10,001 two, in order.
#[test]
fn ten_thousand_spans_are_one_request_and_one_more_is_a_second() {
    for (count, expected) in [(10_000, vec![10_000]), (10_001, vec![10_000, 1])] {
        let spans = (0..count).map(|n| span(n, 0)).collect();
        let requests = trace_requests(vec![resource_spans("s", "a", spans)], &AWS_TRACES);
        let (names, per_request) = names(&requests);
        assert_eq!(per_request, expected);
        assert_eq!(
            names,
            (0..count).map(|n| format!("span {n}")).collect::<Vec<_>>()
        );
    }
}

/// A request's exact encoded size is what the split measures: with the limit at the size of
/// all the spans in one request they are one; one byte less, two; every request within it,
/// across resources and scopes.
#[test]
fn a_request_of_exactly_the_byte_limit_is_one_and_one_byte_more_is_two() {
    let batch = || {
        vec![
            resource_spans("one", "a", (0..5).map(|n| span(n, 300)).collect()),
            resource_spans("two", "b", (5..9).map(|n| span(n, 700)).collect()),
        ]
    };
    let whole = ExportTraceServiceRequest {
        resource_spans: batch(),
    }
    .encoded_len();
    let limits = |request_bytes| TraceLimits {
        request_bytes,
        ..AWS_TRACES
    };
    let at = trace_requests(batch(), &limits(whole));
    assert_eq!(at.len(), 1);
    assert_eq!(at[0].encoded_len(), whole);
    let below = trace_requests(batch(), &limits(whole - 1));
    assert_eq!(below.len(), 2);
    for request in &below {
        assert!(request.encoded_len() < whole);
    }
    assert_eq!(names(&below).0, names(&at).0);
    // A tight limit: every request still within it, every span there, in order.
    let tight = trace_requests(batch(), &limits(2_000));
    assert!(tight.len() > 2);
    for request in &tight {
        assert!(request.encoded_len() <= 2_000, "{}", request.encoded_len());
    }
    assert_eq!(names(&tight).0, names(&at).0);
}

/// "200 KB per span": a span of exactly 200,000 bytes is sent as it is; one byte more and its
/// longest string is cut to fit, the rest of the span kept.
#[test]
fn a_span_of_the_limit_is_kept_and_one_byte_more_is_cut_to_fit() {
    let base = span(0, 0).encoded_len();
    // The padding's own length prefix grows from 2 to 3 bytes past 16,383: solve around it.
    let mut padding = 200_000 - base;
    while span(0, padding).encoded_len() > 200_000 {
        padding -= 1;
    }
    let exact = span(0, padding);
    assert_eq!(exact.encoded_len(), 200_000);
    let mut kept = exact.clone();
    fit_span(&mut kept, AWS_TRACES.span_bytes);
    assert_eq!(kept, exact);
    let mut cut = span(0, padding + 1);
    assert_eq!(cut.encoded_len(), 200_001);
    fit_span(&mut cut, AWS_TRACES.span_bytes);
    assert!(cut.encoded_len() <= 200_000);
    assert_eq!(cut.name, "span 0");
    assert_eq!(cut.dropped_attributes_count, 0, "cut, not dropped");
}

/// A span too big for its strings to be cut (many events) drops its last events, counted in
/// `dropped_events_count`, so the backend says some are missing.
#[test]
fn a_span_of_many_events_drops_its_last_ones_and_counts_them() {
    let mut big = span(0, 10);
    big.events = (0..10_000)
        .map(|n| Event {
            name: format!("event {n}"),
            attributes: vec![text("short", "value")],
            ..Default::default()
        })
        .collect();
    assert!(big.encoded_len() > 200_000);
    fit_span(&mut big, 200_000);
    assert!(big.encoded_len() <= 200_000);
    assert_eq!(big.events.len() + big.dropped_events_count as usize, 10_000);
    assert_eq!(big.events[0].name, "event 0", "the first kept");
}

/// "16 KB per resource and scope": one of exactly 16,000 bytes is kept, one byte more cut.
#[test]
fn a_resource_of_the_limit_is_kept_and_one_byte_more_is_cut() {
    let resource = |len: usize| vec![text("service.name", "s"), text("big", &"r".repeat(len))];
    let mut len = 16_000 - resource_len(&resource(0));
    while resource_len(&resource(len)) > 16_000 {
        len -= 1;
    }
    assert_eq!(resource_len(&resource(len)), 16_000);
    for extra in [0, 1] {
        let mut batch = resource_spans("s", "a", vec![span(0, 0)]);
        batch.resource.as_mut().unwrap().attributes = resource(len + extra);
        let requests = trace_requests(vec![batch], &AWS_TRACES);
        let sent = requests[0].resource_spans[0].resource.as_ref().unwrap();
        // Sent at exactly the limit: the extra byte cut from the longest string.
        assert_eq!(resource_len(&sent.attributes), 16_000, "extra {extra}");
        assert_eq!(sent.attributes, resource(len));
        assert_eq!(sent.dropped_attributes_count, 0);
    }
}

fn sum_of(points: usize, bounds: usize) -> Vec<Metric> {
    let point = |n: usize| NumberDataPoint {
        attributes: vec![text("n", &n.to_string())],
        time_unix_nano: 1,
        value: Some(number_data_point::Value::AsInt(n as i64)),
        ..Default::default()
    };
    let histogram_point = |n: usize| HistogramDataPoint {
        attributes: vec![text("n", &n.to_string())],
        count: 1,
        bucket_counts: vec![0; bounds + 1],
        explicit_bounds: (0..bounds).map(|b| b as f64).collect(),
        ..Default::default()
    };
    vec![
        Metric {
            name: "app.sum".to_owned(),
            data: Some(metric::Data::Sum(Sum {
                data_points: (0..points).map(point).collect(),
                aggregation_temporality: 1,
                is_monotonic: true,
            })),
            ..Default::default()
        },
        Metric {
            name: "app.histogram".to_owned(),
            data: Some(metric::Data::Histogram(
                opentelemetry_proto::tonic::metrics::v1::Histogram {
                    data_points: (0..points).map(histogram_point).collect(),
                    aggregation_temporality: 1,
                },
            )),
            ..Default::default()
        },
    ]
}

fn metrics_request(metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource::default()),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope::default()),
                metrics,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// Every data point of `requests`, as (metric, n), in order; and each request's count.
fn points_of(requests: &[ExportMetricsServiceRequest]) -> (Vec<(String, String)>, Vec<usize>) {
    let of = |request: &ExportMetricsServiceRequest| -> Vec<(String, String)> {
        let mut out = Vec::new();
        for metric in request
            .resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
        {
            let attributes: Vec<&Vec<KeyValue>> = match &metric.data {
                Some(metric::Data::Sum(sum)) => {
                    sum.data_points.iter().map(|p| &p.attributes).collect()
                }
                Some(metric::Data::Histogram(h)) => {
                    h.data_points.iter().map(|p| &p.attributes).collect()
                }
                _ => Vec::new(),
            };
            for attributes in attributes {
                let n = match attributes[0]
                    .value
                    .as_ref()
                    .unwrap()
                    .value
                    .as_ref()
                    .unwrap()
                {
                    any_value::Value::StringValue(n) => n.clone(),
                    _ => unreachable!(),
                };
                out.push((metric.name.clone(), n));
            }
        }
        out
    };
    (
        requests.iter().flat_map(of).collect(),
        requests.iter().map(|r| of(r).len()).collect(),
    )
}

/// "1,000 data points per request": 1,000 are one request, 1,001 two; a metric divided
/// between requests keeps its name, kind and temporality in both, its points in order.
#[test]
fn a_thousand_data_points_are_one_request_and_one_more_is_a_second() {
    for (per_metric, expected) in [(500, vec![1_000]), (501, vec![1_000, 2])] {
        let metrics = sum_of(per_metric, 0);
        let requests = metric_requests(metrics_request(metrics.clone()), &AWS_METRICS);
        let (points, per_request) = points_of(&requests);
        assert_eq!(per_request, expected);
        assert_eq!(points, points_of(&[metrics_request(metrics)]).0);
    }
}

/// "1 MB per request": big histogram points are divided between requests, each within
/// 1,000,000 bytes, none lost; a batch within the limit stays one request.
#[test]
fn metrics_requests_stay_within_the_byte_limit() {
    let metrics = sum_of(600, 200);
    let whole = metrics_request(metrics.clone());
    assert!(whole.encoded_len() > 1_000_000);
    let requests = metric_requests(whole.clone(), &AWS_METRICS);
    assert!(requests.len() >= 2);
    for request in &requests {
        assert!(
            request.encoded_len() <= 1_000_000,
            "{}",
            request.encoded_len()
        );
    }
    assert_eq!(points_of(&requests).0, points_of(&[whole]).0);
    let small = metrics_request(sum_of(10, 5));
    assert_eq!(metric_requests(small.clone(), &AWS_METRICS), vec![small]);
}
