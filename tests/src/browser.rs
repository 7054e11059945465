//! Headless Chromium, driven by `tests/browser/drive.mjs` (puppeteer-core): it serves the
//! Cruddur page (`tests/browser`, the home feed traced with the OpenTelemetry web SDK), opens
//! it once per [`Visit`], and reports what the page showed and what went over the network,
//! CORS preflights included. Chromium and the page's packages are installed by `make test`
//! (`tests/browser/setup.sh`), never downloaded here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

/// One page to open: `page` is its URL, query string included.
#[derive(Debug)]
pub struct Visit {
    /// What the test calls it.
    pub name: &'static str,
    /// `http://localhost:<port>/?api=...&otlp=...`.
    pub page: String,
}

/// What the browser saw, visit by visit.
#[derive(Debug, Deserialize)]
pub struct BrowserRun {
    /// The browser's version, `Chrome/148.0.7778.167`.
    pub browser: String,
    /// One per [`Visit`], in order.
    pub visits: Vec<Visited>,
}

/// What one visit of the page showed, and sent and received.
#[derive(Debug, Deserialize)]
pub struct Visited {
    /// The [`Visit`]'s name.
    pub name: String,
    /// Whether the page said it was done (feed shown or failure said, spans sent).
    pub done: bool,
    /// The page's status line: `3 activities`, or why the feed could not load.
    pub status: String,
    /// How many top-level activities the page shows.
    pub activities: usize,
    /// `traceresponse` as the page's script read it from the API's answer: empty when the
    /// browser did not let it (not exposed by CORS) or the fetch failed.
    pub traceresponse: Option<String>,
    /// Every request to another origin than the page's, as the browser sent it.
    pub network: Vec<Exchange>,
    /// What the page logged, browser errors (a CORS refusal's reason) included.
    pub console: Vec<String>,
}

/// One request as the browser sent it and what came back (Chrome DevTools Protocol's
/// `Network` events, the `*ExtraInfo` ones for the headers as they were on the wire).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Exchange {
    /// The URL requested.
    pub url: String,
    /// `GET`, `OPTIONS`, ...
    pub method: String,
    /// Request headers, names in lower case.
    pub request_headers: BTreeMap<String, String>,
    /// Response headers, names in lower case.
    pub response_headers: BTreeMap<String, String>,
    /// The response's status; none when nothing came back.
    pub status: Option<u16>,
    /// Why the browser failed the request (`net::ERR_FAILED`), if it did.
    pub failed: Option<String>,
    /// The CORS check that failed it (`PreflightMissingAllowOriginHeader`), if one did.
    pub cors_error: Option<String>,
}

impl Exchange {
    /// A request header's value, by its lower-case name.
    pub fn request_header(&self, name: &str) -> Option<&str> {
        self.request_headers.get(name).map(String::as_str)
    }

    /// A response header's value, by its lower-case name.
    pub fn response_header(&self, name: &str) -> Option<&str> {
        self.response_headers.get(name).map(String::as_str)
    }

    /// A CORS preflight: an `OPTIONS` the browser sent on its own, naming the method to come
    /// (Fetch Standard, "CORS-preflight request").
    pub fn is_preflight(&self) -> bool {
        self.method == "OPTIONS"
            && self
                .request_headers
                .contains_key("access-control-request-method")
    }
}

impl Visited {
    /// The preflight sent before the request to `url`.
    pub fn preflight(&self, url: &str) -> Option<&Exchange> {
        self.network
            .iter()
            .find(|e| e.is_preflight() && e.url == url)
    }

    /// The page's own `method` request to `url`.
    pub fn request(&self, method: &str, url: &str) -> Option<&Exchange> {
        self.network
            .iter()
            .find(|e| !e.is_preflight() && e.method == method && e.url == url)
    }
}

/// The browser the test drives: `$CHROMIUM`, else Debian's `chromium` package.
pub fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// Serves the page on `page_port` (127.0.0.1 and ::1, so `localhost` and `127.0.0.1` are two
/// origins of it), opens each visit in a fresh browser context, and saves a screenshot of
/// the first to `screenshot`. Panics with the driver's output when it fails.
pub fn visit(page_port: u16, visits: &[Visit], screenshot: &Path) -> BrowserRun {
    let browser_dir = crate::workspace_root().join("tests/browser");
    for built in ["node_modules/puppeteer-core", "dist/page.js"] {
        assert!(
            browser_dir.join(built).exists(),
            "tests/browser/{built} is missing: run `make browser` (part of `make test`), which \
             installs Chromium and the page's packages and builds the page (tests/browser/setup.sh)"
        );
    }
    let config = serde_json::json!({
        "chromium": chromium(),
        "pagePort": page_port,
        "screenshot": screenshot,
        "visits": visits
            .iter()
            .map(|v| serde_json::json!({"name": v.name, "page": v.page}))
            .collect::<Vec<_>>(),
    });
    let output = Command::new("node")
        .arg(browser_dir.join("drive.mjs"))
        .arg(config.to_string())
        .current_dir(&browser_dir)
        .output()
        .expect("node runs (`make browser` installs it, tests/browser/setup.sh)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "drive.mjs failed ({}):\n{stderr}\n{stdout}",
        output.status
    );
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("drive.mjs printed no report ({e}):\n{stdout}\n{stderr}"))
}
