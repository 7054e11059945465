//! Metrics are masked once, in the flush, before any export (EMF, OTLP, console) sees them.

use metrics::{Key, Label};
use serde_json::Value as Json;

use super::{is_secret_name, redact_owned, redact_text};
use crate::constants::REDACTED;
use crate::metrics::Recorded;

/// The group with every secret masked, in place: the value of a dimension, a label or a
/// metadata entry whose name is secret (`token`, `authorization`, ...), and by
/// [`redact_text`] every other string value (a URL with a token in its query, a bearer
/// token). Names are the handler's code and stay. Nothing is copied when nothing is masked.
pub(crate) fn redact_metrics(group: &mut Recorded) {
    for (name, value) in &mut group.dimensions {
        redact_pair(name, value);
    }
    for series in &mut group.series {
        if series.key.labels().any(|l| needs_mask(l.key(), l.value())) {
            let labels: Vec<Label> = series
                .key
                .labels()
                .map(|label| {
                    let mut value = label.value().to_owned();
                    redact_pair(label.key(), &mut value);
                    Label::new(label.key().to_owned(), value)
                })
                .collect();
            series.key = Key::from_parts(series.key.name().to_owned(), labels);
        }
    }
    for (key, value) in &mut group.metadata {
        if is_secret_name(key) {
            *value = Json::String(REDACTED.to_owned());
        } else {
            redact_json(value);
        }
    }
}

fn needs_mask(name: &str, value: &str) -> bool {
    is_secret_name(name) || matches!(redact_text(value), std::borrow::Cow::Owned(_))
}

fn redact_pair(name: &str, value: &mut String) {
    if is_secret_name(name) {
        REDACTED.clone_into(value);
    } else if let std::borrow::Cow::Owned(masked) = redact_text(value) {
        *value = masked;
    }
}

/// Every string in `value`, and every value under a secret name in its objects.
pub(crate) fn redact_json(value: &mut Json) {
    match value {
        Json::String(text) => *text = redact_owned(std::mem::take(text)),
        Json::Array(items) => items.iter_mut().for_each(redact_json),
        Json::Object(map) => {
            for (key, item) in map.iter_mut() {
                if is_secret_name(key) {
                    *item = Json::String(REDACTED.to_owned());
                } else {
                    redact_json(item);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Series, Value};

    /// "A secret never reaches a metric": under a secret-looking name a value is masked
    /// whatever it is; under any other name a value that is itself a credential (a bearer
    /// token, a URL with `token=`) is masked too. Names and plain values are kept.
    #[test]
    fn secret_dimensions_labels_and_metadata_are_masked_before_any_export() {
        let mut group = Recorded::builtin(
            vec![Series {
                key: Key::from_parts(
                    "app.calls",
                    vec![
                        Label::new("api_key", "k-123-x9"),
                        Label::new("feed", "home"),
                        Label::new("next", "https://h.example/p?token=tok-x9"),
                    ],
                ),
                value: Value::Counter(1),
            }],
            vec![
                ("session_id".into(), "s-x9".into()),
                ("tenant".into(), "acme".into()),
            ],
            vec![vec!["tenant".into()]],
            None,
        );
        group.metadata.insert("order_id".into(), "4711".into());
        group
            .metadata
            .insert("Authorization".into(), "Bearer abc.def.x9".into());
        group.metadata.insert(
            "request".into(),
            serde_json::json!({"password": "p-x9", "note": "Bearer abcdefghij.x9"}),
        );
        redact_metrics(&mut group);
        let text = format!("{group:?}");
        assert!(!text.contains("x9"), "{text}");
        assert!(text.contains("acme") && text.contains("home") && text.contains("4711"));
        assert!(text.contains("api_key") && text.contains("session_id"));
    }
}
