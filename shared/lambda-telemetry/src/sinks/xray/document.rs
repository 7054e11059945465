//! The segment document of one span, within one datagram: its place in X-Ray (see the
//! parent module), its `http` block, annotations, metadata and `cause`, trimmed to fit.

use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{SpanId, SpanKind, Status, TraceId};
use opentelemetry::{Array, KeyValue, Value};
use opentelemetry_sdk::trace::SpanData;
use serde::Serialize;
use serde_json::{Map, Value as Json};

use crate::constants::span_fields::XRAY_ANNOTATIONS as ANNOTATIONS_ATTRIBUTE;
use crate::sinks::spans::EndedSpan;

/// The largest datagram sent: one document and the daemon's header, within one 64 KB read.
pub(crate) const MAX_DATAGRAM: usize = 64_000;
/// What precedes every document on the wire (the X-Ray daemon protocol).
pub(super) const HEADER: &[u8] = b"{\"format\": \"json\", \"version\": 1}\n";

/// The datagram of `span`'s document: the protocol's header line, then the document.
pub(super) fn datagram_of(span: &EndedSpan, service_name: &str) -> Vec<u8> {
    datagram(&document(span, service_name))
}

/// The X-Ray trace and parent of a span, by the rules of the parent module's documentation.
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
