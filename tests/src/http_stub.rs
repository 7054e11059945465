//! The HTTP/1.1 server behind the test backends (OTLP receiver, Rollbar stand-in): it reads
//! each request on loopback, hands its headers and body to the backend, and answers as told.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// How a backend answers every request.
#[derive(Clone, Copy, Debug)]
pub enum Answer {
    /// With this status (and `Retry-After: <seconds>` when given).
    Status(u16, Option<u64>),
    /// Never: it reads the request and keeps the connection open without a word.
    Silence,
    /// With this status, after this long: a slow backend (the benchmarks' 100 ms receiver).
    After(Duration, u16),
}

/// Header names in lower case, with values.
pub type Headers = Vec<(String, String)>;

/// One request as a backend sees it.
#[derive(Clone, Debug)]
pub struct Received {
    /// The request target: `/v1/traces`.
    pub path: String,
    /// Header names in lower case, with values.
    pub headers: Headers,
    /// The body, as sent.
    pub body: Vec<u8>,
}

/// Starts on a free loopback port, which it returns; `keep` sees every request (the
/// benchmarks pass one that keeps nothing, so millions of requests cost no memory).
pub fn start(answer: Answer, keep: impl Fn(Headers, Vec<u8>) + Send + Sync + 'static) -> u16 {
    start_with_body(answer, move |received| {
        keep(received.headers, received.body);
        Vec::new()
    })
}

/// Starts on a free loopback port, which it returns; `handle` sees every request, path
/// included, and returns the body of the answer (`application/x-protobuf`; empty: none).
pub fn start_with_body(
    answer: Answer,
    handle: impl Fn(Received) -> Vec<u8> + Send + Sync + 'static,
) -> u16 {
    start_serving(answer, None, handle)
}

/// [`start_with_body`] for a page's script too: it answers the CORS preflight of a request
/// from `origin` (a browser's `OPTIONS`, which `handle` never sees) and lets that page read
/// the answers, as an OpenTelemetry Collector with `cors: allowed_origins: [origin]` does. A
/// request from any other origin gets no CORS header, so a browser refuses it.
pub fn start_for_browsers_from(
    origin: &str,
    answer: Answer,
    handle: impl Fn(Received) -> Vec<u8> + Send + Sync + 'static,
) -> u16 {
    start_serving(answer, Some(Arc::from(origin)), handle)
}

fn start_serving(
    answer: Answer,
    allowed_origin: Option<Arc<str>>,
    handle: impl Fn(Received) -> Vec<u8> + Send + Sync + 'static,
) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let port = listener.local_addr().unwrap().port();
    let handle = Arc::new(handle);
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let handle = Arc::clone(&handle);
            let allowed_origin = allowed_origin.clone();
            thread::spawn(move || serve(stream, answer, allowed_origin.as_deref(), &*handle));
        }
    });
    port
}

/// The CORS headers of an answer to a request from `origin` when it is the allowed one
/// (Fetch Standard, "CORS protocol"): on a preflight, what may follow, the request headers
/// it asked for included (an exporter's `content-type: application/x-protobuf` is not
/// CORS-safelisted); on any answer, the origin that may read it.
fn cors_headers(allowed: Option<&str>, headers: &Headers, preflight: bool) -> String {
    let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v);
    let Some(origin) = header("origin").filter(|o| Some(o.as_str()) == allowed) else {
        return String::new();
    };
    let mut cors = format!("access-control-allow-origin: {origin}\r\nvary: origin\r\n");
    if preflight {
        cors.push_str("access-control-allow-methods: POST\r\naccess-control-max-age: 7200\r\n");
        if let Some(requested) = header("access-control-request-headers") {
            cors.push_str(&format!("access-control-allow-headers: {requested}\r\n"));
        }
    }
    cors
}

/// The status line's head and the headers of an answer with `body`.
fn reply_head(status: u16, body: &[u8]) -> String {
    let kind = if body.is_empty() {
        String::new()
    } else {
        "content-type: application/x-protobuf\r\n".to_owned()
    };
    format!(
        "HTTP/1.1 {status} X\r\ncontent-length: {}\r\n{kind}",
        body.len()
    )
}

fn serve(
    stream: TcpStream,
    answer: Answer,
    allowed_origin: Option<&str>,
    handle: &dyn Fn(Received) -> Vec<u8>,
) {
    let mut reader = BufReader::new(stream.try_clone().expect("a cloneable stream"));
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut request_line = request_line.split_whitespace();
        let method = request_line.next().unwrap_or_default().to_owned();
        let path = request_line.next().unwrap_or_default().to_owned();
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
        if allowed_origin.is_some() && method == "OPTIONS" {
            let cors = cors_headers(allowed_origin, &headers, true);
            let reply = format!("HTTP/1.1 204 No Content\r\n{cors}\r\n");
            if writer.write_all(reply.as_bytes()).is_err() {
                return;
            }
            continue;
        }
        let cors = cors_headers(allowed_origin, &headers, false);
        let answer_body = handle(Received {
            path,
            headers,
            body,
        });
        let mut reply = match answer {
            Answer::Silence => {
                thread::sleep(Duration::from_secs(600));
                return;
            }
            Answer::After(delay, status) => {
                thread::sleep(delay);
                format!("{}{cors}\r\n", reply_head(status, &answer_body)).into_bytes()
            }
            Answer::Status(status, retry_after) => {
                let retry = retry_after
                    .map(|s| format!("retry-after: {s}\r\n"))
                    .unwrap_or_default();
                format!("{}{retry}{cors}\r\n", reply_head(status, &answer_body)).into_bytes()
            }
        };
        reply.extend_from_slice(&answer_body);
        if writer.write_all(&reply).is_err() {
            return;
        }
    }
}
