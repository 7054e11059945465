//! An item's shape where it is more than a JSON object: frames from a panic's location and
//! std's backtrace, and the cuts that keep it within Rollbar's size limit.

use serde_json::{Value, json};

use crate::constants::log_keys;

/// The largest item sent, serialized: Rollbar refuses larger ones (HTTP 413), and pyrollbar
/// truncates to this size.
pub(super) const MAX_ITEM_BYTES: usize = 512 * 1024;
/// Frames kept at each end of a trace that is too long: the failing frames and the entry point.
const KEPT_FRAMES: usize = 10;
/// What an item keeps of `custom` when even that must go: the keys that link it to its trace
/// and its invocation.
const LINK_KEYS: [&str; 5] = [
    log_keys::TRACE_ID,
    "trace_link",
    log_keys::XRAY_TRACE_ID,
    log_keys::FUNCTION_REQUEST_ID,
    log_keys::FUNCTION_NAME,
];

/// Shrinks `item` (`{"data": ...}`) until its JSON is at most `max` bytes, in pyrollbar's
/// order: long strings first (to 1024, 512, then 256 characters), then the middle of the
/// trace's frames, then the request's headers. Should that not do, the rest of the request and
/// every custom key but the trace's go, then strings shrink further. The error's class and the
/// start and end of its message, and the trace id, are kept: an item that still says what
/// failed, and where to look, beats an item Rollbar refuses.
pub(super) fn within_size(item: &mut Value, max: usize) {
    let fits = |item: &Value| serde_json::to_vec(item).is_ok_and(|json| json.len() <= max);
    if fits(item) {
        return;
    }
    for limit in [1024, 512, 256] {
        shorten_strings(item, limit);
        if fits(item) {
            return;
        }
    }
    if let Some(frames) = item
        .pointer_mut("/data/body/trace/frames")
        .and_then(Value::as_array_mut)
        .filter(|frames| frames.len() > 2 * KEPT_FRAMES)
    {
        let len = frames.len();
        frames.drain(KEPT_FRAMES..len - KEPT_FRAMES);
        if fits(item) {
            return;
        }
    }
    if let Some(headers) = item.pointer_mut("/data/request/headers") {
        *headers = json!({});
        if fits(item) {
            return;
        }
    }
    if let Some(data) = item.get_mut("data").and_then(Value::as_object_mut) {
        data.remove("request");
        if let Some(Value::Object(custom)) = data.get_mut("custom") {
            custom.retain(|key, _| LINK_KEYS.contains(&key.as_str()));
        }
    }
    for limit in [128, 64, 16] {
        if fits(item) {
            return;
        }
        shorten_strings(item, limit);
    }
}

/// Every string in `value` (keys too) longer than `limit` characters becomes its first and last
/// `limit / 2` characters with `...` between, as pyrollbar's shortener cuts them.
fn shorten_strings(value: &mut Value, limit: usize) {
    fn shorten(text: &str, limit: usize) -> Option<String> {
        let chars = text.chars().count();
        (chars > limit).then(|| {
            let left = limit.saturating_sub(3) / 2;
            let right = limit.saturating_sub(3) - left;
            let head: String = text.chars().take(left).collect();
            let tail: String = text.chars().skip(chars - right).collect();
            format!("{head}...{tail}")
        })
    }
    match value {
        Value::String(text) => {
            if let Some(short) = shorten(text, limit) {
                *text = short;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| shorten_strings(v, limit)),
        Value::Object(map) => {
            let long_keys: Vec<String> = map
                .keys()
                .filter(|k| k.chars().count() > limit)
                .cloned()
                .collect();
            for key in long_keys {
                if let (Some(value), Some(short)) = (map.remove(&key), shorten(&key, limit)) {
                    map.insert(short, value);
                }
            }
            map.values_mut().for_each(|v| shorten_strings(v, limit));
        }
        _ => {}
    }
}

/// The current span's OpenTelemetry trace id, for items made outside a log event.
pub(super) fn current_trace_id() -> Option<String> {
    use opentelemetry::trace::TraceContextExt as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let context = tracing::Span::current().context();
    let span = context.span();
    let span = span.span_context();
    span.is_valid().then(|| span.trace_id().to_string())
}

/// `src/handler.rs:12:5` as a Rollbar frame.
pub(super) fn frame_at(location: &str) -> Value {
    let mut parts = location.rsplitn(3, ':');
    let (column, line, file) = (parts.next(), parts.next(), parts.next());
    match (file, line.and_then(|l| l.parse::<u32>().ok())) {
        (Some(file), Some(line)) => json!({
            "filename": file,
            "lineno": line,
            "colno": column.and_then(|c| c.parse::<u32>().ok()),
        }),
        _ => json!({ "filename": location }),
    }
}

/// std's backtrace text (`  3: crate::f\n             at src/f.rs:4:5`) as frames, newest first.
pub(super) fn backtrace_frames(backtrace: &str) -> Vec<Value> {
    let mut frames = Vec::new();
    let mut method: Option<&str> = None;
    for line in backtrace.lines().map(str::trim) {
        if let Some(location) = line.strip_prefix("at ") {
            let mut frame = frame_at(location);
            frame["method"] = method.take().map_or(Value::Null, Value::from);
            frames.push(frame);
        } else if let Some((_, name)) = line.split_once(": ")
            && let Some(previous) = method.replace(name)
        {
            frames.push(json!({ "filename": "", "method": previous }));
        }
    }
    frames
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    /// An item shaped as `enqueue` makes it for a failed request: an error with `frames`
    /// frames, `headers` request headers of `header_bytes` each, and the trace id.
    fn large_item(frames: usize, headers: usize, header_bytes: usize) -> Value {
        let frames: Vec<Value> = (0..frames)
            .map(|i| json!({ "filename": format!("src/f{i}.rs"), "lineno": i, "method": "app::f" }))
            .collect();
        let headers: Map<String, Value> = (0..headers)
            .map(|i| {
                (
                    format!("x-large-{i}"),
                    Value::from("v".repeat(header_bytes)),
                )
            })
            .collect();
        json!({ "data": {
            "environment": "production",
            "level": "error",
            "uuid": "9c1f0a52-5f6b-4b35-9d0c-000000000001",
            "body": { "trace": {
                "frames": frames,
                "exception": {
                    "class": "Error",
                    "message": "database unreachable: connection refused",
                    "description": "handler failed",
                },
            }},
            "request": {
                "url": "https://api.example/api/activities/home",
                "method": "GET",
                "headers": headers,
                "query_string": "",
            },
            "custom": {
                "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
                "function_request_id": "req-1",
                "handle": "andrewbrown",
            },
        }})
    }

    fn serialized_len(item: &Value) -> usize {
        serde_json::to_vec(item).unwrap().len()
    }

    /// Rollbar's API refuses an item over its size limit (pyrollbar truncates to 512 KiB):
    /// the error would be lost. Whatever makes an item large, it is cut to fit and still says
    /// what failed and in which trace.
    #[test]
    fn a_large_item_is_cut_to_what_rollbar_accepts_and_keeps_the_error_and_the_trace() {
        for (what, mut item) in [
            // ~1 MB of headers: many, and few but long.
            ("many headers", large_item(5, 4_000, 250)),
            ("long headers", large_item(5, 100, 10_000)),
            ("deep trace", large_item(50_000, 3, 10)),
            ("everything", large_item(20_000, 4_000, 300)),
        ] {
            assert!(serialized_len(&item) > MAX_ITEM_BYTES, "{what}: not large");
            within_size(&mut item, MAX_ITEM_BYTES);
            assert!(
                serialized_len(&item) <= MAX_ITEM_BYTES,
                "{what}: {} bytes",
                serialized_len(&item)
            );
            let data = &item["data"];
            let exception = &data["body"]["trace"]["exception"];
            assert_eq!(exception["class"], "Error", "{what}");
            assert_eq!(
                exception["message"], "database unreachable: connection refused",
                "{what}"
            );
            assert_eq!(
                data["custom"]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736",
                "{what}"
            );
            assert_eq!(data["uuid"], "9c1f0a52-5f6b-4b35-9d0c-000000000001");
        }
        // A small item is left whole.
        let mut small = large_item(3, 3, 10);
        let before = small.clone();
        within_size(&mut small, MAX_ITEM_BYTES);
        assert_eq!(small, before);
    }

    #[test]
    fn the_order_is_strings_then_frames_then_headers() {
        // Long strings alone: shortening them is enough, the frames and headers stay.
        let mut item = large_item(30, 10, 100_000);
        within_size(&mut item, MAX_ITEM_BYTES);
        assert_eq!(
            item["data"]["body"]["trace"]["frames"]
                .as_array()
                .unwrap()
                .len(),
            30
        );
        let header = item["data"]["request"]["headers"]["x-large-0"]
            .as_str()
            .unwrap();
        assert_eq!(header.chars().count(), 1024);
        assert!(header.contains("..."), "{header}");
        // Frames next: the first and last ten stay, the headers too.
        let mut item = large_item(50_000, 10, 10);
        within_size(&mut item, MAX_ITEM_BYTES);
        let frames = item["data"]["body"]["trace"]["frames"].as_array().unwrap();
        assert_eq!(frames.len(), 2 * KEPT_FRAMES);
        assert_eq!(frames[0]["lineno"], 0);
        assert_eq!(frames[2 * KEPT_FRAMES - 1]["lineno"], 49_999);
        assert_eq!(
            item["data"]["request"]["headers"]
                .as_object()
                .unwrap()
                .len(),
            10
        );
    }

    #[test]
    fn panic_locations_and_backtraces_become_frames() {
        assert_eq!(
            frame_at("functions/x/src/handler.rs:12:5"),
            json!({"filename": "functions/x/src/handler.rs", "lineno": 12, "colno": 5})
        );
        let frames = backtrace_frames(
            "   0: app::handler\n             at ./src/handler.rs:9:5\n   1: std::rt::lang_start\n",
        );
        assert_eq!(frames[0]["method"], "app::handler");
        assert_eq!(frames[0]["lineno"], 9);
        assert_eq!(
            frames.len(),
            1,
            "a trailing frame without location is dropped"
        );
    }
}
