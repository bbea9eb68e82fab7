//! What a session does with each message its consumer hands it: one pure decision over plain data
//! ([`disposition`]), which the session only applies (`session.rs`).
//!
//! In order: a copy of a sequence this session's client already acknowledged, or a redriven copy meant
//! for another subscription, is skipped (acknowledged on this consumer, never shown); an unreadable
//! payload is discarded and an expired message expires (both terminated); a message past its last
//! attempt is dead-lettered; a message the personal check withholds from this person is withheld;
//! anything else is delivered.
//!
//! Withholding is per person. On an ephemeral subscription only this person reads the consumer, so a
//! withheld message is terminated there. A durable may be shared by several members of the party, so a
//! withheld message is handed back (a nak with a delay that doubles with each attempt, capped at the ack
//! deadline) for an eligible member's pull to take; if its last attempt is withheld too, it is
//! dead-lettered as withheld rather than handed back again, so it neither loops nor vanishes.

use std::time::Duration;

use super::Window;
use crate::bus::Settle;

/// The wait before a withheld message on a durable is offered again after its first attempt; it doubles
/// with each attempt, up to the ack deadline (the subscription's retry policy, if it has one, decides
/// instead).
pub const WITHHELD_FIRST_DELAY: Duration = Duration::from_millis(250);

/// What is known of a message when it reaches a session.
#[derive(Debug, Clone, Copy, Default)]
pub struct Arrival<'a> {
    /// This session's client already acknowledged this stream sequence: the copy was on its way when it did.
    pub acknowledged: bool,
    /// A redriven copy meant for another subscription of the party.
    pub redrive_for_other: bool,
    /// The payload decodes as an envelope (something other than Liaison may have written to the subject).
    pub readable: bool,
    /// Past the envelope's `expires_at`.
    pub expired: bool,
    /// Which delivery of the message this is, from 1.
    pub attempt: u64,
    /// Why the personal check withholds the message from this session's person, if it does.
    pub withheld: Option<&'a str>,
}

/// Who reads a subscription's consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// A durable: any member of the party may open it, so a message withheld from one may be for another.
    Shared,
    /// An ephemeral subscription: only this session's person.
    Own,
}

/// What the session does with one message, and how it settles it on the consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Hand it to the subscriber and hold it until the client settles it.
    Deliver,
    /// Not for this person: audited as withheld for them, and settled with `settle` (terminated on an
    /// ephemeral subscription, handed back after a delay on a durable).
    Withhold { why: String, settle: Settle },
    /// Past its expiry: terminated, never delivered.
    Expire,
    /// Unreadable: terminated, never delivered.
    Discard,
    /// Past its last attempt: moved to the dead-letter stream, then terminated. `withheld` is the
    /// personal check's reason when its last attempt was withheld from this person (audited as such).
    DeadLetter { attempts: u64, reason: String, withheld: Option<String> },
    /// Not for this session: settled with `settle` and never shown.
    Skip { settle: Settle },
}

/// Decides what a session does with `arrival` under the subscription's `window`.
pub fn disposition(arrival: &Arrival, window: &Window, audience: Audience) -> Disposition {
    if arrival.acknowledged || arrival.redrive_for_other {
        return Disposition::Skip { settle: Settle::Ack };
    }
    if !arrival.readable {
        return Disposition::Discard;
    }
    if arrival.expired {
        return Disposition::Expire;
    }
    let max_attempts = u64::from(window.max_attempts);
    if arrival.attempt > max_attempts {
        let attempts = arrival.attempt - 1;
        let reason = format!("{attempts} delivery attempts made, none acknowledged");
        return Disposition::DeadLetter { attempts, reason, withheld: None };
    }
    let Some(why) = arrival.withheld else {
        return Disposition::Deliver;
    };
    match audience {
        Audience::Own => Disposition::Withhold { why: why.to_string(), settle: Settle::Reject },
        Audience::Shared if arrival.attempt >= max_attempts => {
            let attempts = arrival.attempt;
            let reason = format!(
                "withheld from every session that received it or left unacknowledged ({attempts} attempts); last withheld: {why}"
            );
            Disposition::DeadLetter { attempts, reason, withheld: Some(why.to_string()) }
        }
        Audience::Shared => {
            let delay = withheld_delay(arrival.attempt, window);
            Disposition::Withhold { why: why.to_string(), settle: Settle::Nack(Some(delay)) }
        }
    }
}

/// How long a message withheld at `attempt` waits before it is offered again on a shared durable.
fn withheld_delay(attempt: u64, window: &Window) -> Duration {
    let attempt = u32::try_from(attempt).unwrap_or(u32::MAX);
    match window.retry {
        Some(retry) => retry.delay(attempt),
        None => {
            let doublings = attempt.saturating_sub(1).min(20);
            WITHHELD_FIRST_DELAY.saturating_mul(1 << doublings).min(window.ack_deadline)
        }
    }
}

#[cfg(test)]
mod tests;
