//! A line longer than CloudWatch Logs takes, as lines it takes.

use serde_json::Value;

use crate::config::LogFormat;
use crate::constants::log_keys;

/// Keys every piece of a split line keeps, so that each still says when, how bad, and for
/// which request and trace.
const PIECE_KEYS: [&str; 11] = [
    log_keys::TIMESTAMP,
    log_keys::LEVEL,
    log_keys::SERVICE,
    log_keys::FUNCTION_NAME,
    log_keys::FUNCTION_ARN,
    log_keys::FUNCTION_REQUEST_ID,
    log_keys::XRAY_TRACE_ID,
    log_keys::CORRELATION_ID,
    log_keys::TRACE_ID,
    log_keys::SPAN_ID,
    log_keys::COLD_START,
];
/// The beginning of the message each piece shows.
const PIECE_MESSAGE_CHARS: usize = 1024;

/// A line longer than `max` bytes as lines of at most `max` bytes.
///
/// JSON: nothing is lost. Each piece is a JSON object with the line's ids
/// ([`PIECE_KEYS`]), the start of its message, `"truncated": true`, `part` and `parts`, and in
/// `split_line` the next slice of the whole original line: joining the `split_line` of parts
/// 1..=parts gives the line back byte for byte. Text (for people): cut, with a marker.
pub(crate) fn within_limit(line: &[u8], format: LogFormat, max: usize) -> Vec<Vec<u8>> {
    let text = String::from_utf8_lossy(line);
    let parsed = match format {
        LogFormat::Json => serde_json::from_str::<serde_json::Map<String, Value>>(&text).ok(),
        LogFormat::Text => None,
    };
    let Some(original) = parsed else {
        const MARK: &str = " …[truncated]";
        let mut end = max.saturating_sub(MARK.len()).min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        return vec![format!("{}{MARK}", &text[..end]).into_bytes()];
    };
    let mut head = serde_json::Map::new();
    for key in PIECE_KEYS {
        if let Some(value) = original
            .get(key)
            .filter(|v| !v.is_string() || v.as_str().is_some_and(|s| s.len() < 256))
        {
            head.insert(key.to_owned(), value.clone());
        }
    }
    let message = original
        .get(log_keys::MESSAGE)
        .and_then(Value::as_str)
        .unwrap_or_default();
    let shown: String = message.chars().take(PIECE_MESSAGE_CHARS).collect();
    head.insert(log_keys::MESSAGE.into(), Value::from(shown));
    head.insert("truncated".into(), Value::Bool(true));
    head.insert("part".into(), Value::from(999_999));
    head.insert("parts".into(), Value::from(999_999));
    head.insert("split_line".into(), Value::from(""));
    // What a piece costs besides its slice of the line, with room for any part number.
    let overhead = serde_json::to_vec(&head).map_or(max, |v| v.len());
    let room = max.saturating_sub(overhead).max(64);

    let mut slices = Vec::new();
    let mut start = 0;
    let mut escaped = 0;
    for (at, c) in text.char_indices() {
        let cost = match c {
            '"' | '\\' => 2,
            c if (c as u32) < 0x20 => 6,
            c => c.len_utf8(),
        };
        if escaped + cost > room {
            slices.push(&text[start..at]);
            start = at;
            escaped = 0;
        }
        escaped += cost;
    }
    slices.push(&text[start..]);

    let parts = slices.len();
    slices
        .into_iter()
        .enumerate()
        .map(|(i, slice)| {
            let mut piece = head.clone();
            if i > 0 {
                piece.insert(log_keys::MESSAGE.into(), Value::from(""));
            }
            piece.insert("part".into(), Value::from(i + 1));
            piece.insert("parts".into(), Value::from(parts));
            piece.insert("split_line".into(), Value::from(slice));
            serde_json::to_vec(&piece).unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_limit_still_splits_into_valid_pieces_and_text_is_cut_with_a_mark() {
        let line = serde_json::json!({
            "timestamp": "2026-11-21T00:00:00.000Z", "level": "ERROR", "message": "x".repeat(5_000),
            "trace_id": "0af7651916cd43dd8448eb211c80319c", "extra": "\"".repeat(3_000),
        })
        .to_string();
        let pieces = within_limit(line.as_bytes(), LogFormat::Json, 2_000);
        let mut joined = String::new();
        for piece in &pieces {
            assert!(piece.len() <= 2_000, "{}", piece.len());
            let piece: Value = serde_json::from_slice(piece).unwrap();
            assert_eq!(piece["trace_id"], "0af7651916cd43dd8448eb211c80319c");
            joined.push_str(piece["split_line"].as_str().unwrap());
        }
        assert_eq!(joined, line);

        let text = format!("2026-11-21T00:00:00.000Z INFO {}", "é".repeat(2_000));
        let [cut] = within_limit(text.as_bytes(), LogFormat::Text, 1_001)
            .try_into()
            .unwrap();
        let cut = String::from_utf8(cut).unwrap();
        assert!(cut.len() <= 1_001 && cut.ends_with("[truncated]"), "{cut}");
    }
}
