//! Our own loop on the Lambda Runtime API: ask for an invocation, make an HTTP request of its
//! event, serve it through the [`InvocationLayer`](crate::InvocationLayer), post the answer,
//! flush the telemetry, ask for the next.
//!
//! # Why not `lambda_http::run`
//!
//! We served handlers with `lambda_http::runtime_concurrent(..).run_concurrent()` before; three
//! faults came from it and none could be fixed from outside, since neither lambda_runtime's
//! service stack nor its `run_with_incoming` is public:
//!
//! 1. **Memory grew on every invocation.** With one invocation at a time, lambda_runtime 1.5
//!    calls `std::env::set_var("_X_AMZN_TRACE_ID", ..)` for each one, and glibc's `setenv`
//!    never frees a replaced value: about 175 bytes per invocation with unique trace ids
//!    (6.8 to 17.3 MB over 60,000 warm invocations). This loop never sets an environment
//!    variable; the trace id travels in the invocation `Context` only.
//! 2. **Some events panicked before the handler.** lambda_http's conversion of an event into
//!    a request `expect`s a valid base64 body and a URL it can build (at most 64 KiB, a host
//!    and scheme `url` accepts). Such an event was an invocation error (a 502 for the client),
//!    two error reports and no access line. Here the event is checked first, as the
//!    conversion would see it (`check::check`); one that fails is answered 400 through the
//!    invocation layer, with its span and access line. The conversion still runs under
//!    `catch_unwind` for what the check does not foresee.
//! 3. **The caller's `X-Amzn-Trace-Id` was lost.** lambda_http's adapter overwrote that header
//!    with Lambda's own trace header, so `OTEL_PROPAGATORS=xray` could never continue the
//!    caller's trace. Here the request keeps the headers the event carried.
//!
//! Two more are lambda_http's conversion, which we still use, and are mended around it: a
//! REST or ALB event's repeated header kept only its last field (`headers::event_headers`), and an
//! event of an HTTP event's shape that does not deserialize (a header value with a line
//! break) was "not an HTTP event", an invocation error; it is answered 400 like the events
//! above (`event::Unreadable`).
//!
//! What we gave up from lambda_runtime: SnapStart (its `/restore/next` lifecycle and
//! `SnapStartResource` hooks; SnapStart is not offered for custom runtimes on
//! `provided.al2023` anyway), streaming responses (`Lambda-Runtime-Function-Response-Mode:
//! streaming`), event types other than HTTP (API Gateway REST and HTTP API, function URLs,
//! ALB), and its tracing of the raw event at TRACE level. What it reads from the invocation
//! headers (request id, deadline, function ARN, X-Ray trace, client context, Cognito identity,
//! tenant id) it still reads, through its own `Context::new`.
//!
//! With `AWS_LAMBDA_MAX_CONCURRENCY` = N > 1 (Lambda Managed Instances), N loops run side
//! by side, as lambda_runtime's `run_concurrent` does; each flushes after its own responses.

use std::future::poll_fn;
use std::sync::Arc;

use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use http_body_util::BodyExt as _;
use lambda_http::lambda_runtime::{Config as LambdaConfig, Context};
use lambda_http::{Body, IntoResponse, Request, Response, TransformResponse};
use lambda_runtime_api_client::PooledClient;
use lambda_runtime_api_client::body::Body as ApiBody;
use tower::{Layer as _, Service};

use crate::config::{Config, Setting, SettingProblem};
use crate::constants::{AWS_LAMBDA_MAX_CONCURRENCY, AWS_LAMBDA_RUNTIME_API, span_fields};
use crate::invocation::InvocationLayer;
use crate::propagation::xray_root;
use crate::sinks::Pipeline;

/// Checking an event before lambda_http converts it.
mod check;
/// The invocations in flight when the process is told to end.
mod drain;
/// The event as the handler's request.
mod event;
/// The headers as the event carried them.
mod headers;

use check::RejectMalformed;
pub(crate) use drain::Drain;
use event::{Unread, http_request, parse_event};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const NEXT: &str = "/2018-06-01/runtime/invocation/next";
const REQUEST_ID: &str = "lambda-runtime-aws-request-id";
const DEADLINE_MS: &str = "lambda-runtime-deadline-ms";
const TRACE_ID: &str = "lambda-runtime-trace-id";
const INVOKED_ARN: &str = "lambda-runtime-invoked-function-arn";
/// Echoed on `/response` and `/error`, so Lambda can refuse the answer of a timed-out
/// invocation (newer Runtime APIs send it; lambda_runtime echoes it too).
const INVOCATION_ID: &str = "lambda-runtime-invocation-id";
const ERROR_TYPE: &str = "lambda-runtime-function-error-type";

/// Serves `handler`, inside `invocation`, on the Runtime API at `AWS_LAMBDA_RUNTIME_API`,
/// with `AWS_LAMBDA_MAX_CONCURRENCY` loops (both from `config`); returns only when no loop is
/// left, with the error that ended the last one.
pub(crate) async fn serve<S>(
    config: &Config,
    invocation: InvocationLayer,
    handler: S,
    pipeline: Arc<Pipeline>,
    drain: Arc<Drain>,
) -> Result<(), BoxError>
where
    S: Service<Request> + Clone + Send + 'static,
    S::Response: IntoResponse + Send,
    S::Error: Into<BoxError> + Send,
    S::Future: Send + 'static,
{
    let endpoint = config
        .runtime
        .api
        .clone()
        .ok_or_else(|| format!("{AWS_LAMBDA_RUNTIME_API} is not set: not in Lambda"))?;
    let endpoint: Uri = endpoint
        .trim()
        .parse()
        .map_err(|e| format!("{AWS_LAMBDA_RUNTIME_API} is not host:port: {e}"))?;
    let (loops, problem) = match &config.runtime.max_concurrency {
        Setting::Code(loops) => (*loops, None),
        Setting::Env(_, value) => concurrency(Some(value)),
        Setting::Unset => concurrency(None),
    };
    if let Some(problem) = problem {
        tracing::warn!(problem = %problem, "running one invocation at a time");
    }
    let client = Arc::new(
        PooledClient::builder()
            .with_endpoint(endpoint)
            .with_pool_size(loops)
            .build(),
    );
    let service = invocation.layer(RejectMalformed(handler));
    let worker = Worker {
        client,
        config: Arc::new(lambda_config(config)),
        pipeline,
        drain,
    };
    if loops == 1 {
        return worker.run(service).await;
    }
    let mut running = tokio::task::JoinSet::new();
    for _ in 0..loops {
        running.spawn(worker.clone().run(service.clone()));
    }
    // A loop that fails ends alone; the others serve on, as under lambda_runtime.
    let mut last = Ok(());
    while let Some(ended) = running.join_next().await {
        let error: BoxError = match ended {
            Ok(Ok(())) => continue,
            Ok(Err(error)) => error,
            Err(join) => Box::new(join),
        };
        tracing::error!(
            error = &*error as &dyn std::error::Error,
            remaining = running.len(),
            "a Runtime API loop stopped"
        );
        last = Err(error);
    }
    last
}

/// How many loops `AWS_LAMBDA_MAX_CONCURRENCY` asks for, and what is wrong with it, if
/// anything: not a whole number above 0 means one loop.
fn concurrency(value: Option<&str>) -> (usize, Option<SettingProblem>) {
    let Some(value) = value else { return (1, None) };
    match value.trim().parse::<usize>() {
        Ok(loops) if loops > 0 => (loops, None),
        // Named, not quoted: a setting's value is never repeated in a problem.
        _ => (
            1,
            Some(SettingProblem::new(
                AWS_LAMBDA_MAX_CONCURRENCY,
                "is not a whole number above zero",
            )),
        ),
    }
}

/// What lambda_runtime's `Config::from_env` reads, without its panic on a missing variable
/// (off Lambda, a test), as `config` read it once: the `Context` of every invocation
/// carries it.
fn lambda_config(config: &Config) -> LambdaConfig {
    let runtime = &config.runtime;
    LambdaConfig {
        function_name: config.function_name.clone().unwrap_or_default(),
        memory: config
            .function_memory_size
            .and_then(|m| i32::try_from(m).ok())
            .unwrap_or_default(),
        version: runtime.function_version.clone().unwrap_or_default(),
        log_stream: runtime.log_stream.clone().unwrap_or_default(),
        log_group: runtime.log_group.clone().unwrap_or_default(),
    }
}

/// What one loop needs.
#[derive(Clone)]
struct Worker {
    client: Arc<PooledClient>,
    config: Arc<LambdaConfig>,
    pipeline: Arc<Pipeline>,
    /// Counts the invocations in flight; says when to ask for no more.
    drain: Arc<Drain>,
}

/// What is posted for an invocation.
enum Answer {
    /// The serialized HTTP answer, for `/response`.
    Response(Vec<u8>),
    /// An invocation error, for `/error`: there is no HTTP answer to give.
    Error {
        error_type: &'static str,
        message: String,
    },
}

impl Worker {
    /// Serves invocations until the Runtime API cannot be reached or answers nonsense.
    async fn run<S>(self, mut service: S) -> Result<(), BoxError>
    where
        S: Service<Request, Response = Response<Body>, Error = BoxError>,
    {
        loop {
            if self.drain.stopping() {
                return Ok(());
            }
            let next = self.client.call(api_request(Method::GET, NEXT)?).await?;
            // `cargo lambda watch` answers 204 when it has nothing to hand out; lambda_runtime
            // asks again too.
            if next.status() == StatusCode::NO_CONTENT {
                continue;
            }
            if !next.status().is_success() {
                return Err(format!("the Runtime API answered {} to /next", next.status()).into());
            }
            // Until its answer is posted and its telemetry flushed.
            let _in_flight = self.drain.begin();
            let (parts, body) = next.into_parts();
            let headers = parts.headers;
            let request_id = headers
                .get(REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .ok_or("the Runtime API handed out an invocation without a request id")?
                .to_owned();
            let body = body.collect().await?.to_bytes();
            let answer = self
                .answer(&mut service, &request_id, &headers, &body)
                .await?;
            self.post(&request_id, headers.get(INVOCATION_ID), answer)
                .await?;
            // After the response is out, before the next invocation is asked for: the
            // caller does not wait for it, and Lambda does not freeze the process during it.
            self.pipeline.flush().await;
        }
    }

    async fn answer<S>(
        &self,
        service: &mut S,
        request_id: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Answer, BoxError>
    where
        S: Service<Request, Response = Response<Body>, Error = BoxError>,
    {
        // lambda_runtime's `Context::new` panics without a deadline.
        let context = match headers.get(DEADLINE_MS) {
            Some(_) => Context::new(request_id, Arc::clone(&self.config), headers)
                .map_err(|e| e.to_string()),
            None => Err("no Lambda-Runtime-Deadline-Ms header".to_owned()),
        };
        let context = match context {
            Ok(context) => context,
            Err(message) => {
                return Ok(unanswerable(
                    headers,
                    request_id,
                    "Runtime.InvalidInvocation",
                    format!("the invocation's headers cannot be read: {message}"),
                ));
            }
        };
        let (origin, request) = match parse_event(body) {
            Ok(event) => (event.request_origin(), http_request(event, context)),
            Err(Unread::Http(event)) => (event.origin.clone(), event.request(context)),
            Err(Unread::Other(error_type, message)) => {
                return Ok(unanswerable(headers, request_id, error_type, message));
            }
        };
        poll_fn(|cx| service.poll_ready(cx)).await?;
        let response = service.call(request).await?;
        // lambda_http's own serialization for the event's origin, reached through its
        // public (if hidden) future: `LambdaResponse::from_response` is crate-private.
        let transform = TransformResponse::<'_, Response<Body>, std::convert::Infallible>::Response(
            origin,
            Box::pin(std::future::ready(response)),
        );
        let Ok(lambda_response) = transform.await;
        Ok(match serde_json::to_vec(&lambda_response) {
            Ok(json) => Answer::Response(json),
            Err(error) => unanswerable(
                headers,
                request_id,
                "Runtime.SerializationError",
                format!("the response cannot be serialized: {error}"),
            ),
        })
    }

    async fn post(
        &self,
        request_id: &str,
        invocation_id: Option<&HeaderValue>,
        answer: Answer,
    ) -> Result<(), BoxError> {
        let (path, body, error_type) = match answer {
            Answer::Response(body) => (
                format!("/2018-06-01/runtime/invocation/{request_id}/response"),
                body,
                None,
            ),
            Answer::Error {
                error_type,
                message,
            } => (
                format!("/2018-06-01/runtime/invocation/{request_id}/error"),
                serde_json::to_vec(&serde_json::json!({
                    "errorType": error_type,
                    "errorMessage": message,
                }))?,
                Some(error_type),
            ),
        };
        let mut request = lambda_runtime_api_client::build_request()
            .method(Method::POST)
            .uri(path)
            .body(ApiBody::from(body))?;
        if let Some(error_type) = error_type {
            request
                .headers_mut()
                .insert(ERROR_TYPE, HeaderValue::from_static(error_type));
        }
        if let Some(id) = invocation_id {
            request.headers_mut().insert(INVOCATION_ID, id.clone());
        }
        let posted = self.client.call(request).await?;
        let status = posted.status();
        // Read to the end, so the connection goes back to the pool.
        let refusal = posted.into_body().collect().await?.to_bytes();
        if !status.is_success() {
            // Lambda refused this answer (too large, too late): the invocation is lost, the
            // loop is not.
            tracing::warn!(
                status = status.as_u16(),
                refusal = %String::from_utf8_lossy(&refusal),
                function_request_id = request_id,
                "the Runtime API refused the answer"
            );
        }
        Ok(())
    }
}

/// A `GET` or `POST` to the Runtime API; the client sets the host.
fn api_request(method: Method, path: &str) -> Result<http::Request<ApiBody>, BoxError> {
    Ok(lambda_runtime_api_client::build_request()
        .method(method)
        .uri(path)
        .body(ApiBody::empty())?)
}

/// An invocation with no HTTP answer to give: one ERROR line that names it, and the error
/// Lambda will report to the caller.
fn unanswerable(
    headers: &HeaderMap,
    request_id: &str,
    error_type: &'static str,
    message: String,
) -> Answer {
    let header = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    // The keys every line inside an invocation has, for Logs Insights to find this one.
    let span = tracing::error_span!(
        target: "lambda_telemetry::runtime",
        "invocation",
        { span_fields::FAAS_INVOCATION_ID } = request_id,
        { span_fields::AWS_LAMBDA_INVOKED_ARN } = header(INVOKED_ARN),
        { span_fields::AWS_XRAY_TRACE_ID } = header(TRACE_ID).and_then(xray_root),
    );
    span.in_scope(|| {
        tracing::error!(
            error_type,
            error = message.as_str(),
            "the event has no HTTP answer; Lambda reports an invocation error"
        );
    });
    Answer::Error {
        error_type,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::panic::AssertUnwindSafe;

    use lambda_http::RequestExt as _;
    use lambda_http::request::{LambdaRequest, RequestContext, RequestOrigin};

    use super::check::{Rejection, SHOWN_PATH_LEN, check};
    use super::event::Unreadable;
    use crate::propagation::{ParentSource, Propagators, choose_parent};
    use opentelemetry::trace::{TraceContextExt as _, TraceId};
    use serde_json::{Value, json};

    const LAMBDA_XRAY: &str =
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

    fn fixture(name: &str) -> Value {
        let path = format!("{}/../../events/{name}.json", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn context() -> Context {
        let mut context = Context::default();
        context.request_id = "req-1".into();
        context.xray_trace_id = Some(LAMBDA_XRAY.into());
        context
    }

    /// The event as lambda_http reads it.
    fn lambda_request(event: &Value) -> LambdaRequest {
        parse_event(event.to_string().as_bytes()).unwrap()
    }

    /// The request the service is handed for `event`, as the loop makes it.
    fn request_of(event: &Value) -> Request {
        match parse_event(event.to_string().as_bytes()) {
            Ok(event) => http_request(event, context()),
            Err(Unread::Http(event)) => event.request(context()),
            Err(other) => panic!("no HTTP event: {other:?}"),
        }
    }

    /// The README: "with `xray` listed, the request's own `X-Amzn-Trace-Id`" is the parent.
    /// lambda_http's adapter replaced that header with Lambda's before the handler ran.
    #[test]
    fn the_callers_x_amzn_trace_id_is_the_parent_under_otel_propagators_xray() {
        let event = fixture("home-with-xray-header");
        let callers = event["headers"]["X-Amzn-Trace-Id"].as_str().unwrap();
        assert!(
            !callers.contains("5759e988"),
            "the two must differ: {callers}"
        );
        let request = request_of(&event);
        assert_eq!(request.headers()["x-amzn-trace-id"], callers);

        let (xray, _) = Propagators::parse("xray");
        let lambda = request.lambda_context_ref().unwrap().xray_trace_id.clone();
        let parent = choose_parent(&xray, request.headers(), lambda.as_deref());
        assert_eq!(parent.source, ParentSource::Xray);
        let caller = crate::propagation::xray_trace(callers).unwrap();
        let chosen = parent.context.span().span_context().clone();
        assert_eq!(chosen.trace_id(), caller.trace_id);
        assert_ne!(
            chosen.trace_id(),
            TraceId::from_hex("5759e988bd862e3fe1be46a994272793").unwrap()
        );
        assert_eq!(Some(chosen.span_id()), caller.segment_id);
    }

    const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const OTHER_TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    /// The invocation error's type for an event that is no HTTP event.
    fn error_type(body: &[u8]) -> &'static str {
        match parse_event(body) {
            Err(Unread::Other(error_type, _)) => error_type,
            other => panic!("not an invocation error: {other:?}"),
        }
    }

    /// A repeated header as API Gateway REST (and ALB with multi-value headers) passes it:
    /// every field in `multiValueHeaders`, the last one alone in `headers`.
    fn repeated(event: &mut Value, name: &str, fields: &[&str]) {
        event["multiValueHeaders"][name] = json!(fields);
        event["headers"][name] = json!(fields.last());
    }

    fn parent_of(request: &Request) -> crate::propagation::Parent {
        let lambda = request.lambda_context_ref().unwrap().xray_trace_id.clone();
        choose_parent(
            &Propagators::default(),
            request.headers(),
            lambda.as_deref(),
        )
    }

    fn forwarded_tracestate(parent: crate::propagation::Parent) -> Option<String> {
        parent
            .caller
            .and_then(|c| c.tracestate)
            .map(|s| s.as_str().to_owned())
    }

    /// An ALB event with multi-value headers on: `multiValueHeaders` only.
    fn alb_multi_value() -> Value {
        json!({
            "requestContext": {"elb": {"targetGroupArn":
                "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/cruddur/1"}},
            "httpMethod": "GET",
            "path": "/api/activities/home",
            "multiValueQueryStringParameters": {},
            "multiValueHeaders": {"host": ["cruddur.example"]},
            "isBase64Encoded": false,
            "body": "",
        })
    }

    /// The issue: "Several `tracestate` fields are combined in order into one list." lambda_http
    /// kept only the last field of a REST event's repeated header.
    #[test]
    fn every_tracestate_field_of_a_rest_or_alb_event_is_one_list_in_order() {
        let mut rest = fixture("home");
        repeated(&mut rest, "traceparent", &[TRACEPARENT]);
        repeated(
            &mut rest,
            "tracestate",
            &["rojo=00f067aa0ba902b7", "congo=t61rcWkgMzE"],
        );
        let mut alb = alb_multi_value();
        assert!(matches!(lambda_request(&alb), LambdaRequest::Alb(_)));
        alb["multiValueHeaders"]["traceparent"] = json!([TRACEPARENT]);
        alb["multiValueHeaders"]["tracestate"] =
            json!(["rojo=00f067aa0ba902b7", "congo=t61rcWkgMzE"]);
        // The same event the conversion cannot take: its 400's span reads the same list.
        let mut rejected = rest.clone();
        rejected["isBase64Encoded"] = json!(true);
        rejected["body"] = json!("%%%");
        for (kind, event) in [("REST", rest), ("ALB", alb), ("rejected", rejected)] {
            let request = request_of(&event);
            assert_eq!(
                request.headers().get_all("tracestate").iter().count(),
                2,
                "{kind}"
            );
            let parent = parent_of(&request);
            assert_eq!(parent.source, ParentSource::TraceContext, "{kind}");
            assert_eq!(
                forwarded_tracestate(parent).as_deref(),
                Some("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"),
                "{kind}"
            );
        }
    }

    /// README: two `traceparent` headers start a new trace (and `tracestate` is dropped);
    /// lambda_http made one of a REST event's two, which continued the trace.
    #[test]
    fn two_traceparent_fields_of_a_rest_or_alb_event_start_a_new_trace() {
        let mut rest = fixture("home");
        repeated(&mut rest, "traceparent", &[OTHER_TRACEPARENT, TRACEPARENT]);
        repeated(&mut rest, "tracestate", &["rojo=00f067aa0ba902b7"]);
        let mut alb = alb_multi_value();
        alb["multiValueHeaders"]["traceparent"] = json!([OTHER_TRACEPARENT, TRACEPARENT]);
        alb["multiValueHeaders"]["tracestate"] = json!(["rojo=00f067aa0ba902b7"]);
        for (kind, event) in [("REST", rest), ("ALB", alb)] {
            let request = request_of(&event);
            let parent = parent_of(&request);
            assert_ne!(parent.source, ParentSource::TraceContext, "{kind}");
            let trace_id = parent.context.span().span_context().trace_id();
            for continued in [TRACEPARENT, OTHER_TRACEPARENT] {
                let theirs = TraceId::from_hex(&continued[3..35]).unwrap();
                assert_ne!(trace_id, theirs, "{kind} continued {continued}");
            }
            assert_eq!(forwarded_tracestate(parent), None, "{kind}");
        }
    }

    /// HTTP APIs and function URLs join a repeated header's fields with commas in one value:
    /// one list for `tracestate`, no valid `traceparent`. lambda_http keeps that value.
    #[test]
    fn a_repeated_header_of_an_http_api_event_is_one_comma_joined_value() {
        let event = |traceparent: String| {
            json!({
                "version": "2.0", "routeKey": "$default", "rawPath": "/api/activities/home",
                "headers": {
                    "host": "example.com",
                    "traceparent": traceparent,
                    "tracestate": "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
                },
                "requestContext": {"http": {"method": "GET", "path": "/api/activities/home"}},
            })
        };
        let one = parent_of(&request_of(&event(TRACEPARENT.to_owned())));
        assert_eq!(one.source, ParentSource::TraceContext);
        assert_eq!(
            forwarded_tracestate(one).as_deref(),
            Some("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")
        );
        let two = parent_of(&request_of(&event(format!(
            "{OTHER_TRACEPARENT},{TRACEPARENT}"
        ))));
        assert_ne!(two.source, ParentSource::TraceContext);
        assert_eq!(forwarded_tracestate(two), None);
    }

    /// `multiValueHeaders` is the request's headers, in order; a name only in `headers` (a
    /// direct invocation, a test) is kept too.
    #[test]
    fn the_request_has_every_multi_value_header_and_each_name_only_in_headers() {
        let mut event = fixture("home");
        repeated(&mut event, "Accept", &["text/html", "application/json"]);
        event["headers"]["X-Only-Single"] = json!("kept");
        event["multiValueHeaders"]["X-Only-Multi"] = json!(["one", "two"]);
        let request = request_of(&event);
        let all = |name| {
            request
                .headers()
                .get_all(name)
                .iter()
                .map(|v| v.to_str().unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(all("accept"), ["text/html", "application/json"]);
        assert_eq!(all("x-only-single"), ["kept"]);
        assert_eq!(all("x-only-multi"), ["one", "two"]);
        assert_eq!(
            all("host"),
            ["1234567890.execute-api.us-east-1.amazonaws.com"]
        );
    }

    #[test]
    fn a_well_formed_event_is_lambda_https_own_request() {
        let request = request_of(&fixture("user-activities"));
        assert!(request.extensions().get::<Rejection>().is_none());
        assert_eq!(request.raw_http_path(), "/api/activities/@andrewbrown");
        assert_eq!(request.lambda_context_ref().unwrap().request_id, "req-1");
    }

    /// Each kind of `expect`/`unwrap` in lambda_http's conversion, met by an event that
    /// reaches it: the check names it, and no panic happens.
    #[test]
    fn every_event_the_conversion_would_panic_on_is_rejected_before_it() {
        let home = fixture("home");
        let mut base64 = home.clone();
        base64["isBase64Encoded"] = json!(true);
        base64["body"] = json!("%%%");
        let mut long = home.clone();
        long["path"] = json!(format!("/api/{}", "a".repeat(70_000)));
        let mut bad_scheme = home.clone();
        bad_scheme["headers"]["X-Forwarded-Proto"] = json!("ht tp");
        let mut bad_host = home.clone();
        bad_host["headers"]["Host"] = json!("exa mple.com");
        let mut bad_port = home.clone();
        bad_port["headers"].as_object_mut().unwrap().remove("Host");
        bad_port["requestContext"]
            .as_object_mut()
            .unwrap()
            .remove("domainName");
        bad_port["requestContext"]["stage"] = json!(null);
        bad_port["path"] = json!(":99999/x");
        let v2_query = json!({
            "version": "2.0", "routeKey": "$default", "rawPath": "/api/activities/home",
            "rawQueryString": "a=1 2", "headers": {"host": "example.com"},
            "requestContext": {"http": {"method": "GET", "path": "/api/activities/home"}},
        });
        let cases = [
            (base64, "base64"),
            (long, "URL is"),
            (bad_scheme, "no URL"),
            (bad_host, "no URL"),
            (bad_port, "no URL"),
            (v2_query, "no URL"),
        ];
        for (event, says) in cases {
            let parsed = lambda_request(&event);
            let rejection = check(&parsed).expect_err(says);
            assert!(rejection.to_string().contains(says), "{rejection}");
            // Had the check let it through, lambda_http would have panicked.
            let parsed = lambda_request(&event);
            assert!(
                std::panic::catch_unwind(AssertUnwindSafe(|| Request::from(parsed))).is_err(),
                "{says}: lambda_http takes it after all"
            );
            let request = request_of(&event);
            assert_eq!(request.extensions().get::<Rejection>(), Some(&rejection));
            assert!(request.uri().path().len() <= 3 * SHOWN_PATH_LEN);
        }
    }

    fn unreadable(event: &Value) -> Unreadable {
        match parse_event(event.to_string().as_bytes()) {
            Err(Unread::Http(unreadable)) => *unreadable,
            other => panic!("not an unreadable HTTP event: {other:?}"),
        }
    }

    /// The issue's "Events that fail before the handler": an HTTP event aws_lambda_events
    /// cannot read is answered 400, not reported as "not an HTTP event". Each shape
    /// `LambdaRequest` tells apart, with each kind of part that fails; the reason names the
    /// part, never the value.
    #[test]
    fn an_http_shaped_event_that_does_not_deserialize_is_unreadable_by_shape_and_part() {
        const SECRET: &str = "Bearer sk-live-0123456789";
        let rest = fixture("home");
        let mut value_with_newline = rest.clone();
        value_with_newline["headers"]["Authorization"] = json!(format!("{SECRET}\nX-Injected: 1"));
        let mut name_with_space = rest.clone();
        name_with_space["multiValueHeaders"][format!("X {SECRET}")] = json!(["1"]);
        let mut value_not_a_string = rest.clone();
        value_not_a_string["headers"]["X-Count"] = json!(3);
        let mut bad_method = rest.clone();
        bad_method["httpMethod"] = json!("GE T");
        let mut body_not_a_string = rest.clone();
        body_not_a_string["body"] = json!({"a": 1});
        let mut alb = alb_multi_value();
        alb["multiValueHeaders"]["authorization"] = json!([format!("{SECRET}\r")]);
        let v2 = json!({
            "version": "2.0", "routeKey": "$default", "rawPath": "/api/activities/home",
            "headers": {"host": "example.com", "authorization": format!("{SECRET}\n")},
            "requestContext": {"http": {"method": "POST", "path": "/api/activities/home"}},
        });
        let version_only = json!({
            "version": "2.0", "rawPath": "/api/activities/home",
            "headers": {format!("{SECRET}:"): "1"},
        });
        let header_value = "a header value is not a valid HTTP field value";
        let header_name = "a header name is not a valid HTTP field name";
        let cases = [
            (
                value_with_newline,
                RequestOrigin::ApiGatewayV1,
                header_value,
            ),
            (name_with_space, RequestOrigin::ApiGatewayV1, header_name),
            (
                value_not_a_string,
                RequestOrigin::ApiGatewayV1,
                header_value,
            ),
            (
                bad_method,
                RequestOrigin::ApiGatewayV1,
                "the method is not an HTTP method",
            ),
            (
                body_not_a_string,
                RequestOrigin::ApiGatewayV1,
                "a field is missing or not of its type",
            ),
            (alb, RequestOrigin::Alb, header_value),
            (v2, RequestOrigin::ApiGatewayV2, header_value),
            (version_only, RequestOrigin::ApiGatewayV2, header_name),
        ];
        for (event, origin, part) in cases {
            let found = unreadable(&event);
            assert_eq!(
                format!("{:?}", found.origin),
                format!("{origin:?}"),
                "{event}"
            );
            assert_eq!(found.reason, part, "{event}");
            assert_eq!(found.path.as_deref(), Some("/api/activities/home"));
            let request = found.request(context());
            let rejection = request.extensions().get::<Rejection>().unwrap();
            assert_eq!(rejection, &Rejection::Unreadable(part));
            let said = rejection.to_string();
            assert!(!said.contains("sk-live"), "{said}");
            assert!(said.contains(part), "{said}");
            assert!(request.headers().is_empty());
            assert_eq!(request.uri().path(), "/api/activities/home");
        }
        // The method and request context are read where they can be.
        let mut event = fixture("home");
        event["headers"]["X-Bad"] = json!("a\nb");
        let request = request_of(&event);
        assert_eq!(request.method(), Method::GET);
        assert!(matches!(
            request.request_context_ref(),
            Some(RequestContext::ApiGatewayV1(_))
        ));
        assert_eq!(request.lambda_context_ref().unwrap().request_id, "req-1");
    }

    #[test]
    fn json_without_an_http_events_shape_stays_an_unsupported_event() {
        for event in [
            json!({"detail-type": "Scheduled Event", "source": "aws.events", "version": "0"}),
            json!({"Records": [{"eventSource": "aws:sqs", "body": "x"}]}),
            json!({"version": "1", "triggerSource": "PreSignUp_SignUp"}),
            json!({"requestContext": {"routeKey": "$connect"}}),
            // Headers HTTP would refuse do not make an event an HTTP event.
            json!({"headers": {"x y": "a\nb"}, "body": "x"}),
            json!([1, 2]),
            json!("GET"),
        ] {
            assert_eq!(
                error_type(event.to_string().as_bytes()),
                "Runtime.UnsupportedEvent",
                "{event}"
            );
        }
    }

    /// An unreadable HTTP event goes the way of every rejected one: a 400 inside the
    /// invocation, one access line with the request id, a WARN and no ERROR, no handler call.
    #[test]
    fn an_unreadable_http_event_is_a_400_with_one_access_line_and_no_handler_call() {
        let mut event = fixture("home");
        event["headers"]["X-Bad"] = json!("a\nb");
        let handler = tower::service_fn(|_: Request| async {
            Err::<&str, BoxError>("the handler was called".into())
        });
        let (response, lines) =
            crate::invocation::tests::serve_request(RejectMalformed(handler), request_of(&event));
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let access: Vec<&Value> = lines.iter().filter(|l| l["status"] == 400).collect();
        assert_eq!(access.len(), 1, "{lines:?}");
        assert_eq!(access[0]["function_request_id"], "req-1");
        assert_eq!(access[0]["path"], "/api/activities/home");
        assert!(lines.iter().all(|l| l["level"] != "ERROR"), "{lines:?}");
        assert!(
            lines.iter().any(|l| l["level"] == "WARN"
                && l["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("header value"))),
            "{lines:?}"
        );
    }

    #[test]
    fn not_json_and_not_http_are_invocation_errors_of_their_own_type() {
        assert_eq!(error_type(b"%%%"), "Runtime.InvalidJson");
        assert_eq!(
            error_type(br#"{"detail-type":"Scheduled Event"}"#),
            "Runtime.UnsupportedEvent"
        );
    }

    /// "Settings problems name the setting and the reason, never the value."
    #[test]
    fn max_concurrency_is_a_whole_number_above_zero_or_one_loop_and_a_warning() {
        assert_eq!(concurrency(None), (1, None));
        assert_eq!(concurrency(Some("4")), (4, None));
        assert_eq!(concurrency(Some(" 2 ")), (2, None));
        for bad in ["0", "-3", "four", "", "1.5", "8 # sk-live-0123456789"] {
            let (loops, problem) = concurrency(Some(bad));
            assert_eq!(loops, 1, "{bad:?}");
            let problem = problem.unwrap().to_string();
            assert!(problem.contains(AWS_LAMBDA_MAX_CONCURRENCY), "{problem}");
            assert!(problem.contains("not a whole number"), "{problem}");
            if !bad.is_empty() {
                assert!(!problem.contains(bad), "{bad:?} repeated: {problem}");
            }
            assert!(!problem.contains('"'), "a value quoted: {problem}");
        }
    }

    /// A rejected event reaches the invocation layer, which answers it 400 with one access
    /// line carrying the request id; the handler is never called.
    #[test]
    fn a_rejected_event_is_a_400_with_one_access_line_and_no_handler_call() {
        let mut event = fixture("home");
        event["isBase64Encoded"] = json!(true);
        event["body"] = json!("%%%");
        let called = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let seen = Arc::clone(&called);
        let handler = tower::service_fn(move |_: Request| {
            seen.store(true, std::sync::atomic::Ordering::Relaxed);
            async { Ok::<_, BoxError>("hello") }
        });
        let (response, lines) =
            crate::invocation::tests::serve_request(RejectMalformed(handler), request_of(&event));
        assert!(!called.load(std::sync::atomic::Ordering::Relaxed));
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(response.body().as_ref(), br#"{"message":"Bad Request"}"#);
        let access: Vec<&Value> = lines.iter().filter(|l| l["status"] == 400).collect();
        assert_eq!(access.len(), 1, "{lines:?}");
        assert_eq!(access[0]["function_request_id"], "req-1");
        assert_eq!(access[0]["path"], "/api/activities/home");
        assert!(lines.iter().all(|l| l["level"] != "ERROR"), "{lines:?}");
    }

    /// The backstop for a panic `check` did not foresee: caught without the panic hook's
    /// ERROR line (it would be a second report of the one failure, and without the request
    /// id), with the message and location for the one line the invocation writes.
    #[test]
    fn a_panic_caught_quietly_writes_no_line_and_keeps_its_location() {
        use crate::config::LogFormat;
        let mut caught = None;
        let lines = crate::logs::testing::capture(LogFormat::Json, || {
            let previous = std::panic::take_hook();
            crate::panics::install_hook();
            caught = Some(crate::panics::catch_quietly(|| -> () {
                panic!("failed to build request")
            }));
            std::panic::set_hook(previous);
        });
        assert!(lines.is_empty(), "{lines:?}");
        let message = caught.unwrap().unwrap_err();
        assert!(
            message.starts_with("failed to build request at "),
            "{message}"
        );
        assert!(message.contains("runtime/mod.rs"), "{message}");
    }
}
