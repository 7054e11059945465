//! One event as one line: a JSON object with Powertools' keys, or text in columns (the
//! parent module's documentation shows both).

use std::io::Write as _;

use serde_json::Value;
use tracing::Level;

use crate::config::{Config, LogFormat};
use crate::constants::{ACCESS_LOG_TARGET, log_keys};

/// Keys this layer writes itself; an event field of the same name is written as `field_<name>`
/// so that a line never holds a key twice.
pub(crate) const RESERVED_KEYS: [&str; 16] = [
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
    log_keys::TENANT_ID,
    log_keys::SAMPLING_RATE,
    log_keys::TRACE_ID,
    log_keys::SPAN_ID,
];

/// What every line of the process says whatever the event, and how it is written.
pub(super) struct Process {
    pub(super) format: LogFormat,
    service: String,
    function_name: Option<String>,
    function_memory_size: Option<u32>,
    /// `POWERTOOLS_LOGGER_SAMPLE_RATE`, on every line when it is set (as Powertools writes it).
    sampling_rate: Option<f64>,
    /// What separates the lines of one text event: see [`text_line_break`].
    text_line_break: u8,
}

impl Process {
    pub(super) fn new(config: &Config) -> Self {
        Self {
            format: config.log_format,
            service: config.service_name.clone(),
            function_name: config.function_name.clone(),
            function_memory_size: config.function_memory_size,
            sampling_rate: Some(config.debug_sample_rate(&mut Vec::new())).filter(|r| *r > 0.0),
            text_line_break: text_line_break(config.in_lambda),
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

/// One event, as its line says it.
pub(super) struct Line<'a> {
    pub(super) process: &'a Process,
    pub(super) level: Level,
    pub(super) target: &'a str,
    pub(super) message: &'a str,
    /// The Lambda context keys of the invocation the event happened in.
    pub(super) context: &'a [(&'static str, Value)],
    /// The OpenTelemetry trace and span ids of the event's span.
    pub(super) ids: Option<&'a (String, String)>,
    pub(super) fields: &'a [(&'static str, Value)],
    /// The keys the handler added to every line of its invocation (`append_keys`); an event
    /// field of the same name wins.
    pub(super) keys: &'a [(String, Value)],
    /// The module and line of the `tracing` call.
    pub(super) location: (Option<&'a str>, Option<u32>),
}

impl Line<'_> {
    /// The line, without its newline, in the process's format.
    pub(super) fn write(&self, out: &mut Vec<u8>) {
        match self.process.format {
            LogFormat::Json => self.write_json(out),
            LogFormat::Text => self.write_text(out),
        }
    }

    fn write_json(&self, out: &mut Vec<u8>) {
        let mut object = JsonObject::new(out);
        object.timestamp(log_keys::TIMESTAMP);
        object.str(log_keys::LEVEL, level_name(self.level));
        object.str(log_keys::MESSAGE, self.message);
        object.str(log_keys::SERVICE, &self.process.service);
        if let Some(name) = &self.process.function_name {
            object.str(log_keys::FUNCTION_NAME, name);
        }
        if let Some(memory) = self.process.function_memory_size {
            object.number(log_keys::FUNCTION_MEMORY_SIZE, memory);
        }
        if let Some(rate) = self.process.sampling_rate {
            object.value(log_keys::SAMPLING_RATE, &Value::from(rate));
        }
        for (key, value) in self.context {
            object.value(key, value);
        }
        if let Some((trace_id, span_id)) = self.ids {
            object.str(log_keys::TRACE_ID, trace_id);
            object.str(log_keys::SPAN_ID, span_id);
        }
        for (name, value) in self.added_keys() {
            object.value(name, value);
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
        for (name, value) in self.added_keys() {
            let _ = write!(out, " {name}=");
            push_text_value(out, value);
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

        let line_break = self.process.text_line_break;
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

    /// The invocation's added keys an event field does not name: a line holds a key once.
    fn added_keys(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.keys
            .iter()
            .filter(|(name, _)| !self.fields.iter().any(|(field, _)| field == name))
            .map(|(name, value)| (name.as_str(), value))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::constants::REDACTED;
    use crate::logs::testing::{capture, invocation_span};

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
            lambda_http::request::from_str(include_str!("../../../../events/home.json")).unwrap();
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
