//! A stand-in for Rollbar's item API on loopback: it keeps every JSON item posted to it, with
//! its headers, and answers as told, so tests can see what arrives and play a Rollbar that is
//! throttling, failing or silent.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

pub use crate::otlp_receiver::Answer;

/// One item as received.
#[derive(Clone, Debug)]
pub struct Item {
    /// Header names in lower case, with values.
    pub headers: Vec<(String, String)>,
    /// The body as text, exactly as posted.
    pub raw: String,
    /// The body as JSON.
    pub json: serde_json::Value,
}

/// The stand-in; it stops with the test process.
pub struct RollbarApi {
    port: u16,
    items: Arc<Mutex<Vec<Item>>>,
}

impl RollbarApi {
    /// Starts on a free loopback port.
    pub fn start(answer: Answer) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let port = listener.local_addr().unwrap().port();
        let items = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&items);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let kept = Arc::clone(&kept);
                thread::spawn(move || serve(stream, answer, &kept));
            }
        });
        Self { port, items }
    }

    /// The item endpoint, for `ROLLBAR_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/api/1/item/", self.port)
    }

    /// Every item received so far.
    pub fn items(&self) -> Vec<Item> {
        self.items.lock().unwrap().clone()
    }
}

fn serve(stream: TcpStream, answer: Answer, items: &Mutex<Vec<Item>>) {
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
        let raw = String::from_utf8(body).expect("a UTF-8 body");
        let json = serde_json::from_str(&raw).expect("a JSON item");
        items.lock().unwrap().push(Item { headers, raw, json });
        match answer {
            Answer::Silence => {
                thread::sleep(Duration::from_secs(600));
                return;
            }
            Answer::Status(status, retry_after) => {
                let retry = retry_after
                    .map(|s| format!("retry-after: {s}\r\n"))
                    .unwrap_or_default();
                let body = r#"{"err":0,"result":{"id":null,"uuid":"x"}}"#;
                let reply = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{retry}\r\n{body}",
                    body.len()
                );
                if writer.write_all(reply.as_bytes()).is_err() {
                    return;
                }
            }
        }
    }
}
