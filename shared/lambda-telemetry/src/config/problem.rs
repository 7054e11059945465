//! What is wrong with a setting, and a value that may be given in code or read as text.

use std::fmt;

/// A setting that cannot be used: which one, and why. Never its value, which may be a key
/// pasted into the wrong variable. Every part that reads a setting returns this;
/// [`Config::init`](crate::Config::init) says each one once, as a WARN line, at start, and the
/// part uses the default instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettingProblem {
    setting: &'static str,
    /// The entry of a list setting, and how many there are.
    entry: Option<(usize, usize)>,
    reason: String,
}

impl SettingProblem {
    /// `setting` cannot be used because of `reason`, which must not quote its value.
    pub(crate) fn new(setting: &'static str, reason: impl Into<String>) -> Self {
        Self {
            setting,
            entry: None,
            reason: reason.into(),
        }
    }

    /// Entry `index` (from 1) of the `count` entries of a list setting cannot be used.
    pub(crate) fn entry(
        setting: &'static str,
        index: usize,
        count: usize,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            setting,
            entry: Some((index, count)),
            reason: reason.into(),
        }
    }

    /// The environment variable the setting is read from.
    pub fn setting(&self) -> &'static str {
        self.setting
    }

    /// Why it cannot be used, and what is used instead.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for SettingProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.entry {
            None => write!(f, "{} {}", self.setting, self.reason),
            Some((index, count)) => {
                write!(
                    f,
                    "{}: entry {index} of {count} {}",
                    self.setting, self.reason
                )
            }
        }
    }
}

impl std::error::Error for SettingProblem {}

/// A setting whose value in code is typed and whose value in the environment is text: read
/// once, and parsed by the part that uses it, so that a bad value is said only when that part
/// is on (OTLP's timeout is not a problem while OTLP is off).
#[derive(Clone, Debug, Default)]
pub(crate) enum Setting<T> {
    /// Neither given in code nor set: the default.
    #[default]
    Unset,
    /// The text of the environment variable named, not blank.
    Env(&'static str, String),
    /// Given in code: wins over the environment.
    Code(T),
}

impl<T: Clone> Setting<T> {
    /// The first of `names` that `lookup` finds, in that order: the signal's variable before
    /// the generic one.
    pub(crate) fn read(names: &[&'static str], lookup: &dyn Fn(&str) -> Option<String>) -> Self {
        names
            .iter()
            .find_map(|name| lookup(name).map(|text| Self::Env(name, text)))
            .unwrap_or_default()
    }

    /// The value: the one given in code, else the environment's parsed by `parse`, whose
    /// problem goes to `problems`; `None` for the default.
    pub(crate) fn resolve(
        &self,
        parse: impl FnOnce(&'static str, &str) -> Result<T, SettingProblem>,
        problems: &mut Vec<SettingProblem>,
    ) -> Option<T> {
        match self {
            Self::Unset => None,
            Self::Code(value) => Some(value.clone()),
            Self::Env(name, text) => parse(name, text)
                .map_err(|problem| problems.push(problem))
                .ok(),
        }
    }
}

/// A whole number, or the problem that names the setting and what it should be.
pub(crate) fn whole_number(name: &'static str, text: &str) -> Result<u64, SettingProblem> {
    text.trim()
        .parse()
        .map_err(|_| SettingProblem::new(name, "is not a whole number; using the default"))
}

/// A yes/no setting: `on`, `true`, `yes`, `1` or `off`, `false`, `no`, `0` (any case);
/// anything else, or nothing, is `None` (the default).
pub(crate) fn flag(text: Option<&str>) -> Option<bool> {
    match text.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        Some("on" | "true" | "yes" | "1") => Some(true),
        Some("off" | "false" | "no" | "0") => Some(false),
        _ => None,
    }
}

/// A yes/no setting: `true` or `false` (also `on`/`off`, `yes`/`no`, `1`/`0`), any case.
pub(crate) fn yes_or_no(name: &'static str, text: &str) -> Result<bool, SettingProblem> {
    flag(Some(text))
        .ok_or_else(|| SettingProblem::new(name, "is not true or false; using the default"))
}
