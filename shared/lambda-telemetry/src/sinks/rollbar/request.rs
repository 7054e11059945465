//! Rollbar's `request` and `person` of an item, described from what the invocation kept of its
//! request, when the item is made: a request that reports nothing costs no description.

use std::collections::HashMap;

use http::header;
use serde_json::{Map, Value, json};

use crate::constants::REDACTED;
use crate::invocation::request::{Authorizer, RequestDetails, RequestSummary, header_str};
use crate::redact::is_secret_name;

/// Rollbar's `request` (URL, method, headers and query with secret values masked, user IP)
/// and `person` of the invocation the caller runs in; `None` outside one, or when it kept no
/// details.
pub(super) fn current() -> Option<Map<String, Value>> {
    crate::invocation::scope::with_request(describe)
}

/// `request` and, when an authorizer named the caller, `person`.
fn describe(summary: &RequestSummary, details: &RequestDetails) -> Map<String, Value> {
    let headers: Map<String, Value> = details
        .headers
        .iter()
        .map(|(name, value)| {
            let value = if is_secret_name(name.as_str()) {
                REDACTED.to_owned()
            } else {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            };
            (name.as_str().to_owned(), value.into())
        })
        .collect();
    let host = header_str(&details.headers, header::HOST).unwrap_or_default();
    let query = summary.query.as_deref().unwrap_or_default();
    let url = match (host.is_empty(), query.is_empty()) {
        (true, true) => summary.path.clone(),
        (true, false) => format!("{}?{query}", summary.path),
        (false, true) => format!("https://{host}{}", summary.path),
        (false, false) => format!("https://{host}{}?{query}", summary.path),
    };
    let mut report = Map::new();
    report.insert(
        "request".into(),
        json!({
            "url": url,
            "method": summary.method.as_str(),
            "headers": headers,
            "query_string": query,
            "user_ip": summary.source_ip,
        }),
    );
    if let Some(person) = details.authorizer.as_ref().and_then(person) {
        report.insert("person".into(), person);
    }
    report
}

/// Rollbar's `person` from what the API Gateway authorizer says of the caller: the claims of
/// a JWT or Cognito authorizer (`sub`, the user name), else a Lambda authorizer's
/// `principalId`. Only `id` and `username`: an email address is personal data Rollbar does not
/// need to group errors by the people they hit.
fn person(authorizer: &Authorizer) -> Option<Value> {
    fn text(value: Option<&Value>) -> Option<&str> {
        value.and_then(Value::as_str).filter(|v| !v.is_empty())
    }
    let claim = |claims: &dyn Fn(&str) -> Option<String>| {
        let id = claims("sub")?;
        let username = ["username", "cognito:username", "preferred_username"]
            .into_iter()
            .find_map(claims);
        Some(match username {
            Some(username) => json!({ "id": id, "username": username }),
            None => json!({ "id": id }),
        })
    };
    let lambda_authorizer = |fields: &HashMap<String, Value>| {
        let claims = fields.get("claims").and_then(Value::as_object);
        claims
            .and_then(|claims| claim(&|name| text(claims.get(name)).map(str::to_owned)))
            .or_else(|| {
                let id = text(fields.get("principalId"))?;
                Some(json!({ "id": id }))
            })
    };
    match authorizer {
        Authorizer::HttpApi(authorizer) => authorizer
            .jwt
            .as_ref()
            .and_then(|jwt| claim(&|name| jwt.claims.get(name).filter(|v| !v.is_empty()).cloned()))
            .or_else(|| lambda_authorizer(&authorizer.fields)),
        Authorizer::RestApi(authorizer) => lambda_authorizer(&authorizer.fields),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::RequestExt as _;

    fn person_of(event: Value) -> Option<Value> {
        let request = lambda_http::request::from_str(&event.to_string()).unwrap();
        Authorizer::of(&request.request_context())
            .as_ref()
            .and_then(person)
    }

    #[test]
    fn the_person_comes_from_the_authorizer_and_leaves_the_email_out() {
        // The fixtures are REST API (v1) events: a Cognito authorizer's claims, else a Lambda
        // authorizer's principal.
        let mut v1: Value =
            serde_json::from_str(include_str!("../../../../../events/user-activities.json"))
                .unwrap();
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
}
