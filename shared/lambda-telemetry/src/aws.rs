//! The AWS SDK's configuration, loaded once per process and shared by the parts that call
//! AWS: CloudWatch Logs shipping (feature `cloudwatch`) and secrets (feature `secrets`).
//!
//! The standard chain (region, credentials, `AWS_ENDPOINT_URL[_<SERVICE>]`), with short
//! timeouts and quick retries: every call runs inside a flush budget or in the background of
//! a Lambda that is frozen between invocations, where a long wait helps nobody.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;

/// The configuration, loaded on first use. Loading can take seconds where the region and
/// credentials come from IMDS (off Lambda), so callers load it off the request path.
pub(crate) async fn sdk_config() -> &'static SdkConfig {
    static CONFIG: tokio::sync::OnceCell<SdkConfig> = tokio::sync::OnceCell::const_new();
    CONFIG
        .get_or_init(|| async {
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .retry_config(
                    RetryConfig::standard()
                        .with_max_attempts(3)
                        .with_initial_backoff(Duration::from_millis(50))
                        .with_max_backoff(Duration::from_secs(1)),
                )
                .timeout_config(
                    TimeoutConfig::builder()
                        .connect_timeout(Duration::from_secs(1))
                        .operation_attempt_timeout(Duration::from_secs(2))
                        .build(),
                )
                .load()
                .await
        })
        .await
}
