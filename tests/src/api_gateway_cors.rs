//! The deployed API's CORS on loopback: API Gateway's own answer to a preflight, made by SAM's
//! transform from template.yaml's `Cors` (`tests/local/api_gateway_cors.py`, run from the
//! workspace's `.venv`), in front of the functions, to which it forwards every other request.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

use crate::aws_otlp::python;

/// The stand-in; stopped on drop.
pub struct ApiGatewayCors {
    child: Child,
    port: u16,
}

impl ApiGatewayCors {
    /// Starts in front of `api` (`http://127.0.0.1:PORT`, the functions), the template
    /// deployed with `FrontendUrl` = `frontend_url`.
    pub fn start(api: &str, frontend_url: &str) -> Self {
        let mut child = Command::new(python())
            .arg(crate::workspace_root().join("tests/local/api_gateway_cors.py"))
            .args(["--api", api, "--frontend-url", frontend_url])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            // A traceback says why it did not start; it prints nothing else there.
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python from .venv (run `make test`, which installs it with aws-sam-cli)");
        let mut first = String::new();
        let _ = BufReader::new(child.stdout.take().expect("piped stdout")).read_line(&mut first);
        let Some(port) = first
            .trim()
            .strip_prefix("listening 127.0.0.1:")
            .and_then(|p| p.parse().ok())
        else {
            let _ = child.kill();
            panic!(
                "api_gateway_cors.py did not start (its stderr is above): {first:?}, {:?}",
                child.wait()
            );
        };
        Self { child, port }
    }

    /// `http://127.0.0.1:<port>`, the API's URL as the page calls it.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for ApiGatewayCors {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
