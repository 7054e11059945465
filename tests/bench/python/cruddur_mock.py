"""The home feed of home-activities (shared/cruddur/src/mock.rs), as the same JSON."""

from datetime import datetime, timedelta, timezone


def _time(value):
    # RFC 3339 with an offset, as the Rust functions write it.
    return value.isoformat()


def home_activities(now=None):
    now = now or datetime.now(timezone.utc)
    return [
        {
            "uuid": "68f126b0-1ceb-4a33-88be-d90fa7109eee",
            "handle": "Andrew Brown",
            "message": "Cloud is very fun!",
            "created_at": _time(now - timedelta(days=2)),
            "expires_at": _time(now + timedelta(days=5)),
            "likes_count": 5,
            "replies_count": 1,
            "reposts_count": 0,
            "replies": [
                {
                    "uuid": "26e12864-1c26-5c3a-9658-97a10f8fea67",
                    "reply_to_activity_uuid": "68f126b0-1ceb-4a33-88be-d90fa7109eee",
                    "handle": "Worf",
                    "message": "This post has no honor!",
                    "likes_count": 0,
                    "replies_count": 0,
                    "reposts_count": 0,
                    "created_at": _time(now - timedelta(days=2)),
                }
            ],
        },
        {
            "uuid": "66e12864-8c26-4c3a-9658-95a10f8fea67",
            "handle": "Worf",
            "message": "I am out of prune juice",
            "created_at": _time(now - timedelta(days=7)),
            "expires_at": _time(now + timedelta(days=9)),
            "likes_count": 0,
            "replies_count": 0,
            "reposts_count": 0,
            "replies": [],
        },
        {
            "uuid": "248959df-3079-4947-b847-9e0892d1bab4",
            "handle": "Garek",
            "message": "My dear doctor, I am just simple tailor",
            "created_at": _time(now - timedelta(hours=1)),
            "expires_at": _time(now + timedelta(hours=12)),
            "likes_count": 0,
            "replies_count": 0,
            "reposts_count": 0,
            "replies": [],
        },
    ]


def response(activities):
    """The API Gateway proxy response home-activities answers."""
    import json

    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(activities, separators=(",", ":")),
        "isBase64Encoded": False,
    }
