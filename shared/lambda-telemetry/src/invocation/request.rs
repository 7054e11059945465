//! What the invocation reads of its request, once: the summary the span and the access line
//! say (route, path, source IP, ids), the details an error report may add (headers, the
//! authorizer's word on the caller), and the parsers behind them.

use http::{HeaderMap, header};
use lambda_http::aws_lambda_events::apigw::ApiGatewayRequestAuthorizer;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

use crate::propagation::xray_root;
use crate::redact::redact_query;

/// What the span and the access-log line say about a request, read once.
pub(crate) struct RequestSummary {
    pub(crate) method: http::Method,
    pub(crate) route: Option<String>,
    pub(crate) path: String,
    /// Secret-looking values masked.
    pub(crate) query: Option<String>,
    pub(crate) source_ip: Option<String>,
    pub(crate) user_agent: Option<String>,
    pub(crate) cold_start: bool,
    pub(crate) request_id: Option<String>,
    pub(crate) invoked_arn: Option<String>,
    pub(crate) xray_trace_id: Option<String>,
    pub(crate) correlation_id: Option<String>,
    /// The tenant Lambda's tenant isolation mode invoked the function for.
    pub(crate) tenant_id: Option<String>,
}

impl RequestSummary {
    pub(crate) fn of(request: &Request, cold_start: bool, configured_route: Option<&str>) -> Self {
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
            tenant_id: lambda
                .and_then(|c| c.tenant_id.clone())
                .filter(|id| !id.is_empty()),
        }
    }
}

/// What an error report says of the request beyond its summary, kept as the request had it
/// (secrets are masked by whoever describes it) and only while something reports errors: the
/// handler owns the request, and the report is made after it was handed over.
// Read only by Rollbar's item, which a build without the `rollbar` feature leaves out.
#[cfg_attr(not(feature = "rollbar"), allow(dead_code))]
pub(crate) struct RequestDetails {
    /// Every header, as sent.
    pub(crate) headers: HeaderMap,
    /// What an API Gateway authorizer said of the caller.
    pub(crate) authorizer: Option<Authorizer>,
}

impl RequestDetails {
    /// A copy of the parts of `request` the summary does not hold. Copies, not descriptions:
    /// the report's own shape is made only when a report is.
    pub(crate) fn of(request: &Request) -> Self {
        Self {
            headers: request.headers().clone(),
            authorizer: request.request_context_ref().and_then(Authorizer::of),
        }
    }
}

/// An API Gateway authorizer's output, by the API that ran it: an HTTP API's may hold JWT
/// claims; a REST API's holds claims (Cognito) or a principal among its fields.
#[cfg_attr(not(feature = "rollbar"), allow(dead_code))]
pub(crate) enum Authorizer {
    RestApi(ApiGatewayRequestAuthorizer),
    HttpApi(ApiGatewayRequestAuthorizer),
}

impl Authorizer {
    pub(crate) fn of(context: &RequestContext) -> Option<Self> {
        match context {
            RequestContext::ApiGatewayV1(c) => Some(Self::RestApi(c.authorizer.clone())),
            RequestContext::ApiGatewayV2(c) => c.authorizer.clone().map(Self::HttpApi),
            _ => None,
        }
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
pub(crate) fn forwarded_for(headers: &HeaderMap) -> Option<String> {
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
pub(crate) fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    let value = headers.get(name)?;
    Some(String::from_utf8_lossy(value.as_bytes()).into_owned())
}

/// The account of `arn:aws:lambda:us-east-1:123456789012:function:name[:alias]`.
pub(crate) fn account_id(arn: &str) -> Option<&str> {
    arn.split(':')
        .nth(4)
        .filter(|id| id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_forwarded_address_is_the_client() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "203.0.113.7, 10.0.0.1".parse().unwrap());
        assert_eq!(forwarded_for(&headers).as_deref(), Some("203.0.113.7"));
    }
}
