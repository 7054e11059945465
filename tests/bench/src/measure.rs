//! Running one variant under the Runtime API server: cold starts, warm invocations with
//! peak RSS, and instructions per invocation under callgrind.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use tests::counting_sinks::CountingSinks;
use tests::http_stub::{Answer, Headers};
use tests::runtime_api::RuntimeApi;

use crate::variants::{Keys, Launch, Sinks, Traces, Variant};

/// How long one start may take to answer, even under valgrind or a cold Python import.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// The loopback receivers a variant's telemetry goes to; they live for the whole variant and
/// only count what arrives, so that no decoding is timed as part of the flush.
pub struct Receivers {
    sinks: CountingSinks,
    /// For the variants whose OTLP requests must carry something (the keys' header, a SigV4
    /// signature): an OTLP endpoint of their own that counts every request, and those that do.
    checked_otlp: Option<CheckedOtlp>,
}

/// Whether one OTLP request carries what its row requires, from its headers.
type RequestCheck = fn(&Headers) -> bool;

struct CheckedOtlp {
    port: u16,
    all: Arc<AtomicUsize>,
    passed: Arc<AtomicUsize>,
    /// What every request must carry, for the error when one does not.
    what: &'static str,
}

impl Receivers {
    pub fn start(sinks: Sinks, keys: Keys, traces: Traces) -> Self {
        let otlp_answer = match sinks {
            Sinks::SlowOtlp(_) => Answer::After(Duration::from_millis(100), 200),
            _ => Answer::Status(200, None),
        };
        // A build that ignored the setting would send without it, and its row would measure
        // a cheaper path than its name says.
        let check: Option<(&'static str, RequestCheck)> = match (keys, traces) {
            (Keys::Token, Traces::OtlpSigV4) => Some((
                "a SigV4 signature for xray with the example keys",
                signed_with_example_keys,
            )),
            (Keys::Token, _) => None,
            (Keys::Env | Keys::SecretsManager, _) => {
                Some(("the OTLP headers", carries_otlp_headers))
            }
        };
        let checked_otlp = check.map(|(what, passes)| {
            let all = Arc::new(AtomicUsize::new(0));
            let passed = Arc::new(AtomicUsize::new(0));
            let port = tests::http_stub::start(otlp_answer, {
                let (all, passed) = (Arc::clone(&all), Arc::clone(&passed));
                move |headers, _| {
                    all.fetch_add(1, Ordering::Relaxed);
                    if passes(&headers) {
                        passed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
            CheckedOtlp {
                port,
                all,
                passed,
                what,
            }
        });
        Self {
            sinks: CountingSinks::start(otlp_answer),
            checked_otlp,
        }
    }

    fn otlp_endpoint(&self) -> String {
        match &self.checked_otlp {
            Some(checked) => format!("http://127.0.0.1:{}", checked.port),
            None => self.sinks.otlp_endpoint(),
        }
    }

    /// What arrived, for the JSON: (OTLP requests, X-Ray documents, Rollbar items).
    pub fn received(&self) -> (usize, usize, usize) {
        let (otlp, xray, rollbar) = self.sinks.received();
        match &self.checked_otlp {
            Some(checked) => (checked.all.load(Ordering::Relaxed), xray, rollbar),
            None => (otlp, xray, rollbar),
        }
    }

    /// For the variants whose OTLP requests must carry something: how many did, and what.
    pub fn otlp_checked(&self) -> Option<(usize, &'static str)> {
        self.checked_otlp
            .as_ref()
            .map(|checked| (checked.passed.load(Ordering::Relaxed), checked.what))
    }
}

/// Whether a request carries the benchmark's OTLP header.
fn carries_otlp_headers(headers: &Headers) -> bool {
    let (name, value) = OTLP_HEADERS.split_once('=').expect("name=value");
    headers.iter().any(|(n, v)| n == name && v == value)
}

/// Whether a request is signed as for CloudWatch's OTLP traces endpoint with the benchmark's
/// credentials: the scope and key in `authorization`, the session token beside it. The
/// signature itself is not recomputed (the end-to-end tests check it with botocore); the
/// receiver answers 200 either way, as it does for the unsigned row.
fn signed_with_example_keys(headers: &Headers) -> bool {
    let credential = format!("AWS4-HMAC-SHA256 Credential={EXAMPLE_ACCESS_KEY_ID}/");
    let token = session_token();
    let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v);
    header("authorization").is_some_and(|auth| {
        auth.starts_with(&credential) && auth.contains("/us-east-1/xray/aws4_request,")
    }) && header("x-amz-security-token").is_some_and(|t| *t == token)
}

/// What every run shares: where the Python venv and moto are.
pub struct Context {
    pub root: PathBuf,
    pub python: PathBuf,
    pub moto_endpoint: Option<String>,
    /// The secrets of the Secrets Manager variant, when its moto started.
    pub secrets: Option<Secrets>,
}

/// The Rollbar token and the OTLP headers, the values both key variants send with.
pub const ROLLBAR_TOKEN: &str = "bench-token";
pub const OTLP_HEADERS: &str = "x-bench-key=bench-key";

/// The credentials the signed OTLP row signs with: AWS's documented example keys (IAM User
/// Guide), never valid anywhere.
pub const EXAMPLE_ACCESS_KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
pub const EXAMPLE_SECRET_ACCESS_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

/// A fake session token as long as a Lambda role's (about a thousand characters): it is a
/// signed header of every request, so its length is part of what signing costs.
pub fn session_token() -> String {
    "IQoJb3JpZ2luX2VjEXAMPLE".repeat(44)
}

/// Where the Secrets Manager variant reads its keys: a moto of its own, and the ARNs of the
/// two secrets in it.
#[derive(Clone, Debug)]
pub struct Secrets {
    pub endpoint: String,
    pub rollbar_token_arn: String,
    pub otlp_headers_arn: String,
}

/// Spawns `variant` against `api`, under `wrapper` (valgrind) when given.
fn spawn(
    context: &Context,
    variant: &Variant,
    receivers: &Receivers,
    api: &RuntimeApi,
    wrapper: &[String],
) -> (Child, Arc<Mutex<Vec<u8>>>) {
    let (program, args): (PathBuf, Vec<String>) = match &variant.launch {
        Launch::Binary(path) => (path.clone(), Vec::new()),
        Launch::Python(handler) => (
            context.python.clone(),
            vec!["-m".into(), "awslambdaric".into(), (*handler).into()],
        ),
    };
    let mut command = if wrapper.is_empty() {
        Command::new(&program)
    } else {
        let mut command = Command::new(&wrapper[0]);
        command.args(&wrapper[1..]).arg(&program);
        command
    };
    let task_root = context.root.join("tests/bench/python");
    // Only what Lambda would set: the caller's OTEL_*, RUST_LOG and the like stay out.
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("LANG", "C.UTF-8")
        .env("TZ", "UTC")
        .env("AWS_LAMBDA_RUNTIME_API", api.address())
        .env("AWS_LAMBDA_FUNCTION_NAME", &variant.name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/21/[$LATEST]bench")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("LAMBDA_TASK_ROOT", &task_root)
        .env("PYTHONPATH", &task_root)
        .env("FRONTEND_URL", "http://localhost:3000")
        .env("BACKEND_URL", "http://127.0.0.1:4567")
        .current_dir(&context.root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(moto) = &context.moto_endpoint {
        command.env("AWS_ENDPOINT_URL", moto);
    }
    if variant.sinks != Sinks::None {
        command
            .env("OTEL_SERVICE_NAME", "cruddur")
            .env("ROLLBAR_ACCESS_TOKEN", ROLLBAR_TOKEN)
            .env("ROLLBAR_ENDPOINT", receivers.sinks.rollbar_endpoint())
            .env("POWERTOOLS_SERVICE_NAME", "cruddur");
        // The one-destination rows set only their own destination's settings, so that no
        // other sink is built.
        match variant.traces {
            Traces::OtlpAndXray => command
                .env("OTEL_TRACES_EXPORTER", "otlp,xray")
                .env("OTEL_EXPORTER_OTLP_ENDPOINT", receivers.otlp_endpoint())
                .env("AWS_XRAY_DAEMON_ADDRESS", receivers.sinks.xray_address()),
            Traces::Xray => command
                .env("OTEL_TRACES_EXPORTER", "xray")
                .env("AWS_XRAY_DAEMON_ADDRESS", receivers.sinks.xray_address()),
            // The signal's own endpoint, as for CloudWatch's (`https://xray.<region>.amazonaws.com/v1/traces`).
            Traces::Otlp | Traces::OtlpSigV4 => command.env("OTEL_TRACES_EXPORTER", "otlp").env(
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                format!("{}/v1/traces", receivers.otlp_endpoint()),
            ),
        };
        // Loopback is no AWS host: `on` signs it as `auto` would sign CloudWatch's endpoint.
        if variant.traces == Traces::OtlpSigV4 {
            command
                .env("LAMBDA_TELEMETRY_OTLP_SIGV4", "on")
                .env("AWS_ACCESS_KEY_ID", EXAMPLE_ACCESS_KEY_ID)
                .env("AWS_SECRET_ACCESS_KEY", EXAMPLE_SECRET_ACCESS_KEY)
                .env("AWS_SESSION_TOKEN", session_token());
        }
    }
    match (variant.keys, &context.secrets) {
        (Keys::Token, _) => {}
        (Keys::Env, _) => {
            command.env("OTEL_EXPORTER_OTLP_HEADERS", OTLP_HEADERS);
        }
        (Keys::SecretsManager, Some(secrets)) => {
            command
                .env_remove("ROLLBAR_ACCESS_TOKEN")
                .env(
                    "ROLLBAR_ACCESS_TOKEN_SECRET_ARN",
                    &secrets.rollbar_token_arn,
                )
                .env(
                    "OTEL_EXPORTER_OTLP_HEADERS_SECRET_ARN",
                    &secrets.otlp_headers_arn,
                )
                .env("AWS_ENDPOINT_URL", &secrets.endpoint);
        }
        // Refused before anything is spawned (`measure_variant`).
        (Keys::SecretsManager, None) => {}
    }
    // `none` rather than POWERTOOLS_METRICS_DISABLED=true: both leave every sink without
    // metrics, so no recorder is installed (the crate's own rule, `metrics_exporter`).
    if !variant.metrics {
        command.env("OTEL_METRICS_EXPORTER", "none");
    }
    // Unset is off, the default; `debug` is the level Powertools buffers at by default.
    if variant.log_buffer {
        command.env("LAMBDA_TELEMETRY_LOG_BUFFER", "debug");
    }
    if let Some(level) = variant.log_level {
        command.env("AWS_LAMBDA_LOG_LEVEL", level);
    }
    if let Sinks::SlowOtlp(budget) = variant.sinks {
        command.env("LAMBDA_TELEMETRY_FLUSH_BUDGET_MS", budget.to_string());
    }
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("{}: cannot start {}: {e}", variant.name, program.display()));
    // Read as Lambda's log pipe would be; the tail is kept to explain a failed start.
    let output = Arc::new(Mutex::new(Vec::new()));
    drain(child.stdout.take().expect("piped"), &output);
    drain(child.stderr.take().expect("piped"), &output);
    (child, output)
}

fn drain(mut stream: impl Read + Send + 'static, into: &Arc<Mutex<Vec<u8>>>) {
    let into = Arc::clone(into);
    thread::spawn(move || {
        let mut buffer = [0; 65_536];
        while let Ok(n) = stream.read(&mut buffer) {
            if n == 0 {
                break;
            }
            let mut kept = into.lock().unwrap();
            kept.extend_from_slice(&buffer[..n]);
            // Only the tail matters.
            if kept.len() > 64_000 {
                let cut = kept.len() - 16_000;
                kept.drain(..cut);
            }
        }
    });
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn failure(variant: &Variant, api: &RuntimeApi, output: &Mutex<Vec<u8>>) -> String {
    let output = output.lock().unwrap();
    let tail = String::from_utf8_lossy(&output[output.len().saturating_sub(3000)..]).into_owned();
    format!(
        "{} did not finish its invocations (init error: {:?}); its last output:\n{tail}",
        variant.name,
        api.init_error()
    )
}

/// `BENCH_COLD_WRAPPER`, split on spaces: a command the cold starts run under, such as
/// `perf record -o target/bench/cold.perf --`, to profile start-up.
fn cold_wrapper() -> Vec<String> {
    std::env::var("BENCH_COLD_WRAPPER")
        .map(|w| w.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// One cold start: from spawn to its first `/next`, its first response, and its flush.
#[derive(Clone, Copy, Debug)]
pub struct ColdStart {
    /// Spawn → the extension registration, when the variant registers one.
    pub registration: Option<Duration>,
    /// Minor page faults of the process by the end of its first flush.
    pub minor_faults: Option<u64>,
    pub init: Duration,
    pub first_response: Duration,
    pub flush: Duration,
}

pub fn cold_starts(
    context: &Context,
    variant: &Variant,
    receivers: &Receivers,
    event: &[u8],
    count: usize,
) -> Result<Vec<ColdStart>, String> {
    let mut starts = Vec::with_capacity(count);
    for _ in 0..count {
        let api = RuntimeApi::start();
        api.queue(event, 1);
        let spawned = Instant::now();
        let (child, output) = spawn(context, variant, receivers, &api, &cold_wrapper());
        let finished = api.wait_for(1, START_TIMEOUT);
        let minor_faults = minor_faults(child.id());
        stop(child);
        if !finished {
            return Err(failure(variant, &api, &output));
        }
        let invocation = &api.invocations()[0];
        let posted = invocation.posted.expect("finished");
        starts.push(ColdStart {
            registration: api.first_registration().map(|r| r - spawned),
            minor_faults,
            init: api.first_next().expect("finished") - spawned,
            first_response: posted - spawned,
            flush: invocation.next.expect("finished") - posted,
        });
    }
    Ok(starts)
}

/// Warm invocations of one process, after its first (cold) one.
pub struct Warm {
    /// Event handed out → response posted.
    pub latency: Vec<Duration>,
    /// Response posted → next `/next`.
    pub flush: Vec<Duration>,
    /// VmHWM, in KiB, read once the last flush was over.
    pub peak_rss_kib: Option<u64>,
    /// The first response, to compare with `cargo lambda watch`'s.
    pub first_response: Vec<u8>,
}

pub fn warm(
    context: &Context,
    variant: &Variant,
    receivers: &Receivers,
    event: &[u8],
    count: usize,
) -> Result<Warm, String> {
    let api = RuntimeApi::start();
    if let Some(gap) = variant.gap {
        api.set_gap(gap);
    }
    api.queue(event, count + 1);
    let (child, output) = spawn(context, variant, receivers, &api, &[]);
    let finished = api.wait_for(count + 1, START_TIMEOUT + Duration::from_secs(600));
    let peak_rss_kib = peak_rss_kib(child.id());
    stop(child);
    if !finished {
        return Err(failure(variant, &api, &output));
    }
    let invocations = api.invocations();
    if let Some(failed) = invocations.iter().find(|i| i.failed) {
        return Err(format!(
            "{}: an invocation failed: {}",
            variant.name,
            String::from_utf8_lossy(&failed.response)
        ));
    }
    let warm = &invocations[1..=count];
    Ok(Warm {
        latency: warm
            .iter()
            .map(|i| i.posted.expect("finished") - i.handed_out)
            .collect(),
        flush: warm
            .iter()
            .map(|i| i.next.expect("finished") - i.posted.expect("finished"))
            .collect(),
        peak_rss_kib,
        first_response: invocations[0].response.clone(),
    })
}

/// Minor page faults of a running process so far (field 10 of /proc/PID/stat).
fn minor_faults(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(") ")?;
    rest.split_whitespace().nth(7)?.parse().ok()
}

/// The peak resident set of a running process, from /proc.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Instructions per warm invocation: callgrind's total for `1 + 2n` invocations less its
/// total for `1 + n`, over `n`, so start-up and shutdown cancel out.
pub fn instructions_per_invocation(
    context: &Context,
    variant: &Variant,
    receivers: &Receivers,
    event: &[u8],
    n: usize,
    out_dir: &Path,
) -> Result<u64, String> {
    let mut totals = Vec::new();
    for count in [n, 2 * n] {
        let file = out_dir.join(format!(
            "{}.{count}.callgrind",
            variant.name.replace([' ', ',', ':', '+'], "_")
        ));
        let wrapper = vec![
            "valgrind".to_owned(),
            "--tool=callgrind".to_owned(),
            "--quiet".to_owned(),
            format!("--callgrind-out-file={}", file.display()),
        ];
        let api = RuntimeApi::start();
        api.queue(event, count + 1);
        let (child, output) = spawn(context, variant, receivers, &api, &wrapper);
        let finished = api.wait_for(count + 1, START_TIMEOUT + Duration::from_secs(600));
        // SIGTERM, so that callgrind writes its totals as the process ends.
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let mut child = child;
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            thread::sleep(Duration::from_millis(50));
        }
        stop(child);
        if !finished {
            return Err(failure(variant, &api, &output));
        }
        totals.push(callgrind_total(&file)?);
    }
    Ok(totals[1].saturating_sub(totals[0]) / n as u64)
}

/// The `summary:` (or `totals:`) instruction count of a callgrind output file.
fn callgrind_total(file: &Path) -> Result<u64, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    text.lines()
        .find_map(|line| {
            line.strip_prefix("summary:")
                .or_else(|| line.strip_prefix("totals:"))
        })
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| format!("{}: no summary line", file.display()))
}
