//! What the hostile clients of a soak got back, per kind of client: attempts accepted, refused by gRPC
//! code, and connections the gateway closed or that failed below gRPC. Refusals are counted by code, never
//! by message, so new limits show up as refusals without changes here.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;

/// The outcome of one hostile attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The gateway did what was asked (or ignored it without a status).
    Accepted,
    /// A publish answered with a receipt that delivers to no one: every recipient denied.
    Denied,
    /// A gRPC status other than OK: a refusal, named by its code.
    Refused(tonic::Code),
    /// No status from the gateway: the connection failed or was closed, or the stream was reset.
    Transport,
    /// The gateway closed a connection whose bytes were not (or not enough) HTTP/2: the refusal below gRPC.
    Closed,
}

impl Outcome {
    /// The outcome of a gRPC call.
    pub fn of<T>(result: &Result<T, tonic::Status>) -> Outcome {
        match result {
            Ok(_) => Outcome::Accepted,
            Err(status) => Outcome::of_status(status),
        }
    }

    /// The outcome of a unary Publish: a receipt that stored no copy is a denial.
    pub fn of_publish(result: &Result<tonic::Response<crate::api::PublishResponse>, tonic::Status>) -> Outcome {
        match result {
            Ok(response) => match &response.get_ref().receipt {
                Some(receipt) => Outcome::of_receipt(receipt),
                None => Outcome::Accepted,
            },
            Err(status) => Outcome::of_status(status),
        }
    }

    /// A receipt with no delivered copy is a denial.
    pub fn of_receipt(receipt: &crate::api::Receipt) -> Outcome {
        use crate::api::recipient_outcome::Outcome as Recipient;
        let stored = receipt.outcomes.iter().any(|outcome| matches!(outcome.outcome, Some(Recipient::Delivered(_))));
        if stored { Outcome::Accepted } else { Outcome::Denied }
    }

    /// A status the client library made from a connection or HTTP/2 error carries that error as its
    /// source; one the gateway sent (decoded from trailers) carries none.
    pub fn of_status(status: &tonic::Status) -> Outcome {
        match std::error::Error::source(status) {
            Some(_) => Outcome::Transport,
            None => Outcome::Refused(status.code()),
        }
    }
}

/// Counts of one kind of hostile client.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct KindCounts {
    pub clients: usize,
    pub attempts: u64,
    pub accepted: u64,
    /// Publishes answered with a receipt in which every recipient was denied (no status: not refusals).
    pub denied: u64,
    /// Refusals by gRPC code name (`Unauthenticated`, `InvalidArgument`, `ResourceExhausted` ...), and
    /// `ConnectionClosed` for connections the gateway closed below gRPC.
    pub refused: BTreeMap<String, u64>,
    pub transport_errors: u64,
}

impl KindCounts {
    pub fn refusals(&self) -> u64 {
        self.refused.values().sum()
    }
}

/// Shared by every hostile task.
#[derive(Clone, Default)]
pub struct Tally(Arc<Mutex<BTreeMap<&'static str, KindCounts>>>);

impl Tally {
    fn with<R>(&self, kind: &'static str, update: impl FnOnce(&mut KindCounts) -> R) -> R {
        let mut kinds = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        update(kinds.entry(kind).or_default())
    }

    pub fn client(&self, kind: &'static str) {
        self.with(kind, |counts| counts.clients += 1);
    }

    pub fn record(&self, kind: &'static str, outcome: Outcome) {
        self.with(kind, |counts| {
            counts.attempts += 1;
            match outcome {
                Outcome::Accepted => counts.accepted += 1,
                Outcome::Denied => counts.denied += 1,
                Outcome::Refused(code) => *counts.refused.entry(format!("{code:?}")).or_default() += 1,
                Outcome::Transport => counts.transport_errors += 1,
                Outcome::Closed => *counts.refused.entry("ConnectionClosed".to_string()).or_default() += 1,
            }
        });
    }

    pub fn snapshot(&self) -> BTreeMap<String, KindCounts> {
        let kinds = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        kinds.iter().map(|(kind, counts)| (kind.to_string(), counts.clone())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_counted_by_code_and_transport_failures_apart() {
        let tally = Tally::default();
        tally.client("bad-token");
        tally.record("bad-token", Outcome::of::<()>(&Err(tonic::Status::unauthenticated("no"))));
        tally.record("bad-token", Outcome::of::<()>(&Err(tonic::Status::unauthenticated("other words"))));
        tally.record("bad-token", Outcome::of(&Ok(())));
        tally.record("bad-token", Outcome::Transport);
        tally.record("bad-token", Outcome::Denied);
        // UNAVAILABLE from the gateway itself (no underlying error) is a refusal.
        tally.record("bad-token", Outcome::of::<()>(&Err(tonic::Status::unavailable("audit full"))));
        let counts = &tally.snapshot()["bad-token"];
        assert_eq!((counts.clients, counts.attempts, counts.accepted, counts.transport_errors), (1, 6, 1, 1));
        assert_eq!(counts.denied, 1);
        assert_eq!(counts.refused["Unauthenticated"], 2);
        assert_eq!(counts.refused["Unavailable"], 1);
        assert_eq!(counts.refusals(), 3);
    }
}
