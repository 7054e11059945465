//! An OTLP/HTTP receiver on loopback: it decodes each protobuf export request (gzip or not)
//! and answers as told, so tests can see what arrives and play a backend that is busy,
//! refusing or silent.

use std::io::Read as _;
use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;

pub use crate::http_stub::Answer;
use crate::http_stub::Headers;

/// One request as received.
#[derive(Clone, Debug)]
pub struct Export {
    /// Header names in lower case, with values.
    pub headers: Headers,
    /// The decoded body.
    pub request: ExportTraceServiceRequest,
}

/// The receiver; it stops with the test process.
pub struct OtlpReceiver {
    port: u16,
    exports: Arc<Mutex<Vec<Export>>>,
}

impl OtlpReceiver {
    /// Starts on a free loopback port.
    pub fn start(answer: Answer) -> Self {
        let exports = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&exports);
        let port = crate::http_stub::start(answer, move |headers, body| {
            let request = decode(&headers, body);
            kept.lock().unwrap().push(Export { headers, request });
        });
        Self { port, exports }
    }

    /// `http://127.0.0.1:<port>`, for `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request received so far.
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
}

fn decode(headers: &Headers, mut body: Vec<u8>) -> ExportTraceServiceRequest {
    let gzip = headers
        .iter()
        .any(|(n, v)| n == "content-encoding" && v == "gzip");
    if gzip {
        let mut unzipped = Vec::new();
        flate2::read::GzDecoder::new(body.as_slice())
            .read_to_end(&mut unzipped)
            .expect("a gzip body");
        body = unzipped;
    }
    ExportTraceServiceRequest::decode(body.as_slice()).expect("an OTLP protobuf body")
}

/// An OTLP trace or span id (bytes) as the lower-case hex that headers and logs write.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
