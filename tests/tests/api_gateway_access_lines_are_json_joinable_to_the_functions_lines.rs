//! API Gateway's access log (`AccessLogSetting.Format` of `template.yaml`) is one JSON object
//! per request that carries the ids the functions' own lines carry, under the same keys, so
//! that a gateway-side 502 finds its function's lines; and it never logs the query string ("a
//! token in a URL must not reach a log").
//!
//! API Gateway fills the format in as text, escaping nothing and writing `-` for a value it
//! does not have: the line is JSON only if every variable sits where any of its values keeps it
//! JSON. These tests fill the format in as API Gateway would, without AWS.

use serde_json::{Map, Value};
use tests::workspace_root;

/// Variables API Gateway always has a number for, so they may stand unquoted.
const NUMBERS: [&str; 3] = [
    "$context.status",
    "$context.responseLatency",
    "$context.requestTimeEpoch",
];
/// API Gateway's own quoted form of the error message (`"..."`, quotes escaped).
const QUOTED: &str = "$context.error.messageString";

/// The ids the functions' lines carry (lambda-telemetry's `constants`), and the variable that
/// holds the same id on API Gateway's side.
const SHARED_IDS: [(&str, &str); 3] = [
    ("correlation_id", "$context.requestId"),
    ("xray_trace_id", "$context.xrayTraceId"),
    ("function_request_id", "$context.integration.requestId"),
];

/// The rest of what the issue asks every line to carry.
/// Not the user agent: API Gateway writes it unescaped, and a client's `"` in it would break
/// the line's JSON; the function's own access line carries it, escaped.
const FIELDS: [(&str, &str); 12] = [
    ("status", "$context.status"),
    ("integration_status", "$context.integration.status"),
    ("integration_error", "$context.integration.error"),
    ("error_message", "$context.error.messageString"),
    ("error_type", "$context.error.responseType"),
    ("method", "$context.httpMethod"),
    ("route", "$context.resourcePath"),
    ("path", "$context.path"),
    ("response_latency_ms", "$context.responseLatency"),
    ("integration_latency_ms", "$context.integration.latency"),
    ("source_ip", "$context.identity.sourceIp"),
    ("request_time_epoch_ms", "$context.requestTimeEpoch"),
];

/// The folded (`>-`) `Format` block of the template's `AccessLogSetting`, as one line.
fn access_log_format() -> String {
    let template = std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap();
    let lines: Vec<&str> = template.lines().collect();
    let setting = lines
        .iter()
        .position(|l| l.trim() == "AccessLogSetting:")
        .expect("an AccessLogSetting");
    let start = setting
        + lines[setting..]
            .iter()
            .position(|l| l.trim() == "Format: >-")
            .expect("a folded Format block");
    let indent = |l: &str| l.len() - l.trim_start().len();
    let key_indent = indent(lines[start]);
    lines[start + 1..]
        .iter()
        .take_while(|l| !l.trim().is_empty() && indent(l) > key_indent)
        .map(|l| l.trim())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `$context...` variables of a format, longest first so that one is never replaced
/// inside a longer one.
fn variables(format: &str) -> Vec<String> {
    let mut found: Vec<String> = format
        .match_indices("$context.")
        .map(|(i, _)| {
            let rest = &format[i..];
            let end = rest[1..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
                .map_or(rest.len(), |e| e + 1);
            rest[..end].trim_end_matches('.').to_owned()
        })
        .collect();
    found.sort_by_key(|v| std::cmp::Reverse(v.len()));
    found.dedup();
    found
}

/// The line API Gateway writes when each variable has the value `value(variable)`.
fn fill(format: &str, value: impl Fn(&str) -> String) -> Map<String, Value> {
    let mut line = format.to_owned();
    for variable in variables(format) {
        line = line.replace(&variable, &value(&variable));
    }
    match serde_json::from_str(&line) {
        Ok(Value::Object(object)) => object,
        other => panic!("not a JSON object: {other:?}\n{line}"),
    }
}

/// Each variable as itself (numbers as a number), so that a key shows which variable fed it.
fn named(variable: &str) -> String {
    if NUMBERS.contains(&variable) {
        "502".to_owned()
    } else if variable == QUOTED {
        format!("\"{variable}\"")
    } else {
        variable.to_owned()
    }
}

#[test]
fn every_access_line_is_one_json_object_with_the_shared_ids_under_the_functions_keys() {
    let format = access_log_format();
    let line = fill(&format, named);
    for (key, variable) in SHARED_IDS.iter().chain(FIELDS.iter()) {
        let expected = if NUMBERS.contains(variable) {
            Value::from(502)
        } else {
            Value::from(*variable)
        };
        assert_eq!(line.get(*key), Some(&expected), "{key} in {format}");
    }
}

#[test]
fn a_line_stays_json_when_api_gateway_has_no_value_for_a_variable() {
    // A request API Gateway answers itself (an unknown path, a throttled one) has no
    // integration, no trace id when untraced, no error: it writes `-` for each.
    let format = access_log_format();
    let line = fill(&format, |variable| {
        if NUMBERS.contains(&variable) {
            named(variable)
        } else if variable == QUOTED {
            "\"-\"".to_owned()
        } else {
            "-".to_owned()
        }
    });
    assert_eq!(line["function_request_id"], "-");
    assert_eq!(line["integration_error"], "-");
}

#[test]
fn no_access_line_carries_the_query_string() {
    let format = access_log_format().to_ascii_lowercase();
    // $context.path and $context.resourcePath never include it; these are the variables that do.
    for forbidden in [
        "querystring",
        "$input.",
        "$method.request",
        "requestoverride",
        "$context.requesturi",
    ] {
        assert!(
            !format.contains(forbidden),
            "the access log format names {forbidden}: {format}"
        );
    }
}
