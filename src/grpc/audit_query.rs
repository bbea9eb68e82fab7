//! `OperatorService.QueryAudit`: dissemination audit records matching filters, as a server stream.
//! Operators and admins see every record; any other caller only the disseminations of its own party's
//! messages (28 CFR 23.20(g): disclosure to the originator).

use futures::Stream;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use crate::api as pb;
use crate::audit::{AuditQuery, Event, written_at};
use crate::identity::Caller;

use super::server::Gateway;
use super::{GatewayError, convert};

const DEFAULT_LIMIT: u32 = 10_000;
const MAX_LIMIT: u32 = 100_000;

type Records = Result<pb::QueryAuditResponse, Status>;

impl Gateway {
    pub(super) async fn query_audit(
        &self,
        caller: &Caller,
        request: pb::QueryAuditRequest,
    ) -> Result<impl Stream<Item = Records> + use<>, GatewayError> {
        let (query, limit) = audit_query(caller, &request)?;
        // Read before answering, so a NATS failure is the call's status rather than a broken stream.
        let contents = self.bus.audit_contents().await?;
        let (sender, receiver) = mpsc::channel(64);
        tokio::spawn(async move {
            let mut sent = 0;
            for (_, _, entry) in contents.entries {
                let Some(entry) = entry else { continue };
                let at = written_at(&entry);
                for record in entry.records.iter().filter(|record| query.matches(at, record)) {
                    if sent == limit {
                        return;
                    }
                    let response = pb::QueryAuditResponse {
                        chain: entry.chain.clone(),
                        entry: entry.seq,
                        at: Some(convert::timestamp(at)),
                        event: audit_event(record.event) as i32,
                        message_id: record.message_id.clone(),
                        origin: record.origin.clone(),
                        recipient: record.recipient.clone(),
                        subscriber: record.subscriber.clone(),
                        decided_by: record.decided_by.clone(),
                        basis: record.basis.clone(),
                        policy_version: record.policy_version.clone(),
                        reason: record.reason.clone(),
                    };
                    if sender.send(Ok(response)).await.is_err() {
                        return;
                    }
                    sent += 1;
                }
            }
        });
        Ok(ReceiverStream::new(receiver))
    }
}

/// Validates the filters; a caller who is not an operator or admin sees only its own party's messages.
fn audit_query(caller: &Caller, request: &pb::QueryAuditRequest) -> Result<(AuditQuery, u32), GatewayError> {
    let optional_token = |field: &str, value: &str| match value {
        "" => Ok(None),
        value => convert::token(field, value).map(|token| Some(token.to_string())),
    };
    let limit = match request.limit {
        0 => DEFAULT_LIMIT,
        limit if limit > MAX_LIMIT => {
            return Err(GatewayError::InvalidArgument(format!("limit: at most {MAX_LIMIT}")));
        }
        limit => limit,
    };
    let event = match pb::AuditEvent::try_from(request.event) {
        Ok(pb::AuditEvent::Unspecified) => None,
        Ok(pb::AuditEvent::Approved) => Some(Event::Approved),
        Ok(pb::AuditEvent::Denied) => Some(Event::Denied),
        Ok(pb::AuditEvent::Delivered) => Some(Event::Delivered),
        Ok(pb::AuditEvent::Withheld) => Some(Event::Withheld),
        Ok(pb::AuditEvent::Revalidated) => Some(Event::Revalidated),
        Ok(pb::AuditEvent::Purged) => Some(Event::Purged),
        Ok(pb::AuditEvent::Superseded) => Some(Event::Superseded),
        Err(_) => return Err(GatewayError::InvalidArgument(format!("event: unknown value {}", request.event))),
    };
    let message_id = (!request.message_id.is_empty()).then(|| request.message_id.clone());
    let query = AuditQuery {
        message_id,
        party: optional_token("party", &request.party)?,
        origin: (!caller.role.may_operate()).then(|| caller.party.to_string()),
        since: request.since.as_ref().map(|since| convert::time("since", since)).transpose()?,
        until: request.until.as_ref().map(|until| convert::time("until", until)).transpose()?,
        event,
    };
    Ok((query, limit))
}

fn audit_event(event: Event) -> pb::AuditEvent {
    match event {
        Event::Approved => pb::AuditEvent::Approved,
        Event::Denied => pb::AuditEvent::Denied,
        Event::Delivered => pb::AuditEvent::Delivered,
        Event::Withheld => pb::AuditEvent::Withheld,
        Event::Revalidated => pb::AuditEvent::Revalidated,
        Event::Purged => pb::AuditEvent::Purged,
        Event::Superseded => pb::AuditEvent::Superseded,
    }
}
