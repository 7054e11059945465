//! A stand-in for Rollbar's item API on loopback: it keeps every JSON item posted to it, with
//! its headers, and answers as told, so tests can see what arrives and play a Rollbar that is
//! throttling, failing or silent.

use std::sync::{Arc, Mutex};

pub use crate::http_stub::Answer;
use crate::http_stub::Headers;

/// One item as received.
#[derive(Clone, Debug)]
pub struct Item {
    /// Header names in lower case, with values.
    pub headers: Headers,
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
        let items = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&items);
        let port = crate::http_stub::start(answer, move |headers, body| {
            let raw = String::from_utf8(body).expect("a UTF-8 body");
            let json = serde_json::from_str(&raw).expect("a JSON item");
            kept.lock().unwrap().push(Item { headers, raw, json });
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
