//! What a publish does to the RFI records: a `KIND_RFI` opens one, an `RFI_RESPONSE` whose `in_reply_to`
//! names a recorded RFI answers it. Decided before routing (a refusal stores and sends nothing), audited in
//! the publish's own entry once the router approved the action party (the requester, for an answer), and
//! written once that party's copy is stored.
//!
//! An RFI names exactly one recipient, its action party (rule `rfi-one-action-party`): an RFI is one
//! party's task with one clock, and a requester asking several parties publishes one RFI to each, each
//! tracked on its own. An answer goes to the requester (rule `rfi-answer-to-requester`; with no recipient
//! named, to the requester alone; others may be named beside it, such as the I&A relay a host-to-host
//! answer needs) and only from the action party. A response to a
//! message that is not a recorded RFI is published as before, untracked. An RFI whose copy is denied or
//! held for disclosure review opens no record.

use std::sync::Arc;

use time::OffsetDateTime;

use crate::api as pb;
use crate::audit::{AuditRecord, Event, MessageRef};
use crate::bus::{Bus, BusError, RfiEntry};
use crate::identity::{Caller, Role};
use crate::metrics::rfi::RfiMetrics;
use crate::model::{Kind, RouteRequest};
use crate::rfi::{Actor, MAX_JUSTIFICATION, Opening, RfiRecord, Transition};

use super::super::server::Gateway;
use super::super::{GatewayError, convert};
use super::{ATTEMPTS, refused};

/// The RFI side of one publish.
pub struct RfiPublish {
    step: Step,
    /// Who publishes: the acting party, person and role.
    party: String,
    person: String,
    role: Role,
    metrics: Arc<RfiMetrics>,
}

enum Step {
    /// Opens an RFI for `action_party`; the id and copy's sequence are known once stored.
    Open(Box<Opening>),
    /// Answers the RFI read.
    Answer(Box<RfiEntry>),
}

fn invalid(message: String) -> GatewayError {
    GatewayError::InvalidArgument(message)
}

impl Gateway {
    /// Checks the RFI fields of a publish and decides what it does to the records; may address an answer to
    /// its requester (`request.recipients`).
    pub(in crate::grpc) async fn rfi_publish(
        &self,
        caller: &Caller,
        envelope: &pb::Envelope,
        request: &mut RouteRequest,
    ) -> Result<Option<Box<RfiPublish>>, GatewayError> {
        if request.kind != Kind::Rfi {
            if !envelope.justification.is_empty() {
                return Err(invalid("envelope.justification: only an RFI (KIND_RFI) carries a justification".into()));
            }
            if envelope.due_at.is_some() {
                return Err(invalid("envelope.due_at: only an RFI (KIND_RFI) has a due time".into()));
            }
        }
        let step = match request.kind {
            Kind::Rfi => Step::Open(Box::new(self.opening(caller, envelope, request)?)),
            Kind::RfiResponse if !envelope.in_reply_to.is_empty() => {
                let Some(entry) = self.bus.rfi(&envelope.in_reply_to).await? else { return Ok(None) };
                answerable(caller, &entry.record, request)?;
                Step::Answer(Box::new(entry))
            }
            _ => return Ok(None),
        };
        Ok(Some(Box::new(RfiPublish {
            step,
            party: caller.party.to_string(),
            person: caller.subject.clone(),
            role: caller.role,
            metrics: self.rfi_metrics.clone(),
        })))
    }

    /// The standard data elements of a new RFI, before its id is known.
    fn opening(
        &self,
        caller: &Caller,
        envelope: &pb::Envelope,
        request: &RouteRequest,
    ) -> Result<Opening, GatewayError> {
        let [action_party] = request.recipients.as_slice() else {
            return Err(invalid(format!(
                "envelope.recipients: an RFI names exactly one action party (rule rfi-one-action-party), not {}; \
                 publish one RFI to each party, each tracked on its own",
                request.recipients.len()
            )));
        };
        let justification = envelope.justification.trim();
        if justification.is_empty() {
            return Err(invalid(
                "envelope.justification: required on an RFI: the requester's need to know (ISE SIP 14a)".into(),
            ));
        }
        if justification.len() > MAX_JUSTIFICATION {
            return Err(invalid(format!("envelope.justification: at most {MAX_JUSTIFICATION} bytes")));
        }
        let now = OffsetDateTime::now_utc();
        let explicit = envelope.due_at.as_ref().map(|at| convert::time("envelope.due_at", at)).transpose()?;
        let due_at = crate::rfi::due_at(&self.limits.rfi_due, request.precedence, explicit, now).map_err(invalid)?;
        Ok(Opening {
            id: String::new(),
            requester: caller.party.to_string(),
            requester_person: caller.subject.clone(),
            action_party: action_party.to_string(),
            topic: request.topic.to_string(),
            banner: request.markings.banner(),
            precedence: request.precedence.name().to_string(),
            title: envelope.title.clone(),
            justification: justification.to_string(),
            due_at,
            copy_sequence: 0,
        })
    }
}

/// Refuses an answer the caller's party may not give now, or not addressed to the requester.
fn answerable(caller: &Caller, record: &RfiRecord, request: &mut RouteRequest) -> Result<(), GatewayError> {
    let actor = Actor::Caller { party: caller.party.as_str(), person: &caller.subject, role: caller.role };
    let answer = Transition::Answer { response_id: String::new() };
    record.apply(&answer, actor, "", OffsetDateTime::now_utc()).map_err(refused)?;
    if request.recipients.is_empty() {
        request.recipients.push(convert::token("in_reply_to", &record.requester)?);
    } else if !request.recipients.iter().any(|recipient| recipient.as_str() == record.requester) {
        return Err(invalid(format!(
            "envelope.recipients: the answer to RFI {} goes to its requester {} (rule rfi-answer-to-requester); \
             name it, or name no one",
            record.id, record.requester
        )));
    }
    Ok(())
}

impl RfiPublish {
    /// The recipient whose stored copy completes this step: the action party of a new RFI, the requester
    /// of an answer.
    pub fn party(&self) -> &str {
        match &self.step {
            Step::Open(opening) => &opening.action_party,
            Step::Answer(entry) => &entry.record.requester,
        }
    }

    /// The audit record of this step, stored in the publish's entry (`message` is the publish's).
    pub fn audit<'a>(&'a self, message: &MessageRef<'a>) -> AuditRecord<'a> {
        match &self.step {
            Step::Open(opening) => {
                AuditRecord::rfi(Event::RfiOpened, message, &opening.action_party, &self.person, "open", "")
                    .under_markings(&opening.banner)
            }
            Step::Answer(entry) => {
                let record = &entry.record;
                let rfi = MessageRef { message_id: &record.id, origin: &record.requester, ..*message };
                let decided_by = format!("answer {}", message.message_id);
                AuditRecord::rfi(Event::RfiAnswered, &rfi, &record.action_party, &self.person, decided_by, "")
                    .under_markings(&record.banner)
            }
        }
    }

    /// Once the copy is stored (at `sequence`, as message `message_id`): records the new RFI, or the answer
    /// (deciding again on a record changed meanwhile).
    pub async fn complete(self, bus: &Bus, message_id: &str, sequence: u64) -> Result<(), BusError> {
        let now = OffsetDateTime::now_utc();
        let mut entry = match self.step {
            Step::Open(opening) => {
                let opening = Opening { id: message_id.to_string(), copy_sequence: sequence, ..*opening };
                return bus.create_rfi(&RfiRecord::open(opening, now)).await;
            }
            Step::Answer(entry) => *entry,
        };
        let actor = Actor::Caller { party: &self.party, person: &self.person, role: self.role };
        let answer = Transition::Answer { response_id: message_id.to_string() };
        for _ in 0..ATTEMPTS {
            let next = match entry.record.apply(&answer, actor, "", now) {
                Ok(next) => next,
                Err(refused) => {
                    tracing::warn!(rfi = %entry.record.id, %refused, "answer delivered, but the RFI moved meanwhile");
                    return Ok(());
                }
            };
            if bus.update_rfi(&next, entry.revision).await?.is_some() {
                let waited = std::time::Duration::try_from(now - entry.record.assigned_at).unwrap_or_default();
                self.metrics.answered(&next.action_party, waited);
                return Ok(());
            }
            let Some(again) = bus.rfi(&entry.record.id).await? else { return Ok(()) };
            entry = again;
        }
        Err(BusError::Unavailable(format!("RFI {} kept changing while its answer was recorded", entry.record.id)))
    }
}
