//! Settings: every one read once, from the environment, into [`Config`]; each can be given in
//! code with a `with_*` method, which wins.
//!
//! The precedence, per setting, is opentelemetry-otlp's: the value given in code, then the
//! signal's variable (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), then the generic one
//! (`OTEL_EXPORTER_OTLP_ENDPOINT`), then the default. A blank variable counts as unset. A
//! value that cannot be used is a [`SettingProblem`], said once at start by the part that
//! reads it, which then uses the default.

mod groups;
mod problem;

use std::env;
use std::net::SocketAddr;
use std::time::Duration;

#[cfg(feature = "rollbar")]
pub(crate) use groups::RollbarSettings;
pub(crate) use groups::{
    CloudwatchSettings, FlushSettings, LogBufferSettings, Lookup, MetricsSettings, OtlpSettings,
    RuntimeSettings, SecretsSettings, TraceSettings, XraySettings,
};
pub use problem::SettingProblem;
pub(crate) use problem::{Setting, flag, whole_number, yes_or_no};

use crate::constants::{
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE, AWS_LAMBDA_FUNCTION_NAME, AWS_LAMBDA_LOG_FORMAT,
    AWS_LAMBDA_LOG_LEVEL, AWS_SAM_LOCAL, DEFAULT_LOG_LEVEL, DEFAULT_SERVICE_NAME, LAMBDA_TASK_ROOT,
    OTEL_SERVICE_NAME, POWERTOOLS_LOG_LEVEL, POWERTOOLS_LOGGER_SAMPLE_RATE,
    POWERTOOLS_SERVICE_NAME, RUST_LOG,
};

/// How a log line looks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line, for CloudWatch Logs Insights and Lambda's JSON log format.
    #[default]
    Json,
    /// One readable line per event, for people at a terminal: time, level, request id,
    /// message, the event's fields and the trace id (see the `logs` module). A value of
    /// several lines (a backtrace) follows on indented lines.
    Text,
}

/// How OTLP metric data points add up over time
/// (`OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Temporality {
    /// Each export carries what was recorded since the previous export, and nothing is sent
    /// twice. The default here (the specification's is cumulative): Lambda may freeze or end
    /// an execution environment at any time, and a delta point stands on its own.
    #[default]
    Delta,
    /// Each export carries every series' running total since its first value, kept in the
    /// process (a new execution environment starts them again).
    Cumulative,
}

impl Temporality {
    /// `delta`, `cumulative` or `lowmemory` (any case); `lowmemory` is the specification's
    /// "delta for counters and histograms", which for the `metrics` facade's instruments is
    /// delta. Anything else is a problem that names the setting, never the value.
    pub(crate) fn parse(setting: &'static str, text: &str) -> Result<Self, SettingProblem> {
        match text.trim().to_ascii_lowercase().as_str() {
            "delta" | "lowmemory" => Ok(Self::Delta),
            "cumulative" => Ok(Self::Cumulative),
            _ => Err(SettingProblem::new(
                setting,
                "is not delta, cumulative or lowmemory; using delta",
            )),
        }
    }
}

/// What [`Config::init`] sets up. Built from the environment, changed with `with_*` methods;
/// a setting given in code wins over the environment (see the README, "Settings", for each
/// setting's variables and default).
///
/// ```
/// use std::time::Duration;
/// use lambda_telemetry::{Config, LogFormat};
///
/// let config = Config::from_env()
///     .with_service_name("cruddur")
///     .with_log_format(LogFormat::Text)
///     .with_exporters("otlp,xray")
///     .with_otlp_endpoint("http://127.0.0.1:4318/v1/traces")
///     .with_flush_budget(Duration::from_millis(200));
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    pub(crate) service_name: String,
    pub(crate) log_filter: String,
    /// `POWERTOOLS_LOGGER_SAMPLE_RATE`, or given in code.
    pub(crate) log_sample_rate: Setting<f64>,
    /// Log buffering's settings, or the buffering given in code.
    pub(crate) log_buffer: LogBufferSettings,
    /// The first of `AWS_LAMBDA_LOG_LEVEL` and `POWERTOOLS_LOG_LEVEL` set to something that is
    /// not a level: said at start, as the log filter's problem.
    pub(crate) unreadable_log_level: Option<&'static str>,
    /// `AWS_LAMBDA_LOG_LEVEL` (Lambda's advanced logging controls) when it is a level: Lambda
    /// drops the JSON lines below it, held lines flushed too.
    pub(crate) lambda_log_level: Option<tracing::Level>,
    pub(crate) log_format: LogFormat,
    pub(crate) function_name: Option<String>,
    pub(crate) function_memory_size: Option<u32>,
    pub(crate) route: Option<String>,
    /// Running in Lambda itself, where every stdout line becomes a CloudWatch Logs event:
    /// `LAMBDA_TASK_ROOT` set, and not by SAM CLI's emulator (`AWS_SAM_LOCAL`), whose output
    /// goes to a terminal. Decides how a text line breaks (see `logs`).
    pub(crate) in_lambda: bool,
    /// Exporters, propagators, sampler.
    pub(crate) traces: TraceSettings,
    /// The flush budget and the flush at shutdown.
    pub(crate) flush: FlushSettings,
    /// The OTLP exporter's.
    pub(crate) otlp: OtlpSettings,
    /// The X-Ray exporter's.
    pub(crate) xray: XraySettings,
    /// How long values read from secrets are kept.
    pub(crate) secrets: SecretsSettings,
    /// Rollbar's.
    #[cfg(feature = "rollbar")]
    pub(crate) rollbar: RollbarSettings,
    /// CloudWatch Logs shipping's.
    pub(crate) cloudwatch: CloudwatchSettings,
    /// The metrics' exporters, namespace and built-ins.
    pub(crate) metrics: MetricsSettings,
    /// The Runtime API's, and what Lambda says of the function.
    pub(crate) runtime: RuntimeSettings,
}

/// The process environment as a [`Lookup`]: `None` when unset or blank, so that an empty
/// variable (a template's empty parameter) means the default everywhere. The one place the
/// crate reads its settings from the environment.
fn setting(name: &str) -> Option<String> {
    env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Config {
    /// Reads every setting from the environment, once: `OTEL_SERVICE_NAME`,
    /// `AWS_LAMBDA_LOG_LEVEL`, `RUST_LOG`, `AWS_LAMBDA_LOG_FORMAT`, the exporters' and sinks'
    /// variables, and what Lambda sets (see [`constants`](crate::constants)).
    pub fn from_env() -> Self {
        Self::from_lookup(&setting)
    }

    /// Reads every setting with `lookup` instead of the environment: tests hand it a map.
    pub(crate) fn from_lookup(lookup: Lookup<'_>) -> Self {
        // Blank is unset, whatever the lookup.
        let var = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let function_name = var(AWS_LAMBDA_FUNCTION_NAME);
        Self {
            service_name: var(OTEL_SERVICE_NAME)
                .or_else(|| var(POWERTOOLS_SERVICE_NAME))
                .or_else(|| function_name.clone())
                .unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_owned()),
            log_filter: var(AWS_LAMBDA_LOG_LEVEL)
                .and_then(|level| lambda_level_directive(&level))
                .or_else(|| var(RUST_LOG))
                .or_else(|| {
                    var(POWERTOOLS_LOG_LEVEL).and_then(|level| lambda_level_directive(&level))
                })
                .unwrap_or_else(|| DEFAULT_LOG_LEVEL.to_owned()),
            log_sample_rate: Setting::read(&[POWERTOOLS_LOGGER_SAMPLE_RATE], &var),
            log_buffer: LogBufferSettings::from_lookup(&var),
            unreadable_log_level: [AWS_LAMBDA_LOG_LEVEL, POWERTOOLS_LOG_LEVEL]
                .into_iter()
                .find(|name| {
                    var(name).is_some_and(|level| lambda_level_directive(&level).is_none())
                }),
            lambda_log_level: var(AWS_LAMBDA_LOG_LEVEL)
                .and_then(|level| lambda_level_directive(&level))
                .and_then(|level| level.parse().ok()),
            log_format: match var(AWS_LAMBDA_LOG_FORMAT) {
                Some(format) if format.trim().eq_ignore_ascii_case("text") => LogFormat::Text,
                _ => LogFormat::Json,
            },
            function_memory_size: var(AWS_LAMBDA_FUNCTION_MEMORY_SIZE)
                .and_then(|m| m.trim().parse().ok()),
            function_name,
            route: None,
            in_lambda: var(LAMBDA_TASK_ROOT).is_some()
                && !var(AWS_SAM_LOCAL).is_some_and(|v| v.trim().eq_ignore_ascii_case("true")),
            traces: TraceSettings::from_lookup(&var),
            flush: FlushSettings::from_lookup(&var),
            otlp: OtlpSettings::from_lookup(&var),
            xray: XraySettings::from_lookup(&var),
            secrets: SecretsSettings::from_lookup(&var),
            #[cfg(feature = "rollbar")]
            rollbar: RollbarSettings::from_lookup(&var),
            cloudwatch: CloudwatchSettings::from_lookup(&var),
            metrics: MetricsSettings::from_lookup(&var),
            runtime: RuntimeSettings::from_lookup(&var),
        }
    }

    /// The `service` on every log line and the spans' `service.name`
    /// (`OTEL_SERVICE_NAME`, else the function's name).
    pub fn with_service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = name.into();
        self
    }

    /// A level (`debug`) or `tracing-subscriber` filter directives (`info,hyper=warn`)
    /// (`AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`).
    pub fn with_log_filter(mut self, directives: impl Into<String>) -> Self {
        self.log_filter = directives.into();
        self
    }

    /// The share of invocations, 0.0 to 1.0, that log at DEBUG whatever the log level
    /// (`POWERTOOLS_LOGGER_SAMPLE_RATE`): decided once per invocation, from its trace id, so a
    /// sampled trace is sampled whole.
    pub fn with_log_sample_rate(mut self, rate: f64) -> Self {
        self.log_sample_rate = Setting::Code(rate);
        self
    }

    /// The debug sample rate in force, 0 when unset; one that is not a number from 0 to 1 is
    /// `problems`' and 0.
    pub(crate) fn debug_sample_rate(&self, problems: &mut Vec<SettingProblem>) -> f64 {
        self.log_sample_rate
            .resolve(
                |name, text| match text.trim().parse::<f64>() {
                    Ok(rate) if (0.0..=1.0).contains(&rate) => Ok(rate),
                    _ => Err(SettingProblem::new(
                        name,
                        "is not a number from 0 to 1; no invocation is sampled at DEBUG",
                    )),
                },
                problems,
            )
            .filter(|rate| (0.0..=1.0).contains(rate))
            .unwrap_or(0.0)
    }

    /// Holds each invocation's lines at or below a level and writes them only when it goes
    /// wrong (see [`LogBuffer`](crate::LogBuffer)); `None` turns buffering off whatever the
    /// environment says (`LAMBDA_TELEMETRY_LOG_BUFFER` and its two companions).
    pub fn with_log_buffer(mut self, buffer: impl Into<Option<crate::LogBuffer>>) -> Self {
        self.log_buffer.code = Some(buffer.into());
        self
    }

    /// The log buffering in force, `None` when off; a value that cannot be used is
    /// `problems'` (a level that is not one turns buffering off, a bad size or flag is the
    /// default's).
    pub(crate) fn log_buffer(
        &self,
        problems: &mut Vec<SettingProblem>,
    ) -> Option<crate::LogBuffer> {
        use crate::constants::LAMBDA_TELEMETRY_LOG_BUFFER;
        use tracing::Level;
        let settings = &self.log_buffer;
        if let Some(code) = settings.code {
            return code;
        }
        let level = match settings
            .level
            .as_deref()?
            .trim()
            .to_ascii_lowercase()
            .as_str()
        {
            "off" | "false" | "no" | "0" => return None,
            "on" | "true" | "yes" | "1" | "debug" => Level::DEBUG,
            "trace" => Level::TRACE,
            "info" => Level::INFO,
            "warn" | "warning" => Level::WARN,
            _ => {
                problems.push(SettingProblem::new(
                    LAMBDA_TELEMETRY_LOG_BUFFER,
                    "is not off, on, trace, debug, info or warn (ERROR lines are what flush the \
                     buffer, never held); log lines are not buffered",
                ));
                return None;
            }
        };
        let mut buffer = crate::LogBuffer::at(level);
        let max_bytes = settings.max_bytes.resolve(
            |name, text| match text.trim().parse() {
                Ok(0) | Err(_) => Err(SettingProblem::new(
                    name,
                    "is not a whole number of bytes above 0; using 20480",
                )),
                Ok(bytes) => Ok(bytes),
            },
            problems,
        );
        if let Some(bytes) = max_bytes {
            buffer = buffer.max_bytes(usize::try_from(bytes).unwrap_or(usize::MAX));
        }
        if let Some(flush) = settings.flush_on_error_log.resolve(yes_or_no, problems) {
            buffer = buffer.flush_on_error_log(flush);
        }
        Some(buffer)
    }

    /// The route template the function serves, for events that name none (function URLs,
    /// `cargo lambda watch`): see [`InvocationLayer::with_route`](crate::InvocationLayer::with_route).
    pub fn with_route(mut self, route: impl Into<String>) -> Self {
        self.route = Some(route.into());
        self
    }

    /// JSON or text lines (`AWS_LAMBDA_LOG_FORMAT`).
    pub fn with_log_format(mut self, format: LogFormat) -> Self {
        self.log_format = format;
        self
    }

    /// Where spans go, a list as `OTEL_TRACES_EXPORTER` takes it: `otlp`, `xray`, `console`,
    /// `none`.
    pub fn with_exporters(mut self, exporters: impl Into<String>) -> Self {
        self.traces.exporters = Some(exporters.into());
        self
    }

    /// Which incoming trace headers may choose an invocation's parent, a list as
    /// `OTEL_PROPAGATORS` takes it: `tracecontext`, `baggage`, `xray`, `xray-lambda`, `none`.
    pub fn with_propagators(mut self, propagators: impl Into<String>) -> Self {
        self.traces.propagators = Some(propagators.into());
        self
    }

    /// OTLP's sampler (`OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`). X-Ray follows
    /// Lambda's `Sampled` flag whatever it is.
    pub fn with_sampler(mut self, sampler: opentelemetry_sdk::trace::Sampler) -> Self {
        self.traces.sampler = Some(sampler);
        self
    }

    /// How long the flush after each invocation may take (`LAMBDA_TELEMETRY_FLUSH_BUDGET_MS`).
    pub fn with_flush_budget(mut self, budget: Duration) -> Self {
        self.flush.budget = Setting::Code(budget);
        self
    }

    /// Whether to register the no-op extension that has Lambda send SIGTERM, for one more
    /// flush at shutdown (`LAMBDA_TELEMETRY_SHUTDOWN_FLUSH`).
    pub fn with_shutdown_flush(mut self, on: bool) -> Self {
        self.flush.at_shutdown = on;
        self
    }

    /// The URL OTLP traces are posted to, used as it is (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`,
    /// else `OTEL_EXPORTER_OTLP_ENDPOINT` with `/v1/traces`).
    pub fn with_otlp_endpoint(mut self, url: impl Into<String>) -> Self {
        self.otlp.traces_endpoint = Some(url.into());
        self
    }

    /// A header on every OTLP request, traces and metrics; it wins over one of the same name
    /// in `OTEL_EXPORTER_OTLP_{TRACES,METRICS}_HEADERS` or `OTEL_EXPORTER_OTLP_HEADERS`.
    /// It is never logged.
    pub fn with_otlp_header(mut self, name: http::HeaderName, value: http::HeaderValue) -> Self {
        self.otlp.code_headers.push((name, value));
        self
    }

    /// How long one OTLP trace request may take (`OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`, else
    /// `OTEL_EXPORTER_OTLP_TIMEOUT`).
    pub fn with_otlp_timeout(mut self, timeout: Duration) -> Self {
        self.otlp.timeout = Setting::Code(timeout);
        self
    }

    /// Whether OTLP trace bodies are gzipped (`OTEL_EXPORTER_OTLP_TRACES_COMPRESSION`, else
    /// `OTEL_EXPORTER_OTLP_COMPRESSION`).
    pub fn with_otlp_gzip(mut self, gzip: bool) -> Self {
        self.otlp.gzip = Setting::Code(gzip);
        self
    }

    /// The URL OTLP metrics are posted to, used as it is
    /// (`OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`, else `OTEL_EXPORTER_OTLP_ENDPOINT` with
    /// `/v1/metrics`). Metrics go over OTLP when `otlp` is one of the metrics exporters
    /// ([`with_metrics_exporters`](Self::with_metrics_exporters)).
    pub fn with_otlp_metrics_endpoint(mut self, url: impl Into<String>) -> Self {
        self.otlp.metrics_endpoint = Some(url.into());
        self
    }

    /// How long one OTLP metrics request may take (`OTEL_EXPORTER_OTLP_METRICS_TIMEOUT`, else
    /// `OTEL_EXPORTER_OTLP_TIMEOUT`).
    pub fn with_otlp_metrics_timeout(mut self, timeout: Duration) -> Self {
        self.otlp.metrics_timeout = Setting::Code(timeout);
        self
    }

    /// Whether OTLP metrics bodies are gzipped (`OTEL_EXPORTER_OTLP_METRICS_COMPRESSION`, else
    /// `OTEL_EXPORTER_OTLP_COMPRESSION`).
    pub fn with_otlp_metrics_gzip(mut self, gzip: bool) -> Self {
        self.otlp.metrics_gzip = Setting::Code(gzip);
        self
    }

    /// Delta (the default) or cumulative OTLP metric points
    /// (`OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`).
    pub fn with_otlp_metrics_temporality(mut self, temporality: Temporality) -> Self {
        self.otlp.temporality = Setting::Code(temporality);
        self
    }

    /// The X-Ray daemon's UDP address (`AWS_XRAY_DAEMON_ADDRESS`).
    pub fn with_xray_daemon_address(mut self, address: SocketAddr) -> Self {
        self.xray.daemon = Setting::Code(address);
        self
    }

    /// The Runtime API's `host:port` (`AWS_LAMBDA_RUNTIME_API`, which Lambda sets).
    pub fn with_runtime_api(mut self, address: impl Into<String>) -> Self {
        self.runtime.api = Some(address.into());
        self
    }

    /// How many invocations one process serves at once (`AWS_LAMBDA_MAX_CONCURRENCY`, which
    /// Lambda Managed Instances set); 0 is one.
    pub fn with_max_concurrency(mut self, invocations: usize) -> Self {
        self.runtime.max_concurrency = Setting::Code(invocations.max(1));
        self
    }
}

/// Rollbar's settings (feature `rollbar`).
#[cfg(feature = "rollbar")]
impl Config {
    /// Rollbar's `post_server_item` token (`ROLLBAR_ACCESS_TOKEN`); without one, reporting is
    /// off.
    pub fn with_rollbar_access_token(mut self, token: impl Into<String>) -> Self {
        self.rollbar.access_token = Some(token.into());
        self
    }

    /// Where items are posted (`ROLLBAR_ENDPOINT`).
    pub fn with_rollbar_endpoint(mut self, url: impl Into<String>) -> Self {
        self.rollbar.endpoint = Some(url.into());
        self
    }

    /// The items' `environment` (`ROLLBAR_ENVIRONMENT`).
    pub fn with_rollbar_environment(mut self, environment: impl Into<String>) -> Self {
        self.rollbar.environment = Some(environment.into());
        self
    }

    /// The items' `code_version` (`ROLLBAR_CODE_VERSION`).
    pub fn with_rollbar_code_version(mut self, version: impl Into<String>) -> Self {
        self.rollbar.code_version = Some(version.into());
        self
    }

    /// The lowest level of `tracing` events reported; `None` leaves only `report_message`
    /// (`ROLLBAR_LEVEL`).
    pub fn with_rollbar_level(mut self, level: Option<crate::rollbar::Level>) -> Self {
        self.rollbar.level = Setting::Code(level);
        self
    }

    /// Items sent per invocation at most (`ROLLBAR_MAX_ITEMS`).
    pub fn with_rollbar_max_items(mut self, items: u64) -> Self {
        self.rollbar.max_items = Setting::Code(items);
        self
    }

    /// Extra field names to scrub from items, matched case-insensitively
    /// (`ROLLBAR_SCRUB_FIELDS`).
    pub fn with_rollbar_scrub_fields<I, S>(mut self, fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.rollbar.scrub_fields = fields
            .into_iter()
            .map(|f| f.as_ref().trim().to_ascii_lowercase())
            .filter(|f| !f.is_empty())
            .collect();
        self
    }

    /// The link to the trace in each item's `custom.trace_link`, with `{trace_id}` and
    /// `{xray_trace_id}` replaced (`LAMBDA_TELEMETRY_TRACE_LINK`).
    pub fn with_trace_link(mut self, template: impl Into<String>) -> Self {
        self.rollbar.trace_link = Some(template.into());
        self
    }
}

/// Keys read from AWS Secrets Manager or SSM Parameter Store (feature `secrets`).
#[cfg(feature = "secrets")]
impl Config {
    /// The ARN of a Secrets Manager secret or an SSM parameter holding more OTLP headers,
    /// `name=value,...` as `OTEL_EXPORTER_OTLP_HEADERS` writes them
    /// (`OTEL_EXPORTER_OTLP_HEADERS_SECRET_ARN`). They win over the environment's headers on a
    /// shared name; those given with [`with_otlp_header`](Self::with_otlp_header) win over
    /// them. OTLP export sends nothing until the secret is read.
    pub fn with_otlp_headers_secret_arn(mut self, arn: impl Into<String>) -> Self {
        self.otlp.headers_secret_arn = Some(arn.into());
        self
    }

    /// The ARN of a Secrets Manager secret or an SSM parameter holding Rollbar's token
    /// (`ROLLBAR_ACCESS_TOKEN_SECRET_ARN`); it wins over the token itself.
    #[cfg(feature = "rollbar")]
    pub fn with_rollbar_access_token_secret_arn(mut self, arn: impl Into<String>) -> Self {
        self.rollbar.access_token_secret_arn = Some(arn.into());
        self
    }

    /// How long a value read from a secret is used before it is read again
    /// (`LAMBDA_TELEMETRY_SECRETS_MAX_AGE_SECONDS`; default 300 s). Zero reads it at every
    /// flush.
    pub fn with_secrets_max_age(mut self, max_age: Duration) -> Self {
        self.secrets.max_age = Setting::Code(max_age);
        self
    }
}

/// Metrics' settings (README "Metrics").
impl Config {
    /// Where metrics go, a list of `emf`, `otlp`, `console`, `none` (`OTEL_METRICS_EXPORTER`).
    pub fn with_metrics_exporters(mut self, exporters: impl Into<String>) -> Self {
        self.metrics.exporters = Some(exporters.into());
        self
    }

    /// The CloudWatch namespace of the EMF metrics (`POWERTOOLS_METRICS_NAMESPACE`): 1 to 255
    /// characters of letters, digits and `.-_/#:` or space, not starting with `AWS/`.
    pub fn with_metrics_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.metrics.namespace = Some(namespace.into());
        self
    }

    /// `false` turns metrics off altogether (`POWERTOOLS_METRICS_DISABLED=true`).
    pub fn with_metrics(mut self, on: bool) -> Self {
        self.metrics.disabled = Setting::Code(!on);
        self
    }

    /// Which of the crate's own metrics are recorded (`LAMBDA_TELEMETRY_METRICS_BUILTIN`).
    pub fn with_builtin_metrics(mut self, builtins: crate::metrics::Builtins) -> Self {
        self.metrics.builtins = Setting::Code(builtins);
        self
    }

    /// `true`: an invocation that records no metric of its own is an ERROR line
    /// (`LAMBDA_TELEMETRY_METRICS_REQUIRED`). The request is answered as usual.
    pub fn with_metrics_required(mut self, required: bool) -> Self {
        self.metrics.required = Setting::Code(required);
        self
    }
}

/// CloudWatch Logs shipping's settings (feature `cloudwatch`).
#[cfg(feature = "cloudwatch")]
impl Config {
    /// The group log lines are shipped to, off Lambda (`CLOUDWATCH_LOG_GROUP`).
    pub fn with_cloudwatch_log_group(mut self, group: impl Into<String>) -> Self {
        self.cloudwatch.group = Some(group.into());
        self
    }

    /// The stream in it (`CLOUDWATCH_LOG_STREAM`).
    pub fn with_cloudwatch_log_stream(mut self, stream: impl Into<String>) -> Self {
        self.cloudwatch.stream = Some(stream.into());
        self
    }

    /// Whether a missing group or stream is created (`CLOUDWATCH_CREATE_LOG_GROUP`).
    pub fn with_cloudwatch_create_log_group(mut self, create: bool) -> Self {
        self.cloudwatch.create = create;
        self
    }

    /// The retention of a group created here (`CLOUDWATCH_LOG_RETENTION_DAYS`).
    pub fn with_cloudwatch_log_retention_days(mut self, days: i32) -> Self {
        self.cloudwatch.retention_days = days;
        self
    }
}

/// Lambda's levels (`TRACE` .. `FATAL`) as a `tracing` directive; `FATAL` has no `tracing`
/// level, and `ERROR` is the closest that still lets fatal lines through. Anything else is
/// ignored: as a directive, a stray word would name a target and silence every other line.
fn lambda_level_directive(level: &str) -> Option<String> {
    let level = level.trim().to_ascii_lowercase();
    match level.as_str() {
        "trace" | "debug" | "info" | "warn" | "error" => Some(level),
        // Python's name, which Powertools for Python users set.
        "warning" => Some("warn".to_owned()),
        // FATAL is Lambda's, CRITICAL and SILENT Powertools'.
        "fatal" | "critical" => Some("error".to_owned()),
        "silent" => Some("off".to_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn a_number_that_is_not_one_is_said_by_name_and_never_by_value() {
        let mut problems = Vec::new();
        let lookup = &|name: &str| match name {
            "GOOD_MS" => Some(" 250 ".to_owned()),
            "BAD_MS" => Some("fast-x9".to_owned()),
            "BLANK_MS" => Some("  ".to_owned()),
            _ => None,
        };
        // As `Config::from_lookup` reads: blank is unset.
        let lookup = &|name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let number = |name: &'static str, problems: &mut Vec<SettingProblem>| {
            Setting::read(&[name], lookup).resolve(whole_number, problems)
        };
        assert_eq!(number("GOOD_MS", &mut problems), Some(250));
        assert_eq!(number("UNSET_MS", &mut problems), None);
        assert_eq!(number("BLANK_MS", &mut problems), None);
        assert!(problems.is_empty());
        assert_eq!(number("BAD_MS", &mut problems), None);
        let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            problems,
            ["BAD_MS is not a whole number; using the default"]
        );
    }

    fn config(vars: &[(&str, &str)]) -> Config {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(&|name| vars.get(name).cloned())
    }

    #[test]
    fn lambda_log_level_wins_over_rust_log() {
        let c = config(&[("AWS_LAMBDA_LOG_LEVEL", "DEBUG"), ("RUST_LOG", "warn")]);
        assert_eq!(c.log_filter, "debug");
        assert_eq!(
            config(&[("RUST_LOG", "warn,h=off")]).log_filter,
            "warn,h=off"
        );
        assert_eq!(config(&[]).log_filter, "info");
        assert_eq!(
            config(&[("AWS_LAMBDA_LOG_LEVEL", "FATAL")]).log_filter,
            "error"
        );
        // Powertools' variable, read as Powertools reads it: after Lambda's (and RUST_LOG).
        let powertools = |level: &str| config(&[("POWERTOOLS_LOG_LEVEL", level)]).log_filter;
        assert_eq!(powertools("DEBUG"), "debug");
        assert_eq!(powertools("CRITICAL"), "error");
        assert_eq!(powertools("SILENT"), "off");
        assert_eq!(powertools("WARNING"), "warn");
        assert_eq!(powertools("loud"), "info");
        assert_eq!(
            config(&[("POWERTOOLS_LOG_LEVEL", "loud")]).unreadable_log_level,
            Some("POWERTOOLS_LOG_LEVEL")
        );
        assert_eq!(
            config(&[("POWERTOOLS_LOG_LEVEL", "warn")]).unreadable_log_level,
            None
        );
        assert_eq!(
            config(&[
                ("POWERTOOLS_LOG_LEVEL", "DEBUG"),
                ("AWS_LAMBDA_LOG_LEVEL", "WARN")
            ])
            .log_filter,
            "warn"
        );
        assert_eq!(
            config(&[("POWERTOOLS_LOG_LEVEL", "DEBUG"), ("RUST_LOG", "trace")]).log_filter,
            "trace"
        );
    }

    #[test]
    fn log_format_is_json_unless_text_is_asked_for() {
        assert_eq!(config(&[]).log_format, LogFormat::Json);
        let text = config(&[("AWS_LAMBDA_LOG_FORMAT", "Text")]);
        assert_eq!(text.log_format, LogFormat::Text);
        let json = config(&[("AWS_LAMBDA_LOG_FORMAT", "JSON")]);
        assert_eq!(json.log_format, LogFormat::Json);
    }

    /// Lambda sets `LAMBDA_TASK_ROOT` (`/var/task`); so does SAM CLI's emulator, which adds
    /// `AWS_SAM_LOCAL=true`; `cargo lambda watch` sets neither.
    #[test]
    fn only_lambda_itself_counts_as_in_lambda() {
        assert!(config(&[("LAMBDA_TASK_ROOT", "/var/task")]).in_lambda);
        assert!(!config(&[("LAMBDA_TASK_ROOT", "/var/task"), ("AWS_SAM_LOCAL", "true")]).in_lambda);
        assert!(!config(&[("AWS_LAMBDA_FUNCTION_NAME", "home")]).in_lambda);
    }

    #[test]
    fn service_name_falls_back_to_the_function_name() {
        let c = config(&[
            ("AWS_LAMBDA_FUNCTION_NAME", "home"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ]);
        assert_eq!(c.service_name, "home");
        assert_eq!(c.function_memory_size, Some(128));
        let c = config(&[
            ("AWS_LAMBDA_FUNCTION_NAME", "home"),
            ("OTEL_SERVICE_NAME", "cruddur"),
        ]);
        assert_eq!(c.service_name, "cruddur");
        assert_eq!(config(&[]).service_name, "unknown_service");
        // Powertools' name, for a user coming from it: after OpenTelemetry's, before Lambda's.
        let c = config(&[
            ("AWS_LAMBDA_FUNCTION_NAME", "home"),
            ("POWERTOOLS_SERVICE_NAME", "from-powertools"),
        ]);
        assert_eq!(c.service_name, "from-powertools");
        let c = config(&[
            ("POWERTOOLS_SERVICE_NAME", "from-powertools"),
            ("OTEL_SERVICE_NAME", "cruddur"),
        ]);
        assert_eq!(c.service_name, "cruddur");
    }

    #[test]
    fn settings_in_code_win_over_the_environment() {
        let c = config(&[("OTEL_SERVICE_NAME", "env")])
            .with_service_name("code")
            .with_log_format(LogFormat::Text)
            .with_log_filter("trace");
        assert_eq!(
            (c.service_name.as_str(), c.log_format, c.log_filter.as_str()),
            ("code", LogFormat::Text, "trace")
        );
    }

    /// opentelemetry-otlp's written precedence: "a value set in code wins, then the signal's
    /// variable, then the generic variable, then the default".
    #[test]
    fn otlp_settings_come_from_code_then_the_signal_then_the_generic_variable() {
        let generic = [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4318/")];
        let both = [
            generic[0],
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://signal:4318/t"),
        ];
        assert_eq!(config(&[]).otlp.traces_endpoint, None);
        assert_eq!(
            config(&generic).otlp.traces_endpoint.as_deref(),
            Some("http://generic:4318/v1/traces")
        );
        assert_eq!(
            config(&both).otlp.traces_endpoint.as_deref(),
            Some("http://signal:4318/t")
        );
        let code = config(&both).with_otlp_endpoint("http://code:4318/c");
        assert_eq!(
            code.otlp.traces_endpoint.as_deref(),
            Some("http://code:4318/c")
        );

        let timeouts = [
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "1000"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "2000"),
        ];
        let mut problems = Vec::new();
        let resolve = |c: &Config, problems: &mut Vec<SettingProblem>| {
            c.otlp.timeout.resolve(
                |n, t| whole_number(n, t).map(Duration::from_millis),
                problems,
            )
        };
        assert_eq!(
            resolve(&config(&timeouts[..1]), &mut problems),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            resolve(&config(&timeouts), &mut problems),
            Some(Duration::from_secs(2))
        );
        let code = config(&timeouts).with_otlp_timeout(Duration::from_secs(3));
        assert_eq!(resolve(&code, &mut problems), Some(Duration::from_secs(3)));
        assert!(problems.is_empty(), "{problems:?}");
    }

    /// The same precedence for metrics, each setting apart from the traces': the metrics'
    /// variable, else the generic one (its base URL with `/v1/metrics`), else the default; the
    /// traces' variables never reach metrics.
    #[test]
    fn otlp_metrics_settings_come_from_code_then_their_signal_then_the_generic_variable() {
        let generic = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4318/"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "a=1"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "1000"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:4318/t"),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "t=1"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "3000"),
        ];
        let c = config(&generic);
        assert_eq!(
            c.otlp.metrics_endpoint.as_deref(),
            Some("http://generic:4318/v1/metrics")
        );
        assert_eq!(
            c.otlp.metrics_headers,
            [("OTEL_EXPORTER_OTLP_HEADERS", "a=1".to_owned())]
        );
        let mut problems = Vec::new();
        let timeout = |c: &Config, problems: &mut Vec<SettingProblem>| {
            c.otlp.metrics_timeout.resolve(
                |n, t| whole_number(n, t).map(Duration::from_millis),
                problems,
            )
        };
        assert_eq!(timeout(&c, &mut problems), Some(Duration::from_secs(1)));

        let mut signal = generic.to_vec();
        signal.extend([
            (
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                "http://metrics:4318/m",
            ),
            (
                "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
                "x-honeycomb-dataset=d",
            ),
            ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "2000"),
            (
                "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
                "cumulative",
            ),
        ]);
        let c = config(&signal);
        assert_eq!(
            c.otlp.metrics_endpoint.as_deref(),
            Some("http://metrics:4318/m")
        );
        assert_eq!(
            c.otlp.metrics_headers.len(),
            2,
            "generic, then the signal's"
        );
        assert_eq!(
            c.otlp.metrics_headers[1].0,
            "OTEL_EXPORTER_OTLP_METRICS_HEADERS"
        );
        assert_eq!(timeout(&c, &mut problems), Some(Duration::from_secs(2)));
        assert!(matches!(
            c.otlp.temporality,
            Setting::Env("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", _)
        ));

        let code = config(&signal)
            .with_otlp_metrics_endpoint("http://code:4318/c")
            .with_otlp_metrics_timeout(Duration::from_secs(4))
            .with_otlp_metrics_gzip(true)
            .with_otlp_metrics_temporality(Temporality::Delta);
        assert_eq!(
            code.otlp.metrics_endpoint.as_deref(),
            Some("http://code:4318/c")
        );
        assert_eq!(timeout(&code, &mut problems), Some(Duration::from_secs(4)));
        assert!(matches!(code.otlp.metrics_gzip, Setting::Code(true)));
        assert!(matches!(
            code.otlp.temporality,
            Setting::Code(Temporality::Delta)
        ));
        assert_eq!(
            code.otlp.traces_endpoint.as_deref(),
            Some("http://traces:4318/t"),
            "the traces' own"
        );
        assert!(problems.is_empty(), "{problems:?}");
    }

    /// "A setting given in code wins over the environment", for each kind of setting: and a
    /// bad value in the environment is then no problem, since it is never parsed.
    #[test]
    fn every_kind_of_setting_given_in_code_wins_and_silences_the_environments() {
        let env = config(&[
            ("OTEL_TRACES_EXPORTER", "console"),
            ("OTEL_PROPAGATORS", "xray"),
            ("LAMBDA_TELEMETRY_FLUSH_BUDGET_MS", "soon-x9"),
            ("LAMBDA_TELEMETRY_SHUTDOWN_FLUSH", "on"),
            ("AWS_XRAY_DAEMON_ADDRESS", "nowhere-x9"),
            ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"),
            ("AWS_LAMBDA_MAX_CONCURRENCY", "many-x9"),
        ]);
        assert_eq!(env.traces.exporters.as_deref(), Some("console"));
        assert!(env.flush.at_shutdown);
        let mut problems = Vec::new();
        let budget = |c: &Config, problems: &mut Vec<SettingProblem>| {
            c.flush.budget.resolve(
                |n, t| whole_number(n, t).map(Duration::from_millis),
                problems,
            )
        };
        assert_eq!(budget(&env, &mut problems), None);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].setting(), "LAMBDA_TELEMETRY_FLUSH_BUDGET_MS");
        assert!(!problems[0].to_string().contains("x9"), "{problems:?}");

        let daemon: SocketAddr = ([127, 0, 0, 1], 2001).into();
        let code = env
            .with_exporters("otlp")
            .with_propagators("tracecontext")
            .with_flush_budget(Duration::from_millis(50))
            .with_shutdown_flush(false)
            .with_xray_daemon_address(daemon)
            .with_runtime_api("127.0.0.1:9002")
            .with_max_concurrency(4);
        let mut problems = Vec::new();
        assert_eq!(code.traces.exporters.as_deref(), Some("otlp"));
        assert_eq!(code.traces.propagators.as_deref(), Some("tracecontext"));
        assert_eq!(
            budget(&code, &mut problems),
            Some(Duration::from_millis(50))
        );
        assert!(!code.flush.at_shutdown);
        assert_eq!(
            code.xray
                .daemon
                .resolve(|_, _| unreachable!(), &mut problems),
            Some(daemon)
        );
        assert_eq!(code.runtime.api.as_deref(), Some("127.0.0.1:9002"));
        assert!(matches!(code.runtime.max_concurrency, Setting::Code(4)));
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[cfg(feature = "rollbar")]
    #[test]
    fn rollbar_settings_given_in_code_win_over_the_environment() {
        let code = config(&[
            ("ROLLBAR_ACCESS_TOKEN", "env-token"),
            ("ROLLBAR_MAX_ITEMS", "many-x9"),
            ("ROLLBAR_SCRUB_FIELDS", "ssn"),
        ])
        .with_rollbar_access_token("code-token")
        .with_rollbar_max_items(3)
        .with_rollbar_level(None)
        .with_rollbar_scrub_fields([" Card_Number "]);
        let rollbar = &code.rollbar;
        assert_eq!(rollbar.access_token.as_deref(), Some("code-token"));
        assert!(matches!(rollbar.max_items, Setting::Code(3)));
        assert!(matches!(rollbar.level, Setting::Code(None)));
        assert_eq!(rollbar.scrub_fields, ["card_number"]);
    }

    /// A blank variable is unset, whatever reads it: a template's empty parameter means the
    /// default.
    #[test]
    fn a_blank_variable_is_the_default() {
        let c = config(&[
            ("OTEL_TRACES_EXPORTER", "  "),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", ""),
            ("LAMBDA_TELEMETRY_FLUSH_BUDGET_MS", " "),
        ]);
        assert_eq!(c.traces.exporters, None);
        assert_eq!(c.otlp.traces_endpoint, None);
        assert!(matches!(c.flush.budget, Setting::Unset));
    }
}
