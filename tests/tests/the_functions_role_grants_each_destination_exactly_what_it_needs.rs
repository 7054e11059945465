//! The functions' role allows nothing on `*` that can be narrowed: only X-Ray's
//! `PutTraceSegments` and `PutTelemetryRecords`, which support no resource-level permissions.
//! Logs go to the cruddur group's ARN, secrets to their own ARNs (template.yaml,
//! `CruddurFunctionRole`).

use tests::workspace_root;

#[test]
fn only_the_xray_statement_has_resource_star() {
    let template = std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap();
    let lines: Vec<&str> = template.lines().collect();
    let role = lines
        .iter()
        .position(|l| l.trim() == "CruddurFunctionRole:")
        .expect("the functions' role");
    let end = lines[role + 1..]
        .iter()
        .position(|l| l.starts_with("  ") && !l.starts_with("   ") && !l.trim().starts_with('#'))
        .map_or(lines.len(), |e| role + 1 + e);
    let role = &lines[role..end];

    // Any `*` outside a comment counts, whatever its YAML form (`"*"`, `['*']`, `- "*"`, an
    // action wildcard such as `logs:*`): only the X-Ray statement's resource may have one.
    let star: Vec<usize> = role
        .iter()
        .enumerate()
        .filter(|(_, l)| !l.trim().starts_with('#') && l.contains('*'))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(star.len(), 1, "lines with *: {star:?}");
    assert_eq!(role[star[0]].trim(), "Resource: \"*\"");
    let action = role[..star[0]]
        .iter()
        .rev()
        .find(|l| l.trim().starts_with("Action:"))
        .expect("the statement's Action");
    assert_eq!(
        action.trim(),
        "Action: [xray:PutTraceSegments, xray:PutTelemetryRecords]"
    );

    // Nothing of what SAM would add by itself: the role is given, with no managed policy.
    assert!(!role.iter().any(|l| l.contains("ManagedPolicyArns")));
    for function in [
        "HomeFunction:",
        "NotificationsFunction:",
        "UserActivitiesFunction:",
        "RollbarTestFunction:",
    ] {
        let at = lines.iter().position(|l| l.trim() == function).unwrap();
        let body = lines[at + 1..]
            .iter()
            .take_while(|l| l.trim().is_empty() || l.starts_with("    "));
        let roles: Vec<_> = body.filter(|l| l.trim().starts_with("Role:")).collect();
        assert_eq!(
            roles.len(),
            1,
            "{function} names its role (else SAM makes one with AWSLambdaBasicExecutionRole)"
        );
        assert_eq!(roles[0].trim(), "Role: !GetAtt CruddurFunctionRole.Arn");
        let policies = lines[at + 1..]
            .iter()
            .take_while(|l| l.trim().is_empty() || l.starts_with("    "))
            .any(|l| l.trim().starts_with("Policies:"));
        assert!(!policies, "{function} adds SAM policies to its role");
    }
}
