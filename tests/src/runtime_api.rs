//! A Lambda Runtime API on loopback that hands out queued events and timestamps every step
//! of a function's life: its first `/next`, each event handed out, each response posted, and
//! each following `/next` (the end of the post-response flush). Each `/next` waits for an
//! event on its own connection, so a function running several loops (Lambda Managed
//! Instances) is handed several at once; [`RuntimeApi::max_in_flight`] says how many it held.
//!
//! It answers what a function asks at start too: the Extensions API registration (with a
//! `Lambda-Extension-Identifier`) and an extension's `event/next`, which just waits, as it
//! does on Lambda while the function is alive. Every `/next` answer has a `Content-Type`:
//! awslambdaric (the Python runtime client) fails without one.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const NEXT: &str = "/2018-06-01/runtime/invocation/next";
const INVOCATION: &str = "/2018-06-01/runtime/invocation/";
const INIT_ERROR: &str = "/2018-06-01/runtime/init/error";
const EXTENSION_REGISTER: &str = "/2020-01-01/extension/register";
const EXTENSION_NEXT: &str = "/2020-01-01/extension/event/next";

/// The function ARN every invocation names.
pub const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:bench";

/// One event's trip through the function.
#[derive(Clone, Debug)]
pub struct Invocation {
    /// `Lambda-Runtime-Aws-Request-Id`.
    pub request_id: String,
    /// `Lambda-Runtime-Trace-Id`: the invocation's own X-Ray trace (`Root=1-..;Parent=..;..`).
    pub trace_header: String,
    /// `Lambda-Runtime-Aws-Tenant-Id`, when tenants are handed out.
    pub tenant_id: Option<String>,
    /// When the event was written to the function's `/next`.
    pub handed_out: Instant,
    /// When the whole response (or error) had been read.
    pub posted: Option<Instant>,
    /// When the function asked for the next event after posting this one's response.
    pub next: Option<Instant>,
    /// The response body, or the error body.
    pub response: Vec<u8>,
    /// Whether the function posted an invocation error instead of a response.
    pub failed: bool,
}

#[derive(Debug, Default)]
struct State {
    /// Events and how many more times each is handed out; shared, so that queuing 100,000
    /// copies costs one.
    queued: VecDeque<(Arc<[u8]>, usize)>,
    invocations: Vec<Invocation>,
    /// Invocations whose answer was posted, waiting for the function's next `/next`.
    awaiting_next: VecDeque<usize>,
    /// How many invocations have had their `/next` after the answer: done, flush included.
    done: usize,
    /// Handed out and not yet acknowledged, now and at most.
    in_flight: usize,
    max_in_flight: usize,
    /// Whether answers are kept (off for long runs, where they would be the test's memory).
    discard_answers: bool,
    /// How long an answer's acknowledgement waits.
    post_delay: Duration,
    /// Whether each invocation is handed a tenant of its own (`tenant-<n>`), as Lambda's
    /// tenant isolation mode hands one in `Lambda-Runtime-Aws-Tenant-Id`.
    tenants: bool,
    first_next: Option<Instant>,
    init_error: Option<String>,
    extensions_registered: usize,
    first_registration: Option<Instant>,
    gap: Duration,
}

/// The server; its threads stop with the process, its state with the last handle.
#[derive(Clone)]
pub struct RuntimeApi {
    port: u16,
    shared: Arc<(Mutex<State>, Condvar)>,
}

impl RuntimeApi {
    /// Starts on a free loopback port, with nothing queued.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new((Mutex::new(State::default()), Condvar::new()));
        let api = Self { port, shared };
        let server = api.clone();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let server = server.clone();
                thread::spawn(move || server.serve(stream));
            }
        });
        api
    }

    /// `127.0.0.1:<port>`, for `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Queues `count` copies of `event`; each `/next` takes one, in the order queued: events
    /// queued one at a time go to the invocations in that order, the first to
    /// `invocations()[0]`, however many loops ask at once.
    pub fn queue(&self, event: &[u8], count: usize) {
        if count == 0 {
            return;
        }
        let (state, changed) = &*self.shared;
        let mut state = state.lock().unwrap();
        state.queued.push_back((Arc::from(event), count));
        changed.notify_all();
    }

    /// Hands each invocation a tenant of its own, `tenant-<n>` for the n-th (1-based), in
    /// `Lambda-Runtime-Aws-Tenant-Id`, as Lambda's tenant isolation mode does.
    pub fn hand_out_tenants(&self) {
        self.shared.0.lock().unwrap().tenants = true;
    }

    /// Keeps no answer bodies: for runs of many invocations, whose answers would otherwise be
    /// most of the test's own memory.
    pub fn discard_answers(&self) {
        self.shared.0.lock().unwrap().discard_answers = true;
    }

    /// Holds the acknowledgement of each posted answer this long: the function's loop that
    /// posted it waits, so invocations served at once stay in flight together.
    pub fn set_post_delay(&self, delay: Duration) {
        self.shared.0.lock().unwrap().post_delay = delay;
    }

    /// The most invocations handed out and not yet acknowledged at one time.
    pub fn max_in_flight(&self) -> usize {
        self.shared.0.lock().unwrap().max_in_flight
    }

    /// Holds each event this long after the function asks for it, before handing it out:
    /// invocations that arrive apart, so the process idles between them as it does while
    /// a slow backend is awaited in its flush. The wait is not part of any timestamp.
    pub fn set_gap(&self, gap: Duration) {
        self.shared.0.lock().unwrap().gap = gap;
    }

    /// Waits until `count` events have been answered and the function asked for one more
    /// after each (its flush is over); false when `timeout` ran out first or the function
    /// reported an init error.
    pub fn wait_for(&self, count: usize, timeout: Duration) -> bool {
        let (state, changed) = &*self.shared;
        let deadline = Instant::now() + timeout;
        let mut state = state.lock().unwrap();
        loop {
            if state.done >= count {
                return true;
            }
            let now = Instant::now();
            if now >= deadline || state.init_error.is_some() {
                return false;
            }
            state = changed.wait_timeout(state, deadline - now).unwrap().0;
        }
    }

    /// Every invocation so far, in order.
    pub fn invocations(&self) -> Vec<Invocation> {
        self.shared.0.lock().unwrap().invocations.clone()
    }

    /// The invocation at `index` (0 is the first), without copying the others: for drivers
    /// that look at one invocation at a time over tens of thousands.
    pub fn invocation(&self, index: usize) -> Option<Invocation> {
        self.shared
            .0
            .lock()
            .unwrap()
            .invocations
            .get(index)
            .cloned()
    }

    /// When the function first asked for an event: the end of its init.
    pub fn first_next(&self) -> Option<Instant> {
        self.shared.0.lock().unwrap().first_next
    }

    /// The body of an init error, if the function reported one.
    pub fn init_error(&self) -> Option<String> {
        self.shared.0.lock().unwrap().init_error.clone()
    }

    /// When the first extension registration arrived.
    pub fn first_registration(&self) -> Option<Instant> {
        self.shared.0.lock().unwrap().first_registration
    }

    /// How many extensions registered.
    pub fn extensions_registered(&self) -> usize {
        self.shared.0.lock().unwrap().extensions_registered
    }

    fn serve(&self, stream: TcpStream) {
        let _ = stream.set_nodelay(true);
        let mut reader = BufReader::new(stream.try_clone().expect("a cloneable stream"));
        let mut writer = stream;
        while let Some((method, path, body)) = read_request(&mut reader) {
            let reply = self.answer(&method, &path, body);
            if writer.write_all(&reply).is_err() {
                return;
            }
        }
    }

    fn answer(&self, method: &str, path: &str, body: Vec<u8>) -> Vec<u8> {
        let (state, changed) = &*self.shared;
        match (method, path) {
            ("GET", NEXT) => self.next_event(),
            ("POST", p) if p.starts_with(INVOCATION) => {
                let now = Instant::now();
                let rest = &p[INVOCATION.len()..];
                let (id, what) = rest.split_once('/').unwrap_or((rest, ""));
                let delay = {
                    let mut state = state.lock().unwrap();
                    let keep = !state.discard_answers;
                    let found = state.invocations.iter().rposition(|i| i.request_id == id);
                    if let Some(index) = found {
                        let invocation = &mut state.invocations[index];
                        invocation.posted = Some(now);
                        invocation.failed = what == "error";
                        if keep {
                            invocation.response = body;
                        }
                        state.awaiting_next.push_back(index);
                    }
                    changed.notify_all();
                    state.post_delay
                };
                if !delay.is_zero() {
                    thread::sleep(delay);
                }
                let mut state = state.lock().unwrap();
                state.in_flight = state.in_flight.saturating_sub(1);
                drop(state);
                reply(202, &[], b"{\"status\":\"OK\"}")
            }
            ("POST", INIT_ERROR) => {
                let mut state = state.lock().unwrap();
                state.init_error = Some(String::from_utf8_lossy(&body).into_owned());
                changed.notify_all();
                reply(202, &[], b"{\"status\":\"OK\"}")
            }
            ("POST", EXTENSION_REGISTER) => {
                let mut state = state.lock().unwrap();
                state.first_registration.get_or_insert_with(Instant::now);
                state.extensions_registered += 1;
                let id = format!("bench-extension-{}", state.extensions_registered);
                reply(
                    200,
                    &[("Lambda-Extension-Identifier", &id)],
                    br#"{"functionName":"bench","functionVersion":"$LATEST","handler":"bootstrap"}"#,
                )
            }
            ("GET", EXTENSION_NEXT) => {
                // On Lambda this answers at shutdown; the benchmark kills the process first.
                loop {
                    thread::sleep(Duration::from_secs(3600));
                }
            }
            _ => reply(404, &[], b"{}"),
        }
    }

    /// Blocks until an event is queued, then hands it out.
    fn next_event(&self) -> Vec<u8> {
        let (state, changed) = &*self.shared;
        let asked = Instant::now();
        let mut state = state.lock().unwrap();
        state.first_next.get_or_insert(asked);
        // The answer posted longest ago whose loop had not asked again: with one loop, the
        // last one; with several, one of theirs.
        if let Some(index) = state.awaiting_next.pop_front() {
            state.invocations[index].next = Some(asked);
            state.done += 1;
            changed.notify_all();
        }
        let event = loop {
            if let Some((event, left)) = state.queued.front_mut() {
                let event = Arc::clone(event);
                *left -= 1;
                if *left == 0 {
                    state.queued.pop_front();
                }
                break event;
            }
            state = changed.wait(state).unwrap();
        };
        if !state.gap.is_zero() {
            let gap = state.gap;
            drop(state);
            thread::sleep(gap);
            state = self.shared.0.lock().unwrap();
        }
        let number = state.invocations.len() + 1;
        let request_id = format!("00000000-0000-4000-8000-{number:012}");
        let epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let deadline = (epoch + Duration::from_secs(900)).as_millis().to_string();
        // A fresh, sampled X-Ray trace per invocation, as Lambda's active tracing gives.
        let trace = format!(
            "Root=1-{:08x}-{:024x};Parent={:016x};Sampled=1",
            epoch.as_secs(),
            number,
            number
        );
        state.in_flight += 1;
        state.max_in_flight = state.max_in_flight.max(state.in_flight);
        let tenant = format!("tenant-{number}");
        let tenant_id = state.tenants.then(|| tenant.clone());
        state.invocations.push(Invocation {
            request_id: request_id.clone(),
            trace_header: trace.clone(),
            tenant_id,
            handed_out: Instant::now(),
            posted: None,
            next: None,
            response: Vec::new(),
            failed: false,
        });
        let mut headers = vec![
            ("Content-Type", "application/json"),
            ("Lambda-Runtime-Aws-Request-Id", request_id.as_str()),
            ("Lambda-Runtime-Deadline-Ms", deadline.as_str()),
            ("Lambda-Runtime-Invoked-Function-Arn", FUNCTION_ARN),
            ("Lambda-Runtime-Trace-Id", trace.as_str()),
        ];
        if state.tenants {
            headers.push(("Lambda-Runtime-Aws-Tenant-Id", tenant.as_str()));
        }
        reply(200, &headers, &event)
    }
}

fn reply(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n", body.len());
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

/// Method, path and body of the next request on a keep-alive connection; `None` at its end.
fn read_request(reader: &mut impl BufRead) -> Option<(String, String, Vec<u8>)> {
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).ok()? == 0 {
        return None;
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut length = 0;
    let mut chunked = false;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
            if name == "content-length" {
                length = value.parse().ok()?;
            } else if name == "transfer-encoding" && value.eq_ignore_ascii_case("chunked") {
                chunked = true;
            }
        }
    }
    let body = if chunked {
        read_chunked(reader)?
    } else {
        let mut body = vec![0; length];
        reader.read_exact(&mut body).ok()?;
        body
    };
    Some((method, path, body))
}

fn read_chunked(reader: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size_line = String::new();
        reader.read_line(&mut size_line).ok()?;
        let size = usize::from_str_radix(size_line.trim().split(';').next()?, 16).ok()?;
        let mut chunk = vec![0; size + 2];
        reader.read_exact(&mut chunk).ok()?;
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(&chunk[..size]);
    }
}

/// The binary of a function of the workspace, from the build `make test` and `make serve`
/// make (`cargo build --workspace --bins`, debug, with [`crate::LOCAL_FEATURES`]): after
/// them a no-op. Building fewer packages (`-p name`) would resolve the dependencies' features
/// for those alone, build them a second time, and replace the binaries the other tests run
/// (74 s of a fresh clone's `make test`).
pub fn function_binary(name: &str) -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--quiet", "--workspace", "--bins"])
        .args(["--features", crate::LOCAL_FEATURES])
        .current_dir(crate::workspace_root())
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo build --workspace --bins failed");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::workspace_root().join("target"));
    target.join("debug").join(name)
}

/// A function process served by a [`RuntimeApi`], with only the variables Lambda would set
/// and those given; killed on drop.
pub struct Function {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Function {
    /// Starts `binary` against `api`, keeping every line it prints.
    pub fn start(binary: &PathBuf, api: &RuntimeApi, env: &[(&str, &str)]) -> Self {
        Self::spawn(binary, api, env, true)
    }

    /// Starts `binary` against `api`, reading and dropping what it prints: for long runs.
    pub fn start_quiet(binary: &PathBuf, api: &RuntimeApi, env: &[(&str, &str)]) -> Self {
        Self::spawn(binary, api, env, false)
    }

    fn spawn(binary: &PathBuf, api: &RuntimeApi, env: &[(&str, &str)], keep: bool) -> Self {
        let mut command = Command::new(binary);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("TZ", "UTC")
            .env("AWS_LAMBDA_RUNTIME_API", api.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", "home-activities")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/21/[$LATEST]test")
            .env("AWS_REGION", "us-east-1")
            .env("FRONTEND_URL", crate::FRONTEND_ORIGIN)
            .env("BACKEND_URL", "http://127.0.0.1:4567")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let lines = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            Box::new(child.stdout.take().expect("piped")) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().expect("piped")),
        ] {
            let lines = Arc::clone(&lines);
            thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    if keep {
                        lines.lock().unwrap().push(line);
                    }
                }
            });
        }
        Self { child, lines }
    }

    /// Every line printed so far (none when started quiet).
    pub fn lines(&self) -> Vec<String> {
        // Lines reach the pipe a moment after the answer is posted.
        thread::sleep(Duration::from_millis(200));
        self.lines.lock().unwrap().clone()
    }

    /// The lines that are JSON objects.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.lines()
            .iter()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    /// The process's resident set size now, in KiB (`VmRSS` of `/proc/<pid>/status`).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("the function is running");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("a VmRSS line")
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends the process SIGTERM, as Lambda does when it ends an execution environment.
    pub fn terminate(&self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "SIGTERM sent");
    }

    /// The exit status, once the process has exited within `timeout`.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The API Gateway event of order n for the `overlapping-handler` fixture:
/// `GET /orders?n=<n>&hold_ms=<hold_ms>` (its handler then takes `hold_ms` more to answer).
pub fn order_event(n: u64, hold_ms: u64) -> Vec<u8> {
    let path = crate::workspace_root().join("events/home.json");
    let mut event: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    for pointer in [
        "/path",
        "/resource",
        "/requestContext/path",
        "/requestContext/resourcePath",
    ] {
        *event.pointer_mut(pointer).expect("in the fixture") = "/orders".into();
    }
    let (n, hold_ms) = (n.to_string(), hold_ms.to_string());
    event["queryStringParameters"] = serde_json::json!({ "n": n, "hold_ms": hold_ms });
    event["multiValueQueryStringParameters"] =
        serde_json::json!({ "n": [n], "hold_ms": [hold_ms] });
    serde_json::to_vec(&event).unwrap()
}
