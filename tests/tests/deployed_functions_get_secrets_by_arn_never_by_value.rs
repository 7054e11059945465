//! The deployed functions get the Honeycomb key and the Rollbar token as the ARN of a Secrets
//! Manager secret or SSM parameter, read at run time: no value of a secret is a template
//! parameter (`NoEcho` hides it from `describe-stacks`, not from the function's configuration)
//! or a plain environment variable of the functions.

use tests::workspace_root;

/// The environment variables the template gives the functions (`Globals` and each function).
fn environment_variable_names(template: &str) -> Vec<String> {
    let lines: Vec<&str> = template.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let mut names = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.trim() != "Variables:" {
            continue;
        }
        let key_indent = indent(line);
        let block = lines[i + 1..]
            .iter()
            .take_while(|l| l.trim().is_empty() || indent(l) > key_indent);
        let first = lines[i + 1..]
            .iter()
            .find(|l| !l.trim().is_empty())
            .map_or(0, |l| indent(l));
        names.extend(
            block
                .filter(|l| indent(l) == first && !l.trim_start().starts_with('#'))
                .filter_map(|l| l.trim().split_once(':').map(|(k, _)| k.to_owned())),
        );
    }
    names
}

#[test]
fn secrets_reach_the_functions_by_arn_only() {
    let template = std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap();
    let names = environment_variable_names(&template);
    for by_arn in [
        "OTEL_EXPORTER_OTLP_HEADERS_SECRET_ARN",
        "ROLLBAR_ACCESS_TOKEN_SECRET_ARN",
        "LAMBDA_TELEMETRY_SECRETS_MAX_AGE_SECONDS",
    ] {
        assert!(names.iter().any(|n| n == by_arn), "{by_arn} in {names:?}");
    }
    for by_value in ["OTEL_EXPORTER_OTLP_HEADERS", "ROLLBAR_ACCESS_TOKEN"] {
        assert!(
            !names.iter().any(|n| n == by_value),
            "{by_value} is a plain environment variable: {names:?}"
        );
    }
    assert!(
        !template.contains("NoEcho"),
        "a NoEcho parameter passes a secret's value through the template"
    );
}
