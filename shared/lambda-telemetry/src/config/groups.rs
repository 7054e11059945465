//! The settings of each part, read once from the environment by [`Config`](crate::Config).
//!
//! Plain text where the part parses it (and says what is wrong with it only when it is on),
//! typed where the environment's text needs no parsing or cannot be wrong.

use std::net::SocketAddr;
use std::time::Duration;

use super::problem::{Setting, flag};
use crate::constants::*;

/// The environment lookup [`Config::from_lookup`](crate::Config) reads with: `None` when
/// a variable is unset or blank.
pub(crate) type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Which exporters, propagators and sampler the traces use.
#[derive(Clone, Debug, Default)]
pub(crate) struct TraceSettings {
    /// `OTEL_TRACES_EXPORTER`'s list, as text.
    pub(crate) exporters: Option<String>,
    /// `OTEL_PROPAGATORS`'s list, as text; `None`: `tracecontext,xray-lambda`.
    pub(crate) propagators: Option<String>,
    /// The sampler given in code: wins over `OTEL_TRACES_SAMPLER`.
    pub(crate) sampler: Option<opentelemetry_sdk::trace::Sampler>,
    /// `OTEL_TRACES_SAMPLER`.
    pub(crate) sampler_name: Option<String>,
    /// `OTEL_TRACES_SAMPLER_ARG`.
    pub(crate) sampler_arg: Option<String>,
}

impl TraceSettings {
    pub(crate) fn from_lookup(var: Lookup<'_>) -> Self {
        Self {
            exporters: var(OTEL_TRACES_EXPORTER),
            propagators: var(OTEL_PROPAGATORS),
            sampler: None,
            sampler_name: var(OTEL_TRACES_SAMPLER),
            sampler_arg: var(OTEL_TRACES_SAMPLER_ARG),
        }
    }
}

/// When the pipeline flushes, and how long it may take.
#[derive(Clone, Debug, Default)]
pub(crate) struct FlushSettings {
    /// `LAMBDA_TELEMETRY_FLUSH_BUDGET_MS`; default [`DEFAULT_FLUSH_BUDGET_MS`].
    pub(crate) budget: Setting<Duration>,
    /// `LAMBDA_TELEMETRY_SHUTDOWN_FLUSH`; default off.
    pub(crate) at_shutdown: bool,
}

impl FlushSettings {
    pub(crate) fn from_lookup(var: Lookup<'_>) -> Self {
        Self {
            budget: Setting::read(&[LAMBDA_TELEMETRY_FLUSH_BUDGET_MS], var),
            at_shutdown: flag(var(LAMBDA_TELEMETRY_SHUTDOWN_FLUSH).as_deref()).unwrap_or(false),
        }
    }
}

/// OTLP/HTTP: each setting from the code, else the signal's variable
/// (`OTEL_EXPORTER_OTLP_TRACES_*`, `OTEL_EXPORTER_OTLP_METRICS_*`), else the generic one
/// (`OTEL_EXPORTER_OTLP_*`), else the default. The headers' secret and the headers given in
/// code go with both signals.
#[derive(Clone, Debug, Default)]
pub(crate) struct OtlpSettings {
    /// The URL traces are posted to: the one given in code or the signal's variable, used as
    /// they are, or the generic base URL with `/v1/traces`; `None`: the default endpoint's.
    pub(crate) traces_endpoint: Option<String>,
    /// The headers' text, generic then signal (the signal's win on a shared name).
    pub(crate) headers: Vec<(&'static str, String)>,
    /// `OTEL_EXPORTER_OTLP_HEADERS_SECRET_ARN`: more headers, read from a secret.
    pub(crate) headers_secret_arn: Option<String>,
    /// Headers given in code: added last, they win on a shared name.
    pub(crate) code_headers: Vec<(http::HeaderName, http::HeaderValue)>,
    /// How long one request may take; the flush budget bounds it too.
    pub(crate) timeout: Setting<Duration>,
    /// Whether bodies are gzipped.
    pub(crate) gzip: Setting<bool>,
    /// The URL metrics are posted to: the one given in code or the signal's variable, used as
    /// they are, or the generic base URL with `/v1/metrics`; `None`: the default endpoint's.
    pub(crate) metrics_endpoint: Option<String>,
    /// The metrics' headers' text, generic then signal.
    pub(crate) metrics_headers: Vec<(&'static str, String)>,
    /// How long one metrics request may take.
    pub(crate) metrics_timeout: Setting<Duration>,
    /// Whether metrics bodies are gzipped.
    pub(crate) metrics_gzip: Setting<bool>,
    /// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`; default delta.
    pub(crate) temporality: Setting<super::Temporality>,
    /// `LAMBDA_TELEMETRY_OTLP_SIGV4`, as text.
    pub(crate) sigv4: Option<String>,
    /// `AWS_REGION`: the region signed for when the endpoint names none.
    pub(crate) region: Option<String>,
}

impl OtlpSettings {
    pub(crate) fn from_lookup(var: Lookup<'_>) -> Self {
        let traces_endpoint = var(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT).or_else(|| {
            var(OTEL_EXPORTER_OTLP_ENDPOINT)
                .map(|base| format!("{}/v1/traces", base.trim_end_matches('/')))
        });
        let headers_of = |signal| {
            [OTEL_EXPORTER_OTLP_HEADERS, signal]
                .into_iter()
                .filter_map(|name| var(name).map(|value| (name, value)))
                .collect()
        };
        let headers = headers_of(OTEL_EXPORTER_OTLP_TRACES_HEADERS);
        let metrics_endpoint = var(OTEL_EXPORTER_OTLP_METRICS_ENDPOINT).or_else(|| {
            var(OTEL_EXPORTER_OTLP_ENDPOINT)
                .map(|base| format!("{}/v1/metrics", base.trim_end_matches('/')))
        });
        Self {
            traces_endpoint,
            headers,
            headers_secret_arn: var(OTEL_EXPORTER_OTLP_HEADERS_SECRET_ARN),
            code_headers: Vec::new(),
            timeout: Setting::read(
                &[
                    OTEL_EXPORTER_OTLP_TRACES_TIMEOUT,
                    OTEL_EXPORTER_OTLP_TIMEOUT,
                ],
                var,
            ),
            gzip: Setting::read(
                &[
                    OTEL_EXPORTER_OTLP_TRACES_COMPRESSION,
                    OTEL_EXPORTER_OTLP_COMPRESSION,
                ],
                var,
            ),
            metrics_endpoint,
            metrics_headers: headers_of(OTEL_EXPORTER_OTLP_METRICS_HEADERS),
            metrics_timeout: Setting::read(
                &[
                    OTEL_EXPORTER_OTLP_METRICS_TIMEOUT,
                    OTEL_EXPORTER_OTLP_TIMEOUT,
                ],
                var,
            ),
            metrics_gzip: Setting::read(
                &[
                    OTEL_EXPORTER_OTLP_METRICS_COMPRESSION,
                    OTEL_EXPORTER_OTLP_COMPRESSION,
                ],
                var,
            ),
            temporality: Setting::read(&[OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE], var),
            sigv4: var(LAMBDA_TELEMETRY_OTLP_SIGV4),
            region: var(AWS_REGION),
        }
    }
}

/// Secrets (`*_SECRET_ARN`, feature `secrets`).
#[derive(Clone, Debug, Default)]
pub(crate) struct SecretsSettings {
    /// `LAMBDA_TELEMETRY_SECRETS_MAX_AGE_SECONDS`; default
    /// [`DEFAULT_SECRETS_MAX_AGE_SECONDS`].
    pub(crate) max_age: Setting<Duration>,
}

impl SecretsSettings {
    pub(crate) fn from_lookup(var: Lookup<'_>) -> Self {
        Self {
            max_age: Setting::read(&[LAMBDA_TELEMETRY_SECRETS_MAX_AGE_SECONDS], var),
        }
    }
}

/// The X-Ray daemon.
#[derive(Clone, Debug, Default)]
pub(crate) struct XraySettings {
    /// `AWS_XRAY_DAEMON_ADDRESS`; default [`DEFAULT_XRAY_DAEMON_ADDRESS`].
    pub(crate) daemon: Setting<SocketAddr>,
}

impl XraySettings {
    pub(crate) fn from_lookup(var: Lookup<'_>) -> Self {
        Self {
            daemon: Setting::read(&[AWS_XRAY_DAEMON_ADDRESS], var),
        }
    }
}

/// Rollbar (feature `rollbar`).
#[cfg(feature = "rollbar")]
#[derive(Clone, Debug, Default)]
pub(crate) struct RollbarSettings {
    /// `ROLLBAR_ACCESS_TOKEN`; unset, reporting is off.
    pub(crate) access_token: Option<String>,
    /// `ROLLBAR_ACCESS_TOKEN_SECRET_ARN`; wins over the token.
    pub(crate) access_token_secret_arn: Option<String>,
    /// `ROLLBAR_ENDPOINT`.
    pub(crate) endpoint: Option<String>,
    /// `ROLLBAR_ENVIRONMENT`.
    pub(crate) environment: Option<String>,
    /// `ROLLBAR_CODE_VERSION`.
    pub(crate) code_version: Option<String>,
    /// `ROLLBAR_LEVEL`: the lowest level reported; `Code(None)` is `off`.
    pub(crate) level: Setting<Option<crate::rollbar::Level>>,
    /// `ROLLBAR_MAX_ITEMS`.
    pub(crate) max_items: Setting<u64>,
    /// `ROLLBAR_SCRUB_FIELDS`, lowercase.
    pub(crate) scrub_fields: Vec<String>,
    /// `LAMBDA_TELEMETRY_TRACE_LINK`.
    pub(crate) trace_link: Option<String>,
}

#[cfg(feature = "rollbar")]
impl RollbarSettings {
    pub(crate) fn from_lookup(var: Lookup<'_>) -> Self {
        Self {
            access_token: var(ROLLBAR_ACCESS_TOKEN),
            access_token_secret_arn: var(ROLLBAR_ACCESS_TOKEN_SECRET_ARN),
            endpoint: var(ROLLBAR_ENDPOINT),
            environment: var(ROLLBAR_ENVIRONMENT),
            code_version: var(ROLLBAR_CODE_VERSION),
            level: Setting::read(&[ROLLBAR_LEVEL], var),
            max_items: Setting::read(&[ROLLBAR_MAX_ITEMS], var),
            scrub_fields: var(ROLLBAR_SCRUB_FIELDS)
                .map(|list| {
                    list.split(',')
                        .map(|f| f.trim().to_ascii_lowercase())
                        .filter(|f| !f.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            trace_link: var(LAMBDA_TELEMETRY_TRACE_LINK),
        }
    }
}

/// Where metrics go and what the crate records itself.
#[derive(Clone, Debug, Default)]
pub(crate) struct MetricsSettings {
    /// `OTEL_METRICS_EXPORTER`'s list, as text; `None`: `emf`.
    pub(crate) exporters: Option<String>,
    /// `POWERTOOLS_METRICS_NAMESPACE`, or given in code.
    pub(crate) namespace: Option<String>,
    /// `POWERTOOLS_METRICS_DISABLED`.
    pub(crate) disabled: Setting<bool>,
    /// `LAMBDA_TELEMETRY_METRICS_BUILTIN`.
    pub(crate) builtins: Setting<crate::metrics::Builtins>,
    /// `LAMBDA_TELEMETRY_METRICS_REQUIRED`.
    pub(crate) required: Setting<bool>,
    /// `AWS_LAMBDA_LOG_LEVEL` as Lambda set it: EMF lines must pass Lambda's own filter.
    pub(crate) lambda_log_level: Option<String>,
}

impl MetricsSettings {
    pub(crate) fn from_lookup(var: Lookup<'_>) -> Self {
        Self {
            exporters: var(OTEL_METRICS_EXPORTER),
            namespace: var(POWERTOOLS_METRICS_NAMESPACE),
            disabled: Setting::read(&[POWERTOOLS_METRICS_DISABLED], var),
            builtins: Setting::read(&[LAMBDA_TELEMETRY_METRICS_BUILTIN], var),
            required: Setting::read(&[LAMBDA_TELEMETRY_METRICS_REQUIRED], var),
            lambda_log_level: var(AWS_LAMBDA_LOG_LEVEL),
        }
    }
}

/// CloudWatch Logs shipping off Lambda. The group is read without the `cloudwatch` feature
/// too, to say that it is ignored.
#[derive(Clone, Debug, Default)]
pub(crate) struct CloudwatchSettings {
    /// `CLOUDWATCH_LOG_GROUP`; unset, shipping is off.
    pub(crate) group: Option<String>,
    /// `CLOUDWATCH_LOG_STREAM`; default `<service>/<yyyy/mm/dd>/<host>-<pid>-<random>`.
    #[cfg_attr(not(feature = "cloudwatch"), allow(dead_code))]
    pub(crate) stream: Option<String>,
    /// `CLOUDWATCH_CREATE_LOG_GROUP`; default true.
    #[cfg_attr(not(feature = "cloudwatch"), allow(dead_code))]
    pub(crate) create: bool,
    /// `CLOUDWATCH_LOG_RETENTION_DAYS`; default [`DEFAULT_LOG_RETENTION_DAYS`].
    #[cfg_attr(not(feature = "cloudwatch"), allow(dead_code))]
    pub(crate) retention_days: i32,
}

impl CloudwatchSettings {
    pub(crate) fn from_lookup(var: Lookup<'_>) -> Self {
        Self {
            group: var(CLOUDWATCH_LOG_GROUP),
            stream: var(CLOUDWATCH_LOG_STREAM),
            create: flag(var(CLOUDWATCH_CREATE_LOG_GROUP).as_deref()).unwrap_or(true),
            retention_days: var(CLOUDWATCH_LOG_RETENTION_DAYS)
                .and_then(|d| d.trim().parse().ok())
                .unwrap_or(DEFAULT_LOG_RETENTION_DAYS),
        }
    }
}

/// The Runtime API and what Lambda tells the process about itself. Only the Runtime API's
/// address and the concurrency can be given in code; the rest are facts Lambda sets, read
/// once here rather than where they are used.
#[derive(Clone, Debug, Default)]
pub(crate) struct RuntimeSettings {
    /// `AWS_LAMBDA_RUNTIME_API`, `host:port`.
    pub(crate) api: Option<String>,
    /// `AWS_LAMBDA_MAX_CONCURRENCY`; default one.
    pub(crate) max_concurrency: Setting<usize>,
    /// `AWS_LAMBDA_FUNCTION_VERSION`.
    pub(crate) function_version: Option<String>,
    /// `AWS_LAMBDA_LOG_STREAM_NAME`.
    pub(crate) log_stream: Option<String>,
    /// `AWS_LAMBDA_LOG_GROUP_NAME`.
    pub(crate) log_group: Option<String>,
    /// `AWS_REGION`.
    pub(crate) region: Option<String>,
    /// `LAMBDA_TASK_ROOT`: set in a Lambda execution environment (or SAM CLI's emulator).
    #[cfg_attr(
        not(any(feature = "rollbar", feature = "cloudwatch")),
        allow(dead_code)
    )]
    pub(crate) task_root: Option<String>,
    /// `HOSTNAME`, the host's name where the shell sets it.
    #[cfg_attr(
        not(any(feature = "rollbar", feature = "cloudwatch")),
        allow(dead_code)
    )]
    pub(crate) hostname: Option<String>,
}

impl RuntimeSettings {
    pub(crate) fn from_lookup(var: Lookup<'_>) -> Self {
        Self {
            api: var(AWS_LAMBDA_RUNTIME_API),
            max_concurrency: Setting::read(&[AWS_LAMBDA_MAX_CONCURRENCY], var),
            function_version: var(AWS_LAMBDA_FUNCTION_VERSION),
            log_stream: var(AWS_LAMBDA_LOG_STREAM_NAME),
            log_group: var(AWS_LAMBDA_LOG_GROUP_NAME),
            region: var(AWS_REGION),
            task_root: var(LAMBDA_TASK_ROOT),
            hostname: var(HOSTNAME),
        }
    }
}

/// Log buffering's, as text: parsed, and a problem said, when the telemetry is installed.
#[derive(Clone, Debug, Default)]
pub(crate) struct LogBufferSettings {
    /// Given in code (`Some(None)`: off): wins over all three variables.
    pub(crate) code: Option<Option<crate::logs::LogBuffer>>,
    /// `LAMBDA_TELEMETRY_LOG_BUFFER`.
    pub(crate) level: Option<String>,
    /// `LAMBDA_TELEMETRY_LOG_BUFFER_MAX_BYTES`.
    pub(crate) max_bytes: Setting<u64>,
    /// `LAMBDA_TELEMETRY_LOG_BUFFER_FLUSH_ON_ERROR_LOG`.
    pub(crate) flush_on_error_log: Setting<bool>,
}

impl LogBufferSettings {
    pub(crate) fn from_lookup(var: Lookup<'_>) -> Self {
        Self {
            code: None,
            level: var(LAMBDA_TELEMETRY_LOG_BUFFER),
            max_bytes: Setting::read(&[LAMBDA_TELEMETRY_LOG_BUFFER_MAX_BYTES], var),
            flush_on_error_log: Setting::read(
                &[LAMBDA_TELEMETRY_LOG_BUFFER_FLUSH_ON_ERROR_LOG],
                var,
            ),
        }
    }
}
