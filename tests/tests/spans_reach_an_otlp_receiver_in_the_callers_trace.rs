//! OTLP/HTTP protobuf export: the browser's trace continues through the function, the
//! custom spans and their attributes arrive (gzip-compressed, as configured), the key goes in
//! the header and nowhere else.

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use tests::LocalApi;
use tests::otlp_receiver::hex;
use tests::otlp_receiver::{Answer, OtlpReceiver};

fn attribute(span: &Span, key: &str) -> Option<Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.clone()?.value)
}

#[test]
fn spans_reach_an_otlp_receiver_in_the_callers_trace() {
    let receiver = OtlpReceiver::start(Answer::Status(200, None));
    let endpoint = receiver.endpoint();
    let api = LocalApi::start(&[
        ("OTEL_TRACES_EXPORTER", "otlp"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "x-honeycomb-team=canary-key-5d1e",
        ),
        ("OTEL_SERVICE_NAME", "backend-flask"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
    ]);
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let reply = api.get("/api/activities/home", &[("traceparent", traceparent)]);
    assert_eq!(reply.status, 200);
    // The next request waits for the previous flush: after it, the spans have left.
    api.get("/api/activities/home", &[]);

    let exports = receiver.exports();
    assert!(!exports.is_empty(), "nothing reached the receiver");
    for export in &exports {
        assert!(
            export
                .headers
                .contains(&("x-honeycomb-team".into(), "canary-key-5d1e".into())),
            "{:?}",
            export.headers
        );
        assert!(
            export
                .headers
                .contains(&("content-type".into(), "application/x-protobuf".into()))
        );
        assert!(
            export
                .headers
                .contains(&("content-encoding".into(), "gzip".into())),
            "OTEL_EXPORTER_OTLP_COMPRESSION=gzip compresses: {:?}",
            export.headers
        );
        let resource = export.request.resource_spans[0].resource.clone().unwrap();
        let service = resource
            .attributes
            .iter()
            .find(|kv| kv.key == "service.name")
            .unwrap();
        assert_eq!(
            service.value.clone().unwrap().value,
            Some(Value::StringValue("backend-flask".into()))
        );
    }

    let spans = receiver.spans();
    let server = spans
        .iter()
        .find(|s| hex(&s.trace_id) == "4bf92f3577b34da6a3ce929d0e0e4736" && s.kind == 2)
        .unwrap_or_else(|| panic!("no server span in the caller's trace: {spans:#?}"));
    assert_eq!(
        hex(&server.parent_span_id),
        "00f067aa0ba902b7",
        "the caller's span is the parent"
    );
    assert_eq!(
        attribute(server, "http.response.status_code"),
        Some(Value::IntValue(200))
    );
    assert_eq!(
        attribute(server, "faas.coldstart"),
        Some(Value::BoolValue(true))
    );
    assert_eq!(
        attribute(server, "http.request.method"),
        Some(Value::StringValue("GET".into()))
    );
    assert!(
        !server.links.is_empty(),
        "the server span links to the Lambda X-Ray context"
    );

    let custom = spans
        .iter()
        .find(|s| s.name == "home-activities-mock-data" && s.parent_span_id == server.span_id)
        .expect("the custom span, a child of the server span");
    assert_eq!(
        attribute(custom, "app.result_length"),
        Some(Value::IntValue(3))
    );

    for line in api.function_lines() {
        assert!(!line.contains("canary-key"), "the key leaked: {line}");
    }
}
