//! The test harness: the whole API served by the real Lambda emulator, `cargo lambda watch`,
//! on a free loopback port, the way `make serve` serves it, with everything it prints kept
//! for the tests to read.

pub mod api_gateway_cors;
pub mod aws_otlp;
pub mod browser;
pub mod counting_sinks;
pub mod emf;
pub mod http_stub;
pub mod moto;
pub mod otlp_receiver;
pub mod rollbar_api;
pub mod runtime_api;
pub mod xray_daemon;

use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// A loopback address nothing listens on, TCP or UDP: port 1 is privileged and unused, so
/// unlike a port picked and released, no other test can be handed it meanwhile.
pub const CLOSED_ADDRESS: &str = "127.0.0.1:1";

/// The front-end origin the functions are configured to allow.
pub const FRONTEND_ORIGIN: &str = "http://localhost:3000";

/// How long the first request to a function may take: `cargo lambda watch` builds and
/// starts each function on its first request.
const FIRST_REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

/// `cargo lambda watch` serving every function of the workspace; stopped on drop.
pub struct LocalApi {
    child: Child,
    port: u16,
    output: Arc<Mutex<Vec<String>>>,
    agent: ureq::Agent,
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// Header names in lower case, with their values.
    pub headers: Vec<(String, String)>,
    /// The body as text.
    pub body: String,
}

impl Reply {
    /// The value of a header, by its lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON; panics with the body when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// The features of every local build (the Makefile's `LOCAL_FEATURES`): the same as
/// `make test` builds with, so `cargo lambda watch` finds the binaries built already.
pub const LOCAL_FEATURES: &str = "lambda-telemetry/cloudwatch";

impl LocalApi {
    /// Starts the API with CORS allowing [`FRONTEND_ORIGIN`] and the extra variables given.
    pub fn start(env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let mut command = Command::new(cargo_lambda());
        command
            .args(["lambda", "watch", "--invoke-address", "127.0.0.1"])
            .args(["--invoke-port", &port.to_string()])
            .args(["--disable-cors", "--ignore-changes"])
            .args(["--features", LOCAL_FEATURES])
            .current_dir(workspace_root())
            .env("FRONTEND_URL", FRONTEND_ORIGIN)
            .env("BACKEND_URL", format!("http://127.0.0.1:{port}"))
            .env_remove("RUST_LOG")
            .env_remove("AWS_LAMBDA_LOG_LEVEL")
            .env_remove("AWS_LAMBDA_LOG_FORMAT")
            .env_remove("OTEL_TRACES_EXPORTER")
            .env_remove("OTEL_METRICS_EXPORTER")
            .env_remove("POWERTOOLS_METRICS_NAMESPACE")
            .env_remove("OTEL_PROPAGATORS")
            .env_remove("OTEL_TRACES_SAMPLER")
            .env_remove("OTEL_SERVICE_NAME")
            .env_remove("POWERTOOLS_SERVICE_NAME")
            .env_remove("POWERTOOLS_LOG_LEVEL")
            .env_remove("POWERTOOLS_LOGGER_SAMPLE_RATE")
            .env_remove("LAMBDA_TELEMETRY_LOG_BUFFER")
            .env_remove("LAMBDA_TELEMETRY_LOG_BUFFER_MAX_BYTES")
            .env_remove("LAMBDA_TELEMETRY_LOG_BUFFER_FLUSH_ON_ERROR_LOG")
            .env_remove("CLOUDWATCH_LOG_GROUP")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so that stopping it reaches all of it; the emulator then
            // terminates the functions it started (each in a group of its own).
            .process_group(0);
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("cargo lambda watch starts");
        let output = Arc::new(Mutex::new(Vec::new()));
        keep_lines(child.stdout.take().expect("piped stdout"), &output);
        keep_lines(child.stderr.take().expect("piped stderr"), &output);

        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "cargo lambda watch exited with {status}: {:?}",
                    output.lock().unwrap()
                );
            }
            assert!(
                Instant::now() < deadline,
                "cargo lambda watch did not listen on {port}"
            );
            thread::sleep(Duration::from_millis(100));
        }
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(FIRST_REQUEST_TIMEOUT))
            .build()
            .into();
        Self {
            child,
            port,
            output,
            agent,
        }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// `GET path` with `headers`.
    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.request("GET", path, headers)
    }

    /// Any method, no body.
    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(()).expect("a valid request");
        let mut response = self.agent.run(request).unwrap_or_else(|e| {
            let output = self.output.lock().unwrap();
            let last = &output[output.len().saturating_sub(40)..];
            panic!(
                "{method} {path} failed: {e}\nlast output:\n{}",
                last.join("\n")
            )
        });
        let mut body = String::new();
        response
            .body_mut()
            .as_reader()
            .read_to_string(&mut body)
            .expect("a text body");
        Reply {
            status: response.status().as_u16(),
            headers: response
                .headers()
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_owned(),
                        v.to_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect(),
            body,
        }
    }

    /// Every line printed so far by the functions, leaving out what cargo and
    /// `cargo lambda` print about themselves.
    pub fn function_lines(&self) -> Vec<String> {
        // Lines reach the pipe a moment after the response does.
        thread::sleep(Duration::from_millis(300));
        self.output
            .lock()
            .unwrap()
            .iter()
            .filter(|line| !is_tooling_line(line))
            .cloned()
            .collect()
    }

    /// Every line printed so far, the emulator's and cargo's own included.
    pub fn all_lines(&self) -> Vec<String> {
        thread::sleep(Duration::from_millis(300));
        self.output.lock().unwrap().clone()
    }
}

impl LocalApi {
    /// Sends SIGTERM to the running process of `function` only, as Lambda does when it ends an
    /// execution environment; the emulator stays up and keeps relaying its output. Panics when
    /// the function is not running.
    pub fn terminate_function(&self, function: &str) {
        // The emulator starts each function as its child, in a process group of its own.
        let emulator = self.child.id().to_string();
        // `comm` in /proc is cut to 15 bytes.
        let comm = &function[..function.len().min(15)];
        let pids: Vec<String> = std::fs::read_dir("/proc")
            .expect("/proc")
            .flatten()
            .filter_map(|entry| {
                let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
                // pid (comm) state ppid ...
                let (head, rest) = stat.rsplit_once(") ")?;
                let name = head.split_once(" (")?.1;
                let parent = rest.split_whitespace().nth(1)?;
                (name == comm && parent == emulator)
                    .then(|| entry.file_name().to_string_lossy().into())
            })
            .collect();
        assert!(!pids.is_empty(), "{function} is not running");
        for pid in pids {
            let _ = Command::new("kill").args(["-TERM", &pid]).status();
        }
    }

    fn terminate(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

impl Drop for LocalApi {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// What cargo (`Compiling`, `Finished`, `Running`...) and `cargo lambda` (its own `tracing`
/// lines: ` INFO starting Runtime server`) print; everything else comes from a function.
fn is_tooling_line(line: &str) -> bool {
    let plain = strip_ansi(line);
    let trimmed = plain.trim_start();
    const CARGO: [&str; 11] = [
        "Compiling",
        "Finished",
        "Running",
        "Blocking",
        "Downloaded",
        "Downloading",
        "Updating",
        "Locking",
        "Adding",
        "Checking",
        "Fresh",
    ];
    const LEVELS: [&str; 5] = ["TRACE ", "DEBUG ", "INFO ", "WARN ", "ERROR "];
    plain.is_empty()
        || (plain.starts_with(' ') && CARGO.iter().any(|w| trimmed.starts_with(w)))
        || (plain.starts_with(' ') && LEVELS.iter().any(|l| trimmed.starts_with(l)))
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn keep_lines(stream: impl Read + Send + 'static, into: &Arc<Mutex<Vec<String>>>) {
    let into = Arc::clone(into);
    thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            into.lock().unwrap().push(line);
        }
    });
}

/// A loopback port free now (the system's pick, released): for a server started after.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Waits up to 15 s for `found` to find what the functions flush after their responses;
/// panics naming `what` if it never arrives.
pub fn eventually<T>(what: &str, mut found: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(value) = found() {
            return value;
        }
        assert!(Instant::now() < deadline, "never arrived: {what}");
        thread::sleep(Duration::from_millis(100));
    }
}

/// The workspace root: this package lives in `<root>/tests`.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

/// `cargo-lambda` from `$CARGO_LAMBDA`, the `PATH`, or the `.venv` that `make` installs it in.
fn cargo_lambda() -> PathBuf {
    if let Some(path) = std::env::var_os("CARGO_LAMBDA") {
        return PathBuf::from(path);
    }
    let in_venv = workspace_root().join(".venv/bin/cargo-lambda");
    if in_venv.exists() {
        return in_venv;
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("cargo-lambda"))
            .find(|candidate| candidate.exists())
    });
    on_path
        .expect("cargo-lambda is not installed: run `make test`, which installs the pinned version")
}

/// An API Gateway event from `events/`, as the HTTP request a client would send for it.
pub struct FixtureRequest {
    /// The method.
    pub method: String,
    /// The path, as the client sent it.
    pub path: String,
    /// The headers.
    pub headers: Vec<(String, String)>,
}

/// Reads `events/<name>.json` as the request it stands for.
pub fn fixture(name: &str) -> FixtureRequest {
    let path = workspace_root().join("events").join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let event: serde_json::Value = serde_json::from_str(&text).expect("fixture is JSON");
    FixtureRequest {
        method: event["httpMethod"].as_str().expect("httpMethod").to_owned(),
        path: event["path"].as_str().expect("path").to_owned(),
        headers: event["headers"]
            .as_object()
            .map(|h| {
                h.iter()
                    // The emulator sets these itself; forwarding them would confuse it.
                    .filter(|(n, _)| {
                        !matches!(n.to_ascii_lowercase().as_str(), "host" | "accept-encoding")
                    })
                    .map(|(n, v)| (n.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

impl LocalApi {
    /// Sends the request an `events/` fixture stands for.
    pub fn replay(&self, name: &str) -> Reply {
        let fixture = fixture(name);
        let headers: Vec<(&str, &str)> = fixture
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        self.request(&fixture.method, &fixture.path, &headers)
    }
}

impl LocalApi {
    /// Invokes `function` with the event in `events/<name>.json` through
    /// `cargo lambda invoke --data-file`, and returns the function's Lambda response.
    pub fn invoke(&self, function: &str, name: &str) -> serde_json::Value {
        let output = Command::new(cargo_lambda())
            .args(["lambda", "invoke", "--invoke-address", "127.0.0.1"])
            .args(["--invoke-port", &self.port.to_string()])
            .arg("--data-file")
            .arg(workspace_root().join("events").join(format!("{name}.json")))
            .arg(function)
            .stdin(Stdio::null())
            .output()
            .expect("cargo lambda invoke runs");
        assert!(
            output.status.success(),
            "cargo lambda invoke {function} {name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!(
                "{name}: not a JSON response ({e}): {}",
                String::from_utf8_lossy(&output.stdout)
            )
        })
    }
}
