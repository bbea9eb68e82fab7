//! Requests for information as a tracked workflow (ISE SIP objective 14a: who asked, which agency must act,
//! the status, the clock). Publishing an RFI to one action party opens an [`RfiRecord`]; the action party
//! acknowledges, works and answers it (an `RFI_RESPONSE` with `in_reply_to`), may reject it, and a liaison
//! officer of the action party may transfer it to another party the policy allows; the requester closes
//! or reopens it; past its due time the gateway marks it expired.
//!
//! ```text
//! open ─▶ acknowledged ─▶ in-work ─▶ answered ─▶ closed
//!   │  ╲        │             │          │
//!   │   ╲───────┴── rejected, transferred (to the new action party, then as open), expired
//!   └──── reopen (requester: answered, rejected, expired ─▶ open)
//! ```
//!
//! Everything here is pure: [`RfiRecord::apply`] decides whether one actor may make one transition now
//! and returns the next record, or a [`Refused`] naming the rule. `bus/rfi.rs` stores records (compare
//! and set by revision) and `grpc/rfi.rs` applies the decisions.

mod due;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::identity::Role;

pub use due::{DueTimes, MAX_DUE, due_at};

/// Most steps one record keeps; a transition beyond it is refused, so a reopen loop cannot grow a record
/// without bound.
pub const MAX_STEPS: usize = 64;
/// Longest justification (need to know) of an RFI, in bytes.
pub const MAX_JUSTIFICATION: usize = 2048;
/// Longest reason given with a transition, in bytes.
pub const MAX_REASON: usize = 1024;

/// Where an RFI stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Open,
    Acknowledged,
    InWork,
    Answered,
    Closed,
    Rejected,
    /// Sent on to a new action party, which has not acknowledged it yet.
    Transferred,
    /// Its due time passed before it was answered.
    Expired,
}

/// One step of an RFI's life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    Acknowledge,
    StartWork,
    /// Answered by the response message with this id.
    Answer {
        response_id: String,
    },
    Reject,
    /// To a new action party.
    Transfer {
        to: String,
    },
    Close,
    /// Open again, due at this new time.
    Reopen {
        due_at: OffsetDateTime,
    },
    /// The gateway found it past due.
    Expire,
}

/// Who makes a transition: a party's person or system in a role, or the gateway itself (expiry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor<'a> {
    Caller { party: &'a str, person: &'a str, role: Role },
    Gateway,
}

/// Why a transition was refused: the rule, and a sentence naming the RFI's state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{rule}: {why}")]
pub struct Refused {
    pub rule: &'static str,
    pub why: String,
}

/// The rules a refusal names.
pub mod rules {
    /// Acknowledging, working, answering, rejecting and transferring are the action party's.
    pub const ACTION_PARTY: &str = "rfi-action-party-acts";
    /// Closing and reopening are the requester's.
    pub const REQUESTER: &str = "rfi-requester-decides";
    /// Transfers are made by a liaison officer of the action party.
    pub const LIAISON_OFFICER: &str = "rfi-liaison-officer-transfers";
    /// The transition is not possible from the RFI's status.
    pub const STATUS: &str = "rfi-status";
    /// A transfer goes to another party than the action party and the requester.
    pub const TRANSFER_TARGET: &str = "rfi-transfer-target";
    /// Only the gateway expires an RFI, and only once it is past due.
    pub const EXPIRY: &str = "rfi-expiry";
    /// A record keeps at most [`super::MAX_STEPS`] steps.
    pub const STEPS: &str = "rfi-step-limit";
}

/// One step as recorded: when, what, who, and the state after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// `acknowledge`, `start-work`, `answer`, `reject`, `transfer`, `close`, `reopen`, `expire`, `open`.
    pub transition: String,
    /// The acting party and person (`gateway` for expiry).
    pub party: String,
    pub person: String,
    pub status: Status,
    /// The action party after the step (a transfer's new one).
    pub action_party: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// One RFI: its standard data elements and where it stands. Keyed by the RFI message's id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RfiRecord {
    /// The RFI message's id (ULID).
    pub id: String,
    /// Who asked: the party and the person or system (token subject).
    pub requester: String,
    pub requester_person: String,
    /// The party that must act now.
    pub action_party: String,
    pub topic: String,
    /// The RFI's canonical banner line.
    pub banner: String,
    /// `routine`, `priority`, `immediate`, `flash`.
    pub precedence: String,
    pub title: String,
    /// The requester's need to know.
    pub justification: String,
    pub status: Status,
    #[serde(with = "time::serde::rfc3339")]
    pub opened_at: OffsetDateTime,
    /// Since when the current action party has had it (opened, transferred, reopened): what its time to
    /// acknowledge and to answer are measured from.
    #[serde(with = "time::serde::rfc3339")]
    pub assigned_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub due_at: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub acknowledged_at: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub answered_at: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub closed_at: Option<OffsetDateTime>,
    /// The latest answer's message id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub response_id: String,
    /// Stream sequence of the current action party's copy: what a transfer routes on.
    pub copy_sequence: u64,
    pub steps: Vec<Step>,
}

/// What an RFI is opened with.
#[derive(Debug, Clone)]
pub struct Opening {
    pub id: String,
    pub requester: String,
    pub requester_person: String,
    pub action_party: String,
    pub topic: String,
    pub banner: String,
    pub precedence: String,
    pub title: String,
    pub justification: String,
    pub due_at: OffsetDateTime,
    pub copy_sequence: u64,
}

// === impl Status ===

impl Status {
    pub const ALL: [Status; 8] = [
        Status::Open,
        Status::Acknowledged,
        Status::InWork,
        Status::Answered,
        Status::Closed,
        Status::Rejected,
        Status::Transferred,
        Status::Expired,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Acknowledged => "acknowledged",
            Status::InWork => "in-work",
            Status::Answered => "answered",
            Status::Closed => "closed",
            Status::Rejected => "rejected",
            Status::Transferred => "transferred",
            Status::Expired => "expired",
        }
    }

    /// Waiting for the action party: the clock runs.
    pub fn active(self) -> bool {
        matches!(self, Status::Open | Status::Transferred | Status::Acknowledged | Status::InWork)
    }
}

// === impl Transition ===

impl Transition {
    pub fn name(&self) -> &'static str {
        match self {
            Transition::Acknowledge => "acknowledge",
            Transition::StartWork => "start-work",
            Transition::Answer { .. } => "answer",
            Transition::Reject => "reject",
            Transition::Transfer { .. } => "transfer",
            Transition::Close => "close",
            Transition::Reopen { .. } => "reopen",
            Transition::Expire => "expire",
        }
    }

    /// The statuses it may start from, and the status it leads to.
    fn edges(&self) -> (&'static [Status], Status) {
        use Status::*;
        const WAITING: &[Status] = &[Open, Transferred, Acknowledged, InWork];
        match self {
            Transition::Acknowledge => (&[Open, Transferred], Acknowledged),
            Transition::StartWork => (&[Acknowledged], InWork),
            Transition::Answer { .. } => (WAITING, Answered),
            Transition::Reject => (WAITING, Rejected),
            Transition::Transfer { .. } => (WAITING, Transferred),
            Transition::Close => (&[Open, Transferred, Acknowledged, InWork, Answered, Rejected, Expired], Closed),
            Transition::Reopen { .. } => (&[Answered, Rejected, Expired], Open),
            Transition::Expire => (WAITING, Expired),
        }
    }
}

// === impl RfiRecord ===

impl RfiRecord {
    /// A new RFI, open for its action party.
    pub fn open(opening: Opening, now: OffsetDateTime) -> RfiRecord {
        let step = Step {
            at: now,
            transition: "open".into(),
            party: opening.requester.clone(),
            person: opening.requester_person.clone(),
            status: Status::Open,
            action_party: opening.action_party.clone(),
            reason: String::new(),
        };
        RfiRecord {
            id: opening.id,
            requester: opening.requester,
            requester_person: opening.requester_person,
            action_party: opening.action_party,
            topic: opening.topic,
            banner: opening.banner,
            precedence: opening.precedence,
            title: opening.title,
            justification: opening.justification,
            status: Status::Open,
            opened_at: now,
            assigned_at: now,
            due_at: opening.due_at,
            acknowledged_at: None,
            answered_at: None,
            closed_at: None,
            response_id: String::new(),
            copy_sequence: opening.copy_sequence,
            steps: vec![step],
        }
    }

    /// Past due and still waiting for its action party.
    pub fn overdue(&self, now: OffsetDateTime) -> bool {
        self.status == Status::Expired || (self.status.active() && now >= self.due_at)
    }

    /// Whether `actor` may make `transition` now, and the record after it; or the rule that refuses it.
    pub fn apply(
        &self,
        transition: &Transition,
        actor: Actor<'_>,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<RfiRecord, Refused> {
        self.may(transition, actor, now)?;
        if self.steps.len() >= MAX_STEPS {
            return Err(Refused {
                rule: rules::STEPS,
                why: format!("RFI {} has had {MAX_STEPS} steps, the most one RFI may have", self.id),
            });
        }
        let (_, next) = transition.edges();
        let mut record = self.clone();
        record.status = next;
        match transition {
            Transition::Acknowledge => record.acknowledged_at = Some(now),
            Transition::StartWork | Transition::Reject | Transition::Expire => {}
            Transition::Answer { response_id } => {
                record.answered_at = Some(now);
                record.response_id.clone_from(response_id);
            }
            Transition::Transfer { to } => {
                record.action_party.clone_from(to);
                record.assigned_at = now;
                record.acknowledged_at = None;
            }
            Transition::Close => record.closed_at = Some(now),
            Transition::Reopen { due_at } => {
                record.due_at = *due_at;
                record.assigned_at = now;
                record.acknowledged_at = None;
                record.answered_at = None;
            }
        }
        let (party, person) = match actor {
            Actor::Caller { party, person, .. } => (party.to_string(), person.to_string()),
            Actor::Gateway => ("gateway".to_string(), String::new()),
        };
        record.steps.push(Step {
            at: now,
            transition: transition.name().to_string(),
            party,
            person,
            status: next,
            action_party: record.action_party.clone(),
            reason: reason.to_string(),
        });
        Ok(record)
    }

    /// Who may make which transition, then whether the status allows it.
    fn may(&self, transition: &Transition, actor: Actor<'_>, now: OffsetDateTime) -> Result<(), Refused> {
        let name = transition.name();
        match (transition, actor) {
            (Transition::Expire, Actor::Gateway) if now >= self.due_at => {}
            (Transition::Expire, Actor::Gateway) => {
                return Err(Refused { rule: rules::EXPIRY, why: format!("RFI {} is due at {}", self.id, self.due_at) });
            }
            (Transition::Expire, Actor::Caller { .. }) | (_, Actor::Gateway) => {
                return Err(Refused { rule: rules::EXPIRY, why: format!("only the gateway may {name} an RFI") });
            }
            (Transition::Close | Transition::Reopen { .. }, Actor::Caller { party, .. }) if party != self.requester => {
                return Err(Refused {
                    rule: rules::REQUESTER,
                    why: format!("only the requester {} may {name} RFI {}, not {party}", self.requester, self.id),
                });
            }
            (Transition::Close | Transition::Reopen { .. }, _) => {}
            (_, Actor::Caller { party, .. }) if party != self.action_party => {
                return Err(Refused {
                    rule: rules::ACTION_PARTY,
                    why: format!("only the action party {} may {name} RFI {}, not {party}", self.action_party, self.id),
                });
            }
            (Transition::Transfer { .. }, Actor::Caller { role, .. }) if role != Role::LiaisonOfficer => {
                return Err(Refused {
                    rule: rules::LIAISON_OFFICER,
                    why: format!(
                        "a transfer is made by a liaison officer of {}, not a {}",
                        self.action_party,
                        role.name()
                    ),
                });
            }
            _ => {}
        }
        if let Transition::Transfer { to } = transition
            && (*to == self.action_party || *to == self.requester)
        {
            return Err(Refused {
                rule: rules::TRANSFER_TARGET,
                why: format!("RFI {} cannot be transferred to {to}: it is its action party or its requester", self.id),
            });
        }
        let (from, _) = transition.edges();
        if !from.contains(&self.status) {
            let allowed: Vec<&str> = from.iter().map(|status| status.name()).collect();
            return Err(Refused {
                rule: rules::STATUS,
                why: format!(
                    "RFI {} is {}; {name} is possible only when it is {}",
                    self.id,
                    self.status.name(),
                    allowed.join(" or ")
                ),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
