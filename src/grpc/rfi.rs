//! `RfiService`: ListRfis, GetRfi, UpdateRfi and TransferRfi, over the records `bus/rfi.rs` keeps. The
//! decisions are `crate::rfi`'s; this applies them. Opening and answering go through Publish
//! (`rfi/publish.rs`), expiry through the sweep (`rfi/sweep.rs`), transfers through `rfi/transfer.rs`.
//!
//! Who may call (`identity::authorization`): the RFI's requester or action party (its scope is "own"
//! when the caller's party is either), operators of an oversight party to read another party's; within
//! that, `rfi::RfiRecord::apply` decides which side may make which transition. Every transition is
//! decided on a record as read and written only if the record is still at that revision; a change that
//! came first makes the call decide again on the new record (at most [`ATTEMPTS`] times). The audit
//! record of a transition is stored before the record is written: a transition never happens unaudited,
//! and one whose write lost is audited as attempted, with the record unchanged.

mod publish;
mod sweep;
mod transfer;

use tonic::{Request, Response, Status};

use crate::api as pb;
use crate::api::rfi_service_server::RfiService;
use crate::audit::{AuditRecord, Event, MessageRef};
use crate::bus::RfiEntry;
use crate::identity::Caller;
use crate::identity::authorization::{Action, Scope};
use crate::rfi::{Actor, Refused, RfiRecord, Status as RfiStatus, Transition, rules};

use super::server::Gateway;
use super::{GatewayError, auth, convert};

pub use publish::RfiPublish;

/// Most RFIs one listing returns.
const MAX_LISTED: usize = 1000;
/// Decisions one call makes before giving up on a record other calls keep changing.
const ATTEMPTS: usize = 4;

#[tonic::async_trait]
impl RfiService for Gateway {
    async fn list_rfis(&self, request: Request<pb::ListRfisRequest>) -> Result<Response<pb::ListRfisResponse>, Status> {
        let caller = auth::caller(&request)?;
        Ok(Response::new(self.list_rfis(&caller, request.into_inner()).await?))
    }

    async fn get_rfi(&self, request: Request<pb::GetRfiRequest>) -> Result<Response<pb::GetRfiResponse>, Status> {
        let caller = auth::caller(&request)?;
        let entry = self.readable_rfi(&caller, Action::GetRfi, &request.get_ref().rfi_id).await?;
        Ok(Response::new(pb::GetRfiResponse { rfi: Some(rfi_for(&caller, &entry.record)) }))
    }

    async fn update_rfi(
        &self,
        request: Request<pb::UpdateRfiRequest>,
    ) -> Result<Response<pb::UpdateRfiResponse>, Status> {
        let caller = auth::caller(&request)?;
        let record = self.update_rfi(&caller, request.into_inner()).await?;
        Ok(Response::new(pb::UpdateRfiResponse { rfi: Some(rfi_for(&caller, &record)) }))
    }

    async fn transfer_rfi(
        &self,
        request: Request<pb::TransferRfiRequest>,
    ) -> Result<Response<pb::TransferRfiResponse>, Status> {
        let caller = auth::caller(&request)?;
        Ok(Response::new(self.transfer_rfi(&caller, request.into_inner()).await?))
    }
}

impl Gateway {
    async fn list_rfis(
        &self,
        caller: &Caller,
        request: pb::ListRfisRequest,
    ) -> Result<pb::ListRfisResponse, GatewayError> {
        let party = match request.party.as_str() {
            "" => caller.party.clone(),
            party => convert::token("party", party)?,
        };
        let scope = crate::identity::authorization::scope_of(&caller.party, Some(&party));
        self.authorize(caller, Action::ListRfis, scope)?;
        let view = pb::RfiView::try_from(request.view)
            .map_err(|_| GatewayError::InvalidArgument(format!("view: unknown value {}", request.view)))?;
        let limit = match request.limit as usize {
            0 => MAX_LISTED,
            limit => limit.min(MAX_LISTED),
        };
        let now = time::OffsetDateTime::now_utc();
        let listing = self.bus.rfis(self.limits.rfi_scan_limit).await?;
        let party = party.as_str();
        let rfis = listing
            .entries
            .iter()
            .map(|entry| &entry.record)
            .filter(|record| match view {
                pb::RfiView::Unspecified => record.requester == party || record.action_party == party,
                pb::RfiView::Mine => record.requester == party,
                pb::RfiView::ToAct => record.action_party == party && record.status.active(),
                pb::RfiView::Overdue => {
                    (record.requester == party || record.action_party == party) && record.overdue(now)
                }
            })
            .take(limit)
            .map(|record| rfi_for(caller, record))
            .collect();
        Ok(pb::ListRfisResponse { rfis, truncated: listing.truncated })
    }

    /// The RFI a caller may read or act on for `action`: it exists, and the caller's party is its requester
    /// or action party (for a transfer: its action party), else the table's "another party" cell decides.
    async fn readable_rfi(&self, caller: &Caller, action: Action, id: &str) -> Result<RfiEntry, GatewayError> {
        self.authorize_some(caller, action)?;
        let entry = self.find_rfi(id).await?;
        let party = caller.party.as_str();
        let own =
            entry.record.action_party == party || (action != Action::TransferRfi && entry.record.requester == party);
        self.authorize(caller, action, if own { Scope::Own } else { Scope::Other })?;
        Ok(entry)
    }

    async fn find_rfi(&self, id: &str) -> Result<RfiEntry, GatewayError> {
        if ulid::Ulid::from_string(id).is_err() {
            return Err(GatewayError::InvalidArgument(format!("rfi_id: {id:?} is not a message id")));
        }
        self.bus.rfi(id).await?.ok_or_else(|| {
            GatewayError::NotFound(format!("rfi_id: no RFI {id} is recorded (never opened, or aged out)"))
        })
    }

    async fn update_rfi(&self, caller: &Caller, request: pb::UpdateRfiRequest) -> Result<RfiRecord, GatewayError> {
        let transition = pb::RfiTransition::try_from(request.transition).unwrap_or_default();
        let needs_reason = matches!(transition, pb::RfiTransition::Reject | pb::RfiTransition::Reopen);
        let reason = reason(&request.reason, needs_reason)?;
        let mut entry = self.readable_rfi(caller, Action::UpdateRfi, &request.rfi_id).await?;
        let actor = Actor::Caller { party: caller.party.as_str(), person: &caller.subject, role: caller.role };
        for _ in 0..ATTEMPTS {
            let now = time::OffsetDateTime::now_utc();
            let step = match transition {
                pb::RfiTransition::Acknowledge => Transition::Acknowledge,
                pb::RfiTransition::StartWork => Transition::StartWork,
                pb::RfiTransition::Reject => Transition::Reject,
                pb::RfiTransition::Close => Transition::Close,
                pb::RfiTransition::Reopen => {
                    let precedence = crate::model::Precedence::from_name(&entry.record.precedence).unwrap_or_default();
                    Transition::Reopen { due_at: now + self.limits.rfi_due.of(precedence) }
                }
                pb::RfiTransition::Unspecified => {
                    return Err(GatewayError::InvalidArgument(format!(
                        "transition: required (acknowledge, start-work, reject, close or reopen), got {}",
                        request.transition
                    )));
                }
            };
            let next = entry.record.apply(&step, actor, &reason, now).map_err(refused)?;
            if let Some(record) = self.write_rfi(&entry, next, caller, &reason).await? {
                self.clock(&entry.record, &record, now);
                return Ok(record);
            }
            entry = self.find_rfi(&request.rfi_id).await?;
        }
        Err(busy(&request.rfi_id))
    }

    /// Audits the step `next` makes from `entry`, then writes it if the record is unchanged since it was read;
    /// `None` when another change came first.
    async fn write_rfi(
        &self,
        entry: &RfiEntry,
        next: RfiRecord,
        caller: &Caller,
        reason: &str,
    ) -> Result<Option<RfiRecord>, GatewayError> {
        let step = next.steps.last().map(|step| step.transition.clone()).unwrap_or_default();
        let policy = self.policy.current();
        let record = rfi_audit(&next, &caller.subject, &step, reason, policy.version());
        self.audit.append(vec![record]).await?.stored().await?;
        Ok(self.bus.update_rfi(&next, entry.revision).await?.map(|_| next))
    }

    /// Records the time to acknowledge (or answer) of the step from `before` to `after`.
    fn clock(&self, before: &RfiRecord, after: &RfiRecord, now: time::OffsetDateTime) {
        let waited = std::time::Duration::try_from(now - before.assigned_at).unwrap_or_default();
        match (before.status, after.status) {
            (from, RfiStatus::Acknowledged) if from != RfiStatus::Acknowledged => {
                self.rfi_metrics.acknowledged(&after.action_party, waited)
            }
            (from, RfiStatus::Answered) if from != RfiStatus::Answered => {
                self.rfi_metrics.answered(&after.action_party, waited)
            }
            _ => {}
        }
    }
}

/// The audit record of the last step of `record`, made by `by`.
fn rfi_audit<'a>(
    record: &'a RfiRecord,
    by: &'a str,
    decided_by: &'a str,
    reason: &'a str,
    policy_version: &'a str,
) -> AuditRecord<'a> {
    let message = MessageRef { message_id: &record.id, origin: &record.requester, policy_version };
    let event = match record.status {
        RfiStatus::Open if record.steps.len() <= 1 => Event::RfiOpened,
        RfiStatus::Open => Event::RfiReopened,
        RfiStatus::Acknowledged => Event::RfiAcknowledged,
        RfiStatus::InWork => Event::RfiInWork,
        RfiStatus::Answered => Event::RfiAnswered,
        RfiStatus::Closed => Event::RfiClosed,
        RfiStatus::Rejected => Event::RfiRejected,
        RfiStatus::Transferred => Event::RfiTransferred,
        RfiStatus::Expired => Event::RfiExpired,
    };
    AuditRecord::rfi(event, &message, &record.action_party, by, decided_by, reason).under_markings(&record.banner)
}

/// A transition's reason: required for some, bounded for all.
fn reason(reason: &str, required: bool) -> Result<String, GatewayError> {
    let reason = reason.trim();
    if required && reason.is_empty() {
        return Err(GatewayError::InvalidArgument("reason: required to reject, reopen or transfer an RFI".into()));
    }
    if reason.len() > crate::rfi::MAX_REASON {
        return Err(GatewayError::InvalidArgument(format!("reason: at most {} bytes", crate::rfi::MAX_REASON)));
    }
    Ok(reason.to_string())
}

/// A refused transition as a status: another side's transition is PERMISSION_DENIED, one the RFI's state
/// does not allow FAILED_PRECONDITION; the message names the rule.
pub(super) fn refused(refused: Refused) -> GatewayError {
    let message = format!("RFI transition refused by rule {refused}");
    match refused.rule {
        rules::ACTION_PARTY | rules::REQUESTER | rules::LIAISON_OFFICER => GatewayError::PermissionDenied(message),
        rules::TRANSFER_TARGET => GatewayError::InvalidArgument(format!("to: {message}")),
        _ => GatewayError::FailedPrecondition(message),
    }
}

fn busy(id: &str) -> GatewayError {
    GatewayError::Bus(crate::bus::BusError::Unavailable(format!(
        "RFI {id} kept changing under {ATTEMPTS} attempts to move it; read it again and retry"
    )))
}

fn status_to_pb(status: RfiStatus) -> pb::RfiStatus {
    match status {
        RfiStatus::Open => pb::RfiStatus::Open,
        RfiStatus::Acknowledged => pb::RfiStatus::Acknowledged,
        RfiStatus::InWork => pb::RfiStatus::InWork,
        RfiStatus::Answered => pb::RfiStatus::Answered,
        RfiStatus::Closed => pb::RfiStatus::Closed,
        RfiStatus::Rejected => pb::RfiStatus::Rejected,
        RfiStatus::Transferred => pb::RfiStatus::Transferred,
        RfiStatus::Expired => pb::RfiStatus::Expired,
    }
}

fn precedence_to_pb(precedence: crate::model::Precedence) -> pb::Precedence {
    match precedence {
        crate::model::Precedence::Routine => pb::Precedence::Routine,
        crate::model::Precedence::Priority => pb::Precedence::Priority,
        crate::model::Precedence::Immediate => pb::Precedence::Immediate,
        crate::model::Precedence::Flash => pb::Precedence::Flash,
    }
}

/// The RFI as `caller` may see it: operators and admins see metadata only (parties, status, times, topic,
/// markings), never the title, justification or reasons people wrote (operators never see content).
pub(super) fn rfi_for(caller: &Caller, record: &RfiRecord) -> pb::Rfi {
    let mut rfi = rfi_to_pb(record);
    if matches!(caller.role, crate::identity::Role::Operator | crate::identity::Role::Admin) {
        rfi.title.clear();
        rfi.justification.clear();
        rfi.history.iter_mut().for_each(|step| step.reason.clear());
    }
    rfi
}

fn rfi_to_pb(record: &RfiRecord) -> pb::Rfi {
    let precedence = crate::model::Precedence::from_name(&record.precedence).unwrap_or_default();
    let history = record
        .steps
        .iter()
        .map(|step| pb::RfiStep {
            at: Some(convert::timestamp(step.at)),
            transition: step.transition.clone(),
            party: step.party.clone(),
            person: step.person.clone(),
            status: status_to_pb(step.status) as i32,
            action_party: step.action_party.clone(),
            reason: step.reason.clone(),
        })
        .collect();
    pb::Rfi {
        id: record.id.clone(),
        requester: record.requester.clone(),
        requester_person: record.requester_person.clone(),
        action_party: record.action_party.clone(),
        topic: record.topic.clone(),
        banner: record.banner.clone(),
        precedence: precedence_to_pb(precedence) as i32,
        title: record.title.clone(),
        justification: record.justification.clone(),
        status: status_to_pb(record.status) as i32,
        opened_at: Some(convert::timestamp(record.opened_at)),
        due_at: Some(convert::timestamp(record.due_at)),
        acknowledged_at: record.acknowledged_at.map(convert::timestamp),
        answered_at: record.answered_at.map(convert::timestamp),
        closed_at: record.closed_at.map(convert::timestamp),
        response_id: record.response_id.clone(),
        overdue: record.overdue(time::OffsetDateTime::now_utc()),
        history,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Role;
    use crate::rfi::Opening;

    fn record() -> RfiRecord {
        let at = time::OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
        let opening = Opening {
            id: "01RFI".into(),
            requester: "cbp".into(),
            requester_person: "system".into(),
            action_party: "ia".into(),
            topic: "money-laundering".into(),
            banner: "UNCLASSIFIED".into(),
            precedence: "flash".into(),
            title: "who owns account 4471".into(),
            justification: "case 42".into(),
            due_at: at + std::time::Duration::from_secs(600),
            copy_sequence: 1,
        };
        let open = RfiRecord::open(opening, at);
        let actor = Actor::Caller { party: "ia", person: "analyst", role: Role::Analyst };
        open.apply(&Transition::Reject, actor, "not ours", at).unwrap()
    }

    fn caller(role: Role) -> Caller {
        Caller {
            party: crate::model::Token::parse("ia").unwrap(),
            role,
            subject: "someone".into(),
            clearance: None,
            nationality: None,
            law_enforcement: None,
            accesses: None,
        }
    }

    #[test]
    fn a_refusal_is_permission_denied_for_the_wrong_side_and_failed_precondition_for_the_state() {
        let code = |rule| refused(Refused { rule, why: "why".into() }).code();
        for rule in [rules::ACTION_PARTY, rules::REQUESTER, rules::LIAISON_OFFICER] {
            assert_eq!(code(rule), tonic::Code::PermissionDenied, "{rule}");
        }
        for rule in [rules::STATUS, rules::EXPIRY, rules::STEPS] {
            assert_eq!(code(rule), tonic::Code::FailedPrecondition, "{rule}");
        }
        assert_eq!(code(rules::TRANSFER_TARGET), tonic::Code::InvalidArgument);
        let message = refused(Refused { rule: rules::STATUS, why: "RFI x is closed".into() }).to_string();
        assert_eq!(message, "RFI transition refused by rule rfi-status: RFI x is closed");
    }

    #[test]
    fn operators_and_admins_see_an_rfi_without_what_people_wrote() {
        let record = record();
        for role in [Role::Operator, Role::Admin] {
            let rfi = rfi_for(&caller(role), &record);
            assert!(rfi.title.is_empty() && rfi.justification.is_empty(), "{role:?}");
            assert!(rfi.history.iter().all(|step| step.reason.is_empty()), "{role:?}");
            assert_eq!((rfi.requester.as_str(), rfi.status), ("cbp", pb::RfiStatus::Rejected as i32));
        }
        let rfi = rfi_for(&caller(Role::Analyst), &record);
        assert_eq!((rfi.title.as_str(), rfi.justification.as_str()), ("who owns account 4471", "case 42"));
        assert_eq!(rfi.history[1].reason, "not ours");
        assert_eq!(rfi.precedence, pb::Precedence::Flash as i32);
    }
}
