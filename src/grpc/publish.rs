//! Publishing: validate, route, record, store one copy per approved recipient, and build the receipt.
//!
//! No copy without its record: the publish's audit records (one entry, group-committed with concurrent
//! publishes) are stored, JetStream's ack awaited, before any copy is sent. If the audit cannot be stored,
//! no copy is sent and the caller gets UNAVAILABLE naming the audit. A copy that fails after its record
//! leaves an `approved` record without a copy — harmless, since a purge or review looking for it finds
//! nothing to remove — and the receipt reports the partial failure as before; no further record is written
//! (the store that just failed would most likely refuse it too).
//!
//! Named recipients that are not in the directory are denied in one record for them all, and a publish
//! naming more than `--max-unknown-recipients` of them is refused before anything is recorded.
//!
//! Publishing is split in two so PublishStream can pipeline: [`Gateway::prepare`] validates, routes and
//! queues the audit records in request order; [`Prepared::finish`] awaits the audit, sends the copies
//! (after the previous publish of the stream has sent its own: a [`Turn`]) and awaits their storage.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use prost::Message;
use tokio::sync::oneshot;
use tracing::Instrument;

use crate::api as pb;
use crate::audit::{AuditRecord, EncodedRecords, MessageRef};
use crate::bus::{Bus, BusError, CopyOptions, PendingAudit, PendingStore, Stored, delivery_subject, feed_subject};
use crate::disclosure::HeldItem;
use crate::identity::Caller;
use crate::model::PartyId;
use crate::model::{Kind, RouteRequest};
use crate::router::{Approval, Denial, DenialReason, Outcome, Routing};
use crate::traffic::{FlowLabels, Traffic};

use super::server::Gateway;
use super::{GatewayError, convert};

mod correction;
mod hold;

use hold::{held, held_item};

/// A routed publish whose audit records are queued; no copy has been sent yet.
pub struct Prepared {
    message_id: String,
    policy_version: Arc<str>,
    outcomes: Vec<PreparedOutcome>,
    expires_in: Option<std::time::Duration>,
    /// To send the copies and to look up the original id when a copy turns out to be a duplicate.
    bus: Arc<Bus>,
    /// Where stored copies are counted.
    traffic: Arc<Traffic>,
    /// The audit entry of this publish's decisions, stored before any copy is sent.
    audit: PendingAudit,
    /// For a correction: the message it supersedes, marked so once a copy is stored.
    supersedes: Option<String>,
    /// The message's markings, the canonical banner line, for the receipt.
    banner: String,
    /// What it does to an RFI record once its action party's (or, for an answer, requester's) copy is stored.
    rfi: Option<Box<super::rfi::RfiPublish>>,
}

enum PreparedOutcome {
    /// Approved and recorded: the approval, the copy and its de-duplication id (with an idempotency key).
    Approved(Approval, Bytes, Option<String>),
    Denied(Denial),
    /// Held for foreign-disclosure review and recorded: the item to keep.
    Held(Box<HeldItem>),
}

/// Where a publish sends its copies in a stream of publishes: after the previous one has sent its own
/// (`after`), signalling the next when done (`sent`, dropped on any outcome). So copies reach JetStream in
/// request order while the audit acks of several publishes are awaited at once.
#[derive(Default)]
pub struct Turn {
    pub after: Option<oneshot::Receiver<()>>,
    pub sent: Option<oneshot::Sender<()>>,
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
            prepared.finish(Turn::default()).await
        }
        .instrument(publish_span(caller))
        .await
    }

    /// Validates, routes and queues the audit records of every decision. Nothing reaches the feed unless
    /// the router approved it, and only in [`Prepared::finish`], after its record is stored.
    pub(super) async fn prepare(
        &self,
        caller: &Caller,
        envelope: Option<pb::Envelope>,
    ) -> Result<Prepared, GatewayError> {
        self.require_publisher(caller)?;
        self.quotas.check_publish(caller)?;
        let mut envelope = envelope.ok_or_else(|| GatewayError::InvalidArgument("envelope: required".into()))?;
        let mut request =
            convert::route_request(caller, &mut envelope, &self.limits).map_err(|error| self.counted(error))?;
        // Boxed, and only for the RFI kinds (or RFI fields to refuse), as every rare path here.
        let rfi = match request.kind {
            Kind::Rfi | Kind::RfiResponse => Box::pin(self.rfi_publish(caller, &envelope, &mut request)).await?,
            _ if !envelope.justification.is_empty() || envelope.due_at.is_some() => {
                Box::pin(self.rfi_publish(caller, &envelope, &mut request)).await?
            }
            _ => None,
        };
        let now = time::OffsetDateTime::now_utc();
        let expires_in = convert::expires_in(&envelope, now)?;
        // Boxed, as every rare path here: what a future holds is copied whenever it moves.
        let earlier = match envelope.supersedes.is_empty() {
            true => None,
            false => Box::pin(self.superseded(caller, &envelope.supersedes)).await?,
        };
        let router = self.policy.current();
        let routing = match &earlier {
            None => router.route(&request),
            Some(earlier) => router.route_correction(&request, &earlier.recipients, &earlier.orcon_approved),
        }
        .map_err(|error| self.counted(error.into()))?;
        check_unknown(&request, &routing, self.limits.max_unknown_recipients)?;

        let message_id = ulid::Ulid::new().to_string();
        // Only a client's retry can repeat a publish, and only with its key: without one, the copies need no
        // de-duplication id (which would cost nats-server an entry per copy for the whole window).
        let dedup_base = match envelope.idempotency_key.as_str() {
            "" => None,
            key => Some(format!("{}:{key}", caller.party)),
        };
        envelope.id = message_id.clone();
        envelope.origin = caller.party.to_string();
        envelope.recipients.clear();
        envelope.created_at.get_or_insert_with(|| convert::timestamp(now));
        let base = envelope.encode_to_vec();
        let banner = envelope.markings.as_ref().map(|markings| markings.banner.clone()).unwrap_or_default();

        let mut outcomes = Vec::with_capacity(routing.outcomes.len());
        // Encoded as they are decided: nothing of what they are about is copied for the audit writer.
        let mut records = EncodedRecords::with_capacity(routing.outcomes.len() + 1);
        let origin = caller.party.to_string();
        let message = MessageRef { message_id: &message_id, origin: &origin, policy_version: &routing.policy_version };
        if let Some(earlier) = &earlier {
            let superseded = MessageRef { message_id: &earlier.message_id, ..message };
            records.push(&AuditRecord::superseded(&superseded, &message_id));
        }
        // Parties not in the directory: one record for all of them, not one each.
        let mut unknown = Vec::new();
        for outcome in routing.outcomes {
            match outcome {
                Outcome::Deliver(approval) => {
                    let recipient = approval.recipient().as_str();
                    // Where the copy will be: what a purge or correction finds it by.
                    let subject = delivery_subject(&approval);
                    let approved =
                        AuditRecord::approved(&message, recipient, approval.rule(), approval.basis(), &subject);
                    let approved = approved.criminal_intelligence(envelope.criminal_intelligence.is_some());
                    records.push(&approved.under_markings(&banner).routed_as(&request, false));
                    let payload = copy_for(&base, approval.recipient());
                    let dedup_id = dedup_base.as_ref().map(|base| format!("{base}:{recipient}"));
                    outcomes.push(PreparedOutcome::Approved(approval, payload, dedup_id));
                }
                Outcome::Hold(hold) => {
                    let held = AuditRecord::held(&message, hold.recipient.as_str(), &hold.explanation);
                    records.push(&held.under_markings(&banner).routed_as(&request, true));
                    let item = held_item(&envelope, &banner, &hold, copy_for(&base, &hold.recipient), &self.limits);
                    outcomes.push(PreparedOutcome::Held(Box::new(item)));
                }
                Outcome::Deny(denial) => {
                    let decided_by = self.note_denial(caller, &message_id, &request, &routing.policy_version, &denial);
                    match denial.reason {
                        DenialReason::UnknownParty => unknown.push(denial.recipient.to_string()),
                        _ => records.push(
                            &AuditRecord::denied(&message, denial.recipient.as_str(), &decided_by)
                                .under_markings(&banner)
                                .routed_as(&request, true),
                        ),
                    }
                    outcomes.push(PreparedOutcome::Denied(denial));
                }
            }
        }
        if !unknown.is_empty() {
            let record = AuditRecord::denied_unknown(&message, unknown, DenialReason::UnknownParty.code());
            records.push(&record.under_markings(&banner).routed_as(&request, true));
        }
        // An RFI step only when the router approved the party whose copy completes it.
        let rfi = rfi.filter(|rfi| {
            outcomes.iter().any(|outcome| {
                matches!(outcome, PreparedOutcome::Approved(approval, ..) if approval.recipient().as_str() == rfi.party())
            })
        });
        if let Some(rfi) = &rfi {
            records.push(&rfi.audit(&message));
        }
        let audit = self.audit.append(records).await?;
        let span = tracing::Span::current();
        span.record("message_id", message_id.as_str());
        span.record("policy_version", &*routing.policy_version);
        Ok(Prepared {
            supersedes: earlier.map(|earlier| earlier.message_id),
            message_id,
            policy_version: routing.policy_version,
            outcomes,
            expires_in,
            bus: self.bus.clone(),
            traffic: self.traffic.clone(),
            audit,
            banner,
            rfi,
        })
    }

    /// Logs and counts a denial; returns what decided it, as audited.
    fn note_denial(
        &self,
        caller: &Caller,
        message_id: &str,
        request: &crate::model::RouteRequest,
        policy_version: &str,
        denial: &Denial,
    ) -> String {
        tracing::info!(
            message_id = %message_id,
            origin = %caller.party,
            recipient = %denial.recipient,
            reason = denial.reason.code(),
            policy_version = %policy_version,
            "{}",
            denial.explanation
        );
        // A party not in the directory gets no flow of its own (made-up names would be flows and labels).
        if denial.reason == DenialReason::UnknownParty {
            self.traffic.unknown_recipient(&caller.party);
            return denial.reason.code().to_string();
        }
        let subject = feed_subject(&denial.recipient, &caller.party, request.kind, &request.topic, request.precedence);
        let labels = || {
            Some(FlowLabels {
                recipient: denial.recipient.clone(),
                origin: caller.party.clone(),
                kind: request.kind,
                topic: request.topic.clone(),
            })
        };
        self.traffic.flow(&subject, labels).denied(denial.reason);
        denial.decided_by()
    }
}

/// Refuses, before anything is recorded, a publish naming more recipients that are not in the directory
/// than `max` (`--max-unknown-recipients`): made-up names are a way to fill the audit, not to disseminate.
/// Earlier recipients a correction reaches again, which may have left the directory since, do not count.
fn check_unknown(request: &RouteRequest, routing: &Routing, max: usize) -> Result<(), GatewayError> {
    let unknown: Vec<&str> = routing
        .outcomes
        .iter()
        .filter_map(|outcome| match outcome {
            Outcome::Deny(denial)
                if denial.reason == DenialReason::UnknownParty && request.recipients.contains(&denial.recipient) =>
            {
                Some(denial.recipient.as_str())
            }
            _ => None,
        })
        .collect();
    if unknown.len() <= max {
        return Ok(());
    }
    const SHOWN: usize = 8;
    let more = if unknown.len() > SHOWN { ", ..." } else { "" };
    Err(GatewayError::TooLarge(format!(
        "envelope.recipients: {} named recipients are not parties in the directory ({}{more}); a publish may name \
         at most {max} (--max-unknown-recipients), so nothing was published or recorded",
        unknown.len(),
        unknown[..unknown.len().min(SHOWN)].join(", ")
    )))
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
    /// Waits until the audit has stored this publish's records, sends the copies (in `turn`), waits until
    /// JetStream has stored every copy, and builds the receipt.
    pub async fn finish(self, turn: Turn) -> Result<pb::Receipt, GatewayError> {
        let Prepared { message_id, policy_version, outcomes, expires_in, bus, traffic, audit, supersedes, banner, rfi } =
            self;
        // 28 CFR 23.20(g), and no copy without its record.
        match audit.stored().await {
            Ok(()) => {}
            Err(error @ BusError::AuditFull(_)) => {
                return Err(GatewayError::Bus(BusError::Unavailable(format!(
                    "message {message_id} was not published, and no copy was sent: {error}"
                ))));
            }
            Err(error) => {
                return Err(GatewayError::Bus(BusError::Unavailable(format!(
                    "the audit record of message {message_id} could not be stored, so no copy was sent ({error}); retry"
                ))));
            }
        }
        let outcomes = send(&bus, outcomes, expires_in, turn).await?;
        let total = outcomes.iter().filter(|outcome| matches!(outcome, SentOutcome::Sent(..))).count();
        let mut stored_count = 0;
        let mut first_error = None;
        let mut original_message_id = None;
        let mut lookup_error = None;
        let mut receipt_outcomes = Vec::with_capacity(outcomes.len());
        let mut rfi_sequence = None;
        for outcome in outcomes {
            match outcome {
                SentOutcome::Sent(approval, pending, size) => match pending.stored().await {
                    Ok(stored) => {
                        stored_count += 1;
                        if rfi.as_ref().is_some_and(|rfi| rfi.party() == approval.recipient().as_str()) {
                            rfi_sequence = Some(stored.sequence);
                        }
                        if !stored.duplicate {
                            traffic.flow(&stored.subject, || Some(flow_labels(&approval))).published(size);
                        }
                        if stored.duplicate && original_message_id.is_none() {
                            // Not knowing the original id is an error: the client would record a wrong one.
                            match original_id(&bus, stored.sequence).await {
                                Ok(id) => original_message_id = id,
                                Err(error) => lookup_error = Some(error),
                            }
                        }
                        receipt_outcomes.push(delivered(&approval, stored));
                    }
                    Err(error) => {
                        first_error.get_or_insert(error);
                    }
                },
                SentOutcome::Denied(denial) => receipt_outcomes.push(denied(denial)),
                SentOutcome::Held(item) => receipt_outcomes.push(held(&item)),
            }
        }
        if let Some(earlier) = &supersedes
            && stored_count > 0
            && let Err(error) =
                Box::pin(bus.update_message_state(earlier, |state| state.superseded_by.clone_from(&message_id))).await
        {
            first_error.get_or_insert(error);
        }
        if let (Some(rfi), Some(sequence)) = (rfi, rfi_sequence)
            && let Err(error) =
                Box::pin(rfi.complete(&bus, original_message_id.as_deref().unwrap_or(&message_id), sequence)).await
        {
            first_error.get_or_insert(error);
        }
        let span = tracing::Span::current();
        span.record("delivered", stored_count);
        span.record("denied", receipt_outcomes.iter().filter(|outcome| is_denied(outcome)).count());
        match first_error {
            None if let Some(error) = lookup_error => Err(GatewayError::Bus(BusError::Unavailable(format!(
                "the message was stored by an earlier publish with this idempotency key, but its id could not be read ({error}); retry"
            )))),
            // A retry of an idempotent publish reports the id the message was first stored under (or, if
            // that copy has since expired or been purged, the retry's own id).
            None => Ok(pb::Receipt {
                message_id: original_message_id.unwrap_or(message_id),
                outcomes: receipt_outcomes,
                policy_version: policy_version.to_string(),
                banner,
            }),
            Some(error) if stored_count == 0 => Err(error.into()),
            Some(error) => Err(GatewayError::PartiallyStored(format!(
                "message {message_id} stored for {stored_count} of {total} recipients ({error}); retry with the same idempotency key to complete it without duplicates"
            ))),
        }
    }
}

/// The id of the message stored at `sequence` (an earlier publish with the same idempotency key), read from
/// its payload; `None` when that copy is gone or unreadable. Boxed: rare, and kept out of every publish's
/// future.
fn original_id(bus: &Bus, sequence: u64) -> futures::future::BoxFuture<'_, Result<Option<String>, BusError>> {
    Box::pin(async move {
        let copy = bus.copy_at(sequence).await?;
        Ok(copy.and_then(|payload| pb::Envelope::decode(payload).ok()).map(|envelope| envelope.id))
    })
}

/// A decision once its copy, if any, has been sent.
enum SentOutcome {
    /// Sent to JetStream: the approval, the storage acknowledgement to await and the copy's size.
    Sent(Approval, PendingStore, usize),
    Denied(Denial),
    Held(Box<HeldItem>),
}

/// Sends every approved copy, after the previous publish's turn; a copy that cannot be sent stops the
/// publish (its record is stored: see the module header).
async fn send(
    bus: &Bus,
    outcomes: Vec<PreparedOutcome>,
    expires_in: Option<std::time::Duration>,
    turn: Turn,
) -> Result<Vec<SentOutcome>, GatewayError> {
    if let Some(after) = turn.after {
        // A dropped sender means the previous publish is done with sending too (it failed): go ahead.
        let _ = after.await;
    }
    let mut sent = Vec::with_capacity(outcomes.len());
    for outcome in outcomes {
        sent.push(match outcome {
            PreparedOutcome::Approved(approval, payload, dedup_id) => {
                let size = payload.len();
                let options = CopyOptions { dedup_id, expires_in };
                let pending = bus.publish(&approval, payload, options).await?;
                SentOutcome::Sent(approval, pending, size)
            }
            PreparedOutcome::Denied(denial) => SentOutcome::Denied(denial),
            // Kept once its record is stored, as a copy is sent.
            PreparedOutcome::Held(item) => {
                bus.hold(&item).await?;
                SentOutcome::Held(item)
            }
        });
    }
    drop(turn.sent);
    Ok(sent)
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
            released_by: approval.released_by().unwrap_or_default().to_string(),
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

#[cfg(test)]
mod tests;
