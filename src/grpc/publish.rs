//! Publishing: validate, route, store one copy per approved recipient, and build the receipt.
//!
//! Publishing is split in two so PublishStream can pipeline: [`Gateway::prepare`] validates, routes and
//! sends every copy to JetStream in request order; [`Prepared::finish`] awaits the storage acks.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use prost::Message;
use tracing::Instrument;

use crate::api as pb;
use crate::audit::{AuditRecord, Event};
use crate::bus::{Bus, BusError, CopyOptions, PendingAudit, PendingStore, Stored, feed_subject};
use crate::identity::Caller;
use crate::model::PartyId;
use crate::router::{Approval, Denial, Outcome};
use crate::traffic::{FlowLabels, Traffic};

use super::server::Gateway;
use super::{GatewayError, convert};

/// A publish whose copies have been sent to JetStream but not yet confirmed.
pub struct Prepared {
    message_id: String,
    policy_version: Arc<str>,
    outcomes: Vec<PreparedOutcome>,
    /// To look up the original id when a copy turns out to be a duplicate.
    bus: Arc<Bus>,
    /// Where stored copies are counted.
    traffic: Arc<Traffic>,
    /// The audit entry of this publish's decisions, stored before the receipt is returned.
    audit: PendingAudit,
    /// For a correction: the message it supersedes, marked so once a copy is stored.
    supersedes: Option<String>,
}

enum PreparedOutcome {
    /// Sent to JetStream: the approval, the storage acknowledgement to await and the copy's size.
    Sent(Approval, PendingStore, usize),
    Denied(Denial),
}

// === impl Gateway ===

impl Gateway {
    /// Publishes one envelope and waits for storage.
    pub(super) async fn publish_one(
        &self,
        caller: &Caller,
        envelope: Option<pb::Envelope>,
    ) -> Result<pb::Receipt, GatewayError> {
        async {
            let prepared = self.prepare(caller, envelope).await?;
            prepared.finish().await
        }
        .instrument(publish_span(caller))
        .await
    }

    /// Validates, routes and sends every approved copy. Nothing reaches NATS unless the router approved it.
    pub(super) async fn prepare(
        &self,
        caller: &Caller,
        envelope: Option<pb::Envelope>,
    ) -> Result<Prepared, GatewayError> {
        self.require_publisher(caller)?;
        self.quotas.check_publish(caller)?;
        let mut envelope = envelope.ok_or_else(|| GatewayError::InvalidArgument("envelope: required".into()))?;
        let request =
            convert::route_request(caller, &mut envelope, &self.limits).map_err(|error| self.counted(error))?;
        let now = time::OffsetDateTime::now_utc();
        let expires_in = convert::expires_in(&envelope, now)?;
        let earlier = self.superseded(caller, &envelope.supersedes).await?;
        let router = self.policy.current();
        let routing = match &earlier {
            None => router.route(&request),
            Some(earlier) => router.route_correction(&request, &earlier.recipients),
        }
        .map_err(|error| self.counted(error.into()))?;

        let message_id = ulid::Ulid::new().to_string();
        let dedup_base = match envelope.idempotency_key.as_str() {
            "" => message_id.clone(),
            key => format!("{}:{key}", caller.party),
        };
        envelope.id = message_id.clone();
        envelope.origin = caller.party.to_string();
        envelope.recipients.clear();
        envelope.created_at.get_or_insert_with(|| convert::timestamp(now));
        let base = envelope.encode_to_vec();

        let mut outcomes = Vec::with_capacity(routing.outcomes.len());
        let mut records = Vec::with_capacity(routing.outcomes.len());
        let audit_record = |event, recipient: &PartyId, decided_by: String, basis: &str| AuditRecord {
            event,
            message_id: message_id.clone(),
            origin: caller.party.to_string(),
            recipient: recipient.to_string(),
            subscriber: String::new(),
            decided_by,
            basis: basis.to_string(),
            policy_version: routing.policy_version.to_string(),
            reason: String::new(),
            subject: String::new(),
            criminal_intelligence: false,
        };
        if let Some(earlier) = &earlier {
            let mut superseded =
                audit_record(Event::Superseded, &caller.party, format!("superseded by {message_id}"), "");
            superseded.message_id = earlier.message_id.clone();
            superseded.recipient = String::new();
            records.push(superseded);
        }
        // A copy that cannot be sent stops the publish, but what was already sent is still audited first.
        let mut send_error = None;
        for outcome in routing.outcomes {
            match outcome {
                Outcome::Deliver(approval) => {
                    let recipient = approval.recipient();
                    let payload = copy_for(&base, recipient);
                    let size = payload.len();
                    let options = CopyOptions {
                        dedup_id: format!("{dedup_base}:{recipient}"),
                        message_id: &message_id,
                        expires_in,
                    };
                    let pending = match self.bus.publish(&approval, payload, options).await {
                        Ok(pending) => pending,
                        Err(error) => {
                            send_error = Some(error);
                            break;
                        }
                    };
                    let mut approved = audit_record(
                        Event::Approved,
                        approval.recipient(),
                        approval.rule().to_string(),
                        approval.basis(),
                    );
                    // Where the copy is: what a purge or correction finds it by.
                    approved.subject = pending.subject().to_string();
                    approved.criminal_intelligence = envelope.criminal_intelligence.is_some();
                    records.push(approved);
                    outcomes.push(PreparedOutcome::Sent(approval, pending, size));
                }
                Outcome::Deny(denial) => {
                    tracing::info!(
                        message_id = %message_id,
                        origin = %caller.party,
                        recipient = %denial.recipient,
                        reason = denial.reason.code(),
                        policy_version = %routing.policy_version,
                        "{}",
                        denial.explanation
                    );
                    let subject = feed_subject(&denial.recipient, &caller.party, request.kind, &request.topic);
                    let labels = || {
                        Some(FlowLabels {
                            recipient: denial.recipient.clone(),
                            origin: caller.party.clone(),
                            kind: request.kind,
                            topic: request.topic.clone(),
                        })
                    };
                    self.traffic.flow(&subject, labels).denied(denial.reason);
                    let decided_by = match &denial.rule {
                        Some(rule) => format!("{} ({rule})", denial.reason.code()),
                        None => denial.reason.code().to_string(),
                    };
                    records.push(audit_record(Event::Denied, &denial.recipient, decided_by, ""));
                    outcomes.push(PreparedOutcome::Denied(denial));
                }
            }
        }
        let audit = self.audit.append(records).await?;
        if let Some(error) = send_error {
            // The copies sent so far may be stored: their record must be too before the caller hears.
            audit.stored().await?;
            return Err(error.into());
        }
        let span = tracing::Span::current();
        span.record("message_id", message_id.as_str());
        span.record("policy_version", &*routing.policy_version);
        Ok(Prepared {
            supersedes: earlier.map(|earlier| earlier.message_id),
            message_id,
            policy_version: routing.policy_version,
            outcomes,
            bus: self.bus.clone(),
            traffic: self.traffic.clone(),
            audit,
        })
    }
}

/// The message a correction supersedes, as far as routing needs it.
pub(super) struct Earlier {
    message_id: String,
    recipients: Vec<PartyId>,
}

impl Gateway {
    /// For a correction: the earlier message's recipients, after checking that the caller's party published
    /// it and that it is not already superseded.
    async fn superseded(&self, caller: &Caller, supersedes: &str) -> Result<Option<Earlier>, GatewayError> {
        if supersedes.is_empty() {
            return Ok(None);
        }
        let Some(record) = self.bus.message_record(supersedes).await? else {
            return Err(GatewayError::NotFound(format!(
                "envelope.supersedes: no message {supersedes} is on record (never published, or purged)"
            )));
        };
        if record.origin != caller.party.as_str() {
            return Err(GatewayError::PermissionDenied(format!(
                "envelope.supersedes: message {supersedes} was published by {}; only its origin may correct it",
                record.origin
            )));
        }
        if !record.state.superseded_by.is_empty() {
            return Err(GatewayError::FailedPrecondition(format!(
                "envelope.supersedes: message {supersedes} is already superseded by {}; correct that one instead",
                record.state.superseded_by
            )));
        }
        let recipients = record.recipients().into_iter().filter_map(|party| PartyId::parse(party).ok()).collect();
        Ok(Some(Earlier { message_id: record.message_id, recipients }))
    }
}

/// The stored copy for one recipient: the encoded envelope with that recipient appended as its only
/// `recipients` entry (protobuf concatenates repeated fields, so the base is encoded once).
pub(super) fn copy_for(base: &[u8], recipient: &PartyId) -> Bytes {
    use prost::encoding::{WireType, encode_key, encode_varint};
    let recipient = recipient.as_str().as_bytes();
    let mut buffer = BytesMut::with_capacity(base.len() + recipient.len() + 4);
    buffer.extend_from_slice(base);
    encode_key(4, WireType::LengthDelimited, &mut buffer);
    encode_varint(recipient.len() as u64, &mut buffer);
    buffer.extend_from_slice(recipient);
    buffer.freeze()
}

// === impl Prepared ===

impl Prepared {
    /// Waits until JetStream has stored every copy and builds the receipt.
    pub async fn finish(self) -> Result<pb::Receipt, GatewayError> {
        let total = self.outcomes.iter().filter(|outcome| matches!(outcome, PreparedOutcome::Sent(..))).count();
        let mut stored_count = 0;
        let mut first_error = None;
        let mut original_message_id = None;
        let mut lookup_error = None;
        let mut outcomes = Vec::with_capacity(self.outcomes.len());
        for outcome in self.outcomes {
            match outcome {
                PreparedOutcome::Sent(approval, pending, size) => match pending.stored().await {
                    Ok(stored) => {
                        stored_count += 1;
                        if !stored.duplicate {
                            self.traffic.flow(&stored.subject, || Some(flow_labels(&approval))).published(size);
                        }
                        if stored.duplicate && original_message_id.is_none() {
                            // Not knowing the original id is an error: the client would record a wrong one.
                            match self.bus.message_id_at(stored.sequence).await {
                                Ok(id) => original_message_id = id,
                                Err(error) => lookup_error = Some(error),
                            }
                        }
                        outcomes.push(delivered(&approval, stored));
                    }
                    Err(error) => {
                        first_error.get_or_insert(error);
                    }
                },
                PreparedOutcome::Denied(denial) => outcomes.push(denied(denial)),
            }
        }
        // 28 CFR 23.20(g): no receipt before the record of who was given it, why and when is stored.
        let superseded = async {
            match &self.supersedes {
                Some(earlier) if stored_count > 0 => {
                    let by = &self.message_id;
                    self.bus.update_message_state(earlier, |state| state.superseded_by.clone_from(by)).await.map(drop)
                }
                _ => Ok(()),
            }
        };
        let (audited, superseded) = tokio::join!(self.audit.stored(), superseded);
        for result in [audited, superseded] {
            if let Err(error) = result {
                first_error.get_or_insert(error);
            }
        }
        let span = tracing::Span::current();
        span.record("delivered", stored_count);
        span.record("denied", outcomes.iter().filter(|outcome| is_denied(outcome)).count());
        match first_error {
            None if let Some(error) = lookup_error => Err(GatewayError::Bus(BusError::Unavailable(format!(
                "the message was stored by an earlier publish with this idempotency key, but its id could not be read ({error}); retry"
            )))),
            // A retry of an idempotent publish reports the id the message was first stored under (or, if
            // that copy has since expired or been purged, the retry's own id).
            None => Ok(pb::Receipt {
                message_id: original_message_id.unwrap_or(self.message_id),
                outcomes,
                policy_version: self.policy_version.to_string(),
            }),
            Some(error) if stored_count == 0 => Err(error.into()),
            Some(error) => Err(GatewayError::PartiallyStored(format!(
                "message {} stored for {stored_count} of {total} recipients ({error}); retry with the same idempotency key to complete it without duplicates",
                self.message_id
            ))),
        }
    }
}

/// The span of one publish: the message id, the policy version and the routing decision (copies stored,
/// recipients denied) are recorded on it as they become known. Exported over OTLP when configured.
pub(super) fn publish_span(caller: &Caller) -> tracing::Span {
    tracing::info_span!(
        "publish",
        party = %caller.party,
        message_id = tracing::field::Empty,
        policy_version = tracing::field::Empty,
        delivered = tracing::field::Empty,
        denied = tracing::field::Empty,
    )
}

fn is_denied(outcome: &pb::RecipientOutcome) -> bool {
    matches!(outcome.outcome, Some(pb::recipient_outcome::Outcome::Denied(_)))
}

fn flow_labels(approval: &Approval) -> FlowLabels {
    FlowLabels {
        recipient: approval.recipient().clone(),
        origin: approval.origin().clone(),
        kind: approval.kind(),
        topic: approval.topic().clone(),
    }
}

fn delivered(approval: &Approval, stored: Stored) -> pb::RecipientOutcome {
    pb::RecipientOutcome {
        party: approval.recipient().to_string(),
        outcome: Some(pb::recipient_outcome::Outcome::Delivered(pb::Delivered {
            stream_sequence: stored.sequence,
            subject: stored.subject,
            duplicate: stored.duplicate,
            rule: approval.rule().to_string(),
            basis: approval.basis().to_string(),
        })),
    }
}

fn denied(denial: Denial) -> pb::RecipientOutcome {
    pb::RecipientOutcome {
        party: denial.recipient.to_string(),
        outcome: Some(pb::recipient_outcome::Outcome::Denied(pb::Denied {
            reason: convert::denial_reason(denial.reason) as i32,
            explanation: denial.explanation,
            rule: denial.rule.as_deref().unwrap_or_default().to_string(),
        })),
    }
}
