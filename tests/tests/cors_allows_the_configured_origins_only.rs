//! CORS is answered by the functions (the emulator's own CORS is off), as in production.

use tests::{FRONTEND_ORIGIN, LocalApi};

#[test]
fn cors_allows_the_configured_origins_only() {
    let api = LocalApi::start(&[]);
    let preflight_headers = |origin| {
        [
            ("Origin", origin),
            ("Access-Control-Request-Method", "GET"),
            (
                "Access-Control-Request-Headers",
                "traceparent,tracestate,content-type,authorization",
            ),
        ]
    };

    for path in [
        "/api/activities/home",
        "/api/activities/notifications",
        "/api/activities/@worf",
        "/rollbar/test",
    ] {
        let preflight = api.request("OPTIONS", path, &preflight_headers(FRONTEND_ORIGIN));
        assert!(preflight.status < 300, "{path}: {preflight:?}");
        assert_eq!(
            preflight.header("access-control-allow-origin"),
            Some(FRONTEND_ORIGIN),
            "{path}"
        );
        let allowed = preflight
            .header("access-control-allow-headers")
            .unwrap_or_default();
        for header in [
            "content-type",
            "if-modified-since",
            "traceparent",
            "tracestate",
            "authorization",
        ] {
            assert!(
                allowed.contains(header),
                "{path}: {header} not allowed in {allowed:?}"
            );
        }
        let methods = preflight
            .header("access-control-allow-methods")
            .unwrap_or_default();
        for method in ["OPTIONS", "GET", "HEAD"] {
            assert!(
                methods.contains(method),
                "{path}: {method} not in {methods:?}"
            );
        }
        // Every route answers POST 405: a preflight must not promise it.
        assert!(!methods.contains("POST"), "{path}: {methods:?}");

        let get = api.get(path, &[("Origin", FRONTEND_ORIGIN)]);
        assert_eq!(
            get.header("access-control-allow-origin"),
            Some(FRONTEND_ORIGIN),
            "{path}"
        );
        assert_eq!(
            get.header("access-control-expose-headers"),
            Some("location,link,traceresponse,x-amzn-trace-id"),
            "{path}"
        );
        // What is exposed for the trace is there to read.
        for header in ["traceresponse", "x-amzn-trace-id"] {
            assert!(get.header(header).is_some(), "{path}: no {header}");
        }
        assert_eq!(
            get.header("access-control-allow-credentials"),
            None,
            "{path}"
        );

        let foreign = api.get(path, &[("Origin", "https://attacker.example")]);
        assert_eq!(
            foreign.header("access-control-allow-origin"),
            None,
            "{path}"
        );
        let foreign = api.request(
            "OPTIONS",
            path,
            &preflight_headers("https://attacker.example"),
        );
        assert_eq!(
            foreign.header("access-control-allow-origin"),
            None,
            "{path}"
        );
    }

    // The back end's own origin is allowed too (BACKEND_URL).
    let backend = api.url("");
    let own = api.get("/api/activities/home", &[("Origin", backend.as_str())]);
    assert_eq!(
        own.header("access-control-allow-origin"),
        Some(backend.as_str())
    );
}
