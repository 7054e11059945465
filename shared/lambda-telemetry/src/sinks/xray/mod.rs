//! X-Ray export: every span becomes one segment document, sent to the X-Ray daemon over UDP
//! (`AWS_XRAY_DAEMON_ADDRESS`; in Lambda the daemon is part of the platform).
//!
//! # Where a span goes in X-Ray
//!
//! Each span arrives with the X-Ray trace of its invocation ([`XrayTrace`], from the trace
//! header Lambda hands it), decided when the invocation started, so placement never depends on
//! which spans happen to be flushed together (under Lambda Managed Instances another
//! invocation's flush may export a child before its own invocation span has ended):
//! 1. Lambda has already opened a segment for the function, so the invocation span (the span
//!    whose parent is remote, or which has none) is a *subsegment* of that segment, in the
//!    Lambda trace, even when a browser's `traceparent` is its OpenTelemetry parent. Every
//!    other span of the invocation is a subsegment of its OpenTelemetry parent, in the same
//!    trace.
//! 2. When Lambda made no segment (a header with `Root` but no `Parent`: PassThrough mode, a
//!    load balancer), the invocation span is a *segment* of its own in the `Root` trace, named
//!    after the service: no subsegment points at a segment that does not exist.
//! 3. Without an X-Ray context (off Lambda, and no caller's `X-Amzn-Trace-Id` chosen as the
//!    parent), the invocation span is a segment named after the service, in the OpenTelemetry
//!    trace (a browser's span is no X-Ray segment to hang under), and its spans are its
//!    subsegments. With the caller's X-Ray header as the parent, that header's segment is the
//!    X-Ray parent, as Lambda's is on Lambda.
//!
//! Whether a span goes at all is X-Ray's own decision (`Sampled`), whatever the OpenTelemetry
//! sampler decided for OTLP: see [`sampling`](crate::sampling).
//!
//! # Annotations and metadata
//!
//! The span attribute `aws.xray.annotations` lists (comma-separated) the attributes to index as
//! annotations, as the OpenTelemetry Collector's X-Ray exporter reads it; their keys become
//! X-Ray annotation keys (`app.handle` → `app_handle`). Every other attribute is metadata, in
//! the namespace of its first dotted segment: `app.now` → `{"app": {"now": ...}}`; attributes
//! without a dot, or in the reserved `aws` namespace, go to `default`. HTTP attributes fill the
//! document's `http` block, the span status and the status code its `fault`, `error` and
//! `throttle` flags, and `exception` events its `cause`.
//!
//! # Why not opentelemetry-aws's exporter
//!
//! Its translator takes the X-Ray trace id and parent from the OpenTelemetry span, so a
//! browser-continued trace would land outside the Lambda segment; its daemon client panics when
//! it cannot bind a socket and drops the rest of a batch on the first send error; it does not
//! keep documents within one datagram; and it puts all metadata in one namespace. This module
//! is small, keeps each document under [`MAX_DATAGRAM`](document::MAX_DATAGRAM) and never panics.

mod document;

use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::OnceLock;
use std::time::Instant;

use futures_util::future::BoxFuture;

use super::loss::{Counts, Loss};
use super::sink::{Batch, Setup, Sink};
use super::spans::{EndedSpan, SPANS_LOST};
use crate::config::{SettingProblem, XraySettings};
use crate::constants::{AWS_XRAY_DAEMON_ADDRESS, DEFAULT_XRAY_DAEMON_ADDRESS};
use crate::sampling::XrayTrace;
use document::datagram_of;

/// The X-Ray exporter, when `OTEL_TRACES_EXPORTER` lists `xray` and the daemon's address is
/// usable.
pub(super) fn build(setup: &mut Setup<'_>) -> Option<Box<dyn Sink>> {
    if !setup.exporter("xray") {
        return None;
    }
    // The resource's `service.name`, which is this one.
    match XrayExporter::from_settings(&setup.config.xray, &setup.config.service_name) {
        Ok(exporter) => Some(Box::new(exporter)),
        Err(problem) => {
            setup.problems.push(problem);
            None
        }
    }
}

/// Sends segment documents to the X-Ray daemon.
#[derive(Debug)]
pub(crate) struct XrayExporter {
    daemon: SocketAddr,
    service_name: String,
    /// Bound on the first export; `None` when binding failed (counted as unsent).
    socket: OnceLock<Option<UdpSocket>>,
}

impl XrayExporter {
    /// To the daemon's address set in code, else `AWS_XRAY_DAEMON_ADDRESS` (`host:port`, or
    /// Lambda's `udp:host:port tcp:host:port`), else `127.0.0.1:2000`. An address that does
    /// not resolve is a problem to report.
    pub(crate) fn from_settings(
        settings: &XraySettings,
        service_name: &str,
    ) -> Result<Self, SettingProblem> {
        let mut problems = Vec::new();
        let daemon = settings.daemon.resolve(
            |name, text| {
                // Named, not quoted: a setting's value is never said.
                daemon_address(text).ok_or_else(|| {
                    SettingProblem::new(
                        name,
                        "is not host:port nor udp:host:port tcp:host:port; X-Ray export is off",
                    )
                })
            },
            &mut problems,
        );
        if let Some(problem) = problems.pop() {
            return Err(problem);
        }
        let daemon = daemon
            .or_else(|| daemon_address(DEFAULT_XRAY_DAEMON_ADDRESS))
            .ok_or_else(|| SettingProblem::new(AWS_XRAY_DAEMON_ADDRESS, "has no default"))?;
        Ok(Self::new(daemon, service_name))
    }

    pub(crate) fn new(daemon: SocketAddr, service_name: &str) -> Self {
        Self {
            daemon,
            service_name: service_name.to_owned(),
            socket: OnceLock::new(),
        }
    }

    /// Sends one datagram per span X-Ray sampled; returns how many could not be sent.
    pub(crate) fn export(&self, spans: &[EndedSpan]) -> u64 {
        let documents = self.documents(spans);
        let Some(socket) = self.socket.get_or_init(|| bind(self.daemon)) else {
            return documents.len() as u64;
        };
        let mut unsent = 0;
        for document in documents {
            // Nonblocking: a full socket buffer costs this document, never the caller's time.
            if socket.send_to(&document, self.daemon).is_err() {
                unsent += 1;
            }
        }
        unsent
    }

    /// The datagrams for `spans`, leaving out those X-Ray does not sample.
    pub(crate) fn documents(&self, spans: &[EndedSpan]) -> Vec<Vec<u8>> {
        spans
            .iter()
            .filter(|span| {
                XrayTrace::exports(span.xray.as_ref(), span.data.span_context.is_sampled())
            })
            .map(|span| datagram_of(span, &self.service_name))
            .collect()
    }
}

fn bind(daemon: SocketAddr) -> Option<UdpSocket> {
    let local: SocketAddr = if daemon.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let socket = UdpSocket::bind(local).ok()?;
    socket.set_nonblocking(true).ok()?;
    Some(socket)
}

/// `127.0.0.1:2000`, `localhost:2000`, or `tcp:127.0.0.1:2000 udp:127.0.0.1:2001` (UDP's).
fn daemon_address(value: &str) -> Option<SocketAddr> {
    let value = value.trim();
    let udp = if value.contains(' ') || value.starts_with("udp:") || value.starts_with("tcp:") {
        value
            .split_whitespace()
            .find_map(|part| part.strip_prefix("udp:"))?
    } else {
        value
    };
    udp.to_socket_addrs().ok()?.next()
}

impl Sink for XrayExporter {
    fn takes_spans(&self) -> bool {
        true
    }

    /// Sent in the call: UDP takes microseconds and cannot wait on the network.
    fn flush<'s>(&'s self, batch: &mut Batch, _deadline: Instant) -> BoxFuture<'s, Loss> {
        if batch.spans.spans().is_empty() {
            return Loss::default().at_once();
        }
        let unsent = self.export(batch.spans.spans());
        Loss::of(
            &SPANS_LOST,
            Counts {
                unsent,
                ..Counts::default()
            },
        )
        .at_once()
    }
}

#[cfg(test)]
mod tests {
    use super::document::{HEADER, MAX_DATAGRAM};
    use super::*;
    use crate::constants::span_fields::XRAY_ANNOTATIONS as ANNOTATIONS_ATTRIBUTE;
    use opentelemetry::trace::{
        SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState, Tracer as _,
        TracerProvider as _,
    };
    use opentelemetry::{InstrumentationScope, KeyValue};
    use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
    use serde_json::Value as Json;
    use std::borrow::Cow;
    use std::time::{Duration, UNIX_EPOCH};

    const SCHEMA: &str =
        include_str!("../../../../../tests/conformance/xray-segmentdocument-schema-v1.0.0.json");

    fn span(name: &str, attributes: Vec<KeyValue>) -> SpanData {
        let start = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        SpanData {
            span_context: SpanContext::new(
                TraceId::from_hex("6553f1003a9bfa2c8a1e2b6f01234567").unwrap(),
                SpanId::from_hex("00f067aa0ba902b7").unwrap(),
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            ),
            // A span inside the function, under a local parent.
            parent_span_id: SpanId::from_hex("53995c3f42cd8ad8").unwrap(),
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name: Cow::Owned(name.to_owned()),
            start_time: start,
            end_time: start + Duration::from_micros(1500),
            attributes,
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: Status::Unset,
            instrumentation_scope: InstrumentationScope::builder("test").build(),
        }
    }

    fn parse(datagram: &[u8]) -> Json {
        let body = datagram
            .strip_prefix(HEADER)
            .expect("the daemon protocol's header line");
        serde_json::from_slice(body).unwrap()
    }

    fn assert_valid(doc: &Json) {
        // Compiling the schema's name pattern takes a while: once per test binary.
        static VALIDATOR: std::sync::LazyLock<jsonschema::Validator> =
            std::sync::LazyLock::new(|| {
                let schema: Json = serde_json::from_str(SCHEMA).unwrap();
                jsonschema::draft4::new(&schema).unwrap()
            });
        let errors: Vec<String> = VALIDATOR.iter_errors(doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:#?}\n{doc:#}");
    }

    /// Spans off Lambda: no X-Ray context.
    fn ended(spans: &[SpanData]) -> Vec<EndedSpan> {
        in_xray(spans, None)
    }

    /// Spans of an invocation with this X-Ray context.
    fn in_xray(spans: &[SpanData], xray: Option<XrayTrace>) -> Vec<EndedSpan> {
        spans
            .iter()
            .map(|data| EndedSpan {
                data: data.clone(),
                xray,
            })
            .collect()
    }

    fn lambda(sampled: Option<bool>, segment: bool) -> Option<XrayTrace> {
        Some(XrayTrace {
            trace_id: TraceId::from_hex("5759e988bd862e3fe1be46a994272793").unwrap(),
            segment_id: segment.then(|| SpanId::from_hex("53995c3f42cd8ad8").unwrap()),
            sampled,
        })
    }

    fn one(exporter: &XrayExporter, spans: &[SpanData]) -> Vec<Json> {
        documents(exporter, &ended(spans))
    }

    fn documents(exporter: &XrayExporter, spans: &[EndedSpan]) -> Vec<Json> {
        exporter
            .documents(spans)
            .iter()
            .map(|d| {
                assert!(d.len() <= MAX_DATAGRAM, "{} bytes", d.len());
                let doc = parse(d);
                assert_valid(&doc);
                doc
            })
            .collect()
    }

    fn exporter() -> XrayExporter {
        XrayExporter::new(([127, 0, 0, 1], 2000).into(), "backend-flask")
    }

    #[test]
    fn the_original_mock_data_subsegment_has_its_annotation_and_namespaced_metadata() {
        let mock = span(
            "mock-data",
            vec![
                KeyValue::new("app.handle", "andrewbrown"),
                KeyValue::new("app.now", "2026-11-21T10:00:00Z"),
                KeyValue::new("app.results-size", 1),
                KeyValue::new(ANNOTATIONS_ATTRIBUTE, "app.handle"),
                KeyValue::new("thread.id", 1),
            ],
        );
        let docs = one(&exporter(), &[mock]);
        let doc = &docs[0];
        assert_eq!(doc["name"], "mock-data");
        assert_eq!(doc["type"], "subsegment");
        assert_eq!(doc["trace_id"], "1-6553f100-3a9bfa2c8a1e2b6f01234567");
        assert_eq!(doc["parent_id"], "53995c3f42cd8ad8");
        assert_eq!(doc["id"], "00f067aa0ba902b7");
        assert_eq!(
            doc["annotations"],
            serde_json::json!({"app_handle": "andrewbrown"})
        );
        assert_eq!(
            doc["metadata"]["app"],
            serde_json::json!({"now": "2026-11-21T10:00:00Z", "results-size": 1})
        );
        assert_eq!(doc["metadata"]["thread"]["id"], 1);
        assert_eq!(doc["start_time"], 1_700_000_000.0);
        assert_eq!(doc["end_time"], 1_700_000_000.001_5);
    }

    #[test]
    fn the_invocation_span_is_a_subsegment_of_the_lambda_segment_even_under_a_browser_trace() {
        let mut server = span(
            "GET /api/activities/{handle}",
            vec![
                KeyValue::new("http.request.method", "GET"),
                KeyValue::new("url.path", "/api/activities/@andrewbrown"),
                KeyValue::new("http.response.status_code", 503),
                KeyValue::new("faas.coldstart", true),
                KeyValue::new("aws.xray.trace_id", "1-5759e988-bd862e3fe1be46a994272793"),
                KeyValue::new(ANNOTATIONS_ATTRIBUTE, "faas.coldstart"),
            ],
        );
        server.span_kind = SpanKind::Server;
        server.parent_span_id = SpanId::from_hex("b7ad6b7169203331").unwrap(); // the browser's
        server.parent_span_is_remote = true;
        server.status = Status::error("handler failed");
        let mut child = span("work", vec![]);
        child.span_context = SpanContext::new(
            server.span_context.trace_id(),
            SpanId::from_hex("1111111111111111").unwrap(),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        );
        child.parent_span_id = server.span_context.span_id();
        child.parent_span_is_remote = false;
        child.span_kind = SpanKind::Client;

        let exporter = exporter();
        // The child alone first: another invocation's flush may take it before its
        // invocation span has ended, and it is placed all the same.
        let early = documents(&exporter, &in_xray(&[child], lambda(Some(true), true)));
        let docs = documents(&exporter, &in_xray(&[server], lambda(Some(true), true)));
        let (child_doc, server_doc) = (&early[0], &docs[0]);
        assert_eq!(
            server_doc["trace_id"],
            "1-5759e988-bd862e3fe1be46a994272793"
        );
        assert_eq!(server_doc["parent_id"], "53995c3f42cd8ad8");
        assert_eq!(server_doc["type"], "subsegment");
        assert_eq!(server_doc["name"], "GET /api/activities/_handle_");
        assert_eq!(server_doc["fault"], true);
        assert_eq!(server_doc["http"]["request"]["method"], "GET");
        assert_eq!(server_doc["http"]["response"]["status"], 503);
        assert_eq!(server_doc["annotations"]["faas_coldstart"], true);
        assert_eq!(
            server_doc["cause"]["exceptions"][0]["message"],
            "handler failed"
        );
        assert_eq!(
            child_doc["trace_id"], server_doc["trace_id"],
            "the child follows"
        );
        assert_eq!(child_doc["parent_id"], server_doc["id"]);
        assert_eq!(child_doc["namespace"], "remote");
    }

    #[test]
    fn xray_sampled_0_keeps_the_invocation_out_of_xray_whatever_otlp_sampled() {
        let server = span("GET /", vec![]);
        let spans = in_xray(&[server], lambda(Some(false), true));
        assert!(spans[0].data.span_context.is_sampled(), "OTLP sampled it");
        assert!(exporter().documents(&spans).is_empty());
    }

    #[test]
    fn xray_sampled_1_sends_what_otlp_did_not_sample() {
        let mut server = span("GET /", vec![]);
        server.span_context = SpanContext::new(
            server.span_context.trace_id(),
            server.span_context.span_id(),
            TraceFlags::default(),
            false,
            TraceState::default(),
        );
        let docs = documents(&exporter(), &in_xray(&[server], lambda(Some(true), true)));
        assert_eq!(docs.len(), 1);
    }

    #[test]
    fn a_root_without_a_parent_makes_a_segment_in_that_trace_not_an_orphan() {
        // Lambda in PassThrough mode: `Root=…;Sampled=1`, no `Parent`, so no Lambda segment.
        let mut server = span("GET /", vec![]);
        server.parent_span_id = SpanId::INVALID;
        server.parent_span_is_remote = false;
        let docs = documents(&exporter(), &in_xray(&[server], lambda(Some(true), false)));
        let doc = &docs[0];
        assert_eq!(doc["trace_id"], "1-5759e988-bd862e3fe1be46a994272793");
        assert!(doc.get("parent_id").is_none(), "{doc}");
        assert!(doc.get("type").is_none(), "a segment: {doc}");
        assert_eq!(doc["name"], "backend-flask");
    }

    #[test]
    fn off_lambda_a_browser_parented_invocation_span_is_a_segment_not_an_orphan() {
        let mut server = span("GET /", vec![]);
        server.parent_span_id = SpanId::from_hex("b7ad6b7169203331").unwrap();
        server.parent_span_is_remote = true;
        let doc = &one(&exporter(), &[server])[0];
        assert!(doc.get("parent_id").is_none(), "{doc}");
        assert!(doc.get("type").is_none(), "{doc}");
        assert_eq!(doc["name"], "backend-flask");
    }

    #[test]
    fn a_root_span_is_a_segment_named_after_the_service() {
        let mut root = span("GET /", vec![]);
        root.parent_span_id = SpanId::INVALID;
        let doc = &one(&exporter(), &[root])[0];
        assert_eq!(doc["name"], "backend-flask");
        assert!(doc.get("type").is_none() && doc.get("parent_id").is_none());
    }

    #[test]
    fn an_oversized_span_is_trimmed_into_one_datagram() {
        let big = "x".repeat(200_000);
        let mut attributes: Vec<KeyValue> = (0..40)
            .map(|i| KeyValue::new(format!("app.k{i}"), big[..5_000].to_owned()))
            .collect();
        attributes.push(KeyValue::new("app.big", big.clone()));
        attributes.push(KeyValue::new("url.full", big.clone()));
        attributes.push(KeyValue::new("note", big.clone()));
        attributes.push(KeyValue::new(ANNOTATIONS_ATTRIBUTE, "note"));
        let mut s = span(&big, attributes);
        s.events.events.push(opentelemetry::trace::Event::new(
            "exception",
            s.start_time,
            vec![
                KeyValue::new("exception.message", big.clone()),
                KeyValue::new("exception.stacktrace", "frame\n".repeat(20_000)),
            ],
            0,
        ));
        let doc = &one(&exporter(), &[s])[0];
        assert_eq!(doc["name"].as_str().unwrap().len(), 200);
        assert!(doc["metadata"]["lambda_telemetry"]["trimmed"].is_string());
        assert_eq!(doc["annotations"]["note"].as_str().unwrap().len(), 1000);
    }

    #[test]
    fn spans_of_the_sdk_validate_against_the_schema() {
        // Real spans, with events and statuses, not hand-built ones.
        let buffer = std::sync::Arc::new(crate::sinks::spans::SpanBuffer::default());
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_span_processor(crate::sinks::spans::BufferProcessor::new(
                std::sync::Arc::clone(&buffer),
            ))
            .build();
        let tracer = provider.tracer("test");
        tracer.in_span("outer ✓ {weird} name", |cx| {
            use opentelemetry::trace::TraceContextExt as _;
            cx.span()
                .set_attribute(KeyValue::new("http.response.status_code", 429));
            cx.span().add_event(
                "exception",
                vec![KeyValue::new("exception.type", "io::Error")],
            );
            tracer.in_span("inner", |_| {});
        });
        let docs = documents(&exporter(), &buffer.take());
        assert_eq!(docs.len(), 2);
        let outer = &docs[1];
        assert_eq!(
            outer["name"], "backend-flask",
            "a root is named after the service"
        );
        assert_eq!(
            (outer["error"].clone(), outer["throttle"].clone()),
            (Json::Bool(true), Json::Bool(true))
        );
        assert_eq!(docs[0]["name"], "inner");
    }

    #[test]
    fn daemon_addresses_in_both_of_lambdas_shapes() {
        let expected: SocketAddr = ([169, 254, 79, 129], 2000).into();
        assert_eq!(daemon_address("169.254.79.129:2000"), Some(expected));
        assert_eq!(
            daemon_address("tcp:169.254.79.129:2001 udp:169.254.79.129:2000"),
            Some(expected)
        );
        assert_eq!(daemon_address("tcp:169.254.79.129:2001"), None);
        assert_eq!(daemon_address("not an address"), None);
    }

    #[test]
    fn documents_to_an_absent_daemon_are_sent_and_forgotten() {
        // Nothing listens on this port: UDP has no answer to wait for, so the flush does not
        // wait either, and an unconnected socket reports no error.
        let closed = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let exporter = XrayExporter::new(closed, "svc");
        assert_eq!(
            exporter.export(&ended(&[span("a", vec![]), span("b", vec![])])),
            0
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]
        #[test]
        fn any_name_key_and_value_makes_a_valid_document(
            name in ".{0,300}",
            key in "[a-z.\\-_ ]{1,40}",
            value in ".{0,2000}",
        ) {
            let s = span(&name, vec![
                KeyValue::new(key.clone(), value.clone()),
                KeyValue::new(ANNOTATIONS_ATTRIBUTE, key),
            ]);
            let docs = one(&exporter(), &[s]);
            proptest::prop_assert_eq!(docs.len(), 1);
        }
    }
}
