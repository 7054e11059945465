//! The queue of lines and its shipping: within PutLogEvents' limits, within the flush budget,
//! with the losses said once per episode of trouble.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_cloudwatchlogs::Client;
use tracing::instrument::WithSubscriber as _;

use super::aws::{self, Trouble, aws_client};
use super::batch::{EVENT_OVERHEAD, Line, next_batch};
use super::settings::Settings;
use crate::logs::LineCopy;

/// Lines kept while CloudWatch cannot take them; beyond either bound a line is dropped.
const QUEUE_MAX_LINES: usize = 20_000;
const QUEUE_MAX_BYTES: usize = 8 * 1024 * 1024;
/// How often lines written between invocations are sent.
const BACKGROUND_INTERVAL: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
struct Queue {
    lines: VecDeque<Line>,
    bytes: usize,
    last_timestamp: i64,
    /// Lines lost since the last report.
    lost: u64,
    /// Lines lost since the last flush took the count, for `lambda_telemetry.lost`.
    lost_since_flush: u64,
}

/// The queue, the client and the state of the current episode of trouble.
#[derive(Debug)]
pub(crate) struct Shipper {
    settings: Settings,
    queue: Mutex<Queue>,
    /// Made once, off the request path: loading the AWS configuration can take seconds (the
    /// region and credentials may come from IMDS), more than a flush budget.
    client: tokio::sync::OnceCell<Client>,
    /// One flush at a time: batches of one stream leave in order.
    sending: tokio::sync::Mutex<()>,
    /// An episode of trouble is under way and has been said.
    troubled: AtomicBool,
    /// Lines lost in the current episode, said when it ends.
    lost_in_episode: AtomicU64,
    background: AtomicBool,
}

/// The log layer's writer hands it a copy of every line.
impl LineCopy for Shipper {
    fn copy_line(&self, line: &[u8]) {
        self.push(line);
    }
}

impl Shipper {
    pub(crate) fn new(settings: Settings) -> Self {
        Self {
            settings,
            queue: Mutex::new(Queue::default()),
            client: tokio::sync::OnceCell::new(),
            sending: tokio::sync::Mutex::new(()),
            troubled: AtomicBool::new(false),
            lost_in_episode: AtomicU64::new(0),
            background: AtomicBool::new(false),
        }
    }

    /// Queues one line, without its newline. Never blocks on the network.
    pub(crate) fn push(&self, message: &[u8]) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let message = String::from_utf8_lossy(message).into_owned();
        let Ok(mut queue) = self.queue.lock() else {
            return;
        };
        let size = message.len() + EVENT_OVERHEAD;
        if queue.lines.len() >= QUEUE_MAX_LINES || queue.bytes + size > QUEUE_MAX_BYTES {
            queue.lost += 1;
            queue.lost_since_flush += 1;
            return;
        }
        // CloudWatch wants time order within a batch; a clock stepping back must not break it.
        let timestamp = now.max(queue.last_timestamp);
        queue.last_timestamp = timestamp;
        queue.bytes += size;
        queue.lines.push_back(Line { timestamp, message });
    }

    /// Makes the client, and sends lines written between invocations every few seconds; once
    /// per process.
    pub(crate) fn start_background(self: &Arc<Self>, budget: Duration) {
        if self.background.swap(true, Ordering::Relaxed) {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let shipper = Arc::clone(self);
            runtime.spawn(
                async move {
                    shipper.client.get_or_init(aws_client).await;
                }
                .with_subscriber(tracing::subscriber::NoSubscriber::default()),
            );
            let shipper = Arc::clone(self);
            runtime.spawn(async move {
                loop {
                    tokio::time::sleep(BACKGROUND_INTERVAL).await;
                    shipper
                        .flush(crate::sinks::pipeline::deadline_after(budget))
                        .await;
                }
            });
        }
    }

    /// Sends what is queued before `deadline`; what cannot be sent in time stays queued.
    pub(crate) async fn flush(&self, deadline: Instant) {
        if self.queue.lock().is_ok_and(|q| q.lines.is_empty()) {
            return;
        }
        // Waiting for another flush or for the client counts against the budget too.
        let deadline = tokio::time::Instant::from_std(deadline);
        let Ok(_sending) = tokio::time::timeout_at(deadline, self.sending.lock()).await else {
            return;
        };
        let client = self
            .client
            .get_or_init(aws_client)
            .with_subscriber(tracing::subscriber::NoSubscriber::default());
        let Ok(client) = tokio::time::timeout_at(deadline, client).await else {
            return;
        };
        let outcome = self
            .send_queued(client, deadline)
            .with_subscriber(tracing::subscriber::NoSubscriber::default())
            .await;
        self.report(outcome);
    }

    async fn send_queued(
        &self,
        client: &Client,
        deadline: tokio::time::Instant,
    ) -> Result<(), Trouble> {
        loop {
            let batch = match self.queue.lock() {
                Ok(queue) if !queue.lines.is_empty() => next_batch(&queue.lines),
                _ => return Ok(()),
            };
            let lines: Vec<Line> = match self.queue.lock() {
                Ok(queue) => queue.lines.range(..batch).cloned().collect(),
                Err(_) => return Ok(()),
            };
            let sent =
                tokio::time::timeout_at(deadline, aws::put(client, &self.settings, &lines)).await;
            let outcome = match sent {
                Ok(outcome) => outcome,
                Err(_) => Err(Trouble::Unreachable(
                    "no answer within the flush budget".into(),
                )),
            };
            match outcome {
                Ok(rejected) => self.dequeue(batch, rejected),
                Err(Trouble::Refused(why)) => {
                    self.dequeue(batch, batch as u64);
                    return Err(Trouble::Refused(why));
                }
                Err(unreachable) => return Err(unreachable),
            }
        }
    }

    /// Drops the first `count` lines from the queue, `lost` of them counted as lost.
    fn dequeue(&self, count: usize, lost: u64) {
        if let Ok(mut queue) = self.queue.lock() {
            for line in queue.lines.drain(..count).collect::<Vec<_>>() {
                queue.bytes -= line.message.len() + EVENT_OVERHEAD;
            }
            queue.lost += lost;
            queue.lost_since_flush += lost;
        }
    }

    /// Lines lost since the last call: what a flush reports as `lambda_telemetry.lost`.
    pub(crate) fn take_lost_since_flush(&self) -> u64 {
        self.queue
            .lock()
            .map(|mut q| std::mem::take(&mut q.lost_since_flush))
            .unwrap_or(0)
    }

    /// Says the start of an episode of trouble once, and its end with the count.
    fn report(&self, outcome: Result<(), Trouble>) {
        let lost = self
            .queue
            .lock()
            .map(|mut q| std::mem::take(&mut q.lost))
            .unwrap_or(0);
        let lost_in_episode = &self.lost_in_episode;
        match outcome {
            Ok(()) if lost == 0 && !self.troubled.load(Ordering::Relaxed) => {}
            Ok(()) => {
                let total = lost_in_episode.swap(0, Ordering::Relaxed) + lost;
                if self.troubled.swap(false, Ordering::Relaxed) {
                    tracing::info!(
                        target: "lambda_telemetry::cloudwatch",
                        lost_lines = total,
                        "CloudWatch Logs takes lines again"
                    );
                } else {
                    tracing::warn!(
                        target: "lambda_telemetry::cloudwatch",
                        lost_lines = total,
                        "log lines did not reach CloudWatch Logs: queue full or rejected"
                    );
                }
            }
            Err(trouble) => {
                lost_in_episode.fetch_add(lost, Ordering::Relaxed);
                if !self.troubled.swap(true, Ordering::Relaxed) {
                    let (what, why) = match &trouble {
                        Trouble::Unreachable(why) => (
                            "cannot reach CloudWatch Logs; lines stay queued while there is room",
                            why,
                        ),
                        Trouble::Refused(why) => (
                            "CloudWatch Logs refuses log lines; they are dropped and counted",
                            why,
                        ),
                    };
                    tracing::warn!(
                        target: "lambda_telemetry::cloudwatch",
                        error = why.as_str(),
                        lost_lines = lost,
                        "{what}"
                    );
                }
            }
        }
    }

    /// At shutdown: a last flush, then the count of lines that never left.
    pub(crate) async fn close(&self, deadline: Instant) {
        self.flush(deadline).await;
        let unsent = self.queue.lock().map(|q| q.lines.len() as u64).unwrap_or(0);
        if unsent > 0 {
            tracing::warn!(
                target: "lambda_telemetry::cloudwatch",
                lost_lines = unsent,
                "log lines never reached CloudWatch Logs"
            );
        }
    }
}

#[cfg(test)]
impl Shipper {
    /// A shipper with its client made already, for tests against a local CloudWatch.
    fn with_client(settings: Settings, client: Client) -> Self {
        let shipper = Self::new(settings);
        shipper
            .client
            .set(client)
            .expect("a new shipper has no client");
        shipper
    }

    fn push_at(&self, timestamp: i64, message: &str) {
        let mut queue = self.queue.lock().unwrap();
        queue.bytes += message.len() + EVENT_OVERHEAD;
        queue.lines.push_back(Line {
            timestamp,
            message: message.to_owned(),
        });
    }

    fn queued(&self) -> usize {
        self.queue.lock().unwrap().lines.len()
    }
}

#[cfg(test)]
mod tests {
    use super::super::batch::MAX_BATCH_SPAN_MS;
    use super::*;
    use crate::config::LogFormat;
    use crate::constants::DEFAULT_LOG_RETENTION_DAYS;
    use crate::logs::testing::capture;
    use ::tests::moto::Moto;
    use aws_sdk_cloudwatchlogs::config::{BehaviorVersion, Credentials, Region};

    const SECRET_KEY: &str = "canary-secret-key-51f0";

    fn client(endpoint: &str, access_key: &str) -> Client {
        use aws_config::retry::RetryConfig;
        use aws_config::timeout::TimeoutConfig;
        let config = aws_sdk_cloudwatchlogs::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(access_key, SECRET_KEY, None, None, "test"))
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(2)
                    .with_initial_backoff(Duration::from_millis(10)),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_attempt_timeout(Duration::from_secs(10))
                    .build(),
            )
            .build();
        Client::from_conf(config)
    }

    fn settings(group: &str) -> Settings {
        Settings {
            group: group.to_owned(),
            stream: "home-activities/2026/11/21/test-1".to_owned(),
            create: true,
            retention_days: DEFAULT_LOG_RETENTION_DAYS,
        }
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

    fn json_line(i: usize) -> String {
        serde_json::json!({
            "timestamp": "2026-11-21T20:00:00.000Z", "level": "INFO",
            "message": format!("line {i} — é 漢 \"quoted\""), "function_request_id": "req-1",
        })
        .to_string()
    }

    #[test]
    fn lines_come_back_in_order_byte_for_byte_into_a_group_and_stream_made_for_them() {
        let moto = Moto::start(&[]);
        let client = client(&moto.endpoint(), "AKIDEXAMPLE");
        let settings = settings("cruddur-created");
        let shipper = Shipper::with_client(settings, client.clone());
        let sent: Vec<String> = (0..50).map(json_line).collect();
        for line in &sent {
            shipper.push(line.as_bytes());
        }
        // An oversized line, as the log layer writes it: pieces within the limit.
        let big = serde_json::json!({"level": "INFO", "message": "y".repeat(600_000)}).to_string();
        let pieces: Vec<String> =
            crate::logs::within_limit(big.as_bytes(), LogFormat::Json, crate::logs::MAX_LINE_BYTES)
                .into_iter()
                .map(|p| String::from_utf8(p).unwrap())
                .collect();
        for piece in &pieces {
            shipper.push(piece.as_bytes());
        }
        let runtime = crate::logs::testing::current_thread_runtime();
        runtime.block_on(shipper.flush(soon()));
        assert_eq!(shipper.queued(), 0);
        let received = moto.messages(&shipper.settings.group, &shipper.settings.stream);
        assert_eq!(received[..50], sent[..]);
        assert_eq!(received[50..], pieces[..]);
        let joined: String = pieces
            .iter()
            .map(|p| {
                serde_json::from_str::<serde_json::Value>(p).unwrap()["split_line"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(joined, big);

        let groups = runtime
            .block_on(
                client
                    .describe_log_groups()
                    .log_group_name_prefix("cruddur-created")
                    .send(),
            )
            .unwrap();
        assert_eq!(
            groups.log_groups()[0].retention_in_days(),
            Some(DEFAULT_LOG_RETENTION_DAYS)
        );
    }

    #[test]
    fn batches_that_cross_each_limit_all_arrive() {
        let moto = Moto::start(&[]);
        let client = client(&moto.endpoint(), "AKIDEXAMPLE");
        let shipper = Shipper::with_client(settings("cruddur-limits"), client.clone());
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let mut sent = Vec::new();
        // Over 24 hours apart, then over 10,000 events, then over 1,048,576 bytes.
        let day_ago = now - MAX_BATCH_SPAN_MS - 60_000;
        for (i, timestamp) in [day_ago, now].into_iter().enumerate() {
            sent.push(format!("{{\"span\":{i}}}"));
            shipper.push_at(timestamp, &sent[sent.len() - 1]);
        }
        for i in 0..10_050 {
            sent.push(format!("{{\"count\":{i}}}"));
            shipper.push_at(now, &sent[sent.len() - 1]);
        }
        for i in 0..6 {
            sent.push(format!(
                "{{\"bytes\":{i},\"fill\":\"{}\"}}",
                "z".repeat(200_000)
            ));
            shipper.push_at(now, &sent[sent.len() - 1]);
        }
        let runtime = crate::logs::testing::current_thread_runtime();
        runtime.block_on(shipper.flush(soon()));
        assert_eq!(shipper.queued(), 0);
        let received = moto.messages(&shipper.settings.group, &shipper.settings.stream);
        assert_eq!(received.len(), sent.len());
        assert!(
            received == sent,
            "the lines came back changed or out of order"
        );
    }

    #[test]
    fn a_stopped_cloudwatch_costs_at_most_the_budget_keeps_lines_and_recovers() {
        let mut moto = Moto::start(&[]);
        let port = moto.port();
        let client = client(&moto.endpoint(), "AKIDEXAMPLE");
        let shipper = Shipper::with_client(settings("cruddur-outage"), client.clone());
        let runtime = crate::logs::testing::current_thread_runtime();
        shipper.push(json_line(0).as_bytes());
        runtime.block_on(shipper.flush(soon()));
        assert_eq!(shipper.queued(), 0);

        moto.stop();
        shipper.push(json_line(1).as_bytes());
        shipper.push(json_line(2).as_bytes());
        let budget = Duration::from_millis(300);
        let started = Instant::now();
        let lines = capture(LogFormat::Json, || {
            runtime.block_on(shipper.flush(Instant::now() + budget));
            runtime.block_on(shipper.flush(Instant::now() + budget));
        });
        assert!(
            started.elapsed() < 2 * budget + Duration::from_millis(200),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(shipper.queued(), 2, "unsent lines stay queued");
        assert_eq!(lines.len(), 1, "one WARN for the episode: {lines:#?}");
        assert!(
            lines[0].contains("cannot reach CloudWatch Logs"),
            "{}",
            lines[0]
        );

        // Back (empty: moto keeps nothing), the group and stream are made again.
        let moto = Moto::start_on(port, &[]);
        let lines = capture(LogFormat::Json, || runtime.block_on(shipper.flush(soon())));
        assert_eq!(shipper.queued(), 0);
        assert!(
            lines.iter().any(|l| l.contains("takes lines again")),
            "{lines:#?}"
        );
        let received = moto.messages(&shipper.settings.group, &shipper.settings.stream);
        assert_eq!(received, [json_line(1), json_line(2)]);
    }

    #[test]
    fn with_creation_off_a_missing_group_is_refused_and_never_made() {
        let moto = Moto::start(&[]);
        let client = client(&moto.endpoint(), "AKIDEXAMPLE");
        let settings = Settings {
            create: false,
            ..settings("cruddur-not-made")
        };
        let shipper = Shipper::with_client(settings, client);
        let runtime = crate::logs::testing::current_thread_runtime();
        shipper.push(json_line(0).as_bytes());
        let lines = capture(LogFormat::Json, || runtime.block_on(shipper.flush(soon())));
        assert_eq!(shipper.queued(), 0);
        assert_eq!(lines.len(), 1, "{lines:#?}");
        assert!(
            lines[0].contains("ResourceNotFoundException"),
            "{}",
            lines[0]
        );
        assert!(moto.groups("cruddur-not-made").is_empty());
    }

    #[test]
    fn wrong_credentials_lose_lines_counted_in_one_warn_without_the_credentials() {
        // With authentication on, moto refuses keys it does not know.
        let moto = Moto::start(&[("INITIAL_NO_AUTH_ACTION_COUNT", "0")]);
        let shipper = Shipper::with_client(
            settings("cruddur-refused"),
            client(&moto.endpoint(), "AKIACANARYACCESSKEY9"),
        );
        let runtime = crate::logs::testing::current_thread_runtime();
        let lines = capture(LogFormat::Json, || {
            for round in 0..3 {
                shipper.push(json_line(round).as_bytes());
                runtime.block_on(shipper.flush(soon()));
            }
        });
        assert_eq!(shipper.queued(), 0, "refused lines are dropped, not kept");
        assert_eq!(lines.len(), 1, "{lines:#?}");
        let warn: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(warn["level"], "WARN");
        assert_eq!(warn["lost_lines"], 1);
        for secret in [SECRET_KEY, "AKIACANARYACCESSKEY9"] {
            assert!(!lines[0].contains(secret), "{}", lines[0]);
        }
    }
}
