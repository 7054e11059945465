//! Keys the sinks send with, read from AWS Secrets Manager or SSM Parameter Store rather than
//! a plain environment variable (feature `secrets`), so that no one who may read the
//! function's configuration reads the key.
//!
//! `OTEL_EXPORTER_OTLP_HEADERS_SECRET_ARN` and `ROLLBAR_ACCESS_TOKEN_SECRET_ARN` name the
//! secret by its ARN, which says the store and the region too; the template grants read on
//! exactly that ARN. As Powertools' Parameters utility does, the value is read once per
//! execution environment and kept for a maximum age (`LAMBDA_TELEMETRY_SECRETS_MAX_AGE_SECONDS`,
//! default 300 s, the AWS Parameters and Secrets Lambda Extension's default), then read again,
//! so a rotation reaches every warm environment within it; a refused key is read again
//! sooner. Unlike it, no read is on the request path, nor beside it: every flush starts a read
//! that is due, so the first starts after the first response (started at init, its CPU, mostly
//! the TLS client's first use, would share a small function's fraction of a core with that
//! response: 3 ms more cold start on the bench), and a flush waits for a read under way only
//! within its budget. A read still under way when its flush ends may be frozen with the process;
//! if it then fails unanswered, it is tried again at the next flush, unsaid (twice at most).
//!
//! Until the value is read, its sink sends nothing; a secret that is missing, unreadable or
//! unusable is said in one WARN line (its ARN and the store's error, never a value) and read
//! again every few seconds. A request never waits for a secret and never fails for one.

mod arn;
#[cfg(feature = "secrets")]
mod cache;
#[cfg(feature = "secrets")]
mod read;
#[cfg(all(test, feature = "secrets"))]
mod tests;

use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) use arn::SecretArn;

use crate::config::{Setting, SettingProblem, whole_number};
use crate::constants::DEFAULT_SECRETS_MAX_AGE_SECONDS;

/// What a secret is for: the setting that names it, the sink it turns on, and how its text
/// becomes the value the sink sends with (the error says why not, never what it holds).
pub(crate) struct SecretFor<T> {
    /// The variable of the ARN (`ROLLBAR_ACCESS_TOKEN_SECRET_ARN`).
    pub(crate) setting: &'static str,
    /// What is off without it, in words (`Rollbar reporting`).
    #[cfg_attr(not(feature = "secrets"), allow(dead_code))]
    pub(crate) sink: &'static str,
    #[cfg_attr(not(feature = "secrets"), allow(dead_code))]
    pub(crate) parse: fn(&str) -> Result<T, String>,
}

/// The key a sink sends with: given as it is, or read from a secret.
pub(crate) enum Credential<T> {
    /// From a plain setting, or code (only Rollbar's token is given so).
    #[cfg_attr(not(feature = "rollbar"), allow(dead_code))]
    Given(Arc<T>),
    /// From Secrets Manager or Parameter Store.
    #[cfg(feature = "secrets")]
    Secret(Arc<cache::Secret<T>>),
}

impl<T> std::fmt::Debug for Credential<T> {
    /// Where it comes from, never the value.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Given(_) => f.write_str("Given(..)"),
            #[cfg(feature = "secrets")]
            Self::Secret(secret) => secret.fmt(f),
        }
    }
}

impl<T: Send + Sync + 'static> Credential<T> {
    /// The credential of the secret `arn` names, for `purpose`, kept for `max_age` (see
    /// [`max_age`]). A problem when `arn` is not a secret's ARN, or when the crate was built
    /// without the `secrets` feature; `instead` ends it with what the sink does then
    /// (`Rollbar reporting is off`).
    pub(crate) fn from_secret(
        purpose: SecretFor<T>,
        arn: &str,
        max_age: Duration,
        instead: &str,
    ) -> Result<Self, SettingProblem> {
        let arn: SecretArn = arn.parse().map_err(|refused: arn::NotASecretArn| {
            SettingProblem::new(purpose.setting, format!("{refused}; {instead}"))
        })?;
        #[cfg(feature = "secrets")]
        {
            Ok(Self::Secret(Arc::new(cache::Secret::new(
                purpose, arn, max_age,
            ))))
        }
        #[cfg(not(feature = "secrets"))]
        {
            let _ = (arn, max_age);
            Err(SettingProblem::new(
                purpose.setting,
                format!(
                    "is ignored: lambda-telemetry was built without its `secrets` feature; {instead}"
                ),
            ))
        }
    }

    /// Starts a read of the secret if one is due, waiting for nothing: every flush calls it
    /// first, with its `deadline`, so that a sink off for want of its secret comes back on
    /// once it can be read.
    pub(crate) fn read_if_due(&self, deadline: Instant) {
        #[cfg(feature = "secrets")]
        if let Self::Secret(secret) = self {
            secret.read_if_due(deadline);
        }
        #[cfg(not(feature = "secrets"))]
        let _ = deadline;
    }

    /// The value to send with before `deadline`: a given one at once; a secret's once read,
    /// waiting within `deadline` for the read under way (see `Secret::value_by`). `None`:
    /// nothing to send with yet.
    pub(crate) async fn value_by(&self, deadline: Instant) -> Option<Arc<T>> {
        #[cfg(not(feature = "secrets"))]
        let _ = deadline;
        match self {
            Self::Given(value) => Some(Arc::clone(value)),
            #[cfg(feature = "secrets")]
            Self::Secret(secret) => secret.value_by(deadline).await,
        }
    }

    /// Whether it is given as it is, not read from a secret.
    #[cfg_attr(not(feature = "rollbar"), allow(dead_code))]
    pub(crate) fn is_given(&self) -> bool {
        matches!(self, Self::Given(_))
    }

    /// Whether its sink is off for now: a secret whose read failed, and none under way.
    pub(crate) fn is_off(&self) -> bool {
        match self {
            Self::Given(_) => false,
            #[cfg(feature = "secrets")]
            Self::Secret(secret) => secret.is_off(),
        }
    }

    /// The backend refused the value: a secret is read again soon (it may have been
    /// rotated); a given value cannot change.
    pub(crate) fn refused(&self) {
        #[cfg(feature = "secrets")]
        if let Self::Secret(secret) = self {
            secret.refused();
        }
    }
}

/// How long a read value is used: set in code, else
/// `LAMBDA_TELEMETRY_SECRETS_MAX_AGE_SECONDS`, else 300 s.
pub(crate) fn max_age(setting: &Setting<Duration>, problems: &mut Vec<SettingProblem>) -> Duration {
    setting
        .resolve(
            |name, text| whole_number(name, text).map(Duration::from_secs),
            problems,
        )
        .unwrap_or(Duration::from_secs(DEFAULT_SECRETS_MAX_AGE_SECONDS))
}
