//! A UDP listener on loopback that speaks the X-Ray daemon protocol: every datagram is the
//! header `{"format": "json", "version": 1}` and a newline, then one segment document.
//! Datagrams without that header are kept aside, so a test can fail on them.

use std::net::UdpSocket;
use std::sync::{Arc, LazyLock, Mutex};
use std::thread;

/// What the daemon reads before each document.
pub const HEADER: &str = "{\"format\": \"json\", \"version\": 1}\n";

/// The listener; it stops with the test process.
pub struct XrayDaemon {
    port: u16,
    received: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl XrayDaemon {
    /// Starts on a free loopback port.
    pub fn start() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("a loopback UDP port");
        let port = socket.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&received);
        thread::spawn(move || {
            // The daemon's own buffer: a datagram longer than this would be cut.
            let mut buffer = vec![0; 65_536];
            while let Ok(len) = socket.recv(&mut buffer) {
                kept.lock().unwrap().push(buffer[..len].to_vec());
            }
        });
        Self { port, received }
    }

    /// `127.0.0.1:<port>`, for `AWS_XRAY_DAEMON_ADDRESS`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Every datagram received so far, as bytes.
    pub fn datagrams(&self) -> Vec<Vec<u8>> {
        self.received.lock().unwrap().clone()
    }

    /// Every document received so far; panics on a datagram the daemon would reject.
    pub fn documents(&self) -> Vec<serde_json::Value> {
        self.datagrams()
            .iter()
            .map(|datagram| {
                let text = std::str::from_utf8(datagram).expect("UTF-8 datagram");
                let body = text
                    .strip_prefix(HEADER)
                    .unwrap_or_else(|| panic!("no daemon header: {text}"));
                serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
            })
            .collect()
    }
}

/// What is wrong with `document` by AWS's X-Ray segment document schema; empty when nothing.
pub fn schema_violations(document: &serde_json::Value) -> Vec<String> {
    static VALIDATOR: LazyLock<jsonschema::Validator> = LazyLock::new(|| {
        let schema = include_str!("../conformance/xray-segmentdocument-schema-v1.0.0.json");
        jsonschema::draft4::new(&serde_json::from_str(schema).unwrap()).unwrap()
    });
    VALIDATOR
        .iter_errors(document)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}
