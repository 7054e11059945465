//! What consumes log events besides the line (Rollbar's capture) is handed to the log layer
//! as an [`EventHook`]: the layer knows no sink, and a sink knows no layer's internals.

use std::any::Any;
use std::sync::Arc;

use serde_json::Value;

/// What a log event tells a hook: the event as its line says it, secrets masked.
pub(crate) struct LogEvent<'a> {
    pub(crate) level: tracing::Level,
    pub(crate) target: &'a str,
    pub(crate) message: &'a str,
    /// The event's fields, and those hooks before this one added.
    pub(crate) fields: &'a [(&'static str, Value)],
    /// The Lambda context keys of the invocation the event happened in.
    pub(crate) context: &'a [(&'static str, Value)],
    /// The keys the invocation's handler added (`append_keys`), masked.
    pub(crate) keys: &'a [(String, Value)],
    /// The OpenTelemetry trace id of the event's span.
    pub(crate) trace_id: Option<&'a str>,
    pub(crate) file: Option<&'a str>,
    pub(crate) line: Option<u32>,
    pub(crate) module: Option<&'a str>,
}

/// A consumer of log events. Called for every event the log layer writes, before its line, on
/// the thread that logs: it must not wait.
pub(crate) trait EventHook: Any + Send + Sync {
    /// A field for the event's line, when the hook has one to add (Rollbar: the `rollbar_uuid`
    /// of the item it made, so that the line and the item find each other).
    fn on_event(&self, event: &LogEvent<'_>) -> Option<(&'static str, Value)>;
}

/// The hooks of one log layer, in the order they are called.
#[derive(Clone, Default)]
pub(crate) struct EventHooks(Vec<Arc<dyn EventHook>>);

impl EventHooks {
    /// Hooks called in the order of `hooks`.
    pub(crate) fn new(hooks: Vec<Arc<dyn EventHook>>) -> Self {
        Self(hooks)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &dyn EventHook> {
        self.0.iter().map(|hook| &**hook)
    }

    fn has<T: EventHook>(&self) -> bool {
        self.0
            .iter()
            .any(|hook| (&**hook as &dyn Any).downcast_ref::<T>().is_some())
    }
}

/// Whether the log layer of the subscriber in charge hands its events to a hook of type `T`:
/// how code outside the layer (`report_message`) learns that its sink is on, without a global.
pub(crate) fn installed<T: EventHook>() -> bool {
    tracing::dispatcher::get_default(|dispatch| {
        dispatch
            .downcast_ref::<EventHooks>()
            .is_some_and(EventHooks::has::<T>)
    })
}

/// Whether the log layer of the subscriber in charge hands its events to any hook.
pub(crate) fn any_installed() -> bool {
    tracing::dispatcher::get_default(|dispatch| {
        dispatch
            .downcast_ref::<EventHooks>()
            .is_some_and(|hooks| !hooks.is_empty())
    })
}
