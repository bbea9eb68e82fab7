//! TransferRfi: a liaison officer of the action party sends an RFI on to the party that can answer it
//! (its host agency, I&A, another party the policy allows). The transfer is routed like a publish from the
//! action party to the new one under the RFI's markings: approved, the new action party gets a copy of the
//! RFI (same id, so its answer's `in_reply_to` names it) and the step is audited with the approval;
//! denied or held, the transfer is refused naming the reason, and the denial is audited. The requester
//! sees where it went in the record (action party, history).

use prost::Message;

use crate::api as pb;
use crate::audit::{AuditRecord, MessageRef};
use crate::bus::{CopyOptions, RfiEntry};
use crate::identity::Caller;
use crate::identity::authorization::Action;
use crate::model::{Kind, RouteRequest};
use crate::rfi::{Actor, Transition};
use crate::router::{Approval, Outcome, Router};

use super::super::server::Gateway;
use super::super::{GatewayError, convert, publish};
use super::{ATTEMPTS, busy, reason, refused, rfi_audit, rfi_for};

impl Gateway {
    pub(in crate::grpc) async fn transfer_rfi(
        &self,
        caller: &Caller,
        request: pb::TransferRfiRequest,
    ) -> Result<pb::TransferRfiResponse, GatewayError> {
        let reason = reason(&request.reason, true)?;
        let to = convert::token("to", &request.to)?;
        let mut entry = self.readable_rfi(caller, Action::TransferRfi, &request.rfi_id).await?;
        let actor = Actor::Caller { party: caller.party.as_str(), person: &caller.subject, role: caller.role };
        let transfer = Transition::Transfer { to: to.to_string() };
        let now = time::OffsetDateTime::now_utc();
        entry.record.apply(&transfer, actor, &reason, now).map_err(refused)?;
        let router = self.policy.current();
        let (route, envelope) = self.transfer_route(caller, &entry, &to).await?;
        let approval = self.transfer_approval(&router, &route, &entry, caller).await?;
        let subject = crate::bus::delivery_subject(&approval);
        let record = &entry.record;
        let message =
            MessageRef { message_id: &record.id, origin: caller.party.as_str(), policy_version: router.version() };
        let approved = AuditRecord::approved(&message, to.as_str(), approval.rule(), approval.basis(), &subject)
            .under_markings(&record.banner);
        let mut next = entry.record.apply(&transfer, actor, &reason, now).map_err(refused)?;
        let transferred = rfi_audit(&next, &caller.subject, approval.rule(), &reason, router.version());
        self.audit.append(vec![approved, transferred]).await?.stored().await?;
        let copy = publish::copy_for(&envelope.encode_to_vec(), &to);
        let options = CopyOptions { dedup_id: Some(format!("rfi-transfer:{}:{to}", record.id)), expires_in: None };
        let stored = self.bus.publish(&approval, copy, options).await?.stored().await?;
        for _ in 0..ATTEMPTS {
            next.copy_sequence = stored.sequence;
            if self.bus.update_rfi(&next, entry.revision).await?.is_some() {
                tracing::info!(rfi = %next.id, from = %caller.party, %to, officer = %caller.subject, "RFI transferred");
                return Ok(pb::TransferRfiResponse {
                    rfi: Some(rfi_for(caller, &next)),
                    stream_sequence: stored.sequence,
                    subject: stored.subject,
                    rule: approval.rule().to_string(),
                });
            }
            entry = self.find_rfi(&request.rfi_id).await?;
            next = entry.record.apply(&transfer, actor, &reason, time::OffsetDateTime::now_utc()).map_err(refused)?;
        }
        Err(busy(&request.rfi_id))
    }

    /// The route of a transfer (from the action party to `to`, as an RFI under its markings) and the copy
    /// it sends: the RFI as its action party received it, read from the feed.
    async fn transfer_route(
        &self,
        caller: &Caller,
        entry: &RfiEntry,
        to: &crate::model::PartyId,
    ) -> Result<(RouteRequest, pb::Envelope), GatewayError> {
        let record = &entry.record;
        let gone = || {
            GatewayError::FailedPrecondition(format!(
                "RFI {}: its copy is no longer on the feed (expired or purged), so it cannot be transferred",
                record.id
            ))
        };
        let copy = self.bus.copy_at(record.copy_sequence).await?.ok_or_else(gone)?;
        let mut envelope = pb::Envelope::decode(copy).map_err(|_| gone())?;
        if envelope.id != record.id {
            return Err(gone());
        }
        envelope.recipients.clear();
        envelope.attributes.insert("liaison.rfi.transferred_by".into(), caller.party.to_string());
        let route = RouteRequest {
            origin: caller.party.clone(),
            recipients: vec![to.clone()],
            kind: Kind::Rfi,
            topic: convert::token("topic", &envelope.topic)?,
            markings: convert::stored_markings(envelope.markings.as_ref())?,
            precedence: convert::precedence(envelope.precedence)?,
        };
        Ok((route, envelope))
    }

    /// The router's approval of the transfer; a denial (audited) or hold refuses it naming why.
    async fn transfer_approval(
        &self,
        router: &Router,
        route: &RouteRequest,
        entry: &RfiEntry,
        caller: &Caller,
    ) -> Result<Approval, GatewayError> {
        let record = &entry.record;
        let to = &route.recipients[0];
        match router.route(route)?.outcomes.into_iter().next() {
            Some(Outcome::Deliver(approval)) => Ok(approval),
            Some(Outcome::Deny(denial)) => {
                let message = MessageRef {
                    message_id: &record.id,
                    origin: caller.party.as_str(),
                    policy_version: router.version(),
                };
                let decided_by = denial.decided_by();
                let denied = AuditRecord::denied(&message, to.as_str(), &decided_by).under_markings(&record.banner);
                self.audit.append(vec![denied]).await?.stored().await?;
                Err(GatewayError::PermissionDenied(format!(
                    "to: the policy does not let {} transfer RFI {} to {to}: DENIAL_REASON_{}: {}",
                    caller.party,
                    record.id,
                    denial.reason.code(),
                    denial.explanation
                )))
            }
            Some(Outcome::Hold(hold)) => Err(GatewayError::FailedPrecondition(format!(
                "to: RFI {} would be held for foreign-disclosure review on its way to {to} ({}); transfer it to a \
                 party its markings release it to",
                record.id, hold.explanation
            ))),
            None => Err(GatewayError::FailedPrecondition("to: the router made no decision".into())),
        }
    }
}
