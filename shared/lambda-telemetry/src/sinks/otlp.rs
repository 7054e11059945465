//! OTLP/HTTP with protobuf, configured only by the standard `OTEL_EXPORTER_OTLP_*` variables,
//! so the original's Honeycomb settings work unchanged.
//!
//! Not opentelemetry-otlp's exporter: its retries are not bounded by our flush budget and it
//! cannot tell a refused key (log once, never retry) from a busy collector (retry with
//! backoff). The encoding is opentelemetry-proto's, the HTTP client reqwest's.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SpanData;
use prost::Message as _;
use reqwest::StatusCode;
use reqwest::header::{
    CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER,
};

use super::loss::{Counts, Loss};
use super::sink::{Batch, Setup, Sink};
use super::spans::SPANS_LOST;
use crate::config::{OtlpSettings, SecretsSettings, SettingProblem, whole_number};
use crate::constants::{
    DEFAULT_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_COMPRESSION, OTEL_EXPORTER_OTLP_HEADERS_SECRET_ARN,
};
#[cfg(test)]
use crate::constants::{OTEL_EXPORTER_OTLP_HEADERS, OTEL_EXPORTER_OTLP_TRACES_HEADERS};
use crate::secrets::{Credential, SecretFor};

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

/// The OTLP exporter, when `OTEL_TRACES_EXPORTER` lists `otlp`, or when it is not set and an
/// OTLP endpoint is: the specification's default is `otlp`, but without an endpoint it would
/// only knock on localhost for every invocation, and Lambda bills the wait.
pub(super) fn build(setup: &mut Setup<'_>) -> Option<Box<dyn Sink>> {
    let settings = &setup.config.otlp;
    let endpoint_set = settings.traces_endpoint.is_some();
    let asked = setup.exporter("otlp") || (!setup.exporters_named() && endpoint_set);
    asked.then(|| {
        Box::new(OtlpExporter::new(
            settings,
            &setup.config.secrets,
            setup.resource,
            &mut setup.problems,
        )) as _
    })
}

/// Sends spans to an OTLP/HTTP endpoint.
#[derive(Debug)]
pub(crate) struct OtlpExporter {
    endpoint: String,
    /// The environment's headers, then those given in code.
    headers: HeaderMap,
    /// `OTEL_EXPORTER_OTLP_HEADERS_SECRET_ARN`'s, added over the environment's and under those
    /// given in code (kept apart for that).
    headers_secret: Option<Credential<HeaderMap>>,
    code_headers: HeaderMap,
    timeout: Duration,
    gzip: bool,
    resource: ResourceAttributesWithSchema,
    /// Statuses already reported: a refused key is said once, not on every invocation.
    reported: Mutex<HashSet<u16>>,
}

/// Why an export did not arrive.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ExportFailure {
    /// The backend refused the batch for good (a 4xx other than 429): retrying cannot help.
    Refused(u16),
    /// The backend stayed busy or unreachable until the budget ran out.
    GaveUp,
}

impl OtlpExporter {
    /// From the OTLP settings (`OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT`, `_HEADERS`, `_TIMEOUT`
    /// and `_COMPRESSION`, or set in code). What cannot be used is added to `problems`, to be
    /// reported once telemetry is up.
    pub(crate) fn new(
        settings: &OtlpSettings,
        secrets: &SecretsSettings,
        resource: &Resource,
        problems: &mut Vec<SettingProblem>,
    ) -> Self {
        let endpoint = settings
            .traces_endpoint
            .clone()
            .unwrap_or_else(|| format!("{DEFAULT_OTLP_ENDPOINT}/v1/traces"));
        // The signal's headers are added to the generic ones, and win on a shared name; those
        // given in code come last and win over both.
        let mut headers = HeaderMap::new();
        for (setting, value) in &settings.headers {
            headers.extend(parse_headers(setting, value, problems));
        }
        let mut code_headers = HeaderMap::new();
        for (name, value) in &settings.code_headers {
            let mut value = value.clone();
            value.set_sensitive(true);
            code_headers.insert(name.clone(), value);
        }
        headers.extend(code_headers.clone());
        let headers_secret = settings.headers_secret_arn.as_deref().and_then(|arn| {
            let max_age = crate::secrets::max_age(&secrets.max_age, problems);
            Credential::from_secret(
                HEADERS_SECRET,
                arn,
                max_age,
                "the environment's headers are sent alone",
            )
            .map_err(|problem| problems.push(problem))
            .ok()
        });
        let timeout = settings
            .timeout
            .resolve(
                |name, text| whole_number(name, text).map(Duration::from_millis),
                problems,
            )
            .unwrap_or(DEFAULT_TIMEOUT);
        let gzip = settings
            .gzip
            .resolve(
                |_, text| match text.trim().to_ascii_lowercase().as_str() {
                    "gzip" => Ok(true),
                    "none" => Ok(false),
                    // Named, not quoted: a setting's value is never said (it may be a key
                    // pasted into the wrong variable).
                    _ => Err(SettingProblem::new(
                        OTEL_EXPORTER_OTLP_COMPRESSION,
                        "(or its TRACES_ form) is not gzip or none; sending uncompressed",
                    )),
                },
                problems,
            )
            .unwrap_or(false);
        Self {
            endpoint,
            headers,
            headers_secret,
            code_headers,
            timeout,
            gzip,
            resource: resource.into(),
            reported: Mutex::new(HashSet::new()),
        }
    }

    /// An exporter to `endpoint` with no headers, for tests.
    #[cfg(test)]
    pub(crate) fn with_endpoint(endpoint: String) -> Self {
        Self {
            endpoint,
            headers: HeaderMap::new(),
            headers_secret: None,
            code_headers: HeaderMap::new(),
            timeout: DEFAULT_TIMEOUT,
            gzip: false,
            resource: (&Resource::builder_empty().build()).into(),
            reported: Mutex::new(HashSet::new()),
        }
    }

    /// Sends `spans`, retrying 429, 502, 503, 504 and connection failures with backoff (or
    /// the backend's `Retry-After`) until `deadline`.
    pub(crate) async fn export(
        &self,
        spans: Vec<SpanData>,
        deadline: Instant,
    ) -> Result<(), ExportFailure> {
        let request = ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(spans, &self.resource),
        };
        let mut body = request.encode_to_vec();
        if self.gzip {
            body = gzip(&body);
        }
        let headers = self
            .headers_by(deadline)
            .await
            .ok_or(ExportFailure::GaveUp)?;
        let mut backoff = FIRST_BACKOFF;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(ExportFailure::GaveUp);
            }
            // Built on the first export, after the first response: TLS set-up stays out of
            // the cold start.
            let mut post = crate::transport::shared_client()
                .post(&self.endpoint)
                .headers(headers.clone())
                .header(CONTENT_TYPE, "application/x-protobuf")
                .timeout(self.timeout.min(remaining));
            if self.gzip {
                post = post.header(CONTENT_ENCODING, "gzip");
            }
            let sent = post.body(body.clone()).send().await;
            let wait = match sent {
                Ok(response) if response.status().is_success() => return Ok(()),
                Ok(response) if retryable(response.status()) => {
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
            // The status and the endpoint only: never the headers, which hold the key.
            tracing::error!(
                status,
                endpoint = self.endpoint.as_str(),
                "the OTLP endpoint refused the spans; check OTEL_EXPORTER_OTLP_HEADERS (reported once)"
            );
        }
    }
}

impl Sink for OtlpExporter {
    fn takes_spans(&self) -> bool {
        true
    }

    /// The spans the OpenTelemetry sampler sampled; a batch that fails costs all of them.
    fn flush<'s>(&'s self, batch: &mut Batch, deadline: Instant) -> BoxFuture<'s, Loss> {
        // Off while its headers' secret cannot be read: its line said so once, and the spans
        // are not counted as lost on every invocation.
        // Even with nothing to send: an off secret is read again, or nothing would turn it on.
        if let Some(secret) = &self.headers_secret {
            secret.read_if_due(deadline);
        }
        let off = self.headers_secret.as_ref().is_some_and(Credential::is_off);
        if off || batch.spans.sampled().next().is_none() {
            return Loss::default().at_once();
        }
        let claim = batch.spans.claim_sampled();
        Box::pin(async move {
            let spans = claim.take();
            let count = spans.len() as u64;
            let counts = match self.export(spans, deadline).await {
                Ok(()) => Counts::default(),
                Err(ExportFailure::Refused(status)) => Counts {
                    dropped: count,
                    refused_status: Some(status),
                    ..Counts::default()
                },
                Err(ExportFailure::GaveUp) => Counts {
                    dropped: count,
                    ..Counts::default()
                },
            };
            Loss::of(&SPANS_LOST, counts)
        })
    }
}

/// Spans compress about 5:1; the fastest level keeps the flush short.
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

fn retryable(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 502 | 503 | 504)
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

    #[test]
    fn only_transient_statuses_are_retried() {
        for status in [429, 502, 503, 504] {
            assert!(retryable(StatusCode::from_u16(status).unwrap()));
        }
        for status in [400, 401, 403, 404, 413, 500] {
            assert!(!retryable(StatusCode::from_u16(status).unwrap()));
        }
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
        let exporter = OtlpExporter::with_endpoint(endpoint);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let outcome = runtime.block_on(exporter.export(Vec::new(), deadline));
        assert!(matches!(outcome, Err(ExportFailure::GaveUp)), "{outcome:?}");
    }
}
