//! Every environment variable, default and telemetry key the crate uses, in one place.
//!
//! Standard names come first (`AWS_*` set by Lambda, `OTEL_*` from the OpenTelemetry
//! specification); the README's table of variables is written from this module.

/// Name of the service on every log line (and, later, on every span). OpenTelemetry's standard.
pub const OTEL_SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
/// Powertools' name for the service, read when `OTEL_SERVICE_NAME` is unset.
pub const POWERTOOLS_SERVICE_NAME: &str = "POWERTOOLS_SERVICE_NAME";
/// Powertools' log level (`TRACE` ... `CRITICAL`, `SILENT`), read when neither
/// `AWS_LAMBDA_LOG_LEVEL` nor `RUST_LOG` is set, as Powertools reads it after Lambda's.
pub const POWERTOOLS_LOG_LEVEL: &str = "POWERTOOLS_LOG_LEVEL";
/// Log level Lambda sets from the function's `LoggingConfig.ApplicationLogLevel`.
pub const AWS_LAMBDA_LOG_LEVEL: &str = "AWS_LAMBDA_LOG_LEVEL";
/// The share of invocations, 0 to 1, that log at DEBUG whatever the log level, decided once
/// per invocation (Powertools' name); their lines carry `sampling_rate`. Unset or 0: none.
pub const POWERTOOLS_LOGGER_SAMPLE_RATE: &str = "POWERTOOLS_LOGGER_SAMPLE_RATE";
/// Log buffering (Powertools' `logBufferOptions.bufferAtVerbosity`): `debug` holds each
/// invocation's DEBUG and TRACE lines, written only when it logs an ERROR, fails or panics;
/// `trace`, `info`, `warn` likewise; `on` is `debug`. Unset or `off`: no buffering.
pub const LAMBDA_TELEMETRY_LOG_BUFFER: &str = "LAMBDA_TELEMETRY_LOG_BUFFER";
/// The most bytes of lines one invocation's buffer holds, the oldest dropped first
/// (Powertools' `maxBytes`). Default 20480.
pub const LAMBDA_TELEMETRY_LOG_BUFFER_MAX_BYTES: &str = "LAMBDA_TELEMETRY_LOG_BUFFER_MAX_BYTES";
/// `false`: an ERROR line does not write the held lines, only a failure, a panic or
/// `flush_log_buffer()` does (Powertools' `flushOnErrorLog`). Default `true`.
pub const LAMBDA_TELEMETRY_LOG_BUFFER_FLUSH_ON_ERROR_LOG: &str =
    "LAMBDA_TELEMETRY_LOG_BUFFER_FLUSH_ON_ERROR_LOG";
/// `tracing-subscriber` filter directives, used when `AWS_LAMBDA_LOG_LEVEL` is unset.
pub const RUST_LOG: &str = "RUST_LOG";
/// `JSON` (the default) or `Text`; Lambda sets it from `LoggingConfig.LogFormat`.
pub const AWS_LAMBDA_LOG_FORMAT: &str = "AWS_LAMBDA_LOG_FORMAT";
/// `host:port` of the Lambda Runtime API, set by Lambda and by `cargo lambda watch`.
pub const AWS_LAMBDA_RUNTIME_API: &str = "AWS_LAMBDA_RUNTIME_API";
/// The function's name, set by Lambda and by `cargo lambda watch`.
pub const AWS_LAMBDA_FUNCTION_NAME: &str = "AWS_LAMBDA_FUNCTION_NAME";
/// The function's memory in MB, set by Lambda and by `cargo lambda watch`.
pub const AWS_LAMBDA_FUNCTION_MEMORY_SIZE: &str = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE";

/// Which incoming trace headers may choose an invocation's parent, in order:
/// `tracecontext`, `baggage`, `xray`, `xray-lambda`, `none`. Default `tracecontext,xray-lambda`.
pub const OTEL_PROPAGATORS: &str = "OTEL_PROPAGATORS";

/// `always_on`, `always_off`, `traceidratio`, `parentbased_always_on` (default),
/// `parentbased_always_off`, `parentbased_traceidratio`: OTLP's sampler. A parent-based one
/// follows a W3C caller's sampled flag; X-Ray follows Lambda's `Sampled` (see `sampling`).
pub const OTEL_TRACES_SAMPLER: &str = "OTEL_TRACES_SAMPLER";
/// The ratio of the `traceidratio` samplers, 0.0 to 1.0.
pub const OTEL_TRACES_SAMPLER_ARG: &str = "OTEL_TRACES_SAMPLER_ARG";
/// The region, set by Lambda: `cloud.region`, and the region an OTLP request to AWS is signed
/// for when its endpoint names none.
pub const AWS_REGION: &str = "AWS_REGION";
/// The function's credentials, set by Lambda from its role: what OTLP requests to AWS are
/// signed with (feature `sigv4`). Read once, never logged.
pub const AWS_ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
/// See [`AWS_ACCESS_KEY_ID`].
pub const AWS_SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";
/// See [`AWS_ACCESS_KEY_ID`]: the role's temporary credentials' token.
pub const AWS_SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";
/// `auto` (default): OTLP requests to AWS's OTLP endpoints (`https://xray.<region>.amazonaws.com/v1/traces`,
/// `https://monitoring.<region>.amazonaws.com/v1/metrics`) are signed with SigV4; `on`: every
/// OTLP request is, as `xray` (traces) or `monitoring` (metrics), for a VPC endpoint; `off`.
pub const LAMBDA_TELEMETRY_OTLP_SIGV4: &str = "LAMBDA_TELEMETRY_OTLP_SIGV4";
/// The function's version, set by Lambda: `faas.version`.
pub const AWS_LAMBDA_FUNCTION_VERSION: &str = "AWS_LAMBDA_FUNCTION_VERSION";
/// The execution environment's log stream, set by Lambda: `faas.instance`.
pub const AWS_LAMBDA_LOG_STREAM_NAME: &str = "AWS_LAMBDA_LOG_STREAM_NAME";
/// The function's log group, set by Lambda (the invocation `Context` carries it).
pub const AWS_LAMBDA_LOG_GROUP_NAME: &str = "AWS_LAMBDA_LOG_GROUP_NAME";
/// How many invocations one process serves at once, set by Lambda Managed Instances:
/// that many Runtime API loops run side by side. Unset, or not a whole number above 0: one.
pub const AWS_LAMBDA_MAX_CONCURRENCY: &str = "AWS_LAMBDA_MAX_CONCURRENCY";

/// Where spans go, a list: `otlp`, `xray` (segment documents to the X-Ray daemon), `console`
/// (a tree on stderr), `none`. Unset: `otlp` when an OTLP endpoint is configured, else nothing.
pub const OTEL_TRACES_EXPORTER: &str = "OTEL_TRACES_EXPORTER";
/// The X-Ray daemon's UDP address, set by Lambda: `host:port` or `udp:host:port tcp:host:port`.
pub const AWS_XRAY_DAEMON_ADDRESS: &str = "AWS_XRAY_DAEMON_ADDRESS";
/// The X-Ray daemon's address when `AWS_XRAY_DAEMON_ADDRESS` is unset.
pub const DEFAULT_XRAY_DAEMON_ADDRESS: &str = "127.0.0.1:2000";
/// OTLP/HTTP base URL; traces go to `<base>/v1/traces`, metrics to `<base>/v1/metrics`.
pub const OTEL_EXPORTER_OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// OTLP/HTTP URL for traces, used as it is.
pub const OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
/// `key=value,...` headers for every OTLP request (`x-honeycomb-team=<key>`).
pub const OTEL_EXPORTER_OTLP_HEADERS: &str = "OTEL_EXPORTER_OTLP_HEADERS";
/// The ARN of a Secrets Manager secret or SSM parameter whose value is more OTLP headers, in
/// the `OTEL_EXPORTER_OTLP_HEADERS` format (`x-honeycomb-team=<key>`); they win on a shared
/// name. OTLP export waits for it (feature `secrets`).
pub const OTEL_EXPORTER_OTLP_HEADERS_SECRET_ARN: &str = "OTEL_EXPORTER_OTLP_HEADERS_SECRET_ARN";
/// Headers for OTLP trace requests only.
pub const OTEL_EXPORTER_OTLP_TRACES_HEADERS: &str = "OTEL_EXPORTER_OTLP_TRACES_HEADERS";
/// Milliseconds one OTLP request may take (the flush budget bounds it too).
pub const OTEL_EXPORTER_OTLP_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TIMEOUT";
/// The same, for trace requests only.
pub const OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT";
/// `gzip` or `none` (the default): how OTLP request bodies are compressed.
pub const OTEL_EXPORTER_OTLP_COMPRESSION: &str = "OTEL_EXPORTER_OTLP_COMPRESSION";
/// The same, for trace requests only.
pub const OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: &str = "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION";
/// OTLP/HTTP URL for metrics, used as it is; unset, `OTEL_EXPORTER_OTLP_ENDPOINT` with
/// `/v1/metrics`.
pub const OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT";
/// Headers for OTLP metrics requests only, added to `OTEL_EXPORTER_OTLP_HEADERS` (Honeycomb:
/// `x-honeycomb-dataset=<dataset>`, since its metrics go to a dataset of their own).
pub const OTEL_EXPORTER_OTLP_METRICS_HEADERS: &str = "OTEL_EXPORTER_OTLP_METRICS_HEADERS";
/// Milliseconds one OTLP metrics request may take.
pub const OTEL_EXPORTER_OTLP_METRICS_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT";
/// `gzip` or `none`, for metrics requests.
pub const OTEL_EXPORTER_OTLP_METRICS_COMPRESSION: &str = "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION";
/// `delta` (our default), `cumulative`, or `lowmemory` (the same as `delta` for the facade's
/// counters, gauges and histograms). The specification's default is `cumulative`; ours is
/// `delta` because Lambda may freeze or end an execution environment at any time, and each
/// flush then stands on its own (a cumulative series restarts with every environment).
pub const OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: &str =
    "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE";
/// The specification's default OTLP/HTTP endpoint.
pub const DEFAULT_OTLP_ENDPOINT: &str = "http://localhost:4318";
/// How long the flush after each invocation may take, in milliseconds.
pub const LAMBDA_TELEMETRY_FLUSH_BUDGET_MS: &str = "LAMBDA_TELEMETRY_FLUSH_BUDGET_MS";
/// The flush budget when `LAMBDA_TELEMETRY_FLUSH_BUDGET_MS` is unset.
pub const DEFAULT_FLUSH_BUDGET_MS: u64 = 500;
/// `on`: register a no-op Lambda extension so that Lambda sends SIGTERM at shutdown and the
/// crate flushes once more. Off by default: it costs every cold start a Runtime API round trip.
pub const LAMBDA_TELEMETRY_SHUTDOWN_FLUSH: &str = "LAMBDA_TELEMETRY_SHUTDOWN_FLUSH";

/// Seconds a value read from a secret (`*_SECRET_ARN`) is used before it is read again;
/// `0` reads it at every flush.
pub const LAMBDA_TELEMETRY_SECRETS_MAX_AGE_SECONDS: &str =
    "LAMBDA_TELEMETRY_SECRETS_MAX_AGE_SECONDS";
/// The maximum age when unset: the AWS Parameters and Secrets Lambda Extension's default TTL.
pub const DEFAULT_SECRETS_MAX_AGE_SECONDS: u64 = 300;

/// Where metrics go, a list: `emf` (CloudWatch Embedded Metric Format lines on stdout),
/// `otlp` (OTLP/HTTP, the `OTEL_EXPORTER_OTLP_METRICS_*` settings), `console` (a summary per
/// invocation on stderr), `none`. Unset: `emf`.
pub const OTEL_METRICS_EXPORTER: &str = "OTEL_METRICS_EXPORTER";
/// The CloudWatch namespace of the EMF metrics, as Powertools names the setting. Unset: the
/// `service.namespace` of `OTEL_RESOURCE_ATTRIBUTES`, else the service name.
pub const POWERTOOLS_METRICS_NAMESPACE: &str = "POWERTOOLS_METRICS_NAMESPACE";
/// `true`: no metrics at all, not even recorded (Powertools' name).
pub const POWERTOOLS_METRICS_DISABLED: &str = "POWERTOOLS_METRICS_DISABLED";
/// Which of the crate's own metrics are recorded: `invocations`, `cold_starts`, `losses`
/// (default: all three), or `none`.
pub const LAMBDA_TELEMETRY_METRICS_BUILTIN: &str = "LAMBDA_TELEMETRY_METRICS_BUILTIN";
/// `true`: an invocation that records no metric of its own is an ERROR line (Powertools'
/// `raise_on_empty_metrics`, without failing the request).
pub const LAMBDA_TELEMETRY_METRICS_REQUIRED: &str = "LAMBDA_TELEMETRY_METRICS_REQUIRED";

/// The CloudWatch Logs group to ship log lines to, off Lambda (feature `cloudwatch`).
pub const CLOUDWATCH_LOG_GROUP: &str = "CLOUDWATCH_LOG_GROUP";
/// The stream in it; default `<service>/<yyyy/mm/dd>/<host>-<pid>-<random>`.
pub const CLOUDWATCH_LOG_STREAM: &str = "CLOUDWATCH_LOG_STREAM";
/// `false`: never create the group or the stream (they must exist).
pub const CLOUDWATCH_CREATE_LOG_GROUP: &str = "CLOUDWATCH_CREATE_LOG_GROUP";
/// Retention of a group the crate creates.
pub const CLOUDWATCH_LOG_RETENTION_DAYS: &str = "CLOUDWATCH_LOG_RETENTION_DAYS";
/// The template's `LogRetentionInDays` default, for a group created from here.
pub const DEFAULT_LOG_RETENTION_DAYS: i32 = 30;

/// Rollbar's `post_server_item` token; unset, reporting is off.
pub const ROLLBAR_ACCESS_TOKEN: &str = "ROLLBAR_ACCESS_TOKEN";
/// The ARN of a Secrets Manager secret or SSM parameter whose value is the token; wins over
/// `ROLLBAR_ACCESS_TOKEN` (feature `secrets`).
pub const ROLLBAR_ACCESS_TOKEN_SECRET_ARN: &str = "ROLLBAR_ACCESS_TOKEN_SECRET_ARN";
/// Where items are posted.
pub const ROLLBAR_ENDPOINT: &str = "ROLLBAR_ENDPOINT";
/// Rollbar's item API.
pub const DEFAULT_ROLLBAR_ENDPOINT: &str = "https://api.rollbar.com/api/1/item/";
/// The items' `environment`.
pub const ROLLBAR_ENVIRONMENT: &str = "ROLLBAR_ENVIRONMENT";
/// The `environment` when `ROLLBAR_ENVIRONMENT` is unset (pyrollbar's default too).
pub const DEFAULT_ROLLBAR_ENVIRONMENT: &str = "development";
/// The items' `code_version`; the crate's version when unset.
pub const ROLLBAR_CODE_VERSION: &str = "ROLLBAR_CODE_VERSION";
/// The lowest level of `tracing` events reported: `error` (default; panics and failed
/// handlers are ERROR events), `warning`, `info`, `debug`, `critical`, or `off`, which leaves
/// only `report_message`.
pub const ROLLBAR_LEVEL: &str = "ROLLBAR_LEVEL";
/// Items sent per invocation at most; more are counted, not sent.
pub const ROLLBAR_MAX_ITEMS: &str = "ROLLBAR_MAX_ITEMS";
/// `ROLLBAR_MAX_ITEMS` when unset.
pub const DEFAULT_ROLLBAR_MAX_ITEMS: u64 = 10;
/// Extra field names to scrub from items, comma-separated, matched case-insensitively.
pub const ROLLBAR_SCRUB_FIELDS: &str = "ROLLBAR_SCRUB_FIELDS";
/// A link to the trace put in each item's `custom.trace_link`, with `{trace_id}` and
/// `{xray_trace_id}` replaced: `https://ui.honeycomb.io/<team>/environments/<env>/trace?trace_id={trace_id}`.
pub const LAMBDA_TELEMETRY_TRACE_LINK: &str = "LAMBDA_TELEMETRY_TRACE_LINK";
/// The function's code directory, set by Lambda: Rollbar's `server.root`. Set, the process
/// runs in a Lambda execution environment (Lambda's or SAM CLI's emulator); `cargo lambda`
/// does not set it.
pub const LAMBDA_TASK_ROOT: &str = "LAMBDA_TASK_ROOT";
/// The host's name, where the shell or container sets it: Rollbar's `server.host` and the
/// default CloudWatch Logs stream off Lambda (`/etc/hostname` when unset).
pub const HOSTNAME: &str = "HOSTNAME";
/// `true` when SAM CLI runs the function (`sam local invoke`, `sam local start-api`): an
/// execution environment whose output goes to a terminal, not to CloudWatch Logs.
pub const AWS_SAM_LOCAL: &str = "AWS_SAM_LOCAL";

/// Level used when none of `AWS_LAMBDA_LOG_LEVEL`, `RUST_LOG` and `POWERTOOLS_LOG_LEVEL` is set.
pub const DEFAULT_LOG_LEVEL: &str = "info";
/// Service name used when `OTEL_SERVICE_NAME`, `POWERTOOLS_SERVICE_NAME` and
/// `AWS_LAMBDA_FUNCTION_NAME` are unset (the OpenTelemetry specification's fallback).
pub const DEFAULT_SERVICE_NAME: &str = "unknown_service";

/// Target of the one access-log line per request, so it can be filtered on its own
/// (`RUST_LOG=lambda_telemetry::access=off`).
pub const ACCESS_LOG_TARGET: &str = "lambda_telemetry::access";

/// Target of the invocation's server span. The log filter never hides it: every line of the
/// invocation takes its Lambda context keys from it, whatever the level.
pub const INVOCATION_SPAN_TARGET: &str = "lambda_telemetry::invocation";

/// Log keys, named as Powertools for AWS Lambda names them so that the same CloudWatch Logs
/// Insights queries work across Python, TypeScript and Rust functions.
pub mod log_keys {
    /// UTC, RFC 3339 with milliseconds.
    pub const TIMESTAMP: &str = "timestamp";
    /// `TRACE`, `DEBUG`, `INFO`, `WARN` or `ERROR`: the names Lambda's own log-level filter reads.
    pub const LEVEL: &str = "level";
    /// What happened, in words.
    pub const MESSAGE: &str = "message";
    /// `OTEL_SERVICE_NAME`.
    pub const SERVICE: &str = "service";
    /// The OpenTelemetry trace id, 32 hex digits.
    pub const TRACE_ID: &str = "trace_id";
    /// The OpenTelemetry id of the span the line was written in, 16 hex digits.
    pub const SPAN_ID: &str = "span_id";
    /// Where the line was written: `module::path:line`.
    pub const LOCATION: &str = "location";
    /// `true` on the first invocation of an execution environment.
    pub const COLD_START: &str = "cold_start";
    /// `AWS_LAMBDA_FUNCTION_NAME`.
    pub const FUNCTION_NAME: &str = "function_name";
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, a number.
    pub const FUNCTION_MEMORY_SIZE: &str = "function_memory_size";
    /// The ARN the function was invoked with (it may name an alias or version).
    pub const FUNCTION_ARN: &str = "function_arn";
    /// Lambda's request id of the invocation.
    pub const FUNCTION_REQUEST_ID: &str = "function_request_id";
    /// The `Root` of the X-Ray trace header, `1-5759e988-bd862e3fe1be46a994272793`.
    pub const XRAY_TRACE_ID: &str = "xray_trace_id";
    /// API Gateway's `requestContext.requestId`: the id API Gateway's own logs carry.
    pub const CORRELATION_ID: &str = "correlation_id";
    /// The tenant of a function in Lambda's tenant isolation mode (Powertools Java's key).
    pub const TENANT_ID: &str = "tenant_id";
    /// `POWERTOOLS_LOGGER_SAMPLE_RATE` when it is set: the share of invocations logging at
    /// DEBUG whatever the level (Powertools' key).
    pub const SAMPLING_RATE: &str = "sampling_rate";
    /// The uuid of the Rollbar item reporting the same event.
    pub const ROLLBAR_UUID: &str = "rollbar_uuid";
    /// A failed handler's error, with its causes.
    pub const ERROR: &str = "error";
    /// Where a handler's error was raised, `path/file.rs:line:column` (a `LocatedError`).
    pub const ERROR_LOCATION: &str = "error_location";
    /// Where a panic happened, `path/file.rs:line:column`.
    pub const PANIC_LOCATION: &str = "panic_location";
    /// A panic's backtrace, std's text, when `RUST_BACKTRACE=1` asks for one.
    pub const BACKTRACE: &str = "backtrace";
}

/// Names of the metrics the crate records by itself, and of their dimensions: the
/// OpenTelemetry FaaS metric conventions, Powertools' `service`, and ours where neither has one.
/// The template's dashboard and alarm use these.
pub mod metric_keys {
    /// One per invocation (OpenTelemetry `faas.invocations`).
    pub const INVOCATIONS: &str = "faas.invocations";
    /// 1 for an invocation answered 5xx (a failed or panicked handler too), else 0: its
    /// Average is the error rate (OpenTelemetry `faas.errors`).
    pub const ERRORS: &str = "faas.errors";
    /// From the request to the response, in seconds (OpenTelemetry `faas.invoke_duration`).
    pub const INVOKE_DURATION: &str = "faas.invoke_duration";
    /// 1 on the first invocation of an execution environment (OpenTelemetry `faas.coldstarts`;
    /// Powertools' `ColdStart`).
    pub const COLDSTARTS: &str = "faas.coldstarts";
    /// Telemetry a flush could not deliver, by [`KIND`], published at the next flush.
    pub const LOST: &str = "lambda_telemetry.lost";
    /// Powertools' default dimension: the service name, first in every EMF dimension set.
    pub const SERVICE: &str = "service";
    /// The function's name (`AWS_LAMBDA_FUNCTION_NAME`; OpenTelemetry `faas.name`).
    pub const FAAS_NAME: &str = "faas.name";
    /// The route template, `/api/activities/{handle}`; `unknown` when none was named.
    pub const HTTP_ROUTE: &str = "http.route";
    /// `2xx`, `3xx`, `4xx` or `5xx`.
    pub const HTTP_RESPONSE_STATUS_CLASS: &str = "http.response.status_class";
    /// What was lost: `spans`, `log_lines`, `rollbar_items`, `metric_values`.
    pub const KIND: &str = "kind";
}

/// Fields of the invocation span. They follow the OpenTelemetry semantic conventions where
/// one exists, so the same span exports unchanged to OpenTelemetry.
pub mod span_fields {
    /// OpenTelemetry: `true` on a cold start.
    pub const FAAS_COLDSTART: &str = "faas.coldstart";
    /// OpenTelemetry: Lambda's request id.
    pub const FAAS_INVOCATION_ID: &str = "faas.invocation_id";
    /// OpenTelemetry: the ARN the function was invoked with.
    pub const AWS_LAMBDA_INVOKED_ARN: &str = "aws.lambda.invoked_arn";
    /// The tenant Lambda's tenant isolation mode invoked the function for
    /// (`Lambda-Runtime-Aws-Tenant-Id`). No OpenTelemetry convention names it yet; it sits
    /// beside `aws.lambda.invoked_arn`.
    pub const AWS_LAMBDA_TENANT_ID: &str = "aws.lambda.tenant_id";
    /// No convention exists: the `Root` of the Lambda X-Ray trace header.
    pub const AWS_XRAY_TRACE_ID: &str = "aws.xray.trace_id";
    /// No convention exists: API Gateway's `requestContext.requestId`.
    pub const AWS_APIGATEWAY_REQUEST_ID: &str = "aws.apigateway.request_id";
    /// OpenTelemetry: `GET`.
    pub const HTTP_REQUEST_METHOD: &str = "http.request.method";
    /// OpenTelemetry: the route template, `/api/activities/{handle}`.
    pub const HTTP_ROUTE: &str = "http.route";
    /// OpenTelemetry: the path, without the query.
    pub const URL_PATH: &str = "url.path";
    /// OpenTelemetry: the response's status code.
    pub const HTTP_RESPONSE_STATUS_CODE: &str = "http.response.status_code";
    /// OpenTelemetry: the ARN the function was invoked with.
    pub const CLOUD_RESOURCE_ID: &str = "cloud.resource_id";
    /// OpenTelemetry: the account of the function, read from its ARN.
    pub const CLOUD_ACCOUNT_ID: &str = "cloud.account.id";
    /// The attributes of a span to index as X-Ray annotations, comma-separated:
    /// `"aws.xray.annotations" = "app.handle"`. The OpenTelemetry Collector's X-Ray exporter
    /// reads the same attribute.
    pub const XRAY_ANNOTATIONS: &str = "aws.xray.annotations";
    /// Marks the invocation span's link to the Lambda function's X-Ray segment, under which
    /// the X-Ray exporter places the invocation's subsegments.
    pub const XRAY_LAMBDA_SEGMENT_LINK: &str = "aws.xray.lambda_segment";
}

/// Which invocation-span field becomes which log key on every line inside the invocation.
pub(crate) const CONTEXT_LOG_KEYS: [(&str, &str); 6] = [
    (span_fields::FAAS_COLDSTART, log_keys::COLD_START),
    (span_fields::AWS_LAMBDA_INVOKED_ARN, log_keys::FUNCTION_ARN),
    (
        span_fields::FAAS_INVOCATION_ID,
        log_keys::FUNCTION_REQUEST_ID,
    ),
    (span_fields::AWS_XRAY_TRACE_ID, log_keys::XRAY_TRACE_ID),
    (
        span_fields::AWS_APIGATEWAY_REQUEST_ID,
        log_keys::CORRELATION_ID,
    ),
    (span_fields::AWS_LAMBDA_TENANT_ID, log_keys::TENANT_ID),
];

/// Field names whose values are never written anywhere: compared case-insensitively, on
/// names with `-` and `.` read as `_`, and matching when the name contains one of these.
/// The list starts from pyrollbar's scrub fields and adds the HTTP and vendor names: session
/// cookies (`PHPSESSID`, `JSESSIONID`, Express's `connect.sid`), ALB's OIDC claims header
/// (`x-amzn-oidc-data`, a signed JWT), private keys and their passphrases.
pub const SECRET_NAME_PARTS: [&str; 18] = [
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "auth",
    "cookie",
    "api_key",
    "apikey",
    "private_key",
    "privatekey",
    "x_honeycomb_team",
    "x_amzn_oidc_data",
    "credential",
    "signature",
    "session",
    "sessid",
    "connect_sid",
];

/// Query and fragment parameters that carry secrets only inside a URL, where their meaning is
/// fixed (elsewhere the names are too common: `code=500`): Google's `key=AIza...`, OAuth's
/// authorization `code`, Azure SAS's `sig`. Compared whole and case-insensitively; the names
/// of [`SECRET_NAME_PARTS`] count in URLs too (`X-Amz-Signature`, `X-Amz-Credential`,
/// `X-Amz-Security-Token`).
pub const SECRET_URL_PARAMETERS: [&str; 3] = ["key", "code", "sig"];

/// What a secret value is replaced with.
pub const REDACTED: &str = "[REDACTED]";
