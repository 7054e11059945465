//! The invocation layer: one span per invocation, one access-log line per request, and a
//! generic 500 instead of a lost invocation when the handler fails or panics.
//!
//! The layer is the top of the request path: it reads the request once ([`request`](crate::invocation::request)),
//! chooses the parent by the pure rule of [`propagation`](crate::propagation), and sets the
//! task-local [`scope`](crate::invocation::scope) that outgoing requests and error reports ask about. It knows no
//! sink: a sink that describes the request (Rollbar) reads the scope when it makes an item.

mod access;
pub(crate) mod request;
pub(crate) mod scope;
#[cfg(test)]
pub(crate) mod tests;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use http::{HeaderName, HeaderValue};
use lambda_http::{Body, IntoResponse, Request, RequestExt, Response};
use opentelemetry::KeyValue;
use opentelemetry::trace::TraceContextExt as _;
use tower::{Layer, Service};
use tracing::Instrument as _;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use self::request::{RequestDetails, RequestSummary, account_id};
use self::scope::{INVOCATION, InvocationScope};
use crate::constants::{INVOCATION_SPAN_TARGET, span_fields};
use crate::failure::{BoxError, CatchFailure, CatchFailureLayer};
use crate::metrics::{InvocationIds, InvocationOutcome, Metrics};
use crate::propagation::{Propagators, choose_parent, traceresponse, xray_header};

/// Only the first invocation of an execution environment is a cold start.
static COLD_START: AtomicBool = AtomicBool::new(true);

/// Wraps an HTTP handler so that each invocation runs in its own span, writes one access-log
/// line, and answers a failure or a panic with a generic 500 that leaks nothing.
///
/// The span's parent is chosen by the rule of [`propagation`](crate#choosing-the-parent),
/// and the response names the trace in `traceresponse` and `X-Amzn-Trace-Id`.
///
/// [`run`](crate::run) applies it for you; use it directly to build your own runtime.
#[derive(Clone, Debug, Default)]
pub struct InvocationLayer {
    propagators: Arc<Propagators>,
    route: Option<Arc<str>>,
    /// `POWERTOOLS_LOGGER_SAMPLE_RATE`: the share of invocations logging at DEBUG.
    debug_sample_rate: f64,
    /// How each invocation buffers its lines, `None` when it does not.
    log_buffer: Option<crate::LogBuffer>,
    /// Where each invocation's metrics go when it ends: the installed metrics, if any.
    metrics: Option<Arc<Metrics>>,
}

impl InvocationLayer {
    /// With the propagators of `OTEL_PROPAGATORS` (default `tracecontext,xray-lambda`).
    pub fn from_env() -> Self {
        Self::from_config(&crate::Config::from_env())
    }

    /// With the propagators of `config` ([`Config::with_propagators`](crate::Config::with_propagators),
    /// else `OTEL_PROPAGATORS`); unknown entries are said once, here.
    pub fn from_config(config: &crate::Config) -> Self {
        let (propagators, problem) =
            Propagators::from_setting(config.traces.propagators.as_deref());
        if let Some((problem, unknown_entries)) = problem {
            tracing::warn!(unknown_entries, "{problem}");
        }
        Self {
            propagators: Arc::new(propagators),
            route: None,
            // A problem with it is said by `init`.
            debug_sample_rate: config.debug_sample_rate(&mut Vec::new()),
            log_buffer: config.log_buffer(&mut Vec::new()),
            metrics: crate::metrics::installed(),
        }
    }

    /// With `metrics` instead of the installed ones: tests record into their own store.
    #[cfg(test)]
    pub(crate) fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The route template the function serves (`/api/activities/{handle}`), for events that
    /// name none: function URLs, ALB and `cargo lambda watch`. The span is then named, and its
    /// `http.route` and the access line's `route` set, as API Gateway's event would have them.
    /// A route in the event (API Gateway's resource or route key) wins.
    ///
    /// ```
    /// let layer = lambda_telemetry::InvocationLayer::from_env().with_route("/api/activities/home");
    /// ```
    pub fn with_route(mut self, route: impl Into<String>) -> Self {
        self.route = Some(route.into().into());
        self
    }
}

impl<S> Layer<S> for InvocationLayer {
    type Service = Invocation<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Invocation {
            inner: CatchFailureLayer::default().layer(inner),
            propagators: Arc::clone(&self.propagators),
            route: self.route.clone(),
            debug_sample_rate: self.debug_sample_rate,
            log_buffer: self.log_buffer,
            metrics: self.metrics.clone(),
        }
    }
}

/// The service [`InvocationLayer`] makes.
#[derive(Clone, Debug)]
pub struct Invocation<S> {
    inner: CatchFailure<S>,
    propagators: Arc<Propagators>,
    route: Option<Arc<str>>,
    debug_sample_rate: f64,
    log_buffer: Option<crate::LogBuffer>,
    metrics: Option<Arc<Metrics>>,
}

impl<S> Service<Request> for Invocation<S>
where
    S: Service<Request>,
    S::Response: IntoResponse + Send,
    S::Error: Into<BoxError> + Send,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let summary = RequestSummary::of(
            &request,
            COLD_START.swap(false, Ordering::Relaxed),
            self.route.as_deref(),
        );
        let span = invocation_span(&summary);
        let lambda_xray = request
            .lambda_context_ref()
            .and_then(|c| c.xray_trace_id.as_deref());
        let parent = choose_parent(&self.propagators, request.headers(), lambda_xray);
        let source = parent.source;
        // Both fail only when no OpenTelemetry layer is installed; the span then has no ids.
        // They come before any event in the span: an event starts the OpenTelemetry span.
        let _ = span.set_parent(parent.context);
        if let Some(link) = parent.link {
            span.add_link_with_attributes(
                link,
                vec![KeyValue::new(span_fields::XRAY_LAMBDA_SEGMENT_LINK, true)],
            );
        }
        crate::traces::start_with_trace_id(&span, parent.root_trace_id);
        // Only error reports (made by the log layer's hooks) read the request's details, and
        // only when they are made: here they are kept, not described.
        let details =
            crate::logs::hooks::any_installed().then(|| Box::new(RequestDetails::of(&request)));
        // The installed metrics when the layer was made before `init` (or by `Default`).
        let metrics = self.metrics.clone().or_else(crate::metrics::installed);
        let debug_sampled = sampled_at(&span, self.debug_sample_rate);
        let scope = Arc::new(InvocationScope::new(
            summary,
            details,
            parent.lambda,
            parent.caller,
            metrics.is_some(),
            debug_sampled,
            self.log_buffer,
        ));
        // What the handler does before it returns its future is inside the invocation too
        // (its reports count against its cap).
        let call = span.in_scope(|| {
            INVOCATION.sync_scope(Arc::clone(&scope), || {
                // Inside the scope: a sampled or buffering invocation decides this line too.
                tracing::debug!(parent = ?source, "trace parent chosen");
                self.inner.call(request)
            })
        });

        let invocation = {
            let scope = Arc::clone(&scope);
            async move {
                let started = Instant::now();
                // CatchFailure answers every call, a failure too.
                let Ok(mut response) = call.await;
                name_the_trace(&mut response, &scope);
                let status = response.status();
                let span = tracing::Span::current();
                span.record(
                    span_fields::HTTP_RESPONSE_STATUS_CODE,
                    i64::from(status.as_u16()),
                );
                // The HTTP conventions: a server span is an error on 5xx only, 4xx is the caller's.
                if status.is_server_error() {
                    span.record("otel.status_code", "error");
                }
                let duration = started.elapsed();
                // From here, what a task the handler spawned records is the process's.
                scope.close();
                access::log_access(&scope.summary, status, duration.as_secs_f64() * 1e3);
                if let Some(metrics) = metrics {
                    close_metrics(&metrics, &scope, status, duration);
                }
                Ok(response)
            }
        };
        Box::pin(INVOCATION.scope(scope, invocation.instrument(span)))
    }
}

/// Whether an invocation logs at DEBUG at `rate`: decided from its trace id, as OpenTelemetry's
/// `traceidratio` sampler decides (the id's low 64 bits against the rate), so that the
/// invocations of one sampled trace are all sampled; without a trace id, from the clock.
fn sampled_at(span: &tracing::Span, rate: f64) -> bool {
    if rate <= 0.0 {
        return false;
    }
    if rate >= 1.0 {
        return true;
    }
    let trace_id = span.context().span().span_context().trace_id();
    let draw = if trace_id == opentelemetry::trace::TraceId::INVALID {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| {
                u64::from(d.subsec_nanos()).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            })
    } else {
        let bytes = trace_id.to_bytes();
        u64::from_be_bytes([
            bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15],
        ])
    };
    (draw as f64) < rate * (u64::MAX as f64)
}

/// Hands the invocation's metrics, and the crate's own of it, to the store for the flush.
fn close_metrics(
    metrics: &Metrics,
    scope: &InvocationScope,
    status: http::StatusCode,
    duration: std::time::Duration,
) {
    let summary = &scope.summary;
    let trace_id = tracing::Span::current()
        .context()
        .span()
        .span_context()
        .trace_id();
    let outcome = InvocationOutcome {
        route: summary.route.as_deref(),
        status,
        duration,
        cold_start: summary.cold_start,
        ids: InvocationIds {
            request_id: summary.request_id.clone(),
            xray_trace_id: summary.xray_trace_id.clone(),
            trace_id: (trace_id != opentelemetry::trace::TraceId::INVALID)
                .then(|| trace_id.to_string()),
            tenant_id: summary.tenant_id.clone(),
        },
    };
    // Taken out first: closing may log (`LAMBDA_TELEMETRY_METRICS_REQUIRED`), never under a lock.
    let mut pending = scope
        .metrics
        .as_ref()
        .and_then(|m| {
            m.lock()
                .ok()
                .map(|mut pending| std::mem::take(&mut *pending))
        })
        .unwrap_or_default();
    metrics.finish_invocation(&mut pending, outcome);
}

/// The invocation's span, named as OpenTelemetry names HTTP server spans, with the FaaS and
/// HTTP attributes of the request.
fn invocation_span(summary: &RequestSummary) -> tracing::Span {
    let name = match &summary.route {
        Some(route) => format!("{} {route}", summary.method),
        None => summary.method.to_string(),
    };
    tracing::info_span!(
        target: INVOCATION_SPAN_TARGET,
        "invocation",
        otel.name = name,
        otel.kind = "server",
        faas.trigger = "http",
        { span_fields::FAAS_COLDSTART } = summary.cold_start,
        { span_fields::FAAS_INVOCATION_ID } = summary.request_id.as_deref(),
        { span_fields::AWS_LAMBDA_INVOKED_ARN } = summary.invoked_arn.as_deref(),
        { span_fields::CLOUD_RESOURCE_ID } = summary.invoked_arn.as_deref(),
        { span_fields::CLOUD_ACCOUNT_ID } = summary.invoked_arn.as_deref().and_then(account_id),
        { span_fields::AWS_XRAY_TRACE_ID } = summary.xray_trace_id.as_deref(),
        { span_fields::AWS_APIGATEWAY_REQUEST_ID } = summary.correlation_id.as_deref(),
        { span_fields::AWS_LAMBDA_TENANT_ID } = summary.tenant_id.as_deref(),
        { span_fields::HTTP_REQUEST_METHOD } = summary.method.as_str(),
        { span_fields::HTTP_ROUTE } = summary.route.as_deref(),
        { span_fields::URL_PATH } = summary.path.as_str(),
        { span_fields::HTTP_RESPONSE_STATUS_CODE } = Empty,
        otel.status_code = Empty,
        user_agent.original = summary.user_agent.as_deref(),
        client.address = summary.source_ip.as_deref(),
        // Filterable in the X-Ray console: `annotation.faas_coldstart = true`.
        { span_fields::XRAY_ANNOTATIONS } = "faas.coldstart,http.route,aws.lambda.tenant_id",
    )
}

/// Tells the caller which trace the request joined: W3C `traceresponse` names the
/// OpenTelemetry span (with the caller's flags when it continues the caller's trace),
/// `X-Amzn-Trace-Id` the X-Ray trace (Lambda's, when there is one).
fn name_the_trace(response: &mut Response<Body>, scope: &InvocationScope) {
    let span = tracing::Span::current()
        .context()
        .span()
        .span_context()
        .clone();
    let headers = response.headers_mut();
    if let Some(value) =
        traceresponse(&span, scope.caller.as_ref()).and_then(|v| HeaderValue::from_str(&v).ok())
    {
        headers.insert(HeaderName::from_static("traceresponse"), value);
    }
    let xray = scope
        .summary
        .xray_trace_id
        .as_deref()
        .map(|root| format!("Root={root}"))
        .or_else(|| xray_header(&span));
    if let Some(value) = xray.and_then(|v| HeaderValue::from_str(&v).ok()) {
        headers.insert(HeaderName::from_static("x-amzn-trace-id"), value);
    }
}
