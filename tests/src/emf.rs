//! An independent checker of CloudWatch embedded metric format (EMF) documents, written from
//! AWS's specification ("Specification: Embedded metric format", CloudWatch User Guide) and the
//! CloudWatch API limits it refers to, never from what our crate prints: the end-to-end tests
//! hold the crate's EMF lines to it.
//!
//! The document's shape is `conformance/emf-document.schema.json` (each constraint quotes its
//! source); what a JSON schema cannot say is checked here: the target members every
//! DimensionSet key and metric `Name` refer to, the size of the line, members named twice.
//! Lambda's log-level filter, which decides whether a line reaches CloudWatch Logs at all,
//! is [`lambda_log_level_passes`].

use std::collections::{BTreeMap, HashSet};
use std::sync::LazyLock;

use serde_json::{Map, Value};

/// The longest line CloudWatch Logs takes as one event: its 262,144-byte event limit less the
/// 26 bytes it counts for each event (the project's `MAX_LINE_BYTES`). The spec: "The
/// embedded metric format is subject to the same limits as standard CloudWatch Logs events".
pub const MAX_LINE_BYTES: usize = 262_144 - 26;

/// Spec, DimensionSet: "The target member MUST have a string value. This value MUST NOT
/// contain more than 1024 characters." (API_Dimension: "Maximum length of 1024".)
pub const MAX_DIMENSION_VALUE_CHARS: usize = 1024;

/// Spec, target members: "Numeric array metric targets MUST NOT have more than 100 members."
pub const MAX_VALUES_PER_METRIC: usize = 100;

/// PutMetricData: "Values must be in the range of -2^360 to 2^360. In addition, special values
/// (for example, NaN, +Infinity, -Infinity) are not supported."
const MAX_METRIC_MAGNITUDE: f64 = 2.348_542_582_773_833e108;

/// Lambda's log levels, least severe (most detail) first: "TRACE (most detail) ... FATAL
/// (least detail)".
const LAMBDA_LEVELS: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];

/// The level Lambda gives a line it cannot read a level from.
const INFO: usize = 2;

/// Checks one stdout line as an EMF document: the spec's structure, its target members, the
/// CloudWatch limits. Returns the document, or every problem found, each naming its rule.
pub fn check(line: &str) -> Result<Value, Vec<String>> {
    let mut problems = Vec::new();
    if line.len() > MAX_LINE_BYTES {
        problems.push(format!(
            "the line is {} bytes, over the {MAX_LINE_BYTES} a CloudWatch Logs event can hold",
            line.len()
        ));
    }
    // Spec, root node: "The LogEvent message MUST be a valid JSON object with no additional
    // data at the beginning or end of the LogEvent message string."
    let document: Value = match serde_json::from_str(line) {
        Ok(document) => document,
        Err(e) => {
            problems.push(format!("not one JSON value and nothing else: {e}"));
            return Err(problems);
        }
    };
    let Some(root) = document.as_object() else {
        problems.push("the root node is not a JSON object".to_owned());
        return Err(problems);
    };
    // RFC 8259, which the spec's terms are defined by: "The names within an object SHOULD be
    // unique"; with a name twice, which value CloudWatch reads is unspecified.
    for name in members_named_twice(line) {
        problems.push(format!("member `{name}` appears twice in one object"));
    }
    problems.extend(SCHEMA.iter_errors(&document).map(|e| {
        format!(
            "schema: {} at `{}`",
            shortened(&e.to_string()),
            e.instance_path()
        )
    }));
    check_targets(root, &mut problems);
    if problems.is_empty() {
        Ok(document)
    } else {
        Err(problems)
    }
}

/// Whether `line` is meant as an EMF document: a JSON object whose `_aws` member holds
/// `CloudWatchMetrics` (what the spec requires on the root node: `{"_aws":
/// {"CloudWatchMetrics": [ ... ]}}`). Says nothing of its validity: that is [`check`].
pub fn is_emf(line: &str) -> bool {
    serde_json::from_str::<Value>(line).is_ok_and(|document| {
        document
            .get("_aws")
            .and_then(|aws| aws.get("CloudWatchMetrics"))
            .is_some()
    })
}

/// Whether Lambda's log-level filter for JSON logs sends `line` to CloudWatch Logs when the
/// function's application log level is `application_log_level` (`TRACE` ... `FATAL`, any case).
///
/// From the Lambda Developer Guide, "Log-level filtering": the code "must output log events to
/// `stdout` or `stderr` as JSON formatted objects that contain a key value pair with the key
/// `\"level\"`" (its example, `"level": "debug"`, is read as DEBUG: the value's case does not
/// matter). "If the `\"level\"` value field is invalid or missing, Lambda assigns the log
/// output the level INFO. For Lambda to use the timestamp field, you must specify the time in
/// valid RFC 3339 timestamp format. If you don't supply a valid timestamp, Lambda assigns the
/// log the level INFO and adds a timestamp for you." So a level counts only beside a valid
/// RFC 3339 `"timestamp"`: the key of the guide's example, which leaves other names to "the
/// conventions of the runtime you are using" (an OS-only runtime, as ours, has none). A line
/// that is not a JSON object has no level field: INFO. "Lambda sends logs of the selected detail level and lower to CloudWatch. For
/// example, if you configure a log level of WARN, Lambda will send logs corresponding to the
/// WARN, ERROR, and FATAL levels."
///
/// Panics when `application_log_level` is not one of Lambda's levels: that is the test's error.
pub fn lambda_log_level_passes(line: &str, application_log_level: &str) -> bool {
    let configured = level_rank(application_log_level).unwrap_or_else(|| {
        panic!("{application_log_level:?} is not a Lambda log level: one of {LAMBDA_LEVELS:?}")
    });
    assigned_level(line) >= configured
}

/// The level Lambda gives `line`, as an index into [`LAMBDA_LEVELS`].
fn assigned_level(line: &str) -> usize {
    let Ok(Value::Object(object)) = serde_json::from_str::<Value>(line) else {
        return INFO;
    };
    let valid_timestamp = object
        .get("timestamp")
        .and_then(Value::as_str)
        .is_some_and(is_rfc3339);
    if !valid_timestamp {
        return INFO;
    }
    object
        .get("level")
        .and_then(Value::as_str)
        .and_then(level_rank)
        .unwrap_or(INFO)
}

fn level_rank(name: &str) -> Option<usize> {
    LAMBDA_LEVELS
        .iter()
        .position(|level| level.eq_ignore_ascii_case(name))
}

/// An RFC 3339 `date-time`, as JSON Schema's `date-time` format defines it.
fn is_rfc3339(text: &str) -> bool {
    static DATE_TIME: LazyLock<jsonschema::Validator> = LazyLock::new(|| {
        jsonschema::options()
            .should_validate_formats(true)
            .build(&serde_json::json!({"type": "string", "format": "date-time"}))
            .expect("a valid schema")
    });
    DATE_TIME.is_valid(&Value::String(text.to_owned()))
}

static SCHEMA: LazyLock<jsonschema::Validator> = LazyLock::new(|| {
    let schema = include_str!("../conformance/emf-document.schema.json");
    jsonschema::draft202012::new(&serde_json::from_str(schema).expect("the schema is JSON"))
        .expect("the schema is a valid draft 2020-12 schema")
});

/// The rules on target members, which refer from `_aws` to the root node by name. Walks
/// whatever of the directives is well formed; the schema reports the rest.
fn check_targets(root: &Map<String, Value>, problems: &mut Vec<String>) {
    let directives = root
        .get("_aws")
        .and_then(|aws| aws.get("CloudWatchMetrics"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut dimensions_seen = HashSet::new();
    let mut metrics_seen = HashSet::new();
    // The awslabs EMF libraries (Validator.validateMetric): "A single log event cannot have a
    // metric with two different resolutions."
    let mut resolutions: BTreeMap<&str, i64> = BTreeMap::new();
    for (index, directive) in directives.iter().enumerate() {
        let sets = directive.get("Dimensions").and_then(Value::as_array);
        for key in sets
            .into_iter()
            .flatten()
            .filter_map(Value::as_array)
            .flatten()
        {
            if let Some(key) = key.as_str()
                && dimensions_seen.insert(key)
            {
                check_dimension_target(root, key, problems);
            }
        }
        let definitions = directive.get("Metrics").and_then(Value::as_array);
        let mut names_here = HashSet::new();
        for definition in definitions.into_iter().flatten() {
            let Some(name) = definition.get("Name").and_then(Value::as_str) else {
                continue;
            };
            // Project rule: one definition per metric and directive; a second, with another
            // unit, would leave CloudWatch to pick one.
            if !names_here.insert(name) {
                problems.push(format!(
                    "metric `{name}` is defined twice in directive {index}"
                ));
            }
            let resolution = definition
                .get("StorageResolution")
                .and_then(Value::as_i64)
                .unwrap_or(60);
            if let Some(&earlier) = resolutions.get(name)
                && earlier != resolution
            {
                problems.push(format!(
                    "metric `{name}` has StorageResolution {earlier} and {resolution} in one document"
                ));
            }
            resolutions.entry(name).or_insert(resolution);
            if metrics_seen.insert(name) {
                check_metric_target(root, name, problems);
            }
        }
    }
}

/// Spec: "The values within this array MUST also be members on the root-node"; "The target
/// member MUST have a string value. This value MUST NOT contain more than 1024 characters.";
/// "Valid targets MUST be members on the root node and cannot be nested objects" (`"A.a"` names
/// the member `"A.a"`, never `{"A": {"a": ..}}`). API_Dimension: "Dimension values must
/// contain only ASCII characters and must include at least one non-whitespace character. ASCII
/// control characters are not supported as part of dimension values."
fn check_dimension_target(root: &Map<String, Value>, key: &str, problems: &mut Vec<String>) {
    match root.get(key) {
        None => problems.push(format!(
            "dimension `{key}` has no target member on the root node"
        )),
        Some(Value::String(value)) => {
            let chars = value.chars().count();
            if chars > MAX_DIMENSION_VALUE_CHARS {
                problems.push(format!(
                    "dimension `{key}` has a value of {chars} characters, over {MAX_DIMENSION_VALUE_CHARS}"
                ));
            }
            if value.trim().is_empty() {
                problems.push(format!(
                    "dimension `{key}` has no non-whitespace character in its value"
                ));
            }
            if !value.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
                problems.push(format!(
                    "dimension `{key}` has a value that is not printable ASCII: {value:?}"
                ));
            }
        }
        Some(other) => problems.push(format!(
            "dimension `{key}` targets a {} value, not a string",
            kind(other)
        )),
    }
}

/// Spec: "A metric target MUST be a numeric value or an array of numeric values. Numeric array
/// metric targets MUST NOT have more than 100 members." Project rule: an empty array, which
/// publishes nothing, is refused too. PutMetricData bounds every value to ±2^360.
fn check_metric_target(root: &Map<String, Value>, name: &str, problems: &mut Vec<String>) {
    let check_number = |value: &Value, problems: &mut Vec<String>| match value.as_f64() {
        Some(number) if number.is_finite() && number.abs() <= MAX_METRIC_MAGNITUDE => {}
        Some(number) => problems.push(format!(
            "metric `{name}` has the value {number}, outside ±2^360"
        )),
        None => problems.push(format!(
            "metric `{name}` has a {} among its values, not a number",
            kind(value)
        )),
    };
    match root.get(name) {
        None => problems.push(format!(
            "metric `{name}` has no target member on the root node"
        )),
        Some(number @ Value::Number(_)) => check_number(number, problems),
        Some(Value::Array(values)) => {
            if values.is_empty() || values.len() > MAX_VALUES_PER_METRIC {
                problems.push(format!(
                    "metric `{name}` has {} values, not 1 to {MAX_VALUES_PER_METRIC}",
                    values.len()
                ));
            }
            for value in values {
                check_number(value, problems);
            }
        }
        Some(other) => problems.push(format!(
            "metric `{name}` targets a {} value, not a number or an array of numbers",
            kind(other)
        )),
    }
}

/// A schema error quotes the failing value whole: 100 metric definitions, say. A line of it
/// is enough.
fn shortened(message: &str) -> String {
    const MAX_CHARS: usize = 300;
    match message.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}…", &message[..cut]),
        None => message.to_owned(),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The member names that appear twice in one object of `json`, which must be valid JSON
/// (serde_json keeps the last value of such a name without a word).
fn members_named_twice(json: &str) -> Vec<String> {
    let bytes = json.as_bytes();
    // One entry per open container: the names of an object, `None` for an array.
    let mut open: Vec<Option<HashSet<String>>> = Vec::new();
    let mut twice = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' => open.push(Some(HashSet::new())),
            b'[' => open.push(None),
            b'}' | b']' => {
                open.pop();
            }
            b'"' => {
                let start = i;
                i += 1;
                // Valid JSON: the string ends, and a backslash always escapes one ASCII byte.
                while bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                let is_name = json[i + 1..].trim_start().starts_with(':');
                if is_name && let Some(Some(names)) = open.last_mut() {
                    let name: String = serde_json::from_str(&json[start..=i]).unwrap_or_default();
                    if !names.insert(name.clone()) {
                        twice.push(name);
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    twice
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The valid example of the spec ("Embedded metric format example and JSON schema"),
    /// verbatim.
    const SPEC_EXAMPLE: &str = r#"{
  "_aws": {
    "Timestamp": 1574109732004,
    "CloudWatchMetrics": [
      {
        "Namespace": "lambda-function-metrics",
        "Dimensions": [["functionVersion"]],
        "Metrics": [
          {
            "Name": "time",
            "Unit": "Milliseconds",
            "StorageResolution": 60
          }
        ]
      }
    ]
  },
  "functionVersion": "$LATEST",
  "time": 100,
  "requestId": "989ffbf8-9ace-4817-a57c-e4dd734019ee"
}"#;

    /// A valid document of the project's shape (metrics-design.md), to break one rule at a time.
    fn valid() -> Value {
        json!({
            "_aws": {
                "Timestamp": 1_764_492_000_000_u64,
                "CloudWatchMetrics": [{
                    "Namespace": "Cruddur",
                    "Dimensions": [["service", "faas.name"]],
                    "Metrics": [
                        {"Name": "faas.invocations", "Unit": "Count"},
                        {"Name": "x", "Unit": "Milliseconds", "StorageResolution": 1}
                    ]
                }]
            },
            "service": "cruddur",
            "faas.name": "cruddur-home-activities",
            "faas.invocations": 1,
            "x": [1.0, 2.5],
            "function_request_id": "8f5f6f48-0f4e-4c55-9d1c-6a3c39a1e6b1"
        })
    }

    fn directive(document: &mut Value) -> &mut Value {
        &mut document["_aws"]["CloudWatchMetrics"][0]
    }

    #[track_caller]
    fn passes(document: &Value) {
        if let Err(problems) = check(&document.to_string()) {
            panic!("should pass, but: {problems:#?}\n{document}");
        }
    }

    /// Fails, and one of the problems mentions `expected`.
    #[track_caller]
    fn fails(document: &Value, expected: &str) {
        fails_line(&document.to_string(), expected);
    }

    #[track_caller]
    fn fails_line(line: &str, expected: &str) {
        match check(line) {
            Ok(_) => panic!("should fail ({expected}), but passes: {line:.300}"),
            Err(problems) => assert!(
                problems.iter().any(|p| p.contains(expected)),
                "expected a problem mentioning {expected:?}, got {problems:#?}"
            ),
        }
    }

    #[test]
    fn the_specs_example_passes() {
        let document = check(SPEC_EXAMPLE).expect("the spec's own example is valid");
        assert_eq!(document["time"], 100);
        // The same example as the spec gave it before StorageResolution existed.
        let mut older: Value = serde_json::from_str(SPEC_EXAMPLE).unwrap();
        older["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]
            .as_object_mut()
            .unwrap()
            .remove("StorageResolution");
        passes(&older);
        passes(&valid());
    }

    /// The spec's entity example has no `Timestamp` and a directive without `Dimensions`,
    /// against its own "MUST contain the following members". The MUSTs win.
    #[test]
    fn the_specs_entity_example_fails_for_what_the_spec_requires() {
        let entity_example = json!({
            "_aws": {"CloudWatchMetrics": [{
                "Metrics": [{"Name": "RequestLatency", "Unit": "Milliseconds"}],
                "Namespace": "MyApplication"
            }]},
            "Service": "PaymentService",
            "Environment": "Production",
            "RequestLatency": 135.5,
            "timestamp": 1_622_163_600_000_u64
        });
        fails(&entity_example, "\"Timestamp\" is a required property");
        fails(&entity_example, "\"Dimensions\" is a required property");
    }

    #[test]
    fn a_dimension_set_holds_30_keys_not_31() {
        let mut document = valid();
        let keys: Vec<String> = (0..31).map(|i| format!("d{i}")).collect();
        for key in &keys {
            document[key] = json!("v");
        }
        directive(&mut document)["Dimensions"] = json!([keys[..30]]);
        passes(&document);
        directive(&mut document)["Dimensions"] = json!([keys]);
        fails(&document, "at `/_aws/CloudWatchMetrics/0/Dimensions/0`");
    }

    #[test]
    fn a_directive_holds_100_metric_definitions_not_101() {
        let mut document = valid();
        let names: Vec<String> = (0..101).map(|i| format!("m{i}")).collect();
        for name in &names {
            document[name] = json!(1);
        }
        let definitions = |n: usize| -> Value {
            names[..n]
                .iter()
                .map(|name| json!({"Name": name}))
                .collect()
        };
        directive(&mut document)["Metrics"] = definitions(100);
        passes(&document);
        directive(&mut document)["Metrics"] = definitions(101);
        fails(&document, "at `/_aws/CloudWatchMetrics/0/Metrics`");
    }

    #[test]
    fn a_metric_holds_1_to_100_values() {
        let mut document = valid();
        document["x"] = json!(vec![1.5; 100]);
        passes(&document);
        document["x"] = json!(vec![1.5; 101]);
        fails(&document, "has 101 values");
        document["x"] = json!([]);
        fails(&document, "has 0 values");
    }

    #[test]
    fn a_dimension_value_holds_1024_characters_not_1025() {
        let mut document = valid();
        // Counted in characters; CloudWatch takes ASCII values only, where they are bytes.
        document["faas.name"] = json!("a".repeat(1024));
        passes(&document);
        document["faas.name"] = json!("a".repeat(1025));
        fails(&document, "1025 characters");
    }

    #[test]
    fn a_dimension_value_is_printable_ascii_with_something_besides_spaces() {
        let mut document = valid();
        document["faas.name"] = json!("café");
        fails(&document, "not printable ASCII");
        document["faas.name"] = json!("a\tb");
        fails(&document, "not printable ASCII");
        document["faas.name"] = json!("   ");
        fails(&document, "no non-whitespace");
        document["faas.name"] = json!("");
        fails(&document, "no non-whitespace");
    }

    #[test]
    fn every_target_member_is_on_the_root_node() {
        let mut document = valid();
        document.as_object_mut().unwrap().remove("faas.name");
        fails(&document, "dimension `faas.name` has no target member");
        let mut document = valid();
        document.as_object_mut().unwrap().remove("faas.invocations");
        fails(&document, "metric `faas.invocations` has no target member");
        // "a _reference_ value of "A.a" ... MUST NOT match the nested member { "A": { "a" } }".
        let mut document = valid();
        document.as_object_mut().unwrap().remove("faas.name");
        document["faas"] = json!({"name": "cruddur-home-activities"});
        fails(&document, "dimension `faas.name` has no target member");
    }

    #[test]
    fn metric_targets_are_numbers_and_dimension_targets_strings() {
        let mut document = valid();
        document["faas.invocations"] = json!("1");
        fails(&document, "targets a string value, not a number");
        let mut document = valid();
        document["x"] = json!([1, "2"]);
        fails(&document, "has a string among its values");
        let mut document = valid();
        document["x"] = json!([1, null]);
        fails(&document, "has a null among its values");
        let mut document = valid();
        document["service"] = json!(1);
        fails(&document, "targets a number value, not a string");
        // One member cannot be both a dimension and a metric.
        let mut document = valid();
        directive(&mut document)["Metrics"][0]["Name"] = json!("service");
        fails(&document, "metric `service` targets a string");
    }

    #[test]
    fn metric_values_stay_within_2_to_the_360() {
        let mut document = valid();
        document["faas.invocations"] = json!(2.0e108);
        passes(&document);
        document["faas.invocations"] = json!(-2.0e108);
        passes(&document);
        document["faas.invocations"] = json!(1.0e109);
        fails(&document, "outside ±2^360");
        // JSON itself has no NaN or infinity.
        let line = valid()
            .to_string()
            .replace(r#""faas.invocations":1"#, r#""faas.invocations":NaN"#);
        fails_line(&line, "not one JSON value");
    }

    #[test]
    fn a_unit_is_one_of_cloudwatchs_spelled_exactly() {
        let mut document = valid();
        for unit in ["Seconds", "Count/Second", "Bytes/Second", "Percent", "None"] {
            directive(&mut document)["Metrics"][0]["Unit"] = json!(unit);
            passes(&document);
        }
        for unit in ["Millisecond", "count", "ms", "NONE", ""] {
            directive(&mut document)["Metrics"][0]["Unit"] = json!(unit);
            fails(&document, "at `/_aws/CloudWatchMetrics/0/Metrics/0/Unit`");
        }
        // No unit: "a default value of NONE is assumed".
        directive(&mut document)["Metrics"][0]
            .as_object_mut()
            .unwrap()
            .remove("Unit");
        passes(&document);
    }

    #[test]
    fn a_storage_resolution_is_1_or_60() {
        let mut document = valid();
        for resolution in [1, 60] {
            directive(&mut document)["Metrics"][1]["StorageResolution"] = json!(resolution);
            passes(&document);
        }
        for resolution in [json!(30), json!(0), json!("60"), json!(1.5)] {
            directive(&mut document)["Metrics"][1]["StorageResolution"] = resolution;
            fails(
                &document,
                "at `/_aws/CloudWatchMetrics/0/Metrics/1/StorageResolution`",
            );
        }
    }

    #[test]
    fn one_metric_has_one_resolution_in_a_document() {
        let mut document = valid();
        let second = json!({
            "Namespace": "Cruddur",
            "Dimensions": [["service"]],
            "Metrics": [{"Name": "x", "StorageResolution": 60}]
        });
        document["_aws"]["CloudWatchMetrics"]
            .as_array_mut()
            .unwrap()
            .push(second);
        fails(&document, "StorageResolution 1 and 60");
    }

    #[test]
    fn a_metric_is_defined_once_per_directive() {
        let mut document = valid();
        directive(&mut document)["Metrics"]
            .as_array_mut()
            .unwrap()
            .push(json!({"Name": "faas.invocations", "Unit": "None"}));
        fails(&document, "defined twice");
    }

    #[test]
    fn the_specs_objects_take_no_other_members() {
        let mut document = valid();
        directive(&mut document)["Metrics"][0]["Description"] = json!("calls");
        fails(&document, "('Description' was unexpected)");
        let mut document = valid();
        directive(&mut document)["Labels"] = json!([]);
        fails(&document, "('Labels' was unexpected)");
        let mut document = valid();
        document["_aws"]["LogGroupName"] = json!("cruddur");
        fails(&document, "('LogGroupName' was unexpected)");
        // Members of the root node are free: "The root node MAY contain any other members".
        let mut document = valid();
        document["anything"] = json!({"nested": [1, "two", null]});
        passes(&document);
    }

    #[test]
    fn members_the_spec_requires_are_there() {
        for (path, member) in [
            ("_aws", "Timestamp"),
            ("_aws", "CloudWatchMetrics"),
            ("directive", "Namespace"),
            ("directive", "Dimensions"),
            ("directive", "Metrics"),
            ("definition", "Name"),
        ] {
            let mut document = valid();
            let object = match path {
                "_aws" => &mut document["_aws"],
                "directive" => directive(&mut document),
                _ => &mut directive(&mut document)["Metrics"][0],
            };
            object.as_object_mut().unwrap().remove(member);
            fails(&document, &format!("\"{member}\" is a required property"));
        }
        let mut document = valid();
        document.as_object_mut().unwrap().remove("_aws");
        fails(&document, "\"_aws\" is a required property");
    }

    #[test]
    fn empty_directives_metrics_and_dimension_arrays_fail_but_an_empty_set_passes() {
        let mut document = valid();
        document["_aws"]["CloudWatchMetrics"] = json!([]);
        fails(&document, "at `/_aws/CloudWatchMetrics`");
        let mut document = valid();
        directive(&mut document)["Metrics"] = json!([]);
        fails(&document, "at `/_aws/CloudWatchMetrics/0/Metrics`");
        let mut document = valid();
        directive(&mut document)["Dimensions"] = json!([]);
        fails(&document, "at `/_aws/CloudWatchMetrics/0/Dimensions`");
        // "A DimensionSet MAY be empty."
        let mut document = valid();
        directive(&mut document)["Dimensions"] = json!([[]]);
        passes(&document);
        // The same key twice in one set.
        let mut document = valid();
        directive(&mut document)["Dimensions"] = json!([["service", "service"]]);
        fails(&document, "at `/_aws/CloudWatchMetrics/0/Dimensions/0`");
    }

    #[test]
    fn a_dimension_key_is_printable_ascii_of_1_to_250_not_starting_with_a_colon() {
        for (key, ok) in [
            ("k".repeat(250), true),
            ("k".repeat(251), false),
            (":k".to_owned(), false),
            ("k:".to_owned(), true),
            (" ".to_owned(), false),
            ("ké".to_owned(), false),
        ] {
            let mut document = valid();
            document[&key] = json!("v");
            directive(&mut document)["Dimensions"] = json!([[key]]);
            if ok {
                passes(&document);
            } else {
                fails(&document, "at `/_aws/CloudWatchMetrics/0/Dimensions/0/0`");
            }
        }
    }

    #[test]
    fn a_namespace_is_cloudwatchs_characters_up_to_255_and_not_aws() {
        for (namespace, ok) in [
            ("Cruddur".to_owned(), true),
            ("My App/v1.0_x#y:z-w".to_owned(), true),
            ("n".repeat(255), true),
            ("n".repeat(256), false),
            (String::new(), false),
            (" ".to_owned(), false),
            ("AWS/Lambda".to_owned(), false),
            (":Cruddur".to_owned(), false),
            ("Cruddur!".to_owned(), false),
            ("Crüddur".to_owned(), false),
        ] {
            let mut document = valid();
            directive(&mut document)["Namespace"] = json!(namespace);
            if ok {
                passes(&document);
            } else {
                fails(&document, "at `/_aws/CloudWatchMetrics/0/Namespace`");
            }
        }
    }

    #[test]
    fn a_metric_name_is_1_to_255_characters() {
        for (length, ok) in [(255, true), (256, false), (0, false)] {
            let name = "m".repeat(length);
            let mut document = valid();
            document[&name] = json!(1);
            directive(&mut document)["Metrics"] = json!([{"Name": name}]);
            if ok {
                passes(&document);
            } else {
                fails(&document, "at `/_aws/CloudWatchMetrics/0/Metrics/0/Name`");
            }
        }
    }

    #[test]
    fn a_timestamp_is_an_integer_of_milliseconds() {
        for (timestamp, ok) in [
            (json!(1_764_492_000_000_u64), true),
            (json!(1_000_000_000_000_u64), true),
            // Seconds, not milliseconds.
            (json!(1_764_492_000), false),
            (json!(-1), false),
            (json!(0), false),
            (json!(1_764_492_000_000.5), false),
            (json!("1764492000000"), false),
        ] {
            let mut document = valid();
            document["_aws"]["Timestamp"] = timestamp;
            if ok {
                passes(&document);
            } else {
                fails(&document, "at `/_aws/Timestamp`");
            }
        }
    }

    #[test]
    fn a_line_is_at_most_262118_bytes() {
        let mut document = valid();
        document["padding"] = json!("");
        let bare = document.to_string().len();
        document["padding"] = json!("p".repeat(MAX_LINE_BYTES - bare));
        assert_eq!(document.to_string().len(), MAX_LINE_BYTES);
        passes(&document);
        document["padding"] = json!("p".repeat(MAX_LINE_BYTES - bare + 1));
        fails(&document, "262119 bytes");
    }

    #[test]
    fn the_line_is_one_json_object_and_nothing_else() {
        let line = valid().to_string();
        fails_line(&format!("{line} trailing"), "not one JSON value");
        fails_line(&format!("INFO {line}"), "not one JSON value");
        fails_line(&format!("{line}{line}"), "not one JSON value");
        fails_line("[1, 2]", "not a JSON object");
        fails_line("", "not one JSON value");
    }

    #[test]
    fn a_member_named_twice_fails() {
        let line = valid().to_string();
        let twice = line.replacen('{', r#"{"service":"other","#, 1);
        fails_line(&twice, "member `service` appears twice");
        // Inside `_aws` too, and with escapes that spell the same name.
        let twice = line.replacen(
            r#""Namespace""#,
            r#""Namespace":"Other","Names\u0070ace""#,
            1,
        );
        fails_line(&twice, "member `Namespace` appears twice");
        // The same name in two different objects is fine.
        let mut document = valid();
        document["nested"] = json!({"service": "x", "inner": {"service": "y"}});
        passes(&document);
    }

    #[test]
    fn is_emf_knows_a_document_by_its_cloudwatch_metrics() {
        assert!(is_emf(SPEC_EXAMPLE));
        assert!(is_emf(&valid().to_string()));
        // Meant as EMF even when invalid: `check` says what is wrong.
        assert!(is_emf(r#"{"_aws":{"CloudWatchMetrics":[]}}"#));
        assert!(!is_emf(r#"{"_aws":{"Timestamp":1764492000000}}"#));
        assert!(!is_emf(r#"{"level":"INFO","message":"hello"}"#));
        assert!(!is_emf("INFO hello"));
        assert!(!is_emf(r#"["_aws"]"#));
    }

    const TIMESTAMP: &str = "2025-11-30T09:00:00.123Z";

    fn log_line(level: &str) -> String {
        json!({"level": level, "timestamp": TIMESTAMP, "message": "m"}).to_string()
    }

    #[test]
    fn lambda_sends_the_configured_level_and_the_less_detailed_ones() {
        // "if you configure a log level of WARN, Lambda will send logs corresponding to the
        // WARN, ERROR, and FATAL levels."
        assert!(!lambda_log_level_passes(&log_line("INFO"), "WARN"));
        assert!(lambda_log_level_passes(&log_line("WARN"), "WARN"));
        assert!(lambda_log_level_passes(&log_line("ERROR"), "WARN"));
        assert!(lambda_log_level_passes(&log_line("FATAL"), "WARN"));
        assert!(!lambda_log_level_passes(&log_line("TRACE"), "DEBUG"));
        assert!(lambda_log_level_passes(&log_line("TRACE"), "TRACE"));
        assert!(!lambda_log_level_passes(&log_line("ERROR"), "FATAL"));
        // `"level": "debug"` is read as DEBUG; the configured level in any case too.
        assert!(lambda_log_level_passes(&log_line("debug"), "debug"));
        assert!(!lambda_log_level_passes(&log_line("debug"), "Info"));
    }

    #[test]
    fn lambda_reads_a_missing_or_invalid_level_as_info() {
        // "If the "level" value field is invalid or missing, Lambda assigns the log output the
        // level INFO."
        let no_level = json!({"timestamp": TIMESTAMP, "message": "m"}).to_string();
        for line in [
            no_level.as_str(),
            &log_line("LOUD"),
            &log_line("WARNING"),
            "plain text, not JSON",
            r#"["ERROR"]"#,
            &json!({"level": 5, "timestamp": TIMESTAMP}).to_string(),
        ] {
            assert!(lambda_log_level_passes(line, "INFO"), "{line}");
            assert!(!lambda_log_level_passes(line, "WARN"), "{line}");
        }
    }

    #[test]
    fn lambda_reads_a_level_without_a_valid_rfc3339_timestamp_as_info() {
        // "If you don't supply a valid timestamp, Lambda assigns the log the level INFO".
        for line in [
            json!({"level": "ERROR"}),
            json!({"level": "ERROR", "timestamp": "2025-11-30 09:00:00"}),
            json!({"level": "ERROR", "timestamp": "2025-11-30T09:00:00"}),
            json!({"level": "ERROR", "timestamp": "2025-02-30T09:00:00Z"}),
            json!({"level": "ERROR", "timestamp": 1_764_492_000_000_u64}),
            json!({"level": "ERROR", "time": TIMESTAMP}),
        ] {
            assert!(
                !lambda_log_level_passes(&line.to_string(), "WARN"),
                "{line}"
            );
        }
        for timestamp in ["2025-11-30T09:00:00Z", "2025-11-30T10:00:00.5+01:00"] {
            let line = json!({"level": "ERROR", "timestamp": timestamp}).to_string();
            assert!(lambda_log_level_passes(&line, "WARN"), "{line}");
        }
    }

    #[test]
    #[should_panic(expected = "not a Lambda log level")]
    fn an_unknown_configured_level_is_the_tests_error() {
        lambda_log_level_passes(&log_line("INFO"), "VERBOSE");
    }
}
