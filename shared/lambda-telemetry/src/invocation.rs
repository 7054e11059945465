//! The invocation layer: one span per invocation, one access-log line per request, and a
//! generic 500 instead of a lost invocation when the handler fails or panics.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, IntoResponse, Request, RequestExt, Response};
use opentelemetry::KeyValue;
use opentelemetry::trace::TraceContextExt as _;
use tower::{Layer, Service};
use tracing::Instrument as _;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::constants::{ACCESS_LOG_TARGET, INVOCATION_SPAN_TARGET, span_fields};
use crate::failure::{BoxError, CatchFailure, CatchFailureLayer};
use crate::propagation::{Propagators, choose_parent, traceresponse, xray_header, xray_root};
use crate::redact::redact_query;
use crate::tracecontext::CallerTrace;

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
        }
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
        }
    }
}

/// The service [`InvocationLayer`] makes.
#[derive(Clone, Debug)]
pub struct Invocation<S> {
    inner: CatchFailure<S>,
    propagators: Arc<Propagators>,
    route: Option<Arc<str>>,
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
        let span = summary.span();
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
        let lambda_xray = parent.lambda;
        let caller = parent.caller;
        // Only error reports (made by the log layer's hooks) describe the request.
        #[cfg(feature = "rollbar")]
        let reported_request = crate::logs::hooks::any_installed()
            .then(|| Arc::new(report_request(&request, &summary)));
        span.in_scope(|| tracing::debug!(parent = ?source, "trace parent chosen"));
        let scope = Arc::new(InvocationScope {
            lambda_xray,
            caller,
            #[cfg(feature = "rollbar")]
            reports: std::sync::atomic::AtomicU64::new(0),
            #[cfg(feature = "rollbar")]
            request: reported_request,
        });
        // What the handler does before it returns its future is inside the invocation too
        // (its reports count against its cap).
        let call = span
            .in_scope(|| INVOCATION.sync_scope(Arc::clone(&scope), || self.inner.call(request)));

        let invocation = async move {
            let started = Instant::now();
            // CatchFailure answers every call, a failure too.
            let Ok(mut response) = call.await;
            name_the_trace(&mut response, summary.xray_trace_id.as_deref());
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
            summary.log_access(status, started.elapsed().as_secs_f64() * 1e3);
            Ok(response)
        };
        Box::pin(INVOCATION.scope(scope, invocation.instrument(span)))
    }
}

/// What code running inside an invocation may ask about it.
struct InvocationScope {
    /// The Lambda X-Ray context, for outgoing requests.
    lambda_xray: Option<crate::sampling::XrayTrace>,
    /// The caller's W3C trace context when it is the parent, for outgoing requests and
    /// `traceresponse`: the SDK's span contexts lose its random flag and cannot hold every
    /// valid `tracestate`.
    caller: Option<CallerTrace>,
    /// The request (secrets masked) and the person as error reports describe them; only when
    /// reporting is on.
    #[cfg(feature = "rollbar")]
    request: Option<Arc<serde_json::Map<String, serde_json::Value>>>,
    /// Error reports made so far in this invocation, for its cap (`ROLLBAR_MAX_ITEMS`): per
    /// invocation, so that concurrent invocations never spend each other's.
    #[cfg(feature = "rollbar")]
    reports: std::sync::atomic::AtomicU64,
}

tokio::task_local! {
    // Shared: the handler's synchronous call and its future see the same scope.
    static INVOCATION: Arc<InvocationScope>;
}

/// The Lambda X-Ray context of the invocation the caller runs in, if any (not in tasks the
/// handler spawns: they run outside the invocation).
pub(crate) fn lambda_xray_context() -> Option<crate::sampling::XrayTrace> {
    INVOCATION
        .try_with(|scope| scope.lambda_xray)
        .ok()
        .flatten()
}

/// Runs `f` with the caller's W3C trace context of the invocation the code runs in, or with
/// `None` outside one (tasks the handler spawns) or when the caller's context is not the
/// parent. Borrowed, not cloned: this runs for every outgoing request.
pub(crate) fn with_caller_trace<R>(f: impl Fn(Option<&CallerTrace>) -> R) -> R {
    INVOCATION
        .try_with(|scope| f(scope.caller.as_ref()))
        .unwrap_or_else(|_| f(None))
}

/// What Rollbar's item says of the invocation the caller runs in: `request`, and `person`
/// when an authorizer named the caller.
#[cfg(feature = "rollbar")]
pub(crate) fn current_request() -> Option<Arc<serde_json::Map<String, serde_json::Value>>> {
    INVOCATION
        .try_with(|scope| scope.request.clone())
        .ok()
        .flatten()
}

/// How many error reports the invocation the caller runs in had made before this one; `None`
/// outside an invocation.
#[cfg(feature = "rollbar")]
pub(crate) fn count_report() -> Option<u64> {
    INVOCATION
        .try_with(|scope| scope.reports.fetch_add(1, Ordering::Relaxed))
        .ok()
}

/// Rollbar's `request` (URL, method, headers and query with secret values masked, user IP)
/// and `person`.
#[cfg(feature = "rollbar")]
fn report_request(
    request: &Request,
    summary: &RequestSummary,
) -> serde_json::Map<String, serde_json::Value> {
    use crate::redact::is_secret_name;
    let headers: serde_json::Map<String, serde_json::Value> = request
        .headers()
        .iter()
        .map(|(name, value)| {
            let value = if is_secret_name(name.as_str()) {
                crate::constants::REDACTED.to_owned()
            } else {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            };
            (name.as_str().to_owned(), value.into())
        })
        .collect();
    let host = header_str(request.headers(), header::HOST).unwrap_or_default();
    let query = summary.query.as_deref().unwrap_or_default();
    let url = match (host.is_empty(), query.is_empty()) {
        (true, true) => summary.path.clone(),
        (true, false) => format!("{}?{query}", summary.path),
        (false, true) => format!("https://{host}{}", summary.path),
        (false, false) => format!("https://{host}{}?{query}", summary.path),
    };
    let mut report = serde_json::Map::new();
    report.insert(
        "request".into(),
        serde_json::json!({
            "url": url,
            "method": summary.method.as_str(),
            "headers": headers,
            "query_string": query,
            "user_ip": summary.source_ip,
        }),
    );
    if let Some(person) = person(&request.request_context()) {
        report.insert("person".into(), person);
    }
    report
}

/// Rollbar's `person` from what the API Gateway authorizer says of the caller: the claims of
/// a JWT or Cognito authorizer (`sub`, the user name), else a Lambda authorizer's
/// `principalId`. Only `id` and `username`: an email address is personal data Rollbar does not
/// need to group errors by the people they hit.
#[cfg(feature = "rollbar")]
fn person(context: &RequestContext) -> Option<serde_json::Value> {
    use serde_json::Value;
    fn text(value: Option<&Value>) -> Option<&str> {
        value.and_then(Value::as_str).filter(|v| !v.is_empty())
    }
    let claim = |claims: &dyn Fn(&str) -> Option<String>| {
        let id = claims("sub")?;
        let username = ["username", "cognito:username", "preferred_username"]
            .into_iter()
            .find_map(claims);
        Some(match username {
            Some(username) => serde_json::json!({ "id": id, "username": username }),
            None => serde_json::json!({ "id": id }),
        })
    };
    let lambda_authorizer = |fields: &std::collections::HashMap<String, Value>| {
        let claims = fields.get("claims").and_then(Value::as_object);
        claims
            .and_then(|claims| claim(&|name| text(claims.get(name)).map(str::to_owned)))
            .or_else(|| {
                let id = text(fields.get("principalId"))?;
                Some(serde_json::json!({ "id": id }))
            })
    };
    match context {
        RequestContext::ApiGatewayV2(c) => {
            let authorizer = c.authorizer.as_ref()?;
            authorizer
                .jwt
                .as_ref()
                .and_then(|jwt| {
                    claim(&|name| jwt.claims.get(name).filter(|v| !v.is_empty()).cloned())
                })
                .or_else(|| lambda_authorizer(&authorizer.fields))
        }
        RequestContext::ApiGatewayV1(c) => lambda_authorizer(&c.authorizer.fields),
        _ => None,
    }
}

/// What the span and the access-log line say about a request, read once.
struct RequestSummary {
    method: http::Method,
    route: Option<String>,
    path: String,
    query: Option<String>,
    source_ip: Option<String>,
    user_agent: Option<String>,
    cold_start: bool,
    request_id: Option<String>,
    invoked_arn: Option<String>,
    xray_trace_id: Option<String>,
    correlation_id: Option<String>,
}

impl RequestSummary {
    fn of(request: &Request, cold_start: bool, configured_route: Option<&str>) -> Self {
        let lambda = request.lambda_context_ref();
        let context = request.request_context_ref();
        // The raw path is the one API Gateway received, without the stage lambda_http may add.
        let raw_path = request.raw_http_path();
        let path = if raw_path.is_empty() {
            request.uri().path()
        } else {
            raw_path
        };
        Self {
            method: request.method().clone(),
            route: context
                .and_then(route)
                .or_else(|| configured_route.map(str::to_owned)),
            path: path.to_owned(),
            query: request
                .uri()
                .query()
                .filter(|q| !q.is_empty())
                .map(redact_query),
            source_ip: context
                .and_then(source_ip)
                .or_else(|| forwarded_for(request.headers())),
            user_agent: header_str(request.headers(), header::USER_AGENT),
            cold_start,
            request_id: lambda
                .map(|c| c.request_id.clone())
                .filter(|id| !id.is_empty()),
            invoked_arn: lambda
                .map(|c| c.invoked_function_arn.clone())
                .filter(|arn| !arn.is_empty()),
            xray_trace_id: lambda
                .and_then(|c| c.xray_trace_id.as_deref())
                .and_then(xray_root)
                .map(str::to_owned),
            correlation_id: context.and_then(correlation_id),
        }
    }

    fn span(&self) -> tracing::Span {
        // Named as OpenTelemetry names HTTP server spans: the method and the route template.
        let name = match &self.route {
            Some(route) => format!("{} {route}", self.method),
            None => self.method.to_string(),
        };
        tracing::info_span!(
            target: INVOCATION_SPAN_TARGET,
            "invocation",
            otel.name = name,
            otel.kind = "server",
            faas.trigger = "http",
            { span_fields::FAAS_COLDSTART } = self.cold_start,
            { span_fields::FAAS_INVOCATION_ID } = self.request_id.as_deref(),
            { span_fields::AWS_LAMBDA_INVOKED_ARN } = self.invoked_arn.as_deref(),
            { span_fields::CLOUD_RESOURCE_ID } = self.invoked_arn.as_deref(),
            { span_fields::CLOUD_ACCOUNT_ID } = self.invoked_arn.as_deref().and_then(account_id),
            { span_fields::AWS_XRAY_TRACE_ID } = self.xray_trace_id.as_deref(),
            { span_fields::AWS_APIGATEWAY_REQUEST_ID } = self.correlation_id.as_deref(),
            { span_fields::HTTP_REQUEST_METHOD } = self.method.as_str(),
            { span_fields::HTTP_ROUTE } = self.route.as_deref(),
            { span_fields::URL_PATH } = self.path.as_str(),
            { span_fields::HTTP_RESPONSE_STATUS_CODE } = Empty,
            otel.status_code = Empty,
            user_agent.original = self.user_agent.as_deref(),
            client.address = self.source_ip.as_deref(),
            // Filterable in the X-Ray console: `annotation.faas_coldstart = true`.
            { span_fields::XRAY_ANNOTATIONS } = "faas.coldstart,http.route",
        )
    }

    /// The line the original's after-request hook wrote, at INFO and without secrets: no
    /// headers at all, and the query with secret-looking values masked.
    fn log_access(&self, status: StatusCode, duration_ms: f64) {
        tracing::info!(
            target: ACCESS_LOG_TARGET,
            method = self.method.as_str(),
            route = self.route.as_deref(),
            path = self.path.as_str(),
            query = self.query.as_deref(),
            status = status.as_u16(),
            duration_ms = (duration_ms * 1e3).round() / 1e3,
            source_ip = self.source_ip.as_deref(),
            user_agent = self.user_agent.as_deref(),
            "{} {} {}",
            self.method,
            self.path,
            status.as_u16(),
        );
    }
}

/// Tells the caller which trace the request joined: W3C `traceresponse` names the
/// OpenTelemetry span, `X-Amzn-Trace-Id` the X-Ray trace (Lambda's, when there is one).
fn name_the_trace(response: &mut Response<Body>, lambda_xray_root: Option<&str>) {
    let span = tracing::Span::current()
        .context()
        .span()
        .span_context()
        .clone();
    let headers = response.headers_mut();
    if let Some(value) = traceresponse(&span).and_then(|v| HeaderValue::from_str(&v).ok()) {
        headers.insert(HeaderName::from_static("traceresponse"), value);
    }
    let xray = lambda_xray_root
        .map(|root| format!("Root={root}"))
        .or_else(|| xray_header(&span));
    if let Some(value) = xray.and_then(|v| HeaderValue::from_str(&v).ok()) {
        headers.insert(HeaderName::from_static("x-amzn-trace-id"), value);
    }
}

/// The route template: API Gateway REST's resource, or an HTTP API's route key.
fn route(context: &RequestContext) -> Option<String> {
    match context {
        RequestContext::ApiGatewayV1(c) => c.resource_path.clone(),
        RequestContext::ApiGatewayV2(c) => c
            .route_key
            .as_deref()
            .filter(|key| *key != "$default")
            // An HTTP API route key reads `GET /path`; the method is said elsewhere.
            .map(|key| key.split_once(' ').map_or(key, |(_, path)| path).to_owned()),
        _ => None,
    }
}

fn source_ip(context: &RequestContext) -> Option<String> {
    match context {
        RequestContext::ApiGatewayV1(c) => c.identity.source_ip.clone(),
        RequestContext::ApiGatewayV2(c) => c.http.source_ip.clone(),
        _ => None,
    }
}

fn correlation_id(context: &RequestContext) -> Option<String> {
    match context {
        RequestContext::ApiGatewayV1(c) => c.request_id.clone(),
        RequestContext::ApiGatewayV2(c) => c.request_id.clone(),
        _ => None,
    }
}

/// ALB and function URLs behind a proxy: the first address of `X-Forwarded-For` is the client.
fn forwarded_for(headers: &HeaderMap) -> Option<String> {
    let value = header_str(headers, header::HeaderName::from_static("x-forwarded-for"))?;
    value
        .split(',')
        .next()
        .map(|ip| ip.trim().to_owned())
        .filter(|ip| !ip.is_empty())
}

/// A header's value as text. A value that is not visible ASCII (`User-Agent: Café/1.0`) is
/// decoded as UTF-8, lossily: what the client sent stays readable instead of vanishing from
/// the access line, the span and the error report.
fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    let value = headers.get(name)?;
    Some(String::from_utf8_lossy(value.as_bytes()).into_owned())
}

/// The account of `arn:aws:lambda:us-east-1:123456789012:function:name[:alias]`.
fn account_id(arn: &str) -> Option<&str> {
    arn.split(':')
        .nth(4)
        .filter(|id| id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::LogFormat;
    use crate::logs::testing::capture;
    use serde_json::Value;
    use tower::ServiceExt as _;

    pub(crate) fn event() -> Request {
        let event = include_str!("../../../events/user-activities.json");
        let mut request = lambda_http::request::from_str(event).unwrap();
        *request.uri_mut() = "https://example.com/api/activities/@andrewbrown?token=canary&page=2"
            .parse()
            .unwrap();
        request
    }

    /// Serves one request through the layer; returns the response and the log lines.
    fn serve<S>(service: S) -> (Response<Body>, Vec<Value>)
    where
        S: Service<
                Request,
                Future: Send + 'static,
                Response: IntoResponse + Send,
                Error: Into<BoxError> + Send,
            >,
    {
        serve_request(service, event())
    }

    pub(crate) fn serve_request<S>(service: S, request: Request) -> (Response<Body>, Vec<Value>)
    where
        S: Service<
                Request,
                Future: Send + 'static,
                Response: IntoResponse + Send,
                Error: Into<BoxError> + Send,
            >,
    {
        serve_through(InvocationLayer::default(), service, request)
    }

    fn serve_through<S>(
        layer: InvocationLayer,
        service: S,
        request: Request,
    ) -> (Response<Body>, Vec<Value>)
    where
        S: Service<
                Request,
                Future: Send + 'static,
                Response: IntoResponse + Send,
                Error: Into<BoxError> + Send,
            >,
    {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut response = None;
        let lines = capture(LogFormat::Json, || {
            response = Some(
                runtime
                    .block_on(layer.layer(service).oneshot(request))
                    .unwrap(),
            );
        });
        let lines = lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (response.unwrap(), lines)
    }

    #[test]
    fn one_access_line_at_info_with_the_request_and_without_secrets() {
        let handler = tower::service_fn(|_: Request| async {
            tracing::info!("inside");
            Ok::<_, BoxError>("hello")
        });
        let (response, lines) = serve(handler);
        assert_eq!(response.status(), StatusCode::OK);
        let [inside, access] = lines.as_slice() else {
            panic!("{lines:?}")
        };
        assert_eq!(inside["message"], "inside");
        assert_eq!(inside["correlation_id"], access["correlation_id"]);
        assert_eq!(access["level"], "INFO");
        assert_eq!(access["message"], "GET /api/activities/@andrewbrown 200");
        assert_eq!(access["route"], "/api/activities/{handle}");
        assert_eq!(access["path"], "/api/activities/@andrewbrown");
        assert_eq!(access["query"], "token=[REDACTED]&page=2");
        assert_eq!(access["status"], 200);
        assert_eq!(access["source_ip"], "203.0.113.7");
        assert!(
            access["user_agent"]
                .as_str()
                .unwrap()
                .starts_with("Mozilla/5.0")
        );
        assert!(access["duration_ms"].as_f64().unwrap() >= 0.0);
        assert!(!serde_json::to_string(&lines).unwrap().contains("canary"));
    }

    fn hello()
    -> impl Service<Request, Response = &'static str, Error = BoxError, Future: Send + 'static> + Clone
    {
        tower::service_fn(|_: Request| async {
            tracing::info!("inside");
            Ok::<_, BoxError>("hello")
        })
    }

    /// The server span of one request served through the layer, as exporters receive it.
    fn server_span<S>(service: S) -> opentelemetry_sdk::trace::SpanData
    where
        S: Service<
                Request,
                Future: Send + 'static,
                Response: IntoResponse + Send,
                Error: Into<BoxError> + Send,
            >,
    {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let spans = crate::logs::testing::capture_spans(|| {
            let answer = runtime
                .block_on(InvocationLayer::default().layer(service).oneshot(event()))
                .unwrap();
            assert_eq!(answer.status(), 500);
        });
        spans
            .into_iter()
            .find(|s| s.span_kind == opentelemetry::trace::SpanKind::Server)
            .expect("a server span")
    }

    fn exception_message(span: &opentelemetry_sdk::trace::SpanData) -> String {
        let event = span
            .events
            .iter()
            .find(|e| e.name == "exception")
            .unwrap_or_else(|| panic!("no exception event: {:?}", span.events));
        event
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == "exception.message")
            .map(|kv| kv.value.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn a_failed_handler_is_an_error_span_with_an_exception_event() {
        let span = server_span(tower::service_fn(|_: Request| async {
            Err::<&str, BoxError>("database unreachable".into())
        }));
        assert!(matches!(
            span.status,
            opentelemetry::trace::Status::Error { .. }
        ));
        assert!(exception_message(&span).contains("database unreachable"));
    }

    #[test]
    fn a_panicking_handler_is_an_error_span_with_an_exception_event() {
        // The hook the crate installs writes the panic as an ERROR event in the span.
        let previous = std::panic::take_hook();
        crate::panics::install_hook();
        let span = server_span(tower::service_fn(|_: Request| async {
            if true {
                panic!("index out of range");
            }
            Ok::<&str, BoxError>("unreachable")
        }));
        std::panic::set_hook(previous);
        assert!(matches!(
            span.status,
            opentelemetry::trace::Status::Error { .. }
        ));
        assert!(exception_message(&span).contains("index out of range"));
    }

    #[test]
    fn a_traceparent_continues_the_callers_trace_in_logs_and_response() {
        let mut request = event();
        request.headers_mut().insert(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
                .parse()
                .unwrap(),
        );
        let (response, lines) = serve_request(hello(), request);
        for line in &lines {
            assert_eq!(
                line["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736",
                "{line}"
            );
            assert_eq!(line["span_id"].as_str().map(str::len), Some(16), "{line}");
            assert_ne!(
                line["span_id"], "00f067aa0ba902b7",
                "the server span is the caller's child"
            );
        }
        let traceresponse = response.headers()["traceresponse"].to_str().unwrap();
        assert!(
            traceresponse.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
            "{traceresponse}"
        );
        assert!(traceresponse.contains(lines[0]["span_id"].as_str().unwrap()));
    }

    #[test]
    fn without_traceparent_the_trace_id_is_the_lambda_xray_trace_id() {
        let mut context = lambda_http::Context::default();
        context.request_id = "req-1".into();
        context.xray_trace_id = Some(
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".into(),
        );
        let request = event().with_lambda_context(context);
        let (response, lines) = serve_request(hello(), request);
        for line in &lines {
            assert_eq!(
                line["trace_id"], "5759e988bd862e3fe1be46a994272793",
                "{line}"
            );
            assert_eq!(
                line["xray_trace_id"], "1-5759e988-bd862e3fe1be46a994272793",
                "{line}"
            );
            assert_eq!(line["function_request_id"], "req-1");
        }
        assert_eq!(
            response.headers()["x-amzn-trace-id"],
            "Root=1-5759e988-bd862e3fe1be46a994272793"
        );
        assert!(
            response.headers()["traceresponse"]
                .to_str()
                .unwrap()
                .starts_with("00-5759e988bd862e3fe1be46a994272793-")
        );
    }

    #[test]
    fn a_failing_handler_is_a_generic_500_and_an_error_line_with_its_cause() {
        let handler = tower::service_fn(|_: Request| async {
            Err::<&str, BoxError>(std::io::Error::other("connection refused").into())
        });
        let (response, lines) = serve(handler);
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(
            response.body().as_ref(),
            br#"{"message":"Internal Server Error"}"#
        );
        assert_eq!(lines[0]["level"], "ERROR");
        assert_eq!(lines[0]["error"], "connection refused");
        assert_eq!(lines[1]["status"], 500);
    }

    #[test]
    fn a_panicking_handler_is_a_generic_500_and_the_service_goes_on() {
        let handler = tower::service_fn(|request: Request| async move {
            if request.uri().query().is_some() {
                panic!("secret detail");
            }
            Ok::<_, BoxError>("hello")
        });
        let (response, lines) = serve(handler);
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!String::from_utf8_lossy(response.body()).contains("secret"));
        assert_eq!(lines.last().unwrap()["status"], 500);

        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut service = InvocationLayer::default().layer(handler);
        let mut request = event();
        *request.uri_mut() = "https://example.com/api/activities/@a".parse().unwrap();
        let response = runtime.block_on(service.ready()).unwrap();
        let response = runtime.block_on(response.call(request)).unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }

    #[cfg(feature = "rollbar")]
    fn person_of(event: Value) -> Option<Value> {
        let request = lambda_http::request::from_str(&event.to_string()).unwrap();
        person(&request.request_context())
    }

    #[cfg(feature = "rollbar")]
    #[test]
    fn the_person_comes_from_the_authorizer_and_leaves_the_email_out() {
        // The fixtures are REST API (v1) events: a Cognito authorizer's claims, else a Lambda
        // authorizer's principal.
        let mut v1: Value =
            serde_json::from_str(include_str!("../../../events/user-activities.json")).unwrap();
        assert_eq!(person_of(v1.clone()), None);
        v1["requestContext"]["authorizer"] = serde_json::json!({ "claims": {
            "sub": "a1b2", "cognito:username": "andrewbrown", "email": "a@example.com",
        }});
        assert_eq!(
            person_of(v1.clone()),
            Some(serde_json::json!({ "id": "a1b2", "username": "andrewbrown" }))
        );
        v1["requestContext"]["authorizer"] = serde_json::json!({ "principalId": "user-7" });
        assert_eq!(person_of(v1), Some(serde_json::json!({ "id": "user-7" })));

        // An HTTP API (v2) event with a JWT authorizer.
        let v2 = serde_json::json!({
            "version": "2.0", "routeKey": "GET /api/activities/home",
            "rawPath": "/api/activities/home", "rawQueryString": "", "headers": {},
            "requestContext": {
                "http": { "method": "GET", "path": "/api/activities/home", "sourceIp": "203.0.113.7" },
                "authorizer": { "jwt": { "claims": { "sub": "c3d4", "username": "bayko" } } },
            },
        });
        assert_eq!(
            person_of(v2),
            Some(serde_json::json!({ "id": "c3d4", "username": "bayko" }))
        );
    }

    /// Serves `request` through the subscriber `init` installs, at `log_filter` with `sampler`.
    fn serve_traced(
        request: Request,
        log_filter: &str,
        sampler: opentelemetry_sdk::trace::Sampler,
    ) -> (Response<Body>, Vec<Value>, Vec<crate::sinks::EndedSpan>) {
        serve_traced_with(InvocationLayer::default(), request, log_filter, sampler)
    }

    fn serve_traced_with(
        layer: InvocationLayer,
        request: Request,
        log_filter: &str,
        sampler: opentelemetry_sdk::trace::Sampler,
    ) -> (Response<Body>, Vec<Value>, Vec<crate::sinks::EndedSpan>) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut response = None;
        let sampler = crate::sampling::InvocationSampler(sampler);
        let (lines, spans) = crate::logs::testing::capture_all(log_filter, sampler, || {
            response = Some(
                runtime
                    .block_on(layer.layer(hello()).oneshot(request))
                    .unwrap(),
            );
        });
        let lines = lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (response.unwrap(), lines, spans)
    }

    fn with_lambda_xray(request: Request, header: &str) -> Request {
        let mut context = lambda_http::Context::default();
        context.request_id = "req-1".into();
        context.xray_trace_id = Some(header.into());
        request.with_lambda_context(context)
    }

    fn parent_based_on() -> opentelemetry_sdk::trace::Sampler {
        use opentelemetry_sdk::trace::Sampler;
        Sampler::ParentBased(Box::new(Sampler::AlwaysOn))
    }

    #[test]
    fn the_log_level_never_changes_what_is_traced() {
        let request = || {
            with_lambda_xray(
                event(),
                "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
            )
        };
        let (_, info_lines, info_spans) = serve_traced(request(), "info", parent_based_on());
        assert_eq!(info_spans.len(), 1, "the server span at INFO");
        assert!(info_lines.iter().any(|l| l["status"] == 200));
        for level in ["error", "warn", "debug", "trace", "lambda_telemetry=off"] {
            let (response, lines, spans) = serve_traced(request(), level, parent_based_on());
            assert_eq!(spans.len(), info_spans.len(), "at {level}");
            assert!(spans[0].data.span_context.is_sampled(), "at {level}");
            assert!(
                response.headers()["traceresponse"]
                    .to_str()
                    .unwrap()
                    .starts_with("00-5759e988bd862e3fe1be46a994272793-"),
                "at {level}"
            );
            if level == "warn" || level == "error" {
                assert!(
                    lines.is_empty(),
                    "at {level} the INFO lines are not printed"
                );
            }
        }
    }

    #[test]
    fn an_error_line_at_warn_still_carries_the_invocation_context() {
        let handler = tower::service_fn(|_: Request| async {
            tracing::error!("broken");
            Ok::<_, BoxError>("ok")
        });
        let request = with_lambda_xray(
            event(),
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (lines, _) = crate::logs::testing::capture_all(
            "warn",
            crate::logs::testing::default_sampler(),
            || {
                runtime
                    .block_on(InvocationLayer::default().layer(handler).oneshot(request))
                    .unwrap();
            },
        );
        let [line] = lines.as_slice() else {
            panic!("{lines:?}")
        };
        let line: Value = serde_json::from_str(line).unwrap();
        assert_eq!(line["function_request_id"], "req-1");
        assert_eq!(line["trace_id"], "5759e988bd862e3fe1be46a994272793");
    }

    #[test]
    fn an_xray_root_without_parent_keeps_its_trace_id_in_span_logs_and_response() {
        // What Lambda passes in PassThrough mode, and what a load balancer sends.
        let request = with_lambda_xray(event(), "Root=1-5759e988-bd862e3fe1be46a994272793");
        let (response, lines, spans) = serve_traced(request, "info", parent_based_on());
        let [server] = spans.as_slice() else {
            panic!("{spans:?}")
        };
        assert_eq!(
            server.data.span_context.trace_id().to_string(),
            "5759e988bd862e3fe1be46a994272793"
        );
        assert_eq!(
            server.data.parent_span_id,
            opentelemetry::trace::SpanId::INVALID,
            "a new root: no parent that does not exist"
        );
        for line in &lines {
            assert_eq!(line["trace_id"], "5759e988bd862e3fe1be46a994272793");
            assert_eq!(line["xray_trace_id"], "1-5759e988-bd862e3fe1be46a994272793");
        }
        assert!(
            response.headers()["traceresponse"]
                .to_str()
                .unwrap()
                .starts_with("00-5759e988bd862e3fe1be46a994272793-")
        );
        assert_eq!(
            response.headers()["x-amzn-trace-id"],
            "Root=1-5759e988-bd862e3fe1be46a994272793"
        );
    }

    /// The README's decision table ("Sampling"), row by row: which propagators, where the
    /// parent comes from, what Lambda's X-Ray header says, the sampler → whether OTLP gets the
    /// spans, what X-Ray gets (the documents the exporter makes, a segment or a subsegment),
    /// and the flags `traceresponse` writes.
    #[test]
    fn the_sampling_decision_table_holds_row_by_row() {
        use opentelemetry_sdk::trace::Sampler;
        const W3C_SAMPLED: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        const W3C_UNSAMPLED: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
        const XRAY_1: &str =
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
        const XRAY_0: &str =
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0";
        const XRAY_UNSAID: &str =
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=?";
        const XRAY_NO_FLAG: &str =
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8";
        const ROOT_ONLY_1: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1";
        const ROOT_ONLY_0: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0";
        // A caller's own X-Ray header (`OTEL_PROPAGATORS=xray`), unsampled by the caller.
        const CALLER_XRAY_0: &str =
            "Root=1-6759e988-bd862e3fe1be46a994272794;Parent=63995c3f42cd8ad9;Sampled=0";
        let on = parent_based_on;
        let off = || Sampler::AlwaysOff;
        let always = || Sampler::AlwaysOn;
        let ratio_1 = || Sampler::TraceIdRatioBased(1.0);
        let parent_based_off = || Sampler::ParentBased(Box::new(Sampler::AlwaysOff));
        const SUB: Option<&str> = Some("subsegment");
        const SEG: Option<&str> = Some("segment");
        type Row = (
            &'static str,
            Option<&'static str>,
            Option<&'static str>,
            fn() -> Sampler,
            bool,
            Option<&'static str>,
            &'static str,
        );
        #[rustfmt::skip]
        let rows: [Row; 23] = [
            // propagators, traceparent / X-Amzn-Trace-Id, Lambda X-Ray, sampler, OTLP, X-Ray, flags
            ("default", Some(W3C_SAMPLED),   Some(XRAY_1),       on,               true,  SUB,  "01"),
            ("default", Some(W3C_UNSAMPLED), Some(XRAY_1),       on,               false, SUB,  "00"),
            ("default", Some(W3C_SAMPLED),   Some(XRAY_0),       on,               true,  None, "01"),
            ("default", Some(W3C_UNSAMPLED), Some(XRAY_0),       on,               false, None, "00"),
            ("default", Some(W3C_SAMPLED),   Some(XRAY_1),       off,              false, SUB,  "00"),
            ("default", Some(W3C_SAMPLED),   Some(XRAY_0),       parent_based_off, true,  None, "01"),
            ("default", Some(W3C_SAMPLED),   None,               on,               true,  SEG,  "01"),
            ("default", Some(W3C_UNSAMPLED), None,               on,               false, None, "00"),
            ("default", Some(W3C_UNSAMPLED), None,               always,           true,  SEG,  "01"),
            ("default", Some(W3C_UNSAMPLED), Some(XRAY_0),       ratio_1,          true,  None, "01"),
            ("default", None,                Some(XRAY_1),       on,               true,  SUB,  "01"),
            ("default", None,                Some(XRAY_0),       on,               true,  None, "01"),
            ("default", None,                Some(XRAY_1),       off,              false, SUB,  "00"),
            ("default", None,                Some(XRAY_0),       off,              false, None, "00"),
            ("default", None,                Some(XRAY_1),       parent_based_off, false, SUB,  "00"),
            ("default", None,                Some(XRAY_UNSAID),  on,               true,  SUB,  "01"),
            ("default", None,                Some(XRAY_NO_FLAG), off,              false, None, "00"),
            ("default", None,                Some(ROOT_ONLY_1),  on,               true,  SEG,  "01"),
            ("default", None,                Some(ROOT_ONLY_0),  on,               true,  None, "01"),
            ("default", None,                None,               on,               true,  SEG,  "01"),
            ("default", None,                None,               off,              false, None, "00"),
            ("xray",    Some(CALLER_XRAY_0), Some(XRAY_1),       on,               true,  SUB,  "01"),
            ("xray",    Some(CALLER_XRAY_0), None,               on,               true,  None, "01"),
        ];
        let exporter = crate::sinks::XrayExporter::new(([127, 0, 0, 1], 2000).into(), "cruddur");
        for (index, (propagators, caller, xray, sampler, otlp, to_xray, flags)) in
            rows.into_iter().enumerate()
        {
            let mut request = event();
            let layer = match propagators {
                "xray" => {
                    if let Some(caller) = caller {
                        request
                            .headers_mut()
                            .insert("x-amzn-trace-id", caller.parse().unwrap());
                    }
                    InvocationLayer {
                        propagators: Arc::new(Propagators::parse("xray").0),
                        ..InvocationLayer::default()
                    }
                }
                _ => {
                    if let Some(traceparent) = caller {
                        request
                            .headers_mut()
                            .insert("traceparent", traceparent.parse().unwrap());
                    }
                    InvocationLayer::default()
                }
            };
            if let Some(xray) = xray {
                request = with_lambda_xray(request, xray);
            }
            let (response, _, spans) = serve_traced_with(layer, request, "info", sampler());
            let row = format!("row {}: {propagators} {caller:?} {xray:?}", index + 1);
            let sent_to_otlp = spans.iter().any(|s| s.data.span_context.is_sampled());
            assert_eq!(sent_to_otlp, otlp, "OTLP, {row}");
            let documents: Vec<Value> = exporter
                .documents(&spans)
                .iter()
                .map(|d| {
                    let body = d.splitn(2, |b| *b == b'\n').nth(1).unwrap();
                    serde_json::from_slice(body).unwrap()
                })
                .collect();
            let sent_as = documents.first().map(|d| match d.get("type") {
                Some(_) => "subsegment",
                None => "segment",
            });
            assert_eq!(sent_as, to_xray, "X-Ray, {row}: {documents:?}");
            if let Some(doc) = documents.first() {
                let trace = match (propagators, xray) {
                    ("xray", None) => "1-6759e988-bd862e3fe1be46a994272794",
                    (_, None) => doc["trace_id"].as_str().unwrap(),
                    _ => "1-5759e988-bd862e3fe1be46a994272793",
                };
                assert_eq!(doc["trace_id"], trace, "X-Ray trace, {row}");
            }
            let traceresponse = response.headers()["traceresponse"].to_str().unwrap();
            assert!(
                traceresponse.ends_with(&format!("-{flags}")),
                "{traceresponse}, {row}"
            );
        }
    }

    #[test]
    fn the_root_is_read_from_any_position_and_garbage_gives_none() {
        assert_eq!(
            xray_root("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"),
            Some("1-5759e988-bd862e3fe1be46a994272793")
        );
        assert_eq!(xray_root("Sampled=0; root=1-2-3"), Some("1-2-3"));
        for garbage in ["", "Root=", "Parent=1", ";;;", "Root"] {
            assert_eq!(xray_root(garbage), None, "{garbage:?}");
        }
    }

    /// A function URL's event, as AWS documents it and `cargo lambda watch` sends it: no
    /// resource, and the route key `$default`.
    fn function_url_event() -> Request {
        let event = serde_json::json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": "/api/activities/@andrewbrown",
            "rawQueryString": "",
            "headers": { "host": "abc.lambda-url.us-east-1.on.aws" },
            "requestContext": {
                "accountId": "anonymous",
                "apiId": "abc",
                "domainName": "abc.lambda-url.us-east-1.on.aws",
                "http": {
                    "method": "GET",
                    "path": "/api/activities/@andrewbrown",
                    "protocol": "HTTP/1.1",
                    "sourceIp": "203.0.113.7",
                    "userAgent": "curl/8"
                },
                "requestId": "req-url-1",
                "routeKey": "$default",
                "stage": "$default",
                "timeEpoch": 1_700_000_000_000u64
            },
            "isBase64Encoded": false
        });
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    /// The server span's name and `http.route` for `request` served through `layer`.
    fn span_name_and_route(layer: InvocationLayer, request: Request) -> (String, Option<String>) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let spans = crate::logs::testing::capture_spans(|| {
            runtime
                .block_on(layer.layer(hello()).oneshot(request))
                .unwrap();
        });
        let server = spans
            .into_iter()
            .find(|s| s.span_kind == opentelemetry::trace::SpanKind::Server)
            .expect("a server span");
        let route = server
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == span_fields::HTTP_ROUTE)
            .map(|kv| kv.value.to_string());
        (server.name.into_owned(), route)
    }

    /// OpenTelemetry's HTTP server spans: named `{method} {http.route}`, the route being the
    /// template the server matched. The same under a function URL (`make serve`) as under
    /// API Gateway, when the function names its route.
    #[test]
    fn a_configured_route_names_events_without_one_and_the_events_own_route_wins() {
        let route = "/api/activities/{handle}";
        let layer = || InvocationLayer::default().with_route(route);

        // Without a configured route, a function URL's event has none: the span is `GET`.
        assert_eq!(
            span_name_and_route(InvocationLayer::default(), function_url_event()),
            ("GET".to_owned(), None)
        );
        assert_eq!(
            span_name_and_route(layer(), function_url_event()),
            (format!("GET {route}"), Some(route.to_owned()))
        );
        let (_, lines) = serve_through(layer(), hello(), function_url_event());
        assert_eq!(lines.last().unwrap()["route"], route);

        // API Gateway's resource wins over the configured route.
        let configured = || InvocationLayer::default().with_route("/configured");
        assert_eq!(
            span_name_and_route(configured(), event()),
            (format!("GET {route}"), Some(route.to_owned()))
        );
        let (_, lines) = serve_through(configured(), hello(), event());
        assert_eq!(lines.last().unwrap()["route"], route);
    }

    /// RFC 9110 §5.5: field values may hold bytes beyond ASCII (obs-text); clients send
    /// UTF-8. Such a value is written, decoded, not dropped.
    #[test]
    fn header_values_beyond_ascii_reach_the_access_line_and_the_span() {
        let with_headers = || {
            let mut request = event();
            let headers = request.headers_mut();
            headers.insert(
                header::USER_AGENT,
                HeaderValue::from_bytes("Café/1.0 (Linux; é)".as_bytes()).unwrap(),
            );
            request
        };
        let (_, lines) = serve_request(hello(), with_headers());
        let access = lines.last().unwrap();
        assert_eq!(access["user_agent"], "Café/1.0 (Linux; é)");
        // The fixture's own source IP wins over the header; the header alone is read here.
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"198.51.100.9\xe9, 10.0.0.1").unwrap(),
        );
        assert_eq!(
            forwarded_for(&headers).as_deref(),
            Some("198.51.100.9\u{fffd}")
        );

        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let spans = crate::logs::testing::capture_spans(|| {
            runtime
                .block_on(
                    InvocationLayer::default()
                        .layer(hello())
                        .oneshot(with_headers()),
                )
                .unwrap();
        });
        let server = spans
            .iter()
            .find(|s| s.span_kind == opentelemetry::trace::SpanKind::Server)
            .expect("a server span");
        let user_agent = server
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == "user_agent.original")
            .map(|kv| kv.value.to_string());
        assert_eq!(user_agent.as_deref(), Some("Café/1.0 (Linux; é)"));
    }

    #[test]
    fn the_first_forwarded_address_is_the_client() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "203.0.113.7, 10.0.0.1".parse().unwrap());
        assert_eq!(forwarded_for(&headers).as_deref(), Some("203.0.113.7"));
    }
}
