//! Message retention and review (28 CFR 23.20(h)): what is known about each published message, when it
//! must be reviewed, and how a review, a correction or a purge changes that. Pure data; `bus::messages`
//! reads it.
//!
//! Each party has a retention period (directory `retention`, at most and by default five years). A
//! message's review falls due one period after it was published or last revalidated; a reviewer then either
//! revalidates it (the period starts again) or purges it.
//!
//! A message's record is not written separately: it is rebuilt from the dissemination audit, whose
//! `approved` records name every copy stored and its feed subject ([`records_from_audit`]). Only what
//! changes later — reviews, a superseding correction, a purge — is kept per message, in a
//! [`MessageState`] that few messages ever get.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::audit::{AuditRecord, Event};

/// What is known about one published message: metadata only, never content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord {
    pub message_id: String,
    pub origin: String,
    /// Subject token of the kind (`report`, `alert` ...).
    pub kind: String,
    pub topic: String,
    /// From the message id (a ULID carries its creation time).
    pub published_at: OffsetDateTime,
    /// Every copy stored for a recipient, with its feed subject.
    pub copies: Vec<StoredCopy>,
    /// Marked as criminal intelligence (28 CFR Part 23).
    pub criminal_intelligence: bool,
    /// Its markings as the canonical banner (from the approvals; empty for messages approved before the
    /// audit carried them).
    pub banner: String,
    /// What happened to it since.
    pub state: MessageState,
}

/// One stored copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCopy {
    pub recipient: String,
    pub subject: String,
}

/// What happened to a message after it was published; kept only for messages it happened to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageState {
    /// Reviews that found the message still meets the submission criteria, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revalidations: Vec<Revalidation>,
    /// The later correction that supersedes this one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub superseded_by: String,
    /// Parties the originator approved ORCON material for after publishing it, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub orcon_approvals: Vec<OrconApproval>,
    /// When it was purged; a purged message is no longer on record.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "time::serde::rfc3339::option")]
    pub purged_at: Option<OffsetDateTime>,
}

/// The originator's approval of a later dissemination of ORCON material to one party (a redrive, a
/// correction reaching it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrconApproval {
    pub party: String,
    /// Who approved: the subject of the approver's token, of the origin party.
    pub approver: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub reason: String,
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
        self.state.revalidations.last().map_or(self.published_at, |review| review.at)
    }

    /// When it must next be reviewed under a retention period.
    pub fn review_due(&self, retention: Duration) -> OffsetDateTime {
        self.validated_at().saturating_add(time::Duration::try_from(retention).unwrap_or(time::Duration::MAX))
    }

    /// Every party a copy was stored for, each once, in the order first stored.
    /// The parties the originator approved ORCON material for, each once.
    pub fn orcon_approved(&self) -> Vec<&str> {
        let mut parties: Vec<&str> =
            self.state.orcon_approvals.iter().map(|approval| approval.party.as_str()).collect();
        parties.sort_unstable();
        parties.dedup();
        parties
    }

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

/// When a message id (a ULID) was made, if it is one.
pub fn published_at(message_id: &str) -> Option<OffsetDateTime> {
    let id = ulid::Ulid::from_string(message_id).ok()?;
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(id.timestamp_ms()) * 1_000_000).ok()
}

/// Rebuilds message records from audit records: every `approved` record with a feed subject is a stored
/// copy. Records of other events, and of approvals without a subject (written before subjects were
/// recorded, or notices' own records without one), are skipped. Keyed by message id.
pub fn records_from_audit<'a>(
    records: impl IntoIterator<Item = &'a AuditRecord<'a>>,
) -> BTreeMap<String, MessageRecord> {
    let mut messages: BTreeMap<String, MessageRecord> = BTreeMap::new();
    for record in records {
        if record.event != Event::Approved || record.subject.is_empty() {
            continue;
        }
        // liaison.feed.<recipient>.<origin>.<kind>.<topic>
        let mut tokens = record.subject.split('.').skip(4);
        let (Some(kind), Some(topic)) = (tokens.next(), tokens.next()) else { continue };
        let Some(published_at) = published_at(&record.message_id) else { continue };
        let message = messages.entry(record.message_id.to_string()).or_insert_with(|| MessageRecord {
            message_id: record.message_id.to_string(),
            origin: record.origin.to_string(),
            kind: kind.to_string(),
            topic: topic.to_string(),
            published_at,
            copies: Vec::new(),
            criminal_intelligence: false,
            banner: String::new(),
            state: MessageState::default(),
        });
        message.criminal_intelligence |= record.criminal_intelligence;
        if message.banner.is_empty() {
            message.banner = record.markings.to_string();
        }
        let copy = StoredCopy { recipient: record.recipient.to_string(), subject: record.subject.to_string() };
        if !message.copies.contains(&copy) {
            message.copies.push(copy);
        }
    }
    messages
}

/// `record` as listed for review if its review falls due before `now + within` (overdue ones included);
/// `retention` is its origin party's period. A revalidation only moves the due time later and a purge takes
/// the message off record, so a record that is not due without its state is not due with it either: the
/// state need only be looked up for the records this finds due without one.
pub fn review_of(
    record: MessageRecord,
    retention: Duration,
    now: OffsetDateTime,
    within: Duration,
) -> Option<ReviewDue> {
    let horizon = now.saturating_add(time::Duration::try_from(within).unwrap_or(time::Duration::MAX));
    let due = record.review_due(retention);
    (due <= horizon && record.state.purged_at.is_none()).then(|| ReviewDue {
        overdue: due <= now,
        record,
        retention,
        due,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(24 * 3600);

    /// A message id made `days_ago` days before `now`.
    fn id_made(days_ago: i64, now: OffsetDateTime, n: u8) -> String {
        let at = now - time::Duration::days(days_ago);
        let millis = (at.unix_timestamp_nanos() / 1_000_000) as u64;
        ulid::Ulid::from_parts(millis, u128::from(n)).to_string()
    }

    fn record(id: &str, origin: &str) -> MessageRecord {
        MessageRecord {
            message_id: id.into(),
            origin: origin.into(),
            kind: "report".into(),
            topic: "cyber-crime".into(),
            published_at: published_at(id).unwrap(),
            copies: Vec::new(),
            criminal_intelligence: false,
            banner: String::new(),
            state: MessageState::default(),
        }
    }

    fn approved(message_id: &str, recipient: &str, subject: &str) -> AuditRecord<'static> {
        let message = crate::audit::MessageRef { message_id, origin: "ia", policy_version: "v1" };
        AuditRecord::approved(&message, recipient, "rule", "basis", subject).into_owned()
    }

    #[test]
    fn review_falls_due_one_period_after_publication_or_the_last_revalidation() {
        let now = OffsetDateTime::now_utc().replace_millisecond(0).unwrap();
        let mut message = record(&id_made(100, now, 1), "ia");
        assert_eq!(message.review_due(30 * DAY), now - time::Duration::days(70));
        message.state.revalidations.push(Revalidation { reviewer: "r".into(), at: now, reason: "still valid".into() });
        assert_eq!(message.review_due(30 * DAY), now + time::Duration::days(30));
    }

    #[test]
    fn a_message_is_listed_when_its_review_falls_due_within_the_horizon_by_its_origins_period() {
        let now = OffsetDateTime::now_utc();
        let listed = |days_ago: i64, retention: Duration, within: Duration| {
            review_of(record(&id_made(days_ago, now, 1), "ia"), retention, now, within)
                .map(|item| (item.overdue, item.retention, item.due))
        };
        let published = |days_ago: i64| published_at(&id_made(days_ago, now, 1)).unwrap();
        // Due 10 days ago under 30 days: overdue, whatever the horizon.
        let due = published(40) + time::Duration::days(30);
        assert_eq!(listed(40, 30 * DAY, Duration::ZERO), Some((true, 30 * DAY, due)));
        // Due in 5 days under a year: within a 30-day horizon, not yet overdue; not within a day.
        assert_eq!(listed(360, 365 * DAY, 30 * DAY).map(|item| item.0), Some(false));
        assert_eq!(listed(360, 365 * DAY, DAY), None);
        // A horizon or period past the end of time lists without overflowing.
        assert!(listed(1, Duration::MAX, Duration::MAX).is_some());
    }

    #[test]
    fn a_revalidation_moves_the_due_time_later_and_a_purge_takes_the_message_off_the_list() {
        let now = OffsetDateTime::now_utc();
        let mut message = record(&id_made(40, now, 1), "ia");
        assert!(review_of(message.clone(), 30 * DAY, now, Duration::ZERO).is_some(), "overdue without its state");
        message.state.revalidations.push(Revalidation { reviewer: "r".into(), at: now, reason: "valid".into() });
        assert_eq!(review_of(message.clone(), 30 * DAY, now, Duration::ZERO), None, "not overdue once revalidated");
        assert!(review_of(message.clone(), 30 * DAY, now, 31 * DAY).is_some_and(|item| !item.overdue));
        message.state.purged_at = Some(now);
        assert_eq!(review_of(message, 30 * DAY, now, 365 * DAY), None, "a purged message is not on record");
    }

    #[test]
    fn records_are_rebuilt_from_the_approvals_in_the_audit() {
        let now = OffsetDateTime::now_utc();
        let (a, b) = (id_made(1, now, 1), id_made(2, now, 2));
        let mut denied = approved(&a, "fbi", "");
        denied.event = Event::Denied;
        let mut criminal = approved(&b, "cbp", "liaison.feed.cbp.ia.tip.narcotics");
        criminal.criminal_intelligence = true;
        let audit = [
            approved(&a, "fbi", "liaison.feed.fbi.ia.report.cyber-crime"),
            denied,
            approved(&a, "cbp", "liaison.feed.cbp.ia.report.cyber-crime"),
            criminal,
            approved(&a, "fbi", "liaison.feed.fbi.ia.report.cyber-crime"), // a retry: the same copy
            approved("not-a-ulid", "fbi", "liaison.feed.fbi.ia.report.cyber-crime"),
        ];
        let records = records_from_audit(&audit);
        assert_eq!(records.len(), 2);
        let first = &records[&a];
        assert_eq!((first.kind.as_str(), first.topic.as_str(), first.origin.as_str()), ("report", "cyber-crime", "ia"));
        assert_eq!(first.recipients(), ["fbi", "cbp"]);
        assert_eq!(first.copies.len(), 2);
        assert_eq!(first.published_at, published_at(&a).unwrap());
        assert!(!first.criminal_intelligence);
        assert!(records[&b].criminal_intelligence);
        assert_eq!(records[&b].kind, "tip");
    }

    #[test]
    fn state_round_trips_as_json_leaving_out_what_never_happened() {
        let empty = serde_json::to_string(&MessageState::default()).unwrap();
        assert_eq!(empty, "{}");
        let at = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
        let state = MessageState {
            revalidations: vec![Revalidation { reviewer: "r".into(), at, reason: "why".into() }],
            superseded_by: "X".into(),
            orcon_approvals: vec![OrconApproval { party: "fbi".into(), approver: "a".into(), at, reason: "r".into() }],
            purged_at: Some(at),
        };
        let json = serde_json::to_string(&state).unwrap();
        assert_eq!(serde_json::from_str::<MessageState>(&json).unwrap(), state);
    }
}
