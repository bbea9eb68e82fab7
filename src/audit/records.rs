//! Named constructors of [`AuditRecord`]: one per event, so every place that audits says what happened
//! and fills exactly the fields that event carries.

use std::borrow::Cow;

use super::{AuditRecord, Event};
use crate::model::{Precedence, RouteRequest};

/// What every record about one message shares: which message, whose, and the policy in force.
#[derive(Debug, Clone, Copy)]
pub struct MessageRef<'a> {
    pub message_id: &'a str,
    pub origin: &'a str,
    pub policy_version: &'a str,
}

impl<'a> AuditRecord<'a> {
    fn about(
        event: Event,
        message: &MessageRef<'a>,
        recipient: &'a str,
        decided_by: impl Into<Cow<'a, str>>,
    ) -> AuditRecord<'a> {
        AuditRecord {
            event,
            message_id: message.message_id.into(),
            origin: message.origin.into(),
            recipient: recipient.into(),
            subscriber: Cow::Borrowed(""),
            decided_by: decided_by.into(),
            basis: Cow::Borrowed(""),
            policy_version: message.policy_version.into(),
            reason: Cow::Borrowed(""),
            subject: Cow::Borrowed(""),
            markings: Cow::Borrowed(""),
            criminal_intelligence: false,
            lost: None,
            unknown_recipients: Cow::Borrowed(&[]),
            kind: Cow::Borrowed(""),
            topic: Cow::Borrowed(""),
            precedence: Cow::Borrowed(""),
            tlp: Cow::Borrowed(""),
            by_policy: false,
        }
    }

    /// The record with nothing borrowed, to keep.
    pub fn into_owned(self) -> AuditRecord<'static> {
        let own = |value: Cow<'a, str>| Cow::Owned(value.into_owned());
        AuditRecord {
            event: self.event,
            message_id: own(self.message_id),
            origin: own(self.origin),
            recipient: own(self.recipient),
            subscriber: own(self.subscriber),
            decided_by: own(self.decided_by),
            basis: own(self.basis),
            policy_version: own(self.policy_version),
            reason: own(self.reason),
            subject: own(self.subject),
            markings: own(self.markings),
            criminal_intelligence: self.criminal_intelligence,
            lost: self.lost,
            unknown_recipients: Cow::Owned(self.unknown_recipients.into_owned()),
            kind: own(self.kind),
            topic: own(self.topic),
            precedence: own(self.precedence),
            tlp: own(self.tlp),
            by_policy: self.by_policy,
        }
    }

    /// The router released `message` to `recipient` under `rule`; the copy goes to `subject`.
    pub fn approved(
        message: &MessageRef<'a>,
        recipient: &'a str,
        rule: &'a str,
        basis: &'a str,
        subject: &'a str,
    ) -> AuditRecord<'a> {
        AuditRecord {
            basis: basis.into(),
            subject: subject.into(),
            ..AuditRecord::about(Event::Approved, message, recipient, rule)
        }
    }

    /// Records the markings (the canonical banner) the router decided under.
    pub fn under_markings(self, banner: &'a str) -> AuditRecord<'a> {
        AuditRecord { markings: banner.into(), ..self }
    }

    /// Records how the router was asked (what a replay through another policy needs): precedence and TLP
    /// when set, whether the policy chose the recipients, and, with `kind_and_topic` (denials and holds,
    /// whose records have no subject), the kind and topic.
    pub fn routed_as(self, request: &'a RouteRequest, kind_and_topic: bool) -> AuditRecord<'a> {
        let (kind, topic) = match kind_and_topic {
            true => (request.kind.token(), request.topic.as_str()),
            false => ("", ""),
        };
        let precedence = match request.precedence {
            Precedence::Routine => "",
            other => other.name(),
        };
        let tlp = request.markings.tlp.map_or("", |tlp| tlp.name());
        AuditRecord {
            kind: kind.into(),
            topic: topic.into(),
            precedence: precedence.into(),
            tlp: tlp.into(),
            by_policy: request.recipients.is_empty(),
            ..self
        }
    }

    /// Marks an approval as one of criminal intelligence (28 CFR Part 23).
    pub fn criminal_intelligence(self, criminal_intelligence: bool) -> AuditRecord<'a> {
        AuditRecord { criminal_intelligence, ..self }
    }

    /// The router denied `recipient`; `decided_by` is the reason code and rule.
    pub fn denied(message: &MessageRef<'a>, recipient: &'a str, decided_by: &'a str) -> AuditRecord<'a> {
        AuditRecord::about(Event::Denied, message, recipient, decided_by)
    }

    /// The router denied every one of `unknown`, none a party in the directory, for the reason `decided_by`:
    /// one record for them all.
    pub fn denied_unknown(message: &MessageRef<'a>, unknown: Vec<String>, decided_by: &'a str) -> AuditRecord<'a> {
        AuditRecord { unknown_recipients: unknown.into(), ..AuditRecord::about(Event::Denied, message, "", decided_by) }
    }

    /// `message` was superseded by the correction `by`.
    pub fn superseded(message: &MessageRef<'a>, by: &'a str) -> AuditRecord<'a> {
        AuditRecord::about(Event::Superseded, message, "", format!("superseded by {by}"))
    }

    /// `subscriber` of `recipient` received `message`; `check` is the personal check it passed.
    pub fn delivered(
        message: &MessageRef<'a>,
        recipient: &'a str,
        subscriber: &'a str,
        check: &'a str,
    ) -> AuditRecord<'a> {
        AuditRecord { subscriber: subscriber.into(), ..AuditRecord::about(Event::Delivered, message, recipient, check) }
    }

    /// `message` was kept from `subscriber` of `recipient`; `why` is the personal check it failed.
    pub fn withheld(
        message: &MessageRef<'a>,
        recipient: &'a str,
        subscriber: &'a str,
        why: &'a str,
    ) -> AuditRecord<'a> {
        AuditRecord { subscriber: subscriber.into(), ..AuditRecord::about(Event::Withheld, message, recipient, why) }
    }

    /// `reviewer` found `message` still meets the submission criteria.
    pub fn revalidated(message: &MessageRef<'a>, reviewer: &'a str, reason: &'a str) -> AuditRecord<'a> {
        AuditRecord {
            subscriber: reviewer.into(),
            reason: reason.into(),
            ..AuditRecord::about(Event::Revalidated, message, "", "revalidated")
        }
    }

    /// `approver` of the origin party approved a later dissemination of ORCON `message` to `party`.
    pub fn orcon_approved(
        message: &MessageRef<'a>,
        party: &'a str,
        approver: &'a str,
        reason: &'a str,
    ) -> AuditRecord<'a> {
        AuditRecord {
            subscriber: approver.into(),
            reason: reason.into(),
            ..AuditRecord::about(Event::OrconApproved, message, party, "orcon-approved")
        }
    }

    /// The router held `message`'s copy for `recipient` for foreign-disclosure review.
    pub fn held(message: &MessageRef<'a>, recipient: &'a str, why: &'a str) -> AuditRecord<'a> {
        AuditRecord::about(Event::Held, message, recipient, why)
    }

    /// Disclosure officer `officer` released the held copy for `recipient` under `banner`, stored on
    /// `subject`.
    pub fn disclosure_approved(
        message: &MessageRef<'a>,
        recipient: &'a str,
        officer: &'a str,
        reason: &'a str,
        (subject, banner): (&'a str, &'a str),
    ) -> AuditRecord<'a> {
        AuditRecord {
            subscriber: officer.into(),
            reason: reason.into(),
            subject: subject.into(),
            markings: banner.into(),
            ..AuditRecord::about(Event::DisclosureApproved, message, recipient, "disclosure-approved")
        }
    }

    /// Disclosure officer `officer` refused the held copy for `recipient`.
    pub fn disclosure_denied(
        message: &MessageRef<'a>,
        recipient: &'a str,
        officer: &'a str,
        reason: &'a str,
    ) -> AuditRecord<'a> {
        AuditRecord {
            subscriber: officer.into(),
            reason: reason.into(),
            ..AuditRecord::about(Event::DisclosureDenied, message, recipient, "disclosure-denied")
        }
    }

    /// The hold of `message`'s copy for `recipient` ended undecided.
    pub fn disclosure_expired(message: &MessageRef<'a>, recipient: &'a str) -> AuditRecord<'a> {
        AuditRecord::about(Event::DisclosureExpired, message, recipient, "disclosure-expired")
    }

    /// A step of an RFI (`message` is the RFI, its origin the requester): `event` one of the `Rfi*`
    /// events, `action_party` the action party after it, `by` who made it, `decided_by` the transition (or
    /// the rule or response that decided it), `reason` why.
    pub fn rfi(
        event: Event,
        message: &MessageRef<'a>,
        action_party: &'a str,
        by: &'a str,
        decided_by: impl Into<Cow<'a, str>>,
        reason: &'a str,
    ) -> AuditRecord<'a> {
        AuditRecord {
            subscriber: by.into(),
            reason: reason.into(),
            ..AuditRecord::about(event, message, action_party, decided_by)
        }
    }

    /// `by` purged every copy of `message` held for `recipient`.
    pub fn purged(message: &MessageRef<'a>, recipient: &'a str, by: &'a str, reason: &'a str) -> AuditRecord<'a> {
        AuditRecord {
            subscriber: by.into(),
            reason: reason.into(),
            ..AuditRecord::about(Event::Purged, message, recipient, "purge")
        }
    }

    /// `by` put dead letter `dead_letter` of `recipient` back on its feed at `subject`, approved again under
    /// `rule` of the policy in force.
    pub fn redriven(
        message: &MessageRef<'a>,
        recipient: &'a str,
        by: &'a str,
        rule: &'a str,
        basis: &'a str,
        subject: &'a str,
        dead_letter: u64,
    ) -> AuditRecord<'a> {
        AuditRecord {
            subscriber: by.into(),
            basis: basis.into(),
            reason: format!("dead letter {dead_letter}").into(),
            subject: subject.into(),
            ..AuditRecord::about(Event::Redriven, message, recipient, rule)
        }
    }

    /// Entries `lost.0` to `lost.1` of `chain` are gone from the stream; `by` accepted the loss
    /// (`--accept-audit-loss`), and `explanation` says what was expected and what was found.
    pub fn audit_loss(
        chain: &str,
        by: &'a str,
        lost: (u64, u64),
        explanation: impl Into<Cow<'a, str>>,
    ) -> AuditRecord<'a> {
        let message = MessageRef { message_id: "", origin: "", policy_version: "" };
        AuditRecord {
            subscriber: by.into(),
            reason: explanation.into(),
            subject: format!("chain {chain}").into(),
            lost: Some(lost),
            ..AuditRecord::about(Event::AuditLoss, &message, "", "--accept-audit-loss")
        }
    }
}
