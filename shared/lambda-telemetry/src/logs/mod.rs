//! Structured log lines: one JSON object per line on stdout, with the Lambda context on each,
//! or with `AWS_LAMBDA_LOG_FORMAT=Text` one line a person reads.
//!
//! [`LogLayer`](crate::logs::LogLayer) is a `tracing-subscriber` layer. It reads the invocation span's fields once,
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
//! 2026-11-30T03:02:24.927Z ERROR 07c8a0f0-c9fa-4e51-b015-0d6a7dfd5bff panicked: the Rollbar test panic (?panic=1) panic_location=functions/rollbar-test/src/handler.rs:30:9 trace_id=6b0ce73540fe0231db21786fd6c0cbf6
//!     backtrace:
//!        8: rollbar_test::handler::handle::{{closure}}
//!                  at ./functions/rollbar-test/src/handler.rs:30:9
//! 2026-11-30T03:02:24.928Z INFO  07c8a0f0-c9fa-4e51-b015-0d6a7dfd5bff GET /rollbar/test 500 query=panic=1&token=[REDACTED] duration_ms=242.045 source_ip=127.0.0.1 user_agent=ureq/3.5.1 trace_id=6b0ce73540fe0231db21786fd6c0cbf6
//! ```
//!
//! Ids are whole, to be pasted into a search. The trace id is OpenTelemetry's (`trace_id`, what
//! an OTLP backend finds the trace by; under Lambda's X-Ray context it is the X-Ray trace id
//! without its dashes); `xray_trace_id` is added only when it names another trace (a W3C
//! caller's trace is the parent) or there is no OpenTelemetry id. Secrets are masked before
//! either format is written, so text and JSON mask the same values.

/// Lines held per invocation, written when it goes wrong.
pub(crate) mod buffer;
mod fields;
/// Keys a handler adds to every line of its invocation.
pub(crate) mod keys;
// Rollbar's capture is the only hook so far: without its feature, nothing reads an event.
#[cfg_attr(not(feature = "rollbar"), allow(dead_code))]
pub(crate) mod hooks;
mod line;
mod output;
mod split;
#[cfg(test)]
pub(crate) mod testing;

use std::any::TypeId;
use std::cell::RefCell;
use std::io::Write as _;
use std::sync::OnceLock;

use opentelemetry::trace::TraceContextExt as _;
use tracing::dispatcher::WeakDispatch;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use crate::config::Config;
use crate::invocation::scope::Holding;
pub use buffer::LogBuffer;
use buffer::WriteLine;
use fields::{ContextFields, EventFields};
use hooks::{EventHooks, LogEvent};
use line::{Line, Process};
pub(crate) use output::{LineCopy, Output};
pub(crate) use split::within_limit;

/// The longest log line written, in bytes without the newline: Lambda's log pipeline cuts
/// longer stdout lines into 262,118-byte events (256 KiB less CloudWatch's 26-byte event
/// overhead), though PutLogEvents now takes events up to 1 MB. A longer line is split into
/// pieces of at most this size, each a JSON object. Not a setting: Lambda's limit.
pub(crate) const MAX_LINE_BYTES: usize = 262_144 - 26;

/// What the log layer sees: the events and spans `log_filter` enables (the log level), the
/// invocation span always, because every line of an invocation takes its Lambda context keys
/// from it, at any level, and, per invocation, the events of an invocation sampled to log at
/// DEBUG (`sample_rate` above 0) and those its log buffer holds (at `buffer_level`), each as
/// the log filter's `directives` would enable them at that level (see [`raised`]). Other
/// layers have their own filters: the log level decides which lines are printed, never what
/// is traced.
pub(crate) fn filter<S>(
    log_filter: tracing_subscriber::EnvFilter,
    directives: &str,
    sample_rate: f64,
    buffer_level: Option<Level>,
) -> impl tracing_subscriber::layer::Filter<S> + use<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    use tracing_subscriber::filter::{DynFilterFn, FilterExt as _, filter_fn};
    let invocation_span = filter_fn(|metadata| {
        metadata.is_span() && metadata.target() == crate::constants::INVOCATION_SPAN_TARGET
    })
    .with_max_level_hint(Level::INFO);
    let off = || tracing_subscriber::EnvFilter::new("off");
    // Which events each would enable is decided per call site, by level and target; whether
    // the invocation the event happens in is sampled or buffering, per event: a dynamic filter
    // (a plain `filter_fn` is asked once per call site, and its first answer would stick).
    let sampled = match sample_rate > 0.0 {
        true => raised(directives, Level::DEBUG),
        false => off(),
    }
    .and(DynFilterFn::new(
        |metadata: &tracing::Metadata<'_>, _: &Context<'_, S>| {
            metadata.is_event() && crate::invocation::scope::with_log_choices(|sampled, _| sampled)
        },
    ));
    let held = match buffer_level {
        Some(level) => raised(directives, level),
        None => off(),
    }
    .and(DynFilterFn::new(
        |metadata: &tracing::Metadata<'_>, _: &Context<'_, S>| {
            metadata.is_event()
                && crate::invocation::scope::with_log_choices(|_, held| {
                    held.is_some_and(|held| held.holds(*metadata.level()))
                })
        },
    ));
    log_filter.or(invocation_span).or(sampled).or(held)
}

/// Whether the log filter's `directives` are only bare targets (`debgu`, `my_app`): no default
/// level and no directive with a level, so every other target is off, ERRORs included; what a
/// misspelt level reads as.
pub(crate) fn only_targets(directives: &str) -> bool {
    let mut directives = directives
        .split(',')
        .map(str::trim)
        .filter(|directive| !directive.is_empty())
        .peekable();
    directives.peek().is_some()
        && directives.all(|directive| {
            directive
                .parse::<tracing_subscriber::filter::LevelFilter>()
                .is_err()
                && !directive.contains(['=', '[', '{'])
        })
}

/// The log filter's `directives` with their default level (a directive that names no target,
/// `info`) made `level` where it is less verbose: what the log would write at `level`. A
/// directive for a target keeps its level (`hyper=warn` stays quiet in a sampled or buffering
/// invocation), and a default of `off` stays off. Directives that do not parse are read as the
/// default log level, as `init` reads them.
fn raised(directives: &str, level: Level) -> tracing_subscriber::EnvFilter {
    use tracing_subscriber::filter::LevelFilter;
    let raise = |directives: &str| {
        directives
            .split(',')
            .map(str::trim)
            .filter(|directive| !directive.is_empty())
            .map(|directive| match directive.parse::<LevelFilter>() {
                // In `tracing`, the more verbose level is the greater.
                Ok(default) if default != LevelFilter::OFF && default < level => {
                    level.as_str().to_ascii_lowercase()
                }
                _ => directive.to_owned(),
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    tracing_subscriber::EnvFilter::try_new(raise(directives)).unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(raise(crate::constants::DEFAULT_LOG_LEVEL))
    })
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

/// Writes every event as one line in the configured format, to the writer composed at install
/// time, after handing it to the hooks; or holds it in its invocation's log buffer.
pub(crate) struct LogLayer {
    /// The subscriber this layer is part of, to read spans' OpenTelemetry ids through
    /// `tracing-opentelemetry` (a weak reference: the subscriber owns the layer).
    dispatch: OnceLock<WeakDispatch>,
    process: Process,
    hooks: EventHooks,
    /// Writes a line to the writer composed at install time; shared with the log buffers
    /// that hold this layer's lines, which write them when they are flushed.
    write: WriteLine,
}

impl LogLayer {
    /// Lines in `config`'s format to `make_writer`; events to `hooks` first.
    pub(crate) fn new<W>(config: &Config, make_writer: W, hooks: EventHooks) -> Self
    where
        W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
    {
        let process = Process::new(config);
        let format = process.format;
        let write: WriteLine = std::sync::Arc::new(move |line: &mut Vec<u8>| {
            // One write per line, so lines from concurrent tasks never interleave. A log line
            // that cannot be written has nowhere better to go, so the error is dropped.
            if line.len() <= MAX_LINE_BYTES {
                line.push(b'\n');
                let _ = make_writer.make_writer().write_all(line);
                line.pop();
            } else {
                for mut piece in within_limit(line, format, MAX_LINE_BYTES) {
                    piece.push(b'\n');
                    let _ = make_writer.make_writer().write_all(&piece);
                }
            }
        });
        Self {
            dispatch: OnceLock::new(),
            process,
            hooks,
            write,
        }
    }
}

impl<S> Layer<S> for LogLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    /// Off for the whole subscriber, not only this layer: a raw event reaches no span, line or
    /// error report. Decided per call site, once.
    fn enabled(&self, metadata: &tracing::Metadata<'_>, _: Context<'_, S>) -> bool {
        !is_raw_event(metadata)
    }

    // Lets code outside the layer find its hooks through the subscriber in charge (see
    // `hooks::installed`), as tracing-subscriber's fmt layer lets its formatter and writer be
    // found. Safety: each pointer is to a field of `self`, of the type `id` names.
    unsafe fn downcast_raw(&self, id: TypeId) -> Option<*const ()> {
        if id == TypeId::of::<Self>() {
            Some(self as *const Self as *const ())
        } else if id == TypeId::of::<EventHooks>() {
            Some(&self.hooks as *const EventHooks as *const ())
        } else {
            None
        }
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

        let keys = crate::invocation::scope::invocation_keys();
        let keys = keys.as_deref().map_or(&[][..], Vec::as_slice);
        let event_fields = fields.fields.len();
        // What consumes events besides the line (Rollbar's capture) sees them first: a field
        // it adds (the item's uuid) is on the line, so that one finds the other.
        for hook in self.hooks.iter() {
            let metadata = event.metadata();
            let seen = LogEvent {
                level: *metadata.level(),
                target: metadata.target(),
                message: fields.message.as_deref().unwrap_or_default(),
                fields: &fields.fields,
                context,
                keys,
                trace_id: ids.as_ref().map(|(trace, _)| trace.as_str()),
                file: metadata.file(),
                line: metadata.line(),
                module: metadata.module_path(),
            };
            if let Some(field) = hook.on_event(&seen) {
                fields.fields.push(field);
            }
        }
        // A line a hook added to (a Rollbar item's uuid) is written at once, never held: the
        // item is sent whether the invocation fails or not, and must find its line.
        let hooked = fields.fields.len() > event_fields;

        let level = *event.metadata().level();
        // A line the crate writes itself in this invocation's context: a log buffer's notice.
        let notice = |level: Level, message: &str, fields: &[(&'static str, serde_json::Value)]| {
            let mut line = Vec::new();
            Line {
                keys,
                process: &self.process,
                level,
                target: buffer::NOTICE_TARGET,
                message,
                context,
                ids: ids.as_ref(),
                fields,
                location: (Some(buffer::NOTICE_TARGET), None),
            }
            .write(&mut line);
            line
        };
        LINE.with(|line| {
            let mut line = line.borrow_mut();
            line.clear();
            let record = Line {
                keys,
                process: &self.process,
                level,
                target: event.metadata().target(),
                message: fields.message.as_deref().unwrap_or_default(),
                context,
                ids: ids.as_ref(),
                fields: &fields.fields,
                location: (event.metadata().module_path(), event.metadata().line()),
            };
            record.write(&mut line);
            let never_held = hooked || event.metadata().target() == buffer::NOTICE_TARGET;
            match crate::invocation::scope::hold_line(level, never_held, &line, &self.write) {
                Holding::Held => {}
                Holding::Write => (self.write)(&mut line),
                Holding::TooLong(max_bytes) => {
                    (self.write)(&mut notice(
                        Level::WARN,
                        buffer::TOO_LONG_MESSAGE,
                        &[
                            ("line_bytes", line.len().into()),
                            ("max_bytes", max_bytes.into()),
                        ],
                    ));
                    (self.write)(&mut line);
                }
                Holding::FlushFirst(mut flushed) => {
                    flushed.write_lines();
                    if flushed.dropped > 0 {
                        (self.write)(&mut notice(
                            Level::WARN,
                            buffer::DROPPED_MESSAGE,
                            &[
                                ("dropped_lines", flushed.dropped.into()),
                                ("max_bytes", flushed.max_bytes.into()),
                            ],
                        ));
                    }
                    (self.write)(&mut line);
                }
            }
        });
    }
}

impl LogLayer {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LogFormat;
    use crate::constants::REDACTED;
    use crate::logs::testing::{capture, invocation_span};
    use serde_json::Value;
    use std::fmt;

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

    /// A filter of bare targets only (a misspelt level) turns every other line off; one with a
    /// level anywhere is what its author meant.
    #[test]
    fn a_filter_of_bare_targets_only_is_told_from_one_with_levels() {
        for misspelt in ["debgu", "Debgu, my_app", " warnig "] {
            assert!(only_targets(misspelt), "{misspelt}");
        }
        for meant in [
            "debug",
            "info,hyper=warn",
            "my_app=debug",
            "off",
            "",
            "a[span]",
        ] {
            assert!(!only_targets(meant), "{meant}");
        }
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
}
