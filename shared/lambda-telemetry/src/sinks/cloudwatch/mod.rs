//! Log lines shipped to a CloudWatch Logs group off Lambda (feature `cloudwatch`), the way the
//! original's watchtower did, beside the console.
//!
//! On with `CLOUDWATCH_LOG_GROUP`, and never in Lambda (`LAMBDA_TASK_ROOT` set), where stdout
//! already reaches CloudWatch. Each line the log layer writes is queued byte for byte (a mutex
//! push: the request path never waits on the network) and sent with PutLogEvents in the flush
//! after each invocation, within the flush budget, every few seconds between invocations, and
//! at shutdown.
//!
//! Not the `tracing-cloudwatch` crate (0.4): it batches by event count only (no byte or 24-hour
//! limit), has no bounded queue or loss count, and cannot flush on Lambda's schedule; and it
//! would format lines its own way instead of shipping the ones on the console.
//!
//! Delivery: batches keep PutLogEvents' limits (1,048,576 bytes counting 26 per event, 10,000
//! events, 24 hours, time order). The SDK retries throttling and transient errors with backoff;
//! lines it could not send in time stay queued for the next flush. The queue is bounded; lines
//! that do not fit, that CloudWatch refuses, or that are still queued at shutdown are counted
//! and said in one WARN per episode of trouble, and the recovery in one INFO with the total.
//! The SDK's own calls are made with `tracing` silenced: they would otherwise log about
//! shipping logs, and feed themselves.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_cloudwatchlogs::Client;
use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use futures_util::future::BoxFuture;
use tracing::instrument::WithSubscriber as _;

use super::sink::{Loss, Setup, Sink};
use super::spans::SpanBatch;
use crate::config::{flag, setting};
use crate::constants::{
    CLOUDWATCH_CREATE_LOG_GROUP, CLOUDWATCH_LOG_GROUP, CLOUDWATCH_LOG_RETENTION_DAYS,
    CLOUDWATCH_LOG_STREAM, DEFAULT_LOG_RETENTION_DAYS, LAMBDA_TASK_ROOT,
};

/// PutLogEvents: at most this many bytes per batch, counting each message's UTF-8 bytes plus
/// [`EVENT_OVERHEAD`].
pub(crate) const MAX_BATCH_BYTES: usize = 1_048_576;
/// PutLogEvents' fixed cost of one event in a batch's size.
pub(crate) const EVENT_OVERHEAD: usize = 26;
/// PutLogEvents: at most this many events per batch.
pub(crate) const MAX_BATCH_EVENTS: usize = 10_000;
/// PutLogEvents: the events of one batch span at most 24 hours.
pub(crate) const MAX_BATCH_SPAN_MS: i64 = 24 * 60 * 60 * 1000;
/// Lines kept while CloudWatch cannot take them; beyond either bound a line is dropped.
const QUEUE_MAX_LINES: usize = 20_000;
const QUEUE_MAX_BYTES: usize = 8 * 1024 * 1024;
/// How often lines written between invocations are sent.
const BACKGROUND_INTERVAL: Duration = Duration::from_secs(5);

static SHIPPER: OnceLock<Shipper> = OnceLock::new();

/// The installed shipper, if shipping is on.
pub(crate) fn shipper() -> Option<&'static Shipper> {
    SHIPPER.get()
}

/// The CloudWatch Logs sink, when `CLOUDWATCH_LOG_GROUP` is set, off Lambda; said at start.
pub(crate) fn build(setup: &mut Setup<'_>) -> Option<Box<dyn Sink>> {
    let group = setting(CLOUDWATCH_LOG_GROUP)?;
    if setting(LAMBDA_TASK_ROOT).is_some() {
        setup.notice(|| {
            tracing::info!(
                target: "lambda_telemetry::cloudwatch",
                "{CLOUDWATCH_LOG_GROUP} is ignored in Lambda: stdout already reaches CloudWatch Logs"
            )
        });
        return None;
    }
    let shipper = Shipper::new(Settings::from_env(group, &setup.config.service_name));
    let said = format!(
        "shipping log lines to CloudWatch Logs group {} stream {}",
        shipper.settings.group, shipper.settings.stream
    );
    setup.notice(move || tracing::info!(target: "lambda_telemetry::cloudwatch", "{said}"));
    let _ = SHIPPER.set(shipper);
    SHIPPER
        .get()
        .map(|shipper| Box::new(CloudwatchLogs(shipper)) as _)
}

/// The sink: sends the queued lines at each flush, between invocations and at shutdown. Its
/// losses are said by the shipper, once per episode of trouble rather than once per flush.
#[derive(Debug)]
struct CloudwatchLogs(&'static Shipper);

impl Sink for CloudwatchLogs {
    fn flush<'s>(&'s self, _spans: &mut SpanBatch, deadline: Instant) -> BoxFuture<'s, Loss> {
        Box::pin(async move {
            self.0.flush(deadline).await;
            Loss::default()
        })
    }

    fn close(&self, deadline: Instant) -> BoxFuture<'_, Loss> {
        Box::pin(async move {
            self.0.close(deadline).await;
            Loss::default()
        })
    }

    fn start_background(&self, budget: Duration) {
        self.0.start_background(budget);
    }
}

/// Where and how lines are shipped.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) group: String,
    pub(crate) stream: String,
    /// Create the group (with `retention_days`) and the stream when missing.
    pub(crate) create: bool,
    pub(crate) retention_days: i32,
}

impl Settings {
    fn from_env(group: String, service: &str) -> Self {
        Self {
            group,
            stream: setting(CLOUDWATCH_LOG_STREAM).unwrap_or_else(|| default_stream(service)),
            create: flag(CLOUDWATCH_CREATE_LOG_GROUP, true),
            retention_days: setting(CLOUDWATCH_LOG_RETENTION_DAYS)
                .and_then(|d| d.trim().parse().ok())
                .unwrap_or(DEFAULT_LOG_RETENTION_DAYS),
        }
    }
}

/// `<service>/<date>/<host>-<pid>-<random>`: which program, which day, which process, as
/// Lambda's own `2026/11/21/[$LATEST]<id>` streams tell which execution environment.
fn default_stream(service: &str) -> String {
    let host = setting("HOSTNAME")
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    let random = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
        ^ std::process::id().rotate_left(16);
    let stream = format!(
        "{service}/{}/{host}-{}-{random:08x}",
        chrono::Utc::now().format("%Y/%m/%d"),
        std::process::id()
    );
    // Log stream names cannot hold ':' or '*'.
    stream.replace([':', '*'], "_")
}

/// One queued line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    /// Milliseconds since the epoch, never below the line queued before it.
    pub(crate) timestamp: i64,
    pub(crate) message: String,
}

#[derive(Debug, Default)]
struct Queue {
    lines: VecDeque<Line>,
    bytes: usize,
    last_timestamp: i64,
    /// Lines lost since the last report.
    lost: u64,
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

/// Why lines did not reach CloudWatch in one flush.
#[derive(Debug)]
enum Trouble {
    /// The service or the network failed; the lines stay queued.
    Unreachable(String),
    /// CloudWatch refused them (credentials, permissions, a missing group); they are dropped.
    Refused(String),
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
    pub(crate) fn start_background(&'static self, budget: Duration) {
        if self.background.swap(true, Ordering::Relaxed) {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(
                async move {
                    self.client.get_or_init(aws_client).await;
                }
                .with_subscriber(tracing::subscriber::NoSubscriber::default()),
            );
            runtime.spawn(async move {
                loop {
                    tokio::time::sleep(BACKGROUND_INTERVAL).await;
                    self.flush(Instant::now() + budget).await;
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
            let sent = tokio::time::timeout_at(deadline, self.put(client, &lines)).await;
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
        }
    }

    /// One PutLogEvents, creating the group and stream when they are missing. Returns
    /// how many lines CloudWatch rejected (too old, too new, expired).
    async fn put(&self, client: &Client, lines: &[Line]) -> Result<u64, Trouble> {
        let events: Vec<InputLogEvent> = lines
            .iter()
            .filter_map(|line| {
                InputLogEvent::builder()
                    .timestamp(line.timestamp)
                    .message(line.message.as_str())
                    .build()
                    .ok()
            })
            .collect();
        let settings = &self.settings;
        for attempt in 0..2 {
            // Created only when PutLogEvents says it is missing: a role may put events into
            // the template's group without the right to create groups.
            if attempt == 1 {
                self.create_missing(client).await?;
            }
            let put = client
                .put_log_events()
                .log_group_name(&settings.group)
                .log_stream_name(&settings.stream)
                .set_log_events(Some(events.clone()))
                .send()
                .await;
            match put {
                Ok(output) => {
                    let rejected = output.rejected_log_events_info().map_or(0, |info| {
                        let too_new = info
                            .too_new_log_event_start_index()
                            .map_or(0, |i| lines.len() as i64 - i64::from(i));
                        let too_old = info
                            .too_old_log_event_end_index()
                            .map_or(0, |i| i64::from(i) + 1);
                        let expired = info
                            .expired_log_event_end_index()
                            .map_or(0, |i| i64::from(i) + 1);
                        (too_new + too_old.max(expired)).max(0) as u64
                    });
                    return Ok(rejected);
                }
                Err(error) => {
                    let missing = error
                        .as_service_error()
                        .is_some_and(|e| e.is_resource_not_found_exception());
                    if missing && settings.create && attempt == 0 {
                        continue;
                    }
                    return Err(trouble(&error));
                }
            }
        }
        Err(Trouble::Refused(
            "the log group or stream is missing".into(),
        ))
    }

    /// Creates the group (with the retention) and the stream, when creation is on; "already
    /// exists" is success.
    async fn create_missing(&self, client: &Client) -> Result<(), Trouble> {
        let settings = &self.settings;
        if !settings.create {
            return Ok(());
        }
        match client
            .create_log_group()
            .log_group_name(&settings.group)
            .send()
            .await
        {
            Ok(_) => {
                client
                    .put_retention_policy()
                    .log_group_name(&settings.group)
                    .retention_in_days(settings.retention_days)
                    .send()
                    .await
                    .map_err(|e| trouble(&e))?;
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_already_exists_exception()) => {}
            Err(e) => return Err(trouble(&e)),
        }
        match client
            .create_log_stream()
            .log_group_name(&settings.group)
            .log_stream_name(&settings.stream)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_already_exists_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(trouble(&e)),
        }
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

/// The error as words for the log: its code and message only, never the request.
fn trouble<E, R>(error: &aws_sdk_cloudwatchlogs::error::SdkError<E, R>) -> Trouble
where
    E: aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata,
{
    use aws_sdk_cloudwatchlogs::error::SdkError;
    match error {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let words = format!(
                "{}: {}",
                e.code().unwrap_or("error"),
                e.message().unwrap_or_default()
            );
            if e.code()
                .is_some_and(|c| c.contains("Throttling") || c.contains("ServiceUnavailable"))
            {
                Trouble::Unreachable(words)
            } else {
                Trouble::Refused(words)
            }
        }
        SdkError::ConstructionFailure(_) => Trouble::Refused(
            "the request could not be made (region or credentials missing?)".into(),
        ),
        SdkError::TimeoutError(_) => Trouble::Unreachable("timed out".into()),
        SdkError::DispatchFailure(failure) => {
            if failure.is_user() {
                Trouble::Refused("no usable AWS credentials or region".into())
            } else {
                Trouble::Unreachable("connection failed".into())
            }
        }
        _ => Trouble::Unreachable("no valid answer".into()),
    }
}

/// The client of the standard AWS configuration (region, credential chain,
/// `AWS_ENDPOINT_URL[_CLOUDWATCH_LOGS]`), with short timeouts and quick retries: it runs inside
/// the flush budget.
async fn aws_client() -> Client {
    use aws_config::retry::RetryConfig;
    use aws_config::timeout::TimeoutConfig;
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(50))
                .with_max_backoff(Duration::from_secs(1)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(1))
                .operation_attempt_timeout(Duration::from_secs(2))
                .build(),
        )
        .load()
        .await;
    Client::new(&config)
}

/// How many of the first lines make one batch within PutLogEvents' limits.
pub(crate) fn next_batch(lines: &VecDeque<Line>) -> usize {
    let Some(first) = lines.front() else {
        return 0;
    };
    let mut bytes = 0;
    for (count, line) in lines.iter().enumerate() {
        let size = line.message.len() + EVENT_OVERHEAD;
        if count == MAX_BATCH_EVENTS
            || bytes + size > MAX_BATCH_BYTES
            || line.timestamp - first.timestamp > MAX_BATCH_SPAN_MS
        {
            return count.max(1);
        }
        bytes += size;
    }
    lines.len()
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
    use super::*;
    use crate::config::LogFormat;
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

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
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
    fn batches_keep_each_limit_of_put_log_events() {
        let line = |timestamp, size| Line {
            timestamp,
            message: "x".repeat(size),
        };
        let count: VecDeque<Line> = (0..10_001).map(|_| line(0, 1)).collect();
        assert_eq!(next_batch(&count), MAX_BATCH_EVENTS);
        // 1,048,576 = 4 × (262,118 + 26): four fill a batch exactly, a fifth does not fit.
        let bytes: VecDeque<Line> = (0..5).map(|_| line(0, 262_118)).collect();
        assert_eq!(next_batch(&bytes), 4);
        let bytes: VecDeque<Line> = (0..5).map(|_| line(0, 262_119)).collect();
        assert_eq!(next_batch(&bytes), 3);
        let span: VecDeque<Line> = [0, 1, MAX_BATCH_SPAN_MS, MAX_BATCH_SPAN_MS + 1]
            .into_iter()
            .map(|t| line(t, 1))
            .collect();
        assert_eq!(next_batch(&span), 3);
        assert_eq!(next_batch(&VecDeque::new()), 0);
    }

    #[test]
    fn the_stream_name_says_service_date_and_instance() {
        let stream = default_stream("home-activities");
        let parts: Vec<_> = stream.split('/').collect();
        assert_eq!(parts.len(), 5, "{stream}");
        assert_eq!(parts[1].len(), 4, "{stream}");
        assert!(
            parts[4].contains(&format!("-{}-", std::process::id())),
            "{stream}"
        );
        assert!(!stream.contains([':', '*']));
    }

    #[test]
    fn the_default_retention_is_the_templates() {
        let template = include_str!("../../../../../template.yaml");
        let retention = template
            .split("LogRetentionInDays:")
            .nth(1)
            .and_then(|rest| rest.split("Default:").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap();
        assert_eq!(
            retention.parse::<i32>().unwrap(),
            DEFAULT_LOG_RETENTION_DAYS
        );
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
        let pieces: Vec<String> = crate::logs::within_limit(
            big.as_bytes(),
            LogFormat::Json,
            crate::constants::MAX_LINE_BYTES,
        )
        .into_iter()
        .map(|p| String::from_utf8(p).unwrap())
        .collect();
        for piece in &pieces {
            shipper.push(piece.as_bytes());
        }
        let runtime = runtime();
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
        let runtime = runtime();
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
        let runtime = runtime();
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
        let runtime = runtime();
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
        let runtime = runtime();
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
