//! `OTEL_METRICS_EXPORTER=otlp`: each invocation's built-in metrics reach an OTLP/HTTP
//! receiver on `/v1/metrics`, under the function's name and route template (never the raw
//! path), with the metrics' own headers, an exemplar that leads to the invocation's trace, and
//! EMF lines still on stdout beside them. A metrics backend that refuses connections, refuses
//! the key, never answers or takes only part of the points costs metric values, counted and
//! said, never a request.

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::metrics::v1::{Metric, NumberDataPoint, metric};
use tests::otlp_receiver::{Answer, OtlpReceiver, hex};
use tests::{CLOSED_ADDRESS, LocalApi, eventually};

fn attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| match kv.value.clone()?.value? {
            Value::StringValue(s) => Some(s),
            _ => None,
        })
}

fn sum_points(metric: &Metric) -> &[NumberDataPoint] {
    match &metric.data {
        Some(metric::Data::Sum(sum)) => {
            assert!(sum.is_monotonic, "{metric:?}");
            assert_eq!(sum.aggregation_temporality, 1, "delta by default");
            &sum.data_points
        }
        other => panic!("{}: not a sum: {other:?}", metric.name),
    }
}

#[test]
fn metrics_reach_an_otlp_receiver_under_the_functions_route() {
    let receiver = OtlpReceiver::start(Answer::Status(200, None));
    let endpoint = receiver.endpoint();
    let api = LocalApi::start(&[
        ("OTEL_METRICS_EXPORTER", "otlp,emf"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "x-honeycomb-team=canary-key-91c4",
        ),
        (
            "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
            "x-honeycomb-dataset=cruddur-metrics",
        ),
        ("OTEL_SERVICE_NAME", "cruddur"),
    ]);
    let first = api.get("/api/activities/@worf", &[]);
    assert_eq!(first.status, 200);
    let traceresponse = first.header("traceresponse").expect("a traceresponse");
    let trace_id = traceresponse.split('-').nth(1).unwrap().to_owned();
    // The next request waits for the previous flush: after it, the metrics have left.
    assert_eq!(api.get("/api/activities/@worf", &[]).status, 200);

    let invocations = eventually("faas.invocations on /v1/metrics", || {
        let found: Vec<Metric> = receiver
            .metrics()
            .into_iter()
            .filter(|m| m.name == "faas.invocations")
            .collect();
        (!found.is_empty()).then_some(found)
    });
    let point = &sum_points(&invocations[0])[0];
    assert_eq!(invocations[0].unit, "{invocation}");
    assert_eq!(
        attribute(&point.attributes, "http.route").as_deref(),
        Some("/api/activities/{handle}"),
        "the route template, never the raw path: {point:?}"
    );
    assert_eq!(
        attribute(&point.attributes, "faas.name").as_deref(),
        Some("user-activities")
    );
    assert_eq!(
        attribute(&point.attributes, "http.response.status_class").as_deref(),
        Some("2xx")
    );
    match point.value {
        Some(opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsInt(1)) => {}
        other => panic!("one invocation per flush: {other:?}"),
    }
    assert_eq!(
        point.exemplars.first().map(|e| hex(&e.trace_id)),
        Some(trace_id),
        "the exemplar leads to the first invocation's trace"
    );

    let all = receiver.metrics();
    for (name, unit) in [
        ("faas.errors", "{error}"),
        ("faas.coldstarts", "{coldstart}"),
        ("faas.invoke_duration", "s"),
    ] {
        let metric = all
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("no {name}: {all:#?}"));
        assert_eq!(metric.unit, unit, "{name}");
    }

    let exports = receiver.metrics_exports();
    for export in &exports {
        for header in [
            ("x-honeycomb-team", "canary-key-91c4"),
            ("x-honeycomb-dataset", "cruddur-metrics"),
        ] {
            assert!(
                export.headers.contains(&(header.0.into(), header.1.into())),
                "{:?}",
                export.headers
            );
        }
        let resource = export.request.resource_metrics[0].resource.clone().unwrap();
        assert_eq!(
            attribute(&resource.attributes, "service.name").as_deref(),
            Some("cruddur")
        );
    }
    assert!(
        receiver
            .exports()
            .iter()
            .all(|e| !e.headers.iter().any(|(n, _)| n == "x-honeycomb-dataset")),
        "the metrics' headers are theirs alone"
    );

    let lines = api.function_lines();
    assert!(
        lines.iter().any(|l| l.contains("\"_aws\"")),
        "EMF lines beside OTLP: {lines:#?}"
    );
    for line in &lines {
        assert!(!line.contains("canary-key"), "the key leaked: {line}");
    }
}

/// Serves requests with the metrics backend answering as `receiver` does, or refusing
/// connections when `None`; spans go nowhere.
fn run(receiver: Option<&OtlpReceiver>) -> Vec<String> {
    let endpoint = receiver.map_or_else(
        || format!("http://{CLOSED_ADDRESS}"),
        OtlpReceiver::endpoint,
    );
    let api = LocalApi::start(&[
        ("OTEL_METRICS_EXPORTER", "otlp"),
        ("OTEL_TRACES_EXPORTER", "none"),
        (
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
            &format!("{endpoint}/v1/metrics"),
        ),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "x-honeycomb-team=canary-key-3b07",
        ),
        ("LAMBDA_TELEMETRY_FLUSH_BUDGET_MS", "300"),
    ]);
    api.get("/api/activities/home", &[]); // the first request builds and starts the function
    for _ in 0..3 {
        let started = Instant::now();
        let reply = api.get("/api/activities/home", &[]);
        assert_eq!(reply.status, 200);
        // It waited at most for the previous flush, which the budget bounds (generous margin
        // for a loaded machine; the figures themselves belong to the benchmarks).
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    }
    let lines = api.function_lines();
    for line in &lines {
        assert!(!line.contains("canary-key"), "the key leaked: {line}");
    }
    lines
}

#[test]
fn a_broken_metrics_backend_never_fails_or_slows_a_request() {
    let lines = run(None);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"dropped_metric_values\"")),
        "refused connections: {lines:#?}"
    );

    let silent = OtlpReceiver::start(Answer::Silence);
    let lines = run(Some(&silent));
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"dropped_metric_values\"")),
        "a backend that never answers: {lines:#?}"
    );

    let refusing = OtlpReceiver::start(Answer::Status(401, None));
    let lines = run(Some(&refusing));
    let refused: Vec<_> = lines
        .iter()
        .filter(|l| l.contains("refused the metrics"))
        .collect();
    assert_eq!(refused.len(), 1, "said once: {lines:#?}");
    assert!(refused[0].contains("\"status\":401"));
    assert_eq!(refusing.metrics_exports().len(), 4, "401 is never retried");

    let partial = OtlpReceiver::rejecting_metric_points(1, "dataset not found");
    let lines = run(Some(&partial));
    let rejected: Vec<_> = lines
        .iter()
        .filter(|l| l.contains("rejected some metric data points"))
        .collect();
    assert_eq!(rejected.len(), 1, "said once: {lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"dropped_metric_values\"")),
        "and counted: {lines:#?}"
    );
}
