//! An OTLP/HTTP receiver on loopback: it decodes each protobuf export request (gzip or not) and answers as
//! told, so tests can see what arrives and play a backend that is busy, refusing or silent.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;

/// How the receiver answers every request.
#[derive(Clone, Copy, Debug)]
pub enum Answer {
    /// With this status (and `Retry-After: <seconds>` when given).
    Status(u16, Option<u64>),
    /// Never: it reads the request and keeps the connection open without a word.
    Silence,
}

/// One request as received.
#[derive(Clone, Debug)]
pub struct Export {
    /// Header names in lower case, with values.
    pub headers: Vec<(String, String)>,
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
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let port = listener.local_addr().unwrap().port();
        let exports = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&exports);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let kept = Arc::clone(&kept);
                thread::spawn(move || serve(stream, answer, &kept));
            }
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

fn serve(stream: TcpStream, answer: Answer, exports: &Mutex<Vec<Export>>) {
    let mut reader = BufReader::new(stream.try_clone().expect("a cloneable stream"));
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
            }
        }
        let length: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
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
        let request =
            ExportTraceServiceRequest::decode(body.as_slice()).expect("an OTLP protobuf body");
        exports.lock().unwrap().push(Export { headers, request });
        match answer {
            Answer::Silence => {
                thread::sleep(Duration::from_secs(600));
                return;
            }
            Answer::Status(status, retry_after) => {
                let retry = retry_after
                    .map(|s| format!("retry-after: {s}\r\n"))
                    .unwrap_or_default();
                let reply = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n{retry}\r\n");
                if writer.write_all(reply.as_bytes()).is_err() {
                    return;
                }
            }
        }
    }
}
