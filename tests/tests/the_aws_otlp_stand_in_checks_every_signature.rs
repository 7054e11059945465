//! The loopback stand-in for CloudWatch's OTLP endpoints (issue 17) checks every request's
//! SigV4 signature with botocore, independently of the crate's signer: a request it lets
//! through is one AWS would take. These tests hold the stand-in itself, before any function
//! signs a request.

use std::process::Command;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message as _;
use tests::aws_otlp::{Answer, AwsOtlpEndpoint, TestCredentials, python};
use tests::workspace_root;

/// The proof that the check is right: requests botocore signs for the stand-in's service,
/// region and credentials pass, and the same with a wrong region, service, secret, session
/// token, a changed body byte (against the signature and against `X-Amz-Content-SHA256`), or
/// signed 20 minutes ago (AWS's 15-minute RequestTimeTooSkewed rule) fail, each with a reason
/// naming what differed. Python's unittest, about a second.
#[test]
fn botocore_signed_requests_pass_and_each_wrong_part_fails() {
    let output = Command::new(python())
        .args(["-m", "unittest", "discover", "-s", "tests/local"])
        .args(["-p", "test_sigv4_otlp_endpoint.py"])
        .current_dir(workspace_root())
        .output()
        .expect("python from .venv runs (`make test` installs it)");
    assert!(
        output.status.success(),
        "the stand-in's unit checks failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// AWS answers a request without a signature 403 (`MissingAuthenticationTokenException`):
/// so must the stand-in, before it answers as told, and its record says why.
#[test]
fn the_stand_in_refuses_an_unsigned_request_and_records_it() {
    let endpoint = AwsOtlpEndpoint::start("xray", "us-east-1", &TestCredentials::LAMBDA);
    // Queued for verified requests only: the unsigned one must not take it.
    endpoint.answer_next(vec![Answer::status(500)]);
    let sent = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: vec![1; 16],
                    span_id: vec![2; 8],
                    name: "unsigned".to_owned(),
                    ..Span::default()
                }],
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent
        .post(&endpoint.endpoint("/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .send(sent.encode_to_vec())
        .expect("the stand-in answers");

    assert_eq!(response.status(), 403);
    let error: serde_json::Value =
        serde_json::from_reader(response.body_mut().as_reader()).expect("a JSON error");
    assert_eq!(error["__type"], "MissingAuthenticationTokenException");
    let received = endpoint.received();
    assert_eq!(received.len(), 1, "{received:?}");
    let record = &received[0];
    assert!(!record.verified);
    assert_eq!(record.path, "/v1/traces");
    let reason = record.reason.as_deref().unwrap_or_default();
    assert!(reason.contains("no Authorization header"), "{reason}");
    assert_eq!(record.traces(), sent, "the body is recorded as sent");
    assert_eq!(
        endpoint.spans(),
        Vec::<Span>::new(),
        "refused spans count for nothing"
    );
}
