//! Message kinds, precedence, and the routing view of a message that the router decides on.

use super::{Markings, PartyId, Topic};

/// What sort of message this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Report,
    Alert,
    Tip,
    Rfi,
    RfiResponse,
    Product,
    /// The gateway's notice about an earlier message (purged or superseded); never published by clients.
    Notice,
}

/// Handling precedence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Precedence {
    #[default]
    Routine,
    Priority,
    Immediate,
    Flash,
}

/// Everything the router needs to know about a message, and nothing of its content.
#[derive(Debug, Clone)]
pub struct RouteRequest {
    /// The caller's party: never taken from the message body.
    pub origin: PartyId,
    /// Named recipients, or empty to route by policy.
    pub recipients: Vec<PartyId>,
    pub kind: Kind,
    pub topic: Topic,
    pub markings: Markings,
    pub precedence: Precedence,
}

// === impl Precedence ===

impl Precedence {
    pub const ALL: [Precedence; 4] =
        [Precedence::Routine, Precedence::Priority, Precedence::Immediate, Precedence::Flash];

    /// The delivery lanes, highest first: a feed hands out FLASH before IMMEDIATE before PRIORITY before
    /// ROUTINE.
    pub const LANES: [Precedence; 4] =
        [Precedence::Flash, Precedence::Immediate, Precedence::Priority, Precedence::Routine];

    /// The position in [`Precedence::LANES`]: 0 for FLASH, 3 for ROUTINE.
    pub fn rank(self) -> usize {
        match self {
            Precedence::Flash => 0,
            Precedence::Immediate => 1,
            Precedence::Priority => 2,
            Precedence::Routine => 3,
        }
    }

    /// The configuration-file name (`routine`, `priority`, `immediate`, `flash`).
    pub fn name(self) -> &'static str {
        match self {
            Precedence::Routine => "routine",
            Precedence::Priority => "priority",
            Precedence::Immediate => "immediate",
            Precedence::Flash => "flash",
        }
    }

    pub fn from_name(name: &str) -> Option<Precedence> {
        Precedence::ALL.into_iter().find(|precedence| precedence.name() == name)
    }
}

// === impl Kind ===

impl Kind {
    pub const ALL: [Kind; 7] =
        [Kind::Report, Kind::Alert, Kind::Tip, Kind::Rfi, Kind::RfiResponse, Kind::Product, Kind::Notice];

    /// The subject token for this kind.
    pub fn token(self) -> &'static str {
        match self {
            Kind::Report => "report",
            Kind::Alert => "alert",
            Kind::Tip => "tip",
            Kind::Rfi => "rfi",
            Kind::RfiResponse => "rfi-response",
            Kind::Product => "product",
            Kind::Notice => "notice",
        }
    }

    /// Parses a subject token or CLI name (`report`, `rfi-response` ...).
    pub fn from_token(token: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.token() == token)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.token())
    }
}
