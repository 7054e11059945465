//! What is known of a metric by its name, process-wide: its unit (the facade's `describe_*!`
//! macros) and its storage resolution ([`high_resolution`](crate::metrics::high_resolution)).
//! Read by the exports at each flush, never on the recording path.

use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};

use metrics::Unit;

use crate::constants::metric_keys;

/// What is known of one metric name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Description {
    pub(crate) unit: Option<Unit>,
    /// Stored at one-second resolution (EMF `StorageResolution: 1`) rather than one minute.
    pub(crate) high_resolution: bool,
}

/// One thing said of a metric name.
pub(crate) enum Instrumented {
    Unit(Option<Unit>),
    HighResolution,
}

fn descriptions() -> &'static RwLock<HashMap<String, Description>> {
    static DESCRIPTIONS: OnceLock<RwLock<HashMap<String, Description>>> = OnceLock::new();
    DESCRIPTIONS.get_or_init(Default::default)
}

/// Records `what` of the metric `name`: a later unit replaces an earlier one, a `describe_*!`
/// without a unit keeps it. The crate's own metrics keep theirs (their unit is part of their
/// convention): see [`describe_builtin`].
pub(crate) fn describe(name: &str, what: Instrumented) {
    if BUILTIN_NAMES.contains(&name) {
        return;
    }
    describe_builtin(name, what);
}

/// The crate's own metric names, whose description no handler changes.
const BUILTIN_NAMES: [&str; 5] = [
    metric_keys::INVOCATIONS,
    metric_keys::ERRORS,
    metric_keys::INVOKE_DURATION,
    metric_keys::COLDSTARTS,
    metric_keys::LOST,
];

/// Records `what` of any metric, the crate's own too.
pub(crate) fn describe_builtin(name: &str, what: Instrumented) {
    let Ok(mut all) = descriptions().write() else {
        return;
    };
    let entry = all.entry(name.to_owned()).or_default();
    match what {
        Instrumented::Unit(Some(unit)) => entry.unit = Some(unit),
        Instrumented::Unit(None) => {}
        Instrumented::HighResolution => entry.high_resolution = true,
    }
}

/// What is known of `name`: nothing, by default (no unit, one-minute resolution).
pub(crate) fn description(name: &str) -> Description {
    descriptions()
        .read()
        .ok()
        .and_then(|all| all.get(name).copied())
        .unwrap_or_default()
}
