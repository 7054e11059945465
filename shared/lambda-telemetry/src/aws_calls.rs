//! How the crate's AWS calls retry and time out (CloudWatch Logs shipping, secrets' reads):
//! short timeouts and quick retries, since every call runs inside a flush budget or in the
//! background of a process Lambda freezes between invocations, where a long wait helps nobody.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;

/// Three attempts, backing off from 50 ms to at most 1 s.
pub(crate) fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(50))
        .with_max_backoff(Duration::from_secs(1))
}

/// 1 s to connect, 2 s per attempt.
pub(crate) fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .operation_attempt_timeout(Duration::from_secs(2))
        .build()
}
