//! Who may call which RPC on whose behalf: one table (role x scope x RPC), pure.
//!
//! Every caller acts for its own party. A call's [`Scope`] says whose data or power it touches: the caller's
//! own party, another named party, or all parties at once (or state every party shares, such as the
//! policy). Reaching beyond the own party needs *oversight*: the caller's party is the hub (I&A) or the
//! directory grants it `oversight = true`. Only the directory grants it, never a token, and the gateway
//! looks it up in the router snapshot in force at each call.
//!
//! A cell says who may act on the whole scope (`full`) and who else may act on its own party's part of it
//! (`own_view`, for "all parties" listings: the caller gets its own party's view instead of a refusal).
//! Anyone else is refused with a [`Refusal`] naming the rule. README's "Authorization" table is
//! [`markdown_table`] (a test checks it).

use super::Role;

/// One variant per RPC of `GatewayService`, `OperatorService` and `RfiService`, and the admin port's
/// `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Publish,
    PublishStream,
    Subscribe,
    Seek,
    CheckRoute,
    ListDenialCounts,
    ListDeadLetters,
    RedriveDeadLetters,
    WatchTraffic,
    ListSubjects,
    QueryAudit,
    ListReviewDue,
    Revalidate,
    ApproveOrcon,
    ListHeld,
    DecideHeld,
    PurgeMessage,
    ApplyPolicy,
    ListPolicyHistory,
    RollbackPolicy,
    ListRfis,
    GetRfi,
    UpdateRfi,
    TransferRfi,
    SimulatePolicy,
    /// `GET /metrics` on the admin port.
    ScrapeMetrics,
}

/// Whose data or power a call touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// The caller's own party (its feed, its messages, its dead letters).
    Own,
    /// One other party, named in the request or owning the message.
    Other,
    /// Every party at once, or state all parties share (the policy, the gateway's counters).
    All,
}

/// What an authorized call may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Everything the scope asked for.
    Full,
    /// Only the caller's own party's part of it (listings asked for all parties).
    OwnParty,
}

/// A set of callers: some roles, optionally only of a party with oversight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Who {
    pub roles: &'static [Role],
    /// Only callers whose party has oversight.
    pub oversight: bool,
}

/// Who may act at one scope of one RPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cell {
    /// May act on the whole scope.
    pub full: Who,
    /// May act on the own party's part of the scope only; refused only if in neither.
    pub own_view: Who,
}

/// The row of one RPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub action: Action,
    /// What decides the scope of a call, in words (README shows it).
    pub scoped_by: &'static str,
    pub own: Cell,
    pub other: Cell,
    pub all: Cell,
}

/// Why a call was refused: the rule it broke and who it would have needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub role: Role,
    pub oversight: bool,
    pub action: Action,
    pub scope: Scope,
    /// The cell that refused, naming who would be admitted.
    pub needed: Cell,
}

use Role::{Admin, AgencySystem, Analyst, DisclosureOfficer, LiaisonOfficer, Monitor, Operator};

const NOBODY: Who = Who { roles: &[], oversight: false };
const SYSTEMS: Who = Who { roles: &[AgencySystem], oversight: false };
const READERS: Who = Who { roles: &[AgencySystem, Analyst], oversight: false };
const EVERYONE: Who =
    Who { roles: &[AgencySystem, Analyst, Operator, Admin, DisclosureOfficer, LiaisonOfficer], oversight: false };
const OPERATORS: Who = Who { roles: &[Operator, Admin], oversight: false };
const REVIEWERS: Who = Who { roles: &[Analyst, Admin], oversight: false };
/// People, who review what falls due (analysts revalidate, operators purge); not a party's systems.
const PEOPLE: Who = Who { roles: &[Analyst, Operator, Admin], oversight: false };
const ADMINS: Who = Who { roles: &[Admin], oversight: false };
const OVERSIGHT_OPERATORS: Who = Who { roles: &[Operator, Admin], oversight: true };
const OVERSIGHT_ADMINS: Who = Who { roles: &[Admin], oversight: true };
const DISCLOSURE_OFFICERS: Who = Who { roles: &[DisclosureOfficer], oversight: false };
/// The senior foreign disclosure and release authority: disclosure officers of a party with oversight (the
/// hub), who decide for every party.
const SENIOR_DISCLOSURE_OFFICERS: Who = Who { roles: &[DisclosureOfficer], oversight: true };
/// Who reads its party's RFIs (as requester or action party): its systems and people, not its disclosure
/// officers.
const RFI_READERS: Who = Who { roles: &[AgencySystem, Analyst, LiaisonOfficer, Operator, Admin], oversight: false };
/// Who works its party's RFIs: acknowledges, starts, rejects (action party), closes, reopens (requester).
const RFI_WORKERS: Who = Who { roles: &[AgencySystem, Analyst, LiaisonOfficer], oversight: false };
/// A party's liaison officers, who transfer an RFI their party must act on to the party that can answer it.
const LIAISON_OFFICERS: Who = Who { roles: &[LiaisonOfficer], oversight: false };
/// Who scrapes the admin port's metrics: a party's monitoring system, or its operators.
const MONITORS: Who = Who { roles: &[Monitor, Operator, Admin], oversight: false };
const OVERSIGHT_MONITORS: Who = Who { roles: &[Monitor, Operator, Admin], oversight: true };

const fn only(who: Who) -> Cell {
    Cell { full: who, own_view: NOBODY }
}

const fn or_own_view(full: Who, own_view: Who) -> Cell {
    Cell { full, own_view }
}

const CLOSED: Cell = only(NOBODY);

const fn row(action: Action, scoped_by: &'static str, own: Cell, other: Cell, all: Cell) -> Rule {
    Rule { action, scoped_by, own, other, all }
}

/// The authorization table: one row per RPC.
pub const TABLE: [Rule; 26] = [
    row(Action::Publish, "the envelope's origin", only(SYSTEMS), CLOSED, CLOSED),
    row(Action::PublishStream, "the envelope's origin", only(SYSTEMS), CLOSED, CLOSED),
    row(Action::Subscribe, "`open.feed`", only(READERS), CLOSED, CLOSED),
    row(Action::Seek, "the durable (always the caller's party's)", only(READERS), CLOSED, CLOSED),
    row(Action::CheckRoute, "`origin`", only(OPERATORS), only(OVERSIGHT_OPERATORS), CLOSED),
    row(
        Action::ListDenialCounts,
        "none: all parties",
        only(OPERATORS),
        CLOSED,
        or_own_view(OVERSIGHT_OPERATORS, OPERATORS),
    ),
    row(
        Action::ListDeadLetters,
        "`party` (recipient; empty: all)",
        only(OPERATORS),
        only(OVERSIGHT_OPERATORS),
        or_own_view(OVERSIGHT_OPERATORS, OPERATORS),
    ),
    row(Action::RedriveDeadLetters, "`party` (recipient)", only(ADMINS), only(OVERSIGHT_ADMINS), CLOSED),
    row(
        Action::WatchTraffic,
        "`party` (origin or recipient; empty: all)",
        only(OPERATORS),
        only(OVERSIGHT_OPERATORS),
        or_own_view(OVERSIGHT_OPERATORS, OPERATORS),
    ),
    row(
        Action::ListSubjects,
        "`party` (origin or recipient; empty: all)",
        only(OPERATORS),
        only(OVERSIGHT_OPERATORS),
        or_own_view(OVERSIGHT_OPERATORS, OPERATORS),
    ),
    row(
        Action::QueryAudit,
        "`party` (origin or recipient; empty: all); the own view is the records of the own party's messages",
        or_own_view(OVERSIGHT_OPERATORS, EVERYONE),
        or_own_view(OVERSIGHT_OPERATORS, EVERYONE),
        or_own_view(OVERSIGHT_OPERATORS, EVERYONE),
    ),
    row(
        Action::ListReviewDue,
        "`party` (origin; empty: all)",
        only(PEOPLE),
        only(OVERSIGHT_OPERATORS),
        or_own_view(OVERSIGHT_OPERATORS, PEOPLE),
    ),
    row(Action::Revalidate, "the message's origin", only(REVIEWERS), only(OVERSIGHT_ADMINS), CLOSED),
    row(Action::ApproveOrcon, "the message's origin", only(REVIEWERS), CLOSED, CLOSED),
    row(
        Action::ListHeld,
        "`party` (origin; empty: all)",
        only(DISCLOSURE_OFFICERS),
        only(SENIOR_DISCLOSURE_OFFICERS),
        or_own_view(SENIOR_DISCLOSURE_OFFICERS, DISCLOSURE_OFFICERS),
    ),
    row(
        Action::DecideHeld,
        "the message's origin",
        only(DISCLOSURE_OFFICERS),
        only(SENIOR_DISCLOSURE_OFFICERS),
        CLOSED,
    ),
    row(Action::PurgeMessage, "the message's origin", only(OPERATORS), only(OVERSIGHT_OPERATORS), CLOSED),
    row(Action::ApplyPolicy, "the shared policy", CLOSED, CLOSED, only(OVERSIGHT_ADMINS)),
    row(Action::ListPolicyHistory, "the shared policy", CLOSED, CLOSED, only(OPERATORS)),
    row(Action::RollbackPolicy, "the shared policy", CLOSED, CLOSED, only(OVERSIGHT_ADMINS)),
    row(
        Action::ListRfis,
        "`party` (requester or action party; empty: the caller's)",
        only(RFI_READERS),
        only(OVERSIGHT_OPERATORS),
        CLOSED,
    ),
    row(Action::GetRfi, "the RFI's requester or action party", only(RFI_READERS), only(OVERSIGHT_OPERATORS), CLOSED),
    row(Action::UpdateRfi, "the RFI's requester or action party", only(RFI_WORKERS), CLOSED, CLOSED),
    row(Action::TransferRfi, "the RFI's action party", only(LIAISON_OFFICERS), CLOSED, CLOSED),
    row(
        Action::SimulatePolicy,
        "`party` (origin or recipient; empty: all); the own view is the decisions where the own party is origin or \
         recipient",
        only(OPERATORS),
        only(OVERSIGHT_OPERATORS),
        or_own_view(OVERSIGHT_OPERATORS, OPERATORS),
    ),
    row(
        Action::ScrapeMetrics,
        "none: all parties; the own view is the series naming the own party (origin, recipient, party or action \
         party)",
        CLOSED,
        CLOSED,
        or_own_view(OVERSIGHT_MONITORS, MONITORS),
    ),
];

/// May a caller in `role`, whose party has `oversight` or not, call `action` at `scope`, and what does it see?
pub fn authorize(role: Role, oversight: bool, action: Action, scope: Scope) -> Result<View, Refusal> {
    let cell = rule(action).cell(scope);
    if cell.full.admits(role, oversight) {
        Ok(View::Full)
    } else if cell.own_view.admits(role, oversight) {
        Ok(View::OwnParty)
    } else {
        Err(Refusal { role, oversight, action, scope, needed: cell })
    }
}

/// Could the caller call `action` at any scope? For refusing before looking up whose a target is, so that
/// a caller who may never act learns nothing about the target (not even whether it exists).
pub fn authorize_some(role: Role, oversight: bool, action: Action) -> Result<(), Refusal> {
    let own = authorize(role, oversight, action, Scope::Own);
    match own {
        Ok(_) => Ok(()),
        Err(refusal) => [Scope::Other, Scope::All]
            .into_iter()
            .find_map(|scope| authorize(role, oversight, action, scope).ok())
            .map(|_| ())
            .ok_or(refusal),
    }
}

/// The scope of a call that names `target` (or nothing, meaning all parties) for a caller of `party`.
pub fn scope_of<T: PartialEq + ?Sized>(party: &T, target: Option<&T>) -> Scope {
    match target {
        None => Scope::All,
        Some(target) if target == party => Scope::Own,
        Some(_) => Scope::Other,
    }
}

/// The table as Markdown, exactly as README shows it.
pub fn markdown_table() -> String {
    let mut table = String::from(
        "| RPC | scope decided by | own party | another party | all parties or shared state |\n\
         | --- | --- | --- | --- | --- |\n",
    );
    for rule in &TABLE {
        let cells = [rule.own, rule.other, rule.all].map(|cell| cell.describe());
        table += &format!(
            "| `{}` | {} | {} | {} | {} |\n",
            rule.action.name(),
            rule.scoped_by,
            cells[0],
            cells[1],
            cells[2]
        );
    }
    table
}

fn rule(action: Action) -> &'static Rule {
    // Every action has a row (a unit test checks), so the fallback is never taken; it refuses everything.
    static NONE: Rule = row(Action::Publish, "", CLOSED, CLOSED, CLOSED);
    TABLE.iter().find(|rule| rule.action == action).unwrap_or(&NONE)
}

// === impl Action ===

impl Action {
    pub const ALL: [Action; 26] = [
        Action::Publish,
        Action::PublishStream,
        Action::Subscribe,
        Action::Seek,
        Action::CheckRoute,
        Action::ListDenialCounts,
        Action::ListDeadLetters,
        Action::RedriveDeadLetters,
        Action::WatchTraffic,
        Action::ListSubjects,
        Action::QueryAudit,
        Action::ListReviewDue,
        Action::Revalidate,
        Action::ApproveOrcon,
        Action::ListHeld,
        Action::DecideHeld,
        Action::PurgeMessage,
        Action::ApplyPolicy,
        Action::ListPolicyHistory,
        Action::RollbackPolicy,
        Action::ListRfis,
        Action::GetRfi,
        Action::UpdateRfi,
        Action::TransferRfi,
        Action::SimulatePolicy,
        Action::ScrapeMetrics,
    ];

    /// What the RPC does, for refusals ("role analyst may not publish ...").
    fn verb(self) -> &'static str {
        match self {
            Action::Publish | Action::PublishStream => "publish",
            Action::Subscribe => "subscribe",
            Action::Seek => "seek a subscription",
            Action::CheckRoute => "check routes",
            Action::ListDenialCounts => "list denial counts",
            Action::ListDeadLetters => "list dead letters",
            Action::RedriveDeadLetters => "redrive dead letters",
            Action::WatchTraffic => "watch traffic",
            Action::ListSubjects => "list subjects",
            Action::QueryAudit => "query the audit",
            Action::ListReviewDue => "list messages due for review",
            Action::Revalidate => "revalidate messages",
            Action::ApproveOrcon => "approve ORCON dissemination",
            Action::ListHeld => "list material held for disclosure review",
            Action::DecideHeld => "decide material held for disclosure review",
            Action::PurgeMessage => "purge messages",
            Action::ApplyPolicy => "apply the policy",
            Action::ListPolicyHistory => "list the policy history",
            Action::RollbackPolicy => "roll back the policy",
            Action::ListRfis => "list RFIs",
            Action::GetRfi => "read an RFI",
            Action::UpdateRfi => "act on an RFI",
            Action::TransferRfi => "transfer an RFI",
            Action::SimulatePolicy => "simulate a policy over recorded traffic",
            Action::ScrapeMetrics => "scrape the metrics",
        }
    }

    /// The RPC's name in the proto.
    pub fn name(self) -> &'static str {
        match self {
            Action::Publish => "Publish",
            Action::PublishStream => "PublishStream",
            Action::Subscribe => "Subscribe",
            Action::Seek => "Seek",
            Action::CheckRoute => "CheckRoute",
            Action::ListDenialCounts => "ListDenialCounts",
            Action::ListDeadLetters => "ListDeadLetters",
            Action::RedriveDeadLetters => "RedriveDeadLetters",
            Action::WatchTraffic => "WatchTraffic",
            Action::ListSubjects => "ListSubjects",
            Action::QueryAudit => "QueryAudit",
            Action::ListReviewDue => "ListReviewDue",
            Action::Revalidate => "Revalidate",
            Action::ApproveOrcon => "ApproveOrcon",
            Action::ListHeld => "ListHeld",
            Action::DecideHeld => "ApproveHeld, DenyHeld",
            Action::PurgeMessage => "PurgeMessage",
            Action::ApplyPolicy => "ApplyPolicy",
            Action::ListPolicyHistory => "ListPolicyHistory",
            Action::RollbackPolicy => "RollbackPolicy",
            Action::ListRfis => "ListRfis",
            Action::GetRfi => "GetRfi",
            Action::UpdateRfi => "UpdateRfi",
            Action::TransferRfi => "TransferRfi",
            Action::SimulatePolicy => "SimulatePolicy",
            Action::ScrapeMetrics => "GET /metrics",
        }
    }
}

// === impl Refusal ===

impl std::fmt::Display for Refusal {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let oversight = if self.oversight { "has oversight" } else { "has no oversight" };
        write!(
            formatter,
            "role {} may not {} for {} ({}): that needs {} (README, Authorization); the caller's party {oversight}",
            self.role.name(),
            self.action.verb(),
            self.scope.phrase(),
            self.action.name(),
            self.needed.describe(),
        )
    }
}

impl std::error::Error for Refusal {}

// === impl Scope ===

impl Scope {
    fn phrase(self) -> &'static str {
        match self {
            Scope::Own => "its own party",
            Scope::Other => "another party",
            Scope::All => "all parties or shared state",
        }
    }
}

// === impl Who ===

impl Who {
    fn admits(&self, role: Role, oversight: bool) -> bool {
        self.roles.contains(&role) && (oversight || !self.oversight)
    }

    fn describe(&self) -> String {
        if self.roles.is_empty() {
            return "nobody".into();
        }
        let roles: Vec<&str> = self.roles.iter().map(|role| role.name()).collect();
        // Every role but a monitoring system's, which only scrapes metrics.
        let roles =
            if roles.len() == EVERYONE.roles.len() { "any role but monitor".to_string() } else { roles.join(" or ") };
        match self.oversight {
            true => format!("{roles} of an oversight party"),
            false => roles,
        }
    }
}

// === impl Cell ===

impl Cell {
    fn describe(&self) -> String {
        match self.own_view.roles.is_empty() {
            true => self.full.describe(),
            false => format!("{}; else {}: own party's view", self.full.describe(), self.own_view.describe()),
        }
    }
}

// === impl Rule ===

impl Rule {
    fn cell(&self, scope: Scope) -> Cell {
        match scope {
            Scope::Own => self.own,
            Scope::Other => self.other,
            Scope::All => self.all,
        }
    }
}

#[cfg(test)]
mod tests;
