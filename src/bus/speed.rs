//! Speed-of-service state in the KV bucket `LIAISON_SOS` ([`crate::speed`] decides):
//!
//! - `acked.<recipient>.<chunk>`: a bitmap of the stream sequences in the chunk that a subscriber of the
//!   recipient acknowledged, updated by revision so marks from several gateways add up;
//! - `cursor.<recipient>.<lane>`: the last stream sequence of the lane that has been judged. A sweep
//!   judges the copies after it and moves it by revision, so of two gateways judging the same copies
//!   only one counts them.
//!
//! Entries are kept for [`MARK_MAX_AGE`]; the bucket has a size limit, at which new marks are refused
//! (their copies then count as misses: the limit errs on the side of reporting).

use std::time::Duration;

use async_nats::jetstream::kv::{self, Operation};
use bytes::Bytes;
use time::OffsetDateTime;

use super::provision::{BucketSpec, ensure_key_value};
use super::subjects::{FEED_STREAM, feed_filter_subjects};
use super::{Bus, BusError};
use crate::model::{PartyId, Precedence};
use crate::speed::{self, MAX_OBJECTIVE};

/// The KV bucket of acknowledgement marks and judging cursors.
pub const SPEED_BUCKET: &str = "LIAISON_SOS";

/// How long marks and cursors are kept: past the longest objective accepted, and a day.
pub const MARK_MAX_AGE: Duration = Duration::from_secs(MAX_OBJECTIVE.as_secs() + 24 * 3600);

/// Most bytes the bucket may hold.
pub const SPEED_MAX_BYTES: i64 = 1 << 30;

/// Attempts at a revision-checked write before giving up on it.
const WRITE_ATTEMPTS: usize = 5;

fn unavailable(error: impl std::fmt::Display) -> BusError {
    BusError::Unavailable(format!("speed of service: {error}"))
}

/// Creates or updates the bucket.
pub(super) async fn ensure_bucket(jetstream: &async_nats::jetstream::Context, replicas: usize) -> Result<(), BusError> {
    let spec = BucketSpec {
        bucket: SPEED_BUCKET,
        description: "Liaison: acknowledgement marks and judging cursors for speed of service",
        history: 1,
        max_age: MARK_MAX_AGE,
        max_bytes: SPEED_MAX_BYTES,
    };
    ensure_key_value(jetstream, spec, replicas).await
}

/// Where a lane's judging stands: the last sequence judged and the revision a move must match (`None`
/// for a lane never judged).
#[derive(Debug, Clone, Copy)]
pub struct Cursor {
    pub sequence: u64,
    pub revision: Option<u64>,
}

/// One copy read for judging.
#[derive(Debug, Clone)]
pub struct StoredCopy {
    pub sequence: u64,
    pub stored_at: OffsetDateTime,
    pub payload: Bytes,
}

impl Bus {
    fn speed_bucket(&self) -> Result<&kv::Store, BusError> {
        self.speed.as_ref().ok_or_else(|| unavailable("not opened on this connection"))
    }

    /// Marks `sequences` as acknowledged by a subscriber of `recipient`: one revision-checked write per
    /// chunk they fall in.
    pub async fn mark_acked(&self, recipient: &PartyId, sequences: &[u64]) -> Result<(), BusError> {
        let mut chunks: Vec<u64> = sequences.iter().map(|&sequence| speed::chunk_of(sequence).0).collect();
        chunks.sort_unstable();
        chunks.dedup();
        for chunk in chunks {
            self.mark_chunk(recipient, chunk, sequences).await?;
        }
        Ok(())
    }

    async fn mark_chunk(&self, recipient: &PartyId, chunk: u64, sequences: &[u64]) -> Result<(), BusError> {
        let bucket = self.speed_bucket()?;
        let key = format!("acked.{recipient}.{chunk}");
        for _ in 0..WRITE_ATTEMPTS {
            let entry = bucket.entry(&key).await.map_err(unavailable)?;
            let live = entry.filter(|entry| entry.operation == Operation::Put);
            let mut bitmap = live.as_ref().map(|entry| entry.value.to_vec()).unwrap_or_default();
            if !speed::mark(&mut bitmap, chunk, sequences) {
                return Ok(());
            }
            let written = match &live {
                Some(entry) => written_by_revision(bucket.update(&key, bitmap.into(), entry.revision).await),
                None => written_if_new(bucket.create(&key, bitmap.into()).await),
            };
            match written? {
                true => return Ok(()),
                // Another gateway marked the same chunk in between: read it again.
                false => tracing::debug!(%key, "acknowledgement marks changed; marking again"),
            }
        }
        Err(unavailable(format!("{key}: too many concurrent writers")))
    }

    /// The acknowledgement bitmap of `recipient`'s `chunk` (empty when nothing in it was acknowledged).
    pub async fn acked_chunk(&self, recipient: &PartyId, chunk: u64) -> Result<Vec<u8>, BusError> {
        let entry = self.speed_bucket()?.entry(format!("acked.{recipient}.{chunk}")).await.map_err(unavailable)?;
        Ok(entry
            .filter(|entry| entry.operation == Operation::Put)
            .map(|entry| entry.value.to_vec())
            .unwrap_or_default())
    }

    /// Where judging `recipient`'s `lane` stands; a lane never judged starts after `first_after`.
    pub async fn speed_cursor(
        &self,
        recipient: &PartyId,
        lane: Precedence,
        first_after: u64,
    ) -> Result<Cursor, BusError> {
        let entry = self.speed_bucket()?.entry(cursor_key(recipient, lane)).await.map_err(unavailable)?;
        let Some(entry) = entry.filter(|entry| entry.operation == Operation::Put) else {
            return Ok(Cursor { sequence: first_after, revision: None });
        };
        let sequence = std::str::from_utf8(&entry.value).ok().and_then(|text| text.parse().ok());
        Ok(Cursor { sequence: sequence.unwrap_or(first_after), revision: Some(entry.revision) })
    }

    /// Moves the cursor from `from` to `sequence`; `false` when another gateway moved it first.
    pub async fn move_speed_cursor(
        &self,
        recipient: &PartyId,
        lane: Precedence,
        from: Cursor,
        sequence: u64,
    ) -> Result<bool, BusError> {
        let bucket = self.speed_bucket()?;
        let (key, value) = (cursor_key(recipient, lane), Bytes::from(sequence.to_string()));
        match from.revision {
            Some(revision) => written_by_revision(bucket.update(&key, value, revision).await),
            None => written_if_new(bucket.create(&key, value).await),
        }
    }

    /// The first copy of `recipient`'s `lane` after stream sequence `after`, if any.
    pub async fn next_copy(
        &self,
        recipient: &PartyId,
        lane: Precedence,
        after: u64,
    ) -> Result<Option<StoredCopy>, BusError> {
        use async_nats::jetstream::stream::RawMessageErrorKind;
        let filter =
            feed_filter_subjects(recipient, &[], &[], &[], lane).into_iter().flatten().next().unwrap_or_default();
        let stream = self.jetstream.get_stream_no_info(FEED_STREAM).await.map_err(unavailable)?;
        match stream.get_first_raw_message_by_subject(filter, after + 1).await {
            Ok(message) => {
                Ok(Some(StoredCopy { sequence: message.sequence, stored_at: message.time, payload: message.payload }))
            }
            Err(error) if error.kind() == RawMessageErrorKind::NoMessageFound => Ok(None),
            Err(error) => Err(unavailable(error)),
        }
    }

    /// The feed stream's last sequence now: lanes never judged start after it.
    pub async fn feed_last_sequence(&self) -> Result<u64, BusError> {
        let mut stream = self.jetstream.get_stream(FEED_STREAM).await.map_err(unavailable)?;
        Ok(stream.info().await.map_err(unavailable)?.state.last_sequence)
    }
}

/// Whether an update by revision was written (`false`: the key moved on since it was read).
fn written_by_revision(result: Result<u64, kv::UpdateError>) -> Result<bool, BusError> {
    match result {
        Ok(_) => Ok(true),
        Err(error) if error.kind() == kv::UpdateErrorKind::WrongLastRevision => Ok(false),
        Err(error) => Err(unavailable(error)),
    }
}

/// Whether a create was written (`false`: another writer created the key first).
fn written_if_new(result: Result<u64, kv::CreateError>) -> Result<bool, BusError> {
    match result {
        Ok(_) => Ok(true),
        Err(error) if error.kind() == kv::CreateErrorKind::AlreadyExists => Ok(false),
        Err(error) => Err(unavailable(error)),
    }
}

fn cursor_key(recipient: &PartyId, lane: Precedence) -> String {
    format!("cursor.{recipient}.{}", lane.name())
}
