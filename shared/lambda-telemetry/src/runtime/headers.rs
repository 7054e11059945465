//! The headers the client sent, as the event carries them.

use http::HeaderMap;
use lambda_http::request::LambdaRequest;

/// The event's `multiValueHeaders` (REST APIs, and ALB with multi-value headers on); empty
/// for the other kinds.
pub(super) fn take_multi_value_headers(event: &mut LambdaRequest) -> HeaderMap {
    match event {
        LambdaRequest::ApiGatewayV1(ag) => std::mem::take(&mut ag.multi_value_headers),
        LambdaRequest::Alb(alb) => std::mem::take(&mut alb.multi_value_headers),
        _ => HeaderMap::new(),
    }
}

/// The headers the client sent: every value of `multi_value`, in order, then each name
/// found only in `single`.
///
/// API Gateway REST (and ALB) put every field of a repeated header in `multiValueHeaders` and
/// only the last in `headers`. lambda_http 1.3 (`into_proxy_request`, `into_alb_request`)
/// merges them with `HeaderMap::extend`, which replaces all the values of a name with the
/// one in `headers`: two `tracestate` fields became the last one, not one list, and two
/// `traceparent` fields became one that continued the trace instead of starting a new one.
/// HTTP APIs and function URLs join a repeated header's fields with commas in one value,
/// which is already one list (and no valid `traceparent`): they have no `multiValueHeaders`.
pub(super) fn event_headers(mut multi_value: HeaderMap, single: HeaderMap) -> HeaderMap {
    // `HeaderMap`'s iterator names a header at its first value only.
    let mut adding = None;
    for (name, value) in single {
        if let Some(name) = name {
            adding = (!multi_value.contains_key(&name)).then_some(name);
        }
        if let Some(name) = &adding {
            multi_value.append(name.clone(), value);
        }
    }
    multi_value
}
