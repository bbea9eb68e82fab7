//! Foreign-disclosure review: `OperatorService.ListHeld`, `ApproveHeld`, `DenyHeld`, and the sweep that
//! ends holds past their time. The decisions are `crate::disclosure`'s; this applies them.
//!
//! Who may do what (`identity::authorization`): a disclosure officer of the origin party, or of a party
//! with oversight (the hub's senior foreign disclosure and release authority). Every decision claims the
//! item first (removal by revision), so of two officers or gateways deciding at once only one acts; the
//! decision is audited before its copy or notice is sent.

use prost::Message;

use crate::api as pb;
use crate::audit::{AuditRecord, MessageRef};
use crate::bus::{CopyOptions, HeldEntry};
use crate::disclosure::{HeldItem, released_markings};
use crate::grpc::notice::Notice;
use crate::identity::Caller;
use crate::identity::authorization::{Action, scope_of};
use crate::model::{Precedence, RouteRequest, Topic};
use crate::router::{Outcome, Router};

use super::retention::reason;
use super::server::Gateway;
use super::{GatewayError, convert, publish};

/// Most items one listing returns.
const MAX_LISTED: usize = 1000;

impl Gateway {
    pub(super) async fn list_held(
        &self,
        caller: &Caller,
        request: pb::ListHeldRequest,
    ) -> Result<pb::ListHeldResponse, GatewayError> {
        self.authorize_some(caller, Action::ListHeld)?;
        let party = match request.party.as_str() {
            "" => None,
            party => Some(convert::token("party", party)?),
        };
        let party = self.authorize_listing(caller, Action::ListHeld, party)?;
        let limit = match request.limit as usize {
            0 => MAX_LISTED,
            limit => limit.min(MAX_LISTED),
        };
        // Read to the bucket's bound, keep the caller's: a party's officer sees only its own party's items.
        let entries = self.bus.held_items(usize::MAX).await?;
        let items = entries
            .into_iter()
            .map(|entry| entry.item)
            .filter(|item| party.as_ref().is_none_or(|party| item.origin == party.as_str()))
            .take(limit)
            .map(|item| held_item(&item))
            .collect();
        Ok(pb::ListHeldResponse { items })
    }

    pub(super) async fn approve_held(
        &self,
        caller: &Caller,
        request: pb::ApproveHeldRequest,
    ) -> Result<pb::ApproveHeldResponse, GatewayError> {
        let reason = reason(&request.reason)?;
        let entry = self.decidable(caller, &request.message_id, &request.recipient).await?;
        let router = self.policy.current();
        let (route, envelope) = self.released(&router, &entry.item, &request)?;
        let routing = router.route(&route)?;
        let approval = match routing.outcomes.into_iter().next() {
            Some(Outcome::Deliver(approval)) => approval,
            Some(Outcome::Deny(denial)) => return Err(no_longer(denial.explanation)),
            Some(Outcome::Hold(hold)) => return Err(no_longer(hold.explanation)),
            None => return Err(no_longer("the router made no decision".into())),
        };
        self.claim(&entry).await?;
        let item = &entry.item;
        let banner = route.markings.banner();
        let subject = crate::bus::delivery_subject(&approval);
        let message =
            MessageRef { message_id: &item.message_id, origin: &item.origin, policy_version: router.version() };
        let decided =
            AuditRecord::disclosure_approved(&message, &item.recipient, &caller.subject, &reason, (&subject, &banner));
        let approved = AuditRecord::approved(&message, &item.recipient, approval.rule(), approval.basis(), &subject);
        let stored = async {
            self.audit.append(vec![decided, approved.under_markings(&banner)]).await?.stored().await?;
            let copy = publish::copy_for(&envelope.encode_to_vec(), approval.recipient());
            let options = CopyOptions { dedup_id: Some(format!("disclosure:{}", item.key())), expires_in: None };
            self.bus.publish(&approval, copy, options).await?.stored().await
        };
        match stored.await {
            Ok(stored) => {
                tracing::info!(message_id = %item.message_id, recipient = %item.recipient, officer = %caller.subject, "held copy released");
                Ok(pb::ApproveHeldResponse { stream_sequence: stored.sequence, subject: stored.subject, banner })
            }
            Err(error) => {
                // Waiting again, so the decision can be retried.
                self.bus.hold(item).await?;
                Err(error.into())
            }
        }
    }

    pub(super) async fn deny_held(
        &self,
        caller: &Caller,
        request: pb::DenyHeldRequest,
    ) -> Result<pb::DenyHeldResponse, GatewayError> {
        let reason = reason(&request.reason)?;
        let entry = self.decidable(caller, &request.message_id, &request.recipient).await?;
        self.claim(&entry).await?;
        let router = self.policy.current();
        let item = &entry.item;
        let message =
            MessageRef { message_id: &item.message_id, origin: &item.origin, policy_version: router.version() };
        let denied = AuditRecord::disclosure_denied(&message, &item.recipient, &caller.subject, &reason);
        let why = format!("a disclosure officer refused its release to {}: {reason}", item.recipient);
        let notice_id = self.notify_originator(&router, item, denied, "disclosure-denied", &why).await?;
        tracing::info!(message_id = %item.message_id, recipient = %item.recipient, officer = %caller.subject, "held copy refused");
        Ok(pb::DenyHeldResponse { notice_id })
    }

    /// Ends every hold past its time: audited, and the originator sent a notice. Returns the items still
    /// waiting and the age of the oldest, for the metrics.
    pub async fn sweep_held(&self) -> Result<(usize, std::time::Duration), GatewayError> {
        let now = time::OffsetDateTime::now_utc();
        let entries = self.bus.held_items(usize::MAX).await?;
        let (mut waiting, mut oldest) = (0, std::time::Duration::ZERO);
        for entry in entries {
            if !entry.item.expired(now) {
                waiting += 1;
                oldest = oldest.max(entry.item.age(now));
                continue;
            }
            // Another gateway may have ended it first: only the one whose removal matched notifies.
            if !self.bus.release_hold(&entry).await? {
                continue;
            }
            let router = self.policy.current();
            let item = &entry.item;
            let message =
                MessageRef { message_id: &item.message_id, origin: &item.origin, policy_version: router.version() };
            let expired = AuditRecord::disclosure_expired(&message, &item.recipient);
            let why = format!("no disclosure officer decided its release to {} in time", item.recipient);
            self.notify_originator(&router, item, expired, "disclosure-expired", &why).await?;
            tracing::info!(message_id = %item.message_id, recipient = %item.recipient, "hold expired");
        }
        Ok((waiting, oldest))
    }

    /// The held item a caller may decide: it exists, and the caller is a disclosure officer of its origin
    /// party or of a party with oversight.
    async fn decidable(&self, caller: &Caller, message_id: &str, recipient: &str) -> Result<HeldEntry, GatewayError> {
        self.authorize_some(caller, Action::DecideHeld)?;
        let entry = self.bus.held(message_id, recipient).await?.ok_or_else(|| {
            GatewayError::NotFound(format!(
                "message_id, recipient: no copy of {message_id:?} for {recipient:?} is held (never held, already \
                 decided, or expired)"
            ))
        })?;
        self.authorize(caller, Action::DecideHeld, scope_of(caller.party.as_str(), Some(entry.item.origin.as_str())))?;
        Ok(entry)
    }

    /// Takes the item off the list; refused when another decision took it first.
    async fn claim(&self, entry: &HeldEntry) -> Result<(), GatewayError> {
        match self.bus.release_hold(entry).await? {
            true => Ok(()),
            false => Err(GatewayError::FailedPrecondition(format!(
                "the copy of {} for {} was decided meanwhile",
                entry.item.message_id, entry.item.recipient
            ))),
        }
    }

    /// The route request and envelope of the copy as released: REL TO its recipient's country, and the
    /// narrowed title and body if the officer gave them.
    fn released(
        &self,
        router: &Router,
        item: &HeldItem,
        request: &pb::ApproveHeldRequest,
    ) -> Result<(RouteRequest, pb::Envelope), GatewayError> {
        let mut envelope = pb::Envelope::decode(item.copy.as_slice())
            .map_err(|error| no_longer(format!("the held copy of {} cannot be read: {error}", item.message_id)))?;
        let recipient = convert::token("recipient", &item.recipient)?;
        let party =
            router.directory().get(&recipient).ok_or_else(|| no_longer(format!("{recipient} left the directory")))?;
        let held = convert::stored_markings(envelope.markings.as_ref())?;
        let released = released_markings(&held, &party.nationality).map_err(|error| no_longer(error.to_string()))?;
        match (request.narrowed_title.is_empty(), request.narrowed_body.is_empty()) {
            (true, true) => {}
            (false, false) => {
                if request.narrowed_body.len() > self.limits.max_body_bytes {
                    let limit = self.limits.max_body_bytes;
                    return Err(GatewayError::InvalidArgument(format!("narrowed_body: more than {limit} bytes")));
                }
                envelope.title = request.narrowed_title.clone();
                envelope.body = request.narrowed_body.clone().into();
            }
            _ => {
                return Err(GatewayError::InvalidArgument(
                    "narrowed_title, narrowed_body: give both or neither".into(),
                ));
            }
        }
        envelope.recipients.clear();
        envelope.markings = Some(convert::markings_to_pb(&released));
        let route = RouteRequest {
            origin: convert::token("origin", &envelope.origin)?,
            recipients: vec![recipient],
            kind: convert::kind("kind", envelope.kind)?,
            topic: convert::token("topic", &envelope.topic)?,
            markings: released,
            precedence: convert::precedence(envelope.precedence)?,
        };
        Ok((route, envelope))
    }

    /// Stores `record`, then sends the originator a notice about its held copy; returns the notice's id.
    async fn notify_originator(
        &self,
        router: &Router,
        item: &HeldItem,
        record: AuditRecord<'_>,
        notice: &str,
        why: &str,
    ) -> Result<String, GatewayError> {
        let notice_id = ulid::Ulid::new().to_string();
        let origin = convert::token("origin", &item.origin)?;
        let topic = Topic::parse(&item.topic).map_err(|error| GatewayError::InvalidArgument(error.to_string()))?;
        let Some(approval) = router.notice(&origin, &origin, &topic, Precedence::Priority) else {
            self.audit.append(vec![record]).await?.stored().await?;
            tracing::warn!(message_id = %item.message_id, "disclosure notice not sent: the origin left the directory");
            return Ok(notice_id);
        };
        let message = MessageRef { message_id: &notice_id, origin: &item.origin, policy_version: router.version() };
        let subject = crate::bus::delivery_subject(&approval);
        let sent = AuditRecord::approved(&message, &item.origin, approval.rule(), approval.basis(), &subject);
        self.audit.append(vec![record, sent]).await?.stored().await?;
        let envelope = disclosure_notice(item, &notice_id, notice, why).encode_to_vec();
        let payload = publish::copy_for(&envelope, &origin);
        let options = CopyOptions { dedup_id: Some(format!("{notice}:{}", item.key())), expires_in: None };
        self.bus.publish(&approval, payload, options).await?.stored().await?;
        Ok(notice_id)
    }
}

fn no_longer(why: String) -> GatewayError {
    GatewayError::FailedPrecondition(format!("the copy cannot be released under the policy in force: {why}"))
}

/// The notice to the originator of a held copy that was refused or whose hold expired: unclassified, with
/// the message id and why, nothing of its content.
fn disclosure_notice(item: &HeldItem, notice_id: &str, notice: &str, why: &str) -> pb::Envelope {
    Notice {
        id: notice_id,
        origin: &item.origin,
        topic: &item.topic,
        in_reply_to: &item.message_id,
        precedence: pb::Precedence::Priority,
        title: format!("Not released: message {} to {}", item.message_id, item.recipient),
        body: format!("Message {} was not released to {}: {why}.", item.message_id, item.recipient),
        attributes: vec![
            ("liaison.notice", notice.to_string()),
            ("liaison.message_id", item.message_id.clone()),
            ("liaison.recipient", item.recipient.clone()),
            ("liaison.reason", why.to_string()),
        ],
    }
    .envelope()
}

fn held_item(item: &HeldItem) -> pb::HeldItem {
    let kind = crate::model::Kind::from_token(&item.kind).map_or(pb::Kind::Unspecified, pb::Kind::from);
    let precedence = crate::model::Precedence::from_name(&item.precedence).unwrap_or_default();
    pb::HeldItem {
        message_id: item.message_id.clone(),
        origin: item.origin.clone(),
        recipient: item.recipient.clone(),
        kind: kind as i32,
        topic: item.topic.clone(),
        banner: item.banner.clone(),
        precedence: pb::Precedence::from(precedence) as i32,
        title: item.title.clone(),
        rule: item.rule.clone(),
        explanation: item.explanation.clone(),
        held_at: Some(convert::timestamp(item.held_at)),
        expires_at: Some(convert::timestamp(item.expires_at)),
    }
}
