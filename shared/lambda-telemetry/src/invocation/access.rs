//! The access-log line: one per request, at INFO, without secrets.

use http::StatusCode;

use super::request::RequestSummary;
use crate::constants::ACCESS_LOG_TARGET;

/// The line the original's after-request hook wrote, at INFO and without secrets: no
/// headers at all, and the query with secret-looking values masked.
pub(super) fn log_access(summary: &RequestSummary, status: StatusCode, duration_ms: f64) {
    tracing::info!(
        target: ACCESS_LOG_TARGET,
        method = summary.method.as_str(),
        route = summary.route.as_deref(),
        path = summary.path.as_str(),
        query = summary.query.as_deref(),
        status = status.as_u16(),
        duration_ms = (duration_ms * 1e3).round() / 1e3,
        source_ip = summary.source_ip.as_deref(),
        user_agent = summary.user_agent.as_deref(),
        "{} {} {}",
        summary.method,
        summary.path,
        status.as_u16(),
    );
}
