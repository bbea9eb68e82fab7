//! Replay of recorded decisions through a draft policy: the router's decisions in one audit entry
//! (approved, denied, held) are grouped by message, the message's routing view is rebuilt from them, it is
//! routed again under the draft, and every recipient whose outcome changes (delivered, held, denied) is
//! reported. [`tally`] aggregates the changes in bounded memory.
//!
//! A message is routed again as a whole, with every recipient its records name, so relay rules see the
//! relay party as they did at publish. Records written before the audit carried kind, topic, precedence, TLP
//! and route-by-policy (denied and held records lacked kind and topic) are decided with what they have: the
//! kind and topic of an approved record's subject, routine precedence, no TLP, named recipients; a message
//! whose kind and topic no record gives is skipped and counted.

pub mod tally;

use std::fmt;

use rustc_hash::FxHashMap;

use crate::audit::{AuditRecord, Event};
use crate::model::{Kind, Markings, Precedence, RouteRequest, Token};
use crate::router::{Outcome, Router};

/// Most distinct messages decided in one entry that are grouped; the rest of the entry's records are skipped
/// (an entry holds the records of a few concurrent publishes).
pub const MAX_MESSAGES_PER_ENTRY: usize = 4_096;

/// A recipient's outcome, as recorded or as the draft decides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    Delivered,
    Held,
    Denied,
}

/// One recipient whose outcome the draft changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    pub message_id: String,
    pub origin: String,
    pub recipient: String,
    pub before: State,
    /// The rule (delivered, held) or reason and rule (denied) recorded.
    pub before_by: String,
    pub after: State,
    pub after_by: String,
}

/// What replaying one entry found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replayed {
    /// Recipient decisions decided again.
    pub decisions: u64,
    /// Decisions that could not be (their message's kind or topic is not recorded, or the entry held too
    /// many messages).
    pub skipped: u64,
    pub changed: Vec<Changed>,
}

/// Which recorded decisions a caller may see: `None` all, else those where the party is origin or recipient.
pub type Visible<'a> = Option<&'a str>;

/// Replays the router's decisions among `records` (one audit entry) under `draft`, reporting those
/// `visible` to the caller.
pub fn replay_entry(records: &[AuditRecord], draft: &Router, visible: Visible<'_>) -> Replayed {
    let mut replayed = Replayed::default();
    // A publish's records are stored together, in one entry: group them by message, in order.
    let mut messages: Vec<Vec<&AuditRecord>> = Vec::new();
    let mut index: FxHashMap<&str, usize> = FxHashMap::default();
    for record in records.iter().filter(|record| decision(record)) {
        match index.get(&*record.message_id) {
            Some(&position) => messages[position].push(record),
            None if messages.len() < MAX_MESSAGES_PER_ENTRY => {
                index.insert(&record.message_id, messages.len());
                messages.push(vec![record]);
            }
            None => replayed.skipped += seen(record, visible),
        }
    }
    for group in messages {
        replay_message(&group, draft, visible, &mut replayed);
    }
    replayed
}

/// Is the record one of the router's decisions at publish?
fn decision(record: &AuditRecord) -> bool {
    matches!(record.event, Event::Approved | Event::Denied | Event::Held) && !record.origin.is_empty()
}

/// The recipients of a record the caller may see: 1 for a party's record, the unknown names for the shared
/// record of parties not in the directory.
fn seen(record: &AuditRecord, visible: Visible<'_>) -> u64 {
    let count = |recipient: &str| u64::from(visible.is_none_or(|party| party == record.origin || party == recipient));
    match record.recipient.is_empty() {
        true => record.unknown_recipients.iter().map(|recipient| count(recipient)).sum(),
        false => count(&record.recipient),
    }
}

fn replay_message(group: &[&AuditRecord], draft: &Router, visible: Visible<'_>, replayed: &mut Replayed) {
    let before = recorded(group);
    let Some(request) = request(group, &before) else {
        replayed.skipped += group.iter().map(|record| seen(record, visible)).sum::<u64>();
        return;
    };
    let origin = request.origin.as_str();
    let routed = draft.route(&request);
    for (recipient, state, by) in &before {
        if !visible.is_none_or(|party| party == origin || party == recipient) {
            continue;
        }
        replayed.decisions += 1;
        let (after, after_by) = match &routed {
            Err(error) => (State::Denied, format!("refused: {error}")),
            Ok(routing) => {
                let outcome = routing.outcomes.iter().find(|outcome| outcome.recipient().as_str() == recipient);
                outcome.map_or((State::Denied, "NOT_REACHED".to_string()), decided)
            }
        };
        if after != *state {
            replayed.changed.push(Changed {
                message_id: group[0].message_id.to_string(),
                origin: origin.to_string(),
                recipient: recipient.clone(),
                before: *state,
                before_by: by.clone(),
                after,
                after_by,
            });
        }
    }
}

/// Each recipient's recorded outcome and what decided it.
fn recorded(group: &[&AuditRecord]) -> Vec<(String, State, String)> {
    let mut before = Vec::new();
    for record in group {
        let state = match record.event {
            Event::Approved => State::Delivered,
            Event::Held => State::Held,
            _ => State::Denied,
        };
        if record.recipient.is_empty() {
            let unknown = record.unknown_recipients.iter();
            before.extend(unknown.map(|recipient| (recipient.clone(), state, record.decided_by.to_string())));
        } else {
            before.push((record.recipient.to_string(), state, record.decided_by.to_string()));
        }
    }
    before
}

/// The routing view of the message, rebuilt from its records; `None` if they do not give kind and topic.
fn request(group: &[&AuditRecord], before: &[(String, State, String)]) -> Option<RouteRequest> {
    let first = group[0];
    let (kind, topic) = group.iter().find_map(|record| kind_and_topic(record))?;
    let mut markings = match &*first.markings {
        "" => Markings::unclassified(),
        banner => Markings::from_banner(banner).ok()?,
    };
    markings.tlp = crate::model::Tlp::from_name(&first.tlp);
    let precedence = Precedence::from_name(&first.precedence).unwrap_or(Precedence::Routine);
    let recipients = match first.by_policy {
        true => Vec::new(),
        false => before.iter().filter_map(|(recipient, _, _)| Token::parse(recipient).ok()).collect(),
    };
    Some(RouteRequest { origin: Token::parse(&first.origin).ok()?, recipients, kind, topic, markings, precedence })
}

/// The record's kind and topic: its own fields, or an approved copy's subject
/// (`liaison.feed.<recipient>.<origin>.<kind>.<topic>`).
fn kind_and_topic(record: &AuditRecord) -> Option<(Kind, Token)> {
    if !record.kind.is_empty() {
        return Some((Kind::from_token(&record.kind)?, Token::parse(&record.topic).ok()?));
    }
    let mut tokens = record.subject.strip_prefix("liaison.feed.")?.split('.').skip(2);
    let kind = Kind::from_token(tokens.next()?)?;
    Some((kind, Token::parse(tokens.next()?).ok()?))
}

fn decided(outcome: &Outcome) -> (State, String) {
    match outcome {
        Outcome::Deliver(approval) => (State::Delivered, approval.rule().to_string()),
        Outcome::Hold(hold) => (State::Held, hold.rule.to_string()),
        Outcome::Deny(denial) => (State::Denied, denial.decided_by()),
    }
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Delivered => "delivered",
            State::Held => "held",
            State::Denied => "denied",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests;
