//! The saved Logs Insights queries of `template.yaml` are pipelines of known commands with
//! balanced quotes and brackets, and every field they name is a key the functions' log lines
//! really carry (read off lines printed by the functions under `cargo lambda watch`), or one of
//! Logs Insights' own `@` fields.

use std::collections::BTreeSet;

use serde_json::Value;
use tests::{LocalApi, workspace_root};

const COMMANDS: [&str; 8] = [
    "fields", "filter", "stats", "sort", "limit", "parse", "display", "dedup",
];
/// Words of the language that are not fields: operators, functions, sort orders.
const WORDS: [&str; 20] = [
    "by",
    "as",
    "and",
    "or",
    "not",
    "in",
    "like",
    "asc",
    "desc",
    "ispresent",
    "count",
    "pct",
    "avg",
    "max",
    "min",
    "sum",
    "bin",
    "earliest",
    "latest",
    "isblank",
];
const INSIGHTS_FIELDS: [&str; 4] = ["@timestamp", "@message", "@logStream", "@log"];
/// The `QueryString` block of each `AWS::Logs::QueryDefinition`, by its `Name`.
fn saved_queries() -> Vec<(String, String)> {
    let template = std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap();
    let lines: Vec<&str> = template.lines().collect();
    let mut queries = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.trim() != "Type: AWS::Logs::QueryDefinition" {
            continue;
        }
        let rest = &lines[i + 1..];
        let name = rest
            .iter()
            .find_map(|l| l.trim().strip_prefix("Name: "))
            .expect("a Name")
            .to_owned();
        let start = rest
            .iter()
            .position(|l| l.trim() == "QueryString: |")
            .expect("a QueryString block");
        let indent = |l: &str| l.len() - l.trim_start().len();
        let key_indent = indent(rest[start]);
        let body: Vec<&str> = rest[start + 1..]
            .iter()
            .take_while(|l| l.trim().is_empty() || indent(l) > key_indent)
            .map(|l| l.trim())
            .filter(|l| !l.is_empty())
            .collect();
        queries.push((name, body.join("\n")));
    }
    queries
}

/// The keys of `value` as Logs Insights names them: an object's own key, and each key under
/// it joined to it with a dot (`_aws.Timestamp`).
fn flatten(prefix: &str, value: &Value, keys: &mut BTreeSet<String>) {
    if let Value::Object(object) = value {
        for (key, value) in object {
            let key = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            flatten(&key, value, keys);
            keys.insert(key);
        }
    }
}

/// The query without its string literals, and the names it uses as fields.
fn fields_named(query: &str) -> BTreeSet<String> {
    let mut code = String::new();
    let mut in_string = false;
    for c in query.chars() {
        match c {
            '"' => {
                in_string = !in_string;
                code.push(' ');
            }
            _ if in_string => {}
            c => code.push(c),
        }
    }
    assert!(!in_string, "an unclosed string: {query}");
    let tokens: Vec<&str> = code
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '@' || c == '.'))
        .filter(|t| !t.is_empty())
        .collect();
    let aliases: BTreeSet<&str> = tokens
        .windows(2)
        .filter(|w| w[0] == "as")
        .map(|w| w[1])
        .collect();
    tokens
        .iter()
        .filter(|t| !t.chars().next().unwrap().is_ascii_digit())
        .filter(|t| !COMMANDS.contains(t) && !WORDS.contains(t) && !aliases.contains(*t))
        // bin(1h): a duration, not a field.
        .filter(|t| !(t.len() > 1 && t[..t.len() - 1].chars().all(|c| c.is_ascii_digit())))
        .map(|t| (*t).to_owned())
        .collect()
}

#[test]
fn saved_queries_are_well_formed_and_name_only_keys_the_logs_carry() {
    let queries = saved_queries();
    let names: Vec<&str> = queries.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "cruddur/errors-by-function",
            "cruddur/latency-by-route",
            "cruddur/one-trace",
            "cruddur/slowest-requests",
            "cruddur/cold-starts",
        ]
    );

    // The keys of real lines: access lines of the emulator's own events (which carry `route`
    // as API Gateway's do, the functions naming their routes), an error line, the lines
    // outside any request.
    let api = LocalApi::start(&[]);
    for path in ["/api/activities/home", "/api/activities/@worf"] {
        assert_eq!(api.get(path, &[]).status, 200, "{path}");
    }
    assert_eq!(api.get("/rollbar/test?error=1", &[]).status, 500);
    let mut keys: BTreeSet<String> = INSIGHTS_FIELDS.iter().map(|f| (*f).to_owned()).collect();
    for line in api.function_lines() {
        if let Ok(line @ Value::Object(_)) = serde_json::from_str(&line) {
            flatten("", &line, &mut keys);
        }
    }

    for (name, query) in &queries {
        for (i, command) in query.split('|').enumerate() {
            let first = command.split_whitespace().next().unwrap_or_default();
            assert!(
                COMMANDS.contains(&first),
                "{name}: command {i} is `{first}`"
            );
        }
        let opened = query.matches('(').count();
        assert_eq!(opened, query.matches(')').count(), "{name}: unbalanced ()");
        let unknown: Vec<_> = fields_named(query)
            .into_iter()
            .filter(|f| !keys.contains(f))
            .collect();
        assert!(
            unknown.is_empty(),
            "{name} names {unknown:?}, which no line carries; lines carry {keys:?}"
        );
    }
}

/// The metrics' EMF lines share the log group and carry the request's ids (and a `level` when
/// `LogLevel` is above INFO), never `duration_ms`: a saved query over log lines either keeps
/// to the access lines (`ispresent(duration_ms)`) or leaves the EMF lines out, else an EMF
/// line would count as an error or show as an empty row.
#[test]
fn no_saved_query_picks_up_the_metrics_lines() {
    for (name, query) in saved_queries() {
        let filters: Vec<&str> = query
            .split('|')
            .map(str::trim)
            .filter(|c| c.starts_with("filter "))
            .collect();
        // `and` only at the top level: an `or` there could let an EMF line through.
        let leaves_them_out = filters.iter().any(|f| {
            let mut depth = 0_i32;
            let top_level: String = f
                .chars()
                .filter(|c| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => return depth == 0,
                    }
                    false
                })
                .collect();
            !top_level.contains(" or ")
                && (f.contains("ispresent(duration_ms)")
                    || f.contains("not ispresent(_aws.Timestamp)"))
        });
        assert!(leaves_them_out, "{name} can pick up EMF lines: {query}");
    }
}

#[test]
fn the_field_reader_tells_fields_from_the_language() {
    let fields = fields_named(
        "filter level = \"ERROR\" and ispresent(x) | stats pct(duration_ms, 50) as p50 by bin(1h), route | sort p50 desc",
    );
    assert_eq!(
        fields.into_iter().collect::<Vec<_>>(),
        ["duration_ms", "level", "route", "x"]
    );
    let fields = fields_named("filter level = \"ERROR\" and not ispresent(_aws.Timestamp)");
    assert_eq!(
        fields.into_iter().collect::<Vec<_>>(),
        ["_aws.Timestamp", "level"]
    );
}
