//! Lambda's tenant isolation mode hands each invocation its tenant in
//! `Lambda-Runtime-Aws-Tenant-Id`. Through the real function on a loopback Runtime API, three
//! invocations at once (`AWS_LAMBDA_MAX_CONCURRENCY=3`), each with a tenant of its own: every
//! line of an invocation says its tenant (`tenant_id`), never another's, without a line of the
//! handler's code; lines outside invocations say none.

use std::collections::HashMap;
use std::time::Duration;

use tests::runtime_api::{Function, RuntimeApi, function_binary};

#[test]
fn each_tenant_is_on_every_line_of_its_invocation() {
    let binary = function_binary("home-activities");
    let event = std::fs::read(tests::workspace_root().join("events/home.json")).unwrap();
    let api = RuntimeApi::start();
    api.hand_out_tenants();
    // Answers' acknowledgements held, so the invocations overlap.
    api.set_post_delay(Duration::from_millis(200));
    api.queue(&event, 9);
    let function = Function::start(&binary, &api, &[("AWS_LAMBDA_MAX_CONCURRENCY", "3")]);
    assert!(
        api.wait_for(9, Duration::from_secs(60)),
        "{:#?}",
        function.lines()
    );
    // The n-th invocation handed out is `tenant-<n>`.
    let tenants: HashMap<String, String> = api
        .invocations()
        .iter()
        .enumerate()
        .map(|(i, invocation)| (invocation.request_id.clone(), format!("tenant-{}", i + 1)))
        .collect();
    assert!(api.max_in_flight() > 1, "the invocations overlapped");
    let lines = function.json_lines();
    let mut seen = 0;
    for line in lines.iter().filter(|l| !tests::emf::is_emf(&l.to_string())) {
        match line["function_request_id"].as_str() {
            Some(id) => {
                assert_eq!(
                    line["tenant_id"].as_str(),
                    Some(tenants[id].as_str()),
                    "{line}"
                );
                seen += 1;
            }
            None => assert!(line.get("tenant_id").is_none(), "{line}"),
        }
    }
    assert!(seen >= 18, "two lines per invocation at least: {lines:#?}");
}
