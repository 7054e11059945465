//! The deployed API's CORS on loopback: API Gateway's own answer to a preflight, made by SAM's
//! transform from template.yaml's `Cors` (`tests/local/api_gateway_cors.py`, run from the
//! workspace's `.venv`), in front of the functions, to which it forwards every other request.

use std::process::Child;

use crate::aws_otlp::start_python_server;

/// The stand-in; stopped on drop.
pub struct ApiGatewayCors {
    child: Child,
    port: u16,
}

impl ApiGatewayCors {
    /// Starts in front of `api` (`http://127.0.0.1:PORT`, the functions), the template
    /// deployed with `FrontendUrl` = `frontend_url`.
    pub fn start(api: &str, frontend_url: &str) -> Self {
        let (child, port) = start_python_server(
            "api_gateway_cors.py",
            &["--api", api, "--frontend-url", frontend_url],
        );
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
