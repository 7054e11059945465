//! Spans over OTLP/HTTP: `OTEL_TRACES_EXPORTER=otlp`, an `ExportTraceServiceRequest` per flush
//! of the spans the OpenTelemetry sampler sampled (several, to AWS's endpoint, when they pass
//! its limits).

use std::time::Instant;

use futures_util::future::BoxFuture;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SpanData;
use prost::Message as _;

use super::{HeadersSecret, PartialSuccess, Sender, Signal, limits};
use crate::config::{OtlpSettings, SettingProblem};
use crate::constants::OTEL_EXPORTER_OTLP_HEADERS;
use crate::sinks::loss::{Counts, Loss};
use crate::sinks::sink::{Batch, Setup, Sink};
use crate::sinks::spans::SPANS_LOST;

/// The OTLP exporter, when `OTEL_TRACES_EXPORTER` lists `otlp`, or when it is not set and an
/// OTLP endpoint is: the specification's default is `otlp`, but without an endpoint it would
/// only knock on localhost for every invocation, and Lambda bills the wait.
pub(crate) fn build(setup: &mut Setup<'_>) -> Option<Box<dyn Sink>> {
    let endpoint_set = setup.config.otlp.traces_endpoint.is_some();
    let asked = setup.exporter("otlp") || (!setup.exporters_named() && endpoint_set);
    if !asked {
        return None;
    }
    let secret = super::headers_secret(setup);
    Some(Box::new(OtlpExporter::new(
        &setup.config.otlp,
        secret,
        setup.resource,
        &mut setup.problems,
    )))
}

/// Sends spans to an OTLP/HTTP endpoint.
#[derive(Debug)]
pub(crate) struct OtlpExporter {
    sender: Sender,
    resource: ResourceAttributesWithSchema,
    partial_success: PartialSuccess,
}

impl OtlpExporter {
    /// From the OTLP settings (`OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT`, `_HEADERS`, `_TIMEOUT`
    /// and `_COMPRESSION`, or set in code). What cannot be used is added to `problems`, to be
    /// reported once telemetry is up.
    pub(crate) fn new(
        settings: &OtlpSettings,
        headers_secret: Option<HeadersSecret>,
        resource: &Resource,
        problems: &mut Vec<SettingProblem>,
    ) -> Self {
        let signal = Signal {
            what: "spans",
            endpoint: settings.traces_endpoint.as_deref(),
            path: "/v1/traces",
            headers: &settings.headers,
            timeout: &settings.timeout,
            gzip: &settings.gzip,
            headers_setting: OTEL_EXPORTER_OTLP_HEADERS,
            aws_service: "xray",
        };
        Self {
            sender: Sender::new(signal, settings, headers_secret, problems),
            resource: resource.into(),
            partial_success: PartialSuccess::default(),
        }
    }

    /// An exporter to `endpoint` with no headers, for tests.
    #[cfg(test)]
    pub(crate) fn with_endpoint(endpoint: String) -> Self {
        Self {
            sender: Sender::with_endpoint(endpoint, "spans"),
            resource: (&Resource::builder_empty().build()).into(),
            partial_success: PartialSuccess::default(),
        }
    }

    /// Sends `spans` within `deadline` (see [`Sender::send`]), in as many requests as the
    /// endpoint's limits ask, one after another; what did not arrive, or arrived and was
    /// rejected (a partial success), is counted.
    pub(crate) async fn export(&self, spans: Vec<SpanData>, deadline: Instant) -> Counts {
        let resource_spans = group_spans_by_resource_and_scope(spans, &self.resource);
        let mut counts = Counts::default();
        for request in limits::trace_requests(resource_spans, self.sender.trace_limits()) {
            let spans: u64 = request
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .map(|s| s.spans.len() as u64)
                .sum();
            let sent = self.sender.send(request.encode_to_vec(), deadline).await;
            counts.add(&Sender::lost(sent, spans, |answer| self.rejected(answer)));
        }
        counts
    }

    /// The spans an `ExportTraceServiceResponse` says were rejected, said once.
    fn rejected(&self, answer: &[u8]) -> u64 {
        let Some(partial) = ExportTraceServiceResponse::decode(answer)
            .ok()
            .and_then(|response| response.partial_success)
        else {
            return 0;
        };
        self.partial_success.rejected(
            partial.rejected_spans,
            &partial.error_message,
            |rejected, reason| {
                // The backend's own words: they say why (a limit, a bad span).
                tracing::warn!(
                    rejected_spans = rejected,
                    reason,
                    "the OTLP endpoint rejected some spans (reported once; each flush's are counted as lost)"
                );
            },
        )
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
        if self.sender.off(deadline) || batch.spans.sampled().next().is_none() {
            return Loss::default().at_once();
        }
        let claim = batch.spans.claim_sampled();
        Box::pin(async move {
            let counts = self.export(claim.take(), deadline).await;
            Loss::of(&SPANS_LOST, counts)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use opentelemetry_proto::tonic::collector::trace::v1::{
        ExportTracePartialSuccess, ExportTraceServiceRequest,
    };

    use super::*;

    fn spans(count: usize) -> Vec<SpanData> {
        crate::logs::testing::capture_spans(|| {
            for n in 0..count {
                tracing::info_span!("work", n).in_scope(|| {});
            }
        })
    }

    /// OTLP/HTTP: a 200 with `partial_success` whose `rejected_spans` is above 0 is a partial
    /// success: those spans are lost (counted), and the backend's reason is said, once over
    /// two flushes.
    #[test]
    fn rejected_spans_of_a_partial_success_are_counted_and_said_once() {
        let answer = ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 2,
                error_message: "spans too old".to_owned(),
            }),
        }
        .encode_to_vec();
        let received = Arc::new(Mutex::new(0));
        let port = {
            let received = Arc::clone(&received);
            ::tests::http_stub::start_with_body(
                ::tests::http_stub::Answer::Status(200, None),
                move |request| {
                    ExportTraceServiceRequest::decode(request.body.as_slice()).unwrap();
                    *received.lock().unwrap() += 1;
                    answer.clone()
                },
            )
        };
        let exporter = OtlpExporter::with_endpoint(format!("http://127.0.0.1:{port}/v1/traces"));
        let runtime = crate::logs::testing::current_thread_runtime();
        let lines = crate::logs::testing::capture(crate::config::LogFormat::Json, || {
            for _ in 0..2 {
                let deadline = Instant::now() + Duration::from_secs(5);
                let counts = runtime.block_on(exporter.export(spans(3), deadline));
                assert_eq!(counts.dropped, 2);
                assert_eq!(counts.refused_status, None);
            }
        });
        assert_eq!(*received.lock().unwrap(), 2);
        assert_eq!(lines.len(), 1, "{lines:#?}");
        assert!(lines[0].contains("\"rejected_spans\":2") && lines[0].contains("spans too old"));
    }
}
