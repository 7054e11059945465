//! The original app's mock data, with timestamps relative to the moment of the request.

use chrono::{DateTime, Duration, Utc};

use crate::model::Activity;

/// The home feed: three activities, the first with one reply.
pub fn home_activities(now: DateTime<Utc>) -> Vec<Activity> {
    vec![
        Activity {
            likes_count: 5,
            replies_count: 1,
            replies: vec![reply(
                "Worf",
                "This post has no honor!",
                now - Duration::days(2),
            )],
            ..activity(
                "68f126b0-1ceb-4a33-88be-d90fa7109eee",
                "Andrew Brown",
                "Cloud is very fun!",
                now - Duration::days(2),
                now + Duration::days(5),
            )
        },
        activity(
            "66e12864-8c26-4c3a-9658-95a10f8fea67",
            "Worf",
            "I am out of prune juice",
            now - Duration::days(7),
            now + Duration::days(9),
        ),
        activity(
            "248959df-3079-4947-b847-9e0892d1bab4",
            "Garek",
            "My dear doctor, I am just simple tailor",
            now - Duration::hours(1),
            now + Duration::hours(12),
        ),
    ]
}

/// The notifications feed: one activity with one reply.
pub fn notification_activities(now: DateTime<Utc>) -> Vec<Activity> {
    vec![Activity {
        likes_count: 5,
        replies_count: 1,
        replies: vec![reply(
            "worf",
            "this post has no honor!",
            now - Duration::days(2),
        )],
        ..activity(
            "68f126b0-1ceb-4a33-88be-d90fa7109eee",
            "coco",
            "I am white unicorn",
            now - Duration::days(2),
            now + Duration::days(5),
        )
    }]
}

/// A user's activities. The mock answers the same activity for every handle, as the
/// original did.
pub fn user_activities(now: DateTime<Utc>) -> Vec<Activity> {
    vec![activity(
        "248959df-3079-4947-b847-9e0892d1bab4",
        "Andrew Brown",
        "Cloud is fun!",
        now - Duration::days(1),
        now + Duration::days(31),
    )]
}

fn activity(
    uuid: &str,
    handle: &str,
    message: &str,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Activity {
    Activity {
        uuid: uuid.to_owned(),
        handle: handle.to_owned(),
        message: message.to_owned(),
        created_at,
        expires_at: Some(expires_at),
        likes_count: 0,
        replies_count: 0,
        reposts_count: 0,
        reply_to_activity_uuid: None,
        replies: Vec::new(),
    }
}

/// The one reply the mock data has, to the first activity, by `handle`.
fn reply(handle: &str, message: &str, created_at: DateTime<Utc>) -> Activity {
    Activity {
        expires_at: None,
        reply_to_activity_uuid: Some("68f126b0-1ceb-4a33-88be-d90fa7109eee".to_owned()),
        ..activity(
            "26e12864-1c26-5c3a-9658-97a10f8fea67",
            handle,
            message,
            created_at,
            created_at,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_relative_to_now() {
        let now = Utc::now();
        let home = home_activities(now);
        assert_eq!(home.len(), 3);
        assert_eq!(home[0].created_at, now - Duration::days(2));
        assert_eq!(home[2].expires_at, Some(now + Duration::hours(12)));
        assert_eq!(
            user_activities(now)[0].expires_at,
            Some(now + Duration::days(31))
        );
    }

    #[test]
    fn the_first_home_activity_has_its_reply() {
        let home = home_activities(Utc::now());
        let reply = &home[0].replies[0];
        assert_eq!(reply.uuid, "26e12864-1c26-5c3a-9658-97a10f8fea67");
        assert_eq!(
            reply.reply_to_activity_uuid.as_deref(),
            Some(home[0].uuid.as_str())
        );
        assert_eq!(reply.expires_at, None);
        assert!(home[1].replies.is_empty() && home[2].replies.is_empty());
    }

    #[test]
    fn every_timestamp_serializes_as_rfc3339_with_an_offset() {
        let json = serde_json::to_value(notification_activities(Utc::now())).unwrap();
        let created = json[0]["created_at"].as_str().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(created).is_ok(),
            "{created}"
        );
        assert!(created.ends_with('Z'));
    }
}
