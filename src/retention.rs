//! Message retention and review (28 CFR 23.20(h)): what is kept about each published message, when it must
//! be reviewed, and how a review or a correction changes that. Pure data; `bus::messages` stores it.
//!
//! Each party has a retention period (directory `retention`, at most and by default five years). A
//! message's review falls due one period after it was published or last revalidated; a reviewer then either
//! revalidates it (the period starts again) or purges it. The record of each message also lists every
//! stored copy, so a purge can remove them all and notify every party that received one, and a correction
//! can reach every earlier recipient.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// What is kept about one published message: metadata only, never content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRecord {
    pub message_id: String,
    pub origin: String,
    /// Subject token of the kind (`report`, `alert` ...).
    pub kind: String,
    pub topic: String,
    #[serde(with = "time::serde::rfc3339")]
    pub published_at: OffsetDateTime,
    /// Every copy stored for a recipient, with its feed stream sequence.
    pub copies: Vec<StoredCopy>,
    /// Marked as criminal intelligence (28 CFR Part 23).
    #[serde(default)]
    pub criminal_intelligence: bool,
    /// The earlier message this one corrects.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub supersedes: String,
    /// The later correction that supersedes this one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub superseded_by: String,
    /// Reviews that found the message still meets the submission criteria, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revalidations: Vec<Revalidation>,
}

/// One stored copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCopy {
    pub recipient: String,
    pub sequence: u64,
}

/// One review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revalidation {
    /// Who reviewed: the subject of the reviewer's token.
    pub reviewer: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub reason: String,
}

/// A message listed for review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewDue {
    pub record: MessageRecord,
    pub retention: Duration,
    pub due: OffsetDateTime,
    pub overdue: bool,
}

// === impl MessageRecord ===

impl MessageRecord {
    /// When the message was last found to meet the criteria: its publication or latest revalidation.
    pub fn validated_at(&self) -> OffsetDateTime {
        self.revalidations.last().map_or(self.published_at, |review| review.at)
    }

    /// When it must next be reviewed under a retention period.
    pub fn review_due(&self, retention: Duration) -> OffsetDateTime {
        self.validated_at().saturating_add(time::Duration::try_from(retention).unwrap_or(time::Duration::MAX))
    }

    /// Every party a copy was stored for, each once, in the order first stored.
    pub fn recipients(&self) -> Vec<&str> {
        let mut recipients: Vec<&str> = Vec::with_capacity(self.copies.len());
        for copy in &self.copies {
            if !recipients.contains(&copy.recipient.as_str()) {
                recipients.push(&copy.recipient);
            }
        }
        recipients
    }
}

/// The messages whose review falls due before `now + within` (overdue ones included), soonest first, at
/// most `limit`; the flag says whether more matched. `retention` gives each origin party's period.
pub fn due_for_review(
    records: impl IntoIterator<Item = MessageRecord>,
    retention: impl Fn(&str) -> Duration,
    now: OffsetDateTime,
    within: Duration,
    limit: usize,
) -> (Vec<ReviewDue>, bool) {
    let horizon = now.saturating_add(time::Duration::try_from(within).unwrap_or(time::Duration::MAX));
    let mut due: Vec<ReviewDue> = records
        .into_iter()
        .filter_map(|record| {
            let retention = retention(&record.origin);
            let due = record.review_due(retention);
            (due <= horizon).then(|| ReviewDue { overdue: due <= now, record, retention, due })
        })
        .collect();
    due.sort_by(|a, b| (a.due, &a.record.message_id).cmp(&(b.due, &b.record.message_id)));
    let truncated = due.len() > limit;
    due.truncate(limit);
    (due, truncated)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(24 * 3600);

    fn record(id: &str, origin: &str, published_days_ago: i64, now: OffsetDateTime) -> MessageRecord {
        MessageRecord {
            message_id: id.into(),
            origin: origin.into(),
            kind: "report".into(),
            topic: "cyber-crime".into(),
            published_at: now - time::Duration::days(published_days_ago),
            copies: vec![
                StoredCopy { recipient: "fbi".into(), sequence: 1 },
                StoredCopy { recipient: "cbp".into(), sequence: 2 },
                StoredCopy { recipient: "fbi".into(), sequence: 7 },
            ],
            criminal_intelligence: false,
            supersedes: String::new(),
            superseded_by: String::new(),
            revalidations: Vec::new(),
        }
    }

    #[test]
    fn review_falls_due_one_period_after_publication_or_the_last_revalidation() {
        let now = OffsetDateTime::now_utc();
        let mut message = record("a", "ia", 100, now);
        assert_eq!(message.review_due(30 * DAY), now - time::Duration::days(70));
        message.revalidations.push(Revalidation { reviewer: "r".into(), at: now, reason: "still valid".into() });
        assert_eq!(message.review_due(30 * DAY), now + time::Duration::days(30));
    }

    #[test]
    fn due_messages_are_listed_by_their_origins_period_soonest_first() {
        let now = OffsetDateTime::now_utc();
        let records = vec![
            record("overdue", "short", 40, now),   // due 10 days ago under 30 days
            record("soon", "long", 360, now),      // due in 5 days under 365 days
            record("later", "long", 300, now),     // due in 65 days
            record("due-in-20", "short", 10, now), // due in 20 days
        ];
        let retention = |origin: &str| if origin == "short" { 30 * DAY } else { 365 * DAY };
        let (due, truncated) = due_for_review(records.clone(), retention, now, 30 * DAY, 10);
        let ids: Vec<&str> = due.iter().map(|item| item.record.message_id.as_str()).collect();
        assert_eq!(ids, ["overdue", "soon", "due-in-20"]);
        assert!(!truncated);
        assert!(due[0].overdue && !due[1].overdue);
        assert_eq!(due[1].retention, 365 * DAY);

        let (due, truncated) = due_for_review(records, retention, now, Duration::ZERO, 10);
        assert_eq!(due.len(), 1, "with no horizon only the overdue one");
        assert!(!truncated);
    }

    #[test]
    fn the_limit_truncates_and_says_so() {
        let now = OffsetDateTime::now_utc();
        let records: Vec<_> = (0..5).map(|n| record(&n.to_string(), "ia", 400 + n, now)).collect();
        let (due, truncated) = due_for_review(records, |_| 365 * DAY, now, DAY, 3);
        assert_eq!(due.len(), 3);
        assert!(truncated);
        assert_eq!(due[0].record.message_id, "4", "the most overdue first");
    }

    #[test]
    fn recipients_are_listed_once_each_and_the_record_round_trips_as_json() {
        let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
        let message = record("a", "ia", 1, now);
        assert_eq!(message.recipients(), ["fbi", "cbp"]);
        let json = serde_json::to_string(&message).unwrap();
        assert!(!json.contains("supersedes"), "empty fields are left out: {json}");
        assert_eq!(serde_json::from_str::<MessageRecord>(&json).unwrap(), message);
    }
}
