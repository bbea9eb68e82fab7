//! The deliveries a subscriber holds unacknowledged, with their deadlines: the flow-control window.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

use crate::bus::AckHandle;

/// Unacknowledged deliveries by stream sequence.
#[derive(Default)]
pub struct Outstanding {
    entries: HashMap<u64, Entry>,
    /// Deadlines in the order they were set (so, sorted); stale ones are skipped when popped.
    deadlines: VecDeque<(Instant, u64)>,
    bytes: usize,
}

struct Entry {
    handle: AckHandle,
    bytes: usize,
    /// Which delivery attempt this is (1 for the first).
    attempt: u32,
    deadline: Instant,
}

impl Outstanding {
    /// Room for one more delivery? One message is always allowed, however large.
    pub fn has_room(&self, max_messages: usize, max_bytes: usize) -> bool {
        self.entries.is_empty() || (self.entries.len() < max_messages && self.bytes < max_bytes)
    }

    /// Records a delivery; a redelivery of a held sequence replaces it.
    pub fn insert(&mut self, sequence: u64, handle: AckHandle, bytes: usize, attempt: u32, ack_deadline: Duration) {
        let deadline = Instant::now() + ack_deadline;
        if let Some(previous) = self.entries.insert(sequence, Entry { handle, bytes, attempt, deadline }) {
            self.bytes -= previous.bytes;
        }
        self.bytes += bytes;
        self.deadlines.push_back((deadline, sequence));
    }

    /// Removes a delivery (acked or nacked) and returns its handle and attempt number.
    pub fn remove(&mut self, sequence: u64) -> Option<(AckHandle, u32)> {
        let entry = self.entries.remove(&sequence)?;
        self.bytes -= entry.bytes;
        Some((entry.handle, entry.attempt))
    }

    /// Forgets everything held: the deliveries are void (their consumer was recreated).
    pub fn clear(&mut self) {
        *self = Outstanding::default();
    }

    /// Restarts a delivery's deadline; returns its handle if it is still held.
    pub fn extend(&mut self, sequence: u64, ack_deadline: Duration) -> Option<AckHandle> {
        let entry = self.entries.get_mut(&sequence)?;
        entry.deadline = Instant::now() + ack_deadline;
        self.deadlines.push_back((entry.deadline, sequence));
        Some(entry.handle.clone())
    }

    /// Forgets deliveries whose deadline has passed: JetStream redelivers them, so they no longer count
    /// against the window.
    pub fn expire(&mut self, now: Instant) {
        while let Some(&(deadline, sequence)) = self.deadlines.front() {
            if deadline > now {
                break;
            }
            self.deadlines.pop_front();
            if self.entries.get(&sequence).is_some_and(|entry| entry.deadline == deadline) {
                self.remove(sequence);
            }
        }
    }

    /// The earliest deadline still to come, if any.
    pub fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(&(deadline, sequence)) = self.deadlines.front() {
            if self.entries.get(&sequence).is_some_and(|entry| entry.deadline == deadline) {
                return Some(deadline);
            }
            self.deadlines.pop_front();
        }
        None
    }
}
