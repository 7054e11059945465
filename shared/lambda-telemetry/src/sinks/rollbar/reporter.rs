//! The Rollbar client: its settings, the items it makes from log events, and their delivery.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use reqwest::header::HeaderValue;
use serde_json::{Map, Value, json};

use super::item::{MAX_ITEM_BYTES, backtrace_frames, current_trace_id, frame_at, within_size};
use super::level::{self, Level, REPORT_TARGET};
use crate::config::{Config, SettingProblem, whole_number};
use crate::constants::{
    DEFAULT_ROLLBAR_ENDPOINT, DEFAULT_ROLLBAR_ENVIRONMENT, DEFAULT_ROLLBAR_MAX_ITEMS, REDACTED,
    ROLLBAR_ACCESS_TOKEN, ROLLBAR_ACCESS_TOKEN_SECRET_ARN, log_keys,
};
use crate::logs::hooks::LogEvent;
use crate::redact::{is_secret_name, redact_text};
use crate::secrets::{self, Credential, SecretFor};
use crate::sinks::loss::Counts;

/// The token's secret: its text, trimmed, is the header's value.
const TOKEN_SECRET: SecretFor<HeaderValue> = SecretFor {
    setting: ROLLBAR_ACCESS_TOKEN_SECRET_ARN,
    sink: "Rollbar reporting",
    parse: parse_token,
};

/// A token as the `X-Rollbar-Access-Token` header's value, marked sensitive; why not, never
/// quoting it.
fn parse_token(text: &str) -> Result<HeaderValue, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("it is empty".into());
    }
    let mut token =
        HeaderValue::from_str(text).map_err(|_| "it is not a valid header value".to_owned())?;
    token.set_sensitive(true);
    Ok(token)
}

/// Settings and queue of the Rollbar client.
#[derive(Debug)]
pub(crate) struct Reporter {
    /// `X-Rollbar-Access-Token`: given, or read from a secret.
    pub(super) token: Credential<HeaderValue>,
    endpoint: String,
    environment: String,
    code_version: String,
    /// Events at or above this level become items; `None`: events never do.
    event_level: Option<Level>,
    max_items: u64,
    scrub: Vec<String>,
    trace_link: Option<String>,
    /// `server` and the function's name: facts of the process, read once.
    server: Value,
    function_name: Option<String>,
    queue: Mutex<Vec<Value>>,
    queued_outside_invocations: AtomicU64,
    over_cap: AtomicU64,
    refused: Mutex<Vec<u16>>,
}

impl Reporter {
    /// From `config`'s Rollbar settings (the `ROLLBAR_*` variables, or set in code) and what
    /// Lambda says of the function; the reason when reporting is off.
    pub(super) fn from_settings(
        config: &Config,
        problems: &mut Vec<SettingProblem>,
    ) -> Result<Self, &'static str> {
        let settings = &config.rollbar;
        let token = Self::token(config, problems)?;
        let event_level = settings
            .level
            .resolve(
                |name, text| match text.trim().to_ascii_lowercase().as_str() {
                    "off" | "none" => Ok(None),
                    "critical" => Ok(Some(Level::Critical)),
                    "warning" | "warn" => Ok(Some(Level::Warning)),
                    "info" => Ok(Some(Level::Info)),
                    "debug" => Ok(Some(Level::Debug)),
                    "error" => Ok(Some(Level::Error)),
                    _ => Err(SettingProblem::new(
                        name,
                        "is not critical, error, warning, info, debug or off; using error",
                    )),
                },
                problems,
            )
            .unwrap_or(Some(Level::Error));
        let runtime = &config.runtime;
        let reporter = Self {
            token,
            endpoint: settings
                .endpoint
                .clone()
                .unwrap_or_else(|| DEFAULT_ROLLBAR_ENDPOINT.to_owned()),
            environment: settings
                .environment
                .clone()
                .unwrap_or_else(|| DEFAULT_ROLLBAR_ENVIRONMENT.to_owned()),
            // The commit the build came from (see build.rs), else the crate's version.
            code_version: settings.code_version.clone().unwrap_or_else(|| {
                option_env!("LAMBDA_TELEMETRY_GIT_COMMIT")
                    .unwrap_or(env!("CARGO_PKG_VERSION"))
                    .to_owned()
            }),
            event_level,
            max_items: settings
                .max_items
                .resolve(whole_number, problems)
                .unwrap_or(DEFAULT_ROLLBAR_MAX_ITEMS),
            scrub: settings.scrub_fields.clone(),
            trace_link: settings.trace_link.clone(),
            server: json!({
                "host": runtime.log_stream.clone().or_else(|| runtime.hostname.clone()).unwrap_or_default(),
                "root": runtime.task_root.clone().unwrap_or_else(|| {
                    std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default()
                }),
            }),
            function_name: config.function_name.clone(),
            queue: Mutex::new(Vec::new()),
            queued_outside_invocations: AtomicU64::new(0),
            over_cap: AtomicU64::new(0),
            refused: Mutex::new(Vec::new()),
        };
        Ok(reporter)
    }

    /// The token: from `ROLLBAR_ACCESS_TOKEN_SECRET_ARN`'s secret when it is set (and usable),
    /// else `ROLLBAR_ACCESS_TOKEN`; the reason reporting is off when neither gives one.
    fn token(
        config: &Config,
        problems: &mut Vec<SettingProblem>,
    ) -> Result<Credential<HeaderValue>, &'static str> {
        let settings = &config.rollbar;
        let given = settings.access_token.as_deref();
        if let Some(arn) = settings.access_token_secret_arn.as_deref() {
            let max_age = secrets::max_age(&config.secrets.max_age, problems);
            let instead = if given.is_some() {
                "ROLLBAR_ACCESS_TOKEN is used instead"
            } else {
                "Rollbar reporting is off"
            };
            match Credential::from_secret(TOKEN_SECRET, arn, max_age, instead) {
                Ok(secret) => {
                    if given.is_some() {
                        problems.push(SettingProblem::new(
                            ROLLBAR_ACCESS_TOKEN,
                            "is ignored: ROLLBAR_ACCESS_TOKEN_SECRET_ARN is set",
                        ));
                    }
                    return Ok(secret);
                }
                Err(problem) => problems.push(problem),
            }
        }
        let Some(token) = given else {
            return Err("Rollbar reporting is off: ROLLBAR_ACCESS_TOKEN is not set");
        };
        parse_token(token)
            .map(|token| Credential::Given(Arc::new(token)))
            .map_err(
                |_| "Rollbar reporting is off: ROLLBAR_ACCESS_TOKEN is not a valid header value",
            )
    }

    /// An item for a log event at or above the configured level; its uuid.
    pub(crate) fn capture(&self, event: &LogEvent<'_>) -> Option<String> {
        let field = |name: &str| {
            event
                .fields
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v)
        };
        let asked = event.target == REPORT_TARGET;
        let level = match field("rollbar_level") {
            Some(Value::String(l)) if l == "critical" => Level::Critical,
            _ => Level::of(event.level),
        };
        // While its token cannot be read, nothing would be sent: no item, no uuid on the line.
        if self.token.is_off() {
            return None;
        }
        // Its own delivery problems are not reported to itself.
        if !asked
            && (event.target.starts_with("lambda_telemetry::rollbar")
                || self.event_level.is_none_or(|min| level < min))
        {
            return None;
        }
        let panicked = event.target == "lambda_telemetry::panics";
        let body = match field(log_keys::ERROR) {
            Some(error) => {
                let message = error
                    .as_str()
                    .map_or_else(|| error.to_string(), str::to_owned);
                let mut frames = Vec::new();
                let location =
                    field(log_keys::PANIC_LOCATION).or_else(|| field(log_keys::ERROR_LOCATION));
                if let Some(Value::String(location)) = location {
                    frames.push(frame_at(location));
                } else if let Some(file) = event.file {
                    frames.push(json!({
                        "filename": file,
                        "lineno": event.line,
                        "method": event.module,
                    }));
                }
                if let Some(Value::String(backtrace)) = field(log_keys::BACKTRACE) {
                    frames.extend(backtrace_frames(backtrace));
                }
                // Rollbar lists frames oldest first; the failing one is the last.
                frames.reverse();
                json!({ "trace": {
                    "frames": frames,
                    "exception": {
                        "class": if panicked { "panic" } else { "Error" },
                        "message": message,
                        "description": event.message,
                    },
                }})
            }
            None => json!({ "message": { "body": event.message } }),
        };
        let mut custom = Map::new();
        for (key, value) in event.fields {
            let failure_keys = [
                log_keys::ERROR,
                log_keys::PANIC_LOCATION,
                log_keys::ERROR_LOCATION,
                log_keys::BACKTRACE,
            ];
            if !failure_keys.contains(key) {
                custom.insert((*key).to_owned(), value.clone());
            }
        }
        for (key, value) in event.context {
            custom.insert((*key).to_owned(), value.clone());
        }
        // As on the line: a field of the event wins over an added key of the same name.
        for (key, value) in event.keys {
            custom.entry(key.as_str()).or_insert_with(|| value.clone());
        }
        custom.remove("rollbar_level");
        let uuid = self.enqueue(level, body, custom, event.trace_id);
        if asked {
            level::hand_back(uuid.clone());
        }
        uuid
    }

    fn enqueue(
        &self,
        level: Level,
        body: Value,
        mut custom: Map<String, Value>,
        trace_id: Option<&str>,
    ) -> Option<String> {
        // Per invocation; reports made outside any invocation (in spawned tasks, at start)
        // share one count between flushes.
        let made = crate::invocation::scope::count_report().unwrap_or_else(|| {
            self.queued_outside_invocations
                .fetch_add(1, Ordering::Relaxed)
        });
        if made >= self.max_items {
            self.over_cap.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let uuid = uuid::Uuid::new_v4().to_string();
        let trace_id = trace_id.map(str::to_owned).or_else(current_trace_id);
        if let Some(trace_id) = &trace_id {
            custom.insert(log_keys::TRACE_ID.into(), trace_id.as_str().into());
        }
        if let Some(name) = &self.function_name {
            custom.insert(log_keys::FUNCTION_NAME.into(), name.as_str().into());
        }
        let xray = custom
            .get(log_keys::XRAY_TRACE_ID)
            .and_then(Value::as_str)
            .map(str::to_owned);
        if let Some(template) = &self.trace_link {
            let link = template
                .replace("{trace_id}", trace_id.as_deref().unwrap_or_default())
                .replace("{xray_trace_id}", xray.as_deref().unwrap_or_default());
            custom.insert("trace_link".into(), link.into());
        }
        let mut data = json!({
            "environment": self.environment,
            "body": body,
            "level": level.as_str(),
            "timestamp": SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
            "code_version": self.code_version,
            "platform": std::env::consts::OS,
            "language": "rust",
            "framework": "lambda_http",
            "uuid": uuid,
            "server": self.server,
            "custom": Value::Object(custom),
            "notifier": { "name": env!("CARGO_PKG_NAME"), "version": env!("CARGO_PKG_VERSION") },
        });
        if let (Some(request), Value::Object(data)) = (super::request::current(), &mut data) {
            data.extend(request);
        }
        self.scrub(&mut data);
        let mut item = json!({ "data": data });
        within_size(&mut item, MAX_ITEM_BYTES);
        if let Ok(mut queue) = self.queue.lock() {
            queue.push(item);
        }
        Some(uuid)
    }

    /// Masks secret-named keys anywhere in the item, and secrets in its text values.
    fn scrub(&self, value: &mut Value) {
        match value {
            Value::Object(map) => {
                for (key, value) in map.iter_mut() {
                    let lower = key.to_ascii_lowercase();
                    if is_secret_name(key) || self.scrub.iter().any(|f| lower.contains(f)) {
                        *value = Value::from(REDACTED);
                    } else {
                        self.scrub(value);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.scrub(v)),
            Value::String(text) => {
                if let std::borrow::Cow::Owned(masked) = redact_text(text) {
                    *text = masked;
                }
            }
            _ => {}
        }
    }

    /// Sends the queued items before `deadline`; what was lost.
    pub(crate) async fn flush(&self, deadline: Instant) -> Counts {
        // Even with nothing queued: an off token is read again, or nothing would turn it on.
        self.token.read_if_due(deadline);
        let items = self
            .queue
            .lock()
            .map(|mut q| std::mem::take(&mut *q))
            .unwrap_or_default();
        self.queued_outside_invocations.store(0, Ordering::Relaxed);
        let over_cap = self.over_cap.swap(0, Ordering::Relaxed);
        if items.is_empty() {
            return Counts {
                over_cap,
                ..Counts::default()
            };
        }
        let Some(token) = self.token.value_by(deadline).await else {
            // The secret's line said why it is off; items made while its first read was under
            // way and not done in time are lost like those of a slow Rollbar.
            let dropped = if self.token.is_off() {
                0
            } else {
                items.len() as u64
            };
            return Counts {
                dropped,
                over_cap,
                ..Counts::default()
            };
        };
        let client = crate::transport::shared_client();
        let sends = items.into_iter().map(|item| {
            let timeout = deadline.saturating_duration_since(Instant::now());
            client
                .post(&self.endpoint)
                .header("X-Rollbar-Access-Token", HeaderValue::clone(&token))
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(item.to_string())
                .timeout(timeout)
                .send()
        });
        let mut dropped = 0;
        for sent in futures_util::future::join_all(sends).await {
            match sent {
                Ok(response) if response.status().is_success() => {}
                Ok(response) => {
                    dropped += 1;
                    let status = response.status();
                    if matches!(status.as_u16(), 401 | 403) {
                        self.token.refused();
                    }
                    if status.is_client_error() && status.as_u16() != 429 {
                        self.report_refusal_once(status.as_u16());
                    }
                }
                Err(_) => dropped += 1,
            }
        }
        Counts {
            dropped,
            over_cap,
            ..Counts::default()
        }
    }

    fn report_refusal_once(&self, status: u16) {
        let first = self
            .refused
            .lock()
            .map(|mut seen| {
                let first = !seen.contains(&status);
                if first {
                    seen.push(status);
                }
                first
            })
            .unwrap_or(false);
        if first {
            tracing::error!(
                target: "lambda_telemetry::rollbar",
                status,
                "Rollbar refused an item; check ROLLBAR_ACCESS_TOKEN (reported once)"
            );
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::constants::{
        ROLLBAR_ACCESS_TOKEN, ROLLBAR_ENDPOINT, ROLLBAR_LEVEL, ROLLBAR_MAX_ITEMS,
        ROLLBAR_SCRUB_FIELDS,
    };
    use std::sync::Arc;

    fn reporter(settings: &[(&str, &str)]) -> Reporter {
        let (reporter, problems) = reporter_and_problems(settings);
        assert!(problems.is_empty(), "{problems:?}");
        reporter
    }

    /// The settings `settings` give, read as from the environment.
    pub(in crate::sinks::rollbar) fn config_of(settings: &[(&str, &str)]) -> Config {
        Config::from_lookup(&|name| {
            settings
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    fn reporter_and_problems(settings: &[(&str, &str)]) -> (Reporter, Vec<String>) {
        let mut all = vec![(ROLLBAR_ACCESS_TOKEN, "canary-token-9d")];
        all.extend_from_slice(settings);
        let mut problems = Vec::new();
        let reporter = Reporter::from_settings(&config_of(&all), &mut problems).unwrap();
        (reporter, problems.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn unusable_settings_are_said_by_name_and_never_by_value() {
        let (reporter, problems) =
            reporter_and_problems(&[(ROLLBAR_MAX_ITEMS, "ten-x9"), (ROLLBAR_LEVEL, "loud-x9")]);
        assert_eq!(reporter.max_items, DEFAULT_ROLLBAR_MAX_ITEMS);
        assert_eq!(reporter.event_level, Some(Level::Error));
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with(ROLLBAR_LEVEL), "{problems:?}");
        assert!(problems[1].starts_with(ROLLBAR_MAX_ITEMS), "{problems:?}");
        assert!(!problems.concat().contains("x9"), "{problems:?}");
    }

    fn event<'a>(
        level: tracing::Level,
        target: &'a str,
        fields: &'a [(&'static str, Value)],
    ) -> LogEvent<'a> {
        LogEvent {
            level,
            target,
            message: "something happened",
            fields,
            context: &[],
            keys: &[],
            trace_id: None,
            file: Some("src/handler.rs"),
            line: Some(7),
            module: Some("app::handler"),
        }
    }

    fn queued(reporter: &Reporter) -> Vec<Value> {
        reporter.queue.lock().unwrap().clone()
    }

    /// A token pasted where its secret's ARN goes is refused without being quoted, and the
    /// plain token, when there is one, is used; with both usable, the secret wins and the
    /// plain token is said to be ignored.
    #[test]
    fn a_token_secret_arn_wins_and_a_bad_one_falls_back_to_the_plain_token() {
        use crate::constants::ROLLBAR_ACCESS_TOKEN_SECRET_ARN;
        let (reporter, problems) =
            reporter_and_problems(&[(ROLLBAR_ACCESS_TOKEN_SECRET_ARN, "canary-pasted-token-4e")]);
        assert!(reporter.token.is_given());
        let [problem] = problems.as_slice() else {
            panic!("{problems:?}")
        };
        assert!(
            problem.starts_with("ROLLBAR_ACCESS_TOKEN_SECRET_ARN is not the ARN"),
            "{problem}"
        );
        assert!(
            problem.ends_with("ROLLBAR_ACCESS_TOKEN is used instead"),
            "{problem}"
        );
        assert!(!problem.contains("canary"), "{problem}");

        #[cfg(feature = "secrets")]
        {
            let arn = "arn:aws:ssm:us-east-1:123456789012:parameter/cruddur/rollbar-token";
            let (reporter, problems) =
                reporter_and_problems(&[(ROLLBAR_ACCESS_TOKEN_SECRET_ARN, arn)]);
            assert!(!reporter.token.is_given());
            assert_eq!(
                problems,
                ["ROLLBAR_ACCESS_TOKEN is ignored: ROLLBAR_ACCESS_TOKEN_SECRET_ARN is set"]
            );
        }
    }

    #[test]
    fn without_a_token_reporting_is_off_and_says_why() {
        let off = Reporter::from_settings(&config_of(&[]), &mut Vec::new()).unwrap_err();
        assert!(off.contains("ROLLBAR_ACCESS_TOKEN is not set"), "{off}");
        let bad = Reporter::from_settings(
            &config_of(&[(ROLLBAR_ACCESS_TOKEN, "line\nbreak")]),
            &mut Vec::new(),
        );
        assert!(bad.unwrap_err().contains("not a valid header value"));
    }

    #[test]
    fn a_panic_is_an_error_item_with_its_frame_and_no_secret_of_its_message() {
        let reporter = reporter(&[]);
        let fields = [
            (
                "error",
                json!("lookup failed: password=canary-pw-1 Authorization: Bearer canary-b-2"),
            ),
            ("panic_location", json!("functions/x/src/handler.rs:12:5")),
        ];
        let uuid = reporter
            .capture(&event(
                tracing::Level::ERROR,
                "lambda_telemetry::panics",
                &fields,
            ))
            .unwrap();
        let [item] = queued(&reporter).try_into().unwrap();
        let data = &item["data"];
        assert_eq!(data["uuid"], uuid.as_str());
        assert_eq!(data["level"], "error");
        let trace = &data["body"]["trace"];
        assert_eq!(trace["exception"]["class"], "panic");
        assert_eq!(trace["frames"][0]["lineno"], 12);
        let raw = item.to_string();
        assert!(raw.contains("lookup failed"), "{raw}");
        for canary in ["canary-pw", "canary-b", "canary-token"] {
            assert!(!raw.contains(canary), "{canary} reached the item: {raw}");
        }
    }

    /// Rollbar shows a frame's file and line (`filename`, `lineno`, `colno`): every frame of a
    /// backtrace std really captured keeps them through the item's masking.
    #[test]
    fn every_frame_of_a_real_backtrace_keeps_its_line_through_the_item() {
        let reporter = reporter(&[]);
        let backtrace = std::backtrace::Backtrace::force_capture().to_string();
        let located = backtrace
            .lines()
            .filter(|l| l.trim_start().starts_with("at "))
            .count();
        let fields = [
            ("error", json!("index out of range")),
            ("panic_location", json!("functions/x/src/auth.rs:12:5")),
            ("backtrace", json!(backtrace)),
        ];
        reporter.capture(&event(
            tracing::Level::ERROR,
            "lambda_telemetry::panics",
            &fields,
        ));
        let [item] = queued(&reporter).try_into().unwrap();
        let frames = item["data"]["body"]["trace"]["frames"].as_array().unwrap();
        let with_lines: Vec<&Value> = frames.iter().filter(|f| f["lineno"].is_u64()).collect();
        assert!(located >= 3, "{backtrace}");
        assert_eq!(with_lines.len(), located + 1, "{frames:#?}");
        for frame in with_lines {
            let file = frame["filename"].as_str().unwrap();
            // The C library's assembly frames (`clone3.S:81`) have no column.
            assert!(!file.ends_with(".rs") || frame["colno"].is_u64(), "{frame}");
        }
        let last = frames.last().unwrap();
        assert_eq!(
            (&last["filename"], &last["lineno"]),
            (&json!("functions/x/src/auth.rs"), &json!(12)),
            "the failing frame is the last"
        );
    }

    #[test]
    fn a_loop_of_errors_is_capped_per_invocation_and_the_flush_starts_afresh() {
        let reporter = reporter(&[
            (ROLLBAR_MAX_ITEMS, "3"),
            (ROLLBAR_ENDPOINT, "http://127.0.0.1:1/api/1/item/"),
        ]);
        let error = event(tracing::Level::ERROR, "app", &[]);
        let uuids: Vec<_> = (0..10).map(|_| reporter.capture(&error)).collect();
        assert_eq!(uuids.iter().filter(|u| u.is_some()).count(), 3);
        assert_eq!(queued(&reporter).len(), 3);
        let runtime = crate::logs::testing::current_thread_runtime();
        let deadline = Instant::now() + std::time::Duration::from_millis(200);
        let lost = runtime.block_on(reporter.flush(deadline));
        assert_eq!(
            lost,
            Counts {
                dropped: 3,
                over_cap: 7,
                ..Counts::default()
            }
        );
        // The next invocation may report again.
        assert!(reporter.capture(&error).is_some());
    }

    /// `ROLLBAR_MAX_ITEMS` is a cap per invocation: eight invocations at once, each making
    /// two items under a cap of two, queue all sixteen; a third item of one invocation is over
    /// its cap, and only that one is counted.
    #[test]
    fn the_cap_holds_per_invocation_with_eight_at_once() {
        use crate::invocation::InvocationLayer;
        use tower::{Layer as _, ServiceExt as _};

        let reporter = Arc::new(reporter(&[
            (ROLLBAR_MAX_ITEMS, "2"),
            (ROLLBAR_ENDPOINT, "http://127.0.0.1:1/api/1/item/"),
        ]));
        let gate = Arc::new(tokio::sync::Barrier::new(8));
        let handler = |items: usize| {
            let reporter = Arc::clone(&reporter);
            let gate = Arc::clone(&gate);
            tower::service_fn(move |_: lambda_http::Request| {
                let reporter = Arc::clone(&reporter);
                let gate = Arc::clone(&gate);
                async move {
                    let error = event(tracing::Level::ERROR, "app", &[]);
                    reporter.capture(&error);
                    // Every invocation has made one item before any makes its second.
                    gate.wait().await;
                    for _ in 1..items {
                        reporter.capture(&error);
                    }
                    Ok::<_, crate::Error>("ok")
                }
            })
        };
        let runtime = crate::logs::testing::current_thread_runtime();
        // Under a subscriber, as every test that makes spans: tracing caches whether a
        // callsite is wanted across the threads' subscribers, and a test without one could
        // turn another test's spans off.
        crate::logs::testing::capture(crate::config::LogFormat::Json, || {
            runtime.block_on(async {
                let layer = InvocationLayer::default();
                let invocations = (0..8).map(|i| {
                    let items = if i == 0 { 3 } else { 2 };
                    layer
                        .layer(handler(items))
                        .oneshot(crate::invocation::tests::event())
                });
                for answer in futures_util::future::join_all(invocations).await {
                    assert_eq!(answer.unwrap().status(), 200);
                }
            })
        });
        assert_eq!(queued(&reporter).len(), 16);
        let deadline = Instant::now() + std::time::Duration::from_millis(100);
        let lost = runtime.block_on(reporter.flush(deadline));
        assert_eq!(lost.over_cap, 1);
    }

    /// The lines `serve` logs at INFO with `config`, given a current-thread runtime (the test's
    /// subscriber is the thread's), with `reporter` as the log layer's hook.
    fn capture_reported(
        reporter: &Arc<Reporter>,
        config: Config,
        serve: impl FnOnce(&tokio::runtime::Runtime),
    ) -> Vec<String> {
        let runtime = crate::logs::testing::current_thread_runtime();
        let hooks = crate::logs::hooks::EventHooks::new(vec![
            Arc::clone(reporter) as Arc<dyn crate::logs::hooks::EventHook>
        ]);
        crate::logs::testing::capture_hooked(
            config,
            tracing_subscriber::filter::LevelFilter::INFO,
            hooks,
            || serve(&runtime),
        )
    }

    /// An item carries what its line carries: the tenant Lambda handed the invocation and the
    /// keys its handler added (`append_keys`, masked), a field of the event winning over an
    /// added key of the same name; two invocations at once never carry each other's.
    #[test]
    fn an_item_carries_its_invocations_tenant_and_added_keys() {
        use crate::invocation::InvocationLayer;
        use lambda_http::RequestExt as _;
        use tower::{Layer as _, ServiceExt as _};

        let reporter = Arc::new(reporter(&[(
            ROLLBAR_ENDPOINT,
            "http://127.0.0.1:1/api/1/item/",
        )]));
        let handler = tower::service_fn(|request: lambda_http::Request| async move {
            let me = request.lambda_context().request_id;
            crate::append_keys([
                ("order", me),
                ("session_token", "tok-x9".to_owned()),
                ("handle", "added".to_owned()),
            ]);
            tokio::task::yield_now().await;
            tracing::error!(handle = "from the event", "failed");
            Ok::<_, crate::failure::BoxError>("ok")
        });
        let request = |id: &str| {
            let mut context = lambda_http::Context::default();
            context.request_id = id.into();
            context.tenant_id = Some(format!("tenant-of-{id}"));
            crate::invocation::tests::event().with_lambda_context(context)
        };
        capture_reported(
            &reporter,
            crate::logs::testing::config(crate::config::LogFormat::Json),
            |runtime| {
                runtime.block_on(async {
                    let layer = InvocationLayer::default();
                    let (a, b) = tokio::join!(
                        layer.layer(handler).oneshot(request("req-a")),
                        layer.layer(handler).oneshot(request("req-b")),
                    );
                    assert_eq!(a.unwrap().status(), 200);
                    assert_eq!(b.unwrap().status(), 200);
                })
            },
        );
        let items = queued(&reporter);
        assert_eq!(items.len(), 2);
        for item in &items {
            let custom = &item["data"]["custom"];
            let id = custom["function_request_id"].as_str().unwrap();
            assert_eq!(custom["order"], id, "{custom:#}");
            assert_eq!(custom["tenant_id"], format!("tenant-of-{id}"), "{custom:#}");
            assert_eq!(custom["session_token"], REDACTED, "{custom:#}");
            assert_eq!(custom["handle"], "from the event", "{custom:#}");
        }
        assert!(!items.iter().any(|item| item.to_string().contains("tok-x9")));
    }

    /// A line a Rollbar item names by its `rollbar_uuid` is written, never held by log
    /// buffering: the item is sent whether the invocation fails or not, and the line is how
    /// one finds the other.
    #[test]
    fn a_reported_line_is_written_though_its_level_is_buffered() {
        use crate::invocation::InvocationLayer;
        use tower::{Layer as _, ServiceExt as _};

        let reporter = Arc::new(reporter(&[
            (ROLLBAR_ENDPOINT, "http://127.0.0.1:1/api/1/item/"),
            (ROLLBAR_LEVEL, "warning"),
        ]));
        let handler = tower::service_fn(|_: lambda_http::Request| async {
            tracing::warn!("reported, and written");
            tracing::info!("held and dropped");
            Ok::<_, crate::failure::BoxError>("ok")
        });
        let config = crate::logs::testing::config(crate::config::LogFormat::Json)
            .with_log_buffer(crate::LogBuffer::at(tracing::Level::WARN));
        let layer = InvocationLayer::from_config(&config);
        let lines = capture_reported(&reporter, config, |runtime| {
            let answer = runtime.block_on(
                layer
                    .layer(handler)
                    .oneshot(crate::invocation::tests::event()),
            );
            assert_eq!(answer.unwrap().status(), 200);
        });
        let items = queued(&reporter);
        assert_eq!(items.len(), 1);
        let uuid = items[0]["data"]["uuid"].as_str().unwrap();
        let lines: Vec<Value> = lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let reported: Vec<&Value> = lines
            .iter()
            .filter(|l| l["message"] == "reported, and written")
            .collect();
        assert_eq!(reported.len(), 1, "{lines:#?}");
        assert_eq!(reported[0]["rollbar_uuid"], uuid);
        assert!(
            !lines.iter().any(|l| l["message"] == "held and dropped"),
            "{lines:#?}"
        );
    }

    /// What a handler reports before it returns its future (in `Service::call`) belongs to its
    /// invocation and counts against that invocation's cap.
    #[test]
    fn reports_made_before_the_handlers_future_count_for_its_invocation() {
        use crate::invocation::InvocationLayer;
        use tower::{Layer as _, ServiceExt as _};

        #[derive(Clone)]
        struct ReportsFirst(Arc<Reporter>);
        impl tower::Service<lambda_http::Request> for ReportsFirst {
            type Response = &'static str;
            type Error = crate::Error;
            type Future = std::future::Ready<Result<&'static str, crate::Error>>;
            fn poll_ready(
                &mut self,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<Result<(), crate::Error>> {
                std::task::Poll::Ready(Ok(()))
            }
            fn call(&mut self, _: lambda_http::Request) -> Self::Future {
                let error = event(tracing::Level::ERROR, "app", &[]);
                for _ in 0..3 {
                    self.0.capture(&error);
                }
                std::future::ready(Ok("ok"))
            }
        }

        let reporter = Arc::new(reporter(&[
            (ROLLBAR_MAX_ITEMS, "2"),
            (ROLLBAR_ENDPOINT, "http://127.0.0.1:1/api/1/item/"),
        ]));
        let runtime = crate::logs::testing::current_thread_runtime();
        crate::logs::testing::capture(crate::config::LogFormat::Json, || {
            let answer = runtime.block_on(
                InvocationLayer::default()
                    .layer(ReportsFirst(Arc::clone(&reporter)))
                    .oneshot(crate::invocation::tests::event()),
            );
            assert_eq!(answer.unwrap().status(), 200);
        });
        assert_eq!(queued(&reporter).len(), 2);
        // Counted inside the invocation: the count outside invocations is untouched.
        assert_eq!(
            reporter.queued_outside_invocations.load(Ordering::Relaxed),
            0
        );
    }

    #[test]
    fn configured_fields_are_scrubbed_as_well_as_the_default_ones() {
        let reporter = reporter(&[(ROLLBAR_SCRUB_FIELDS, " SSN, card_number ")]);
        let fields = [
            ("ssn", json!("canary-ssn-3")),
            ("Card_Number_Last4", json!("canary-card-4")),
            ("api_token", json!("canary-api-5")),
            ("handle", json!("andrewbrown")),
        ];
        reporter.capture(&event(tracing::Level::ERROR, "app", &fields));
        let custom = &queued(&reporter)[0]["data"]["custom"];
        assert_eq!(custom["handle"], "andrewbrown");
        for key in ["ssn", "Card_Number_Last4", "api_token"] {
            assert_eq!(custom[key], REDACTED, "{custom:#}");
        }
    }

    #[test]
    fn the_level_decides_which_events_are_items_and_off_leaves_only_report_message() {
        let warning = event(tracing::Level::WARN, "app", &[]);
        let error = event(tracing::Level::ERROR, "app", &[]);
        let asked = event(tracing::Level::INFO, REPORT_TARGET, &[]);

        let default = reporter(&[]);
        assert!(default.capture(&warning).is_none());
        assert!(default.capture(&error).is_some());

        let warn = reporter(&[(ROLLBAR_LEVEL, "Warning")]);
        assert!(warn.capture(&warning).is_some());

        let off = reporter(&[(ROLLBAR_LEVEL, "off")]);
        assert!(off.capture(&error).is_none());
        assert!(off.capture(&asked).is_some());
        assert_eq!(queued(&off)[0]["data"]["level"], "info");
    }

    fn serialized_len(item: &Value) -> usize {
        serde_json::to_vec(item).unwrap().len()
    }

    /// Rollbar's API refuses an item over its size limit (pyrollbar truncates to 512 KiB):
    /// the error would be lost. Whatever makes an item large, it is cut to fit and still says
    /// what failed and in which trace.

    #[test]
    fn a_large_event_through_capture_is_queued_within_the_limit() {
        let reporter = reporter(&[]);
        let big = "x".repeat(2_000_000);
        let fields = [
            ("error", json!("database unreachable")),
            ("dump", json!(big)),
        ];
        let mut report = event(tracing::Level::ERROR, "app", &fields);
        report.trace_id = Some("4bf92f3577b34da6a3ce929d0e0e4736");
        reporter.capture(&report).unwrap();
        let [item] = queued(&reporter).try_into().unwrap();
        assert!(serialized_len(&item) <= MAX_ITEM_BYTES);
        assert_eq!(
            item["data"]["body"]["trace"]["exception"]["message"],
            "database unreachable"
        );
        assert_eq!(
            item["data"]["custom"]["trace_id"],
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
    }
}
