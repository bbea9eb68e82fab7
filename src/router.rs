//! The router: the one place that decides, per recipient, whether a message may go there, and why.
//!
//! The router is pure: it holds an immutable directory and rule set and does no I/O, so it can be tested
//! and benchmarked alone. Its only output that can reach NATS is an [`Approval`], which nothing outside
//! this module can construct; the bus publishes nothing else. This rules are an allow-list of
//! (origin, recipient) edges; the full policy engine with markings replaces [`AllowList`] later.

mod allow_list;

use std::collections::BTreeSet;

use crate::model::{Kind, PartyId, RouteRequest, Topic};

pub use allow_list::{AllowList, AllowRule, RouterConfig};

/// Most recipients one message may name.
pub const MAX_RECIPIENTS: usize = 256;

/// Decides who may receive what.
#[derive(Debug, Clone)]
pub struct Router {
    /// Every party known to the system: the directory.
    parties: BTreeSet<PartyId>,
    /// Which (origin, recipient) edges are allowed.
    allow: AllowList,
}

/// The router's answer for one message: one outcome per recipient considered, in request order.
#[derive(Debug, Clone)]
pub struct Routing {
    pub outcomes: Vec<Outcome>,
}

/// The decision for one recipient.
#[derive(Debug, Clone)]
pub enum Outcome {
    Deliver(Approval),
    Deny(Denial),
}

/// Permission to store one copy of a message for one recipient. Only the router creates these.
#[derive(Debug, Clone)]
pub struct Approval {
    recipient: PartyId,
    origin: PartyId,
    kind: Kind,
    topic: Topic,
}

/// A recipient the message may not go to, with a stable reason and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub recipient: PartyId,
    pub reason: DenialReason,
    pub explanation: String,
}

/// Stable reasons for a denial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenialReason {
    UnknownParty,
    NoRoute,
    SelfAddressed,
}

/// Requests the router refuses as a whole, before any recipient is considered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("origin party {0} is not in the directory")]
    UnknownOrigin(PartyId),
    #[error("recipients: at most {MAX_RECIPIENTS} recipients per message, got {0}")]
    TooManyRecipients(usize),
}

// === impl Router ===

impl Router {
    /// Builds a router from a configuration, checking that every rule names known parties.
    pub fn new(config: &RouterConfig) -> Result<Router, String> {
        let parties = config.parties()?;
        let allow = AllowList::new(&config.allow, &parties)?;
        Ok(Router { parties, allow })
    }

    /// Is `party` in the directory?
    pub fn knows(&self, party: &PartyId) -> bool {
        self.parties.contains(party)
    }

    /// Decides every recipient of one message.
    pub fn route(&self, request: &RouteRequest) -> Result<Routing, RouteError> {
        if !self.knows(&request.origin) {
            return Err(RouteError::UnknownOrigin(request.origin.clone()));
        }
        if request.recipients.len() > MAX_RECIPIENTS {
            return Err(RouteError::TooManyRecipients(request.recipients.len()));
        }
        let outcomes = if request.recipients.is_empty() {
            self.route_by_policy(request)
        } else {
            let mut seen = BTreeSet::new();
            request
                .recipients
                .iter()
                .filter(|recipient| seen.insert(*recipient))
                .map(|recipient| self.decide(request, recipient))
                .collect()
        };
        Ok(Routing { outcomes })
    }

    /// Every party the rules let the origin reach, except the origin itself.
    fn route_by_policy(&self, request: &RouteRequest) -> Vec<Outcome> {
        self.parties
            .iter()
            .filter(|party| **party != request.origin && self.allow.allows(&request.origin, party))
            .map(|party| Outcome::Deliver(Approval::new(request, party)))
            .collect()
    }

    fn decide(&self, request: &RouteRequest, recipient: &PartyId) -> Outcome {
        let deny = |reason, explanation: String| {
            Outcome::Deny(Denial {
                recipient: recipient.clone(),
                reason,
                explanation,
            })
        };
        let origin = &request.origin;
        if !self.knows(recipient) {
            deny(
                DenialReason::UnknownParty,
                format!("{recipient} is not a party in the directory"),
            )
        } else if recipient == origin {
            deny(
                DenialReason::SelfAddressed,
                format!("{recipient} is the origin of the message"),
            )
        } else if !self.allow.allows(origin, recipient) {
            deny(
                DenialReason::NoRoute,
                format!(
                    "no routing rule lets {origin} send to {recipient}; traffic between agencies goes through {}",
                    self.allow.hub_hint()
                ),
            )
        } else {
            Outcome::Deliver(Approval::new(request, recipient))
        }
    }
}

// === impl Approval ===

impl Approval {
    fn new(request: &RouteRequest, recipient: &PartyId) -> Approval {
        Approval {
            recipient: recipient.clone(),
            origin: request.origin.clone(),
            kind: request.kind,
            topic: request.topic.clone(),
        }
    }

    pub fn recipient(&self) -> &PartyId {
        &self.recipient
    }

    pub fn origin(&self) -> &PartyId {
        &self.origin
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn topic(&self) -> &Topic {
        &self.topic
    }
}

// === impl Outcome ===

impl Outcome {
    pub fn recipient(&self) -> &PartyId {
        match self {
            Outcome::Deliver(approval) => approval.recipient(),
            Outcome::Deny(denial) => &denial.recipient,
        }
    }
}

#[cfg(test)]
mod tests;
