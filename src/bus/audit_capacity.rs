//! How full the audit stream is. `LIAISON_AUDIT` has a byte limit (`--audit-max-bytes`, set when the streams
//! are provisioned) and refuses new entries at it instead of dropping old ones (JetStream's `DiscardNew`):
//! the audit fails closed. This gateway's writer notes a refusal, the gateway reads the stream's size every
//! few seconds, and [`AuditCapacity::full`] decides from both whether the gateway is ready (`/readyz`);
//! `liaison_audit_bytes` and `liaison_audit_max_bytes` are the figures.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use async_nats::jetstream::{self, ErrorCode};

use super::subjects::AUDIT_STREAM;
use super::{Bus, BusError};

/// Room beyond a refused entry's own size that the stream must have before the gateway is ready again:
/// JetStream counts the subject and headers of each message too.
const SLACK: u64 = 1024;

/// The audit stream's size and limit as last read, and the room the last refused entry needed.
#[derive(Debug, Default)]
pub struct AuditCapacity {
    bytes: AtomicU64,
    /// Zero: the stream has no byte limit of its own.
    max_bytes: AtomicU64,
    /// The size of the entry the stream last refused for lack of room; zero when the last entry was stored.
    refused: AtomicU64,
    /// The size and limit were read after the last refusal: until then they say nothing about room.
    read_since_refusal: AtomicBool,
}

// === impl AuditCapacity ===

impl AuditCapacity {
    /// The stream's size and byte limit (zero: none), as last read.
    pub fn usage(&self) -> (u64, u64) {
        (self.bytes.load(Relaxed), self.max_bytes.load(Relaxed))
    }

    /// Why the gateway cannot record anything, if the audit is full.
    pub fn full(&self) -> Option<String> {
        let (bytes, max_bytes) = self.usage();
        let read = self.read_since_refusal.load(Relaxed).then_some((bytes, max_bytes));
        fullness(read, max_bytes, self.refused.load(Relaxed))
    }

    /// The stream's size and limit as just read.
    pub(super) fn observe(&self, bytes: u64, max_bytes: u64) {
        self.bytes.store(bytes, Relaxed);
        self.max_bytes.store(max_bytes, Relaxed);
        self.read_since_refusal.store(true, Relaxed);
    }

    /// The stream refused an entry of `size` bytes for lack of room.
    pub(super) fn refused(&self, size: usize) {
        self.refused.store((size as u64).max(1), Relaxed);
        self.read_since_refusal.store(false, Relaxed);
    }

    /// An entry was stored: there was room.
    pub(super) fn stored(&self) {
        self.refused.store(0, Relaxed);
    }
}

/// Full when the stream refused an entry of `refused` bytes and has no room for it as far as a reading
/// taken since (`read`: size and limit) says: the limit was not raised and age has not removed enough.
/// Without such a reading, it is full. `max_bytes` is the limit last known.
fn fullness(read: Option<(u64, u64)>, max_bytes: u64, refused: u64) -> Option<String> {
    let room = |(bytes, max_bytes): (u64, u64)| {
        max_bytes > 0 && bytes.saturating_add(refused).saturating_add(SLACK) <= max_bytes
    };
    if refused == 0 || read.is_some_and(room) {
        return None;
    }
    let limit = match max_bytes {
        0 => "the NATS server's storage".to_string(),
        max_bytes => format!("{max_bytes} bytes (--audit-max-bytes)"),
    };
    let stored = read.map(|(bytes, _)| format!("{bytes} bytes stored of ")).unwrap_or_default();
    Some(format!(
        "the audit stream {AUDIT_STREAM} is full: {stored}{limit}; it keeps every entry and refuses new ones, so \
         nothing can be published or delivered until an operator raises the limit"
    ))
}

/// Whether a storage refusal is the audit stream having no room left: its byte limit, or the server's
/// storage, reached.
pub(super) fn is_full(error: &jetstream::context::PublishError) -> bool {
    let Some(source) = std::error::Error::source(error) else { return false };
    let Some(error) = source.downcast_ref::<jetstream::Error>() else { return false };
    let description = error.to_string();
    (error.error_code() == ErrorCode::STREAM_STORE_FAILED && description.contains("maximum bytes"))
        || description.contains("insufficient resources")
}

impl Bus {
    /// The audit stream's size and byte limit (zero: none), read now.
    pub async fn audit_usage(&self) -> Result<(u64, u64), BusError> {
        let mut stream = self.audit_stream().await?;
        let info = stream.info().await.map_err(|error| BusError::Unavailable(format!("audit: {error}")))?;
        Ok((info.state.bytes, u64::try_from(info.config.max_bytes).unwrap_or(0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audit_is_full_from_a_refusal_until_a_reading_shows_room_for_what_was_refused() {
        assert_eq!(fullness(Some((1_000, 1_000)), 1_000, 0), None, "nothing refused: not full, however close");
        let full = fullness(Some((900, 1_000)), 1_000, 500).expect("refused and no room");
        assert!(full.contains("900 bytes stored of 1000 bytes (--audit-max-bytes)"), "{full}");
        assert!(fullness(Some((900, 1_000)), 1_000, 50).is_some(), "room for the entry, but not with the slack");
        assert_eq!(fullness(Some((900, 100_000)), 100_000, 500), None, "the limit was raised");
        assert_eq!(fullness(Some((100, 2_000)), 2_000, 500), None, "age removed old entries");
        let unread = fullness(None, 100_000, 500).expect("no reading since the refusal");
        assert!(unread.contains("full: 100000 bytes (--audit-max-bytes)"), "{unread}");
        assert!(fullness(Some((10, 0)), 0, 500).unwrap().contains("the NATS server's storage"), "no limit of its own");
    }

    #[test]
    fn a_stored_entry_ends_a_refusal() {
        let capacity = AuditCapacity::default();
        capacity.observe(10, 10_000);
        capacity.refused(200);
        assert!(capacity.full().is_some(), "the reading before the refusal says nothing");
        capacity.observe(9_900, 10_000);
        assert!(capacity.full().is_some());
        capacity.observe(10, 10_000);
        assert_eq!(capacity.full(), None, "room again");
        capacity.observe(9_900, 10_000);
        capacity.refused(200);
        capacity.stored();
        assert_eq!(capacity.full(), None);
        assert_eq!(capacity.usage(), (9_900, 10_000));
    }
}
