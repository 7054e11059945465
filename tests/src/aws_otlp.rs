//! A loopback stand-in for CloudWatch's OTLP endpoints, X-Ray's `/v1/traces` (SigV4 service
//! `xray`) and CloudWatch's `/v1/metrics` (`monitoring`), that checks every request's SigV4
//! signature with botocore's signer, independently of the crate's own:
//! `tests/local/sigv4_otlp_endpoint.py`, run from the workspace's `.venv`, whose unit checks
//! (`tests/local/test_sigv4_otlp_endpoint.py`) prove the check against botocore-signed
//! requests. A refused request gets 403 and is recorded with the reason; a verified one gets
//! the next [`Answer`] queued, by default 200 with an empty body.

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::Span;
use serde_json::{Value, json};

use crate::http_stub::Headers;
pub use crate::otlp_receiver::{partial_success_metrics, partial_success_traces};

/// Fake credentials the stand-in checks signatures with and the functions sign with (AWS's
/// documented example keys: nobody's).
#[derive(Clone, Copy, Debug)]
pub struct TestCredentials {
    /// `AWS_ACCESS_KEY_ID`.
    pub access_key_id: &'static str,
    /// `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: &'static str,
    /// `AWS_SESSION_TOKEN`: what Lambda gives a function's role has one.
    pub session_token: Option<&'static str>,
}

impl TestCredentials {
    /// Temporary credentials, as Lambda hands a function's role: an `ASIA` key id and a
    /// session token, with the `/`, `+` and `=` real ones carry.
    pub const LAMBDA: Self = Self {
        access_key_id: "ASIAIOSFODNN7EXAMPLE",
        secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        session_token: Some("IQoJb3JpZ2luX2VjEXAMPLE//session+token="),
    };

    /// Long-term credentials, an IAM user's access key: no session token.
    pub const LONG_TERM: Self = Self {
        access_key_id: "AKIAIOSFODNN7EXAMPLE",
        secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        session_token: None,
    };

    /// The variables that hand these credentials to a function (for `LocalApi::start`).
    pub fn env(&self) -> Vec<(&'static str, &'static str)> {
        let mut env = vec![
            ("AWS_ACCESS_KEY_ID", self.access_key_id),
            ("AWS_SECRET_ACCESS_KEY", self.secret_access_key),
        ];
        env.extend(self.session_token.map(|t| ("AWS_SESSION_TOKEN", t)));
        env
    }
}

/// How the stand-in answers one verified request.
#[derive(Clone, Debug)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The body (an OTLP response: [`partial_success_traces`], [`partial_success_metrics`]).
    pub body: Vec<u8>,
    /// `Content-Type`.
    pub content_type: String,
    /// More headers: `Retry-After`.
    pub headers: Vec<(String, String)>,
}

impl Answer {
    /// `status` with an empty `application/x-protobuf` body.
    pub fn status(status: u16) -> Self {
        Self {
            status,
            body: Vec::new(),
            content_type: "application/x-protobuf".to_owned(),
            headers: Vec::new(),
        }
    }

    /// 200 with this OTLP response body.
    pub fn ok_with(body: Vec<u8>) -> Self {
        Self {
            body,
            ..Self::status(200)
        }
    }

    /// The same with one more header.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// One request as the stand-in saw it.
#[derive(Clone, Debug)]
pub struct Received {
    /// The request target: `/v1/traces`.
    pub path: String,
    /// Whether its signature held.
    pub verified: bool,
    /// Why it was refused: the error's `__type` and message (`SignatureDoesNotMatch: ...`).
    pub reason: Option<String>,
    /// Header names in lower case, with values.
    pub headers: Headers,
    /// The body as received (gzip or not).
    pub body: Vec<u8>,
}

impl Received {
    /// The value of a header, by its lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as an OTLP trace export request, gunzipped if need be; panics if it is not.
    pub fn traces(&self) -> ExportTraceServiceRequest {
        crate::otlp_receiver::decode_traces(&self.headers, self.body.clone())
    }

    /// The body as an OTLP metrics export request, gunzipped if need be; panics if it is not.
    pub fn metrics(&self) -> ExportMetricsServiceRequest {
        crate::otlp_receiver::decode_metrics(&self.headers, self.body.clone())
    }
}

/// The stand-in, running; stopped on drop.
pub struct AwsOtlpEndpoint {
    child: Child,
    port: u16,
    agent: ureq::Agent,
}

impl AwsOtlpEndpoint {
    /// Starts the stand-in for `service` (`xray` or `monitoring`) in `region` on a free
    /// loopback port, checking signatures made with `credentials`.
    pub fn start(service: &str, region: &str, credentials: &TestCredentials) -> Self {
        let mut args = vec![
            "--service",
            service,
            "--region",
            region,
            "--access-key-id",
            credentials.access_key_id,
            "--secret-access-key",
            credentials.secret_access_key,
        ];
        if let Some(token) = credentials.session_token {
            args.extend(["--session-token", token]);
        }
        let (child, port) = start_python_server("sigv4_otlp_endpoint.py", &args);
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        Self { child, port, agent }
    }

    /// `http://127.0.0.1:<port><path>`: `endpoint("/v1/traces")` for
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`.
    pub fn endpoint(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Queues how the next verified requests are answered, one each, in order; once they
    /// are used up, 200 with an empty body again. Refused requests take none.
    pub fn answer_next(&self, answers: Vec<Answer>) {
        let answers: Vec<Value> = answers
            .into_iter()
            .map(|a| {
                json!({
                    "status": a.status,
                    "body_base64": STANDARD.encode(&a.body),
                    "content_type": a.content_type,
                    "headers": a
                        .headers
                        .into_iter()
                        .map(|(n, v)| (n, Value::from(v)))
                        .collect::<serde_json::Map<_, _>>(),
                })
            })
            .collect();
        let response = self
            .agent
            .post(&self.endpoint("/_control/answers"))
            .send(Value::from(answers).to_string())
            .expect("the stand-in takes answers");
        assert_eq!(response.status(), 200, "the stand-in took no answers");
    }

    /// Every request so far, verified or refused, in the order they arrived.
    pub fn received(&self) -> Vec<Received> {
        let mut response = self
            .agent
            .get(&self.endpoint("/_control/received"))
            .call()
            .expect("the stand-in lists what it received");
        let list: Vec<Value> = serde_json::from_reader(response.body_mut().as_reader())
            .expect("the stand-in's list is JSON");
        list.iter().map(received_from_json).collect()
    }

    /// Every span of the verified trace requests so far.
    pub fn spans(&self) -> Vec<Span> {
        self.received()
            .iter()
            .filter(|r| r.verified && r.path.starts_with("/v1/traces"))
            .flat_map(|r| r.traces().resource_spans)
            .flat_map(|r| r.scope_spans)
            .flat_map(|s| s.spans)
            .collect()
    }
}

impl Drop for AwsOtlpEndpoint {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One entry of `/_control/received`.
fn received_from_json(entry: &Value) -> Received {
    let text = |key: &str| entry[key].as_str().map(str::to_owned);
    Received {
        path: text("path").expect("path"),
        verified: entry["verified"].as_bool().expect("verified"),
        reason: text("reason"),
        headers: entry["headers"]
            .as_object()
            .expect("headers")
            .iter()
            .map(|(n, v)| (n.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect(),
        body: STANDARD
            .decode(text("body_base64").expect("body_base64"))
            .expect("base64"),
    }
}

/// Python from the `.venv` that `make` installs the pinned tools in, botocore among them
/// (.ci/tools.txt).
pub fn python() -> PathBuf {
    crate::workspace_root().join(".venv/bin/python")
}

/// Starts `tests/local/<script>` with `args` under [`python`] and returns it with the port
/// it printed on its first line, `listening 127.0.0.1:PORT`. Panics when it prints no such
/// line; its traceback, on stderr (it writes nothing else there), says why. The server exits
/// when the returned child's stdin closes (`--exit-with-stdin`): when it is dropped, or when
/// the test process ends without dropping it (killed, or timed out by a harness).
pub fn start_python_server(script: &str, args: &[&str]) -> (Child, u16) {
    let mut child = Command::new(python())
        .arg(crate::workspace_root().join("tests/local").join(script))
        .args(args)
        .arg("--exit-with-stdin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python from .venv (run `make test`, which installs it with the pinned tools)");
    let mut first = String::new();
    let _ = BufReader::new(child.stdout.take().expect("piped stdout")).read_line(&mut first);
    let Some(port) = first
        .trim()
        .strip_prefix("listening 127.0.0.1:")
        .and_then(|p| p.parse().ok())
    else {
        let _ = child.kill();
        panic!(
            "{script} did not start (its stderr is above): {first:?}, {:?}",
            child.wait()
        );
    };
    (child, port)
}
