//! The deliveries a subscriber holds unacknowledged, with their deadlines: the flow-control window.

use std::collections::VecDeque;
use std::time::Duration;

use rustc_hash::{FxHashMap, FxHashSet};
use tokio::time::Instant;

use crate::bus::AckHandle;

/// Most acknowledged sequences remembered per subscription to recognise stale copies.
const MAX_REMEMBERED_ACKS: usize = 16 * 1024;

/// Unacknowledged deliveries by stream sequence, and the sequences acknowledged lately.
#[derive(Default)]
pub struct Outstanding {
    entries: FxHashMap<u64, Entry>,
    /// Deadlines in the order they were set (so, sorted); stale ones are skipped when popped.
    deadlines: VecDeque<(Instant, u64)>,
    bytes: usize,
    /// Sequences this session acknowledged, oldest first, bounded by [`MAX_REMEMBERED_ACKS`]. A copy of one
    /// of them that arrives later (a redelivery already in flight, or one the server sent because the ack
    /// was lost while NATS was away) is settled again instead of being handed to the client a second time.
    acked: FxHashSet<u64>,
    acked_order: VecDeque<u64>,
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

    /// Remembers that `sequence` was acknowledged by the client.
    pub fn remember_ack(&mut self, sequence: u64) {
        if !self.acked.insert(sequence) {
            return;
        }
        self.acked_order.push_back(sequence);
        if self.acked_order.len() > MAX_REMEMBERED_ACKS
            && let Some(oldest) = self.acked_order.pop_front()
        {
            self.acked.remove(&oldest);
        }
    }

    /// Was `sequence` acknowledged by the client lately?
    pub fn was_acked(&self, sequence: u64) -> bool {
        self.acked.contains(&sequence)
    }

    /// Forgets everything held and acknowledged: the deliveries are void (their consumer was recreated,
    /// possibly at an earlier position, so acknowledged sequences may rightly come again).
    pub fn clear(&mut self) {
        *self = Outstanding::default();
    }

    /// Removes every delivery held and returns their handles, to hand them back at the end of a session.
    pub fn take_all(&mut self) -> Vec<AckHandle> {
        self.deadlines.clear();
        self.bytes = 0;
        self.entries.drain().map(|(_, entry)| entry.handle).collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_acks_are_bounded_oldest_first() {
        let mut outstanding = Outstanding::default();
        for sequence in 1..=(MAX_REMEMBERED_ACKS as u64 + 10) {
            outstanding.remember_ack(sequence);
        }
        assert!(!outstanding.was_acked(10), "the oldest are forgotten");
        assert!(outstanding.was_acked(11));
        assert!(outstanding.was_acked(MAX_REMEMBERED_ACKS as u64 + 10));
        assert_eq!(outstanding.acked.len(), MAX_REMEMBERED_ACKS);
        outstanding.remember_ack(11);
        assert_eq!(outstanding.acked_order.len(), MAX_REMEMBERED_ACKS, "a repeated ack is not counted twice");
    }

    #[test]
    fn clear_forgets_acks_so_a_seek_can_replay_them() {
        let mut outstanding = Outstanding::default();
        outstanding.remember_ack(7);
        outstanding.clear();
        assert!(!outstanding.was_acked(7));
    }
}
