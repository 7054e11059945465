//! What is measured: the floor, the Cruddur functions with every sink on (and with a slow
//! OTLP receiver), the closest Rust peer and the two Python stacks.

use std::path::{Path, PathBuf};

/// How a variant's sinks are set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sinks {
    /// No telemetry at all.
    None,
    /// Every sink on, pointed at loopback receivers that answer at once.
    Local,
    /// The same, with the OTLP receiver answering after 100 ms, and this flush budget (ms).
    SlowOtlp(u64),
}

/// Where the sinks' keys (the Rollbar token, the OTLP headers) come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keys {
    /// The Rollbar token as a plain variable, no OTLP headers: the rows measured since
    /// issue 6, kept as they were so that their figures stay comparable.
    Token,
    /// `ROLLBAR_ACCESS_TOKEN` and `OTEL_EXPORTER_OTLP_HEADERS` as plain variables.
    Env,
    /// The same two values from Secrets Manager (`*_SECRET_ARN`), in the moto the benchmark
    /// starts on loopback: read in the background when serving starts, waited for by the
    /// first flush only.
    SecretsManager,
}

/// Where the Cruddur functions' spans go, with sinks on (issue 17).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Traces {
    /// `otlp,xray`: both, unsigned OTLP and the daemon, the rows measured since issue 6,
    /// kept as they were so that their figures stay comparable.
    OtlpAndXray,
    /// `xray` alone: segment documents to the daemon's UDP port, the daemon path (today's
    /// default in the template).
    Xray,
    /// `otlp` alone, unsigned, to the loopback receiver.
    Otlp,
    /// `otlp` alone to the same receiver, every request signed with SigV4 as for CloudWatch's
    /// OTLP endpoint (`LAMBDA_TELEMETRY_OTLP_SIGV4=on`: the endpoint is no AWS host), with
    /// AWS's documented example keys: against [`Traces::Otlp`], the signing's own cost.
    OtlpSigV4,
}

/// How a variant is started.
#[derive(Clone, Debug)]
pub enum Launch {
    /// A native binary.
    Binary(PathBuf),
    /// `python -m awslambdaric <handler>` in the benchmark's venv.
    Python(&'static str),
}

/// One thing to measure.
#[derive(Clone, Debug)]
pub struct Variant {
    /// The row's name.
    pub name: String,
    /// What it stands for, for the JSON.
    pub about: &'static str,
    /// How it starts.
    pub launch: Launch,
    /// `events/<event>.json` is what every invocation gets.
    pub event: &'static str,
    /// A query parameter (name, value) set in that event's `queryStringParameters` and
    /// `multiValueQueryStringParameters`, as API Gateway would pass `?name=value`: how a row
    /// asks rollbar-test to fail, for which `events/` has no fixture of its own.
    pub query: Option<(&'static str, &'static str)>,
    /// Which sinks it talks to.
    pub sinks: Sinks,
    /// The function name Lambda would set; the root or bench workspace binary for arm64 sizes.
    pub binary: Option<Build>,
    /// Whether to count its instructions under callgrind (native binaries only).
    pub callgrind: bool,
    /// Whether the warm run uses the short invocation count (each flush waits 100 ms).
    pub slow: bool,
    /// Events handed out this long after they are asked for: the control for the slow
    /// receiver, whose flush leaves the process idle for 100 ms between invocations.
    pub gap: Option<std::time::Duration>,
    /// Where the sinks' keys come from (with sinks on).
    pub keys: Keys,
    /// Whether the function's metrics are on (the default: `OTEL_METRICS_EXPORTER` unset, EMF
    /// lines on stdout) or off (`none`: no recorder is installed, the facade's calls do
    /// nothing). Only the Cruddur functions read it.
    pub metrics: bool,
    /// Whether the function buffers its log lines (`LAMBDA_TELEMETRY_LOG_BUFFER=debug`: each
    /// invocation's DEBUG and TRACE lines held, up to 20 KiB, written before an ERROR line or
    /// a failure, dropped otherwise) or not (the default: unset). Only the Cruddur functions
    /// read it.
    pub log_buffer: bool,
    /// `AWS_LAMBDA_LOG_LEVEL`, when not Lambda's default (unset: INFO).
    pub log_level: Option<&'static str>,
    /// Where the spans go, with sinks on.
    pub traces: Traces,
}

/// Where a native binary is built from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Build {
    /// The root workspace (the functions).
    Root(&'static str),
    /// The bench workspace (floor and peer).
    Bench(&'static str),
}

impl Build {
    pub fn name(self) -> &'static str {
        match self {
            Build::Root(name) | Build::Bench(name) => name,
        }
    }
}

/// Every variant, in table order. `bin_dir` holds the native binaries.
pub fn all(bin_dir: &Path) -> Vec<Variant> {
    let native = |build: Build, name: &str, about, event, sinks, slow| Variant {
        name: name.to_owned(),
        about,
        launch: Launch::Binary(bin_dir.join(build.name())),
        event,
        query: None,
        sinks,
        binary: Some(build),
        callgrind: true,
        slow,
        gap: None,
        keys: Keys::Token,
        metrics: true,
        log_buffer: false,
        log_level: None,
        traces: Traces::OtlpAndXray,
    };
    let mut variants = vec![
        native(
            Build::Bench("bare-runtime"),
            "bare-runtime",
            "floor: lambda_runtime, same JSON, no telemetry",
            "home",
            Sinks::None,
            false,
        ),
        native(
            Build::Bench("bare-http"),
            "bare-http",
            "floor: lambda_http with home-activities' handler, no telemetry",
            "home",
            Sinks::None,
            false,
        ),
    ];
    for (function, event) in [
        ("home-activities", "home"),
        ("notifications-activities", "notifications"),
        ("user-activities", "user-activities"),
        ("rollbar-test", "rollbar-test"),
    ] {
        variants.push(native(
            Build::Root(function),
            function,
            "Cruddur function: JSON logs, OTLP, X-Ray, Rollbar to local receivers",
            event,
            Sinks::Local,
            false,
        ));
    }
    // Issue 15: home-activities' row has metrics on (the default); this one is the same
    // build with them off, everything else equal, so that the difference is the metrics'
    // alone: recording, closing each invocation's group, its EMF lines in the flush.
    let mut metrics_off = native(
        Build::Root("home-activities"),
        "home-activities, metrics off",
        "home-activities with OTEL_METRICS_EXPORTER=none: no recorder, no EMF lines",
        "home",
        Sinks::Local,
        false,
    );
    metrics_off.metrics = false;
    variants.push(metrics_off);
    // Issue 16: the same build with log buffering on. Its invocations succeed and log no
    // ERROR, so nothing is ever flushed: what every invocation pays is its DEBUG and TRACE
    // events enabled, formatted and held, then dropped.
    let mut buffered = native(
        Build::Root("home-activities"),
        "home-activities, log buffer",
        "home-activities with LAMBDA_TELEMETRY_LOG_BUFFER=debug: DEBUG and TRACE lines held, nothing flushed",
        "home",
        Sinks::Local,
        false,
    );
    buffered.log_buffer = true;
    variants.push(buffered);
    // Issue 16: the cost of a flush on error. Every invocation of these two fails the same way
    // (`?error=1`: the handler returns an internal error, which the crate logs at ERROR,
    // reports to Rollbar and answers with a 500); with buffering on, the ERROR line writes the
    // invocation's held lines before it. rollbar-test's own row, which succeeds, is the
    // control for the failure itself.
    for (name, about, log_buffer) in [
        (
            "rollbar-test, failing",
            "rollbar-test with ?error=1: an internal error, logged at ERROR, reported, answered 500",
            false,
        ),
        (
            "rollbar-test, failing, log buffer",
            "the same with LAMBDA_TELEMETRY_LOG_BUFFER=debug: the ERROR line flushes the held DEBUG lines first",
            true,
        ),
    ] {
        let mut failing = native(
            Build::Root("rollbar-test"),
            name,
            about,
            "rollbar-test",
            Sinks::Local,
            false,
        );
        failing.query = Some(("error", "1"));
        failing.log_buffer = log_buffer;
        variants.push(failing);
    }
    // Those flush an empty buffer: rollbar-test logs nothing at DEBUG in its handler. The same
    // handler after ten DEBUG lines is the invocation buffering is for: off, the lines are
    // filtered out at INFO; on, they are formatted, held and written before the ERROR line; at
    // DEBUG without buffering, written as they are logged (what holding them adds to writing
    // them).
    for (name, about, log_buffer, log_level) in [
        (
            "debug-then-fail",
            "rollbar-test's handler with ?error=1 after ten DEBUG lines (filtered out at INFO)",
            false,
            None,
        ),
        (
            "debug-then-fail, log buffer",
            "the same with LAMBDA_TELEMETRY_LOG_BUFFER=debug: ten DEBUG lines (about 5 KB) held, written before the ERROR line",
            true,
            None,
        ),
        (
            "debug-then-fail, DEBUG level",
            "the same with AWS_LAMBDA_LOG_LEVEL=DEBUG and no buffering: the ten lines written as they are logged",
            false,
            Some("DEBUG"),
        ),
    ] {
        let mut failing = native(
            Build::Bench("debug-then-fail"),
            name,
            about,
            "rollbar-test",
            Sinks::Local,
            false,
        );
        failing.query = Some(("error", "1"));
        failing.log_buffer = log_buffer;
        failing.log_level = log_level;
        // A benchmark's binary, never deployed: no arm64 build for its size.
        failing.binary = None;
        variants.push(failing);
    }
    // Issue 14: the same keys as plain variables and from Secrets Manager, everything else
    // equal, so that the difference is the secrets' alone.
    for (name, about, keys) in [
        (
            "home-activities, keys in env",
            "home-activities with ROLLBAR_ACCESS_TOKEN and OTEL_EXPORTER_OTLP_HEADERS as plain variables",
            Keys::Env,
        ),
        (
            "home-activities, keys from Secrets Manager",
            "the same two values from Secrets Manager (moto on loopback), read in the background when serving starts",
            Keys::SecretsManager,
        ),
    ] {
        let mut variant = native(
            Build::Root("home-activities"),
            name,
            about,
            "home",
            Sinks::Local,
            false,
        );
        variant.keys = keys;
        variants.push(variant);
    }
    // Issue 17: one trace destination at a time, everything else equal: the daemon path,
    // unsigned OTLP, and the same OTLP signed as for CloudWatch's OTLP endpoint, to the same
    // receiver, so that signed against unsigned is the signing's own cost and signed against
    // the daemon is what moving off the daemon costs.
    for (name, about, traces) in [
        (
            "home-activities, X-Ray daemon",
            "home-activities with OTEL_TRACES_EXPORTER=xray: segment documents to the daemon's UDP port only",
            Traces::Xray,
        ),
        (
            "home-activities, OTLP",
            "home-activities with OTEL_TRACES_EXPORTER=otlp: unsigned OTLP/HTTP to the loopback receiver only",
            Traces::Otlp,
        ),
        (
            "home-activities, OTLP to AWS (SigV4)",
            "the same OTLP, every request signed with SigV4 for xray (LAMBDA_TELEMETRY_OTLP_SIGV4=on, example keys)",
            Traces::OtlpSigV4,
        ),
    ] {
        let mut variant = native(
            Build::Root("home-activities"),
            name,
            about,
            "home",
            Sinks::Local,
            false,
        );
        variant.traces = traces;
        variants.push(variant);
    }
    variants.push(native(
        Build::Root("home-activities"),
        "home-activities, OTLP 100 ms",
        "home-activities with the OTLP receiver answering after 100 ms (budget 500 ms)",
        "home",
        Sinks::SlowOtlp(500),
        true,
    ));
    variants.push(native(
        Build::Root("home-activities"),
        "home-activities, OTLP 100 ms, budget 20 ms",
        "the same with LAMBDA_TELEMETRY_FLUSH_BUDGET_MS=20: the budget bounds the flush",
        "home",
        Sinks::SlowOtlp(20),
        true,
    ));
    // Controls: the floor and the fast receiver with the same 100 ms of idleness between
    // invocations as the slow receiver causes, to tell its cost from idleness's (cold
    // caches, parked threads).
    for (build, name, sinks) in [
        (
            Build::Bench("bare-http"),
            "bare-http, 100 ms apart",
            Sinks::None,
        ),
        (
            Build::Root("home-activities"),
            "home-activities, 100 ms apart",
            Sinks::Local,
        ),
    ] {
        let mut control = native(
            build,
            name,
            "control: invocations handed out 100 ms after they are asked for",
            "home",
            sinks,
            true,
        );
        control.gap = Some(std::time::Duration::from_millis(100));
        control.callgrind = false;
        variants.push(control);
    }
    variants.push(native(
        Build::Bench("otel-lite-home"),
        "lambda-otel-lite",
        "home-activities' handler with lambda-otel-lite 0.20 defaults (sync mode, OTLP JSON on stdout)",
        "home",
        Sinks::None,
        false,
    ));
    for (name, module, about) in [
        (
            "python: otel+xray+watchtower+rollbar",
            "otel_stack.handler",
            "the original's stack: OTel SDK + OTLP/HTTP flushed per invocation, aws-xray-sdk, watchtower, rollbar",
        ),
        (
            "python: powertools",
            "powertools_stack.handler",
            "Powertools for AWS Lambda (Python): Logger and Tracer",
        ),
    ] {
        variants.push(Variant {
            name: name.to_owned(),
            about,
            launch: Launch::Python(module),
            event: "home",
            query: None,
            sinks: Sinks::Local,
            binary: None,
            callgrind: false,
            slow: false,
            gap: None,
            keys: Keys::Token,
            metrics: true,
            log_buffer: false,
            log_level: None,
            traces: Traces::OtlpAndXray,
        });
    }
    variants
}
