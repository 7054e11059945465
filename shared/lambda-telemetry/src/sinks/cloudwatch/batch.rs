//! The lines of one PutLogEvents, within its limits.

use std::collections::VecDeque;

/// PutLogEvents: at most this many bytes per batch, counting each message's UTF-8 bytes plus
/// [`EVENT_OVERHEAD`].
pub(super) const MAX_BATCH_BYTES: usize = 1_048_576;
/// PutLogEvents' fixed cost of one event in a batch's size.
pub(super) const EVENT_OVERHEAD: usize = 26;
/// PutLogEvents: at most this many events per batch.
pub(super) const MAX_BATCH_EVENTS: usize = 10_000;
/// PutLogEvents: the events of one batch span at most 24 hours.
pub(super) const MAX_BATCH_SPAN_MS: i64 = 24 * 60 * 60 * 1000;

/// One queued line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Line {
    /// Milliseconds since the epoch, never below the line queued before it.
    pub(crate) timestamp: i64,
    pub(crate) message: String,
}

/// How many of the first lines make one batch within PutLogEvents' limits.
pub(super) fn next_batch(lines: &VecDeque<Line>) -> usize {
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
mod tests {
    use super::*;

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
}
