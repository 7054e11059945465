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

/// Starts on a free loopback port, which it returns; `keep` sees every request (the
/// benchmarks pass one that keeps nothing, so millions of requests cost no memory).
pub fn start(answer: Answer, keep: impl Fn(Headers, Vec<u8>) + Send + Sync + 'static) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let port = listener.local_addr().unwrap().port();
    let keep = Arc::new(keep);
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let keep = Arc::clone(&keep);
            thread::spawn(move || serve(stream, answer, &*keep));
        }
    });
    port
}

fn serve(stream: TcpStream, answer: Answer, keep: &dyn Fn(Headers, Vec<u8>)) {
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
        keep(headers, body);
        match answer {
            Answer::Silence => {
                thread::sleep(Duration::from_secs(600));
                return;
            }
            Answer::After(delay, status) => {
                thread::sleep(delay);
                let reply = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n");
                if writer.write_all(reply.as_bytes()).is_err() {
                    return;
                }
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
