//! Named constructors of [`AuditRecord`]: one per event, so every place that audits says what happened
//! and fills exactly the fields that event carries.

use super::{AuditRecord, Event};
use crate::model::{Precedence, RouteRequest};

/// What every record about one message shares: which message, whose, and the policy in force.
#[derive(Debug, Clone, Copy)]
pub struct MessageRef<'a> {
    pub message_id: &'a str,
    pub origin: &'a str,
    pub policy_version: &'a str,
}

impl AuditRecord {
    fn about(event: Event, message: &MessageRef<'_>, recipient: &str, decided_by: &str) -> AuditRecord {
        AuditRecord {
            event,
            message_id: message.message_id.to_string(),
            origin: message.origin.to_string(),
            recipient: recipient.to_string(),
            subscriber: String::new(),
            decided_by: decided_by.to_string(),
            basis: String::new(),
            policy_version: message.policy_version.to_string(),
            reason: String::new(),
            subject: String::new(),
            markings: String::new(),
            criminal_intelligence: false,
            lost: None,
            unknown_recipients: Vec::new(),
            kind: String::new(),
            topic: String::new(),
            precedence: String::new(),
            tlp: String::new(),
            by_policy: false,
        }
    }

    /// The router released `message` to `recipient` under `rule`; the copy goes to `subject`.
    pub fn approved(message: &MessageRef<'_>, recipient: &str, rule: &str, basis: &str, subject: &str) -> AuditRecord {
        AuditRecord {
            basis: basis.to_string(),
            subject: subject.to_string(),
            ..AuditRecord::about(Event::Approved, message, recipient, rule)
        }
    }

    /// Records the markings (the canonical banner) the router decided under.
    pub fn under_markings(self, banner: &str) -> AuditRecord {
        AuditRecord { markings: banner.to_string(), ..self }
    }

    /// Records how the router was asked (what a replay through another policy needs): precedence and TLP
    /// when set, whether the policy chose the recipients, and, with `kind_and_topic` (denials and holds,
    /// whose records have no subject), the kind and topic.
    pub fn routed_as(self, request: &RouteRequest, kind_and_topic: bool) -> AuditRecord {
        let (kind, topic) = match kind_and_topic {
            true => (request.kind.token().to_string(), request.topic.to_string()),
            false => (String::new(), String::new()),
        };
        let precedence = match request.precedence {
            Precedence::Routine => String::new(),
            other => other.name().to_string(),
        };
        let tlp = request.markings.tlp.map(|tlp| tlp.name().to_string()).unwrap_or_default();
        AuditRecord { kind, topic, precedence, tlp, by_policy: request.recipients.is_empty(), ..self }
    }

    /// Marks an approval as one of criminal intelligence (28 CFR Part 23).
    pub fn criminal_intelligence(self, criminal_intelligence: bool) -> AuditRecord {
        AuditRecord { criminal_intelligence, ..self }
    }

    /// The router denied `recipient`; `decided_by` is the reason code and rule.
    pub fn denied(message: &MessageRef<'_>, recipient: &str, decided_by: &str) -> AuditRecord {
        AuditRecord::about(Event::Denied, message, recipient, decided_by)
    }

    /// The router denied every one of `unknown`, none a party in the directory, for the reason `decided_by`:
    /// one record for them all.
    pub fn denied_unknown(message: &MessageRef<'_>, unknown: Vec<String>, decided_by: &str) -> AuditRecord {
        AuditRecord { unknown_recipients: unknown, ..AuditRecord::about(Event::Denied, message, "", decided_by) }
    }

    /// `message` was superseded by the correction `by`.
    pub fn superseded(message: &MessageRef<'_>, by: &str) -> AuditRecord {
        AuditRecord::about(Event::Superseded, message, "", &format!("superseded by {by}"))
    }

    /// `subscriber` of `recipient` received `message`; `check` is the personal check it passed.
    pub fn delivered(message: &MessageRef<'_>, recipient: &str, subscriber: &str, check: &str) -> AuditRecord {
        AuditRecord {
            subscriber: subscriber.to_string(),
            ..AuditRecord::about(Event::Delivered, message, recipient, check)
        }
    }

    /// `message` was kept from `subscriber` of `recipient`; `why` is the personal check it failed.
    pub fn withheld(message: &MessageRef<'_>, recipient: &str, subscriber: &str, why: &str) -> AuditRecord {
        AuditRecord {
            subscriber: subscriber.to_string(),
            ..AuditRecord::about(Event::Withheld, message, recipient, why)
        }
    }

    /// `reviewer` found `message` still meets the submission criteria.
    pub fn revalidated(message: &MessageRef<'_>, reviewer: &str, reason: &str) -> AuditRecord {
        AuditRecord {
            subscriber: reviewer.to_string(),
            reason: reason.to_string(),
            ..AuditRecord::about(Event::Revalidated, message, "", "revalidated")
        }
    }

    /// `approver` of the origin party approved a later dissemination of ORCON `message` to `party`.
    pub fn orcon_approved(message: &MessageRef<'_>, party: &str, approver: &str, reason: &str) -> AuditRecord {
        AuditRecord {
            subscriber: approver.to_string(),
            reason: reason.to_string(),
            ..AuditRecord::about(Event::OrconApproved, message, party, "orcon-approved")
        }
    }

    /// The router held `message`'s copy for `recipient` for foreign-disclosure review.
    pub fn held(message: &MessageRef<'_>, recipient: &str, why: &str) -> AuditRecord {
        AuditRecord::about(Event::Held, message, recipient, why)
    }

    /// Disclosure officer `officer` released the held copy for `recipient` under `banner`, stored on
    /// `subject`.
    pub fn disclosure_approved(
        message: &MessageRef<'_>,
        recipient: &str,
        officer: &str,
        reason: &str,
        (subject, banner): (&str, &str),
    ) -> AuditRecord {
        AuditRecord {
            subscriber: officer.to_string(),
            reason: reason.to_string(),
            subject: subject.to_string(),
            markings: banner.to_string(),
            ..AuditRecord::about(Event::DisclosureApproved, message, recipient, "disclosure-approved")
        }
    }

    /// Disclosure officer `officer` refused the held copy for `recipient`.
    pub fn disclosure_denied(message: &MessageRef<'_>, recipient: &str, officer: &str, reason: &str) -> AuditRecord {
        AuditRecord {
            subscriber: officer.to_string(),
            reason: reason.to_string(),
            ..AuditRecord::about(Event::DisclosureDenied, message, recipient, "disclosure-denied")
        }
    }

    /// The hold of `message`'s copy for `recipient` ended undecided.
    pub fn disclosure_expired(message: &MessageRef<'_>, recipient: &str) -> AuditRecord {
        AuditRecord::about(Event::DisclosureExpired, message, recipient, "disclosure-expired")
    }

    /// A step of an RFI (`message` is the RFI, its origin the requester): `event` one of the `Rfi*`
    /// events, `action_party` the action party after it, `by` who made it, `decided_by` the transition (or
    /// the rule or response that decided it), `reason` why.
    pub fn rfi(
        event: Event,
        message: &MessageRef<'_>,
        action_party: &str,
        by: &str,
        decided_by: &str,
        reason: &str,
    ) -> AuditRecord {
        AuditRecord {
            subscriber: by.to_string(),
            reason: reason.to_string(),
            ..AuditRecord::about(event, message, action_party, decided_by)
        }
    }

    /// `by` purged every copy of `message` held for `recipient`.
    pub fn purged(message: &MessageRef<'_>, recipient: &str, by: &str, reason: &str) -> AuditRecord {
        AuditRecord {
            subscriber: by.to_string(),
            reason: reason.to_string(),
            ..AuditRecord::about(Event::Purged, message, recipient, "purge")
        }
    }

    /// `by` put dead letter `dead_letter` of `recipient` back on its feed at `subject`, approved again under
    /// `rule` of the policy in force.
    pub fn redriven(
        message: &MessageRef<'_>,
        recipient: &str,
        by: &str,
        rule: &str,
        basis: &str,
        subject: &str,
        dead_letter: u64,
    ) -> AuditRecord {
        AuditRecord {
            subscriber: by.to_string(),
            basis: basis.to_string(),
            reason: format!("dead letter {dead_letter}"),
            subject: subject.to_string(),
            ..AuditRecord::about(Event::Redriven, message, recipient, rule)
        }
    }

    /// Entries `lost.0` to `lost.1` of `chain` are gone from the stream; `by` accepted the loss
    /// (`--accept-audit-loss`), and `explanation` says what was expected and what was found.
    pub fn audit_loss(chain: &str, by: &str, lost: (u64, u64), explanation: &str) -> AuditRecord {
        let message = MessageRef { message_id: "", origin: "", policy_version: "" };
        AuditRecord {
            subscriber: by.to_string(),
            reason: explanation.to_string(),
            subject: format!("chain {chain}"),
            lost: Some(lost),
            ..AuditRecord::about(Event::AuditLoss, &message, "", "--accept-audit-loss")
        }
    }
}
