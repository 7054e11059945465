//! Loopback sinks for the benchmarks: an OTLP/HTTP endpoint, an X-Ray daemon and a Rollbar
//! item API that count what arrives and keep nothing. The test stand-ins decode and store
//! every request before they answer; in a benchmark that work would be timed as part of the
//! flush, and would grow with every invocation.

use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use crate::http_stub::{self, Answer};

/// The three sinks, alive for as long as the process.
pub struct CountingSinks {
    otlp_port: u16,
    rollbar_port: u16,
    xray_address: String,
    counts: [Arc<AtomicUsize>; 3],
}

impl CountingSinks {
    /// OTLP answers `otlp`; Rollbar answers 200.
    pub fn start(otlp: Answer) -> Self {
        let counts: [Arc<AtomicUsize>; 3] = Default::default();
        let counter = |i: usize| {
            let count = Arc::clone(&counts[i]);
            move |_, _| {
                count.fetch_add(1, Ordering::Relaxed);
            }
        };
        let otlp_port = http_stub::start(otlp, counter(0));
        let rollbar_port = http_stub::start(Answer::Status(200, None), counter(2));
        let xray = UdpSocket::bind("127.0.0.1:0").expect("a loopback UDP port");
        let xray_address = xray.local_addr().expect("bound").to_string();
        let datagrams = Arc::clone(&counts[1]);
        thread::spawn(move || {
            let mut buffer = vec![0; 65_536];
            while xray.recv(&mut buffer).is_ok() {
                datagrams.fetch_add(1, Ordering::Relaxed);
            }
        });
        Self {
            otlp_port,
            rollbar_port,
            xray_address,
            counts,
        }
    }

    /// For `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub fn otlp_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.otlp_port)
    }

    /// For `AWS_XRAY_DAEMON_ADDRESS`.
    pub fn xray_address(&self) -> &str {
        &self.xray_address
    }

    /// For `ROLLBAR_ENDPOINT`.
    pub fn rollbar_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/api/1/item/", self.rollbar_port)
    }

    /// (OTLP requests, X-Ray datagrams, Rollbar items) so far.
    pub fn received(&self) -> (usize, usize, usize) {
        let [otlp, xray, rollbar] = &self.counts;
        (
            otlp.load(Ordering::Relaxed),
            xray.load(Ordering::Relaxed),
            rollbar.load(Ordering::Relaxed),
        )
    }
}
