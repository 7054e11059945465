//! What an event's line is made of besides the process's keys: the Lambda context keys of
//! the invocation span it happened in, and its own message and fields, secrets masked.

use std::fmt;

use serde_json::Value;
use tracing::field::{Field, Visit};

use crate::constants::{CONTEXT_LOG_KEYS, REDACTED, log_keys};
use crate::redact::{is_secret_name, redact_owned};

/// The Lambda context keys a span carries, stored in the span's extensions.
pub(super) struct ContextFields(pub(super) Vec<(&'static str, Value)>);

impl Visit for ContextFields {
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.set(field, Value::Bool(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field, Value::from(value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.set(field, Value::from(format!("{value:?}")));
    }
}

impl ContextFields {
    fn set(&mut self, field: &Field, value: Value) {
        let Some(&(_, key)) = CONTEXT_LOG_KEYS.iter().find(|(f, _)| *f == field.name()) else {
            return;
        };
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => *v = value,
            None => self.0.push((key, value)),
        }
    }
}

/// An event's message and fields, secrets masked.
#[derive(Default)]
pub(super) struct EventFields {
    pub(super) message: Option<String>,
    pub(super) fields: Vec<(&'static str, Value)>,
}

impl EventFields {
    fn push(&mut self, field: &Field, value: Value) {
        let value = match value {
            _ if is_secret_name(field.name()) => Value::from(REDACTED),
            // A secret can hide in text too: `Authorization: Bearer ...` in an error message.
            Value::String(text) => Value::String(redact_owned(text)),
            value => value,
        };
        self.fields.push((field.name(), value));
    }

    fn set_message(&mut self, message: String) {
        self.message = Some(redact_owned(message));
    }
}

impl Visit for EventFields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, Value::from(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, Value::Bool(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == log_keys::MESSAGE {
            self.set_message(value.to_owned());
        } else {
            self.push(field, Value::from(value));
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.push(field, Value::from(crate::error::cause_chain(value)));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == log_keys::MESSAGE {
            self.set_message(format!("{value:?}"));
        } else {
            self.push(field, Value::from(format!("{value:?}")));
        }
    }
}
