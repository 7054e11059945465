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
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let port = listener.local_addr().unwrap().port();
    let handle = Arc::new(handle);
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let handle = Arc::clone(&handle);
            thread::spawn(move || serve(stream, answer, &*handle));
        }
    });
    port
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

fn serve(stream: TcpStream, answer: Answer, handle: &dyn Fn(Received) -> Vec<u8>) {
    let mut reader = BufReader::new(stream.try_clone().expect("a cloneable stream"));
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_owned();
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
                format!("{}\r\n", reply_head(status, &answer_body)).into_bytes()
            }
            Answer::Status(status, retry_after) => {
                let retry = retry_after
                    .map(|s| format!("retry-after: {s}\r\n"))
                    .unwrap_or_default();
                format!("{}{retry}\r\n", reply_head(status, &answer_body)).into_bytes()
            }
        };
        reply.extend_from_slice(&answer_body);
        if writer.write_all(&reply).is_err() {
            return;
        }
    }
}
