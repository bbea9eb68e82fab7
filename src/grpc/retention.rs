//! Revalidation and purge (28 CFR 23.20(h)): `OperatorService.Revalidate` and `PurgeMessage`; the review
//! list, `ListReviewDue`, is `review_due.rs`. Metadata only; a purge notice names the purged message and
//! the reason, nothing of its content.
//!
//! Who may do what (`identity::authorization`): a message belongs to its origin party. An analyst or admin
//! of the origin party revalidates (or an oversight admin); an operator or admin of the origin party purges
//! (or an oversight operator or admin). A recipient does not purge what it received.

use std::time::Duration;

use prost::Message;

use crate::api as pb;
use crate::audit::{AuditRecord, EncodedRecords, MessageRef};
use crate::bus::CopyOptions;
use crate::identity::Caller;
use crate::identity::authorization::{Action, Scope, scope_of};
use crate::model::{PartyId, Precedence, Topic};
use crate::retention::{MessageRecord, Revalidation};
use crate::router::{MAX_RETENTION, NOTICE_RULE, Router};

use super::server::Gateway;
use super::{GatewayError, convert, publish};

/// Longest reason a reviewer or operator may give.
const MAX_REASON_BYTES: usize = 4096;

impl Gateway {
    pub(super) async fn revalidate(
        &self,
        caller: &Caller,
        request: pb::RevalidateRequest,
    ) -> Result<pb::RevalidateResponse, GatewayError> {
        let reason = reason(&request.reason)?;
        self.authorize_some(caller, Action::Revalidate)?;
        let record = self.on_record(&request.message_id).await?;
        self.authorize(caller, Action::Revalidate, origin_scope(caller, &record))?;
        let review = Revalidation { reviewer: caller.subject.clone(), at: time::OffsetDateTime::now_utc(), reason };
        let state =
            self.bus.update_message_state(&record.message_id, |state| state.revalidations.push(review.clone())).await?;
        let updated = MessageRecord { state, ..record };
        let router = self.policy.current();
        let audited = AuditRecord::revalidated(&message_ref(&router, &updated), &caller.subject, &review.reason);
        self.audit.append(vec![audited]).await?.stored().await?;
        let due = updated.review_due(retention_of(&router, &updated.origin));
        Ok(pb::RevalidateResponse {
            revalidation: Some(revalidation(&review)),
            review_due: Some(convert::timestamp(due)),
        })
    }

    /// Erases every copy, notifies every party a copy was stored for, audits, and forgets the record.
    /// Each step can be repeated, so a purge cut short is finished by asking again.
    pub(super) async fn purge_message(
        &self,
        caller: &Caller,
        request: pb::PurgeMessageRequest,
    ) -> Result<pb::PurgeMessageResponse, GatewayError> {
        self.authorize_some(caller, Action::PurgeMessage)?;
        let reason = reason(&request.reason)?;
        let record = self.on_record(&request.message_id).await?;
        self.authorize(caller, Action::PurgeMessage, origin_scope(caller, &record))?;
        let is_copy = |payload: &[u8]| pb::Envelope::decode(payload).is_ok_and(|copy| copy.id == record.message_id);
        let copies_removed =
            self.bus.erase_copies(&record, is_copy).await? + self.bus.erase_holds(&record.message_id).await?;

        let router = self.policy.current();
        let origin =
            PartyId::parse(&record.origin).map_err(|error| GatewayError::InvalidArgument(error.to_string()))?;
        let topic = Topic::parse(&record.topic).map_err(|error| GatewayError::InvalidArgument(error.to_string()))?;
        let notice_id = ulid::Ulid::new().to_string();
        let notice = purge_notice(&record, &notice_id, &reason).encode_to_vec();
        let mut audit = EncodedRecords::default();
        let mut notices = Vec::new();
        for recipient in record.recipients() {
            audit.push(&AuditRecord::purged(&message_ref(&router, &record), recipient, &caller.subject, &reason));
            let Some(approval) = PartyId::parse(recipient)
                .ok()
                .and_then(|party| router.notice(&origin, &party, &topic, Precedence::Priority))
            else {
                tracing::warn!(message_id = %record.message_id, recipient, "purge notice not sent: the party left the directory");
                continue;
            };
            let options = CopyOptions {
                // A purge tried again after a failure sends each notice once (within the duplicate window).
                dedup_id: Some(format!("purge:{}:{recipient}", record.message_id)),
                expires_in: None,
            };
            let notice_ref = MessageRef { message_id: &notice_id, ..message_ref(&router, &record) };
            let subject = crate::bus::delivery_subject(&approval);
            audit.push(&AuditRecord::approved(&notice_ref, recipient, NOTICE_RULE, approval.basis(), &subject));
            notices.push((recipient.to_string(), approval, options));
        }
        // No copy without its record: the notices are sent once their records are stored.
        self.audit.append(audit).await?.stored().await?;
        let mut pending = Vec::with_capacity(notices.len());
        for (recipient, approval, options) in notices {
            let payload = publish::copy_for(&notice, approval.recipient());
            pending.push((recipient, self.bus.publish(&approval, payload, options).await?));
        }
        let mut notified = Vec::with_capacity(pending.len());
        for (recipient, copy) in pending {
            copy.stored().await?;
            notified.push(recipient);
        }
        let purged_at = time::OffsetDateTime::now_utc();
        self.bus.update_message_state(&record.message_id, |state| state.purged_at = Some(purged_at)).await?;
        tracing::info!(message_id = %record.message_id, copies_removed, notified = notified.len(), by = %caller.subject, "message purged");
        Ok(pb::PurgeMessageResponse { copies_removed, notified, notice_id })
    }

    pub(super) async fn on_record(&self, message_id: &str) -> Result<MessageRecord, GatewayError> {
        if message_id.is_empty() {
            return Err(GatewayError::InvalidArgument("message_id: required".into()));
        }
        self.bus.message_record(message_id).await?.ok_or_else(|| not_on_record(message_id))
    }
}

/// A message belongs to its origin party: the one that may review, revalidate and purge it. A recipient's
/// copy is not its own to purge (a purge erases every party's copy and notifies them all).
pub(super) fn origin_scope(caller: &Caller, record: &MessageRecord) -> Scope {
    scope_of(caller.party.as_str(), Some(record.origin.as_str()))
}

fn not_on_record(message_id: &str) -> GatewayError {
    GatewayError::NotFound(format!("message_id: no message {message_id} is on record (never published, or purged)"))
}

pub(super) fn reason(reason: &str) -> Result<String, GatewayError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(GatewayError::InvalidArgument("reason: required".into()));
    }
    if reason.len() > MAX_REASON_BYTES {
        return Err(GatewayError::InvalidArgument(format!("reason: at most {MAX_REASON_BYTES} bytes")));
    }
    Ok(reason.to_string())
}

/// The origin party's retention period; a party no longer in the directory keeps the longest.
pub(super) fn retention_of(router: &Router, origin: &str) -> Duration {
    PartyId::parse(origin)
        .ok()
        .and_then(|party| router.directory().get(&party).map(|party| party.retention))
        .unwrap_or(MAX_RETENTION)
}

/// The notice sent to each party that received a purged message: its id and the reason, unclassified.
fn purge_notice(record: &MessageRecord, notice_id: &str, reason: &str) -> pb::Envelope {
    let now = time::OffsetDateTime::now_utc();
    pb::Envelope {
        id: notice_id.to_string(),
        origin: record.origin.clone(),
        kind: pb::Kind::Notice as i32,
        topic: record.topic.clone(),
        markings: Some(pb::Markings { classification: pb::Classification::Unclassified as i32, ..Default::default() }),
        precedence: pb::Precedence::Priority as i32,
        created_at: Some(convert::timestamp(now)),
        in_reply_to: record.message_id.clone(),
        title: format!("Purged: message {}", record.message_id),
        body: format!("Message {} was purged: {reason}. Remove every copy you hold.", record.message_id).into(),
        content_type: "text/plain".into(),
        attributes: [
            ("liaison.notice".to_string(), "purge".to_string()),
            ("liaison.message_id".to_string(), record.message_id.clone()),
            ("liaison.reason".to_string(), reason.to_string()),
        ]
        .into(),
        ..Default::default()
    }
}

/// The message `record` as audit records name it, under the policy in force.
pub(super) fn message_ref<'a>(router: &'a Router, record: &'a MessageRecord) -> MessageRef<'a> {
    MessageRef { message_id: &record.message_id, origin: &record.origin, policy_version: router.version() }
}

pub(super) fn revalidation(review: &Revalidation) -> pb::Revalidation {
    pb::Revalidation {
        reviewer: review.reviewer.clone(),
        at: Some(convert::timestamp(review.at)),
        reason: review.reason.clone(),
    }
}
