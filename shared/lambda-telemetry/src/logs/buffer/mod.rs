//! Log buffering, as Powertools for AWS Lambda does it (`logBufferOptions` in TypeScript,
//! `LoggerBufferConfig` in Python): the lines of an invocation at or below a level are held
//! instead of written, and written only when the invocation goes wrong.
//!
//! The held lines live in the invocation's task-local scope, so that concurrent invocations
//! of one process (Lambda Managed Instances) never hold, flush or drop each other's, and a
//! task started with [`spawn`](crate::spawn) holds into its invocation's. Each is formatted
//! when it is logged, so it keeps its own timestamp, ids and keys; a flush writes the held
//! lines in the order they were logged, then, if the buffer was full and dropped its oldest,
//! one WARN line saying how many. What is still held when the invocation answers is dropped.
//!
//! Lines are held only inside an invocation (never at start-up, as Powertools never buffers
//! the cold start's init), and not in an invocation sampled to log at DEBUG
//! (`POWERTOOLS_LOGGER_SAMPLE_RATE`), which shows all of them anyway.

use std::collections::VecDeque;
use std::sync::Arc;

use tracing::Level;

/// The target of the line that says a flush lost lines: never held itself.
pub(crate) const NOTICE_TARGET: &str = "lambda_telemetry::log_buffer";

/// The default byte cap of an invocation's buffer: Powertools' `maxBytes`, 20 KiB.
pub const DEFAULT_MAX_BYTES: usize = 20 * 1024;

/// How lines are buffered (Powertools' `logBufferOptions`), for
/// [`Config::with_log_buffer`](crate::Config::with_log_buffer); the settings
/// `LAMBDA_TELEMETRY_LOG_BUFFER`, `LAMBDA_TELEMETRY_LOG_BUFFER_MAX_BYTES` and
/// `LAMBDA_TELEMETRY_LOG_BUFFER_FLUSH_ON_ERROR_LOG` give the same in the environment.
///
/// ```
/// use lambda_telemetry::{Config, LogBuffer};
/// use tracing::Level;
///
/// // DEBUG and TRACE lines held, up to 20 KiB per invocation, written when an ERROR is logged.
/// let config = Config::from_env().with_log_buffer(LogBuffer::default());
/// // INFO and below held, up to 64 KiB, written only by a failure or `flush_log_buffer()`.
/// let config = Config::from_env().with_log_buffer(
///     LogBuffer::at(Level::INFO).max_bytes(64 * 1024).flush_on_error_log(false),
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogBuffer {
    pub(crate) level: Level,
    pub(crate) max_bytes: usize,
    pub(crate) flush_on_error_log: bool,
}

impl Default for LogBuffer {
    /// DEBUG and TRACE lines held, up to [`DEFAULT_MAX_BYTES`], flushed by an ERROR line.
    fn default() -> Self {
        Self {
            level: Level::DEBUG,
            max_bytes: DEFAULT_MAX_BYTES,
            flush_on_error_log: true,
        }
    }
}

impl LogBuffer {
    /// Holds the lines at `level` and every more verbose one (Powertools' `bufferAtVerbosity`):
    /// `Level::INFO` holds INFO, DEBUG and TRACE lines. ERROR lines are never held (they are
    /// what flushes the buffer): `Level::ERROR` holds what `Level::WARN` does.
    pub fn at(level: Level) -> Self {
        Self {
            level: if level == Level::ERROR {
                Level::WARN
            } else {
                level
            },
            ..Self::default()
        }
    }

    /// The most bytes of lines one invocation holds (Powertools' `maxBytes`); when a line would
    /// pass it, the oldest go first. A single line longer than this is written at once, not
    /// held. At least 1.
    pub fn max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes.max(1);
        self
    }

    /// Whether an ERROR line of the invocation writes the held lines before it (Powertools'
    /// `flushOnErrorLog`, default `true`). A failed or panicked handler writes them either way.
    pub fn flush_on_error_log(mut self, flush: bool) -> Self {
        self.flush_on_error_log = flush;
        self
    }

    /// Whether a line at `level` is held: `level` is at least as verbose as the buffer's.
    pub(crate) fn holds(&self, level: Level) -> bool {
        // In `tracing`, the more verbose level is the greater: TRACE > DEBUG > ... > ERROR.
        level >= self.level
    }
}

/// Writes one whole line (without its newline) where the log layer writes: stdout and its
/// copies, split when too long.
pub(crate) type WriteLine = Arc<dyn Fn(&mut Vec<u8>) + Send + Sync>;

/// The lines one invocation holds.
pub(crate) struct HeldLines {
    pub(crate) config: LogBuffer,
    lines: VecDeque<Vec<u8>>,
    bytes: usize,
    /// How many lines were dropped to make room, since the last flush.
    dropped: usize,
    /// Where the lines go when flushed: the log layer that formatted them.
    write: Option<WriteLine>,
}

/// What a flush writes: the held lines, in order, and how many were dropped before them.
pub(crate) struct Flushed {
    pub(crate) lines: VecDeque<Vec<u8>>,
    pub(crate) dropped: usize,
    pub(crate) max_bytes: usize,
    pub(crate) write: Option<WriteLine>,
}

impl Flushed {
    /// Writes the lines, in order; `false` when there were none.
    pub(crate) fn write_lines(&mut self) -> bool {
        let Some(write) = &self.write else {
            return false;
        };
        for line in &mut self.lines {
            write(line);
        }
        !self.lines.is_empty()
    }
}

impl HeldLines {
    pub(crate) fn new(config: LogBuffer) -> Self {
        Self {
            config,
            lines: VecDeque::new(),
            bytes: 0,
            dropped: 0,
            write: None,
        }
    }

    /// Holds `line` (without its newline), dropping the oldest lines until it fits; gives it
    /// back when it is longer than the whole buffer, to be written at once.
    pub(crate) fn hold(&mut self, line: &[u8], write: &WriteLine) -> Result<(), ()> {
        if line.len() > self.config.max_bytes {
            return Err(());
        }
        while self.bytes + line.len() > self.config.max_bytes {
            let Some(oldest) = self.lines.pop_front() else {
                break;
            };
            self.bytes -= oldest.len();
            self.dropped += 1;
        }
        self.bytes += line.len();
        self.lines.push_back(line.to_vec());
        if self.write.is_none() {
            self.write = Some(Arc::clone(write));
        }
        Ok(())
    }

    /// Empties the buffer, giving what it held.
    pub(crate) fn take(&mut self) -> Flushed {
        self.bytes = 0;
        Flushed {
            lines: std::mem::take(&mut self.lines),
            dropped: std::mem::take(&mut self.dropped),
            max_bytes: self.config.max_bytes,
            write: self.write.clone(),
        }
    }
}

/// Writes the lines the current invocation holds, in the order they were logged, and empties
/// its buffer (Powertools' `flushBuffer`): for a handler that wants them written though it did
/// not fail, before a slow call that may time out, say. When lines were dropped to make room,
/// a WARN line after them says how many. Does nothing outside an invocation or when buffering
/// is off.
pub fn flush_log_buffer() {
    let Some(mut flushed) = crate::invocation::scope::take_held_lines() else {
        return;
    };
    flushed.write_lines();
    if flushed.dropped > 0 {
        // Outside the log layer here, so an ordinary event; its target is never held.
        tracing::warn!(
            target: NOTICE_TARGET,
            dropped_lines = flushed.dropped,
            max_bytes = flushed.max_bytes,
            "{}",
            DROPPED_MESSAGE
        );
    }
}

/// Drops the lines the current invocation holds without writing them (Powertools'
/// `clearBuffer`). Does nothing outside an invocation or when buffering is off.
pub fn clear_log_buffer() {
    drop(crate::invocation::scope::take_held_lines());
}

/// What the WARN line after a flush that lost lines says.
pub(crate) const DROPPED_MESSAGE: &str = "the log buffer was full and dropped its oldest lines; \
     a larger LAMBDA_TELEMETRY_LOG_BUFFER_MAX_BYTES keeps more";

/// What the WARN line before a line too long to hold says.
pub(crate) const TOO_LONG_MESSAGE: &str =
    "a line longer than the whole log buffer is written at once, not held";

#[cfg(test)]
mod tests;
