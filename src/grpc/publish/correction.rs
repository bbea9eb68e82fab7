//! Corrections: the message a publish supersedes, checked before it is routed (its origin is the caller's
//! party, and it is not already superseded), with the recipients the correction must reach again.

use crate::identity::Caller;
use crate::model::PartyId;

use crate::grpc::GatewayError;
use crate::grpc::server::Gateway;

/// The message a correction supersedes, as far as routing needs it.
pub(in crate::grpc) struct Earlier {
    pub(super) message_id: String,
    pub(super) recipients: Vec<PartyId>,
    /// The parties its originator approved ORCON material for.
    pub(super) orcon_approved: Vec<PartyId>,
}

impl Gateway {
    /// For a correction: the earlier message's recipients, after checking that the caller's party published
    /// it and that it is not already superseded.
    pub(super) async fn superseded(&self, caller: &Caller, supersedes: &str) -> Result<Option<Earlier>, GatewayError> {
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
        let parse = |parties: Vec<&str>| parties.into_iter().filter_map(|party| PartyId::parse(party).ok()).collect();
        let orcon_approved = parse(record.orcon_approved());
        Ok(Some(Earlier { message_id: record.message_id, recipients, orcon_approved }))
    }
}
