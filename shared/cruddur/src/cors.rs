//! CORS, answered by the functions themselves, so that it holds the same under API Gateway,
//! function URLs and `cargo lambda watch`.

use std::time::Duration;

use http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// Front-end origin(s), comma-separated.
pub const FRONTEND_URL: &str = "FRONTEND_URL";
/// Back-end origin(s), comma-separated.
pub const BACKEND_URL: &str = "BACKEND_URL";

/// Request headers a browser may send: the W3C trace headers, so a browser trace continues
/// here, and `authorization` for the bearer tokens that come with sign-in.
const ALLOWED_HEADERS: [HeaderName; 5] = [
    header::CONTENT_TYPE,
    header::IF_MODIFIED_SINCE,
    HeaderName::from_static("traceparent"),
    HeaderName::from_static("tracestate"),
    header::AUTHORIZATION,
];

/// Response headers a page's script may read besides the CORS-safelisted ones: `location` and
/// `link` for navigation, and the trace the request joined (W3C `traceresponse`, X-Ray's
/// `x-amzn-trace-id`), so a front end can link what it saw to the trace that served it.
const EXPOSED_HEADERS: [HeaderName; 4] = [
    header::LOCATION,
    header::LINK,
    HeaderName::from_static("traceresponse"),
    HeaderName::from_static("x-amzn-trace-id"),
];

/// The methods a preflight allows: what every route answers (it only reads). Any other is a
/// 405 whose `Allow` names the same (error.rs), deployed too (template.yaml has each route
/// on `Method: any`, and the same list in its preflight's `AllowMethods`).
const ALLOWED_METHODS: [Method; 3] = [Method::GET, Method::HEAD, Method::OPTIONS];

/// How long a browser may cache a preflight answer.
const MAX_AGE: Duration = Duration::from_secs(600);

/// The origins named by `FRONTEND_URL` and `BACKEND_URL`.
pub fn origins_from_env() -> Vec<String> {
    [FRONTEND_URL, BACKEND_URL]
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .flat_map(|value| value.split(',').map(str::to_owned).collect::<Vec<_>>())
        .collect()
}

/// A CORS layer that allows exactly `origins`. An origin is compared as browsers send it
/// (`https://host:port`: no path, no trailing slash), so those are dropped from the
/// configuration. A request from any other origin gets no `Access-Control-Allow-Origin`.
/// `*` allows every origin; credentials are never allowed, so `*` never meets them.
pub fn layer(origins: &[String]) -> CorsLayer {
    let origins: Vec<String> = origins
        .iter()
        .map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase())
        .filter(|o| !o.is_empty())
        .collect();
    let allow_origin = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|origin| {
            let value = HeaderValue::from_str(origin).ok();
            if value.is_none() {
                tracing::warn!(
                    origin = origin.as_str(),
                    "ignoring an origin that is not a valid header value"
                );
            }
            value
        }))
    };
    CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods(ALLOWED_METHODS)
        .allow_headers(ALLOWED_HEADERS)
        .expose_headers(EXPOSED_HEADERS)
        .max_age(MAX_AGE)
}
