//! The dashboard and the error-rate alarms of `template.yaml` read the metrics the functions
//! emit, under the names, namespace and dimension sets they are emitted with. CloudWatch
//! finds a metric only under its whole identity: "a metric is uniquely defined by a name, a
//! namespace, and zero or more dimensions" (CloudWatch concepts, Dimensions), so a graph or an
//! alarm naming one dimension too many or too few shows nothing and never goes off, and no
//! deploy says so. This test is what says so.
//!
//! Also: the namespace is the `MetricsNamespace` parameter the functions get as
//! `POWERTOOLS_METRICS_NAMESPACE`, the dashboard shows this stack's functions, each of them has
//! an alarm, and the alarms' threshold is a rate.

use std::collections::BTreeSet;

use lambda_telemetry::constants::metric_keys;
use serde_json::Value;
use tests::workspace_root;

// The crate's own names: a metric or dimension renamed in the crate fails this test until the
// template follows. The dimension sets are those `metrics::builtin` emits each metric under.
const PER_ROUTE: &[&str] = &[
    metric_keys::SERVICE,
    metric_keys::FAAS_NAME,
    metric_keys::HTTP_ROUTE,
    metric_keys::HTTP_RESPONSE_STATUS_CLASS,
];
const PER_FUNCTION: &[&str] = &[metric_keys::SERVICE, metric_keys::FAAS_NAME];
const PER_KIND: &[&str] = &[
    metric_keys::SERVICE,
    metric_keys::FAAS_NAME,
    metric_keys::KIND,
];
/// Every built-in metric, with the dimension sets its EMF directive declares.
const EMITTED_METRICS: &[(&str, &[&[&str]])] = &[
    (metric_keys::INVOCATIONS, &[PER_ROUTE, PER_FUNCTION]),
    (metric_keys::ERRORS, &[PER_ROUTE, PER_FUNCTION]),
    (metric_keys::INVOKE_DURATION, &[PER_ROUTE, PER_FUNCTION]),
    (metric_keys::COLDSTARTS, &[PER_FUNCTION]),
    (metric_keys::LOST, &[PER_KIND]),
];

/// What the dashboard's `!Sub` may substitute: anything else would be a name the test has not
/// checked.
const SUBSTITUTED: [&str; 4] = [
    "AWS::Region",
    "MetricsNamespace",
    "ErrorRateAlarmThreshold",
    "Functions",
];

fn template() -> String {
    std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap()
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The lines under `lines[at]`: those indented deeper, and blank ones.
fn block<'a>(lines: &[&'a str], at: usize) -> Vec<&'a str> {
    lines[at + 1..]
        .iter()
        .take_while(|l| l.trim().is_empty() || indent(l) > indent(lines[at]))
        .copied()
        .collect()
}

/// The logical id and lines of each resource of `kind`, in template order.
fn resources<'a>(lines: &[&'a str], kind: &str) -> Vec<(String, Vec<&'a str>)> {
    let wanted = format!("Type: {kind}");
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if indent(line) != 4 || line.trim() != wanted {
            continue;
        }
        let at = (0..i)
            .rev()
            .find(|&j| indent(lines[j]) == 2 && !lines[j].trim().starts_with('#'))
            .expect("the resource's logical id");
        let id = lines[at].trim().trim_end_matches(':').to_owned();
        found.push((id, block(lines, at)));
    }
    found
}

/// The value of `key: value` among `lines` at the given indentation.
fn value<'a>(lines: &[&'a str], at_indent: usize, key: &str) -> Option<&'a str> {
    lines
        .iter()
        .filter(|l| indent(l) == at_indent)
        .find_map(|l| l.trim().strip_prefix(key)?.strip_prefix(": "))
}

/// The lines of the template's parameter `name`.
fn parameter<'a>(lines: &[&'a str], name: &str) -> Vec<&'a str> {
    let params = lines.iter().position(|l| *l == "Parameters:").unwrap();
    let at = (params..lines.len())
        .find(|&i| indent(lines[i]) == 2 && lines[i].trim() == format!("{name}:"))
        .unwrap_or_else(|| panic!("no parameter {name}"));
    block(lines, at)
}

/// One `SEARCH('{namespace, dimension...} term', 'statistic', period)` of a graph.
#[derive(Debug)]
struct Search {
    namespace: String,
    dimensions: Vec<String>,
    metric: String,
    term: String,
    statistic: String,
    period: u32,
}

/// The parts of a SEARCH expression; names with other than letters and digits must be in
/// double quotes inside the schema ("you must enclose the name that contains those characters
/// with double quotes": CloudWatch search expression syntax).
fn parse_search(expression: &str) -> Result<Search, String> {
    let rest = expression
        .strip_prefix("SEARCH('")
        .ok_or("not a SEARCH('...') expression")?;
    let (query, rest) = rest.split_once('\'').ok_or("an unclosed query")?;
    let rest = rest.strip_prefix(", '").ok_or("no statistic")?;
    let (statistic, rest) = rest.split_once('\'').ok_or("an unclosed statistic")?;
    let period = rest
        .strip_prefix(", ")
        .and_then(|r| r.strip_suffix(')'))
        .and_then(|p| p.parse().ok())
        .ok_or("no period in seconds")?;
    let schema = query
        .trim()
        .strip_prefix('{')
        .ok_or("no {namespace, dimensions} schema")?;
    // The schema ends at the first `}` outside double quotes; commas outside them part it.
    let mut in_quotes = false;
    let mut cuts = Vec::new();
    let mut end = None;
    for (i, c) in schema.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            ',' if !in_quotes => cuts.push(i),
            '}' if !in_quotes => {
                end = Some(i);
                break;
            }
            _ => {}
        }
    }
    let end = end.ok_or("an unclosed schema")?;
    let (schema, term) = (&schema[..end], &schema[end + 1..]);
    cuts.push(end);
    let mut names = Vec::new();
    let mut from = 0;
    for cut in cuts {
        let name = schema[from..cut].trim();
        from = cut + 1;
        let bare = name.trim_matches('"');
        let quoted = name.len() == bare.len() + 2;
        if !quoted && !bare.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(format!(
                "{name} has other than letters and digits: quote it"
            ));
        }
        names.push(bare.to_owned());
    }
    let metrics: Vec<&str> = term.split("MetricName=\"").skip(1).collect();
    let [metric] = metrics[..] else {
        return Err(format!("{} MetricName= in the term", metrics.len()));
    };
    let metric = metric.split('"').next().unwrap_or_default().to_owned();
    let namespace = names.remove(0);
    Ok(Search {
        namespace,
        dimensions: names,
        metric,
        term: term.to_owned(),
        statistic: statistic.to_owned(),
        period,
    })
}

/// `search` reads an emitted metric under one of its whole dimension sets, in the
/// `MetricsNamespace` namespace, for this stack's functions, with a statistic that means
/// something for it.
fn check_search(search: &Search) -> Result<(), String> {
    if search.namespace != "${MetricsNamespace}" {
        return Err(format!(
            "namespace {}, not the MetricsNamespace parameter",
            search.namespace
        ));
    }
    let (_, sets) = EMITTED_METRICS
        .iter()
        .find(|(name, _)| *name == search.metric)
        .ok_or_else(|| format!("{} is not a metric the functions emit", search.metric))?;
    let dimensions: BTreeSet<&str> = search.dimensions.iter().map(String::as_str).collect();
    let whole = dimensions.len() == search.dimensions.len()
        && sets
            .iter()
            .any(|set| set.len() == dimensions.len() && set.iter().all(|d| dimensions.contains(d)));
    if !whole {
        return Err(format!(
            "{} is emitted under {sets:?}, not {:?}",
            search.metric, search.dimensions
        ));
    }
    // Counts are summed; faas.errors is 0 or 1, so its Average is the error rate; a duration
    // is read by percentile (or average and extremes).
    let statistic = search.statistic.as_str();
    let fits = match search.metric.as_str() {
        "faas.errors" => matches!(statistic, "Sum" | "Average"),
        "faas.invoke_duration" => {
            matches!(statistic, "Average" | "Minimum" | "Maximum")
                || statistic
                    .strip_prefix('p')
                    .is_some_and(|p| p.parse::<f64>().is_ok_and(|p| p > 0.0 && p < 100.0))
        }
        _ => statistic == "Sum",
    };
    if !fits {
        return Err(format!("{statistic} of {}", search.metric));
    }
    if !search.term.contains("(${Functions})") {
        return Err(format!(
            "the term `{}` does not keep to this stack's functions",
            search.term
        ));
    }
    if search.period != 60 {
        return Err(format!("a period of {} s, not a minute", search.period));
    }
    Ok(())
}

/// The dashboard's body (its `!Sub` JSON with the threshold put in) and the lines that
/// define its `Functions` variable.
fn dashboard(lines: &[&str]) -> (Value, Vec<String>) {
    let dashboards = resources(lines, "AWS::CloudWatch::Dashboard");
    let [(_, dashboard)] = &dashboards[..] else {
        panic!("one dashboard, not {}", dashboards.len());
    };
    let body = dashboard
        .iter()
        .position(|l| l.trim() == "DashboardBody: !Sub")
        .expect("DashboardBody: !Sub [json, variables]");
    assert_eq!(dashboard[body + 1].trim(), "- |", "the JSON first");
    let json = block(dashboard, body + 1);
    let variables: Vec<String> = dashboard[body + 2 + json.len()..]
        .iter()
        .filter(|l| !l.trim().starts_with('#'))
        .map(|l| (*l).to_owned())
        .collect();
    let json = json.join("\n");

    let threshold = value(&parameter(lines, "ErrorRateAlarmThreshold"), 4, "Default").unwrap();
    let mut substituted = BTreeSet::new();
    for part in json.split("${").skip(1) {
        substituted.insert(part.split('}').next().unwrap().to_owned());
    }
    let unknown: Vec<_> = substituted
        .iter()
        .filter(|s| !SUBSTITUTED.contains(&s.as_str()))
        .collect();
    assert!(unknown.is_empty(), "the dashboard substitutes {unknown:?}");
    let json = json.replace("${ErrorRateAlarmThreshold}", threshold);
    let body = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    (body, variables)
}

#[test]
fn the_functions_get_the_namespace_the_dashboard_and_alarms_read() {
    let template = template();
    let lines: Vec<&str> = template.lines().collect();
    let namespace = parameter(&lines, "MetricsNamespace");
    assert_eq!(value(&namespace, 4, "Default"), Some("Cruddur"));
    let pattern = value(&namespace, 4, "AllowedPattern").unwrap();
    assert!(
        pattern.starts_with("\"^(?!AWS/)"),
        "AWS/ is AWS's own: {pattern}"
    );

    let globals = lines.iter().position(|l| *l == "Globals:").unwrap();
    let environment = lines[globals..]
        .iter()
        .position(|l| l.trim() == "Variables:")
        .map(|i| globals + i)
        .unwrap();
    let variables = block(&lines, environment);
    assert_eq!(
        value(&variables, 8, "POWERTOOLS_METRICS_NAMESPACE"),
        Some("!Ref MetricsNamespace")
    );
    // EMF whatever MetricsDestination says (`emf`, or `emf,otlp` beside CloudWatch's OTLP
    // endpoint): the dashboard and alarms read the EMF lines, not OTLP metrics.
    assert_eq!(
        value(&variables, 8, "OTEL_METRICS_EXPORTER"),
        Some(r#"!If [MetricsToCloudWatchOtlp, "emf,otlp", emf]"#)
    );
    // No function sets its own namespace or exporter beside Globals.
    for (id, function) in resources(&lines, "AWS::Serverless::Function") {
        assert!(
            !function
                .iter()
                .any(|l| l.contains("POWERTOOLS_METRICS_NAMESPACE")
                    || l.contains("OTEL_METRICS_EXPORTER")
                    || l.contains("POWERTOOLS_METRICS_DISABLED")),
            "{id} overrides the metrics settings"
        );
    }
}

#[test]
fn every_graph_reads_an_emitted_metric_under_its_whole_dimension_set() {
    let template = template();
    let lines: Vec<&str> = template.lines().collect();
    let (body, variables) = dashboard(&lines);

    let mut shown = BTreeSet::new();
    let mut duration_statistics = BTreeSet::new();
    let widgets = body["widgets"].as_array().expect("widgets");
    for widget in widgets {
        let properties = &widget["properties"];
        let title = properties["title"].as_str().unwrap_or_default();
        if widget["type"] != "metric" {
            continue;
        }
        assert_eq!(properties["region"], "${AWS::Region}", "{title}");
        for row in properties["metrics"].as_array().expect("metrics") {
            // A plain metric row would be [namespace, name, dimension, value, ...]: this test
            // reads SEARCH expressions only, so a row of another form is a finding.
            let expression = row[0]["expression"]
                .as_str()
                .unwrap_or_else(|| panic!("{title}: a row without a SEARCH expression: {row}"));
            let search = parse_search(expression).unwrap_or_else(|e| panic!("{title}: {e}"));
            check_search(&search).unwrap_or_else(|e| panic!("{title}: {e}: {expression}"));
            if search.metric == "faas.invoke_duration" {
                duration_statistics.insert(search.statistic.clone());
            }
            shown.insert(search.metric);
        }
    }
    let every: BTreeSet<String> = EMITTED_METRICS
        .iter()
        .map(|(m, _)| (*m).to_owned())
        .collect();
    assert_eq!(shown, every, "every built-in metric has a graph");
    assert_eq!(
        duration_statistics,
        ["p50", "p90", "p99"].map(str::to_owned).into(),
        "duration by percentile"
    );

    // The error-rate graph draws the alarms' threshold, from the same parameter.
    let threshold: f64 = value(&parameter(&lines, "ErrorRateAlarmThreshold"), 4, "Default")
        .unwrap()
        .parse()
        .unwrap();
    let drawn: Vec<f64> = widgets
        .iter()
        .flat_map(|w| w["properties"]["annotations"]["horizontal"].as_array())
        .flatten()
        .filter_map(|a| a["value"].as_f64())
        .collect();
    assert_eq!(drawn, [threshold]);

    // `Functions` names every function of the template, exactly, and a conditional one only
    // under its condition (a Sub of a resource that is not deployed fails the deploy).
    let functions = resources(&lines, "AWS::Serverless::Function");
    let variables = variables.join("\n");
    assert!(variables.trim_start().starts_with("- Functions:"));
    let named: BTreeSet<&str> = variables
        .split("\\\"${")
        .skip(1)
        .map(|r| r.split('}').next().unwrap())
        .collect();
    let ids: BTreeSet<&str> = functions.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(named, ids, "the dashboard's functions are the template's");
    for (id, function) in &functions {
        if let Some(condition) = value(function, 4, "Condition") {
            let line = variables
                .lines()
                .find(|l| l.contains(&format!("${{{id}}}")))
                .unwrap();
            assert!(
                line.contains(&format!("!If [{condition},")),
                "{id} is deployed under {condition} only: {line}"
            );
        }
    }
}

/// An alarm reads `faas.errors` Average, the error rate, of one function, under
/// [service, faas.name] (the whole per-function set), in `MetricsNamespace`, above
/// `ErrorRateAlarmThreshold`; no data (no invocations) is no error. Its function's logical id.
fn check_alarm(alarm: &[&str]) -> Result<String, String> {
    let property = |key| value(alarm, 6, key).ok_or(format!("no {key}"));
    let expect = |key, wanted: &str| match property(key)? {
        found if found == wanted => Ok(()),
        found => Err(format!("{key}: {found}, not {wanted}")),
    };
    expect("Namespace", "!Ref MetricsNamespace")?;
    let metric = property("MetricName")?;
    if !EMITTED_METRICS.iter().any(|(m, _)| *m == metric) {
        return Err(format!("{metric} is not a metric the functions emit"));
    }
    expect("MetricName", "faas.errors")?;
    expect("Statistic", "Average")?;
    expect("Threshold", "!Ref ErrorRateAlarmThreshold")?;
    expect("ComparisonOperator", "GreaterThanThreshold")?;
    expect("TreatMissingData", "notBreaching")?;
    expect("Period", "60")?;

    let at = alarm
        .iter()
        .position(|l| l.trim() == "Dimensions:")
        .ok_or("no Dimensions")?;
    let dimensions = block(alarm, at);
    let names: Vec<&str> = dimensions
        .iter()
        .filter_map(|l| l.trim().strip_prefix("- Name: "))
        .collect();
    let values: Vec<&str> = dimensions
        .iter()
        .filter_map(|l| l.trim().strip_prefix("Value: "))
        .collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    let mut whole = PER_FUNCTION.to_vec();
    whole.sort_unstable();
    if sorted != whole || values.len() != names.len() {
        return Err(format!(
            "dimensions {names:?}, not the whole set {PER_FUNCTION:?}"
        ));
    }
    let of = |name| values[names.iter().position(|n| *n == name).unwrap()];
    if of("service") != "!Ref ServiceName" {
        return Err(format!(
            "service is {}, not OTEL_SERVICE_NAME's",
            of("service")
        ));
    }
    of("faas.name")
        .strip_prefix("!Ref ")
        .map(str::to_owned)
        .ok_or(format!(
            "faas.name is {}, not a function's name",
            of("faas.name")
        ))
}

#[test]
fn each_function_has_an_alarm_on_its_error_rate() {
    let template = template();
    let lines: Vec<&str> = template.lines().collect();

    let threshold = parameter(&lines, "ErrorRateAlarmThreshold");
    let number = |key| -> f64 { value(&threshold, 4, key).unwrap().parse().unwrap() };
    let (default, min, max) = (number("Default"), number("MinValue"), number("MaxValue"));
    assert!(
        0.0 < default && default < 1.0,
        "the threshold is a rate: {default}"
    );
    assert!(
        (0.0..=1.0).contains(&min) && (0.0..=1.0).contains(&max),
        "only rates are accepted: {min}..{max}"
    );

    let functions = resources(&lines, "AWS::Serverless::Function");
    let alarms = resources(&lines, "AWS::CloudWatch::Alarm");
    let mut alarmed = Vec::new();
    for (id, alarm) in &alarms {
        let function = check_alarm(alarm).unwrap_or_else(|e| panic!("{id}: {e}"));
        let (_, body) = functions
            .iter()
            .find(|(f, _)| *f == function)
            .unwrap_or_else(|| panic!("{id} watches {function}, not a function"));
        assert_eq!(
            value(alarm, 4, "Condition"),
            value(body, 4, "Condition"),
            "{id} is deployed exactly when {function} is"
        );
        // An empty AlarmTopicArn is no action at all, not an action on "".
        for actions in ["AlarmActions", "OKActions"] {
            assert_eq!(
                value(alarm, 6, actions),
                Some("!If [HasAlarmTopic, [!Ref AlarmTopicArn], !Ref AWS::NoValue]"),
                "{id}"
            );
        }
        alarmed.push(function);
    }
    let ids: Vec<String> = functions.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(alarmed, ids, "one alarm per function, in the same order");
    let condition = lines
        .iter()
        .find_map(|l| l.trim().strip_prefix("HasAlarmTopic: "));
    assert_eq!(condition, Some("!Not [!Equals [!Ref AlarmTopicArn, \"\"]]"));
}

#[test]
fn a_search_off_the_emitted_metrics_is_refused() {
    let good = "SEARCH('{\"${MetricsNamespace}\",service,\"faas.name\",\"http.route\",\"http.response.status_class\"} MetricName=\"faas.invocations\" (${Functions})', 'Sum', 60)";
    check_search(&parse_search(good).unwrap()).unwrap();
    let refused = [
        // One dimension short of the per-route set: no such metric.
        "SEARCH('{\"${MetricsNamespace}\",service,\"faas.name\",\"http.route\"} MetricName=\"faas.invocations\" (${Functions})', 'Sum', 60)",
        // Without service, which starts every set.
        "SEARCH('{\"${MetricsNamespace}\",\"faas.name\"} MetricName=\"faas.errors\" (${Functions})', 'Average', 60)",
        // kind belongs to lambda_telemetry.lost only.
        "SEARCH('{\"${MetricsNamespace}\",service,\"faas.name\",kind} MetricName=\"faas.coldstarts\" (${Functions})', 'Sum', 60)",
        // The namespace written out rather than the parameter.
        "SEARCH('{Cruddur,service,\"faas.name\"} MetricName=\"faas.errors\" (${Functions})', 'Sum', 60)",
        // A dotted name unquoted: SEARCH would read it as two.
        "SEARCH('{\"${MetricsNamespace}\",service,faas.name} MetricName=\"faas.errors\" (${Functions})', 'Sum', 60)",
        // A name the functions do not emit (Powertools' ColdStart).
        "SEARCH('{\"${MetricsNamespace}\",service,\"faas.name\"} MetricName=\"ColdStart\" (${Functions})', 'Sum', 60)",
        // The average of a count that is always 1.
        "SEARCH('{\"${MetricsNamespace}\",service,\"faas.name\"} MetricName=\"faas.invocations\" (${Functions})', 'Average', 60)",
        // Every stack's functions in the namespace.
        "SEARCH('{\"${MetricsNamespace}\",service,\"faas.name\"} MetricName=\"faas.errors\"', 'Sum', 60)",
        // No metric name: every metric of the set at once.
        "SEARCH('{\"${MetricsNamespace}\",service,\"faas.name\"} (${Functions})', 'Sum', 60)",
    ];
    for expression in refused {
        let verdict = parse_search(expression).and_then(|s| check_search(&s));
        assert!(verdict.is_err(), "accepted: {expression}");
    }
}

#[test]
fn an_alarm_off_the_emitted_metric_is_refused() {
    let template = template();
    let lines: Vec<&str> = template.lines().collect();
    let alarms = resources(&lines, "AWS::CloudWatch::Alarm");
    let (_, alarm) = &alarms[0];
    assert_eq!(check_alarm(alarm).as_deref(), Ok("HomeFunction"));
    let changed = |from: &str, to: &str| -> Vec<String> {
        alarm.iter().map(|l| l.replacen(from, to, 1)).collect()
    };
    let refused = [
        changed("Namespace: !Ref MetricsNamespace", "Namespace: Cruddur"),
        changed("MetricName: faas.errors", "MetricName: Errors"),
        changed("Statistic: Average", "Statistic: Sum"),
        changed("- Name: service", "- Name: Service"),
        changed("Threshold: !Ref ErrorRateAlarmThreshold", "Threshold: 5"),
        changed(
            "TreatMissingData: notBreaching",
            "TreatMissingData: breaching",
        ),
        // The per-route set's route without its status class: no such metric.
        alarm
            .iter()
            .map(|l| (*l).to_owned())
            .flat_map(|l| {
                let extra = l.trim() == "Value: !Ref HomeFunction";
                let route = [
                    "        - Name: http.route".to_owned(),
                    "          Value: /api/activities/home".to_owned(),
                ];
                std::iter::once(l).chain(route.into_iter().filter(move |_| extra))
            })
            .collect(),
    ];
    for alarm in refused {
        let lines: Vec<&str> = alarm.iter().map(String::as_str).collect();
        assert!(
            check_alarm(&lines).is_err(),
            "accepted:\n{}",
            lines.join("\n")
        );
    }
}
