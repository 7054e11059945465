//! An OTLP/HTTP receiver on loopback: it decodes each protobuf export request (gzip or not),
//! spans on `/v1/traces` and metrics on `/v1/metrics`, and answers as told, so tests can see
//! what arrives and play a backend that is busy, refusing, silent, or that takes only part of
//! the metrics (a partial success).

use std::io::Read as _;
use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::metrics::v1::Metric;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;

pub use crate::http_stub::Answer;
use crate::http_stub::{Headers, Received};

/// One trace export request as received.
#[derive(Clone, Debug)]
pub struct Export {
    /// Header names in lower case, with values.
    pub headers: Headers,
    /// The decoded body.
    pub request: ExportTraceServiceRequest,
}

/// One metrics export request as received.
#[derive(Clone, Debug)]
pub struct MetricsExport {
    /// Header names in lower case, with values.
    pub headers: Headers,
    /// The decoded body.
    pub request: ExportMetricsServiceRequest,
}

/// The receiver; it stops with the test process.
pub struct OtlpReceiver {
    port: u16,
    exports: Arc<Mutex<Vec<Export>>>,
    metrics: Arc<Mutex<Vec<MetricsExport>>>,
}

impl OtlpReceiver {
    /// Starts on a free loopback port.
    pub fn start(answer: Answer) -> Self {
        Self::answering(answer, Vec::new())
    }

    /// Starts on a free loopback port, answering every metrics request 200 with an
    /// `ExportMetricsServiceResponse` whose `partial_success` rejects `rejected` data points
    /// for `reason`.
    pub fn rejecting_metric_points(rejected: i64, reason: &str) -> Self {
        Self::answering(
            Answer::Status(200, None),
            partial_success_metrics(rejected, reason),
        )
    }

    /// Starts on a free loopback port, answering 200, and takes exports from a page's script
    /// on `origin` too: it answers their CORS preflight, as a collector configured with
    /// `cors: allowed_origins: [origin]` does (the browser test's page sends its spans here).
    pub fn for_browsers_from(origin: &str) -> Self {
        Self::answering_from(Some(origin), Answer::Status(200, None), Vec::new())
    }

    fn answering(answer: Answer, metrics_answer: Vec<u8>) -> Self {
        Self::answering_from(None, answer, metrics_answer)
    }

    fn answering_from(origin: Option<&str>, answer: Answer, metrics_answer: Vec<u8>) -> Self {
        let exports = Arc::new(Mutex::new(Vec::new()));
        let metrics = Arc::new(Mutex::new(Vec::new()));
        let (kept, kept_metrics) = (Arc::clone(&exports), Arc::clone(&metrics));
        let handle = move |received: Received| {
            let Received {
                path,
                headers,
                body,
            } = received;
            if path.starts_with("/v1/metrics") {
                let request = decode_metrics(&headers, body);
                kept_metrics
                    .lock()
                    .unwrap()
                    .push(MetricsExport { headers, request });
                metrics_answer.clone()
            } else {
                let request = decode_traces(&headers, body);
                kept.lock().unwrap().push(Export { headers, request });
                Vec::new()
            }
        };
        let port = match origin {
            Some(origin) => crate::http_stub::start_for_browsers_from(origin, answer, handle),
            None => crate::http_stub::start_with_body(answer, handle),
        };
        Self {
            port,
            exports,
            metrics,
        }
    }

    /// `http://127.0.0.1:<port>`, for `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every trace export request received so far.
    pub fn exports(&self) -> Vec<Export> {
        self.exports.lock().unwrap().clone()
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<Span> {
        self.exports()
            .into_iter()
            .flat_map(|e| e.request.resource_spans)
            .flat_map(|r| r.scope_spans)
            .flat_map(|s| s.spans)
            .collect()
    }

    /// Every metrics export request received so far.
    pub fn metrics_exports(&self) -> Vec<MetricsExport> {
        self.metrics.lock().unwrap().clone()
    }

    /// Every metric received so far, request after request (a name recurs once per request).
    pub fn metrics(&self) -> Vec<Metric> {
        self.metrics_exports()
            .into_iter()
            .flat_map(|e| e.request.resource_metrics)
            .flat_map(|r| r.scope_metrics)
            .flat_map(|s| s.metrics)
            .collect()
    }
}

/// The OTLP trace export request in `body`, gunzipped when `headers` say
/// `content-encoding: gzip`; panics when it is not one.
pub fn decode_traces(headers: &Headers, body: Vec<u8>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest::decode(unzipped(headers, body).as_slice())
        .expect("an OTLP trace protobuf body")
}

/// The OTLP metrics export request in `body`, gunzipped when `headers` say
/// `content-encoding: gzip`; panics when it is not one.
pub fn decode_metrics(headers: &Headers, body: Vec<u8>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest::decode(unzipped(headers, body).as_slice())
        .expect("an OTLP metrics protobuf body")
}

/// The body of a 200 answer to a trace export that takes all but `rejected` spans: an
/// `ExportTraceServiceResponse` whose `partial_success` says so with `message`.
pub fn partial_success_traces(rejected: i64, message: &str) -> Vec<u8> {
    ExportTraceServiceResponse {
        partial_success: Some(ExportTracePartialSuccess {
            rejected_spans: rejected,
            error_message: message.to_owned(),
        }),
    }
    .encode_to_vec()
}

/// The body of a 200 answer to a metrics export that takes all but `rejected` data points:
/// an `ExportMetricsServiceResponse` whose `partial_success` says so with `message`.
pub fn partial_success_metrics(rejected: i64, message: &str) -> Vec<u8> {
    ExportMetricsServiceResponse {
        partial_success: Some(ExportMetricsPartialSuccess {
            rejected_data_points: rejected,
            error_message: message.to_owned(),
        }),
    }
    .encode_to_vec()
}

fn unzipped(headers: &Headers, body: Vec<u8>) -> Vec<u8> {
    let gzip = headers
        .iter()
        .any(|(n, v)| n == "content-encoding" && v == "gzip");
    if !gzip {
        return body;
    }
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(body.as_slice())
        .read_to_end(&mut unzipped)
        .expect("a gzip body");
    unzipped
}

/// An OTLP trace or span id (bytes) as the lower-case hex that headers and logs write.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
