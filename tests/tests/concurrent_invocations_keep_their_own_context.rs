//! Issue 16: "An end-to-end test serves N invocations at once in one process through the real
//! runtime (a loopback Runtime API that hands out concurrent `/next` responses), with handlers
//! that overlap across `.await` points, and asserts that request ids, trace ids, tenant ids,
//! added keys, buffered lines, Rollbar items and metrics of every invocation carry only that
//! invocation's values, and that nothing is lost. Run it under both tokio flavours."
//!
//! The function is `overlapping-handler` (tests/src/bin), served by `lambda_telemetry::run`
//! with four loops (`AWS_LAMBDA_MAX_CONCURRENCY=4`, as Lambda Managed Instances run it) on each
//! tokio flavour. It serves 16 orders, n = 1..=16, each event its own n; each invocation has
//! its own request id, X-Ray trace and tenant from the Runtime API, adds `order` = n, sleeps a
//! time that varies with n between two DEBUG lines, counts n in `fixture.orders` from a task it
//! spawns, and, for an odd n, logs an ERROR. The log level is INFO and lines at DEBUG are
//! buffered (`LAMBDA_TELEMETRY_LOG_BUFFER=debug`): an odd invocation's two DEBUG lines are
//! written before its ERROR, with their own timestamps and its context; an even one's never.
//!
//! `CONCURRENCY_ROUNDS=<k>` runs each flavour k times, a process each (`make test` runs 20);
//! a failure names its round.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde_json::Value;
use tests::rollbar_api::{Answer, Item, RollbarApi};
use tests::runtime_api::{Function, Invocation, RuntimeApi, function_binary};

const ORDERS: u64 = 16;
const LOOPS: &str = "4";
const ROUNDS: &str = "CONCURRENCY_ROUNDS";
const ROLLBAR_TOKEN: &str = "canary-token-5d2e";

#[test]
fn each_invocation_keeps_its_own_context_on_a_current_thread_runtime() {
    rounds("current_thread");
}

#[test]
fn each_invocation_keeps_its_own_context_on_a_multi_thread_runtime() {
    rounds("multi_thread");
}

fn rounds(flavor: &str) {
    let rounds: usize = std::env::var(ROUNDS)
        .ok()
        .map(|k| k.parse().expect("CONCURRENCY_ROUNDS is a number"))
        .unwrap_or(1);
    let binary = function_binary("overlapping-handler");
    for round in 1..=rounds {
        let problems = round_problems(&binary, flavor);
        assert!(
            problems.is_empty(),
            "{flavor}, round {round} of {rounds}: {} problems:\n{}",
            problems.len(),
            problems.join("\n")
        );
    }
}

/// What the Runtime API handed invocation n: the values its every signal must carry.
struct Order {
    n: u64,
    request_id: String,
    tenant_id: String,
    /// `xray_trace_id` on lines: the Root of `Lambda-Runtime-Trace-Id`.
    xray_trace_id: String,
    /// `trace_id` on lines: the same trace in W3C form (no parent on the event, so the
    /// invocation continues the Lambda X-Ray trace).
    trace_id: String,
}

impl Order {
    fn new(n: u64, invocation: &Invocation) -> Self {
        let root = invocation
            .trace_header
            .split(';')
            .find_map(|part| part.strip_prefix("Root="))
            .expect("a Root in the trace header");
        Self {
            n,
            request_id: invocation.request_id.clone(),
            tenant_id: invocation.tenant_id.clone().expect("tenants handed out"),
            xray_trace_id: root.to_owned(),
            trace_id: root.trim_start_matches("1-").replace('-', ""),
        }
    }

    fn is_odd(&self) -> bool {
        self.n % 2 == 1
    }

    /// Every value of this invocation that no other invocation may carry.
    fn own_values(&self) -> [&str; 4] {
        [
            &self.request_id,
            &self.tenant_id,
            &self.xray_trace_id,
            &self.trace_id,
        ]
    }
}

/// Serves the 16 orders in a fresh process on `flavor`; returns every broken rule found.
fn round_problems(binary: &std::path::PathBuf, flavor: &str) -> Vec<String> {
    let rollbar = RollbarApi::start(Answer::Status(200, None));
    let endpoint = rollbar.endpoint();
    let api = RuntimeApi::start();
    api.hand_out_tenants();
    // Each loop waits a little after posting, so that one's flush overlaps others' handlers.
    api.set_post_delay(Duration::from_millis(5));
    // Queued one at a time: the n-th invocation gets order n.
    for n in 1..=ORDERS {
        api.queue(&tests::runtime_api::order_event(n, 0), 1);
    }
    let function = Function::start(
        binary,
        &api,
        &[
            ("FIXTURE_TOKIO_FLAVOR", flavor),
            ("AWS_LAMBDA_MAX_CONCURRENCY", LOOPS),
            ("AWS_LAMBDA_LOG_LEVEL", "INFO"),
            ("LAMBDA_TELEMETRY_LOG_BUFFER", "debug"),
            ("ROLLBAR_ACCESS_TOKEN", ROLLBAR_TOKEN),
            ("ROLLBAR_ENDPOINT", &endpoint),
        ],
    );
    let mut problems = Vec::new();
    if !api.wait_for(ORDERS as usize, Duration::from_secs(60)) {
        problems.push(format!(
            "{} of {ORDERS} invocations answered; init error: {:?}; the lines:\n{}",
            api.invocations()
                .iter()
                .filter(|i| i.posted.is_some())
                .count(),
            api.init_error(),
            function.lines().join("\n")
        ));
        return problems;
    }
    if api.max_in_flight() < 2 {
        problems.push(format!(
            "the invocations did not overlap: at most {} in flight",
            api.max_in_flight()
        ));
    }
    let invocations = api.invocations();
    let orders: Vec<Order> = invocations
        .iter()
        .zip(1..)
        .map(|(invocation, n)| Order::new(n, invocation))
        .collect();
    check_answers(&invocations, &orders, &mut problems);

    let lines = function.lines();
    let mut log_lines = Vec::new();
    let mut documents = Vec::new();
    for line in &lines {
        match serde_json::from_str::<Value>(line) {
            Ok(json) if tests::emf::is_emf(line) => documents.push(json),
            Ok(json) => log_lines.push(json),
            Err(_) => problems.push(format!("a line that is not JSON: {line}")),
        }
    }
    check_log_lines(&log_lines, &orders, &mut problems);
    check_metrics(&documents, &orders, &mut problems);
    check_rollbar(&rollbar.items(), &orders, &log_lines, &mut problems);
    problems
}

/// Every order answered once, by its own handler: 500 with its n when odd, 200 when even.
fn check_answers(invocations: &[Invocation], orders: &[Order], problems: &mut Vec<String>) {
    if invocations.len() != ORDERS as usize {
        problems.push(format!(
            "{} invocations handed out, not {ORDERS}",
            invocations.len()
        ));
    }
    for (invocation, order) in invocations.iter().zip(orders) {
        let n = order.n;
        let answer: Value = serde_json::from_slice(&invocation.response).unwrap_or_default();
        let (status, body) = if order.is_odd() {
            (500, format!("order {n} failed"))
        } else {
            (200, format!("order {n} served"))
        };
        if invocation.failed || answer["statusCode"] != status || answer["body"] != body.as_str() {
            problems.push(format!(
                "order {n}: answered {} (failed: {}), not {status} {body:?}",
                String::from_utf8_lossy(&invocation.response),
                invocation.failed
            ));
        }
    }
}

/// The access line of an invocation: the crate's, with the duration.
fn is_access(line: &Value) -> bool {
    line.get("duration_ms").is_some()
}

/// A line the handler wrote (the crate's own lines of the invocation, such as its DEBUG
/// `trace parent chosen`, are not counted: buffering may hold them too).
fn is_handlers(line: &Value) -> bool {
    line["location"]
        .as_str()
        .and_then(|location| location.split(':').next())
        == Some("overlapping_handler")
}

/// What a log line is, for the sequence of an invocation's lines.
fn label(line: &Value) -> String {
    if is_access(line) {
        return "access".to_owned();
    }
    format!(
        "{} {}",
        line["level"].as_str().unwrap_or("?"),
        line["message"].as_str().unwrap_or("?")
    )
}

/// The lines an invocation writes, in order: with buffering at DEBUG and the level at INFO,
/// an odd order's held DEBUG lines come out before its ERROR, an even order's never.
fn expected_labels(order: &Order) -> Vec<String> {
    let n = order.n;
    let mut labels = vec![format!("INFO order {n} received")];
    if order.is_odd() {
        labels.push(format!("DEBUG held {n} step 1"));
        labels.push(format!("DEBUG held {n} step 2"));
        labels.push(format!("ERROR order {n} failed"));
    }
    labels.push("access".to_owned());
    labels
}

/// Every line of an invocation carries its request id, tenant and trace and no other's, and
/// from the handler's first line on its `order` key; no line outside an invocation carries
/// any; the handler's lines of each invocation are exactly its own, in order; a held line
/// keeps the time it was logged at; at INFO, DEBUG lines come out only from an odd order's
/// buffer, before its ERROR; one invocation only is the cold start, on all its lines.
fn check_log_lines(lines: &[Value], orders: &[Order], problems: &mut Vec<String>) {
    let by_id: HashMap<&str, &Order> = orders
        .iter()
        .map(|order| (order.request_id.as_str(), order))
        .collect();
    let mut written: BTreeMap<u64, Vec<&Value>> = BTreeMap::new();
    for line in lines {
        let Some(id) = line["function_request_id"].as_str() else {
            for key in ["tenant_id", "order"] {
                if line.get(key).is_some() {
                    problems.push(format!("a line outside invocations has `{key}`: {line}"));
                }
            }
            continue;
        };
        let Some(order) = by_id.get(id) else {
            problems.push(format!("a line of an unknown request id: {line}"));
            continue;
        };
        let mut expected = vec![
            ("tenant_id", Value::from(order.tenant_id.as_str())),
            ("xray_trace_id", Value::from(order.xray_trace_id.as_str())),
            ("trace_id", Value::from(order.trace_id.as_str())),
        ];
        // The crate's lines before the handler's first have no `order` yet; none has another's.
        if is_handlers(line) || is_access(line) || line.get("order").is_some() {
            expected.push(("order", Value::from(order.n)));
        }
        for (key, value) in expected {
            if line[key] != value {
                problems.push(format!(
                    "order {}: `{key}` is {}, not {value}: {line}",
                    order.n, line[key]
                ));
            }
        }
        written.entry(order.n).or_default().push(line);
    }
    let mut cold_starts = Vec::new();
    for order in orders {
        let lines = written.remove(&order.n).unwrap_or_default();
        check_debug_lines(order, &lines, problems);
        let cold: Vec<&Value> = lines.iter().map(|line| &line["cold_start"]).collect();
        if cold.iter().any(|c| **c != *cold[0]) || !cold.iter().all(|c| c.is_boolean()) {
            problems.push(format!(
                "order {}: `cold_start` differs between its lines: {cold:?}",
                order.n
            ));
        } else if cold[0] == true {
            cold_starts.push(order.n);
        }
        let handlers: Vec<&Value> = lines
            .into_iter()
            .filter(|line| is_handlers(line) || is_access(line))
            .collect();
        let labels: Vec<String> = handlers.iter().map(|line| label(line)).collect();
        let expected = expected_labels(order);
        if labels != expected {
            problems.push(format!(
                "order {}: lines {labels:?}, not {expected:?}",
                order.n
            ));
            continue;
        }
        if order.is_odd() {
            check_held_times(order, &handlers, problems);
        }
    }
    if cold_starts.len() != 1 {
        problems.push(format!(
            "the cold start is on the lines of orders {cold_starts:?}, not of one"
        ));
    }
}

/// At INFO, a DEBUG line is written only when an ERROR flushes its invocation's buffer, before
/// that ERROR: none for an even order, and an odd order's all before its ERROR line.
fn check_debug_lines(order: &Order, lines: &[&Value], problems: &mut Vec<String>) {
    let error = lines.iter().position(|line| line["level"] == "ERROR");
    for (index, line) in lines.iter().enumerate() {
        if line["level"] == "DEBUG" && error.is_none_or(|error| index > error) {
            problems.push(format!(
                "order {}: a DEBUG line not flushed by an ERROR before it: {line}",
                order.n
            ));
        }
    }
}

/// The held lines keep their own timestamps: step 2 is logged at least the handler's sleep
/// after step 1 (a line stamped when flushed would have about the ERROR's time), and none
/// after the ERROR.
fn check_held_times(order: &Order, lines: &[&Value], problems: &mut Vec<String>) {
    let times: Vec<Option<f64>> = lines
        .iter()
        .map(|line| line["timestamp"].as_str().and_then(epoch_millis))
        .collect();
    let [Some(received), Some(step1), Some(step2), Some(error), _] = times[..] else {
        problems.push(format!(
            "order {}: unreadable timestamps: {lines:?}",
            order.n
        ));
        return;
    };
    let slept = (2 + (order.n * 7) % 11) as f64;
    // Timestamps have millisecond resolution at least; a millisecond of slack for rounding.
    if !(received <= step1 && step2 - step1 >= slept - 1.0 && step2 <= error) {
        problems.push(format!(
            "order {}: the held lines are not at their own times (slept {slept} ms between): \
             received {received}, step 1 {step1}, step 2 {step2}, error {error}",
            order.n
        ));
    }
}

/// Milliseconds since the epoch of an RFC 3339 UTC timestamp (`2026-11-30T12:00:00.123456Z`).
fn epoch_millis(timestamp: &str) -> Option<f64> {
    let (date, time) = timestamp.strip_suffix('Z')?.split_once('T')?;
    let mut date = date.split('-').map(|part| part.parse::<i64>().ok());
    let (year, month, day) = (date.next()??, date.next()??, date.next()??);
    let mut time = time.split(':');
    let (hour, minute) = (
        time.next()?.parse::<i64>().ok()?,
        time.next()?.parse::<i64>().ok()?,
    );
    let seconds: f64 = time.next()?.parse().ok()?;
    // Days since 1970-01-01 (Howard Hinnant's days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + hour) * 60 + minute) as f64 * 60_000.0 + seconds * 1000.0)
}

/// Each invocation publishes its own EMF document with `fixture.orders` = n and its ids and
/// tenant; no
/// document names ids of another, and every n is counted once (a count recorded outside its
/// invocation would land in a document without a request id); every invocation is counted,
/// the cold start once.
fn check_metrics(documents: &[Value], orders: &[Order], problems: &mut Vec<String>) {
    let by_id: HashMap<&str, &Order> = orders
        .iter()
        .map(|order| (order.request_id.as_str(), order))
        .collect();
    let mut counted: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
    let (mut total, mut invocations, mut cold_starts) = (0.0, 0.0, 0.0);
    for document in documents {
        if let Err(found) = tests::emf::check(&document.to_string()) {
            problems.push(format!("an invalid EMF document: {found:?}: {document}"));
        }
        let value = document.get("fixture.orders").map(metric_sum);
        total += value.unwrap_or_default();
        invocations += document.get("faas.invocations").map_or(0.0, metric_sum);
        cold_starts += document.get("faas.coldstarts").map_or(0.0, metric_sum);
        let Some(id) = document["function_request_id"].as_str() else {
            continue;
        };
        let Some(order) = by_id.get(id) else {
            problems.push(format!(
                "an EMF document of an unknown request id: {document}"
            ));
            continue;
        };
        for key in ["xray_trace_id", "trace_id", "tenant_id"] {
            let own = match key {
                "trace_id" => &order.trace_id,
                "tenant_id" => &order.tenant_id,
                _ => &order.xray_trace_id,
            };
            if document[key] != own.as_str() {
                problems.push(format!(
                    "order {}: EMF `{key}` is {}, not {own}: {document}",
                    order.n, document[key]
                ));
            }
        }
        if let Some(value) = value {
            counted.entry(order.n).or_default().push(value);
        }
    }
    for order in orders {
        let values = counted.remove(&order.n).unwrap_or_default();
        if values != [order.n as f64] {
            problems.push(format!(
                "order {}: fixture.orders in its EMF documents is {values:?}, not [{}]",
                order.n, order.n
            ));
        }
    }
    let all: u64 = orders.iter().map(|order| order.n).sum();
    let sums = [
        ("fixture.orders", total, all as f64),
        ("faas.invocations", invocations, ORDERS as f64),
        ("faas.coldstarts", cold_starts, 1.0),
    ];
    for (metric, sum, expected) in sums {
        if sum != expected {
            problems.push(format!(
                "{metric} sums to {sum} over all EMF documents, not {expected}"
            ));
        }
    }
}

/// A metric's target member: a number or an array of numbers.
fn metric_sum(value: &Value) -> f64 {
    match value {
        Value::Array(values) => values.iter().filter_map(Value::as_f64).sum(),
        other => other.as_f64().unwrap_or(f64::NAN),
    }
}

/// One Rollbar item per odd order, at level error, with its message, request id, tenant,
/// added key and trace ids, named by its ERROR line (`rollbar_uuid`); no value in an item is
/// another invocation's.
fn check_rollbar(items: &[Item], orders: &[Order], lines: &[Value], problems: &mut Vec<String>) {
    let by_id: HashMap<&str, &Order> = orders
        .iter()
        .map(|order| (order.request_id.as_str(), order))
        .collect();
    let mut reported: BTreeMap<u64, usize> = BTreeMap::new();
    for item in items {
        let data = &item.json["data"];
        let custom = &data["custom"];
        let Some(order) = custom["function_request_id"]
            .as_str()
            .and_then(|id| by_id.get(id))
        else {
            problems.push(format!(
                "a Rollbar item of no known invocation: {}",
                item.raw
            ));
            continue;
        };
        *reported.entry(order.n).or_default() += 1;
        let named = lines.iter().any(|line| {
            line["level"] == "ERROR"
                && line["function_request_id"] == order.request_id.as_str()
                && line["rollbar_uuid"] == data["uuid"]
        });
        if !named {
            problems.push(format!(
                "order {}: no ERROR line of its own names its Rollbar item {}",
                order.n, data["uuid"]
            ));
        }
        let message = format!("order {} failed", order.n);
        let expected = [
            (&data["level"], Value::from("error")),
            (&data["body"]["message"]["body"], Value::from(message)),
            (&custom["tenant_id"], Value::from(order.tenant_id.as_str())),
            (&custom["order"], Value::from(order.n)),
            (&custom["trace_id"], Value::from(order.trace_id.as_str())),
            (
                &custom["xray_trace_id"],
                Value::from(order.xray_trace_id.as_str()),
            ),
        ];
        for (found, value) in expected {
            if *found != value {
                problems.push(format!(
                    "order {}: a Rollbar item has {found} where {value} belongs: {}",
                    order.n, item.raw
                ));
            }
        }
        let others: Vec<&str> = orders
            .iter()
            .filter(|other| other.n != order.n)
            .flat_map(Order::own_values)
            .collect();
        let mut leaves = Vec::new();
        string_leaves(&item.json, &mut leaves);
        for leaf in leaves {
            if others.contains(&leaf) {
                problems.push(format!(
                    "order {}: its Rollbar item carries {leaf:?} of another invocation: {}",
                    order.n, item.raw
                ));
            }
        }
    }
    for order in orders {
        let count = reported.get(&order.n).copied().unwrap_or_default();
        let expected = usize::from(order.is_odd());
        if count != expected {
            problems.push(format!(
                "order {}: {count} Rollbar items, not {expected}",
                order.n
            ));
        }
    }
}

/// Every string value in `json`.
fn string_leaves<'a>(json: &'a Value, leaves: &mut Vec<&'a str>) {
    match json {
        Value::String(text) => leaves.push(text),
        Value::Array(values) => values.iter().for_each(|v| string_leaves(v, leaves)),
        Value::Object(members) => members.values().for_each(|v| string_leaves(v, leaves)),
        _ => {}
    }
}
