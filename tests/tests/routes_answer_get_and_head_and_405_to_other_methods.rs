//! Every route reads: GET and HEAD are served, any other method is 405
//! `["method_not_allowed"]` with `Allow` (README; RFC 9110: a 405 "MUST generate an Allow
//! header field ... containing a list of the target resource's currently supported
//! methods"), and a preflight allows exactly those methods, no POST. Deployed the same:
//! template.yaml hands every method of a route to its function (`Method: any`) and its
//! preflight's `AllowMethods` is the list the functions' preflight answers.

use std::collections::BTreeSet;

use tests::{FRONTEND_ORIGIN, LocalApi, workspace_root};

const ROUTES: [&str; 4] = [
    "/api/activities/home",
    "/api/activities/notifications",
    "/api/activities/@worf",
    "/rollbar/test",
];

fn methods(list: &str) -> BTreeSet<String> {
    list.split(',').map(|m| m.trim().to_owned()).collect()
}

#[test]
fn routes_answer_get_and_head_and_405_to_other_methods() {
    let template = std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap();
    let route_methods: Vec<&str> = template
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Method: "))
        .collect();
    assert_eq!(route_methods, ["any"; 4], "every route takes every method");
    let deployed_preflight = template
        .lines()
        .find_map(|l| l.trim().strip_prefix("AllowMethods: "))
        .expect("the API's Cors has AllowMethods")
        .trim_matches('"')
        .trim_matches('\'');

    let api = LocalApi::start(&[]);
    for path in ROUTES {
        let head = api.request("HEAD", path, &[]);
        assert_eq!((head.status, head.body.as_str()), (200, ""), "HEAD {path}");

        let preflight = api.request(
            "OPTIONS",
            path,
            &[
                ("Origin", FRONTEND_ORIGIN),
                ("Access-Control-Request-Method", "POST"),
            ],
        );
        let allowed = preflight
            .header("access-control-allow-methods")
            .unwrap_or_else(|| panic!("{path}: {preflight:?}"));
        assert_eq!(allowed, deployed_preflight, "{path}");
        assert_eq!(methods(allowed), methods("GET,HEAD,OPTIONS"), "{path}");

        for method in ["POST", "PUT", "PATCH", "DELETE"] {
            let reply = api.request(method, path, &[("Origin", FRONTEND_ORIGIN)]);
            let what = format!("{method} {path}: {reply:?}");
            assert_eq!(reply.status, 405, "{what}");
            assert_eq!(
                reply.json(),
                serde_json::json!(["method_not_allowed"]),
                "{what}"
            );
            let allow = reply.header("allow").unwrap_or_else(|| panic!("{what}"));
            assert_eq!(methods(allow), methods(allowed), "{what}");
            // Readable by the front end, like every answer of the API.
            assert_eq!(
                reply.header("access-control-allow-origin"),
                Some(FRONTEND_ORIGIN),
                "{what}"
            );
        }
    }
}
