//! The functions' role grants, for each choice of where traces and metrics go
//! (`TraceDestination`, `MetricsDestination`, `OtlpHeadersSecretArn`), exactly the actions that
//! choice needs and nothing else: least privilege, "grant only the permissions required to
//! perform a task" (IAM User Guide, security best practices). No action is a wildcard, and `*`
//! is a resource only of actions that accept no other: X-Ray's `PutTraceSegments`,
//! `PutTelemetryRecords` and `PutSpans`, and CloudWatch's `PutMetricData`, for which the
//! Service Authorization Reference lists no resource type ("you must specify all resources
//! (\"*\")"). `PutMetricData` is held to the stack's namespace with `StringEqualsIfExists`,
//! the form that "allows OTLP ingest" (CloudWatch User Guide, "Using condition keys to limit
//! access to CloudWatch namespaces"; `StringEquals` "implicitly denies any OTLP ingest").
//!
//! The functions' environment follows the same choice (spans to the daemon or to X-Ray's OTLP
//! endpoint, never both; the Honeycomb headers secret never beside AWS's endpoint), and
//! Transaction Search is created only when asked for, with a resource policy that lets X-Ray
//! alone write the `aws/spans` group.
//!
//! The template is read as CloudFormation reads it: decoded by cfn-lint (in `.venv`, which
//! `make test` installs) into JSON, and its conditions, `!If`, `!Sub`, `!Ref` resolved here
//! for each set of parameter values, so a statement left under the wrong condition fails.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;
use tests::workspace_root;

const REGION: &str = "eu-west-1";
const ACCOUNT: &str = "123456789012";
const SECRET_ARN: &str =
    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:cruddur/otlp-headers-AbCdEf";

/// Actions that take no resource but `*` (Service Authorization Reference: no resource type
/// in their row), so `*` is their resource by necessity, not by choice.
const STAR_RESOURCE_ONLY: [&str; 4] = [
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:PutSpans",
    "cloudwatch:PutMetricData",
];

/// `template.yaml` as JSON, the short forms (`!If`) as their long ones (`Fn::If`).
fn template() -> Value {
    let python = workspace_root().join(".venv/bin/python");
    let out = Command::new(&python)
        .args([
            "-c",
            "import json, sys\n\
             from cfnlint.decode import decode\n\
             template, problems = decode(sys.argv[1])\n\
             if problems: sys.exit('\\n'.join(str(p) for p in problems))\n\
             json.dump(template, sys.stdout)",
        ])
        .arg(workspace_root().join("template.yaml"))
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{} (run `make test`, which installs it): {e}",
                python.display()
            )
        });
    assert!(
        out.status.success(),
        "cfn-lint could not decode template.yaml: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON from json.dump")
}

/// A value as CloudFormation compares it: `Fn::Equals` on a Number parameter and `0` holds.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The template with every parameter set: its default unless given.
struct Stack<'a> {
    template: &'a Value,
    values: BTreeMap<String, String>,
}

impl<'a> Stack<'a> {
    fn new(template: &'a Value, given: &[(&str, &str)]) -> Self {
        let mut values: BTreeMap<String, String> = template["Parameters"]
            .as_object()
            .expect("Parameters")
            .iter()
            .filter_map(|(name, p)| Some((name.clone(), text(p.get("Default")?))))
            .collect();
        for (name, value) in given {
            assert!(
                template["Parameters"].get(*name).is_some(),
                "no parameter {name}"
            );
            values.insert((*name).to_owned(), (*value).to_owned());
        }
        for (name, value) in [
            ("AWS::Region", REGION),
            ("AWS::AccountId", ACCOUNT),
            ("AWS::Partition", "aws"),
            ("AWS::URLSuffix", "amazonaws.com"),
            ("AWS::StackName", "cruddur"),
        ] {
            values.insert(name.to_owned(), value.to_owned());
        }
        Self { template, values }
    }

    fn condition(&self, name: &str) -> bool {
        let body = &self.template["Conditions"][name];
        assert!(!body.is_null(), "no condition {name}");
        self.holds(body)
    }

    fn holds(&self, body: &Value) -> bool {
        let (function, args) = single(body).unwrap_or_else(|| panic!("not a condition: {body}"));
        match function {
            "Condition" => self.condition(args.as_str().expect("a condition's name")),
            "Fn::Not" => !self.holds(&args[0]),
            "Fn::And" => args.as_array().unwrap().iter().all(|c| self.holds(c)),
            "Fn::Or" => args.as_array().unwrap().iter().any(|c| self.holds(c)),
            "Fn::Equals" => {
                let side = |i: usize| text(&self.resolve(&args[i]).expect("a value"));
                side(0) == side(1)
            }
            other => panic!("{other} in a condition"),
        }
    }

    /// `value` with its functions applied; `None` is `AWS::NoValue`. A resource's `Ref` or
    /// `GetAtt` stays a name (`ref:Id`, `getatt:Id.Attr`): no deployed value is known here.
    fn resolve(&self, value: &Value) -> Option<Value> {
        if let Some((function, args)) = single(value) {
            return match function {
                "Ref" => {
                    let name = args.as_str().unwrap();
                    if name == "AWS::NoValue" {
                        return None;
                    }
                    Some(Value::String(
                        self.values.get(name).cloned().unwrap_or_else(|| {
                            assert!(self.template["Resources"].get(name).is_some(), "Ref {name}");
                            format!("ref:{name}")
                        }),
                    ))
                }
                "Fn::GetAtt" => Some(Value::String(format!(
                    "getatt:{}",
                    match args {
                        Value::Array(parts) => parts.iter().map(text).collect::<Vec<_>>().join("."),
                        other => text(other),
                    }
                ))),
                "Fn::If" => {
                    let branch = if self.condition(args[0].as_str().unwrap()) {
                        1
                    } else {
                        2
                    };
                    self.resolve(&args[branch])
                }
                "Fn::Sub" => {
                    let (body, names) = match args {
                        Value::Array(a) => (a[0].as_str().unwrap(), Some(&a[1])),
                        other => (other.as_str().unwrap(), None),
                    };
                    Some(Value::String(self.substitute(body, names)))
                }
                "Fn::Split" => {
                    let on = args[0].as_str().unwrap();
                    let whole = text(&self.resolve(&args[1])?);
                    Some(Value::Array(
                        whole
                            .split(on)
                            .map(|s| Value::String(s.to_owned()))
                            .collect(),
                    ))
                }
                "Fn::Select" => {
                    let at: usize = text(&args[0]).parse().unwrap();
                    Some(self.resolve(&args[1])?[at].clone())
                }
                "Fn::Join" => {
                    let parts = self.resolve(&args[1])?;
                    let parts: Vec<String> = parts.as_array().unwrap().iter().map(text).collect();
                    Some(Value::String(parts.join(args[0].as_str().unwrap())))
                }
                other => panic!("{other} is not resolved by this test"),
            };
        }
        match value {
            Value::Object(map) => Some(Value::Object(
                map.iter()
                    .filter_map(|(k, v)| Some((k.clone(), self.resolve(v)?)))
                    .collect(),
            )),
            Value::Array(items) => Some(Value::Array(
                items.iter().filter_map(|v| self.resolve(v)).collect(),
            )),
            other => Some(other.clone()),
        }
    }

    fn substitute(&self, body: &str, names: Option<&Value>) -> String {
        let mut out = String::new();
        let mut rest = body;
        while let Some(at) = rest.find("${") {
            out.push_str(&rest[..at]);
            let end = rest[at..].find('}').expect("an unclosed ${") + at;
            let name = &rest[at + 2..end];
            let value = match names.and_then(|n| n.get(name)) {
                Some(v) => text(&self.resolve(v).expect("a value")),
                None => match self.values.get(name) {
                    Some(v) => v.clone(),
                    None => {
                        let id = name.split('.').next().unwrap();
                        assert!(self.template["Resources"].get(id).is_some(), "${{{name}}}");
                        format!("ref:{name}")
                    }
                },
            };
            out.push_str(&value);
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    }

    /// The resource, resolved, if its `Condition` lets it exist.
    fn resource(&self, id: &str) -> Option<Value> {
        let body = &self.template["Resources"][id];
        assert!(!body.is_null(), "no resource {id}");
        if let Some(condition) = body.get("Condition").and_then(Value::as_str)
            && !self.condition(condition)
        {
            return None;
        }
        self.resolve(body)
    }

    /// The ids of the resources of `kind` this stack would have.
    fn resources_of(&self, kind: &str) -> Vec<String> {
        let all = self.template["Resources"].as_object().unwrap();
        all.iter()
            .filter(|(_, r)| r["Type"] == kind)
            .filter(|(id, _)| self.resource(id).is_some())
            .map(|(id, _)| id.clone())
            .collect()
    }
}

/// `{"Fn::X": args}`: the one key of an intrinsic function.
fn single(value: &Value) -> Option<(&str, &Value)> {
    let map = value.as_object()?;
    let (key, args) = map.iter().next()?;
    (map.len() == 1 && (key == "Ref" || key == "Condition" || key.starts_with("Fn::")))
        .then_some((key.as_str(), args))
}

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::Array(items) => items.iter().map(text).collect(),
        other => vec![text(other)],
    }
}

fn allowed_values(template: &Value, parameter: &str) -> Vec<String> {
    strings(&template["Parameters"][parameter]["AllowedValues"])
}

/// Every set of values of the parameters that decide the role and the environment.
fn every_choice(template: &Value) -> Vec<[(&'static str, String); 4]> {
    let mut choices = Vec::new();
    for traces in allowed_values(template, "TraceDestination") {
        for metrics in allowed_values(template, "MetricsDestination") {
            for secret in ["", SECRET_ARN] {
                for search in allowed_values(template, "EnableTransactionSearch") {
                    choices.push([
                        ("TraceDestination", traces.clone()),
                        ("MetricsDestination", metrics.clone()),
                        ("OtlpHeadersSecretArn", secret.to_owned()),
                        ("EnableTransactionSearch", search),
                    ]);
                }
            }
        }
    }
    choices
}

fn given<'a>(choice: &'a [(&'static str, String); 4]) -> Vec<(&'static str, &'a str)> {
    choice.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// What each choice needs, said once: a new parameter value fails here until it is said.
fn needed_actions(traces: &str, metrics: &str, secret: &str) -> BTreeSet<&'static str> {
    // Lambda writes the lines to the cruddur group; with Tracing: Active, whichever the
    // destination, Lambda's daemon sends the function's own segment with the role.
    let mut actions = BTreeSet::from([
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    ]);
    match traces {
        "XRayDaemon" => {
            if !secret.is_empty() {
                actions.insert("secretsmanager:GetSecretValue");
            }
        }
        // No secret: the Honeycomb headers are not sent to AWS's endpoint, nor read.
        "CloudWatchOtlp" => {
            actions.insert("xray:PutSpans");
        }
        other => panic!("TraceDestination {other}: say here what it needs"),
    }
    match metrics {
        "Emf" => {}
        "EmfAndCloudWatchOtlp" => {
            actions.insert("cloudwatch:PutMetricData");
        }
        other => panic!("MetricsDestination {other}: say here what it needs"),
    }
    actions
}

#[test]
fn each_destination_gets_exactly_the_actions_it_needs_and_no_wildcard() {
    let template = template();
    let choices = every_choice(&template);
    assert!(choices.len() >= 16, "{} choices", choices.len());
    for choice in &choices {
        let stack = Stack::new(&template, &given(choice));
        let role = stack.resource("CruddurFunctionRole").expect("the role");
        assert!(
            role["Properties"].get("ManagedPolicyArns").is_none(),
            "a managed policy on the role: its actions are not these"
        );
        let policies = role["Properties"]["Policies"].as_array().unwrap();
        assert_eq!(policies.len(), 1, "{choice:?}");
        let statements = policies[0]["PolicyDocument"]["Statement"]
            .as_array()
            .unwrap();

        let mut granted = BTreeSet::new();
        for statement in statements {
            assert_eq!(statement["Effect"], "Allow", "{statement}");
            let actions = strings(&statement["Action"]);
            let resources = strings(&statement["Resource"]);
            for action in &actions {
                assert!(
                    !action.contains('*'),
                    "a wildcard action {action}: {choice:?}"
                );
                assert!(
                    statement.get("NotAction").is_none() && statement.get("NotResource").is_none()
                );
                granted.insert(action.clone());
            }
            if resources.iter().any(|r| r.contains('*')) {
                assert_eq!(resources, ["*"], "{statement}");
                for action in &actions {
                    assert!(
                        STAR_RESOURCE_ONLY.contains(&action.as_str()),
                        "{action} on * (it takes a resource: name it) {choice:?}"
                    );
                }
            }
            if actions.iter().any(|a| a == "cloudwatch:PutMetricData") {
                assert_eq!(
                    statement["Condition"]["StringEqualsIfExists"]["cloudwatch:namespace"],
                    stack.values["MetricsNamespace"].as_str(),
                    "PutMetricData held to the stack's namespace, OTLP let through: {statement}"
                );
            }
            if actions.iter().any(|a| a == "secretsmanager:GetSecretValue") {
                assert_eq!(resources, [SECRET_ARN], "the secret exactly: {statement}");
            }
            if actions.iter().any(|a| a.starts_with("logs:")) {
                assert_eq!(resources, ["getatt:CruddurLogGroup.Arn"], "{statement}");
            }
        }
        let granted: BTreeSet<&str> = granted.iter().map(String::as_str).collect();
        let [(_, traces), (_, metrics), (_, secret), _] = choice;
        assert_eq!(
            granted,
            needed_actions(traces, metrics, secret),
            "the role's actions with {choice:?}"
        );
    }
}

#[test]
fn spans_and_metrics_go_where_the_destination_says_and_the_key_never_to_aws() {
    let template = template();
    let xray = format!("https://xray.{REGION}.amazonaws.com/v1/traces");
    let monitoring = format!("https://monitoring.{REGION}.amazonaws.com/v1/metrics");
    for choice in &every_choice(&template) {
        let stack = Stack::new(&template, &given(choice));
        let function = stack
            .resolve(&template["Globals"]["Function"])
            .expect("Globals.Function");
        assert_eq!(
            function["Tracing"], "Active",
            "Lambda's segment and trace id, whatever the destination"
        );
        let env = &function["Environment"]["Variables"];
        let var = |name: &str| env.get(name).map(text);
        let [(_, traces), (_, metrics), (_, secret), _] = choice;
        match traces.as_str() {
            "XRayDaemon" => {
                let exporters = if secret.is_empty() {
                    "xray"
                } else {
                    "otlp,xray"
                };
                assert_eq!(var("OTEL_TRACES_EXPORTER").as_deref(), Some(exporters));
                assert_eq!(var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), None);
                let secret = (!secret.is_empty()).then(|| secret.clone());
                assert_eq!(var("OTEL_EXPORTER_OTLP_HEADERS_SECRET_ARN"), secret);
            }
            "CloudWatchOtlp" => {
                // Not `otlp,xray`: the same spans through the daemon too would be stored twice.
                assert_eq!(var("OTEL_TRACES_EXPORTER").as_deref(), Some("otlp"));
                assert_eq!(
                    var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
                    Some(xray.clone())
                );
                assert_eq!(
                    var("OTEL_EXPORTER_OTLP_HEADERS_SECRET_ARN"),
                    None,
                    "the Honeycomb headers would go to AWS's endpoint: {choice:?}"
                );
            }
            other => panic!("TraceDestination {other}"),
        }
        match metrics.as_str() {
            "Emf" => {
                assert_eq!(var("OTEL_METRICS_EXPORTER").as_deref(), Some("emf"));
                assert_eq!(var("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"), None);
            }
            "EmfAndCloudWatchOtlp" => {
                // The EMF lines stay: the dashboard and the alarms read them, not OTLP metrics.
                assert_eq!(var("OTEL_METRICS_EXPORTER").as_deref(), Some("emf,otlp"));
                assert_eq!(
                    var("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"),
                    Some(monitoring.clone())
                );
            }
            other => panic!("MetricsDestination {other}"),
        }
        // Signing is the crate's default (`auto`: AWS's OTLP hosts); `on` would also sign
        // what goes to Honeycomb.
        assert_eq!(var("LAMBDA_TELEMETRY_OTLP_SIGV4"), None);
    }
}

#[test]
fn transaction_search_is_made_only_when_asked_and_lets_only_xray_write_aws_spans() {
    let template = template();
    for choice in &every_choice(&template) {
        let stack = Stack::new(&template, &given(choice));
        let configs = stack.resources_of("AWS::XRay::TransactionSearchConfig");
        let policies = stack.resources_of("AWS::Logs::ResourcePolicy");
        let [_, _, _, (_, search)] = choice;
        if search == "false" {
            assert!(configs.is_empty() && policies.is_empty(), "{choice:?}");
            continue;
        }
        assert_eq!((configs.len(), policies.len()), (1, 1), "{choice:?}");
        let config = stack.resource(&configs[0]).unwrap();
        let policy = stack.resource(&policies[0]).unwrap();
        // X-Ray writes to aws/spans as soon as the setting exists: the policy comes first.
        assert_eq!(strings(&config["DependsOn"]), [policies[0].clone()]);
        // Account-wide settings of the region, which other stacks' exports may rely on.
        for resource in [&config, &policy] {
            assert_eq!(resource["DeletionPolicy"], "Retain");
            assert_eq!(resource["UpdateReplacePolicy"], "Retain");
        }
        let document: Value =
            serde_json::from_str(policy["Properties"]["PolicyDocument"].as_str().unwrap())
                .expect("the policy document is JSON");
        let statements = document["Statement"].as_array().unwrap();
        assert_eq!(statements.len(), 1, "{document}");
        let statement = &statements[0];
        assert_eq!(statement["Effect"], "Allow");
        assert_eq!(
            statement["Principal"],
            serde_json::json!({"Service": "xray.amazonaws.com"})
        );
        assert_eq!(strings(&statement["Action"]), ["logs:PutLogEvents"]);
        assert_eq!(
            strings(&statement["Resource"]),
            [format!(
                "arn:aws:logs:{REGION}:{ACCOUNT}:log-group:aws/spans:*"
            )]
        );
        // The confused-deputy guard: X-Ray acting for this account only.
        assert_eq!(
            statement["Condition"]["StringEquals"]["aws:SourceAccount"],
            ACCOUNT
        );
        assert_eq!(
            statement["Condition"]["ArnLike"]["aws:SourceArn"],
            format!("arn:aws:xray:{REGION}:{ACCOUNT}:*")
        );
    }
}

#[test]
fn every_function_uses_the_role_and_nothing_sam_would_add() {
    let template = template();
    let stack = Stack::new(&template, &[("RollbarTestRoute", "Enabled")]);
    let functions = stack.resources_of("AWS::Serverless::Function");
    assert_eq!(functions.len(), 4, "{functions:?}");
    for id in functions {
        let function = stack.resource(&id).unwrap();
        // Without Role, SAM makes one with AWSLambdaBasicExecutionRole (logs on *) and, for
        // Tracing: Active, AWSXrayWriteOnlyAccess; Policies would add to the role.
        assert_eq!(
            function["Properties"]["Role"], "getatt:CruddurFunctionRole.Arn",
            "{id}"
        );
        assert!(function["Properties"].get("Policies").is_none(), "{id}");
    }
}
