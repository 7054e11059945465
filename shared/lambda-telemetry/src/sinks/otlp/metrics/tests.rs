//! The OTLP metrics encoding, and the sink against a real receiver on loopback.

use std::time::Duration;

use ::tests::otlp_receiver::{Answer, OtlpReceiver};
use metrics::{Key, Label};
use opentelemetry_proto::tonic::metrics::v1::{HistogramDataPoint, NumberDataPoint};

use super::*;
use crate::config::LogFormat;
use crate::logs::testing::capture;
use crate::metrics::{InvocationIds, Series, StoreRecorder};

const TRACE_A: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const TRACE_B: &str = "5759e988bd862e3fe1be46a994272793";

fn counter(name: &'static str, labels: &[(&'static str, &'static str)], n: u64) -> Series {
    series(name, labels, Value::Counter(n))
}

fn series(name: &'static str, labels: &[(&'static str, &'static str)], value: Value) -> Series {
    let labels: Vec<Label> = labels.iter().map(|(k, v)| Label::new(*k, *v)).collect();
    Series {
        key: Key::from_parts(name, labels),
        value,
    }
}

/// One invocation's group: `series` with `dimensions`, in the trace `trace`.
fn group(series: Vec<Series>, dimensions: &[(&str, &str)], trace: Option<&str>) -> Recorded {
    let dimensions: Vec<(String, String)> = dimensions
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let ids = trace.map(|trace| InvocationIds {
        request_id: Some(format!("req-{}", &trace[..4])),
        xray_trace_id: None,
        trace_id: Some(trace.to_owned()),
        tenant_id: None,
    });
    Recorded::builtin(series, dimensions, Vec::new(), ids)
}

fn metric<'r>(request: &'r ExportMetricsServiceRequest, name: &str) -> &'r Metric {
    request.resource_metrics[0].scope_metrics[0]
        .metrics
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no {name}: {request:#?}"))
}

fn sum_points(metric: &Metric) -> (&[NumberDataPoint], i32, bool) {
    match &metric.data {
        Some(metric::Data::Sum(sum)) => (
            &sum.data_points,
            sum.aggregation_temporality,
            sum.is_monotonic,
        ),
        other => panic!("not a sum: {other:?}"),
    }
}

fn histogram_points(metric: &Metric) -> (&[HistogramDataPoint], i32) {
    match &metric.data {
        Some(metric::Data::Histogram(h)) => (&h.data_points, h.aggregation_temporality),
        other => panic!("not a histogram: {other:?}"),
    }
}

fn int(point: &NumberDataPoint) -> i64 {
    match point.value {
        Some(number_data_point::Value::AsInt(n)) => n,
        other => panic!("not an int: {other:?}"),
    }
}

/// A data point's attributes as pairs.
fn pairs(attributes: &[KeyValue]) -> Vec<(String, String)> {
    attributes
        .iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.clone()) {
                Some(any_value::Value::StringValue(s)) => s,
                other => panic!("not a string: {other:?}"),
            };
            (kv.key.clone(), value)
        })
        .collect()
}

fn sink(temporality: Temporality) -> OtlpMetrics {
    OtlpMetrics::with_endpoint(format!("http://{}", ::tests::CLOSED_ADDRESS), temporality)
}

fn window_start(sink: &OtlpMetrics) -> SystemTime {
    sink.state.lock().unwrap().window_start
}

/// Delta, the default here: "each export covers the time since the previous one". The
/// second flush's point holds only what was recorded after the first, and starts where the
/// first ended; a flush with nothing new sends nothing.
#[test]
fn delta_points_cover_the_time_since_the_previous_export_and_are_never_sent_twice() {
    let sink = sink(Temporality::Delta);
    let started = window_start(&sink);
    let (t1, t2) = (
        started + Duration::from_secs(1),
        started + Duration::from_secs(2),
    );
    let first = sink
        .encode(&[group(vec![counter("app.orders", &[], 3)], &[], None)], t1)
        .unwrap();
    let (points, temporality, monotonic) = sum_points(metric(&first.request, "app.orders"));
    assert_eq!(
        (int(&points[0]), temporality, monotonic),
        (3, AggregationTemporality::Delta as i32, true)
    );
    assert_eq!(
        (points[0].start_time_unix_nano, points[0].time_unix_nano),
        (nanos(started), nanos(t1))
    );
    assert_eq!(request_points(&first.request), 1);

    let second = sink
        .encode(&[group(vec![counter("app.orders", &[], 2)], &[], None)], t2)
        .unwrap();
    let (points, _, _) = sum_points(metric(&second.request, "app.orders"));
    assert_eq!(int(&points[0]), 2, "only what came after the first export");
    assert_eq!(
        (points[0].start_time_unix_nano, points[0].time_unix_nano),
        (nanos(t1), nanos(t2))
    );
    assert!(
        sink.encode(&[], started + Duration::from_secs(3)).is_none(),
        "nothing new, nothing sent"
    );
}

/// Cumulative: "the running total since the series' start": a series adds up across
/// flushes from the start of the window it first appeared in; a new series starts later;
/// every series known is exported at each flush with something new.
#[test]
fn cumulative_points_are_running_totals_from_the_series_first_window() {
    let sink = sink(Temporality::Cumulative);
    let started = window_start(&sink);
    let (t1, t2) = (
        started + Duration::from_secs(1),
        started + Duration::from_secs(2),
    );
    let duration = |v: f64| series(metric_keys::INVOKE_DURATION, &[], Value::Histogram(vec![v]));
    sink.encode(
        &[group(
            vec![counter("app.orders", &[("shard", "a")], 3), duration(0.2)],
            &[],
            None,
        )],
        t1,
    )
    .unwrap();
    let second = sink
        .encode(
            &[group(
                vec![
                    counter("app.orders", &[("shard", "a")], 2),
                    counter("app.orders", &[("shard", "b")], 1),
                    duration(0.3),
                ],
                &[],
                None,
            )],
            t2,
        )
        .unwrap();
    let (points, temporality, _) = sum_points(metric(&second.request, "app.orders"));
    assert_eq!(temporality, AggregationTemporality::Cumulative as i32);
    let by_shard: Vec<_> = points
        .iter()
        .map(|p| (pairs(&p.attributes), int(p), p.start_time_unix_nano))
        .collect();
    assert_eq!(
        by_shard,
        [
            (vec![("shard".into(), "a".into())], 5, nanos(started)),
            (vec![("shard".into(), "b".into())], 1, nanos(t1)),
        ]
    );
    let (histograms, temporality) =
        histogram_points(metric(&second.request, metric_keys::INVOKE_DURATION));
    assert_eq!(temporality, AggregationTemporality::Cumulative as i32);
    assert_eq!(histograms[0].count, 2);
    assert_eq!(
        (histograms[0].min, histograms[0].max),
        (Some(0.2), Some(0.3))
    );
    assert_eq!(request_points(&second.request), 3);
}

/// OTLP, `HistogramDataPoint.bucket_counts`: "bucket i counts values in
/// (bounds[i-1], bounds[i]]": a value equal to a bound is in that bound's bucket, one just
/// above it in the next; above the last bound, the overflow bucket. Seconds have the semantic
/// conventions' bounds, anything else the SDK's defaults. "Negative events *can* be
/// recorded, but sum should not be filled out when doing so."
#[test]
fn a_value_equal_to_a_bound_is_counted_in_that_bounds_bucket() {
    let sink = sink(Temporality::Delta);
    let now = window_start(&sink) + Duration::from_secs(1);
    let seconds = vec![0.001, 0.005, 0.005_000_1, 10.0, 10.5];
    let plain = vec![0.0, 5.0, 5.5, -1.0];
    let encoded = sink
        .encode(
            &[group(
                vec![
                    series(metric_keys::INVOKE_DURATION, &[], Value::Histogram(seconds)),
                    series("app.size", &[], Value::Histogram(plain)),
                ],
                &[],
                None,
            )],
            now,
        )
        .unwrap();
    let (points, _) = histogram_points(metric(&encoded.request, metric_keys::INVOKE_DURATION));
    let point = &points[0];
    assert_eq!(point.explicit_bounds, SECONDS_BOUNDS);
    let mut expected = vec![0; SECONDS_BOUNDS.len() + 1];
    expected[0] = 2; // 0.001 and 0.005: (-inf, 0.005]
    expected[1] = 1; // 0.0050001: (0.005, 0.01]
    expected[13] = 1; // 10.0: (7.5, 10]
    expected[14] = 1; // 10.5: above every bound
    assert_eq!(point.bucket_counts, expected);
    assert_eq!(point.count, 5);
    assert_eq!((point.min, point.max), (Some(0.001), Some(10.5)));
    assert!(
        (point.sum.unwrap() - 20.511_000_1).abs() < 1e-9,
        "{point:?}"
    );

    let (points, _) = histogram_points(metric(&encoded.request, "app.size"));
    assert_eq!(points[0].explicit_bounds, DEFAULT_BOUNDS);
    assert_eq!(&points[0].bucket_counts[..4], [2, 1, 1, 0]); // -1 and 0 | 5 | 5.5
    assert_eq!(points[0].bucket_counts.iter().sum::<u64>(), 4);
    assert_eq!(points[0].sum, None, "no sum once a value is negative");
}

/// Invocations that overlap in one process (Lambda Managed Instances) each close their own
/// group. Points are per name, instrument and attributes: two tenants stay two points, never
/// merged; the same attributes add up (a counter's sum; a gauge's value is the latest group's,
/// whatever the order); a label wins over a dimension of its name. An exemplar leads to the
/// last trace that recorded the point.
#[test]
fn overlapping_invocations_keep_their_own_attributes_and_the_same_attributes_add_up() {
    let sink = sink(Temporality::Delta);
    let now = window_start(&sink) + Duration::from_secs(1);
    let earlier = now - Duration::from_millis(500);
    let mut late_gauge = group(
        vec![series("app.pool", &[], Value::Gauge(7.0))],
        &[("tenant", "a")],
        None,
    );
    late_gauge.timestamp = now;
    let mut early_gauge = group(
        vec![series("app.pool", &[], Value::Gauge(3.0))],
        &[("tenant", "a")],
        None,
    );
    early_gauge.timestamp = earlier;
    let groups = [
        group(
            vec![counter("app.orders", &[("shard", "s1")], 1)],
            &[("tenant", "a"), ("shard", "dimension")],
            Some(TRACE_A),
        ),
        group(
            vec![counter("app.orders", &[("shard", "s1")], 1)],
            &[("tenant", "b")],
            Some(TRACE_B),
        ),
        group(
            vec![counter("app.orders", &[("shard", "s1")], 2)],
            &[("tenant", "a")],
            Some("not-a-trace-id"),
        ),
        late_gauge,
        early_gauge,
    ];
    let encoded = sink.encode(&groups, now).unwrap();
    let (points, _, _) = sum_points(metric(&encoded.request, "app.orders"));
    let seen: Vec<_> = points
        .iter()
        .map(|p| (pairs(&p.attributes), int(p)))
        .collect();
    let attrs = |tenant: &str| {
        vec![
            ("shard".to_owned(), "s1".to_owned()),
            ("tenant".to_owned(), tenant.to_owned()),
        ]
    };
    assert_eq!(seen, [(attrs("a"), 3), (attrs("b"), 1)]);
    for (point, trace) in points.iter().zip([TRACE_A, TRACE_B]) {
        let [exemplar] = point.exemplars.as_slice() else {
            panic!("one exemplar per point: {point:?}")
        };
        assert_eq!(::tests::otlp_receiver::hex(&exemplar.trace_id), trace);
        assert_eq!(
            pairs(&exemplar.filtered_attributes),
            [(
                span_fields::FAAS_INVOCATION_ID.to_owned(),
                format!("req-{}", &trace[..4])
            )]
        );
    }
    let gauge = match &metric(&encoded.request, "app.pool").data {
        Some(metric::Data::Gauge(g)) => g.data_points[0].value,
        other => panic!("not a gauge: {other:?}"),
    };
    assert_eq!(gauge, Some(number_data_point::Value::AsDouble(7.0)));
    assert_eq!(request_points(&encoded.request), 3);
}

/// OTLP units are UCUM: the crate's own metrics have the semantic conventions' (`{invocation}`,
/// `s`...), a described metric its facade unit's code, an undescribed one none.
#[test]
fn units_are_ucum_and_the_builtins_have_the_semantic_conventions() {
    let recorder = StoreRecorder::new(Default::default());
    ::metrics::with_local_recorder(&recorder, || {
        ::metrics::describe_histogram!("test.otlp.payload", Unit::Kibibytes, "payload size");
        ::metrics::describe_histogram!("test.otlp.latency", Unit::Milliseconds, "latency");
    });
    for (name, expected) in [
        (metric_keys::INVOCATIONS, "{invocation}"),
        (metric_keys::ERRORS, "{error}"),
        (metric_keys::COLDSTARTS, "{coldstart}"),
        (metric_keys::INVOKE_DURATION, "s"),
        (metric_keys::LOST, "{item}"),
        ("test.otlp.payload", "KiBy"),
        ("test.otlp.latency", "ms"),
        ("test.otlp.undescribed", ""),
    ] {
        assert_eq!(unit(name), expected, "{name}");
    }
    for (facade, code) in [
        (Unit::Count, "1"),
        (Unit::Percent, "%"),
        (Unit::Microseconds, "us"),
        (Unit::Nanoseconds, "ns"),
        (Unit::Bytes, "By"),
        (Unit::Mebibytes, "MiBy"),
        (Unit::CountPerSecond, "1/s"),
    ] {
        assert_eq!(ucum(facade), code);
    }
    // Milliseconds are no seconds: the SDK's bounds, which are milliseconds'.
    assert_eq!(bounds(&unit("test.otlp.latency")), DEFAULT_BOUNDS);
}

/// What an invocation's built-in metrics leave for the flush.
fn invocation_batch(trace: &str) -> Batch {
    let mut batch = Batch::default();
    batch.metrics.groups.push(group(
        vec![
            counter(metric_keys::INVOCATIONS, &[], 1),
            counter(metric_keys::ERRORS, &[], 0),
            series(
                metric_keys::INVOKE_DURATION,
                &[],
                Value::Histogram(vec![0.012]),
            ),
        ],
        &[
            (metric_keys::FAAS_NAME, "cruddur-home-activities"),
            (metric_keys::HTTP_ROUTE, "/api/activities/home"),
            (metric_keys::HTTP_RESPONSE_STATUS_CLASS, "2xx"),
        ],
        Some(trace),
    ));
    batch
}

fn flush(sink: &OtlpMetrics, batch: &mut Batch, budget: Duration) -> Loss {
    crate::logs::testing::current_thread_runtime()
        .block_on(sink.flush(batch, Instant::now() + budget))
}

/// The pipeline's end: one flush is one `ExportMetricsServiceRequest` on `/v1/metrics`,
/// decoded by a real receiver, with the spans' resource, the scope `lambda-telemetry` and its
/// version, each metric with its unit and attributes, gzipped when so set.
#[test]
fn a_flush_reaches_a_real_receiver_as_one_request_with_the_spans_resource() {
    let receiver = OtlpReceiver::start(Answer::Status(200, None));
    let config = crate::logs::testing::config(LogFormat::Json)
        .with_service_name("cruddur")
        .with_otlp_metrics_endpoint(format!("{}/v1/metrics", receiver.endpoint()))
        .with_otlp_metrics_gzip(true);
    let resource = crate::traces::resource(&config);
    let mut problems = Vec::new();
    let signal = Signal {
        what: "metrics",
        endpoint: config.otlp.metrics_endpoint.as_deref(),
        path: "/v1/metrics",
        headers: &[],
        timeout: &config.otlp.metrics_timeout,
        gzip: &config.otlp.metrics_gzip,
        headers_setting: "",
        aws_service: "monitoring",
    };
    let sender = Sender::new(signal, &config.otlp, None, &mut problems);
    let sink = OtlpMetrics::new(sender, &resource, Temporality::Delta);
    let loss = flush(
        &sink,
        &mut invocation_batch(TRACE_A),
        Duration::from_secs(5),
    );
    assert!(loss.totals().is_empty(), "{loss:?}");

    let [export] = receiver
        .metrics_exports()
        .try_into()
        .unwrap_or_else(|e| panic!("{e:#?}"));
    assert!(
        export
            .headers
            .contains(&("content-encoding".into(), "gzip".into()))
    );
    assert!(receiver.exports().is_empty(), "nothing on /v1/traces");
    let resource_metrics = &export.request.resource_metrics[0];
    let service = resource_metrics
        .resource
        .as_ref()
        .unwrap()
        .attributes
        .iter()
        .find(|kv| kv.key == "service.name")
        .and_then(|kv| kv.value.clone()?.value);
    assert_eq!(
        service,
        Some(any_value::Value::StringValue("cruddur".into()))
    );
    let scope = resource_metrics.scope_metrics[0].scope.as_ref().unwrap();
    assert_eq!(
        (scope.name.as_str(), scope.version.as_str()),
        ("lambda-telemetry", env!("CARGO_PKG_VERSION"))
    );
    let invocations = metric(&export.request, metric_keys::INVOCATIONS);
    assert_eq!(invocations.unit, "{invocation}");
    let (points, _, _) = sum_points(invocations);
    assert_eq!(int(&points[0]), 1);
    assert!(
        pairs(&points[0].attributes)
            .contains(&("http.route".to_owned(), "/api/activities/home".to_owned()))
    );
    let duration = metric(&export.request, metric_keys::INVOKE_DURATION);
    assert_eq!(duration.unit, "s");
    assert_eq!(histogram_points(duration).0[0].count, 1);
}

/// A backend that refuses connections, or one that never answers: the flush ends by its
/// deadline and counts every point it carried as lost metric values.
#[test]
fn an_unreachable_or_silent_backend_costs_the_flush_its_points_not_more() {
    let silent = OtlpReceiver::start(Answer::Silence);
    for endpoint in [
        format!("http://{}/v1/metrics", ::tests::CLOSED_ADDRESS),
        format!("{}/v1/metrics", silent.endpoint()),
    ] {
        let sink = OtlpMetrics::with_endpoint(endpoint.clone(), Temporality::Delta);
        let loss = flush(
            &sink,
            &mut invocation_batch(TRACE_A),
            Duration::from_millis(200),
        );
        assert_eq!(loss.totals(), [("metric_values", 3)], "{endpoint}");
    }
}

/// Two flushes, of one invocation each (traces A and B): their losses and the lines said.
fn flush_two_invocations(sink: &OtlpMetrics) -> (Vec<Loss>, Vec<String>) {
    let mut losses = Vec::new();
    let lines = capture(LogFormat::Json, || {
        for trace in [TRACE_A, TRACE_B] {
            losses.push(flush(
                sink,
                &mut invocation_batch(trace),
                Duration::from_secs(5),
            ));
        }
    });
    (losses, lines)
}

/// A refused key (401) is never retried, counts the points with the status, and is said
/// once, whatever the number of flushes.
#[test]
fn a_refusal_is_counted_and_said_once() {
    let receiver = OtlpReceiver::start(Answer::Status(401, None));
    let sink = OtlpMetrics::with_endpoint(
        format!("{}/v1/metrics", receiver.endpoint()),
        Temporality::Delta,
    );
    let (losses, lines) = flush_two_invocations(&sink);
    for loss in &losses {
        assert_eq!(loss.totals(), [("metric_values", 3)]);
        assert!(format!("{loss:?}").contains("refused_status: Some(401)"));
    }
    let refused: Vec<_> = lines
        .iter()
        .filter(|l| l.contains("refused the metrics"))
        .collect();
    assert_eq!(refused.len(), 1, "{lines:#?}");
    assert_eq!(receiver.metrics_exports().len(), 2, "never retried");
}

/// OTLP/HTTP: a 200 whose `ExportMetricsServiceResponse` has `partial_success` with
/// `rejected_data_points > 0` did not take them all: those are counted as lost at every
/// flush, and said once, with the backend's reason.
#[test]
fn a_partial_success_counts_the_rejected_points_and_is_said_once() {
    let receiver = OtlpReceiver::rejecting_metric_points(2, "unknown dataset");
    let sink = OtlpMetrics::with_endpoint(
        format!("{}/v1/metrics", receiver.endpoint()),
        Temporality::Delta,
    );
    let (losses, lines) = flush_two_invocations(&sink);
    for loss in &losses {
        assert_eq!(loss.totals(), [("metric_values", 2)]);
    }
    let said: Vec<_> = lines
        .iter()
        .filter(|l| l.contains("rejected some metric data points"))
        .collect();
    assert_eq!(said.len(), 1, "{lines:#?}");
    assert!(said[0].contains("unknown dataset") && said[0].contains("\"rejected_data_points\":2"));
}

/// Through the pipeline as `init` builds it: `OTEL_METRICS_EXPORTER=otlp` builds the OTLP
/// metrics sink, the store's groups leave at the flush, decoded by a real receiver, and what
/// the backend rejected comes back in the next flush's request as
/// `lambda_telemetry.lost{kind=metric_values}` (telemetry about telemetry).
#[test]
fn the_pipeline_exports_the_stores_groups_and_the_next_flush_reports_their_loss() {
    let receiver = OtlpReceiver::rejecting_metric_points(2, "over quota");
    let endpoint = receiver.endpoint();
    let config = Config::from_lookup(&|name| match name {
        "OTEL_METRICS_EXPORTER" => Some("otlp".to_owned()),
        "OTEL_TRACES_EXPORTER" => Some("none".to_owned()),
        "OTEL_EXPORTER_OTLP_ENDPOINT" => Some(endpoint.clone()),
        "AWS_LAMBDA_FUNCTION_NAME" => Some("cruddur-home".to_owned()),
        _ => None,
    });
    let resource = crate::traces::resource(&config);
    let sinks = crate::sinks::from_config(&config, &resource);
    assert!(sinks.problems.is_empty(), "{:?}", sinks.problems);
    let metrics = sinks.metrics.expect("the OTLP sink takes metrics");
    for group in invocation_batch(TRACE_A).metrics.groups {
        metrics.store.push(group);
    }
    let runtime = crate::logs::testing::current_thread_runtime();
    let lines = capture(LogFormat::Json, || {
        runtime.block_on(sinks.pipeline.flush());
        runtime.block_on(sinks.pipeline.flush());
    });
    let exports = receiver.metrics_exports();
    assert_eq!(exports.len(), 2, "{lines:#?}");
    let (points, _, _) = sum_points(metric(&exports[0].request, metric_keys::INVOCATIONS));
    assert_eq!(int(&points[0]), 1);
    let (points, _, _) = sum_points(metric(&exports[1].request, metric_keys::LOST));
    assert_eq!(int(&points[0]), 2, "{:?}", exports[1].request);
    let attributes = pairs(&points[0].attributes);
    for pair in [("kind", "metric_values"), ("faas.name", "cruddur-home")] {
        assert!(
            attributes.contains(&(pair.0.to_owned(), pair.1.to_owned())),
            "{attributes:?}"
        );
    }
}

/// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`: `delta`, `cumulative`, `lowmemory`
/// (delta for counters and histograms, all the facade has), any case; anything else is a
/// problem that never quotes the value, and delta.
#[test]
fn temporality_is_read_from_its_preference_and_defaults_to_delta() {
    let read = |value: Option<&str>| {
        let config = Config::from_lookup(&|name| {
            (name == "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE")
                .then(|| value.map(str::to_owned))
                .flatten()
        });
        let mut problems = Vec::new();
        (temporality(&config, &mut problems), problems)
    };
    assert_eq!(read(None).0, Temporality::Delta);
    assert_eq!(read(Some(" Cumulative ")).0, Temporality::Cumulative);
    assert_eq!(read(Some("LowMemory")).0, Temporality::Delta);
    let (temporality, problems) = read(Some("sum-x9"));
    assert_eq!(temporality, Temporality::Delta);
    let [problem] = problems.as_slice() else {
        panic!("{problems:?}")
    };
    assert!(!problem.to_string().contains("x9"), "{problem}");
    let code =
        Config::from_lookup(&|_| None).with_otlp_metrics_temporality(Temporality::Cumulative);
    assert_eq!(
        super::temporality(&code, &mut Vec::new()),
        Temporality::Cumulative
    );
}
