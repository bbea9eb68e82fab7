//! The router: the one place that decides, per recipient, whether a message may go there, and why.
//!
//! A `Router` is an immutable snapshot of a party directory and a compiled policy, with a version. It is
//! pure: no I/O, so it can be tested and benchmarked alone, and a message is always decided wholly under
//! one version (the caller holds one snapshot per message). Its only output that can reach NATS is an
//! [`Approval`], which nothing outside this module can construct.
//!
//! A named recipient is delivered when a rule covers the (origin, recipient) edge for this message and the
//! markings allow it; otherwise it is denied with a stable reason and a sentence naming the rule or marking.
//! With no named recipients ("route by policy") the rules select every party they reach whose topics of
//! interest include the message's topic; marking checks apply the same way.

mod decide;
mod directory;
mod load_error;
mod markings;
mod policy;

use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::model::{Kind, PartyId, Precedence, Topic};

pub use directory::{Directory, MAX_RETENTION, Party, PartyKind};
pub use load_error::LoadError;
pub use markings::{Holder, HolderKind, check_holder};
pub use policy::{Policy, Rule};

/// Most recipients one message may name.
pub const MAX_RECIPIENTS: usize = 256;

/// The shipped default directory, also at `deploy/policy/directory.toml`.
pub const DEFAULT_DIRECTORY: &str = include_str!("../deploy/policy/directory.toml");
/// The shipped default policy, also at `deploy/policy/policy.toml`.
pub const DEFAULT_POLICY: &str = include_str!("../deploy/policy/policy.toml");

/// The rule named on a notice's approval.
pub const NOTICE_RULE: &str = "notice";
const NOTICE_BASIS: &str = "notice to a party that received the message (28 CFR 23.20)";

/// Decides who may receive what, under one policy version.
#[derive(Debug, Clone)]
pub struct Router {
    directory: Directory,
    policy: Policy,
    /// Content hash of the directory and policy text: part of every decision.
    version: Arc<str>,
}

/// The router's answer for one message: one outcome per recipient considered, in order.
#[derive(Debug, Clone)]
pub struct Routing {
    pub policy_version: Arc<str>,
    pub outcomes: Vec<Outcome>,
}

/// The decision for one recipient.
#[derive(Debug, Clone)]
pub enum Outcome {
    Deliver(Approval),
    Deny(Denial),
    /// Held for a foreign disclosure officer's review (RELIDO material not released to the party's
    /// country): neither delivered nor denied until an officer decides.
    Hold(Hold),
}

/// A recipient held for foreign-disclosure review, with the rule that would deliver to it once released.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub recipient: PartyId,
    pub rule: Arc<str>,
    pub basis: Arc<str>,
    /// Why it was not released, and that it is held.
    pub explanation: String,
}

/// Permission to store one copy of a message for one recipient. Only the router creates these.
#[derive(Debug, Clone)]
pub struct Approval {
    recipient: PartyId,
    origin: PartyId,
    kind: Kind,
    topic: Topic,
    /// The message's precedence: which lane of the recipient's feed the copy goes to.
    precedence: Precedence,
    rule: Arc<str>,
    basis: Arc<str>,
    /// For a foreign recipient, the REL TO entry that released the message to its country.
    released_by: Option<Arc<str>>,
}

/// A recipient the message may not go to, with a stable reason and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub recipient: PartyId,
    pub reason: DenialReason,
    pub explanation: String,
    /// The rule the decision concerned, when one covered the edge.
    pub rule: Option<Arc<str>>,
}

impl Denial {
    /// What decided it, as the audit records it: the reason's code, and the rule concerned when there is
    /// one (`no-route`, `classification (cbp-to-ia)`).
    pub fn decided_by(&self) -> String {
        match &self.rule {
            Some(rule) => format!("{} ({rule})", self.reason.code()),
            None => self.reason.code().to_string(),
        }
    }
}

/// Stable reasons for a denial.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DenialReason {
    UnknownParty,
    SelfAddressed,
    /// No rule covers the (origin, recipient) edge.
    NoRoute,
    /// A rule covers the edge, but not this message's kind, topic, classification or precedence.
    RuleLimits,
    /// The only rule covering the edge needs its relay party to receive the message too.
    RelayRequired,
    Classification,
    Noforn,
    NotReleasable,
    Les,
    Tlp,
    /// SCI compartments or special access programs the recipient is not read into.
    Access,
    /// ORCON material and a recipient its originator did not send it to (nor approved); ORCON-USGOV
    /// material and such a recipient outside the USA executive branch.
    Orcon,
}

/// Who chose the recipients of a dissemination, as ORCON asks: the originator naming them at publish, or
/// a later step (a redrive, a correction reaching earlier recipients) for which only the parties the
/// originator approved count.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dissemination<'a> {
    later: bool,
    approved: &'a [PartyId],
}

impl Dissemination<'_> {
    pub(crate) const PUBLISH: Dissemination<'static> = Dissemination { later: false, approved: &[] };

    pub(crate) fn later(approved: &[PartyId]) -> Dissemination<'_> {
        Dissemination { later: true, approved }
    }

    /// Did the originator choose `party`: named it in its own publish, or approved it?
    pub(crate) fn originator_chose(&self, party: &PartyId, named: bool) -> bool {
        (named && !self.later) || self.approved.contains(party)
    }
}

/// Requests the router refuses as a whole, before any recipient is considered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("origin party {0} is not in the directory")]
    UnknownOrigin(PartyId),
    #[error("recipients: at most {MAX_RECIPIENTS} recipients per message, got {0}")]
    TooManyRecipients(usize),
    #[error(
        "envelope.markings.rel_to: {0} is not a tetragraph of the ISM vocabulary nor one the directory defines \
         (see its [tetragraphs])"
    )]
    UnknownTetragraph(String),
}

// === impl Router ===

impl Router {
    pub fn new(directory: Directory, policy: Policy, version: &str) -> Router {
        Router { directory, policy, version: Arc::from(version) }
    }

    /// Parses and compiles a directory and a policy; the version is a hash of both texts.
    pub fn load(directory: (&str, &str), policy: (&str, &str)) -> Result<Router, LoadError> {
        let parsed = Directory::parse(directory.0, directory.1)?;
        let compiled = Policy::parse(policy.0, policy.1, &parsed)?;
        let digest = Sha256::new().chain_update(directory.1).chain_update([0]).chain_update(policy.1).finalize();
        let version: String = digest[..6].iter().map(|byte| format!("{byte:02x}")).collect();
        Ok(Router::new(parsed, compiled, &version))
    }

    /// The shipped default directory and policy.
    pub fn embedded_default() -> Result<Router, LoadError> {
        Router::load(("<embedded directory>", DEFAULT_DIRECTORY), ("<embedded policy>", DEFAULT_POLICY))
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Permission to send a notice (purge or correction) about a message of `origin` to a party a copy of
    /// it was stored for. Such a party was approved for the message itself, and the notice names the
    /// message and nothing of its content, so the policy in force is not consulted; the party must still be
    /// in the directory.
    pub fn notice(
        &self,
        origin: &PartyId,
        recipient: &PartyId,
        topic: &Topic,
        precedence: Precedence,
    ) -> Option<Approval> {
        self.knows(recipient).then(|| Approval {
            recipient: recipient.clone(),
            origin: origin.clone(),
            kind: Kind::Notice,
            topic: topic.clone(),
            precedence,
            rule: Arc::from(NOTICE_RULE),
            basis: Arc::from(NOTICE_BASIS),
            released_by: None,
        })
    }

    /// Is `party` in the directory?
    pub fn knows(&self, party: &PartyId) -> bool {
        self.directory.index_of(party).is_some()
    }
}

// === impl Approval ===

impl Approval {
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

    pub fn precedence(&self) -> Precedence {
        self.precedence
    }

    /// The rule that allowed the delivery.
    pub fn rule(&self) -> &str {
        &self.rule
    }

    /// The need-to-know basis of that rule: the reason for release.
    pub fn basis(&self) -> &str {
        &self.basis
    }

    /// The REL TO entry (a country or a tetragraph) that released the message to a foreign recipient.
    pub fn released_by(&self) -> Option<&str> {
        self.released_by.as_deref()
    }
}

// === impl Outcome ===

impl Outcome {
    pub fn recipient(&self) -> &PartyId {
        match self {
            Outcome::Deliver(approval) => approval.recipient(),
            Outcome::Deny(denial) => &denial.recipient,
            Outcome::Hold(hold) => &hold.recipient,
        }
    }
}

// === impl DenialReason ===

impl DenialReason {
    /// Every reason, in a fixed order (see [`DenialReason::index`]).
    pub const ALL: [DenialReason; 12] = [
        DenialReason::UnknownParty,
        DenialReason::SelfAddressed,
        DenialReason::NoRoute,
        DenialReason::RuleLimits,
        DenialReason::RelayRequired,
        DenialReason::Classification,
        DenialReason::Noforn,
        DenialReason::NotReleasable,
        DenialReason::Les,
        DenialReason::Tlp,
        DenialReason::Access,
        DenialReason::Orcon,
    ];

    /// This reason's position in [`DenialReason::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The stable code, as in the API's `DenialReason` enum without its prefix.
    pub fn code(self) -> &'static str {
        match self {
            DenialReason::UnknownParty => "UNKNOWN_PARTY",
            DenialReason::SelfAddressed => "SELF_ADDRESSED",
            DenialReason::NoRoute => "NO_ROUTE",
            DenialReason::RuleLimits => "RULE_LIMITS",
            DenialReason::RelayRequired => "RELAY_REQUIRED",
            DenialReason::Classification => "CLASSIFICATION",
            DenialReason::Noforn => "NOFORN",
            DenialReason::NotReleasable => "NOT_RELEASABLE",
            DenialReason::Les => "LES",
            DenialReason::Tlp => "TLP",
            DenialReason::Access => "ACCESS",
            DenialReason::Orcon => "ORCON",
        }
    }
}

#[cfg(test)]
mod tests;
