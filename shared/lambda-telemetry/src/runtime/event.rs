//! An invocation's event as the request the handler sees: lambda_http's conversion, with
//! the headers as the event carried them, and a 400 for the event it cannot read.

use std::panic::AssertUnwindSafe;

use http::{HeaderMap, HeaderValue, Method};
use lambda_http::lambda_runtime::Context;
use lambda_http::request::{LambdaRequest, RequestContext, RequestOrigin};
use lambda_http::{Request, RequestExt as _};

use super::check::{Rejection, bare_request, check, outline, rejected};
use super::headers::{event_headers, take_multi_value_headers};

/// Why an event is not the `LambdaRequest` lambda_http reads.
#[derive(Debug)]
pub(super) enum Unread {
    /// An HTTP event's shape that aws_lambda_events cannot read: answered 400.
    Http(Box<Unreadable>),
    /// Not an HTTP event, or not JSON: an invocation error of this type, with this message.
    Other(&'static str, String),
}

/// The event as lambda_http reads it, or why it cannot.
pub(super) fn parse_event(body: &[u8]) -> Result<LambdaRequest, Unread> {
    let error = match serde_json::from_slice(body) {
        Ok(event) => return Ok(event),
        Err(error) => error,
    };
    Err(match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(json) => match Unreadable::of(&json) {
            Some(unreadable) => Unread::Http(Box::new(unreadable)),
            None => Unread::Other(
                "Runtime.UnsupportedEvent",
                "the event is not an HTTP event (API Gateway REST or HTTP API, function URL, ALB)"
                    .to_owned(),
            ),
        },
        Err(_) => Unread::Other(
            "Runtime.InvalidJson",
            format!("the event is not JSON: {error}"),
        ),
    })
}

/// An event with an HTTP event's shape that does not deserialize as one: a header name with
/// a space, a header value with a line break, a method that is no HTTP token, a field of
/// the wrong type. It is the caller's mistake, so it gets a 400 like any other event the
/// function cannot read, not an invocation error (a 502 for the client) without an access
/// line.
#[derive(Debug)]
pub(super) struct Unreadable {
    pub(super) origin: RequestOrigin,
    method: Method,
    pub(super) path: Option<String>,
    context: Option<RequestContext>,
    pub(super) reason: &'static str,
}

impl Unreadable {
    /// `None` unless `json` has the shape `LambdaRequest`'s variants are told apart by:
    /// `httpMethod` (REST, ALB when `requestContext.elb` is there), or `requestContext.http`
    /// or `version` `2.0` (HTTP API, function URL).
    fn of(json: &serde_json::Value) -> Option<Self> {
        let context = json.get("requestContext");
        let (origin, method, path) = if json.get("httpMethod").is_some() {
            let origin = match context.and_then(|c| c.get("elb")) {
                Some(_) => RequestOrigin::Alb,
                None => RequestOrigin::ApiGatewayV1,
            };
            (origin, json.get("httpMethod"), json.get("path"))
        } else if context.and_then(|c| c.get("http")).is_some()
            || json.get("version").and_then(|v| v.as_str()) == Some("2.0")
        {
            let http = context.and_then(|c| c.get("http"));
            let path = json.get("rawPath").or_else(|| http?.get("path"));
            (
                RequestOrigin::ApiGatewayV2,
                http.and_then(|h| h.get("method")),
                path,
            )
        } else {
            return None;
        };
        // Read on its own, the request context still names the route and the source IP
        // for the access line, when it is not what failed.
        let context = context.cloned().and_then(|c| match origin {
            RequestOrigin::ApiGatewayV1 => serde_json::from_value(c)
                .ok()
                .map(RequestContext::ApiGatewayV1),
            RequestOrigin::ApiGatewayV2 => serde_json::from_value(c)
                .ok()
                .map(RequestContext::ApiGatewayV2),
            RequestOrigin::Alb => serde_json::from_value(c).ok().map(RequestContext::Alb),
            _ => None,
        });
        let reason = unreadable_part(json, method);
        Some(Self {
            origin,
            // aws_lambda_events reads an empty method as GET.
            method: method
                .and_then(|m| m.as_str())
                .filter(|m| !m.is_empty())
                .and_then(|m| Method::from_bytes(m.as_bytes()).ok())
                .unwrap_or(Method::GET),
            path: path.and_then(|p| p.as_str()).map(str::to_owned),
            context,
            reason,
        })
    }

    /// The bare request that stands for it, marked with its [`Rejection`]. Without headers:
    /// a part of them may be what failed, and a caller's trace context read from the rest
    /// could be half of what was sent (one of two `traceparent` fields).
    pub(super) fn request(self, context: Context) -> Request {
        bare_request(
            self.method,
            self.path.as_deref(),
            HeaderMap::new(),
            self.context,
            Rejection::Unreadable(self.reason),
        )
        .with_lambda_context(context)
    }
}

/// Which part of an HTTP-shaped event aws_lambda_events refuses, checked as its
/// `deserialize_headers` and `http_method` read them; a kind, never the value.
pub(super) fn unreadable_part(
    json: &serde_json::Value,
    method: Option<&serde_json::Value>,
) -> &'static str {
    use serde_json::Value;
    for headers in ["headers", "multiValueHeaders"].map(|key| json.get(key)) {
        let Some(Value::Object(headers)) = headers else {
            continue;
        };
        for (name, values) in headers {
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return "a header name is not a valid HTTP field name";
            }
            let valid = |value: &Value| {
                value
                    .as_str()
                    .is_some_and(|v| HeaderValue::from_str(v).is_ok())
            };
            let values_valid = match values {
                Value::Array(values) => values.iter().all(valid),
                value => valid(value),
            };
            if !values_valid {
                return "a header value is not a valid HTTP field value";
            }
        }
    }
    match method {
        Some(Value::String(m)) if m.is_empty() || Method::from_bytes(m.as_bytes()).is_ok() => {}
        None => {}
        Some(_) => return "the method is not an HTTP method",
    }
    "a field is missing or not of its type"
}

/// The request the handler sees: lambda_http's conversion of the event, with the Lambda
/// context, and the headers as the event carried them (the caller's `X-Amzn-Trace-Id`
/// stays, and every value of a repeated header: [`event_headers`]). An event the conversion
/// cannot take becomes a bare request marked with its [`Rejection`].
pub(super) fn http_request(mut event: LambdaRequest, context: Context) -> Request {
    let request = match check(&event) {
        Ok(()) => {
            // Kept for the unforeseen panic, which consumes the event.
            let (method, path) = outline(&event);
            // Taken out so the conversion leaves the request only `headers`, which
            // `event_headers` then adds to these.
            let multi_value = take_multi_value_headers(&mut event);
            match crate::panics::catch_quietly(AssertUnwindSafe(|| Request::from(event))) {
                Ok(mut request) => {
                    let single = std::mem::take(request.headers_mut());
                    *request.headers_mut() = event_headers(multi_value, single);
                    request
                }
                Err(panic) => bare_request(
                    method,
                    path.as_deref(),
                    HeaderMap::new(),
                    None,
                    Rejection::ConversionPanicked(panic),
                ),
            }
        }
        Err(rejection) => rejected(event, rejection),
    };
    request.with_lambda_context(context)
}
