//! One read of a secret from its store, and why a read failed, in words for the log.
//!
//! The words never hold the value: only the store's error code and message, which name the
//! secret and the caller, never what it holds.

use std::fmt;
use std::sync::OnceLock;

use aws_config::ecs::EcsCredentialsProvider;
use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::meta::credentials::CredentialsProviderChain;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_secretsmanager::config::SharedCredentialsProvider;

use aws_sdk_secretsmanager::config::http::HttpResponse;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};

use super::arn::{SecretArn, Store};

/// Why a read gave no value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Unreadable {
    pub(crate) kind: Failure,
    /// The store's code and message, or what failed on the way.
    pub(crate) words: String,
}

/// The kinds of failure, each said once when it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// No secret or parameter of that ARN (`ResourceNotFoundException`, `ParameterNotFound`).
    Missing,
    /// The store refused the caller (HTTP 403: `AccessDeniedException`; a KMS key it may not
    /// use: `DecryptionFailure`, `KMS*`; credentials it does not know).
    Denied,
    /// The store did not answer, or was busy (a connection that failed, a timeout, a 5xx or
    /// throttling).
    Unreachable,
    /// No credentials or region to ask with.
    NotConfigured,
    /// A value came, but not one the sink can use (the reason says why, not what).
    Malformed,
    /// Anything else the store answered.
    Other,
}

impl fmt::Display for Unreadable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            Failure::Missing => "does not exist",
            Failure::Denied => "may not be read by this function's role",
            Failure::Unreachable => "could not be read: the store did not answer",
            Failure::NotConfigured => "could not be read: no AWS region or credentials",
            Failure::Malformed => "holds a value that cannot be used",
            Failure::Other => "could not be read",
        };
        write!(f, "{what} ({})", self.words)
    }
}

impl Unreadable {
    pub(crate) fn malformed(reason: String) -> Self {
        Self {
            kind: Failure::Malformed,
            words: reason,
        }
    }
}

/// What secrets are read with: the execution role's credentials as Lambda hands them over
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`; else the container
/// credentials endpoint, `AWS_CONTAINER_CREDENTIALS_FULL_URI`), `AWS_ENDPOINT_URL` when set,
/// the crate's AWS retries and timeouts; the region is the ARN's. Not the SDK's whole default
/// chain (profiles, SSO, STS, IMDS), which a function never uses and which would cost its
/// binary megabytes (tests/bench/README.md). Made once per process.
pub(crate) fn lambda_sdk_config() -> &'static SdkConfig {
    static CONFIG: OnceLock<SdkConfig> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let credentials = CredentialsProviderChain::first_try(
            "Environment",
            EnvironmentVariableCredentialsProvider::new(),
        )
        .or_else("EcsContainer", EcsCredentialsProvider::builder().build());
        let mut config = SdkConfig::builder();
        config.set_endpoint_url(
            std::env::var("AWS_ENDPOINT_URL")
                .ok()
                .filter(|url| !url.trim().is_empty()),
        );
        config
            .behavior_version(BehaviorVersion::latest())
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .retry_config(crate::aws_calls::retry_config())
            .timeout_config(crate::aws_calls::timeout_config())
            .build()
    })
}

/// The secret's text: a Secrets Manager secret's `SecretString` (or its `SecretBinary` as
/// UTF-8), an SSM parameter's value, decrypted. Asks in the ARN's region.
pub(crate) async fn read(
    config: &aws_config::SdkConfig,
    arn: &SecretArn,
) -> Result<String, Unreadable> {
    let region = aws_config::Region::new(arn.region().to_owned());
    match arn.store() {
        Store::SecretsManager => {
            let client = aws_sdk_secretsmanager::Client::from_conf(
                aws_sdk_secretsmanager::config::Builder::from(config)
                    .region(region)
                    .build(),
            );
            let output = client
                .get_secret_value()
                .secret_id(arn.as_str())
                .send()
                .await
                .map_err(|e| unreadable(&e))?;
            if let Some(text) = output.secret_string() {
                return Ok(text.to_owned());
            }
            output
                .secret_binary()
                .and_then(|blob| String::from_utf8(blob.as_ref().to_vec()).ok())
                .ok_or_else(|| {
                    Unreadable::malformed("neither SecretString nor UTF-8 SecretBinary".into())
                })
        }
        Store::ParameterStore => {
            let client = aws_sdk_ssm::Client::from_conf(
                aws_sdk_ssm::config::Builder::from(config)
                    .region(region)
                    .build(),
            );
            let output = client
                .get_parameter()
                .name(arn.as_str())
                .with_decryption(true)
                .send()
                .await
                .map_err(|e| unreadable(&e))?;
            output
                .parameter()
                .and_then(|p| p.value())
                .map(str::to_owned)
                .ok_or_else(|| Unreadable::malformed("the parameter has no value".into()))
        }
    }
}

/// Classifies an SDK error by its code and HTTP status (a store that answers 403 in another
/// format than the SDK expects is still a refusal).
fn unreadable<E: ProvideErrorMetadata>(error: &SdkError<E, HttpResponse>) -> Unreadable {
    let (kind, words) = match error {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let code = e.code().unwrap_or("error");
            let status = service.raw().status().as_u16();
            let words = match e.message() {
                Some(message) => format!("{code}: {message}"),
                None => format!("{code}, HTTP {status}"),
            };
            let kind = if matches!(code, "ResourceNotFoundException" | "ParameterNotFound") {
                Failure::Missing
            } else if status == 403
                || code.contains("AccessDenied")
                || code.starts_with("KMS")
                || code == "DecryptionFailure"
                || matches!(code, "UnrecognizedClientException" | "InvalidClientTokenId")
            {
                Failure::Denied
            } else if status >= 500 || status == 429 || code.contains("Throttl") {
                Failure::Unreachable
            } else {
                Failure::Other
            };
            (kind, words)
        }
        SdkError::TimeoutError(_) => (Failure::Unreachable, "timed out".to_owned()),
        SdkError::DispatchFailure(failure) if failure.is_io() || failure.is_timeout() => {
            (Failure::Unreachable, "the connection failed".to_owned())
        }
        // Before any connection: no credentials from the environment or the container
        // endpoint (the SDK says "other"), or a request it could not make.
        SdkError::DispatchFailure(_) => (
            Failure::NotConfigured,
            "no usable credentials: none in the environment or from the container endpoint"
                .to_owned(),
        ),
        SdkError::ConstructionFailure(_) => (
            Failure::NotConfigured,
            "the request could not be made".to_owned(),
        ),
        _ => (Failure::Unreachable, "no valid answer".to_owned()),
    };
    Unreadable { kind, words }
}
