//! EMF documents against the specification, through `tests::emf::check`, a checker written
//! from the specification alone (never from this module's output).

use metrics::{Key, Label};
use serde_json::Value as Json;

use super::document::{
    Emf, MAX_DIMENSION_VALUE_CHARS, MAX_DIMENSIONS_PER_SET, MAX_METRICS_PER_DIRECTIVE,
    MAX_VALUES_PER_METRIC, documents,
};
use super::{level_for_lambda, service_as_namespace, valid_namespace};
use crate::logs::MAX_LINE_BYTES;
use crate::metrics::{InvocationIds, Pending, Recorded, Series, Value};

fn emf() -> Emf {
    Emf {
        namespace: "Cruddur".into(),
        service: "cruddur".into(),
        level: None,
    }
}

fn ids() -> InvocationIds {
    InvocationIds {
        request_id: Some("8476a536-e9f4-11e8-9739-2dfe598c3fcd".into()),
        xray_trace_id: Some("1-5759e988-bd862e3fe1be46a994272793".into()),
        trace_id: Some("5759e988bd862e3fe1be46a994272793".into()),
        tenant_id: Some("tenant-7".into()),
    }
}

/// Every line is one valid EMF document (the checker's verdict, with its reasons).
fn checked(lines: &[Vec<u8>]) -> Vec<Json> {
    lines
        .iter()
        .map(|line| {
            let text = std::str::from_utf8(line).unwrap();
            let text = text.strip_suffix('\n').expect("a whole line");
            assert!(!text.contains('\n'), "one document per line");
            ::tests::emf::check(text).unwrap_or_else(|problems| panic!("{problems:#?}\n{text}"))
        })
        .collect()
}

fn series(name: &str, value: Value) -> Series {
    Series {
        key: Key::from_name(name.to_owned()),
        value,
    }
}

/// Every value of `name` over `documents`, in order.
fn values_of(documents: &[Json], name: &str) -> Vec<f64> {
    documents
        .iter()
        .filter_map(|d| d.get(name))
        .flat_map(|v| match v {
            Json::Array(items) => items.iter().filter_map(Json::as_f64).collect(),
            other => other.as_f64().into_iter().collect::<Vec<_>>(),
        })
        .collect()
}

fn directive(document: &Json) -> &Json {
    &document["_aws"]["CloudWatchMetrics"][0]
}

/// What a handler records in one invocation, as it reaches CloudWatch: the metrics under the
/// namespace, `service` first in every dimension set, the default set and each added one,
/// the labels last; the ids that lead to the invocation's logs and trace; metadata as plain
/// properties. No `message` or `duration_ms`, so the saved Logs Insights queries pass it by.
#[test]
fn an_invocations_metrics_are_one_valid_document_with_its_ids_and_sets() {
    let mut pending = Pending::default();
    pending.add_dimension("tenant".into(), "acme".into());
    pending.add_dimension_set(vec![("environment".into(), "prod".into())]);
    pending.add_metadata("order_id".into(), "4711".into());
    let feed = Key::from_parts("app.served", vec![Label::new("feed", "home")]);
    pending.apply(&feed, crate::metrics::Op::Increment(2));
    let group = pending.take(Some(ids()));
    let docs = checked(&documents(&group, &emf()).lines);
    assert_eq!(docs.len(), 1);
    let doc = &docs[0];
    assert_eq!(directive(doc)["Namespace"], "Cruddur");
    assert_eq!(
        directive(doc)["Dimensions"],
        serde_json::json!([
            ["service", "tenant", "feed"],
            ["service", "environment", "feed"]
        ])
    );
    assert_eq!(doc["app.served"], 2);
    assert_eq!(doc["service"], "cruddur");
    assert_eq!(doc["tenant"], "acme");
    assert_eq!(doc["environment"], "prod");
    assert_eq!(doc["feed"], "home");
    assert_eq!(doc["order_id"], "4711");
    assert_eq!(
        doc["function_request_id"],
        "8476a536-e9f4-11e8-9739-2dfe598c3fcd"
    );
    assert_eq!(doc["xray_trace_id"], "1-5759e988-bd862e3fe1be46a994272793");
    assert_eq!(doc["trace_id"], "5759e988bd862e3fe1be46a994272793");
    // As on its log lines: a tenant's metrics are found by `tenant_id` in Logs Insights.
    assert_eq!(doc["tenant_id"], "tenant-7");
    assert!(doc.get("message").is_none() && doc.get("duration_ms").is_none());
    assert!(doc.get("level").is_none(), "INFO is what Lambda assumes");
}

/// "A MetricDirective object MUST NOT contain more than 100 MetricDefinition objects": 100
/// metrics are one document, 101 are two, and every value is published once.
#[test]
fn a_hundred_metrics_fit_one_document_and_the_next_starts_another() {
    for (count, expected_docs) in [
        (MAX_METRICS_PER_DIRECTIVE, 1),
        (MAX_METRICS_PER_DIRECTIVE + 1, 2),
    ] {
        let group = Recorded::builtin(
            (0..count)
                .map(|i| series(&format!("app.m{i}"), Value::Counter(i as u64)))
                .collect(),
            Vec::new(),
            vec![Vec::new()],
            None,
        );
        let docs = checked(&documents(&group, &emf()).lines);
        assert_eq!(docs.len(), expected_docs, "{count} metrics");
        let published: usize = docs
            .iter()
            .map(|d| directive(d)["Metrics"].as_array().unwrap().len())
            .sum();
        assert_eq!(published, count);
        assert_eq!(
            values_of(&docs, &format!("app.m{}", count - 1)),
            [(count - 1) as f64]
        );
    }
}

/// "Numeric array metric targets MUST NOT have more than 100 members": a histogram's 100
/// values are one member, its 101st goes to a second document, in order, none lost.
#[test]
fn a_histograms_values_go_a_hundred_to_a_document_in_order() {
    for (count, expected_docs) in [
        (MAX_VALUES_PER_METRIC, 1),
        (MAX_VALUES_PER_METRIC + 1, 2),
        (250, 3),
    ] {
        let values: Vec<f64> = (0..count).map(|i| i as f64 / 4.0).collect();
        let group = Recorded::builtin(
            vec![series("app.latency", Value::Histogram(values.clone()))],
            Vec::new(),
            vec![Vec::new()],
            None,
        );
        let docs = checked(&documents(&group, &emf()).lines);
        assert_eq!(docs.len(), expected_docs, "{count} values");
        assert_eq!(values_of(&docs, "app.latency"), values);
    }
}

/// "A DimensionSet MUST NOT contain more than 30 dimension keys": `service` and 29 more are
/// published; one more and that set is left out (said by name), while another set of the
/// same metric is still published.
#[test]
fn thirty_dimensions_make_a_set_thirty_one_leave_it_out() {
    for (extra, published) in [
        (MAX_DIMENSIONS_PER_SET - 1, true),
        (MAX_DIMENSIONS_PER_SET, false),
    ] {
        let dimensions: Vec<(String, String)> = (0..extra)
            .map(|i| (format!("d{i}"), format!("v{i}")))
            .collect();
        let names: Vec<String> = dimensions.iter().map(|(n, _)| n.clone()).collect();
        let group = Recorded::builtin(
            vec![series("app.count", Value::Counter(1))],
            dimensions,
            vec![names, vec!["d0".into()]],
            None,
        );
        let out = documents(&group, &emf());
        let docs = checked(&out.lines);
        let sets = directive(&docs[0])["Dimensions"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(
            sets.len(),
            if published { 2 } else { 1 },
            "{extra} + service"
        );
        assert_eq!(out.unpublished.is_empty(), published);
        assert_eq!(sets.last().unwrap(), &serde_json::json!(["service", "d0"]));
    }
}

/// CloudWatch's dimension values: 1 to 1,024 ASCII characters, not only spaces. At 1,024 the
/// set is published; at 1,025, empty, blank, not ASCII or not printable, it is left out and the metric's
/// values are counted as lost when no set is left, never published under a bad value.
#[test]
fn dimension_values_of_1024_ascii_characters_are_published_and_no_others() {
    let cases = [
        ("a".repeat(MAX_DIMENSION_VALUE_CHARS), true),
        ("a".repeat(MAX_DIMENSION_VALUE_CHARS + 1), false),
        (String::new(), false),
        ("   ".into(), false),
        ("josé".into(), false),
        ("home\t".into(), false),
        ("two\nlines".into(), false),
    ];
    for (value, published) in cases {
        let group = Recorded::builtin(
            vec![series("app.count", Value::Counter(3))],
            vec![("handle".into(), value.clone())],
            vec![vec!["handle".into()]],
            None,
        );
        let out = documents(&group, &emf());
        let docs = checked(&out.lines);
        assert_eq!(docs.len(), usize::from(published), "{} chars", value.len());
        assert_eq!(out.dropped_values, u64::from(!published));
        assert_eq!(
            out.unpublished,
            if published {
                vec![]
            } else {
                vec!["dimension handle".to_owned()]
            }
        );
    }
}

/// A line CloudWatch Logs takes whole (262,144 bytes less its 26 per event): metrics that
/// would pass it go into more documents, each within it, every value once. Metadata too large
/// for any line is left out of the documents, never the metrics.
#[test]
fn documents_stay_within_a_cloudwatch_logs_event_and_lose_no_value() {
    let mut group = Recorded::builtin(
        (0..90)
            .map(|i| {
                series(
                    &format!("app.h{i}"),
                    Value::Histogram((0..100).map(|v| f64::from(v) + 0.123_456_789).collect()),
                )
            })
            .collect(),
        Vec::new(),
        vec![Vec::new()],
        Some(ids()),
    );
    group
        .metadata
        .insert("note".into(), "n".repeat(200_000).into());
    let docs = checked(&documents(&group, &emf()).lines);
    assert!(docs.len() >= 2, "{} documents", docs.len());
    for i in 0..90 {
        assert_eq!(values_of(&docs, &format!("app.h{i}")).len(), 100);
    }
    group
        .metadata
        .insert("note".into(), "n".repeat(MAX_LINE_BYTES).into());
    let out = documents(&group, &emf());
    let docs = checked(&out.lines);
    assert_eq!(out.dropped_values, 0);
    assert!(docs.iter().all(|d| d.get("note").is_none()));
    assert!(docs.iter().all(|d| d["function_request_id"].is_string()));
    assert_eq!(values_of(&docs, "app.h89").len(), 100);
}

/// Lambda's log-level filter reads a line without `level` as INFO and drops it under an
/// application log level of WARN or above; EMF lines then carry that level (beside an RFC
/// 3339 `timestamp`, without which Lambda ignores a level) and pass. At INFO and below they
/// carry none, so no Logs Insights query on `level` counts them.
#[test]
fn emf_lines_pass_lambdas_log_level_filter_at_every_level() {
    let group = Recorded::builtin(
        vec![series("app.count", Value::Counter(1))],
        Vec::new(),
        vec![Vec::new()],
        None,
    );
    for lambda_level in ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"] {
        let emf = Emf {
            level: level_for_lambda(Some(lambda_level)),
            ..emf()
        };
        let lines = documents(&group, &emf).lines;
        let line = std::str::from_utf8(&lines[0]).unwrap().trim_end();
        assert!(
            ::tests::emf::lambda_log_level_passes(line, lambda_level),
            "dropped at {lambda_level}: {line}"
        );
        let doc = checked(&lines).remove(0);
        assert_eq!(
            doc.get("level").is_some(),
            matches!(lambda_level, "WARN" | "ERROR" | "FATAL")
        );
    }
}

/// Nanoseconds, which CloudWatch has no unit for, are published as microseconds; the
/// facade's binary byte units as CloudWatch's byte units; a metric described high-resolution
/// has `StorageResolution: 1`.
#[test]
fn units_are_cloudwatchs_and_high_resolution_is_storage_resolution_1() {
    use crate::metrics::high_resolution;
    let recorder = crate::metrics::StoreRecorder::new(Default::default());
    metrics::with_local_recorder(&recorder, || {
        metrics::describe_histogram!("emf.test.ns", metrics::Unit::Nanoseconds, "");
        metrics::describe_gauge!("emf.test.kib", metrics::Unit::Kibibytes, "");
    });
    high_resolution("emf.test.kib");
    let group = Recorded::builtin(
        vec![
            series("emf.test.ns", Value::Histogram(vec![1500.0])),
            series("emf.test.kib", Value::Gauge(2.0)),
        ],
        Vec::new(),
        vec![Vec::new()],
        None,
    );
    let doc = checked(&documents(&group, &emf()).lines).remove(0);
    assert_eq!(
        directive(&doc)["Metrics"],
        serde_json::json!([
            {"Name": "emf.test.ns", "Unit": "Microseconds"},
            {"Name": "emf.test.kib", "Unit": "Kilobytes", "StorageResolution": 1}
        ])
    );
    assert_eq!(doc["emf.test.ns"], serde_json::json!([1.5]));
}

/// CloudWatch's namespace rule: 1 to 255 of letters, digits, spaces and `.-_/#:`, not `AWS/`.
#[test]
fn namespaces_follow_cloudwatchs_rule() {
    assert!(valid_namespace("Cruddur").is_ok());
    assert!(valid_namespace("Cruddur/API prod#1:a.b-c_d").is_ok());
    assert!(valid_namespace(&"a".repeat(255)).is_ok());
    for bad in [
        String::new(),
        " ".into(),
        "a".repeat(256),
        "AWS/Lambda".into(),
        "crud dür".into(),
        "a,b".into(),
    ] {
        assert!(valid_namespace(&bad).is_err(), "{bad:?}");
    }
    assert_eq!(service_as_namespace("my service+1"), "my service_1");
    assert!(valid_namespace(&service_as_namespace("AWS/x")).is_ok());
    assert!(valid_namespace(&service_as_namespace(&format!("AWS/{}", "a".repeat(251)))).is_ok());
    assert!(valid_namespace(&service_as_namespace("   ")).is_ok());
}

/// A metric named like a dimension (or like the line's own `service`, `timestamp`...) would
/// overwrite that member and make the document invalid: it is left out and said, the other
/// metrics of the invocation are published.
#[test]
fn a_metric_named_like_a_dimension_is_left_out_not_published_broken() {
    let group = Recorded::builtin(
        vec![
            series("tenant", Value::Counter(1)),
            series("service", Value::Counter(1)),
            series("app.count", Value::Counter(2)),
        ],
        vec![("tenant".into(), "acme".into())],
        vec![vec!["tenant".into()]],
        None,
    );
    let out = documents(&group, &emf());
    let docs = checked(&out.lines);
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0]["tenant"], "acme");
    assert_eq!(docs[0]["app.count"], 2);
    assert_eq!(out.dropped_values, 2);
    assert_eq!(out.unpublished.len(), 2, "{:?}", out.unpublished);
}

/// The log contract's keys are the line's own: metadata may not take `level` (Lambda would
/// filter the line by it) or `duration_ms` (the saved queries would count the line as a
/// request); a dimension or label may not take `timestamp` or an id. Such an entry is left
/// out and said; the metrics are published with the line's own values. A metric name
/// CloudWatch cannot take (empty, over 255 characters) is left out, the others published.
#[test]
fn the_lines_own_keys_are_never_taken_by_metadata_dimensions_or_labels() {
    let mut group = Recorded::builtin(
        vec![
            series("app.count", Value::Counter(2)),
            series("", Value::Counter(1)),
            series(&"n".repeat(256), Value::Counter(1)),
        ],
        vec![
            ("timestamp".into(), "yesterday".into()),
            ("_aws".into(), "x".into()),
            ("duration_ms".into(), "3".into()),
        ],
        vec![
            vec!["timestamp".into()],
            vec!["_aws".into(), "duration_ms".into()],
            Vec::new(),
        ],
        Some(ids()),
    );
    group.metadata.insert("level".into(), "DEBUG".into());
    group.metadata.insert("duration_ms".into(), 3.into());
    group.metadata.insert("order_id".into(), "4711".into());
    // Metadata of a metric's name: the metric's value, one member (the checker refuses twice).
    group.metadata.insert("app.count".into(), "meta".into());
    let out = documents(&group, &emf());
    let docs = checked(&out.lines);
    assert_eq!(docs.len(), 1);
    let doc = &docs[0];
    assert_eq!(doc["app.count"], 2);
    assert!(doc.get("level").is_none() && doc.get("duration_ms").is_none());
    assert!(doc["_aws"].is_object(), "one _aws, the directive");
    assert_ne!(doc["timestamp"], "yesterday");
    assert_eq!(doc["order_id"], "4711");
    assert_eq!(
        directive(doc)["Dimensions"],
        serde_json::json!([["service"]])
    );
    assert_eq!(out.dropped_values, 2);
    for said in [
        "metadata level",
        "metadata duration_ms",
        "dimension timestamp",
    ] {
        assert!(
            out.unpublished.iter().any(|u| u.starts_with(said)),
            "{said}: {:?}",
            out.unpublished
        );
    }
    // A label given twice keeps its last value, checked and published as that.
    let twice = Recorded::builtin(
        vec![Series {
            key: Key::from_parts("app.y", vec![Label::new("a", "1"), Label::new("a", "é")]),
            value: Value::Counter(1),
        }],
        Vec::new(),
        vec![Vec::new()],
        None,
    );
    let out = documents(&twice, &emf());
    assert!(
        out.lines.is_empty(),
        "é is no dimension value: {:?}",
        out.lines
    );
    let labelled = Recorded::builtin(
        vec![Series {
            key: Key::from_parts("app.x", vec![Label::new("trace_id", "mine")]),
            value: Value::Counter(1),
        }],
        Vec::new(),
        vec![Vec::new()],
        Some(ids()),
    );
    let out = documents(&labelled, &emf());
    assert!(
        out.lines.is_empty(),
        "no set without the label: counted, not published"
    );
    assert_eq!(out.dropped_values, 1);
}
