//! What lambda_http's conversion would panic on, checked before it runs, and the 400 an
//! event that fails the check gets through the invocation layer.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use base64::Engine as _;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use lambda_http::aws_lambda_events::query_map::QueryMap;
use lambda_http::request::{LambdaRequest, RequestContext};
use lambda_http::{Body, IntoResponse, Request, Response};
use tower::Service;

use super::headers::event_headers;
use crate::failure::BoxError;

/// The longest URI `http::Uri` accepts: lambda_http's conversion panics past it.
pub(super) const MAX_URI_LEN: usize = u16::MAX as usize - 1;
/// How much of a rejected event's path the access line shows.
pub(super) const SHOWN_PATH_LEN: usize = 1024;

/// Why an event got a 400 instead of reaching the handler; the request carries it as an
/// extension, for [`RejectMalformed`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// `isBase64Encoded` with a body that is not base64.
    Base64Body,
    /// The URL built from the event is longer than a URI can be.
    UriTooLong(usize),
    /// No URL can be built from the event's path, host and scheme.
    InvalidUrl(String),
    /// lambda_http's conversion panicked for a reason [`check`] did not foresee.
    ConversionPanicked(String),
    /// The event has an HTTP event's shape and does not deserialize as one; which part
    /// failed, never its value ([`unreadable_part`](super::event::unreadable_part)).
    Unreadable(&'static str),
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Base64Body => f.write_str("isBase64Encoded is true and the body is not base64"),
            Self::UriTooLong(len) => write!(
                f,
                "the URL is {len} bytes, more than the {MAX_URI_LEN} a URI may have"
            ),
            Self::InvalidUrl(why) => write!(f, "no URL can be made of the event: {why}"),
            Self::ConversionPanicked(why) => {
                write!(f, "lambda_http could not convert the event: {why}")
            }
            Self::Unreadable(part) => {
                write!(
                    f,
                    "the event has an HTTP event's shape but cannot be read: {part}"
                )
            }
        }
    }
}

/// What lambda_http's conversion (`lambda_http::request`, 1.3) would `expect` or `unwrap`
/// and panic on, checked the way it computes it: `Body::from_maybe_encoded` (a base64 body),
/// `build_request_uri` (`Url::parse` of scheme, host and path) and the request builder (the
/// URI `http` accepts). The `query.parse().unwrap()` of an HTTP API query is infallible.
pub(crate) fn check(event: &LambdaRequest) -> Result<(), Rejection> {
    let (base64, body, path, headers, host, query) = match event {
        LambdaRequest::ApiGatewayV1(ag) => (
            ag.is_base64_encoded,
            ag.body.as_deref(),
            with_stage(ag.request_context.stage.as_deref(), ag.path.as_deref()),
            &ag.headers,
            host(&ag.headers).or(ag.request_context.domain_name.as_deref()),
            query_string(
                &ag.multi_value_query_string_parameters,
                &ag.query_string_parameters,
            ),
        ),
        LambdaRequest::ApiGatewayV2(ag) => (
            ag.is_base64_encoded,
            ag.body.as_deref(),
            with_stage(ag.request_context.stage.as_deref(), ag.raw_path.as_deref()),
            &ag.headers,
            host(&ag.headers).or(ag.request_context.domain_name.as_deref()),
            ag.raw_query_string.clone().filter(|q| !q.is_empty()),
        ),
        LambdaRequest::Alb(alb) => (
            alb.is_base64_encoded,
            alb.body.as_deref(),
            alb.path.clone().unwrap_or_default(),
            &alb.headers,
            host(&alb.headers),
            query_string(
                &decoded(&alb.multi_value_query_string_parameters),
                &decoded(&alb.query_string_parameters),
            ),
        ),
        // Kinds this build does not serve: the catch_unwind is their only guard.
        _ => return Ok(()),
    };
    if base64
        && let Some(body) = body
        && base64::engine::general_purpose::STANDARD
            .decode(body)
            .is_err()
    {
        return Err(Rejection::Base64Body);
    }
    let mut url = match host {
        None => url::Url::parse(&format!("http://localhost{path}"))
            .map_err(|e| Rejection::InvalidUrl(e.to_string()))?
            .path()
            .to_owned(),
        Some(host) => {
            let scheme = headers
                .get("x-forwarded-proto")
                .and_then(|s| s.to_str().ok())
                .unwrap_or("https");
            url::Url::parse(&format!("{scheme}://{host}{path}"))
                .map_err(|e| Rejection::InvalidUrl(e.to_string()))?
                .to_string()
        }
    };
    if let Some(query) = query {
        url.push('?');
        url.push_str(&query);
    }
    if url.len() > MAX_URI_LEN {
        return Err(Rejection::UriTooLong(url.len()));
    }
    Uri::try_from(url).map_err(|e| Rejection::InvalidUrl(e.to_string()))?;
    Ok(())
}

pub(super) fn host(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::HOST).and_then(|h| h.to_str().ok())
}

/// lambda_http's `apigw_path_with_stage`: the stage in front of the path, unless
/// `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH` is set or the path has it already.
pub(super) fn with_stage(stage: Option<&str>, path: Option<&str>) -> String {
    let path = path.unwrap_or_default();
    // lambda_http's own variable, not a setting of this crate: lambda_http reads it from the
    // process environment on every event (set at all, even empty, counts), and this copy of
    // its conversion must agree with it, so it is read here the same way and has no `with_*`
    // (a value in code would never reach lambda_http).
    if std::env::var_os("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH").is_some() {
        return path.to_owned();
    }
    match stage {
        None | Some("$default") => path.to_owned(),
        Some(stage) if path.starts_with(&format!("/{stage}/")) => path.to_owned(),
        Some(stage) => format!("/{stage}{path}"),
    }
}

/// The query lambda_http appends: the multi-valued parameters, else the single ones.
pub(super) fn query_string(multi: &QueryMap, single: &QueryMap) -> Option<String> {
    if !multi.is_empty() {
        Some(multi.to_query_string())
    } else if !single.is_empty() {
        Some(single.to_query_string())
    } else {
        None
    }
}

/// lambda_http's `decode_query_map` of ALB parameters.
pub(super) fn decoded(query: &QueryMap) -> QueryMap {
    let query = query.to_query_string();
    let decoded = percent_encoding::percent_decode(query.as_bytes()).decode_utf8_lossy();
    decoded.parse().unwrap_or_default()
}

/// The method and path of an event, for the access line of one the conversion chokes on.
pub(super) fn outline(event: &LambdaRequest) -> (Method, Option<String>) {
    match event {
        LambdaRequest::ApiGatewayV1(ag) => (ag.http_method.clone(), ag.path.clone()),
        LambdaRequest::ApiGatewayV2(ag) => {
            (ag.request_context.http.method.clone(), ag.raw_path.clone())
        }
        LambdaRequest::Alb(alb) => (alb.http_method.clone(), alb.path.clone()),
        _ => (Method::GET, None),
    }
}

/// The request a rejected event stands for: its method, path, headers and request context
/// (so the span and access line say what they say of any request), and no body.
pub(super) fn rejected(event: LambdaRequest, rejection: Rejection) -> Request {
    let (method, path, headers, context) = match event {
        LambdaRequest::ApiGatewayV1(ag) => {
            let headers = event_headers(ag.multi_value_headers, ag.headers);
            let context = RequestContext::ApiGatewayV1(ag.request_context);
            (ag.http_method, ag.path, headers, Some(context))
        }
        LambdaRequest::ApiGatewayV2(ag) => {
            let method = ag.request_context.http.method.clone();
            let context = RequestContext::ApiGatewayV2(ag.request_context);
            (method, ag.raw_path, ag.headers, Some(context))
        }
        LambdaRequest::Alb(alb) => {
            let headers = event_headers(alb.multi_value_headers, alb.headers);
            let context = RequestContext::Alb(alb.request_context);
            (alb.http_method, alb.path, headers, Some(context))
        }
        _ => (Method::GET, None, HeaderMap::new(), None),
    };
    bare_request(method, path.as_deref(), headers, context, rejection)
}

pub(super) fn bare_request(
    method: Method,
    path: Option<&str>,
    headers: HeaderMap,
    context: Option<RequestContext>,
    rejection: Rejection,
) -> Request {
    let mut request = Request::new(Body::Empty);
    *request.method_mut() = method;
    *request.uri_mut() = shown_path(path.unwrap_or("/"));
    *request.headers_mut() = headers;
    if let Some(context) = context {
        request.extensions_mut().insert(context);
    }
    request.extensions_mut().insert(rejection);
    request
}

/// The path as the access line can show it: at most [`SHOWN_PATH_LEN`] bytes, characters a
/// URI cannot carry percent-encoded; `/` when even that is no URI path.
pub(super) fn shown_path(path: &str) -> Uri {
    const ESCAPED: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
        .add(b' ')
        .add(b'"')
        .add(b'#')
        .add(b'<')
        .add(b'>')
        .add(b'?')
        .add(b'`')
        .add(b'{')
        .add(b'}')
        .add(b'|')
        .add(b'\\')
        .add(b'^');
    let mut end = path.len().min(SHOWN_PATH_LEN);
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    let path = percent_encoding::utf8_percent_encode(&path[..end], ESCAPED).to_string();
    if path.starts_with('/') {
        path.parse().unwrap_or_else(|_| Uri::from_static("/"))
    } else {
        Uri::from_static("/")
    }
}

/// Answers a request marked with a [`Rejection`] with a 400 instead of calling the handler.
/// It sits inside the invocation layer, so the 400 has its span and access line like any
/// answer, and the one line that says why is inside the invocation.
#[derive(Clone, Debug)]
pub(super) struct RejectMalformed<S>(pub(super) S);

impl<S> Service<Request> for RejectMalformed<S>
where
    S: Service<Request>,
    S::Response: IntoResponse + Send,
    S::Error: Into<BoxError> + Send,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), BoxError>> {
        self.0.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if let Some(rejection) = request.extensions().get::<Rejection>() {
            match rejection {
                // Nothing we did not foresee: the caller's mistake, said once, no report.
                Rejection::Base64Body
                | Rejection::UriTooLong(_)
                | Rejection::InvalidUrl(_)
                | Rejection::Unreadable(_) => {
                    tracing::warn!(reason = %rejection, "event rejected before the handler")
                }
                // A gap in `check`: an error, reported once (the panic hook kept quiet).
                Rejection::ConversionPanicked(_) => {
                    tracing::error!(error = %rejection, "event rejected before the handler")
                }
            }
            return Box::pin(std::future::ready(Ok(bad_request())));
        }
        let answer = self.0.call(request);
        Box::pin(async move {
            let response = answer.await.map_err(Into::into)?;
            Ok(response.into_response().await)
        })
    }
}

/// What a client sees for an event the function could not read.
pub(super) fn bad_request() -> Response<Body> {
    let mut response = Response::new(Body::from(r#"{"message":"Bad Request"}"#));
    *response.status_mut() = StatusCode::BAD_REQUEST;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
