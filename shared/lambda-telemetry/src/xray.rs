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
//! is small, keeps each document under [`MAX_DATAGRAM`] and never panics.

use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{SpanId, SpanKind, Status, TraceId};
use opentelemetry::{Array, KeyValue, Value};
use opentelemetry_sdk::trace::SpanData;
use serde::Serialize;
use serde_json::{Map, Value as Json};

use crate::constants::span_fields::XRAY_ANNOTATIONS as ANNOTATIONS_ATTRIBUTE;
use crate::constants::{AWS_XRAY_DAEMON_ADDRESS, DEFAULT_XRAY_DAEMON_ADDRESS};
use crate::export::EndedSpan;
use crate::sampling::XrayTrace;

/// The largest datagram sent: one document and the daemon's header, within one 64 KB read.
pub(crate) const MAX_DATAGRAM: usize = 64_000;
/// What precedes every document on the wire (the X-Ray daemon protocol).
const HEADER: &[u8] = b"{\"format\": \"json\", \"version\": 1}\n";

/// Sends segment documents to the X-Ray daemon.
#[derive(Debug)]
pub(crate) struct XrayExporter {
    daemon: SocketAddr,
    service_name: String,
    /// Bound on the first export; `None` when binding failed (counted as unsent).
    socket: OnceLock<Option<UdpSocket>>,
}

impl XrayExporter {
    /// From `AWS_XRAY_DAEMON_ADDRESS` (`host:port`, or Lambda's `udp:host:port tcp:host:port`),
    /// `127.0.0.1:2000` when unset. An address that does not resolve is an error to report.
    pub(crate) fn from_env(service_name: &str) -> Result<Self, String> {
        let value = std::env::var(AWS_XRAY_DAEMON_ADDRESS)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_XRAY_DAEMON_ADDRESS.to_owned());
        let daemon = daemon_address(&value)
            // Named, not quoted: a setting's value is never said.
            .ok_or_else(|| {
                format!(
                    "{AWS_XRAY_DAEMON_ADDRESS} is not host:port nor udp:host:port tcp:host:port; \
                     X-Ray export is off"
                )
            })?;
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
            .map(|span| datagram(&document(span, &self.service_name)))
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

/// The X-Ray trace and parent of a span, by the rules of the module documentation.
fn placement(span: &EndedSpan) -> (TraceId, Option<SpanId>) {
    let data = &span.data;
    let otel_parent = (data.parent_span_id != SpanId::INVALID).then_some(data.parent_span_id);
    match &span.xray {
        Some(xray) => {
            let invocation_span = data.parent_span_is_remote || otel_parent.is_none();
            let parent = if invocation_span {
                xray.segment_id
            } else {
                otel_parent
            };
            (xray.trace_id, parent)
        }
        // Off Lambda and without an X-Ray caller: a remote parent (a browser's span) is no
        // X-Ray segment, so the invocation span is a segment itself, not an orphan.
        None if data.parent_span_is_remote => (data.span_context.trace_id(), None),
        None => (data.span_context.trace_id(), otel_parent),
    }
}

/// A segment document, with the fields the schema allows and this exporter fills.
#[derive(Debug, Serialize)]
struct Document {
    name: String,
    id: String,
    trace_id: String,
    start_time: f64,
    end_time: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_id: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<&'static str>,
    #[serde(skip_serializing_if = "is_false")]
    fault: bool,
    #[serde(skip_serializing_if = "is_false")]
    error: bool,
    #[serde(skip_serializing_if = "is_false")]
    throttle: bool,
    #[serde(skip_serializing_if = "Http::is_empty")]
    http: Http,
    #[serde(skip_serializing_if = "Option::is_none")]
    cause: Option<Cause>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    annotations: Map<String, Json>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    metadata: Map<String, Json>,
}

fn is_false(value: &bool) -> bool {
    !*value
}

#[derive(Debug, Default, Serialize)]
struct Http {
    #[serde(skip_serializing_if = "Map::is_empty")]
    request: Map<String, Json>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    response: Map<String, Json>,
}

impl Http {
    fn is_empty(&self) -> bool {
        self.request.is_empty() && self.response.is_empty()
    }
}

#[derive(Debug, Serialize)]
struct Cause {
    exceptions: Vec<Exception>,
}

#[derive(Debug, Serialize)]
struct Exception {
    id: String,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<String>,
    message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    stack: Vec<Frame>,
}

#[derive(Debug, Serialize)]
struct Frame {
    label: String,
}

/// X-Ray's limits on http strings and annotation values, and on annotation keys.
const MAX_HTTP_STRING: usize = 250;
const MAX_ANNOTATION_STRING: usize = 1000;
const MAX_ANNOTATION_KEY: usize = 500;
const MAX_NAME: usize = 200;

/// Which attribute fills which `http` field, and whether it is a request or response one.
const HTTP_FIELDS: [(&str, bool, &str); 7] = [
    ("http.request.method", true, "method"),
    ("url.full", true, "url"),
    ("url.path", true, "url"),
    ("user_agent.original", true, "user_agent"),
    ("client.address", true, "client_ip"),
    ("http.response.status_code", false, "status"),
    ("http.response.body.size", false, "content_length"),
];

fn document(span: &EndedSpan, service_name: &str) -> Document {
    let (trace_id, parent) = placement(span);
    let span = &span.data;
    let status_code = attribute(span, "http.response.status_code").and_then(as_i64);
    let failed = matches!(span.status, Status::Error { .. });
    let indexed = annotation_keys(span);

    let mut http = Http::default();
    let mut annotations = Map::new();
    let mut metadata = Map::new();
    for KeyValue { key, value, .. } in &span.attributes {
        let key = key.as_str();
        if key == ANNOTATIONS_ATTRIBUTE {
            continue;
        }
        if let Some((_, request, field)) = HTTP_FIELDS.iter().find(|(k, ..)| *k == key) {
            let (side, value) = if *request {
                (
                    &mut http.request,
                    Json::String(truncate(&value.as_str(), MAX_HTTP_STRING)),
                )
            } else {
                (&mut http.response, json(value))
            };
            // `url.full` wins over `url.path`: the first one set stays.
            side.entry(*field).or_insert(value);
            continue;
        }
        if indexed.iter().any(|k| k == key) {
            if let Some(name) = annotation_key(key) {
                annotations.insert(name, annotation_value(value));
            }
            continue;
        }
        let (namespace, name) = match key.split_once('.') {
            Some((namespace, name)) if !namespace.eq_ignore_ascii_case("aws") => (namespace, name),
            _ => ("default", key),
        };
        if let Json::Object(entries) = metadata
            .entry(namespace)
            .or_insert_with(|| Json::Object(Map::new()))
        {
            entries.insert(name.to_owned(), json(value));
        }
    }

    let mut doc = Document {
        name: match parent {
            Some(_) => segment_name(&span.name),
            None => segment_name(service_name),
        },
        id: span.span_context.span_id().to_string(),
        trace_id: xray_trace_id(trace_id),
        start_time: epoch_seconds(span.start_time),
        end_time: epoch_seconds(span.end_time),
        parent_id: parent.map(|id| id.to_string()),
        kind: parent.map(|_| "subsegment"),
        namespace: (span.span_kind == SpanKind::Client).then_some("remote"),
        fault: status_code.is_some_and(|s| s >= 500) || (failed && status_code.is_none()),
        error: status_code.is_some_and(|s| (400..500).contains(&s)),
        throttle: status_code == Some(429),
        http,
        cause: cause(span),
        annotations,
        metadata,
    };
    if serialized_len(&doc) > MAX_DATAGRAM - HEADER.len() {
        trim(&mut doc);
    }
    doc
}

/// Makes an oversized document fit: metadata goes first, then stacks and long messages, then
/// annotations. What is left (names, ids, times, `http` strings) is bounded by X-Ray's limits.
fn trim(doc: &mut Document) {
    let limit = MAX_DATAGRAM - HEADER.len();
    let mut note = Map::new();
    note.insert(
        "trimmed".into(),
        Json::String("metadata dropped to fit one UDP datagram".into()),
    );
    doc.metadata = Map::from_iter([("lambda_telemetry".to_owned(), Json::Object(note))]);
    if serialized_len(doc) <= limit {
        return;
    }
    if let Some(cause) = &mut doc.cause {
        cause.exceptions.truncate(8);
        for exception in &mut cause.exceptions {
            exception.stack.clear();
            exception.message = truncate(&exception.message, MAX_ANNOTATION_STRING);
        }
    }
    if serialized_len(doc) <= limit {
        return;
    }
    doc.annotations.clear();
}

fn serialized_len(doc: &Document) -> usize {
    serde_json::to_vec(doc).map_or(usize::MAX, |v| v.len())
}

fn datagram(doc: &Document) -> Vec<u8> {
    let mut out = HEADER.to_vec();
    // Serializing plain maps, strings and numbers cannot fail.
    let _ = serde_json::to_writer(&mut out, doc);
    out
}

/// `1-5759e988-bd862e3fe1be46a994272793`: the version, the epoch seconds, the rest.
pub(crate) fn xray_trace_id(trace_id: TraceId) -> String {
    let hex = trace_id.to_string();
    format!("1-{}-{}", &hex[..8], &hex[8..])
}

fn epoch_seconds(time: SystemTime) -> f64 {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    // Microseconds, as the X-Ray SDKs write them.
    (since.as_micros() as f64) / 1e6
}

/// X-Ray's segment names: 1 to 200 of letters, numbers, spaces and `_.:/%&#=+-@`, where the
/// schema's letters are those of an old Unicode version and the BMP only. Kept: ASCII, Latin-1
/// and Latin Extended letters, kana, CJK ideographs and Hangul, which that schema lists in
/// full; anything else becomes `_`: `GET /api/activities/{handle}` → `GET /api/activities/_handle_`.
pub(crate) fn segment_name(name: &str) -> String {
    let name: String = name
        .chars()
        .map(|c| if name_char(c) { c } else { '_' })
        .take(MAX_NAME)
        .collect();
    if name.is_empty() { "span".into() } else { name }
}

fn name_char(c: char) -> bool {
    matches!(c,
        'A'..='Z' | 'a'..='z' | '0'..='9' | ' ' | '_' | '.' | ':' | '/' | '%' | '&' | '#' | '='
        | '+' | '-' | '@'
        | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}' | '\u{F8}'..='\u{24F}'
        | '\u{3041}'..='\u{3096}' | '\u{30A1}'..='\u{30FA}'
        | '\u{4E00}'..='\u{9FD5}' | '\u{AC00}'..='\u{D7A3}')
}

/// The attributes `aws.xray.annotations` names: a comma-separated string or a string array.
fn annotation_keys(span: &SpanData) -> Vec<String> {
    match attribute(span, ANNOTATIONS_ATTRIBUTE) {
        Some(Value::String(list)) => list
            .as_str()
            .split(',')
            .map(|k| k.trim().to_owned())
            .filter(|k| !k.is_empty())
            .collect(),
        Some(Value::Array(Array::String(list))) => {
            list.iter().map(|k| k.as_str().trim().to_owned()).collect()
        }
        _ => Vec::new(),
    }
}

/// X-Ray annotation keys: letters, digits and `_`, at most 500.
fn annotation_key(key: &str) -> Option<String> {
    let key: String = key
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(MAX_ANNOTATION_KEY)
        .collect();
    (!key.is_empty()).then_some(key)
}

/// Annotations hold a string, a number or a boolean.
fn annotation_value(value: &Value) -> Json {
    match value {
        Value::Bool(b) => Json::Bool(*b),
        Value::I64(i) => Json::from(*i),
        Value::F64(f) if f.is_finite() => Json::from(*f),
        other => Json::String(truncate(&other.as_str(), MAX_ANNOTATION_STRING)),
    }
}

fn json(value: &Value) -> Json {
    match value {
        Value::Bool(b) => Json::Bool(*b),
        Value::I64(i) => Json::from(*i),
        Value::F64(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Value::String(s) => Json::String(s.as_str().to_owned()),
        Value::Array(Array::Bool(v)) => v.iter().copied().map(Json::Bool).collect(),
        Value::Array(Array::I64(v)) => v.iter().copied().map(Json::from).collect(),
        Value::Array(Array::F64(v)) => v.iter().map(|f| json(&Value::F64(*f))).collect(),
        Value::Array(Array::String(v)) => v
            .iter()
            .map(|s| Json::String(s.as_str().to_owned()))
            .collect(),
        other => Json::String(other.as_str().into_owned()),
    }
}

fn as_i64(value: &Value) -> Option<i64> {
    match value {
        Value::I64(i) => Some(*i),
        Value::String(s) => s.as_str().parse().ok(),
        _ => None,
    }
}

fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

/// The span's `exception` events, or its error status when it recorded none.
fn cause(span: &SpanData) -> Option<Cause> {
    let mut exceptions: Vec<Exception> = span
        .events
        .iter()
        .filter(|event| event.name == "exception")
        .enumerate()
        .map(|(i, event)| {
            let get = |key: &str| {
                event
                    .attributes
                    .iter()
                    .find(|kv| kv.key.as_str() == key)
                    .map(|kv| kv.value.as_str().into_owned())
            };
            Exception {
                id: exception_id(span.span_context.span_id(), i),
                kind: get("exception.type"),
                message: get("exception.message").unwrap_or_default(),
                stack: get("exception.stacktrace")
                    .map(|trace| {
                        trace
                            .lines()
                            .map(|line| Frame {
                                label: line.trim().to_owned(),
                            })
                            .filter(|f| !f.label.is_empty())
                            .collect()
                    })
                    .unwrap_or_default(),
            }
        })
        .collect();
    if exceptions.is_empty()
        && let Status::Error { description } = &span.status
    {
        exceptions.push(Exception {
            id: exception_id(span.span_context.span_id(), 0),
            kind: None,
            message: description.to_string(),
            stack: Vec::new(),
        });
    }
    (!exceptions.is_empty()).then_some(Cause { exceptions })
}

/// Exception ids are 16 hex digits, unique within the segment.
fn exception_id(span_id: SpanId, index: usize) -> String {
    let bytes = u64::from_be_bytes(span_id.to_bytes()) ^ (index as u64 + 1);
    format!("{bytes:016x}")
}

/// At most `max` characters, cut on a character boundary.
fn truncate(value: &str, max: usize) -> String {
    value.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{
        SpanContext, TraceFlags, TraceState, Tracer as _, TracerProvider as _,
    };
    use opentelemetry::{InstrumentationScope, KeyValue};
    use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};
    use std::borrow::Cow;
    use std::time::Duration;

    const SCHEMA: &str =
        include_str!("../../../tests/conformance/xray-segmentdocument-schema-v1.0.0.json");

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
        let buffer = std::sync::Arc::new(crate::export::SpanBuffer::default());
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_span_processor(crate::export::BufferProcessor::new(std::sync::Arc::clone(
                &buffer,
            )))
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
