//! Dead letters for operators and admins: listing (metadata only; a party's own, every party's with
//! oversight) and redriving (an admin of the recipient party, or an oversight admin; every redriven message is
//! routed again under the current policy and audited as `redriven` before its copy is stored back). Who may
//! is `identity::authorization`'s table.

use prost::Message;

use crate::api as pb;
use crate::audit::{AuditRecord, MessageRef};
use crate::bus::{BusError, DeadLetterRecord};
use crate::identity::Caller;
use crate::identity::authorization::{Action, scope_of};
use crate::model::{Kind, RouteRequest};
use crate::router::Outcome;

use super::server::Gateway;
use super::{GatewayError, convert};

const DEFAULT_LIMIT: u32 = 1000;
const MAX_LIMIT: u32 = 10_000;

// === impl Gateway ===

impl Gateway {
    pub(super) async fn list_dead_letters(
        &self,
        caller: &Caller,
        request: pb::ListDeadLettersRequest,
    ) -> Result<pb::ListDeadLettersResponse, GatewayError> {
        let party = match request.party.as_str() {
            "" => None,
            party => Some(convert::token("party", party)?),
        };
        let party = self.authorize_listing(caller, Action::ListDeadLetters, party)?;
        let limit = match request.limit {
            0 => DEFAULT_LIMIT,
            limit => limit.min(MAX_LIMIT),
        };
        let (records, truncated) = self.bus.dead_letters(party.as_ref(), limit as usize).await?;
        Ok(pb::ListDeadLettersResponse { dead_letters: records.into_iter().map(dead_letter).collect(), truncated })
    }

    pub(super) async fn redrive_dead_letters(
        &self,
        caller: &Caller,
        request: pb::RedriveDeadLettersRequest,
    ) -> Result<pb::RedriveDeadLettersResponse, GatewayError> {
        let party = convert::token("party", &request.party)?;
        self.authorize(caller, Action::RedriveDeadLetters, scope_of(&caller.party, Some(&party)))?;
        let sequences = match request.sequences.is_empty() {
            false => request.sequences,
            true => {
                let (records, _) = self.bus.dead_letters(Some(&party), MAX_LIMIT as usize).await?;
                records.into_iter().map(|record| record.sequence).collect()
            }
        };
        let mut response = pb::RedriveDeadLettersResponse::default();
        for sequence in sequences {
            let refuse = |explanation: String| pb::RedriveRefusal { sequence, explanation };
            let Some(dead) = self.bus.dead_letter(sequence).await? else {
                response.refused.push(refuse("no such dead letter".into()));
                continue;
            };
            if dead.recipient != party.as_str() {
                response.refused.push(refuse(format!("dead letter of {}, not of {party}", dead.recipient)));
                continue;
            }
            let envelope = match pb::Envelope::decode(dead.payload.clone()) {
                Ok(envelope) => envelope,
                Err(error) => {
                    response.refused.push(refuse(format!("undecodable message: {error}")));
                    continue;
                }
            };
            if convert::expired(&envelope, time::OffsetDateTime::now_utc()) {
                response.refused.push(refuse("the message has expired".into()));
                continue;
            }
            let route = RouteRequest {
                origin: convert::token("origin", &envelope.origin)?,
                recipients: vec![party.clone()],
                kind: convert::kind("kind", envelope.kind)?,
                topic: convert::token("topic", &envelope.topic)?,
                markings: convert::markings(envelope.markings.as_ref())?,
                precedence: convert::precedence(envelope.precedence)?,
            };
            // A redrive is a later dissemination: ORCON material needs its originator's approval of the party.
            let approved = match route.markings.originator_controlled() {
                false => Vec::new(),
                true => self.orcon_approved(&envelope.id).await?,
            };
            let routing = self.policy.current().route_later(&route, &approved)?;
            match routing.outcomes.into_iter().next() {
                Some(Outcome::Deliver(approval)) => {
                    // No copy without its record: the redrive is audited before the copy is stored back.
                    let message = MessageRef {
                        message_id: &envelope.id,
                        origin: &envelope.origin,
                        policy_version: &routing.policy_version,
                    };
                    let subject = crate::bus::delivery_subject(&approval);
                    let redriven = AuditRecord::redriven(
                        &message,
                        party.as_str(),
                        &caller.subject,
                        approval.rule(),
                        approval.basis(),
                        &subject,
                        sequence,
                    );
                    let audited = async { self.audit.append(vec![redriven]).await?.stored().await };
                    audited.await.map_err(|error| {
                        GatewayError::Bus(BusError::Unavailable(format!(
                            "the audit record of redriving dead letter {sequence} could not be stored, so it was not redriven ({error}); retry"
                        )))
                    })?;
                    self.bus.redrive(&approval, &dead).await?;
                    tracing::info!(party = %party, subject = %caller.subject, sequence, message_id = %envelope.id, "dead letter redriven");
                    response.redriven.push(sequence);
                }
                Some(Outcome::Deny(denial)) => response.refused.push(refuse(denial.explanation)),
                Some(Outcome::Hold(hold)) => response.refused.push(refuse(hold.explanation)),
                None => response.refused.push(refuse("the router made no decision".into())),
            }
        }
        Ok(response)
    }
}

fn dead_letter(record: DeadLetterRecord) -> pb::DeadLetter {
    pb::DeadLetter {
        sequence: record.sequence,
        subject: record.subject,
        party: record.recipient,
        origin: record.origin,
        kind: Kind::from_token(&record.kind).map(pb::Kind::from).unwrap_or(pb::Kind::Unspecified) as i32,
        topic: record.topic,
        message_id: record.message_id,
        feed_sequence: record.feed_sequence,
        subscription_id: record.subscription,
        delivery_attempts: u32::try_from(record.attempts).unwrap_or(u32::MAX),
        reason: record.reason,
        dead_lettered_at: Some(convert::timestamp(record.dead_lettered_at)),
        size_bytes: record.size_bytes,
    }
}
