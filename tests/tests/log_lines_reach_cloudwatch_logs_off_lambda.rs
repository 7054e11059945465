//! Off Lambda, with `CLOUDWATCH_LOG_GROUP` set, every line a function prints also reaches that
//! CloudWatch Logs group (moto on loopback), byte for byte and in order, in a stream the crate
//! creates; when CloudWatch goes away the function keeps serving at full speed, says so once,
//! and counts at shutdown the lines that never left. The AWS secret key reaches no output.

use std::time::{Duration, Instant};

use serde_json::Value;
use tests::LocalApi;
use tests::moto::Moto;

const GROUP: &str = "cruddur";
const SECRET_KEY: &str = "canary-aws-secret-6c2e";

fn printed_by_home(api: &LocalApi) -> Vec<String> {
    api.function_lines()
        .into_iter()
        // Only home-activities is called; its metrics (EMF) lines are shipped with its log
        // lines, in the order they were printed.
        .filter(|l| {
            tests::emf::is_emf(l)
                || serde_json::from_str::<Value>(l)
                    .is_ok_and(|l| l["function_name"] == "home-activities")
        })
        .collect()
}

#[test]
fn log_lines_reach_cloudwatch_logs_off_lambda() {
    let mut moto = Moto::start(&[]);
    let api = LocalApi::start(&[
        ("CLOUDWATCH_LOG_GROUP", GROUP),
        ("AWS_ENDPOINT_URL", &moto.endpoint()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
        ("LAMBDA_TELEMETRY_FLUSH_BUDGET_MS", "500"),
    ]);
    for _ in 0..3 {
        assert_eq!(api.get("/api/activities/home", &[]).status, 200);
    }

    // Everything printed so far was shipped in the flushes after the responses.
    let deadline = Instant::now() + Duration::from_secs(20);
    let (printed, shipped) = loop {
        let printed = printed_by_home(&api);
        let streams = moto.streams(GROUP, "home-activities/");
        let shipped = match streams.as_slice() {
            [stream] => moto.messages(GROUP, stream),
            _ => Vec::new(),
        };
        if shipped.len() >= printed.len() || Instant::now() > deadline {
            break (printed, shipped);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(printed.len() >= 4, "{printed:#?}");
    assert_eq!(
        shipped[..printed.len()],
        printed[..],
        "shipped: {shipped:#?}"
    );
    assert!(
        printed
            .iter()
            .any(|l| l.contains("shipping log lines to CloudWatch Logs group cruddur"))
    );

    // CloudWatch goes away: requests stay fast, one WARN says it.
    moto.stop();
    for _ in 0..3 {
        let started = Instant::now();
        assert_eq!(api.get("/api/activities/home", &[]).status, 200);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }
    api.terminate_function("home-activities");
    let deadline = Instant::now() + Duration::from_secs(15);
    let lines: Vec<Value> = loop {
        let lines: Vec<Value> = printed_by_home(&api)
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        if lines
            .iter()
            .any(|l| l["message"] == "log lines never reached CloudWatch Logs")
            || Instant::now() > deadline
        {
            break lines;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let warnings: Vec<&Value> = lines
        .iter()
        .filter(|l| {
            l["message"] == "cannot reach CloudWatch Logs; lines stay queued while there is room"
        })
        .collect();
    assert_eq!(warnings.len(), 1, "{lines:#?}");
    let lost = lines
        .iter()
        .find(|l| l["message"] == "log lines never reached CloudWatch Logs")
        .unwrap_or_else(|| panic!("no count of the lost lines: {lines:#?}"));
    assert_eq!(lost["level"], "WARN");
    assert!(
        lost["lost_lines"].as_u64().is_some_and(|n| n >= 3),
        "{lost}"
    );

    for line in api.function_lines() {
        assert!(!line.contains(SECRET_KEY), "{line}");
    }
}
