//! OTLP/HTTP with protobuf, configured only by the standard `OTEL_EXPORTER_OTLP_*` variables,
//! so the original's Honeycomb settings work unchanged: spans ([`traces`]) and metrics
//! ([`metrics`]), each a sink of its own, both sending through one [`Sender`].
//!
//! Not opentelemetry-otlp's exporters: their retries are not bounded by our flush budget and
//! they cannot tell a refused key (log once, never retry) from a busy collector (retry with
//! backoff). The encoding is opentelemetry-proto's, the HTTP client reqwest's.

/// Signing for AWS's own OTLP endpoints.
pub(crate) mod aws;
/// What one request may hold: AWS's endpoints' limits, kept by splitting.
pub(crate) mod limits;
mod metrics;
mod traces;

use std::cell::OnceCell;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::{
    CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER,
};

use super::sink::Setup;
use crate::config::{OtlpSettings, Setting, SettingProblem, whole_number};
use crate::constants::{DEFAULT_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS_SECRET_ARN};
#[cfg(test)]
use crate::constants::{OTEL_EXPORTER_OTLP_HEADERS, OTEL_EXPORTER_OTLP_TRACES_HEADERS};
use crate::secrets::{Credential, SecretFor};

pub(super) use metrics::build as build_metrics;
#[cfg(test)]
pub(crate) use traces::OtlpExporter;
pub(super) use traces::build as build_traces;

/// The first wait before a retry when the backend gives no `Retry-After`.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// The headers' secret: `name=value,...`, as `OTEL_EXPORTER_OTLP_HEADERS` writes them.
const HEADERS_SECRET: SecretFor<HeaderMap> = SecretFor {
    setting: OTEL_EXPORTER_OTLP_HEADERS_SECRET_ARN,
    sink: "OTLP export",
    parse: headers_from_secret,
};

/// The specification's default export timeout.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The headers' secret, one for both signals: read once, said once, refused once.
pub(super) type HeadersSecret = Arc<Credential<HeaderMap>>;

/// What the OTLP sinks share at build time: the headers' secret, made by the first sink that
/// asks for it. One per [`Setup`].
#[derive(Debug, Default)]
pub(crate) struct Shared {
    headers_secret: OnceCell<Option<HeadersSecret>>,
}

/// `OTEL_EXPORTER_OTLP_HEADERS_SECRET_ARN`'s credential, the same for traces and metrics; a
/// problem with it is said once.
fn headers_secret(setup: &mut Setup<'_>) -> Option<HeadersSecret> {
    let settings = &setup.config.otlp;
    let secrets = &setup.config.secrets;
    let problems = &mut setup.problems;
    setup
        .otlp
        .headers_secret
        .get_or_init(|| {
            let arn = settings.headers_secret_arn.as_deref()?;
            let max_age = crate::secrets::max_age(&secrets.max_age, problems);
            Credential::from_secret(
                HEADERS_SECRET,
                arn,
                max_age,
                "the environment's headers are sent alone",
            )
            .map(Arc::new)
            .map_err(|problem| problems.push(problem))
            .ok()
        })
        .clone()
}

/// One signal's settings, as the [`Sender`] reads them.
pub(super) struct Signal<'a> {
    /// What a refusal says was refused: `spans`, `metrics`.
    pub(super) what: &'static str,
    /// The URL, else [`DEFAULT_OTLP_ENDPOINT`] with `path`.
    pub(super) endpoint: Option<&'a str>,
    /// `/v1/traces`, `/v1/metrics`.
    pub(super) path: &'static str,
    /// The headers' text, generic then signal.
    pub(super) headers: &'a [(&'static str, String)],
    pub(super) timeout: &'a Setting<Duration>,
    pub(super) gzip: &'a Setting<bool>,
    /// The variable a refusal line points at (`OTEL_EXPORTER_OTLP_HEADERS`).
    pub(super) headers_setting: &'static str,
    /// The SigV4 service of AWS's endpoint for the signal: `xray`, `monitoring`.
    pub(super) aws_service: &'static str,
}

/// Posts protobuf bodies to one OTLP/HTTP endpoint: its headers (the secret's included),
/// gzip, retries with backoff until the flush's deadline, a refused status said once.
#[derive(Debug)]
pub(super) struct Sender {
    endpoint: String,
    /// The environment's headers, then those given in code.
    headers: HeaderMap,
    /// `OTEL_EXPORTER_OTLP_HEADERS_SECRET_ARN`'s, added over the environment's and under those
    /// given in code (kept apart for that).
    headers_secret: Option<HeadersSecret>,
    code_headers: HeaderMap,
    timeout: Duration,
    gzip: bool,
    what: &'static str,
    headers_setting: &'static str,
    /// Signs each request with SigV4, for AWS's OTLP endpoints (feature `sigv4`).
    #[cfg(feature = "sigv4")]
    signer: Option<aws::Signer>,
    /// The scope requests would be signed for, when the crate is built without `sigv4`:
    /// nothing is sent, said once.
    #[cfg(not(feature = "sigv4"))]
    unsigned: Option<aws::Scope>,
    /// Statuses already reported: a refused key is said once, not on every invocation.
    reported: Mutex<HashSet<u16>>,
}

/// What a sink's partial successes said (OTLP/HTTP: a 200 whose `partial_success` gives how
/// many items the backend rejected and why): counted every time, said once per sink, like a
/// refusal, in the backend's own words cut to 300 characters.
#[derive(Debug, Default)]
pub(super) struct PartialSuccess {
    said: AtomicBool,
}

impl PartialSuccess {
    /// The items rejected (a negative count is none); the first time it is not zero, `say` gets
    /// it with the reason, to write the warning with the signal's own field name.
    pub(super) fn rejected(
        &self,
        rejected: i64,
        error_message: &str,
        say: impl FnOnce(u64, &str),
    ) -> u64 {
        let rejected = u64::try_from(rejected).unwrap_or(0);
        if rejected > 0 && !self.said.swap(true, Ordering::Relaxed) {
            let reason: String = error_message.chars().take(300).collect();
            say(rejected, &reason);
        }
        rejected
    }
}

/// Why an export did not arrive.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ExportFailure {
    /// The backend refused the batch for good (a 4xx other than 429): retrying cannot help.
    Refused(u16),
    /// The backend stayed busy or unreachable until the budget ran out.
    GaveUp,
}

impl Sender {
    /// From `signal`'s settings and those both signals share (`settings`: the headers given
    /// in code). What cannot be used is added to `problems`, to be reported once telemetry is
    /// up.
    pub(super) fn new(
        signal: Signal<'_>,
        settings: &OtlpSettings,
        headers_secret: Option<HeadersSecret>,
        problems: &mut Vec<SettingProblem>,
    ) -> Self {
        let endpoint = signal
            .endpoint
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{DEFAULT_OTLP_ENDPOINT}{}", signal.path));
        let scope = aws::SigV4::parse(settings.sigv4.as_deref(), problems).scope(
            &endpoint,
            signal.aws_service,
            settings.region.as_deref(),
            problems,
        );
        // A request signed for AWS carries only its signal's own headers: the generic ones,
        // the headers' secret and those given in code are another backend's key (Honeycomb's,
        // shared by both signals) and must never reach AWS.
        let signed = scope.is_some();
        let headers_secret = headers_secret.filter(|_| !signed);
        // The signal's headers are added to the generic ones, and win on a shared name; those
        // given in code come last and win over both.
        let mut headers = HeaderMap::new();
        for (setting, value) in signal.headers {
            if signed && *setting == crate::constants::OTEL_EXPORTER_OTLP_HEADERS {
                continue;
            }
            headers.extend(parse_headers(setting, value, problems));
        }
        let mut code_headers = HeaderMap::new();
        for (name, value) in settings.code_headers.iter().filter(|_| !signed) {
            let mut value = value.clone();
            value.set_sensitive(true);
            code_headers.insert(name.clone(), value);
        }
        headers.extend(code_headers.clone());
        let timeout = signal
            .timeout
            .resolve(
                |name, text| whole_number(name, text).map(Duration::from_millis),
                problems,
            )
            .unwrap_or(DEFAULT_TIMEOUT);
        let gzip = signal
            .gzip
            .resolve(
                |name, text| match text.trim().to_ascii_lowercase().as_str() {
                    "gzip" => Ok(true),
                    "none" => Ok(false),
                    // Named, not quoted: a setting's value is never said (it may be a key
                    // pasted into the wrong variable).
                    _ => Err(SettingProblem::new(
                        name,
                        "is not gzip or none; sending uncompressed",
                    )),
                },
                problems,
            )
            .unwrap_or(false);
        #[cfg(not(feature = "sigv4"))]
        if scope.is_some() {
            problems.push(SettingProblem::new(
                crate::constants::LAMBDA_TELEMETRY_OTLP_SIGV4,
                "(or an AWS OTLP endpoint) asks for SigV4, and the crate is built without its \
                 `sigv4` feature: nothing is sent to that endpoint",
            ));
        }
        Self {
            endpoint,
            headers,
            headers_secret,
            code_headers,
            timeout,
            gzip,
            what: signal.what,
            headers_setting: signal.headers_setting,
            #[cfg(feature = "sigv4")]
            signer: scope.map(aws::Signer::new),
            #[cfg(not(feature = "sigv4"))]
            unsigned: scope,
            reported: Mutex::new(HashSet::new()),
        }
    }

    /// A sender of `what` to `endpoint` with no headers, for tests.
    #[cfg(test)]
    pub(super) fn with_endpoint(endpoint: String, what: &'static str) -> Self {
        Self {
            endpoint,
            headers: HeaderMap::new(),
            headers_secret: None,
            code_headers: HeaderMap::new(),
            timeout: DEFAULT_TIMEOUT,
            gzip: false,
            what,
            headers_setting: crate::constants::OTEL_EXPORTER_OTLP_HEADERS,
            #[cfg(feature = "sigv4")]
            signer: None,
            #[cfg(not(feature = "sigv4"))]
            unsigned: None,
            reported: Mutex::new(HashSet::new()),
        }
    }

    /// The same sender, signing for `scope` with `credentials`: tests sign with fixed ones.
    #[cfg(all(test, feature = "sigv4"))]
    pub(super) fn signing(
        mut self,
        scope: aws::Scope,
        credentials: aws_credential_types::Credentials,
    ) -> Self {
        self.signer = Some(aws::Signer::with_credentials(scope, credentials));
        self
    }

    /// Whether the sender is off while its headers' secret cannot be read (its line said so
    /// once). Starts a read that is due first, even with nothing to send: an off secret is
    /// read again, or nothing would turn it on.
    pub(super) fn off(&self, deadline: Instant) -> bool {
        #[cfg(not(feature = "sigv4"))]
        if self.unsigned.is_some() {
            return true;
        }
        if let Some(secret) = &self.headers_secret {
            secret.read_if_due(deadline);
        }
        self.headers_secret.as_ref().is_some_and(|s| s.is_off())
    }

    /// Posts `body` (protobuf, gzipped here if so set), retrying 429, 502, 503, 504 and
    /// connection failures with backoff (or the backend's `Retry-After`) until `deadline`.
    /// The response's body on success (an OTLP response message, maybe empty).
    pub(super) async fn send(
        &self,
        mut body: Vec<u8>,
        deadline: Instant,
    ) -> Result<Vec<u8>, ExportFailure> {
        if self.gzip {
            body = gzip(&body);
        }
        #[cfg_attr(not(feature = "sigv4"), allow(unused_mut))]
        let mut headers = self
            .headers_by(deadline)
            .await
            .ok_or(ExportFailure::GaveUp)?;
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        );
        if self.gzip {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        // Signed once per batch: a signature stays valid for minutes, its retries' too.
        #[cfg(feature = "sigv4")]
        if let Some(signer) = &self.signer {
            let signed = signer
                .sign(&self.endpoint, &headers, &body, deadline)
                .await
                .ok_or(ExportFailure::GaveUp)?;
            headers.extend(signed);
        }
        let mut backoff = FIRST_BACKOFF;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(ExportFailure::GaveUp);
            }
            // Built on the first export, after the first response: TLS set-up stays out of
            // the cold start.
            let post = crate::transport::shared_client()
                .post(&self.endpoint)
                .headers(headers.clone())
                .timeout(self.timeout.min(remaining));
            let sent = post.body(body.clone()).send().await;
            let wait = match sent {
                Ok(response) if response.status().is_success() => {
                    // The data arrived; a body cut short only loses the partial-success
                    // detail, so it is no failure.
                    let answer = response.bytes().await.unwrap_or_default();
                    return Ok(answer.to_vec());
                }
                Ok(response) if retryable(response.status(), self.signs()) => {
                    retry_after(response.headers()).unwrap_or(backoff)
                }
                Ok(response) => {
                    let status = response.status().as_u16();
                    if matches!(status, 401 | 403)
                        && let Some(secret) = &self.headers_secret
                    {
                        secret.refused();
                    }
                    self.report_once(status);
                    return Err(ExportFailure::Refused(status));
                }
                // Connection refused, reset, or the per-request timeout: the backend may be back.
                Err(_) => backoff,
            };
            // A comparison, not `now + wait`: a `Retry-After` or a backoff can be beyond what an
            // `Instant` holds.
            if wait >= deadline.saturating_duration_since(Instant::now()) {
                return Err(ExportFailure::GaveUp);
            }
            tokio::time::sleep(wait).await;
            backoff = backoff.saturating_mul(2);
        }
    }

    /// The limits of one traces request: AWS's endpoint's when signing for it.
    pub(super) fn trace_limits(&self) -> &'static limits::TraceLimits {
        if self.signs() {
            &limits::AWS_TRACES
        } else {
            &limits::OTHER_TRACES
        }
    }

    /// The limits of one metrics request: AWS's endpoint's when signing for it.
    pub(super) fn metric_limits(&self) -> &'static limits::MetricLimits {
        if self.signs() {
            &limits::AWS_METRICS
        } else {
            &limits::OTHER_METRICS
        }
    }

    /// Whether requests are signed for AWS.
    fn signs(&self) -> bool {
        #[cfg(feature = "sigv4")]
        return self.signer.is_some();
        #[cfg(not(feature = "sigv4"))]
        return false;
    }

    /// What one request of `items` (spans, data points) lost, by how [`send`](Self::send)
    /// ended: all of them when refused (with the status) or not delivered; when it arrived,
    /// those the answer says were rejected (`rejected`, reading a partial success).
    pub(super) fn lost(
        sent: Result<Vec<u8>, ExportFailure>,
        items: u64,
        rejected: impl FnOnce(&[u8]) -> u64,
    ) -> crate::sinks::loss::Counts {
        use crate::sinks::loss::Counts;
        match sent {
            Ok(answer) => Counts {
                dropped: rejected(&answer),
                ..Counts::default()
            },
            Err(ExportFailure::Refused(status)) => Counts {
                dropped: items,
                refused_status: Some(status),
                ..Counts::default()
            },
            Err(ExportFailure::GaveUp) => Counts {
                dropped: items,
                ..Counts::default()
            },
        }
    }

    /// The headers to send with: with a secret's, once it is read (waiting within
    /// `deadline` for the read under way); `None` while it is not.
    async fn headers_by(&self, deadline: Instant) -> Option<HeaderMap> {
        let Some(secret) = &self.headers_secret else {
            return Some(self.headers.clone());
        };
        let from_secret = secret.value_by(deadline).await?;
        let mut headers = self.headers.clone();
        headers.extend(HeaderMap::clone(&from_secret));
        headers.extend(self.code_headers.clone());
        Some(headers)
    }

    fn report_once(&self, status: u16) {
        let first = self
            .reported
            .lock()
            .map(|mut seen| seen.insert(status))
            .unwrap_or(false);
        if first {
            let (what, headers) = (self.what, self.headers_setting);
            #[cfg(feature = "sigv4")]
            if let Some(signer) = &self.signer
                && matches!(status, 400 | 401 | 403)
            {
                // What to do, never the signature or the credentials.
                tracing::error!(
                    status,
                    endpoint = self.endpoint.as_str(),
                    "{} (reported once)",
                    aws::refusal_advice(signer.scope().service)
                );
                return;
            }
            // The status and the endpoint only: never the headers, which hold the key.
            tracing::error!(
                status,
                endpoint = self.endpoint.as_str(),
                "the OTLP endpoint refused the {what}; check {headers} (reported once)"
            );
        }
    }
}

/// Spans and metrics compress about 5:1; the fastest level keeps the flush short.
fn gzip(body: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::fast(),
    );
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(body);
    encoder.finish().unwrap_or_default()
}

/// OTLP/HTTP's retryable statuses ("429, 502, 503, 504", OTLP specification, "Failures"),
/// and for AWS's endpoints also 500, which AWS's retry rules count as transient
/// (`InternalFailure`): worth another try within the budget.
fn retryable(status: StatusCode, aws: bool) -> bool {
    matches!(status.as_u16(), 429 | 502 | 503 | 504) || (aws && status.as_u16() == 500)
}

/// `Retry-After` in seconds (the HTTP-date form is rare from collectors and is ignored).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds))
}

/// `key1=value1,key2=value2`, values percent-decoded, as the specification writes them, from
/// the variable `setting`. A malformed entry is skipped and reported by the setting, its
/// position and the reason only: no part of it is quoted, since a bare key
/// (`x-honeycomb-team KEY`, a lone `KEY`) is as likely as a name.
fn parse_headers(
    setting: &'static str,
    value: &str,
    problems: &mut Vec<SettingProblem>,
) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let entries: Vec<&str> = value.split(',').filter(|e| !e.trim().is_empty()).collect();
    for (i, entry) in entries.iter().enumerate() {
        let reason = match entry.split_once('=') {
            None => Err("has no `=` between a name and a value"),
            Some((name, value)) => match HeaderName::from_bytes(name.trim().as_bytes()) {
                Err(_) => Err("has a name that is not a valid header name"),
                Ok(name) => percent_encoding::percent_decode_str(value.trim())
                    .decode_utf8()
                    .ok()
                    .and_then(|value| HeaderValue::from_str(&value).ok())
                    .map(|value| (name, value))
                    .ok_or("has a value that is not a valid header value once percent-decoded"),
            },
        };
        match reason {
            Ok((name, mut value)) => {
                value.set_sensitive(true);
                headers.insert(name, value);
            }
            Err(reason) => problems.push(SettingProblem::entry(
                setting,
                i + 1,
                entries.len(),
                format!("{reason}; it is ignored"),
            )),
        }
    }
    headers
}

/// A secret's headers: every entry must be usable (a bare key, stored without its
/// `x-honeycomb-team=`, is the likely mistake), else the reasons, which never quote it.
fn headers_from_secret(text: &str) -> Result<HeaderMap, String> {
    let mut problems = Vec::new();
    let headers = parse_headers(OTEL_EXPORTER_OTLP_HEADERS_SECRET_ARN, text, &mut problems);
    if !problems.is_empty() {
        // Entry by entry, without the plain variable's "it is ignored": the whole value is.
        let reasons: Vec<String> = problems
            .iter()
            .map(|p| p.to_string().trim_end_matches("; it is ignored").to_owned())
            .collect();
        return Err(reasons.join("; "));
    }
    if headers.is_empty() {
        return Err("it holds no header".into());
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_parsed_as_the_specification_writes_them() {
        let mut problems = Vec::new();
        let headers = parse_headers(
            OTEL_EXPORTER_OTLP_HEADERS,
            "x-honeycomb-team=abc%3D%3D , x-honeycomb-dataset=cruddur,x-key=ok",
            &mut problems,
        );
        assert_eq!(headers["x-honeycomb-team"], "abc==");
        assert_eq!(headers["x-honeycomb-dataset"], "cruddur");
        assert_eq!(headers.len(), 3);
        assert!(headers["x-honeycomb-team"].is_sensitive());
        assert_eq!(problems, Vec::<SettingProblem>::new());
    }

    /// The settings model's rule: a problem names the setting and the reason, never the value,
    /// which may be a key. Each kind of malformed entry, with a canary where a key would be.
    #[test]
    fn a_malformed_header_entry_is_reported_without_any_of_its_text() {
        for (value, reason) in [
            ("x-honeycomb-team canary1key", "has no `=`"),
            ("canary1key", "has no `=`"),
            ("canary1key team=abc", "not a valid header name"),
            ("x-honeycomb-team=canary1key\n1", "not a valid header value"),
            ("x-honeycomb-team=canary1key%FF", "not a valid header value"),
        ] {
            let mut problems = Vec::new();
            let headers = parse_headers(
                OTEL_EXPORTER_OTLP_TRACES_HEADERS,
                &format!("x-ok=1,{value}"),
                &mut problems,
            );
            assert_eq!(headers.len(), 1, "{value}: the good entry is kept");
            let [problem] = problems.as_slice() else {
                panic!("{value}: {problems:?}")
            };
            let problem = problem.to_string();
            assert!(
                problem.starts_with("OTEL_EXPORTER_OTLP_TRACES_HEADERS: entry 2 of 2 ")
                    && problem.contains(reason),
                "{problem}"
            );
            for part in ["canary1key", "x-honeycomb-team", "team"] {
                assert!(!problem.contains(part), "{value}: {problem}");
            }
        }
    }

    /// Traces and metrics send with the same headers' secret: one credential, read once, and
    /// a problem with its setting said once, whichever sinks ask.
    #[test]
    fn the_headers_secret_is_one_for_traces_and_metrics() {
        let config = crate::Config::from_lookup(&|name| {
            (name == OTEL_EXPORTER_OTLP_HEADERS_SECRET_ARN).then(|| "not-an-arn-x9".to_owned())
        });
        let resource = crate::traces::resource(&config);
        let mut setup = Setup::new(&config, &resource);
        let (traces, metrics) = (headers_secret(&mut setup), headers_secret(&mut setup));
        assert!(traces.is_none() && metrics.is_none());
        assert_eq!(setup.problems.len(), 1, "{:?}", setup.problems);
        assert!(!setup.problems[0].to_string().contains("x9"));
    }

    /// With a secret's ARN, both signals hold the one credential.
    #[cfg(feature = "secrets")]
    #[test]
    fn both_signals_hold_one_credential() {
        let config = crate::Config::from_lookup(&|name| {
            (name == OTEL_EXPORTER_OTLP_HEADERS_SECRET_ARN).then(|| {
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:otlp-headers-AbCdEf"
                    .to_owned()
            })
        });
        let resource = crate::traces::resource(&config);
        let mut setup = Setup::new(&config, &resource);
        let traces = headers_secret(&mut setup).unwrap();
        let metrics = headers_secret(&mut setup).unwrap();
        assert!(Arc::ptr_eq(&traces, &metrics));
        assert!(setup.problems.is_empty(), "{:?}", setup.problems);
    }

    /// A compression that is neither `gzip` nor `none` is a problem named by the variable it
    /// was read from, the signal's or the generic one, said once even when both signals read
    /// it, and never quoted.
    #[test]
    fn a_bad_compression_is_named_by_the_variable_it_was_read_from() {
        for setting in [
            "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
            "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION",
            "OTEL_EXPORTER_OTLP_COMPRESSION",
        ] {
            let config = crate::Config::from_lookup(&|name| match name {
                "OTEL_TRACES_EXPORTER" | "OTEL_METRICS_EXPORTER" => Some("otlp".to_owned()),
                _ if name == setting => Some("zstd-x9".to_owned()),
                _ => None,
            });
            let resource = crate::traces::resource(&config);
            let sinks = crate::sinks::from_config(&config, &resource);
            let problems: Vec<String> = sinks.problems.iter().map(ToString::to_string).collect();
            assert_eq!(
                problems,
                [format!(
                    "{setting} is not gzip or none; sending uncompressed"
                )]
            );
        }
    }

    #[test]
    fn gzip_bodies_decompress_to_the_protobuf() {
        use std::io::Read as _;
        let body: Vec<u8> = (0..10_000u32).flat_map(|i| (i % 7).to_le_bytes()).collect();
        let mut unzipped = Vec::new();
        flate2::read::GzDecoder::new(&gzip(&body)[..])
            .read_to_end(&mut unzipped)
            .unwrap();
        assert_eq!(unzipped, body);
    }

    /// OTLP/HTTP: "The retryable response codes are 429, 502, 503, 504"; AWS's endpoints
    /// also 500 (`InternalFailure`, transient by AWS's retry rules).
    #[test]
    fn only_transient_statuses_are_retried() {
        let status = |code| StatusCode::from_u16(code).unwrap();
        for aws in [false, true] {
            for code in [429, 502, 503, 504] {
                assert!(retryable(status(code), aws));
            }
            for code in [400, 401, 403, 404, 413, 501] {
                assert!(!retryable(status(code), aws));
            }
        }
        assert!(!retryable(status(500), false));
        assert!(retryable(status(500), true));
    }

    /// RFC 9110: `Retry-After` is "a non-negative decimal integer, representing time in
    /// seconds", with no upper bound. One beyond what an `Instant` can hold is a wait past the
    /// budget, given up on at once, never a panic (which ended the Runtime API loop).
    #[test]
    fn a_retry_after_beyond_any_instant_is_given_up_on_not_a_panic() {
        use std::io::{Read as _, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}/v1/traces", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for stream in listener.incoming().take(3) {
                let mut stream = stream.unwrap();
                let mut request = [0; 65536];
                let _ = stream.read(&mut request);
                let _ = stream.write_all(
                    b"HTTP/1.1 429 Too Many Requests\r\nretry-after: 18446744073709551615\r\n\
                      content-length: 0\r\nconnection: close\r\n\r\n",
                );
            }
        });
        let sender = Sender::with_endpoint(endpoint, "spans");
        let runtime = crate::logs::testing::current_thread_runtime();
        let deadline = Instant::now() + Duration::from_secs(5);
        let outcome = runtime.block_on(sender.send(Vec::new(), deadline));
        assert!(matches!(outcome, Err(ExportFailure::GaveUp)), "{outcome:?}");
    }
    /// A sender for AWS signs every request with SigV4 (`Authorization` scoped to the region
    /// and service, `X-Amz-Date`, the session token), retries AWS's transient 500, and says a
    /// refusal once with what to do (the role's permission, Transaction Search), never a
    /// credential or the signature.
    #[cfg(feature = "sigv4")]
    #[test]
    fn a_sender_for_aws_signs_and_says_a_refusal_once_with_what_to_do() {
        use ::tests::otlp_receiver::{Answer, OtlpReceiver};
        let receiver = OtlpReceiver::start(Answer::Status(403, None));
        let credentials = aws_credential_types::Credentials::new(
            "AKIDEXAMPLE",
            "secret-x9",
            Some("token-x9".to_owned()),
            None,
            "test",
        );
        let scope = aws::Scope {
            service: "xray",
            region: "eu-west-1".to_owned(),
        };
        let sender = Sender::with_endpoint(format!("{}/v1/traces", receiver.endpoint()), "spans")
            .signing(scope, credentials);
        let runtime = crate::logs::testing::current_thread_runtime();
        let lines = crate::logs::testing::capture(crate::config::LogFormat::Json, || {
            for _ in 0..2 {
                let deadline = Instant::now() + Duration::from_secs(5);
                let outcome = runtime.block_on(sender.send(Vec::new(), deadline));
                assert_eq!(outcome, Err(ExportFailure::Refused(403)));
            }
        });
        let exports = receiver.exports();
        assert_eq!(exports.len(), 2);
        let header = |name: &str| {
            exports[0]
                .headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let authorization = header("authorization");
        assert!(
            authorization.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"
            ) && authorization.contains("/eu-west-1/xray/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature="),
            "{authorization}"
        );
        assert_eq!(header("x-amz-security-token"), "token-x9");
        assert_eq!(header("x-amz-date").len(), "20261130T120000Z".len());
        assert_eq!(lines.len(), 1, "said once: {lines:#?}");
        assert!(lines[0].contains("xray:PutSpans") && lines[0].contains("Transaction Search"));
        let signature = authorization.rsplit('=').next().unwrap();
        assert!(
            !lines[0].contains("x9") && !lines[0].contains(signature),
            "{}",
            lines[0]
        );
    }
    /// Honeycomb's key in the generic headers, their secret or code must never reach AWS: a
    /// sender that signs keeps only its signal's own headers; one that does not, all of them.
    #[test]
    fn a_signed_sender_sends_no_other_backends_headers() {
        let config = crate::Config::from_lookup(&|name| {
            match name {
                "OTEL_EXPORTER_OTLP_HEADERS" => Some("x-honeycomb-team=canary-key"),
                "OTEL_EXPORTER_OTLP_METRICS_HEADERS" => Some("x-signal=kept"),
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT" => {
                    Some("https://monitoring.us-east-1.amazonaws.com/v1/metrics")
                }
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" => Some("https://api.honeycomb.io/v1/traces"),
                _ => None,
            }
            .map(str::to_owned)
        })
        .with_otlp_header(
            http::HeaderName::from_static("x-code"),
            http::HeaderValue::from_static("code-key"),
        );
        let settings = &config.otlp;
        let signal = |what, endpoint, headers, aws_service| Signal {
            what,
            endpoint,
            path: "",
            headers,
            timeout: &settings.timeout,
            gzip: &settings.gzip,
            headers_setting: "",
            aws_service,
        };
        let mut problems = Vec::new();
        let metrics = Sender::new(
            signal(
                "metrics",
                settings.metrics_endpoint.as_deref(),
                &settings.metrics_headers,
                "monitoring",
            ),
            settings,
            None,
            &mut problems,
        );
        let names = |sender: &Sender| -> Vec<String> {
            let mut names: Vec<String> = sender.headers.keys().map(|n| n.to_string()).collect();
            names.sort();
            names
        };
        assert_eq!(names(&metrics), ["x-signal"]);
        let traces = Sender::new(
            signal(
                "spans",
                settings.traces_endpoint.as_deref(),
                &settings.headers,
                "xray",
            ),
            settings,
            None,
            &mut problems,
        );
        assert_eq!(names(&traces), ["x-code", "x-honeycomb-team"]);
        // Without the feature, the AWS endpoint is said (and sent nothing): once, by metrics.
        let expected = if cfg!(feature = "sigv4") { 0 } else { 1 };
        assert_eq!(problems.len(), expected, "{problems:?}");
    }
}
