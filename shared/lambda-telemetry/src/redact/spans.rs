//! Spans are masked once, in the flush, before any exporter sees them.

use std::borrow::Cow;

use opentelemetry::trace::Status;
use opentelemetry::{Array, KeyValue, StringValue, Value};
use opentelemetry_sdk::trace::SpanData;

use super::{is_secret_name, redact_text};
use crate::constants::REDACTED;

/// The span with every secret masked, in place, before any exporter (OTLP, X-Ray, console)
/// sees it: the value of an attribute (of the span, its events, its links) whose name is
/// secret, and by [`redact_text`] every other string value, the span's and its events' names
/// (an event's name is its `tracing` message) and the status description. An `exception`
/// event's message and stack trace, a reqwest error quoting a URL, a secret-named field of a
/// `tracing` span or event: all are masked here once, for every exporter. Nothing is copied
/// when nothing is masked.
pub(crate) fn redact_span(span: &mut SpanData) {
    redact_cow(&mut span.name);
    redact_attributes(&mut span.attributes);
    for event in &mut span.events.events {
        redact_cow(&mut event.name);
        redact_attributes(&mut event.attributes);
    }
    for link in &mut span.links.links {
        redact_attributes(&mut link.attributes);
    }
    if let Status::Error { description } = &mut span.status {
        redact_cow(description);
    }
}

/// Attributes `tracing-opentelemetry` writes from a callsite's metadata (its file, module and
/// line): compile-time text, never a request's, so not scanned. Every span and span event has
/// them, and their values are long paths: scanning them was most of the masking's cost.
/// (`level` and `target` are not among them: the crate turns those off, so a field of that
/// name is the application's own.)
const CALLSITE_ATTRIBUTES: [&str; 3] = ["code.file.path", "code.module.name", "code.line.number"];

fn redact_attributes(attributes: &mut [KeyValue]) {
    for attribute in attributes {
        let key = attribute.key.as_str();
        if CALLSITE_ATTRIBUTES.contains(&key) {
            continue;
        }
        if is_secret_name(key) {
            // Whatever its type: a PIN is a number.
            if !matches!(&attribute.value, Value::String(s) if s.as_str() == REDACTED) {
                attribute.value = Value::String(StringValue::from(REDACTED));
            }
            continue;
        }
        match &mut attribute.value {
            Value::String(text) => redact_string_value(text),
            Value::Array(Array::String(texts)) => texts.iter_mut().for_each(redact_string_value),
            _ => {}
        }
    }
}

fn redact_string_value(text: &mut StringValue) {
    if let Cow::Owned(masked) = redact_text(text.as_str()) {
        *text = StringValue::from(masked);
    }
}

fn redact_cow(text: &mut Cow<'static, str>) {
    if let Cow::Owned(masked) = redact_text(text) {
        *text = Cow::Owned(masked);
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use opentelemetry::trace::{
        Event, Link, SpanContext, SpanId, SpanKind, TraceFlags, TraceId, TraceState,
    };
    use opentelemetry::{InstrumentationScope, KeyValue};
    use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};

    use super::*;

    const URL: &str = "https://api.example/v1?api_key=canary-1";

    fn context() -> SpanContext {
        SpanContext::new(
            TraceId::from_hex("6553f1003a9bfa2c8a1e2b6f01234567").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        )
    }

    fn span(
        attributes: Vec<KeyValue>,
        events: Vec<Event>,
        links: Vec<Link>,
        status: Status,
    ) -> SpanData {
        let start = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut span_events = SpanEvents::default();
        span_events.events = events;
        let mut span_links = SpanLinks::default();
        span_links.links = links;
        SpanData {
            span_context: context(),
            parent_span_id: SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Server,
            name: Cow::Borrowed("GET /api/activities/{handle}"),
            start_time: start,
            end_time: start + Duration::from_millis(2),
            attributes,
            dropped_attributes_count: 0,
            events: span_events,
            links: span_links,
            status,
            instrumentation_scope: InstrumentationScope::builder("test").build(),
        }
    }

    fn event(name: &str, attributes: Vec<KeyValue>) -> Event {
        Event::new(name.to_owned(), UNIX_EPOCH, attributes, 0)
    }

    /// Everything OTLP and X-Ray export of a span, as text.
    fn exported(span: &SpanData) -> String {
        format!("{span:?}")
    }

    /// The brief: a secret "never reaches a log line, span, metric, error report or
    /// error message". A span carries free text in its attributes, its events (an
    /// `exception` event's message and stack trace; a `tracing` event's message is the
    /// span event's name, its fields its attributes), its links and its status.
    #[test]
    fn no_secret_survives_in_any_part_of_a_span() {
        let mut span = span(
            vec![
                // `tracing::info_span!("x", password = ...)`, a number too.
                KeyValue::new("password", "canary-2"),
                KeyValue::new("app.pin_secret", 1234),
                KeyValue::new("user_agent.original", "curl/8 (token=canary-3)"),
                KeyValue::new(
                    "app.urls",
                    opentelemetry::Value::Array(
                        vec![StringValue::from("ok"), StringValue::from(URL)].into(),
                    ),
                ),
            ],
            vec![
                event(
                    "exception",
                    vec![
                        KeyValue::new("exception.type", "error"),
                        KeyValue::new(
                            "exception.message",
                            format!("error sending request for url ({URL}): connection refused"),
                        ),
                        KeyValue::new(
                            "exception.stacktrace",
                            "0: handler\n   at src/handler.rs:12:5 with Bearer canary-4",
                        ),
                    ],
                ),
                event(
                    "calling https://u:canary-5@db.example/x",
                    vec![KeyValue::new("authorization", "Bearer canary-6")],
                ),
            ],
            vec![Link::new(
                context(),
                vec![KeyValue::new("note", "session=canary-7")],
                0,
            )],
            Status::error(format!("upstream {URL} failed")),
        );
        redact_span(&mut span);
        let text = exported(&span);
        assert!(!text.contains("canary"), "{text}");
        assert_eq!(span.attributes[0].value.as_str(), REDACTED);
        assert_eq!(span.attributes[1].value.as_str(), REDACTED);
        assert_eq!(
            span.attributes[2].value.as_str(),
            "curl/8 (token=[REDACTED])"
        );
        let message = &span.events[0].attributes[1];
        assert_eq!(
            message.value.as_str(),
            "error sending request for url (https://api.example/v1?api_key=[REDACTED]): \
             connection refused",
            "the error stays readable"
        );
        assert_eq!(
            span.events[0].attributes[2].value.as_str(),
            "0: handler\n   at src/handler.rs:12:5 with Bearer [REDACTED]",
            "the location is kept"
        );
        assert_eq!(
            span.events[1].name,
            "calling https://u:[REDACTED]@db.example/x"
        );
        assert_eq!(
            span.status,
            Status::error("upstream https://api.example/v1?api_key=[REDACTED] failed")
        );
    }

    /// Masking runs on every span of every flush: a span without secrets comes out as it
    /// went in, its static name still borrowed, and masking twice changes nothing.
    #[test]
    fn a_span_without_secrets_is_left_alone() {
        let clean = span(
            vec![
                KeyValue::new("http.route", "/api/activities/{handle}"),
                KeyValue::new("code.filepath", "src/handler.rs:12:5"),
                KeyValue::new("http.response.status_code", 500),
                KeyValue::new(
                    "aws.lambda.invoked_arn",
                    "arn:aws:lambda:us-east-1:1:function:f",
                ),
            ],
            vec![event(
                "Hello Cloudwatch! from /api/activities/home",
                vec![KeyValue::new("status", "code=500")],
            )],
            Vec::new(),
            Status::error("handler failed"),
        );
        let mut span = clean.clone();
        redact_span(&mut span);
        assert_eq!(span, clean);
        assert!(matches!(span.name, Cow::Borrowed(_)));

        let mut secret = span_with_secret();
        redact_span(&mut secret);
        let once = secret.clone();
        redact_span(&mut secret);
        assert_eq!(secret, once, "masking twice changes nothing");
    }

    /// The `exception` event's `exception.stacktrace` (OTLP shows it, X-Ray makes its
    /// `cause.exceptions[].stack` of it) keeps every frame's location through the masking
    /// of the flush.
    #[test]
    fn an_exception_stacktrace_keeps_every_location() {
        let backtrace = std::backtrace::Backtrace::force_capture().to_string();
        for stacktrace in [backtrace.as_str(), crate::redact::tests::BACKTRACE] {
            let exception = event(
                "exception",
                vec![
                    KeyValue::new("exception.type", "panic"),
                    KeyValue::new("exception.stacktrace", stacktrace.to_owned()),
                ],
            );
            let mut span = span(Vec::new(), vec![exception], Vec::new(), Status::Unset);
            redact_span(&mut span);
            assert_eq!(
                span.events[0].attributes[1].value.as_str(),
                stacktrace,
                "kept as it is"
            );
        }
    }

    fn span_with_secret() -> SpanData {
        span(
            vec![KeyValue::new("token", "canary"), KeyValue::new("u", URL)],
            Vec::new(),
            Vec::new(),
            Status::Unset,
        )
    }
}
