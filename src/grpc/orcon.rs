//! ORCON approvals (`OperatorService.ApproveOrcon`): the originator of ORCON material approves a later
//! dissemination of it to one party (a redrive, a correction reaching an earlier recipient), and the router
//! counts the approved parties as the originator's choice (`Router::route_later`). Analysts and admins of
//! the origin party only; every approval is audited before it is kept with the message's record.

use crate::api as pb;
use crate::audit::AuditRecord;
use crate::identity::Caller;
use crate::identity::authorization::Action;
use crate::model::PartyId;
use crate::retention::OrconApproval;

use super::retention::{message_ref, origin_scope, reason};
use super::server::Gateway;
use super::{GatewayError, convert};

impl Gateway {
    pub(super) async fn approve_orcon(
        &self,
        caller: &Caller,
        request: pb::ApproveOrconRequest,
    ) -> Result<pb::ApproveOrconResponse, GatewayError> {
        let reason = reason(&request.reason)?;
        self.authorize_some(caller, Action::ApproveOrcon)?;
        let record = self.on_record(&request.message_id).await?;
        self.authorize(caller, Action::ApproveOrcon, origin_scope(caller, &record))?;
        let party = convert::token("party", &request.party)?;
        let router = self.policy.current();
        if !router.knows(&party) {
            return Err(GatewayError::InvalidArgument(format!("party: {party} is not a party in the directory")));
        }
        let approval = OrconApproval {
            party: party.to_string(),
            approver: caller.subject.clone(),
            at: time::OffsetDateTime::now_utc(),
            reason,
        };
        // Audited first: an approval the record keeps has its audit record.
        let audited = AuditRecord::orcon_approved(
            &message_ref(&router, &record),
            party.as_str(),
            &caller.subject,
            &approval.reason,
        );
        self.audit.append(vec![audited]).await?.stored().await?;
        let state = self
            .bus
            .update_message_state(&record.message_id, |state| state.orcon_approvals.push(approval.clone()))
            .await?;
        let mut approved: Vec<String> = state.orcon_approvals.into_iter().map(|approval| approval.party).collect();
        approved.sort_unstable();
        approved.dedup();
        tracing::info!(message_id = %record.message_id, party = %party, approver = %caller.subject, "ORCON dissemination approved");
        Ok(pb::ApproveOrconResponse { approved })
    }

    /// The parties the originator of `message_id` approved ORCON material for (none when the message is no
    /// longer on record).
    pub(super) async fn orcon_approved(&self, message_id: &str) -> Result<Vec<PartyId>, GatewayError> {
        let Some(record) = self.bus.message_record(message_id).await? else { return Ok(Vec::new()) };
        Ok(record.orcon_approved().into_iter().filter_map(|party| PartyId::parse(party).ok()).collect())
    }
}
