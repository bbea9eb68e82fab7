//! The overdue sweep: every gateway looks at the RFI records every few seconds, and an RFI past its due
//! time and still waiting for its action party is marked `expired`. Writing that step with the revision it
//! was read at is the claim: of several gateways sweeping at once only the one whose write matched goes
//! on to audit it, count it (`liaison_rfi_overdue_total`) and send the overdue notice (a `KIND_NOTICE`
//! with `in_reply_to` = the RFI) to both the requester and the action party, once. The requester may then
//! reopen it (due anew) or close it.

use prost::Message;

use crate::api as pb;
use crate::audit::{AuditRecord, EncodedRecords, MessageRef};
use crate::bus::CopyOptions;
use crate::grpc::notice::Notice;
use crate::model::{Precedence, Topic};
use crate::rfi::{Actor, RfiRecord, Transition};

use super::super::server::Gateway;
use super::super::{GatewayError, convert, publish};
use super::rfi_audit;

impl Gateway {
    /// Expires the RFIs past due that this gateway claims, with their notices; returns how many.
    pub async fn sweep_rfis(&self) -> Result<usize, GatewayError> {
        let now = time::OffsetDateTime::now_utc();
        let listing = self.bus.rfis(self.limits.rfi_scan_limit).await?;
        let mut expired = 0;
        for entry in listing.entries {
            let Ok(next) = entry.record.apply(&Transition::Expire, Actor::Gateway, "", now) else { continue };
            // Another gateway (or a transition) came first: it is not this one's to expire.
            if self.bus.update_rfi(&next, entry.revision).await?.is_none() {
                continue;
            }
            expired += 1;
            self.rfi_metrics.overdue(&next.action_party);
            if let Err(error) = self.notify_overdue(&next).await {
                tracing::warn!(rfi = %next.id, %error, "RFI expired; its audit record or notices could not be stored");
            }
            tracing::info!(rfi = %next.id, action_party = %next.action_party, "RFI expired unanswered");
        }
        Ok(expired)
    }

    /// Audits the expiry of `record` and sends the overdue notice to its requester and its action party.
    async fn notify_overdue(&self, record: &RfiRecord) -> Result<(), GatewayError> {
        let router = self.policy.current();
        let topic = Topic::parse(&record.topic).map_err(|error| GatewayError::InvalidArgument(error.to_string()))?;
        let origin = convert::token("requester", &record.requester)?;
        let notice_id = ulid::Ulid::new().to_string();
        let notice = MessageRef { message_id: &notice_id, origin: &record.requester, policy_version: router.version() };
        let mut records = EncodedRecords::from(rfi_audit(record, "", "expire", "", router.version()));
        let mut copies = Vec::new();
        for party in [&record.requester, &record.action_party] {
            let recipient = convert::token("party", party)?;
            // A party that left the directory gets no notice.
            let Some(approval) = router.notice(&origin, &recipient, &topic, Precedence::Priority) else { continue };
            let subject = crate::bus::delivery_subject(&approval);
            records.push(&AuditRecord::approved(&notice, party, approval.rule(), approval.basis(), &subject));
            copies.push(approval);
        }
        self.audit.append(records).await?.stored().await?;
        let envelope = overdue_notice(record, &notice_id).encode_to_vec();
        for approval in copies {
            let payload = publish::copy_for(&envelope, approval.recipient());
            let dedup_id = Some(format!("rfi-expired:{}:{}", record.id, approval.recipient()));
            self.bus.publish(&approval, payload, CopyOptions { dedup_id, expires_in: None }).await?.stored().await?;
        }
        Ok(())
    }
}

/// The overdue notice: unclassified, naming the RFI and its parties, nothing of its content.
fn overdue_notice(record: &RfiRecord, notice_id: &str) -> pb::Envelope {
    let due = record.due_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    Notice {
        id: notice_id,
        origin: &record.requester,
        topic: &record.topic,
        in_reply_to: &record.id,
        precedence: pb::Precedence::Priority,
        title: format!("Overdue: RFI {} to {}", record.id, record.action_party),
        body: format!(
            "RFI {} from {} to {} was due at {due} and is not answered: it is expired. The requester may reopen \
             or close it.",
            record.id, record.requester, record.action_party
        ),
        attributes: vec![
            ("liaison.notice", "rfi-overdue".to_string()),
            ("liaison.rfi", record.id.clone()),
            ("liaison.action_party", record.action_party.clone()),
            ("liaison.due_at", due),
        ],
    }
    .envelope()
}
