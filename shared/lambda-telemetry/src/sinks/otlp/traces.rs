//! Spans over OTLP/HTTP: `OTEL_TRACES_EXPORTER=otlp`, an `ExportTraceServiceRequest` per flush
//! of the spans the OpenTelemetry sampler sampled.

use std::time::Instant;

use futures_util::future::BoxFuture;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SpanData;
use prost::Message as _;

use super::{ExportFailure, HeadersSecret, Sender, Signal};
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
        };
        Self {
            sender: Sender::new(signal, settings, headers_secret, problems),
            resource: resource.into(),
        }
    }

    /// An exporter to `endpoint` with no headers, for tests.
    #[cfg(test)]
    pub(crate) fn with_endpoint(endpoint: String) -> Self {
        Self {
            sender: Sender::with_endpoint(endpoint, "spans"),
            resource: (&Resource::builder_empty().build()).into(),
        }
    }

    /// Sends `spans` within `deadline` (see [`Sender::send`]).
    pub(crate) async fn export(
        &self,
        spans: Vec<SpanData>,
        deadline: Instant,
    ) -> Result<(), ExportFailure> {
        let request = ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(spans, &self.resource),
        };
        self.sender
            .send(request.encode_to_vec(), deadline)
            .await
            .map(drop)
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
