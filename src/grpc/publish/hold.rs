//! Copies the router held for foreign-disclosure review, as a publish keeps them: the item an officer
//! decides on (`crate::disclosure::HeldItem`) and the receipt's `Held` outcome.

use bytes::Bytes;

use crate::api as pb;
use crate::disclosure::HeldItem;
use crate::grpc::convert;
use crate::grpc::server::Limits;
use crate::router::Hold;

pub(super) fn held(item: &HeldItem) -> pb::RecipientOutcome {
    pb::RecipientOutcome {
        party: item.recipient.clone(),
        outcome: Some(pb::recipient_outcome::Outcome::Held(pb::Held {
            explanation: item.explanation.clone(),
            rule: item.rule.clone(),
            expires_at: Some(convert::timestamp(item.expires_at)),
        })),
    }
}

/// The item kept for a copy the router held: the copy for the recipient, what an officer needs to decide
/// (metadata, never the body) and when the hold ends.
pub(super) fn held_item(envelope: &pb::Envelope, banner: &str, hold: &Hold, copy: Bytes, limits: &Limits) -> HeldItem {
    let now = time::OffsetDateTime::now_utc();
    let kind = convert::kind("kind", envelope.kind).ok();
    let precedence = convert::precedence(envelope.precedence).unwrap_or_default();
    HeldItem {
        message_id: envelope.id.clone(),
        origin: envelope.origin.clone(),
        recipient: hold.recipient.to_string(),
        kind: kind.map(|kind| kind.token().to_string()).unwrap_or_default(),
        topic: envelope.topic.clone(),
        banner: banner.to_string(),
        precedence: precedence.name().to_string(),
        title: envelope.title.clone(),
        rule: hold.rule.to_string(),
        basis: hold.basis.to_string(),
        explanation: hold.explanation.clone(),
        held_at: now,
        expires_at: now + limits.disclosure_hold,
        copy: copy.to_vec(),
    }
}
