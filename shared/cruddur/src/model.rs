//! The activity: a post, or a reply to one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One activity as the API returns it. Every activity carries every field, replies included,
/// so a client never has to guess which are there (the original's home feed mixed `likes`
/// and `likes_count`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    /// The activity's id.
    pub uuid: String,
    /// Who wrote it.
    pub handle: String,
    /// What they wrote.
    pub message: String,
    /// When, RFC 3339 in UTC.
    pub created_at: DateTime<Utc>,
    /// When it disappears; `null` for replies, which live as long as their activity.
    pub expires_at: Option<DateTime<Utc>>,
    /// How many people liked it.
    pub likes_count: u32,
    /// How many replies it has.
    pub replies_count: u32,
    /// How many times it was reposted.
    pub reposts_count: u32,
    /// The activity this one answers; `null` for a top-level activity.
    pub reply_to_activity_uuid: Option<String>,
    /// Its replies.
    pub replies: Vec<Activity>,
}
