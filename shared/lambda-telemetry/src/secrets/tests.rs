//! The secrets path against moto's Secrets Manager, SSM Parameter Store and IAM on loopback:
//! found, missing, denied, rotated, unreachable, and the value in no log line at any level.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_secretsmanager::config::Credentials;
use tests::moto::Moto;
use tracing_subscriber::filter::LevelFilter;

use super::SecretFor;
use super::cache::Secret;
use crate::config::LogFormat;
use crate::logs::testing::capture_at;

const VALUE: &str = "canary-secret-7f3a";
const ROTATED: &str = "canary-rotated-c41d";

/// The secret's text as it is: what the tests read back.
const PLAIN: SecretFor<String> = SecretFor {
    setting: "TEST_SECRET_ARN",
    sink: "the test sink",
    parse: |text| Ok(text.to_owned()),
};

/// The process's AWS configuration as `crate::aws` loads it, pointed at `endpoint` with
/// the given key.
fn aws(runtime: &tokio::runtime::Runtime, endpoint: &str, key: (&str, &str)) -> SdkConfig {
    runtime.block_on(
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(key.0, key.1, None, None, "test"))
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(2)
                    .with_initial_backoff(Duration::from_millis(10)),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(1))
                    .operation_attempt_timeout(Duration::from_secs(5))
                    .build(),
            )
            .load(),
    )
}

fn secret(arn: &str, max_age: Duration, aws: SdkConfig) -> Arc<Secret<String>> {
    Arc::new(Secret::new(PLAIN, arn.parse().unwrap(), max_age).with_aws_config(aws))
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(30)
}

/// The one WARN line among `lines`.
fn the_one_warn(lines: &[String]) -> &str {
    let warns: Vec<&String> = lines.iter().filter(|l| l.contains("\"WARN\"")).collect();
    let [warn] = warns[..] else {
        panic!("one WARN line: {lines:#?}")
    };
    warn
}

/// Every line at TRACE, the SDK's included were they let through: none holds a value.
fn assert_no_value(lines: &[String]) {
    for line in lines {
        for value in [VALUE, ROTATED] {
            assert!(!line.contains(value), "{line}");
        }
    }
}

/// Once the retry interval (1 s, the maximum age here) has passed, the next flush reads the
/// secret, now there: the sink is on again, said at INFO.
fn assert_on_at_the_next_try(runtime: &tokio::runtime::Runtime, secret: &Arc<Secret<String>>) {
    let lines = capture_at(LevelFilter::TRACE, LogFormat::Json, || {
        runtime.block_on(async {
            tokio::time::sleep(Duration::from_millis(1100)).await;
            assert_eq!(
                secret.value_by(soon()).await.as_deref().map(String::as_str),
                Some(VALUE)
            );
        })
    });
    assert!(!secret.is_off());
    assert!(
        lines.iter().any(|l| l.contains("the test sink is on")),
        "{lines:#?}"
    );
    assert_no_value(&lines);
}

#[test]
fn a_secret_from_either_store_is_read_once_and_kept_for_its_maximum_age() {
    let moto = Moto::start(&[]);
    let runtime = crate::logs::testing::current_thread_runtime();
    let aws = aws(&runtime, &moto.endpoint(), ("AKIDEXAMPLE", "secret"));
    for arn in [
        moto.create_secret("cruddur/rollbar", VALUE),
        moto.put_parameter("/cruddur/rollbar", VALUE),
    ] {
        let secret = secret(&arn, Duration::from_secs(300), aws.clone());
        let mut values = Vec::new();
        let lines = capture_at(LevelFilter::TRACE, LogFormat::Json, || {
            runtime.block_on(async {
                values.push(secret.value_by(soon()).await);
                // Changed in the store, it is not read again before its maximum age.
                values.push(secret.value_by(soon()).await);
            })
        });
        let values: Vec<Option<String>> = values
            .into_iter()
            .map(|v| v.map(|v| v.as_str().to_owned()))
            .collect();
        assert_eq!(
            values,
            [Some(VALUE.to_owned()), Some(VALUE.to_owned())],
            "{arn}"
        );
        assert!(!secret.is_off());
        assert_no_value(&lines);
        let read_lines = lines.iter().filter(|l| l.contains("was read")).count();
        assert_eq!(read_lines, 1, "one read: {lines:#?}");
    }
}

/// A rotation reaches the function within the maximum age: the value is read again once it
/// is older, and until then the old one is used.
#[test]
fn a_rotated_secret_is_read_again_after_its_maximum_age() {
    let moto = Moto::start(&[]);
    let runtime = crate::logs::testing::current_thread_runtime();
    let arn = moto.create_secret("cruddur/otlp", VALUE);
    let secret = secret(
        &arn,
        Duration::from_secs(1),
        aws(&runtime, &moto.endpoint(), ("AKIDEXAMPLE", "secret")),
    );
    let lines = capture_at(LevelFilter::TRACE, LogFormat::Json, || {
        runtime.block_on(async {
            assert_eq!(
                secret.value_by(soon()).await.as_deref().map(String::as_str),
                Some(VALUE)
            );
            moto.put_secret_value(&arn, ROTATED);
            assert_eq!(
                secret.value_by(soon()).await.as_deref().map(String::as_str),
                Some(VALUE),
                "not read again before the maximum age"
            );
            tokio::time::sleep(Duration::from_millis(1100)).await;
            assert_eq!(
                secret.value_by(soon()).await.as_deref().map(String::as_str),
                Some(ROTATED),
                "read again once older than the maximum age"
            );
        })
    });
    assert_no_value(&lines);
}

/// A backend that refuses the value (rotated before the maximum age ran out) has it read
/// again 10 s after it was read, not after the whole maximum age (here 30 s).
#[test]
fn a_refused_value_is_read_again_soon() {
    let moto = Moto::start(&[]);
    let runtime = crate::logs::testing::current_thread_runtime();
    let arn = moto.create_secret("cruddur/refused", VALUE);
    let aws = aws(&runtime, &moto.endpoint(), ("AKIDEXAMPLE", "secret"));
    let secret = secret(&arn, Duration::from_secs(30), aws);
    let value = |secret: &Arc<Secret<String>>| {
        runtime
            .block_on(secret.value_by(soon()))
            .map(|v| v.as_str().to_owned())
    };
    assert_eq!(value(&secret).as_deref(), Some(VALUE));
    moto.put_secret_value(&arn, ROTATED);
    secret.refused();
    assert_eq!(
        value(&secret).as_deref(),
        Some(VALUE),
        "not on every refusal"
    );
    std::thread::sleep(Duration::from_millis(10_100));
    assert_eq!(value(&secret).as_deref(), Some(ROTATED));
}

/// A missing secret turns its sink off with one WARN line that names the setting, the ARN
/// and the store's reason, never a value; it is tried again (said once), and once created it
/// is read and the sink is on again, said at INFO.
#[test]
fn a_missing_secret_turns_its_sink_off_with_one_line_until_it_exists() {
    let moto = Moto::start(&[]);
    let runtime = crate::logs::testing::current_thread_runtime();
    let arn = "arn:aws:ssm:us-east-1:123456789012:parameter/cruddur/late";
    let secret = secret(
        arn,
        Duration::from_secs(1),
        aws(&runtime, &moto.endpoint(), ("AKIDEXAMPLE", "secret")),
    );
    let lines = capture_at(LevelFilter::TRACE, LogFormat::Json, || {
        runtime.block_on(async {
            assert!(secret.value_by(soon()).await.is_none());
            assert!(secret.is_off());
            tokio::time::sleep(Duration::from_millis(1100)).await;
            assert!(
                secret.value_by(soon()).await.is_none(),
                "tried again, still missing"
            );
        })
    });
    let warns: Vec<&String> = lines.iter().filter(|l| l.contains("\"WARN\"")).collect();
    assert_eq!(warns.len(), 1, "{lines:#?}");
    for words in [
        "the test sink is off",
        "TEST_SECRET_ARN",
        "does not exist",
        "ParameterNotFound",
        arn,
    ] {
        assert!(warns[0].contains(words), "{words}: {}", warns[0]);
    }

    moto.put_parameter("/cruddur/late", VALUE);
    assert_on_at_the_next_try(&runtime, &secret);
}

#[test]
fn a_secret_the_role_may_not_read_is_said_as_denied() {
    // Authentication on after the set-up's three actions: the user has no policy at all.
    let moto = Moto::start(&[("INITIAL_NO_AUTH_ACTION_COUNT", "3")]);
    let arn = moto.create_secret("cruddur/denied", VALUE);
    let (key, secret_key) = moto.user_without_permissions("cruddur-function");
    let runtime = crate::logs::testing::current_thread_runtime();
    let secret = secret(
        &arn,
        Duration::from_secs(300),
        aws(&runtime, &moto.endpoint(), (&key, &secret_key)),
    );
    let lines = capture_at(LevelFilter::TRACE, LogFormat::Json, || {
        assert!(runtime.block_on(secret.value_by(soon())).is_none());
    });
    assert!(secret.is_off());
    let warn = the_one_warn(&lines);
    assert!(
        warn.contains("may not be read by this function's role"),
        "{warn}"
    );
    assert!(!warn.contains(&secret_key), "{warn}");
    assert_no_value(&lines);
}

/// An unreachable store costs no request anything: the flush waits at most its deadline,
/// the sink stays off, and once the store answers the value is read and the sink is on.
#[test]
fn an_unreachable_store_leaves_the_sink_off_until_the_secret_is_read() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let runtime = crate::logs::testing::current_thread_runtime();
    let arn = "arn:aws:ssm:us-east-1:123456789012:parameter/cruddur/later";
    let secret = secret(
        arn,
        Duration::from_secs(1),
        aws(&runtime, &endpoint, ("AKIDEXAMPLE", "secret")),
    );
    let lines = capture_at(LevelFilter::TRACE, LogFormat::Json, || {
        assert!(runtime.block_on(secret.value_by(soon())).is_none());
    });
    assert!(secret.is_off());
    let warn = the_one_warn(&lines);
    assert!(warn.contains("the store did not answer"), "{warn}");

    let moto = Moto::start_on(port, &[]);
    moto.put_parameter("/cruddur/later", VALUE);
    assert_on_at_the_next_try(&runtime, &secret);
}

/// A read that fails unanswered after its flush ended (as one frozen with the process between
/// invocations would) says nothing of the store: no line, the sink not off, read again at the
/// next flush; twice in a row at most, the third is said. The same timeout within a flush's
/// wait is said at once.
#[test]
fn a_read_that_outlived_its_flush_and_timed_out_is_tried_again_unsaid() {
    // Accepts connections (the kernel's backlog) and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", silent.local_addr().unwrap());
    let runtime = crate::logs::testing::current_thread_runtime();
    let aws = runtime.block_on(
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(
                "AKIDEXAMPLE",
                "secret",
                None,
                None,
                "test",
            ))
            .retry_config(RetryConfig::standard().with_max_attempts(1))
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_attempt_timeout(Duration::from_millis(300))
                    .build(),
            )
            .load(),
    );
    let arn = "arn:aws:ssm:us-east-1:123456789012:parameter/cruddur/frozen";
    let outlived = secret(arn, Duration::from_secs(300), aws.clone());
    let lines = capture_at(LevelFilter::TRACE, LogFormat::Json, || {
        runtime.block_on(async {
            let flush_over = Instant::now() + Duration::from_millis(50);
            assert!(outlived.value_by(flush_over).await.is_none());
            // The read times out after the flush stopped waiting.
            tokio::time::sleep(Duration::from_millis(700)).await;
        })
    });
    assert!(!outlived.is_off(), "{lines:#?}");
    assert!(!lines.iter().any(|l| l.contains("\"WARN\"")), "{lines:#?}");
    let lines = capture_at(LevelFilter::TRACE, LogFormat::Json, || {
        runtime.block_on(async {
            for _ in 0..2 {
                let flush_over = Instant::now() + Duration::from_millis(50);
                assert!(outlived.value_by(flush_over).await.is_none());
                tokio::time::sleep(Duration::from_millis(700)).await;
            }
        })
    });
    assert!(outlived.is_off(), "the third in a row: {lines:#?}");
    let warns = lines.iter().filter(|l| l.contains("\"WARN\"")).count();
    assert_eq!(warns, 1, "{lines:#?}");

    let waited = secret(arn, Duration::from_secs(300), aws);
    let lines = capture_at(LevelFilter::TRACE, LogFormat::Json, || {
        assert!(runtime.block_on(waited.value_by(soon())).is_none());
    });
    assert!(waited.is_off());
    assert!(
        lines.iter().any(|l| l.contains("the store did not answer")),
        "{lines:#?}"
    );
}

/// Without credentials the line says so, not that the store did not answer: nothing was
/// sent (the endpoint is a closed loopback port, were anything sent).
#[test]
fn without_credentials_the_line_says_so() {
    use aws_credential_types::provider::error::CredentialsError;
    use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider, future};
    #[derive(Debug)]
    struct NoCredentials;
    impl ProvideCredentials for NoCredentials {
        fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            future::ProvideCredentials::ready(Err(CredentialsError::not_loaded("none here")))
        }
    }
    let aws = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url("http://127.0.0.1:1")
        .credentials_provider(SharedCredentialsProvider::new(NoCredentials))
        .build();
    let runtime = crate::logs::testing::current_thread_runtime();
    let secret = secret(
        "arn:aws:ssm:us-east-1:123456789012:parameter/cruddur/any",
        Duration::from_secs(300),
        aws,
    );
    let lines = capture_at(LevelFilter::TRACE, LogFormat::Json, || {
        assert!(runtime.block_on(secret.value_by(soon())).is_none());
    });
    let warn = the_one_warn(&lines);
    assert!(warn.contains("no AWS region or credentials"), "{warn}");
    assert!(!warn.contains("did not answer"), "{warn}");
}

/// Under Lambda Managed Instances several invocations flush at once: they share one read (a
/// read under way is waited for, not repeated) and all send with its value.
#[test]
fn flushes_at_once_share_one_read() {
    let moto = Moto::start(&[]);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let arn = moto.put_parameter("/cruddur/shared", VALUE);
    let secret = secret(
        &arn,
        Duration::from_secs(300),
        aws(&runtime, &moto.endpoint(), ("AKIDEXAMPLE", "secret")),
    );
    let values: Vec<Option<String>> = runtime.block_on(async {
        let flushes = (0..8).map(|_| {
            let secret = Arc::clone(&secret);
            tokio::spawn(
                async move { secret.value_by(soon()).await.map(|v| v.as_str().to_owned()) },
            )
        });
        futures_util::future::join_all(flushes)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect()
    });
    assert_eq!(values, vec![Some(VALUE.to_owned()); 8]);
    assert_eq!(secret.reads_finished(), 1);
}
