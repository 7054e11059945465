//! Structured log lines: one JSON object per line on stdout, with the Lambda context on each,
//! or with `AWS_LAMBDA_LOG_FORMAT=Text` one line a person reads.
//!
//! [`LogLayer`] is a `tracing-subscriber` layer. It reads the invocation span's fields once,
//! when the span is created, and writes them under Powertools' keys on every line written
//! inside that span, so a line from deep in a handler still says which request it belongs to.
//!
//! A text line has the columns of Lambda's own text lines for managed runtimes
//! (`timestamp<TAB>requestId<TAB>LEVEL<TAB>message`), with the short, fixed-width level first
//! and blanks instead of tabs, the request id column padded when there is none (start-up),
//! so that every message starts in one column; then the event's fields as `name=value`
//! (tracing-subscriber's compact form) and the trace id. What the message says already is
//! not repeated (the access line's method, path and status). A message or value of several
//! lines (a backtrace) follows on indented lines:
//!
//! ```text
//! 2026-11-30T03:02:24.674Z INFO                                       Rollbar reporting is off: ROLLBAR_ACCESS_TOKEN is not set
//! 2026-11-30T03:02:24.927Z ERROR 07c8a0f0-c9fa-4e51-b015-0d6a7dfd5bff panicked: the Rollbar test panic (?panic=1) panic_location=functions/rollbar-test/src/handler.rs:23:9 trace_id=6b0ce73540fe0231db21786fd6c0cbf6
//!     backtrace:
//!        8: rollbar_test::handler::handle::{{closure}}
//!                  at ./functions/rollbar-test/src/handler.rs:23:9
//! 2026-11-30T03:02:24.928Z INFO  07c8a0f0-c9fa-4e51-b015-0d6a7dfd5bff GET /rollbar/test 500 query=panic=1&token=[REDACTED] duration_ms=242.045 source_ip=127.0.0.1 user_agent=ureq/3.5.1 trace_id=6b0ce73540fe0231db21786fd6c0cbf6
//! ```
//!
//! Ids are whole, to be pasted into a search. The trace id is OpenTelemetry's (`trace_id`, what
//! an OTLP backend finds the trace by; under Lambda's X-Ray context it is the X-Ray trace id
//! without its dashes); `xray_trace_id` is added only when it names another trace (a W3C
//! caller's trace is the parent) or there is no OpenTelemetry id. Secrets are masked before
//! either format is written, so text and JSON mask the same values.

use std::cell::RefCell;
use std::fmt;
use std::io::Write as _;
use std::sync::OnceLock;

use opentelemetry::trace::TraceContextExt as _;
use tracing::dispatcher::WeakDispatch;

use serde_json::Value;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use crate::config::{Config, LogFormat};
use crate::constants::{ACCESS_LOG_TARGET, CONTEXT_LOG_KEYS, MAX_LINE_BYTES, REDACTED, log_keys};
use crate::redact::{is_secret_name, redact_owned};

/// Keys this layer writes itself; an event field of the same name is written as `field_<name>`
/// so that a line never holds a key twice.
const RESERVED_KEYS: [&str; 14] = [
    log_keys::TIMESTAMP,
    log_keys::LEVEL,
    log_keys::MESSAGE,
    log_keys::SERVICE,
    log_keys::LOCATION,
    log_keys::COLD_START,
    log_keys::FUNCTION_NAME,
    log_keys::FUNCTION_MEMORY_SIZE,
    log_keys::FUNCTION_ARN,
    log_keys::FUNCTION_REQUEST_ID,
    log_keys::XRAY_TRACE_ID,
    log_keys::CORRELATION_ID,
    log_keys::TRACE_ID,
    log_keys::SPAN_ID,
];

/// What the log layer sees: the events and spans `log_filter` enables (the log level), and
/// the invocation span always, because every line of an invocation takes its Lambda context
/// keys from it, at any level. Other layers have their own filters: the log level decides
/// which lines are printed, never what is traced.
pub(crate) fn filter<S>(
    log_filter: tracing_subscriber::EnvFilter,
) -> impl tracing_subscriber::layer::Filter<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    use tracing_subscriber::filter::{FilterExt as _, filter_fn};
    let invocation_span = filter_fn(|metadata| {
        metadata.is_span() && metadata.target() == crate::constants::INVOCATION_SPAN_TARGET
    })
    .with_max_level_hint(Level::INFO);
    log_filter.or(invocation_span)
}

/// The crates of the Lambda runtime whose TRACE events hold whole invocations: lambda_runtime
/// logs every event as it arrives (`raw JSON event received from Lambda`, with the request's
/// headers and body), and its client and `lambda_http` log requests and responses.
const RAW_EVENT_CRATES: [&str; 3] = ["lambda_runtime", "lambda_runtime_api_client", "lambda_http"];

/// `true` for a TRACE event of one of [`RAW_EVENT_CRATES`]. Such an event is never written,
/// whatever the filter says: Lambda's `AWS_LAMBDA_LOG_LEVEL=TRACE` (which the template allows)
/// would otherwise put every caller's credentials and request body in the logs, and a body has
/// no names to mask its secrets by. Their DEBUG events and above, which name no payload, stay.
fn is_raw_event(metadata: &tracing::Metadata<'_>) -> bool {
    let target = metadata.target();
    metadata.is_event()
        && *metadata.level() == Level::TRACE
        && RAW_EVENT_CRATES.iter().any(|name| {
            target
                .strip_prefix(name)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
        })
}

/// Writes every event as one line in the configured [`LogFormat`].
pub(crate) struct LogLayer<W> {
    /// The subscriber this layer is part of, to read spans' OpenTelemetry ids through
    /// `tracing-opentelemetry` (a weak reference: the subscriber owns the layer).
    dispatch: OnceLock<WeakDispatch>,
    format: LogFormat,
    service: String,
    function_name: Option<String>,
    function_memory_size: Option<u32>,
    /// What separates the lines of one text event: see [`text_line_break`].
    text_line_break: u8,
    make_writer: W,
}

impl<W> LogLayer<W> {
    pub(crate) fn new(config: &Config, make_writer: W) -> Self {
        Self {
            dispatch: OnceLock::new(),
            format: config.log_format,
            service: config.service_name.clone(),
            function_name: config.function_name.clone(),
            function_memory_size: config.function_memory_size,
            text_line_break: text_line_break(config.in_lambda),
            make_writer,
        }
    }
}

/// What separates the lines of one text event (a message or a value of several lines, such as
/// a backtrace).
///
/// At a terminal, a line feed: the following lines are indented, so they never pass for an
/// event of their own, and frames stay one to a line. In Lambda every line feed on stdout ends
/// a CloudWatch Logs event, and a backtrace would become seventy events without a request id
/// that a search for the id misses. Lambda's managed runtimes keep a multi-line message in one
/// event by writing it to Lambda's telemetry pipe, which a custom runtime is not given; a
/// carriage return is the known substitute: Lambda does not split on it, and the CloudWatch
/// console shows it as a line break. (Not at a terminal: it would write over the line.)
fn text_line_break(in_lambda: bool) -> u8 {
    if in_lambda { b'\r' } else { b'\n' }
}

/// The Lambda context keys a span carries, stored in the span's extensions.
struct ContextFields(Vec<(&'static str, Value)>);

impl Visit for ContextFields {
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.set(field, Value::Bool(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field, Value::from(value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.set(field, Value::from(format!("{value:?}")));
    }
}

impl ContextFields {
    fn set(&mut self, field: &Field, value: Value) {
        let Some(&(_, key)) = CONTEXT_LOG_KEYS.iter().find(|(f, _)| *f == field.name()) else {
            return;
        };
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => *v = value,
            None => self.0.push((key, value)),
        }
    }
}

/// An event's message and fields, secrets masked.
#[derive(Default)]
struct EventFields {
    message: Option<String>,
    fields: Vec<(&'static str, Value)>,
}

impl EventFields {
    fn push(&mut self, field: &Field, value: Value) {
        let value = match value {
            _ if is_secret_name(field.name()) => Value::from(REDACTED),
            // A secret can hide in text too: `Authorization: Bearer ...` in an error message.
            Value::String(text) => Value::String(redact_owned(text)),
            value => value,
        };
        self.fields.push((field.name(), value));
    }

    fn set_message(&mut self, message: String) {
        self.message = Some(redact_owned(message));
    }
}

impl Visit for EventFields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, Value::from(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, Value::Bool(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == log_keys::MESSAGE {
            self.set_message(value.to_owned());
        } else {
            self.push(field, Value::from(value));
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.push(field, Value::from(crate::error::cause_chain(value)));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == log_keys::MESSAGE {
            self.set_message(format!("{value:?}"));
        } else {
            self.push(field, Value::from(format!("{value:?}")));
        }
    }
}

impl<S, W> Layer<S> for LogLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    /// Off for the whole subscriber, not only this layer: a raw event reaches no span, line or
    /// error report. Decided per call site, once.
    fn enabled(&self, metadata: &tracing::Metadata<'_>, _: Context<'_, S>) -> bool {
        !is_raw_event(metadata)
    }

    fn on_register_dispatch(&self, subscriber: &tracing::Dispatch) {
        let _ = self.dispatch.set(subscriber.downgrade());
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut context = ContextFields(Vec::new());
        attrs.record(&mut context);
        if !context.0.is_empty()
            && let Some(span) = ctx.span(id)
        {
            span.extensions_mut().insert(context);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        match extensions.get_mut::<ContextFields>() {
            Some(context) => values.record(context),
            None => {
                let mut context = ContextFields(Vec::new());
                values.record(&mut context);
                if !context.0.is_empty() {
                    extensions.insert(context);
                }
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = EventFields::default();
        event.record(&mut fields);
        // Read before any extension of the span is borrowed: it locks them itself.
        let ids = ctx
            .event_span(event)
            .and_then(|span| self.otel_ids(&span.id()));

        // The nearest span with Lambda context: the invocation this event happened in.
        let invocation = ctx.event_scope(event).and_then(|scope| {
            scope
                .into_iter()
                .find(|span| span.extensions().get::<ContextFields>().is_some())
        });
        let extensions = invocation.as_ref().map(|span| span.extensions());
        let context = extensions
            .as_ref()
            .and_then(|ext| ext.get::<ContextFields>())
            .map_or(&[][..], |c| c.0.as_slice());

        // The error report of this event, if one is made: the line names it, so one finds
        // the other.
        #[cfg(feature = "rollbar")]
        if let Some(reporter) = crate::sinks::rollbar::reporter() {
            let metadata = event.metadata();
            let report = crate::sinks::rollbar::EventReport {
                level: *metadata.level(),
                target: metadata.target(),
                message: fields.message.as_deref().unwrap_or_default(),
                fields: &fields.fields,
                context,
                trace_id: ids.as_ref().map(|(trace, _)| trace.as_str()),
                file: metadata.file(),
                line: metadata.line(),
                module: metadata.module_path(),
            };
            if let Some(uuid) = reporter.capture(&report) {
                fields
                    .fields
                    .push((log_keys::ROLLBAR_UUID, Value::from(uuid)));
            }
        }

        LINE.with(|line| {
            let mut line = line.borrow_mut();
            line.clear();
            let record = Line {
                layer: self,
                level: *event.metadata().level(),
                target: event.metadata().target(),
                message: fields.message.as_deref().unwrap_or_default(),
                context,
                ids: ids.as_ref(),
                fields: &fields.fields,
                location: (event.metadata().module_path(), event.metadata().line()),
            };
            match self.format {
                LogFormat::Json => record.write_json(&mut line),
                LogFormat::Text => record.write_text(&mut line),
            }
            // One write per line, so lines from concurrent tasks never interleave. A log line
            // that cannot be written has nowhere better to go, so the error is dropped.
            if line.len() <= MAX_LINE_BYTES {
                line.push(b'\n');
                let _ = self.make_writer.make_writer().write_all(&line);
            } else {
                for mut piece in within_limit(&line, self.format, MAX_LINE_BYTES) {
                    piece.push(b'\n');
                    let _ = self.make_writer.make_writer().write_all(&piece);
                }
            }
        });
    }
}

impl<W> LogLayer<W> {
    /// The OpenTelemetry trace and span ids of a span, when it has valid ones.
    fn otel_ids(&self, id: &Id) -> Option<(String, String)> {
        let dispatch = self.dispatch.get()?.upgrade()?;
        let context = tracing_opentelemetry::get_otel_context(id, &dispatch)?;
        let span = context.span();
        let span = span.span_context();
        span.is_valid()
            .then(|| (span.trace_id().to_string(), span.span_id().to_string()))
    }
}

thread_local! {
    /// Reused between events: formatting a line allocates nothing once warm.
    static LINE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

struct Line<'a, W> {
    layer: &'a LogLayer<W>,
    level: Level,
    target: &'a str,
    message: &'a str,
    context: &'a [(&'static str, Value)],
    ids: Option<&'a (String, String)>,
    fields: &'a [(&'static str, Value)],
    location: (Option<&'a str>, Option<u32>),
}

impl<W> Line<'_, W> {
    fn write_json(&self, out: &mut Vec<u8>) {
        let mut object = JsonObject::new(out);
        object.timestamp(log_keys::TIMESTAMP);
        object.str(log_keys::LEVEL, level_name(self.level));
        object.str(log_keys::MESSAGE, self.message);
        object.str(log_keys::SERVICE, &self.layer.service);
        if let Some(name) = &self.layer.function_name {
            object.str(log_keys::FUNCTION_NAME, name);
        }
        if let Some(memory) = self.layer.function_memory_size {
            object.number(log_keys::FUNCTION_MEMORY_SIZE, memory);
        }
        for (key, value) in self.context {
            object.value(key, value);
        }
        if let Some((trace_id, span_id)) = self.ids {
            object.str(log_keys::TRACE_ID, trace_id);
            object.str(log_keys::SPAN_ID, span_id);
        }
        for (name, value) in self.fields {
            if RESERVED_KEYS.contains(name) {
                object.value(&format!("field_{name}"), value);
            } else {
                object.value(name, value);
            }
        }
        if let (Some(module), Some(line)) = self.location {
            // A module path is letters, digits, `_` and `:`: nothing to escape.
            object.key(log_keys::LOCATION);
            let _ = write!(object.out, "\"{module}:{line}\"");
        }
        object.end();
    }

    /// For people, in columns (see the module's doc): time, level, request id, the message's
    /// first line, the event's fields, the trace id; then, on indented lines, the rest of the
    /// message and each value of several lines.
    fn write_text(&self, out: &mut Vec<u8>) {
        write_timestamp(out);
        let _ = write!(out, " {:<5} ", level_name(self.level));
        let request_id = self
            .context_str(log_keys::FUNCTION_REQUEST_ID)
            .unwrap_or_default();
        let _ = write!(out, "{request_id:<REQUEST_ID_WIDTH$} ");
        let mut message = self.message.lines();
        push_printable(out, message.next().unwrap_or_default());

        let mut has_multiline_fields = false;
        for (name, value) in self.fields {
            if self.said_by_message(name, value) {
                continue;
            }
            match value {
                Value::String(text) if text.contains('\n') => has_multiline_fields = true,
                value => {
                    let _ = write!(out, " {name}=");
                    push_text_value(out, value);
                }
            }
        }
        let trace_id = self.ids.map(|(trace_id, _)| trace_id.as_str());
        if let Some(trace_id) = trace_id {
            let _ = write!(out, " {}={trace_id}", log_keys::TRACE_ID);
        }
        if let Some(xray) = self.context_str(log_keys::XRAY_TRACE_ID)
            && trace_id.is_none_or(|trace_id| !same_trace(xray, trace_id))
        {
            let _ = write!(out, " {}={xray}", log_keys::XRAY_TRACE_ID);
        }

        let line_break = self.layer.text_line_break;
        for line in message {
            out.push(line_break);
            out.extend_from_slice(TEXT_INDENT.as_bytes());
            push_printable(out, line);
        }
        if has_multiline_fields {
            for (name, value) in self.fields {
                let Value::String(text) = value else { continue };
                if !text.contains('\n') || self.said_by_message(name, value) {
                    continue;
                }
                out.push(line_break);
                let _ = write!(out, "{TEXT_INDENT}{name}:");
                for line in text.lines() {
                    out.push(line_break);
                    if !line.is_empty() {
                        out.extend_from_slice(TEXT_INDENT.as_bytes());
                        push_printable(out, line);
                    }
                }
            }
        }
    }

    /// A Lambda context key of the line as text.
    fn context_str(&self, key: &str) -> Option<&str> {
        self.context
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| v.as_str())
    }

    /// `true` for a field a text line leaves out because its message says it already: the
    /// access line's `GET /api/activities/home 200` is its `method`, `path` and `status`, and
    /// its `route` when the route is the path; a message `<what>: <value>` (a panic's
    /// `panicked: <payload>`, `failed: <error>`) holds the field of that value. JSON keeps them
    /// all: queries select on them.
    fn said_by_message(&self, name: &str, value: &Value) -> bool {
        if self.target == ACCESS_LOG_TARGET {
            let path = || {
                self.fields
                    .iter()
                    .find(|(n, _)| *n == "path")
                    .map(|(_, v)| v)
            };
            return matches!(name, "method" | "path" | "status")
                || (name == "route" && path() == Some(value));
        }
        matches!(value, Value::String(text) if !text.is_empty()
            && self.message.strip_suffix(text.as_str()).is_some_and(|head| head.ends_with(": ")))
    }
}

/// A Lambda request id is a UUID: lines outside an invocation pad its column, so that every
/// message starts in the same column.
const REQUEST_ID_WIDTH: usize = 36;

/// Before the following lines of a text event: deeper than nothing, so that they never pass
/// for an event of their own.
const TEXT_INDENT: &str = "    ";

/// `true` when an X-Ray trace id (`1-5759e988-bd862e3fe1be46a994272793`) and an OpenTelemetry
/// one (`5759e988bd862e3fe1be46a994272793`) name the same trace.
fn same_trace(xray: &str, otel: &str) -> bool {
    match (
        xray.get(..2),
        xray.get(2..10),
        xray.get(10..11),
        xray.get(11..),
    ) {
        (Some("1-"), Some(time), Some("-"), Some(random)) => {
            otel.len() == 32
                && otel[..8].eq_ignore_ascii_case(time)
                && otel[8..].eq_ignore_ascii_case(random)
        }
        _ => false,
    }
}

/// A value of one line as a text line shows it: a word as it is (`path=/a`), text with blanks,
/// quotes or control characters quoted and escaped as in JSON (`user_agent="curl/8 (x)"`), and
/// anything else as JSON.
fn push_text_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::String(s)
            if !s.is_empty()
                && !s.contains(|c: char| c.is_whitespace() || c.is_control() || c == '"') =>
        {
            out.extend_from_slice(s.as_bytes());
        }
        other => {
            let _ = serde_json::to_writer(&mut *out, other);
        }
    }
}

/// Text with its control characters escaped (`\u{1b}`), tabs kept: a line of a message can
/// neither move the cursor of a terminal nor forge a line of its own with a carriage return.
fn push_printable(out: &mut Vec<u8>, text: &str) {
    let escape = |c: char| c.is_control() && c != '\t';
    if !text.contains(escape) {
        out.extend_from_slice(text.as_bytes());
        return;
    }
    for c in text.chars() {
        if escape(c) {
            let _ = write!(out, "{}", c.escape_default());
        } else {
            let mut buf = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
}

/// Writes a flat JSON object key by key, straight into the line buffer.
struct JsonObject<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> JsonObject<'a> {
    fn new(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Self { out, first: true }
    }

    fn key(&mut self, key: &str) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        // Writing a string to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *self.out, key);
        self.out.push(b':');
    }

    fn str(&mut self, key: &str, value: &str) {
        self.key(key);
        let _ = serde_json::to_writer(&mut *self.out, value);
    }

    fn number(&mut self, key: &str, value: u32) {
        self.key(key);
        let _ = write!(self.out, "{value}");
    }

    fn value(&mut self, key: &str, value: &Value) {
        self.key(key);
        let _ = serde_json::to_writer(&mut *self.out, value);
    }

    fn timestamp(&mut self, key: &str) {
        self.key(key);
        self.out.push(b'"');
        write_timestamp(self.out);
        self.out.push(b'"');
    }

    fn end(self) {
        self.out.push(b'}');
    }
}

fn write_timestamp(out: &mut Vec<u8>) {
    let now = chrono::Utc::now();
    let _ = write!(out, "{}", now.format("%Y-%m-%dT%H:%M:%S%.3fZ"));
}

/// The level names Lambda's log-level filtering understands (`WARN`, not `WARNING`).
fn level_name(level: Level) -> &'static str {
    match level {
        Level::TRACE => "TRACE",
        Level::DEBUG => "DEBUG",
        Level::INFO => "INFO",
        Level::WARN => "WARN",
        Level::ERROR => "ERROR",
    }
}

/// Keys every piece of a split line keeps, so that each still says when, how bad, and for
/// which request and trace.
const PIECE_KEYS: [&str; 11] = [
    log_keys::TIMESTAMP,
    log_keys::LEVEL,
    log_keys::SERVICE,
    log_keys::FUNCTION_NAME,
    log_keys::FUNCTION_ARN,
    log_keys::FUNCTION_REQUEST_ID,
    log_keys::XRAY_TRACE_ID,
    log_keys::CORRELATION_ID,
    log_keys::TRACE_ID,
    log_keys::SPAN_ID,
    log_keys::COLD_START,
];
/// The beginning of the message each piece shows.
const PIECE_MESSAGE_CHARS: usize = 1024;

/// A line longer than `max` bytes as lines of at most `max` bytes.
///
/// JSON: nothing is lost. Each piece is a JSON object with the line's ids
/// ([`PIECE_KEYS`]), the start of its message, `"truncated": true`, `part` and `parts`, and in
/// `split_line` the next slice of the whole original line: joining the `split_line` of parts
/// 1..=parts gives the line back byte for byte. Text (for people): cut, with a marker.
pub(crate) fn within_limit(line: &[u8], format: LogFormat, max: usize) -> Vec<Vec<u8>> {
    let text = String::from_utf8_lossy(line);
    let parsed = match format {
        LogFormat::Json => serde_json::from_str::<serde_json::Map<String, Value>>(&text).ok(),
        LogFormat::Text => None,
    };
    let Some(original) = parsed else {
        const MARK: &str = " …[truncated]";
        let mut end = max.saturating_sub(MARK.len()).min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        return vec![format!("{}{MARK}", &text[..end]).into_bytes()];
    };
    let mut head = serde_json::Map::new();
    for key in PIECE_KEYS {
        if let Some(value) = original
            .get(key)
            .filter(|v| !v.is_string() || v.as_str().is_some_and(|s| s.len() < 256))
        {
            head.insert(key.to_owned(), value.clone());
        }
    }
    let message = original
        .get(log_keys::MESSAGE)
        .and_then(Value::as_str)
        .unwrap_or_default();
    let shown: String = message.chars().take(PIECE_MESSAGE_CHARS).collect();
    head.insert(log_keys::MESSAGE.into(), Value::from(shown));
    head.insert("truncated".into(), Value::Bool(true));
    head.insert("part".into(), Value::from(999_999));
    head.insert("parts".into(), Value::from(999_999));
    head.insert("split_line".into(), Value::from(""));
    // What a piece costs besides its slice of the line, with room for any part number.
    let overhead = serde_json::to_vec(&head).map_or(max, |v| v.len());
    let room = max.saturating_sub(overhead).max(64);

    let mut slices = Vec::new();
    let mut start = 0;
    let mut escaped = 0;
    for (at, c) in text.char_indices() {
        let cost = match c {
            '"' | '\\' => 2,
            c if (c as u32) < 0x20 => 6,
            c => c.len_utf8(),
        };
        if escaped + cost > room {
            slices.push(&text[start..at]);
            start = at;
            escaped = 0;
        }
        escaped += cost;
    }
    slices.push(&text[start..]);

    let parts = slices.len();
    slices
        .into_iter()
        .enumerate()
        .map(|(i, slice)| {
            let mut piece = head.clone();
            if i > 0 {
                piece.insert(log_keys::MESSAGE.into(), Value::from(""));
            }
            piece.insert("part".into(), Value::from(i + 1));
            piece.insert("parts".into(), Value::from(parts));
            piece.insert("split_line".into(), Value::from(slice));
            serde_json::to_vec(&piece).unwrap_or_default()
        })
        .collect()
}

/// Where log lines go: stdout, and the CloudWatch Logs queue when shipping is on. Each
/// `write` is one whole line.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Output;

impl MakeWriter<'_> for Output {
    type Writer = Output;
    fn make_writer(&self) -> Self::Writer {
        Output
    }
}

impl std::io::Write for Output {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        #[cfg(feature = "cloudwatch")]
        if let Some(shipper) = crate::sinks::cloudwatch::shipper() {
            shipper.push(line.strip_suffix(b"\n").unwrap_or(line));
        }
        std::io::stdout().write_all(line)?;
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stdout().flush()
    }
}

/// Runs code under a subscriber that writes log lines into memory, for tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn lines(&self) -> Vec<String> {
            let bytes = self.0.lock().unwrap().clone();
            String::from_utf8(bytes)
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect()
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    pub(crate) fn config(format: LogFormat) -> Config {
        Config {
            service_name: "cruddur".into(),
            function_name: Some("home-activities".into()),
            function_memory_size: Some(128),
            log_format: format,
            log_filter: "info".into(),
            route: None,
            in_lambda: false,
        }
    }

    /// The spans `f` ends, as the exporters receive them.
    pub(crate) fn capture_spans(f: impl FnOnce()) -> Vec<opentelemetry_sdk::trace::SpanData> {
        let (_, spans) = capture_all("info", default_sampler(), f);
        spans.into_iter().map(|span| span.data).collect()
    }

    /// The lines `f` logs, in `format`, at INFO and above.
    pub(crate) fn capture(format: LogFormat, f: impl FnOnce()) -> Vec<String> {
        capture_at(tracing_subscriber::filter::LevelFilter::INFO, format, f)
    }

    /// The lines `f` logs, in `format`, at `level` and above.
    pub(crate) fn capture_at(
        level: tracing_subscriber::filter::LevelFilter,
        format: LogFormat,
        f: impl FnOnce(),
    ) -> Vec<String> {
        capture_with(config(format), level, f)
    }

    /// The lines `f` logs with `config`, at `level` and above.
    pub(crate) fn capture_with(
        config: Config,
        level: tracing_subscriber::filter::LevelFilter,
        f: impl FnOnce(),
    ) -> Vec<String> {
        let captured = Captured::default();
        let provider =
            crate::traces::provider(crate::traces::resource(&config), None, default_sampler());
        let filter = tracing_subscriber::EnvFilter::new(level.to_string());
        let subscriber = crate::subscriber(&config, &provider, filter, captured.clone());
        tracing::subscriber::with_default(subscriber, f);
        captured.lines()
    }

    /// `parentbased_always_on`, the default.
    pub(crate) fn default_sampler() -> crate::sampling::InvocationSampler {
        crate::sampling::InvocationSampler(opentelemetry_sdk::trace::Sampler::ParentBased(
            Box::new(opentelemetry_sdk::trace::Sampler::AlwaysOn),
        ))
    }

    /// The JSON lines `f` logs and the spans it ends, through the subscriber `init` installs,
    /// with `log_filter` as the log level and `sampler` as the sampler.
    pub(crate) fn capture_all(
        log_filter: &str,
        sampler: crate::sampling::InvocationSampler,
        f: impl FnOnce(),
    ) -> (Vec<String>, Vec<crate::sinks::EndedSpan>) {
        let captured = Captured::default();
        let buffer = Arc::new(crate::sinks::SpanBuffer::default());
        let config = config(LogFormat::Json);
        let provider = crate::traces::provider(
            crate::traces::resource(&config),
            Some(crate::sinks::BufferProcessor::new(Arc::clone(&buffer))),
            sampler,
        );
        let filter = tracing_subscriber::EnvFilter::new(log_filter);
        let subscriber = crate::subscriber(&config, &provider, filter, captured.clone());
        tracing::subscriber::with_default(subscriber, f);
        (captured.lines(), buffer.take())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::constants::span_fields;
    use crate::logs::testing::capture;

    fn invocation_span() -> tracing::Span {
        tracing::info_span!(
            "invocation",
            { span_fields::FAAS_COLDSTART } = true,
            { span_fields::FAAS_INVOCATION_ID } = "req-1",
            { span_fields::AWS_LAMBDA_INVOKED_ARN } = "arn:aws:lambda:us-east-1:1:function:f",
            { span_fields::AWS_XRAY_TRACE_ID } = "1-5759e988-bd862e3fe1be46a994272793",
            { span_fields::AWS_APIGATEWAY_REQUEST_ID } = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            { span_fields::HTTP_ROUTE } = "/api/activities/home",
        )
    }

    #[test]
    fn an_oversized_line_becomes_pieces_within_the_limit_that_join_back_to_it() {
        // Quotes, backslashes, control characters and multi-byte letters escape to more bytes.
        let message = "say \"hi\" \\ é 漢字 \u{1}\n".repeat(15_000);
        let lines = capture(LogFormat::Json, || {
            let span = invocation_span();
            let _entered = span.enter();
            tracing::info!(size = message.len(), "{message}");
            tracing::info!("small");
        });
        let original = {
            let mut line = Vec::new();
            for piece in &lines[..lines.len() - 1] {
                let piece: Value = serde_json::from_str(piece).unwrap();
                assert!(
                    piece["split_line"].is_string(),
                    "{}",
                    &piece.to_string()[..300]
                );
                line.extend_from_slice(piece["split_line"].as_str().unwrap().as_bytes());
            }
            serde_json::from_slice::<Value>(&line).unwrap()
        };
        assert_eq!(original["message"], message.as_str());
        assert_eq!(original["size"], message.len());
        assert_eq!(
            lines
                .last()
                .map(String::as_str)
                .map(|l| l.contains("\"small\"")),
            Some(true)
        );

        let pieces = &lines[..lines.len() - 1];
        assert!(pieces.len() >= 2, "{} pieces", pieces.len());
        for (i, piece) in pieces.iter().enumerate() {
            assert!(
                piece.len() <= MAX_LINE_BYTES,
                "piece {i}: {} bytes",
                piece.len()
            );
            let piece: Value = serde_json::from_str(piece).unwrap();
            assert_eq!(piece["truncated"], true);
            assert_eq!(piece["part"], i + 1);
            assert_eq!(piece["parts"], pieces.len());
            assert_eq!(piece["level"], "INFO");
            assert_eq!(piece["function_request_id"], "req-1");
            assert_eq!(
                piece["xray_trace_id"],
                "1-5759e988-bd862e3fe1be46a994272793"
            );
            assert!(piece["timestamp"].is_string());
        }
        let first: Value = serde_json::from_str(&pieces[0]).unwrap();
        assert!(message.starts_with(first["message"].as_str().unwrap()));
    }

    #[test]
    fn a_small_limit_still_splits_into_valid_pieces_and_text_is_cut_with_a_mark() {
        let line = serde_json::json!({
            "timestamp": "2026-11-21T00:00:00.000Z", "level": "ERROR", "message": "x".repeat(5_000),
            "trace_id": "0af7651916cd43dd8448eb211c80319c", "extra": "\"".repeat(3_000),
        })
        .to_string();
        let pieces = within_limit(line.as_bytes(), LogFormat::Json, 2_000);
        let mut joined = String::new();
        for piece in &pieces {
            assert!(piece.len() <= 2_000, "{}", piece.len());
            let piece: Value = serde_json::from_slice(piece).unwrap();
            assert_eq!(piece["trace_id"], "0af7651916cd43dd8448eb211c80319c");
            joined.push_str(piece["split_line"].as_str().unwrap());
        }
        assert_eq!(joined, line);

        let text = format!("2026-11-21T00:00:00.000Z INFO {}", "é".repeat(2_000));
        let [cut] = within_limit(text.as_bytes(), LogFormat::Text, 1_001)
            .try_into()
            .unwrap();
        let cut = String::from_utf8(cut).unwrap();
        assert!(cut.len() <= 1_001 && cut.ends_with("[truncated]"), "{cut}");
    }

    #[test]
    fn a_line_inside_an_invocation_carries_the_lambda_context_under_powertools_keys() {
        let lines = capture(LogFormat::Json, || {
            let span = invocation_span();
            let _entered = span.enter();
            tracing::info_span!("inner").in_scope(|| tracing::info!(handle = "andrew", "served"));
        });
        let line: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["message"], "served");
        assert_eq!(line["service"], "cruddur");
        assert_eq!(line["function_name"], "home-activities");
        assert_eq!(line["function_memory_size"], 128);
        assert_eq!(line["cold_start"], true);
        assert_eq!(line["function_request_id"], "req-1");
        assert_eq!(
            line["function_arn"],
            "arn:aws:lambda:us-east-1:1:function:f"
        );
        assert_eq!(line["xray_trace_id"], "1-5759e988-bd862e3fe1be46a994272793");
        assert_eq!(
            line["correlation_id"],
            "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
        );
        assert_eq!(line["handle"], "andrew");
        assert!(
            line.get("http.route").is_none(),
            "span attributes stay on the span"
        );
        let timestamp = line["timestamp"].as_str().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(timestamp).is_ok());
        assert!(
            timestamp.ends_with('Z') && timestamp.len() == 24,
            "{timestamp}"
        );
        assert!(
            line["location"]
                .as_str()
                .unwrap()
                .starts_with("lambda_telemetry::logs")
        );
    }

    #[test]
    fn a_line_outside_an_invocation_has_the_process_keys_only() {
        let lines = capture(LogFormat::Json, || tracing::warn!("starting"));
        let line: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["function_name"], "home-activities");
        assert!(line.get("function_request_id").is_none());
    }

    #[test]
    fn secret_fields_are_masked_and_reserved_names_do_not_collide() {
        let lines = capture(LogFormat::Json, || {
            tracing::info!(authorization = "Bearer canary", level = 3, "x")
        });
        assert!(!lines[0].contains("canary"));
        let line: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(line["authorization"], REDACTED);
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["field_level"], 3);
    }

    #[test]
    fn the_runtimes_trace_events_never_reach_a_line_whatever_the_level() {
        let raw = r#"{"headers":{"x-api-key":"canary"},"body":"{\"card\":\"4111-canary\"}"}"#;
        let lines = crate::logs::testing::capture_at(
            tracing_subscriber::filter::LevelFilter::TRACE,
            LogFormat::Json,
            || {
                // As lambda_runtime 1.5 writes it in `layers::api_response`.
                tracing::trace!(
                    target: "lambda_runtime::layers::api_response",
                    body = raw,
                    "raw JSON event received from Lambda"
                );
                tracing::trace!(target: "lambda_runtime", "{raw}");
                tracing::trace!(target: "lambda_runtime_api_client::body", "{raw}");
                tracing::trace!(target: "lambda_http::request", "{raw}");
                tracing::debug!(target: "lambda_runtime::runtime", "debug is kept");
                tracing::trace!(target: "lambda_runtime_like", "another crate is kept");
                tracing::trace!("the application's trace is kept");
            },
        );
        assert!(!lines.concat().contains("canary"), "{lines:#?}");
        let messages: Vec<Value> = lines
            .iter()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["message"].clone())
            .collect();
        assert_eq!(
            messages,
            [
                "debug is kept",
                "another crate is kept",
                "the application's trace is kept"
            ]
        );
    }

    #[test]
    fn errors_are_written_with_their_causes() {
        let error = Wrapped(std::io::Error::other("disk full"));
        let lines = capture(LogFormat::Json, || {
            tracing::error!(error = &error as &dyn std::error::Error, "failed")
        });
        let line: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(line["error"], "saving: disk full");
    }

    #[derive(Debug)]
    struct Wrapped(std::io::Error);
    impl fmt::Display for Wrapped {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("saving")
        }
    }
    impl std::error::Error for Wrapped {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    /// The request id of the Lambda context in [`text_invocation`], a real one's shape.
    const REQUEST_ID: &str = "8f5c1a2e-3b4d-4e6f-9a0b-1c2d3e4f5a6b";

    /// One request through the invocation layer, with a Lambda context whose X-Ray root is
    /// the parent (so the OpenTelemetry trace id is the X-Ray one), and its text lines.
    fn text_invocation(
        request: lambda_http::Request,
        handler: impl Fn() + Clone + Send + 'static,
    ) -> Vec<String> {
        use lambda_http::RequestExt as _;
        use tower::{Layer as _, ServiceExt as _};
        let mut context = lambda_http::Context::default();
        context.request_id = REQUEST_ID.into();
        context.xray_trace_id = Some(
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".into(),
        );
        let request = request.with_lambda_context(context);
        let service = tower::service_fn(move |_: lambda_http::Request| {
            let handler = handler.clone();
            async move {
                handler();
                Ok::<_, lambda_http::Error>("hello")
            }
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        capture(LogFormat::Text, || {
            runtime
                .block_on(
                    crate::InvocationLayer::default()
                        .layer(service)
                        .oneshot(request),
                )
                .unwrap();
        })
    }

    /// The column a text line's message starts in: after the time, the level and the request
    /// id column.
    fn message_of(line: &str) -> &str {
        &line[24 + 1 + 5 + 1 + REQUEST_ID_WIDTH + 1..]
    }

    /// The brief: a readable line keeps "the request id AND the trace id", whole, with the
    /// level, the message and the event's own fields; the access line drops what its message
    /// `GET <path> <status>` says already.
    #[test]
    fn a_text_access_line_is_time_level_request_id_message_fields_and_trace_id() {
        let lines = text_invocation(crate::invocation::tests::event(), || {
            tracing::info!(result_length = 3, "Hello Cloudwatch!")
        });
        let [inside, access] = lines.as_slice() else {
            panic!("{lines:#?}")
        };
        for line in &lines {
            assert!(
                chrono::DateTime::parse_from_rfc3339(&line[..24]).is_ok(),
                "{line}"
            );
            assert_eq!(&line[24..68], format!(" INFO  {REQUEST_ID} "), "{line}");
        }
        assert_eq!(
            message_of(inside),
            "Hello Cloudwatch! result_length=3 trace_id=5759e988bd862e3fe1be46a994272793"
        );
        let (head, tail) = message_of(access)
            .split_once(" duration_ms=")
            .unwrap_or_else(|| panic!("{access}"));
        assert_eq!(
            head,
            "GET /api/activities/@andrewbrown 200 route=/api/activities/{handle} \
             query=token=[REDACTED]&page=2"
        );
        let (duration, tail) = tail.split_once(' ').unwrap();
        assert!(duration.parse::<f64>().is_ok(), "{duration}");
        assert!(
            tail.starts_with("source_ip=203.0.113.7 user_agent=\"Mozilla/5.0 ")
                && tail.ends_with("\" trace_id=5759e988bd862e3fe1be46a994272793"),
            "{tail}"
        );
        assert!(
            !access.contains("xray_trace_id"),
            "the X-Ray id of the same trace says nothing more: {access}"
        );
    }

    #[test]
    fn the_route_is_left_out_of_a_text_access_line_only_when_it_is_the_path() {
        let request =
            lambda_http::request::from_str(include_str!("../../../events/home.json")).unwrap();
        let lines = text_invocation(request, || {});
        let access = lines.last().unwrap();
        assert!(
            message_of(access).starts_with("GET /api/activities/home 200 duration_ms="),
            "{access}"
        );
    }

    #[test]
    fn every_text_message_starts_in_one_column_inside_an_invocation_or_not() {
        let lines = capture(LogFormat::Text, || {
            tracing::warn!("starting");
            let span = invocation_span();
            let _entered = span.enter();
            tracing::error!("failing");
        });
        assert_eq!(message_of(&lines[0]), "starting");
        assert!(lines[0][24..].starts_with(" WARN  "), "{}", lines[0]);
        assert!(
            message_of(&lines[1]).starts_with("failing trace_id="),
            "{}",
            lines[1]
        );
        assert!(lines[1][24..].starts_with(" ERROR req-1 "), "{}", lines[1]);
    }

    /// Under a W3C caller's trace, X-Ray's segments still hang in Lambda's trace: a line names
    /// both, each whole.
    #[test]
    fn a_text_line_names_the_xray_trace_too_when_it_is_another_trace() {
        let mut request = crate::invocation::tests::event();
        request.headers_mut().insert(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
                .parse()
                .unwrap(),
        );
        let lines = text_invocation(request, || {});
        assert!(
            lines[0].ends_with(
                " trace_id=4bf92f3577b34da6a3ce929d0e0e4736 \
                 xray_trace_id=1-5759e988-bd862e3fe1be46a994272793"
            ),
            "{}",
            lines[0]
        );
        assert!(same_trace(
            "1-5759e988-bd862e3fe1be46a994272793",
            "5759e988bd862e3fe1be46a994272793"
        ));
        for (xray, otel) in [
            (
                "1-5759e988-bd862e3fe1be46a994272794",
                "5759e988bd862e3fe1be46a994272793",
            ),
            (
                "1-5759e988bd862e3fe1be46a994272793",
                "5759e988bd862e3fe1be46a994272793",
            ),
            (
                "2-5759e988-bd862e3fe1be46a994272793",
                "5759e988bd862e3fe1be46a994272793",
            ),
            (
                "1-5759e988-bd862e3fe1be46a9942727",
                "5759e988bd862e3fe1be46a9942727",
            ),
            (
                "1-é759e988-bd862e3fe1be46a994272793",
                "5759e988bd862e3fe1be46a994272793",
            ),
        ] {
            assert!(!same_trace(xray, otel), "{xray} {otel}");
        }
    }

    /// Frames must not run together, and no following line may pass for a line of its own:
    /// the rest of a message and every value of several lines follow the first line,
    /// indented; a carriage return or an escape sequence in a message is shown escaped.
    #[test]
    fn text_values_of_several_lines_follow_on_indented_lines() {
        let backtrace = "   0: app::handler\n             at ./src/handler.rs:9:5\n\n   1: main\n";
        let lines = capture(LogFormat::Text, || {
            let span = invocation_span();
            let _entered = span.enter();
            tracing::error!(
                status = 500,
                backtrace,
                path = "/a b",
                "assertion failed\n  left: 1\n2026-01-01T00:00:00.000Z ERROR forged\r\u{1b}[2J"
            );
        });
        let [head, rest @ ..] = lines.as_slice() else {
            panic!()
        };
        assert!(
            message_of(head).starts_with("assertion failed status=500 path=\"/a b\" trace_id="),
            "{head}"
        );
        assert_eq!(
            rest,
            [
                "      left: 1",
                "    2026-01-01T00:00:00.000Z ERROR forged\\r\\u{1b}[2J",
                "    backtrace:",
                "       0: app::handler",
                "                 at ./src/handler.rs:9:5",
                "",
                "       1: main",
            ]
        );
    }

    #[test]
    fn in_lambda_the_lines_of_one_text_event_are_one_cloudwatch_event() {
        let config = Config {
            in_lambda: true,
            ..crate::logs::testing::config(LogFormat::Text)
        };
        let lines = crate::logs::testing::capture_with(
            config,
            tracing_subscriber::filter::LevelFilter::INFO,
            || {
                tracing::error!(
                    backtrace = "   0: f\n             at src/f.rs:1:2",
                    "panicked"
                )
            },
        );
        let [line] = lines.as_slice() else {
            panic!("{lines:#?}")
        };
        assert!(
            line.ends_with(
                " panicked\r    backtrace:\r       0: f\r                 at src/f.rs:1:2"
            ),
            "{line:?}"
        );
    }

    /// "Secrets still masked in text exactly as in JSON": both are written from the same
    /// masked message and fields.
    #[test]
    fn text_and_json_mask_the_same_secrets() {
        let log = || {
            let span = invocation_span();
            let _entered = span.enter();
            tracing::error!(
                authorization = "Bearer canary-1",
                backtrace = "0: f\n   at src/auth.rs:12:5 token=canary-2",
                error = "failed: Authorization: Bearer canary-3",
                "call failed with api_key=canary-4\nsession=canary-5",
            );
        };
        let json = capture(LogFormat::Json, log).concat();
        let text = capture(LogFormat::Text, log).join("\n");
        assert!(
            !json.contains("canary") && !text.contains("canary"),
            "{text}"
        );
        assert_eq!(
            json.matches(REDACTED).count(),
            text.matches(REDACTED).count(),
            "{json}\n{text}"
        );
        assert!(
            text.contains("    at src/auth.rs:12:5 token=[REDACTED]"),
            "{text}"
        );
    }

    /// A panic's `panicked: <payload>` says its `error` field; other fields stay.
    #[test]
    fn a_text_line_leaves_out_a_field_its_message_ends_with() {
        let lines = capture(LogFormat::Text, || {
            tracing::error!(
                error = "index out of range",
                panic_location = "src/a.rs:1:2",
                "panicked: index out of range"
            );
            tracing::error!(error = "saving: disk full", "handler failed");
        });
        assert_eq!(
            message_of(&lines[0]),
            "panicked: index out of range panic_location=src/a.rs:1:2"
        );
        assert_eq!(
            message_of(&lines[1]),
            "handler failed error=\"saving: disk full\""
        );
    }
}
