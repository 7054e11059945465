//! One metrics group as EMF documents, within the specification's limits: at most 100 metrics
//! per directive, 30 dimensions per dimension set, 100 values per metric, dimension values of
//! 1 to 1,024 characters, and a line CloudWatch Logs takes whole. What does not fit one
//! document goes into the next; nothing is dropped for size.
//!
//! The specification: "Specification: Embedded metric format", Amazon CloudWatch User Guide.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::time::UNIX_EPOCH;

use metrics::Unit;

use crate::constants::{log_keys, metric_keys};
use crate::logs::MAX_LINE_BYTES;
use crate::metrics::{Recorded, Series, Value, description};

/// "A MetricDirective object MUST NOT contain more than 100 MetricDefinition objects."
pub(super) const MAX_METRICS_PER_DIRECTIVE: usize = 100;
/// "A DimensionSet MUST NOT contain more than 30 dimension keys."
pub(super) const MAX_DIMENSIONS_PER_SET: usize = 30;
/// "Values ... MUST NOT contain more than 100 values" per metric member.
pub(super) const MAX_VALUES_PER_METRIC: usize = 100;
/// CloudWatch's dimension value: 1 to 1,024 characters.
pub(super) const MAX_DIMENSION_VALUE_CHARS: usize = 1_024;
/// CloudWatch's dimension name: 1 to 250 characters (AWS's EMF schema; the API says 255).
pub(super) const MAX_DIMENSION_NAME_CHARS: usize = 250;

/// The line's own keys, and those the log contract reads (Lambda's level filter, the saved
/// Logs Insights queries): no metric, dimension, label or metadata entry may take their names.
const RESERVED_KEYS: [&str; 10] = [
    "_aws",
    metric_keys::SERVICE,
    log_keys::TIMESTAMP,
    log_keys::LEVEL,
    log_keys::MESSAGE,
    "duration_ms",
    log_keys::FUNCTION_REQUEST_ID,
    log_keys::XRAY_TRACE_ID,
    log_keys::TRACE_ID,
    log_keys::TENANT_ID,
];

/// What every document of a sink shares.
pub(super) struct Emf {
    /// The CloudWatch namespace.
    pub(super) namespace: String,
    /// The `service` dimension, first in every set.
    pub(super) service: String,
    /// The `level` member, when Lambda's filter needs one (see the module above).
    pub(super) level: Option<&'static str>,
}

/// The lines of one group, and what could not be published.
#[derive(Debug, Default)]
pub(super) struct Documents {
    /// Whole lines, each ending in `\n`.
    pub(super) lines: Vec<Vec<u8>>,
    /// What was left out, in words (a dimension a set was left out for, a metric or metadata
    /// entry that could not be published), never a value.
    pub(super) unpublished: Vec<String>,
    /// Values published under no dimension set at all, or too large for any line.
    pub(super) dropped_values: u64,
}

/// One metric member of one document, written once: its definition and its member, as JSON.
struct Entry {
    name: String,
    /// `{"Name":..,"Unit":..}`.
    definition: String,
    /// `"name":value` or `"name":[values]`, up to 100 values.
    member: String,
    /// How many values it carries, for the count of what is lost.
    count: u64,
}

/// The EMF documents of `group`.
pub(super) fn documents(group: &Recorded, emf: &Emf) -> Documents {
    let mut out = Documents::default();
    let timestamp = group
        .timestamp
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    // Each member's value written as JSON once per group; a document borrows them.
    let mut metadata: Vec<(&str, String)> = Vec::with_capacity(group.metadata.len());
    for (key, value) in &group.metadata {
        if RESERVED_KEYS.contains(&key.as_str()) {
            out.unpublished
                .push(format!("metadata {key} (a key of the line's own)"));
        } else {
            let text = serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned());
            metadata.push((key.as_str(), text));
        }
    }
    // A dimension may not take one of the line's own keys either (its sets are left out,
    // below, and its member too).
    let dimensions: Vec<(&str, String)> = group
        .dimensions
        .iter()
        .filter(|(name, _)| !RESERVED_KEYS.contains(&name.as_str()))
        .map(|(name, value)| (name.as_str(), json_string(value)))
        .collect();
    let own = own_members(group, emf);
    for (labels, series) in by_labels(&group.series) {
        // A metric named like a dimension or one of the line's own keys would overwrite that
        // member (and break every set naming it); one CloudWatch cannot name, the directive:
        // neither is published, both are said.
        let (refused, series): (Vec<&Series>, Vec<&Series>) = series.into_iter().partition(|s| {
            let name = s.key.name();
            !valid_metric_name(name)
                || RESERVED_KEYS.contains(&name)
                || group.dimensions.iter().any(|(n, _)| n == name)
                || labels.iter().any(|(n, _)| n == name)
        });
        for s in refused {
            out.dropped_values += s.value.len() as u64;
            out.unpublished.push(format!(
                "metric {:?} (named like a dimension or a key of the line's own, or not 1 to 255 printable characters)",
                s.key.name()
            ));
        }
        let label_values: Vec<(&str, String)> = labels
            .iter()
            .filter(|(name, _)| !RESERVED_KEYS.contains(&name.as_str()))
            .map(|(name, value)| (name.as_str(), json_string(value)))
            .collect();
        // Metadata, then dimensions, then labels, then the line's own keys: a later one wins a
        // shared name, so the line's own keys are never another's to take; a metric wins over
        // metadata of its name.
        let mut members: Vec<(&str, &str)> = Vec::new();
        let layers = [&metadata, &dimensions, &label_values, &own];
        for (key, text) in layers.into_iter().flatten() {
            if series.iter().any(|s| s.key.name() == *key) {
                continue;
            }
            match members.iter_mut().find(|(k, _)| k == key) {
                Some(member) => member.1 = text,
                None => members.push((key, text)),
            }
        }
        let value_of = |name: &str| {
            labels
                .iter()
                .chain(&group.dimensions)
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        let sets = dimension_sets(group, &labels, value_of, &mut out.unpublished);
        let entries: Vec<Entry> = series.iter().flat_map(|s| entries(s)).collect();
        if sets.is_empty() {
            out.dropped_values += entries.iter().map(|e| e.count).sum::<u64>();
            continue;
        }
        let frame = Frame::new(&members, &sets, timestamp, emf);
        frame.pack(entries, &mut out);
    }
    out.unpublished.dedup();
    out
}

/// The members every line of `group` has, as JSON: `service`, `timestamp` (RFC 3339, as on
/// log lines: Lambda honours a line's `level` only beside one, "If you don't supply a valid
/// timestamp, Lambda assigns the log the level INFO"), `level` when Lambda's filter needs it,
/// the ids.
fn own_members(group: &Recorded, emf: &Emf) -> Vec<(&'static str, String)> {
    let time: chrono::DateTime<chrono::Utc> = group.timestamp.into();
    let mut own = vec![
        (metric_keys::SERVICE, json_string(&emf.service)),
        (
            log_keys::TIMESTAMP,
            json_string(&time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        ),
    ];
    if let Some(level) = emf.level {
        own.push((log_keys::LEVEL, json_string(level)));
    }
    if let Some(ids) = &group.ids {
        for (key, id) in [
            (log_keys::FUNCTION_REQUEST_ID, &ids.request_id),
            (log_keys::XRAY_TRACE_ID, &ids.xray_trace_id),
            (log_keys::TRACE_ID, &ids.trace_id),
            (log_keys::TENANT_ID, &ids.tenant_id),
        ] {
            if let Some(id) = id {
                own.push((key, json_string(id)));
            }
        }
    }
    own
}

/// A metric name CloudWatch takes: 1 to 255 characters, none of them a control character.
fn valid_metric_name(name: &str) -> bool {
    (1..=255).contains(&name.chars().count()) && !name.chars().any(char::is_control)
}

/// A series' labels, name and value, sorted by name.
type Labels = Vec<(String, String)>;

/// The series grouped by their labels, in the order first recorded: series with the same
/// labels share root members, so they share documents.
fn by_labels(series: &[Series]) -> Vec<(Labels, Vec<&Series>)> {
    let mut groups: Vec<(Labels, Vec<&Series>)> = Vec::new();
    for s in series {
        // A label given twice keeps its last value, as a map would.
        let mut labels: Labels = Vec::new();
        for label in s.key.labels() {
            let (name, value) = (label.key().to_owned(), label.value().to_owned());
            match labels.iter_mut().find(|(n, _)| *n == name) {
                Some(old) => old.1 = value,
                None => labels.push((name, value)),
            }
        }
        labels.sort();
        match groups.iter_mut().find(|(l, _)| *l == labels) {
            Some((_, members)) => members.push(s),
            None => groups.push((labels, vec![s])),
        }
    }
    groups
}

/// Each of the group's sets as EMF names it: `service`, the set's dimensions, the labels.
/// A set with a name or value CloudWatch refuses, or more than 30 names, is left out and its
/// offending names said.
fn dimension_sets<'v>(
    group: &Recorded,
    labels: &[(String, String)],
    value_of: impl Fn(&str) -> Option<&'v str>,
    invalid: &mut Vec<String>,
) -> Vec<Vec<String>> {
    let mut sets = Vec::new();
    for set in &group.dimension_sets {
        let mut keys = vec![metric_keys::SERVICE.to_owned()];
        for key in set.iter().chain(labels.iter().map(|(name, _)| name)) {
            if !keys.contains(key) {
                keys.push(key.clone());
            }
        }
        let bad: Vec<&String> = keys
            .iter()
            .skip(1)
            .filter(|key| {
                let value = value_of(key.as_str());
                RESERVED_KEYS.contains(&key.as_str())
                    || !value.is_some_and(|value| valid_dimension(key, value))
            })
            .collect();
        if !bad.is_empty() {
            invalid.extend(bad.into_iter().map(|key| format!("dimension {key}")));
            continue;
        }
        if keys.len() > MAX_DIMENSIONS_PER_SET {
            invalid.push(format!("a set of {} dimensions", keys.len()));
            continue;
        }
        if !sets.contains(&keys) {
            sets.push(keys);
        }
    }
    sets
}

/// CloudWatch's rule for a dimension: "Dimension names must contain only ASCII characters,
/// must include at least one non-whitespace character, and cannot start with a colon (:).
/// Dimension values must contain only ASCII characters and must include at least one
/// non-whitespace character", with the lengths above; printable ones (a tab or a line break
/// from a request is no dimension).
fn valid_dimension(name: &str, value: &str) -> bool {
    let ascii_with_text = |text: &str| {
        text.bytes().all(|b| (0x20..=0x7e).contains(&b)) && text.bytes().any(|b| b != b' ')
    };
    ascii_with_text(name)
        && !name.starts_with(':')
        && name.len() <= MAX_DIMENSION_NAME_CHARS
        && ascii_with_text(value)
        && value.len() <= MAX_DIMENSION_VALUE_CHARS
}

/// A series as metric members: one for a counter or a gauge, one per 100 values of a
/// histogram. The unit is CloudWatch's name for the facade's (nanoseconds, which CloudWatch
/// lacks, as microseconds).
fn entries(series: &Series) -> Vec<Entry> {
    let name = series.key.name().to_owned();
    let description = description(&name);
    let (unit, scale) = match description.unit {
        Some(unit) => cloudwatch_unit(unit),
        None => (None, 1.0),
    };
    let quoted = json_string(&name);
    let mut definition = String::with_capacity(quoted.len() + 48);
    definition.push_str("{\"Name\":");
    definition.push_str(&quoted);
    if let Some(unit) = unit {
        definition.push_str(",\"Unit\":\"");
        definition.push_str(unit);
        definition.push('"');
    }
    if description.high_resolution {
        definition.push_str(",\"StorageResolution\":1");
    }
    definition.push('}');
    // `"name":` then the value(s), written in place.
    let member = |capacity: usize| {
        let mut member = String::with_capacity(quoted.len() + 1 + capacity);
        member.push_str(&quoted);
        member.push(':');
        member
    };
    let entry = |member: String, count: u64| Entry {
        name: name.clone(),
        definition: definition.clone(),
        member,
        count,
    };
    match &series.value {
        Value::Counter(n) if scale == 1.0 => {
            let mut m = member(20);
            let _ = write!(m, "{n}");
            vec![entry(m, 1)]
        }
        Value::Counter(n) => {
            let mut m = member(24);
            write_number(&mut m, *n as f64 * scale);
            vec![entry(m, 1)]
        }
        Value::Gauge(v) => {
            let mut m = member(24);
            write_number(&mut m, v * scale);
            vec![entry(m, 1)]
        }
        Value::Histogram(values) => values
            .chunks(MAX_VALUES_PER_METRIC)
            .map(|chunk| {
                let mut m = member(2 + 24 * chunk.len());
                m.push('[');
                for (i, v) in chunk.iter().enumerate() {
                    if i > 0 {
                        m.push(',');
                    }
                    write_number(&mut m, v * scale);
                }
                m.push(']');
                entry(m, chunk.len() as u64)
            })
            .collect(),
    }
}

/// A finite number as JSON: Rust's shortest round-trip form, in exponent form when very large
/// or small (`1e300`, `1.5e-7`), which JSON's grammar takes. Values are finite and within
/// 2^360 (refused when recorded), so scaled they stay finite.
fn write_number(out: &mut String, value: f64) {
    let _ = write!(out, "{value:?}");
}

/// `text` as a JSON string, quotes and escapes included.
fn json_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned())
}

/// What every document of one label group shares, written once: its members and the
/// directive around the metric definitions. A document is these and its entries, put
/// together as bytes: no JSON tree is built or written twice.
struct Frame<'a> {
    members: &'a [(&'a str, &'a str)],
    sets: &'a [Vec<String>],
    /// The members, `"key":value,...`, without braces.
    head: String,
    /// `,"_aws":{"Timestamp":..,"CloudWatchMetrics":[{"Namespace":..,"Dimensions":..,"Metrics":[`.
    directive: String,
    timestamp: u64,
    emf: &'a Emf,
}

/// What closes a document after the metric definitions.
const DOCUMENT_END: &str = "]}]}}";

impl<'a> Frame<'a> {
    fn new(
        members: &'a [(&'a str, &'a str)],
        sets: &'a [Vec<String>],
        timestamp: u64,
        emf: &'a Emf,
    ) -> Self {
        let mut head = String::new();
        for (i, (key, text)) in members.iter().enumerate() {
            if i > 0 {
                head.push(',');
            }
            head.push_str(&json_string(key));
            head.push(':');
            head.push_str(text);
        }
        let sets_json = serde_json::to_string(sets).unwrap_or_else(|_| "[]".to_owned());
        let directive = format!(
            ",\"_aws\":{{\"Timestamp\":{timestamp},\"CloudWatchMetrics\":[{{\"Namespace\":{},\"Dimensions\":{sets_json},\"Metrics\":[",
            json_string(&emf.namespace),
        );
        Self {
            members,
            sets,
            head,
            directive,
            timestamp,
            emf,
        }
    }

    /// The length of a document of no metric: its braces, the members, the directive.
    fn empty_size(&self) -> usize {
        1 + self.head.len() + self.directive.len() + DOCUMENT_END.len()
    }

    /// Puts `entries` into as few documents as the limits allow, in order: a new document
    /// when the current one has 100 metrics, already has a member of that name (a
    /// histogram's next 100 values), or would pass the line limit.
    fn pack(&self, entries: Vec<Entry>, out: &mut Documents) {
        let empty = self.empty_size();
        let mut current: Vec<Entry> = Vec::new();
        let mut names: HashSet<String> = HashSet::new();
        let mut size = empty;
        for entry in entries {
            // The member and the definition, each with its comma.
            let cost = entry.member.len() + entry.definition.len() + 2;
            if !current.is_empty()
                && (current.len() == MAX_METRICS_PER_DIRECTIVE
                    || names.contains(&entry.name)
                    || size + cost > MAX_LINE_BYTES)
            {
                self.emit(std::mem::take(&mut current), out);
                names.clear();
                size = empty;
            }
            names.insert(entry.name.clone());
            size += cost;
            current.push(entry);
        }
        if !current.is_empty() {
            self.emit(current, out);
        }
    }

    /// Writes one document; one that passes the limit (metadata too large for any line) is
    /// written again without its metadata, and if even that does not fit, counted as lost.
    fn emit(&self, entries: Vec<Entry>, out: &mut Documents) {
        let line = self.render(&entries);
        if line.len() <= MAX_LINE_BYTES {
            return out.lines.push(with_newline(line));
        }
        if entries.len() > 1 {
            // The size was off (it never should be): halves, each within the limit.
            let mut first = entries;
            let second = first.split_off(first.len() / 2);
            self.emit(first, out);
            return self.emit(second, out);
        }
        let lean = lean_members(self.members, self.sets);
        let line = Frame::new(&lean, self.sets, self.timestamp, self.emf).render(&entries);
        out.unpublished
            .push("metadata (too large for a CloudWatch Logs event)".to_owned());
        if line.len() <= MAX_LINE_BYTES {
            out.lines.push(with_newline(line));
        } else {
            out.dropped_values += entries.iter().map(|e| e.count).sum::<u64>();
        }
    }

    /// The document of `entries`, one line without its newline (what the limit counts).
    fn render(&self, entries: &[Entry]) -> Vec<u8> {
        let size = self.empty_size()
            + entries
                .iter()
                .map(|e| e.member.len() + e.definition.len() + 2)
                .sum::<usize>();
        let mut line = Vec::with_capacity(size + 1);
        line.push(b'{');
        line.extend_from_slice(self.head.as_bytes());
        for (i, entry) in entries.iter().enumerate() {
            if i > 0 || !self.head.is_empty() {
                line.push(b',');
            }
            line.extend_from_slice(entry.member.as_bytes());
        }
        line.extend_from_slice(self.directive.as_bytes());
        for (i, entry) in entries.iter().enumerate() {
            if i > 0 {
                line.push(b',');
            }
            line.extend_from_slice(entry.definition.as_bytes());
        }
        line.extend_from_slice(DOCUMENT_END.as_bytes());
        line
    }
}

/// The members a document cannot do without: the dimensions of its sets and the line's own.
fn lean_members<'a>(
    members: &[(&'a str, &'a str)],
    sets: &[Vec<String>],
) -> Vec<(&'a str, &'a str)> {
    members
        .iter()
        .filter(|(key, _)| sets.iter().flatten().any(|k| k == key) || RESERVED_KEYS.contains(key))
        .copied()
        .collect()
}

fn with_newline(mut line: Vec<u8>) -> Vec<u8> {
    line.push(b'\n');
    line
}

/// CloudWatch's unit for the facade's, and the factor its values are multiplied by. The
/// binary byte units are CloudWatch's byte units (CloudWatch does not say 1,000 or 1,024).
fn cloudwatch_unit(unit: Unit) -> (Option<&'static str>, f64) {
    let name = match unit {
        Unit::Count => "Count",
        Unit::Percent => "Percent",
        Unit::Seconds => "Seconds",
        Unit::Milliseconds => "Milliseconds",
        Unit::Microseconds => "Microseconds",
        Unit::Nanoseconds => return (Some("Microseconds"), 1e-3),
        Unit::Tebibytes => "Terabytes",
        Unit::Gibibytes => "Gigabytes",
        Unit::Mebibytes => "Megabytes",
        Unit::Kibibytes => "Kilobytes",
        Unit::Bytes => "Bytes",
        Unit::TerabitsPerSecond => "Terabits/Second",
        Unit::GigabitsPerSecond => "Gigabits/Second",
        Unit::MegabitsPerSecond => "Megabits/Second",
        Unit::KilobitsPerSecond => "Kilobits/Second",
        Unit::BitsPerSecond => "Bits/Second",
        Unit::CountPerSecond => "Count/Second",
    };
    (Some(name), 1.0)
}
