//! The signature against botocore's, computed apart (`botocore.auth.SigV4Auth`, botocore
//! 1.43.127) for the same request, credentials and time: the expected values below are its.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::*;

/// 2026-11-30T12:00:00Z.
fn signing_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_796_040_000)
}

fn signer() -> Signer {
    Signer::with_credentials(
        Scope {
            service: "xray",
            region: "us-east-1".to_owned(),
        },
        Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            Some("session-token-example".to_owned()),
            None,
            "test",
        ),
    )
}

fn headers(gzip: bool) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        "content-type",
        HeaderValue::from_static("application/x-protobuf"),
    );
    if gzip {
        headers.insert("content-encoding", HeaderValue::from_static("gzip"));
    }
    headers
}

/// SigV4 ("Create a signed AWS API request", IAM User Guide): the canonical request of a POST
/// with its signed headers (`content-encoding` when gzipped, `content-type`, `host`,
/// `x-amz-date`, `x-amz-security-token`) and the body's SHA-256, scoped to
/// `<date>/<region>/<service>/aws4_request`, gives botocore's signature to the byte.
#[test]
fn the_signature_is_botocores_for_the_same_request() {
    let expected = [
        (
            false,
            "content-type;host;x-amz-date;x-amz-security-token",
            "a8c6fdcdca9fae3a137ed78b95f558679e0d2aa543bcf739bdf3c05ccd8951dc",
        ),
        (
            true,
            "content-encoding;content-type;host;x-amz-date;x-amz-security-token",
            "4525981726e445753137b67d7a47e1869cf10696f7dde1d20dfb0fb71d207b9b",
        ),
    ];
    let signer = signer();
    for (gzip, signed_headers, signature) in expected {
        let signed = signer
            .signature(
                "https://xray.us-east-1.amazonaws.com/v1/traces",
                &headers(gzip),
                b"\x0a\x00",
                signer_credentials(&signer),
                signing_time(),
            )
            .unwrap();
        assert_eq!(
            signed["authorization"].to_str().unwrap(),
            format!(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261130/us-east-1/xray/aws4_request, \
                 SignedHeaders={signed_headers}, Signature={signature}"
            ),
            "gzip: {gzip}"
        );
        assert_eq!(signed["x-amz-date"], "20261130T120000Z");
        assert_eq!(signed["x-amz-security-token"], "session-token-example");
        assert!(signed.values().all(HeaderValue::is_sensitive));
    }
    // Another body is another signature: botocore's for `\x0a\x01`.
    let other_body = signer
        .signature(
            "https://xray.us-east-1.amazonaws.com/v1/traces",
            &headers(false),
            b"\x0a\x01",
            signer_credentials(&signer),
            signing_time(),
        )
        .unwrap();
    assert!(
        other_body["authorization"]
            .to_str()
            .unwrap()
            .ends_with("72142f01cc889c91788d29d37e3dea7d6e827728bb821ca80e9f785a27025e0c")
    );
}

fn signer_credentials(signer: &Signer) -> Credentials {
    match &signer.credentials {
        Source::Environment(credentials) => credentials.clone(),
        Source::Chain(_) => unreachable!("tests sign with fixed credentials"),
    }
}

/// Lambda's credentials are the environment's: both keys, and the session token when set;
/// without both keys there are none (the default chain is asked instead).
#[test]
fn the_environments_credentials_need_both_keys() {
    let env = |vars: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    let full = from_environment(&env(&[
        ("AWS_ACCESS_KEY_ID", "AKID"),
        ("AWS_SECRET_ACCESS_KEY", "secret-x9"),
        ("AWS_SESSION_TOKEN", "token-x9"),
    ]))
    .unwrap();
    assert_eq!(full.access_key_id(), "AKID");
    assert_eq!(full.session_token(), Some("token-x9"));
    let long_term = from_environment(&env(&[
        ("AWS_ACCESS_KEY_ID", "AKID"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
    ]))
    .unwrap();
    assert_eq!(long_term.session_token(), None);
    assert!(from_environment(&env(&[("AWS_ACCESS_KEY_ID", "AKID")])).is_none());
    assert!(
        from_environment(&env(&[
            ("AWS_ACCESS_KEY_ID", " "),
            ("AWS_SECRET_ACCESS_KEY", "secret")
        ]))
        .is_none()
    );
    // Never printed: aws-credential-types leaves the secret and the token out.
    let printed = format!("{full:?}");
    assert!(!printed.contains("x9"), "{printed}");
}

fn scope() -> Scope {
    Scope {
        service: "monitoring",
        region: "us-east-1".to_owned(),
    }
}

/// Off Lambda the chain is asked in the background: a chain that never answers (a
/// black-holed metadata service) costs a flush its deadline, not more, and the request is
/// not sent unsigned.
#[test]
fn a_chain_that_never_answers_costs_the_flush_its_deadline_only() {
    let never = SharedCredentialsProvider::new(
        aws_credential_types::credential_fn::provide_credentials_fn(|| async {
            std::future::pending::<aws_credential_types::provider::Result>().await
        }),
    );
    let signer = Signer::with_provider(scope(), never);
    let runtime = crate::logs::testing::current_thread_runtime();
    let signed = runtime.block_on(async {
        let deadline = Instant::now() + Duration::from_millis(50);
        // Bounded from outside too: a hang fails the test instead of stalling it.
        tokio::time::timeout(
            Duration::from_secs(10),
            signer.sign(
                "https://monitoring.us-east-1.amazonaws.com/v1/metrics",
                &headers(false),
                b"",
                deadline,
            ),
        )
        .await
    });
    assert_eq!(signed.expect("returned by its deadline"), None);
}

/// The chain's credentials sign; ones about to expire are used while fresh ones are asked
/// for; a failing chain is said once and not asked again on every flush.
#[test]
fn the_chains_credentials_sign_and_a_failing_chain_is_asked_again_later() {
    let asked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let provider = {
        let asked = Arc::clone(&asked);
        SharedCredentialsProvider::new(aws_credential_types::credential_fn::provide_credentials_fn(
            move || {
                let n = asked.fetch_add(1, Ordering::SeqCst);
                async move {
                    match n {
                        // Expiring in a minute: usable, but refreshed.
                        0 => Ok(Credentials::new(
                            "AKIDCHAIN",
                            "secret-x9",
                            None,
                            Some(SystemTime::now() + Duration::from_secs(60)),
                            "chain",
                        )),
                        _ => Err(
                            aws_credential_types::provider::error::CredentialsError::not_loaded(
                                "no profile, no role",
                            ),
                        ),
                    }
                }
            },
        ))
    };
    let signer = Signer::with_provider(scope(), provider);
    let runtime = crate::logs::testing::current_thread_runtime();
    let lines = crate::logs::testing::capture(crate::config::LogFormat::Json, || {
        runtime.block_on(async {
            for _ in 0..4 {
                let deadline = Instant::now() + Duration::from_secs(5);
                let signed = signer
                    .sign(
                        "https://monitoring.us-east-1.amazonaws.com/v1/metrics",
                        &headers(false),
                        b"",
                        deadline,
                    )
                    .await
                    .expect("signed with the chain's credentials");
                assert!(
                    signed["authorization"]
                        .to_str()
                        .unwrap()
                        .contains("Credential=AKIDCHAIN/")
                );
                tokio::task::yield_now().await;
            }
        })
    });
    // Once for the first credentials, once for their refresh (which failed); not again
    // within the 10 s after a failure.
    assert_eq!(asked.load(Ordering::SeqCst), 2);
    let said: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("no AWS credentials for signing"))
        .collect();
    assert_eq!(said.len(), 1, "{lines:#?}");
    assert!(!lines.concat().contains("x9"));
}
