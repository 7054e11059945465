//! Keys a handler adds to every line of its invocation: Powertools' `append_keys` and
//! `remove_keys`, per invocation.
//!
//! The keys live in the invocation's task-local scope, so they are kept across `.await`
//! points and in tasks started with [`spawn`](crate::spawn), never seen by another
//! invocation (also when one process serves several at once), and gone when the invocation
//! ends. Outside an invocation there is nothing to add them to: the call does nothing.

use serde_json::Value;

use super::line::RESERVED_KEYS;
use crate::constants::REDACTED;
use crate::invocation::scope;
use crate::redact::{is_secret_name, redact_json};

/// Adds `keys` to every line the current invocation writes from now on, after the Lambda
/// context and before the event's own fields (an event field of the same name wins). A key
/// added again takes its new value.
///
/// Values are masked like fields: under a secret-looking name (`token`, `password`, ...) the
/// value is `[REDACTED]`, and a credential inside a text is masked. The keys the crate writes
/// itself (`timestamp`, `level`, `message`, `service`, the Lambda context, the ids) cannot be
/// taken: such a name is ignored, said in a WARN line.
///
/// ```
/// lambda_telemetry::append_keys([("user_id", "42"), ("tenant", "acme")]);
/// lambda_telemetry::append_keys([("order", serde_json::json!({"id": 4711, "items": 3}))]);
/// ```
pub fn append_keys<I, K, V>(keys: I)
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<String>,
    V: Into<Value>,
{
    let mut refused = Vec::new();
    let mut added = Vec::new();
    for (name, value) in keys {
        let name = name.into();
        if RESERVED_KEYS.contains(&name.as_str()) {
            refused.push(name);
            continue;
        }
        let mut value = value.into();
        if is_secret_name(&name) {
            value = Value::from(REDACTED);
        } else {
            redact_json(&mut value);
        }
        added.push((name, value));
    }
    scope::edit_keys(|keys| {
        for (name, value) in added {
            match keys.iter_mut().find(|(n, _)| *n == name) {
                Some((_, old)) => *old = value,
                None => keys.push((name, value)),
            }
        }
    });
    // Said after the keys' lock is released: a line may be written while it is held.
    if !refused.is_empty() {
        tracing::warn!(
            keys = %refused.join(", "),
            "these keys are the crate's own on every line; append_keys ignored them"
        );
    }
}

/// Removes keys [`append_keys`] added from the current invocation's next lines.
pub fn remove_keys<I, K>(names: I)
where
    I: IntoIterator<Item = K>,
    K: AsRef<str>,
{
    let names: Vec<K> = names.into_iter().collect();
    scope::edit_keys(|keys| keys.retain(|(n, _)| !names.iter().any(|name| name.as_ref() == n)));
}
