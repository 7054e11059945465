//! X-Ray export through `cargo lambda watch` to a UDP listener speaking the daemon protocol,
//! next to OTLP: a browser-continued trace still lands under the Lambda function segment, a
//! trace without `traceparent` has the same id in both, the original's annotation and
//! metadata arrive, and every document validates against AWS's schema.

use opentelemetry_proto::tonic::trace::v1::Span;
use serde_json::Value;
use tests::LocalApi;
use tests::eventually;
use tests::otlp_receiver::hex;
use tests::otlp_receiver::{Answer, OtlpReceiver};
use tests::xray_daemon::{XrayDaemon, schema_violations};

/// `1-5759e988-bd862e3fe1be46a994272793` for the OpenTelemetry trace id `5759e988bd86...`.
fn xray_id(otel_trace_id: &str) -> String {
    format!("1-{}-{}", &otel_trace_id[..8], &otel_trace_id[8..])
}

fn document<'a>(documents: &'a [Value], id: &str) -> Option<&'a Value> {
    documents.iter().find(|d| d["id"] == id)
}

#[test]
fn xray_subsegments_hang_under_the_lambda_segment() {
    let receiver = OtlpReceiver::start(Answer::Status(200, None));
    let daemon = XrayDaemon::start();
    let api = LocalApi::start(&[
        ("OTEL_TRACES_EXPORTER", "otlp,xray"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.endpoint()),
        ("AWS_XRAY_DAEMON_ADDRESS", &daemon.address()),
        ("OTEL_SERVICE_NAME", "backend-flask"),
    ]);

    // 1. A browser's trace: OpenTelemetry continues it, X-Ray keeps the Lambda segment.
    let browser_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let traceparent = format!("00-{browser_trace}-00f067aa0ba902b7-01");
    let reply = api.get(
        "/api/activities/@andrewbrown",
        &[("traceparent", &traceparent)],
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let server: Span = eventually("the server span over OTLP", || {
        receiver
            .spans()
            .into_iter()
            .find(|s| hex(&s.trace_id) == browser_trace && s.kind == 2)
    });
    let link = server
        .links
        .iter()
        .find(|l| {
            l.attributes
                .iter()
                .any(|kv| kv.key == "aws.xray.lambda_segment")
        })
        .expect("the server span links to the Lambda segment");
    let lambda_root = xray_id(&hex(&link.trace_id));
    let server_id = hex(&server.span_id);
    let documents = eventually("the mock-data subsegment", || {
        let documents = daemon.documents();
        documents
            .iter()
            .any(|d| d["name"] == "mock-data" && d["parent_id"] == server_id.as_str())
            .then_some(documents)
    });
    let server_doc = document(&documents, &server_id).expect("the server subsegment");
    assert_eq!(server_doc["type"], "subsegment");
    assert_eq!(server_doc["trace_id"], lambda_root.as_str());
    assert_eq!(server_doc["parent_id"], hex(&link.span_id).as_str());
    assert_eq!(server_doc["http"]["response"]["status"], 200);
    let mock = documents.iter().find(|d| d["name"] == "mock-data").unwrap();
    assert_eq!(mock["trace_id"], lambda_root.as_str());
    assert_eq!(mock["annotations"]["app_handle"], "andrewbrown");
    assert_eq!(mock["metadata"]["app"]["results-size"], 1);
    assert!(mock["metadata"]["app"]["now"].is_string(), "{mock:#}");
    assert!(
        reply
            .header("x-amzn-trace-id")
            .is_some_and(|h| h.contains(&lambda_root)),
        "the response names the X-Ray trace: {:?}",
        reply.headers
    );

    // 2. No traceparent: the Lambda X-Ray context is the parent, one id in both systems.
    let reply = api.get("/api/activities/home", &[]);
    assert_eq!(reply.status, 200);
    let home = eventually("the home server span over OTLP", || {
        receiver.spans().into_iter().find(|s| {
            s.kind == 2
                && s.attributes
                    .iter()
                    .any(|kv| kv.key == "url.path" && format!("{:?}", kv.value).contains("home"))
        })
    });
    let home_id = hex(&home.span_id);
    let documents = eventually("the home subsegments", || {
        let documents = daemon.documents();
        documents
            .iter()
            .any(|d| d["name"] == "home-activities-mock-data" && d["parent_id"] == home_id.as_str())
            .then_some(documents)
    });
    let home_doc = document(&documents, &home_id).expect("the home server subsegment");
    assert_eq!(home_doc["trace_id"], xray_id(&hex(&home.trace_id)).as_str());
    assert_eq!(
        home_doc["parent_id"],
        hex(&home.parent_span_id).as_str(),
        "the Lambda segment is the parent in both systems"
    );
    let custom = documents
        .iter()
        .find(|d| d["name"] == "home-activities-mock-data")
        .unwrap();
    assert_eq!(custom["metadata"]["app"]["result_length"], 3);

    // 3. The log lines of the request carry the ids that find it in both systems.
    let lines = api.function_lines();
    let line = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["trace_id"] == hex(&home.trace_id).as_str())
        .expect("a log line of the home request");
    assert_eq!(
        line["xray_trace_id"],
        xray_id(&hex(&home.trace_id)).as_str()
    );
    assert_eq!(line["span_id"], home_id.as_str());

    // 4. Every document X-Ray would accept, and whole.
    for datagram in daemon.datagrams() {
        assert!(datagram.len() <= 64 * 1024, "{} bytes", datagram.len());
    }
    for document in daemon.documents() {
        let violations = schema_violations(&document);
        assert!(violations.is_empty(), "{violations:#?}\n{document:#}");
    }
}
