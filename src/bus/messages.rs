//! Message records for retention review, purges and corrections. A record is rebuilt from the audit:
//! the `approved` records of a message name every stored copy and its feed subject, and a message id (a
//! ULID) says when it was published, so a lookup reads only the audit entries stored around that time.
//! Nothing is written per publish beyond the audit entry itself. What changes later — reviews, a
//! superseding correction, a purge — goes to the KV bucket `LIAISON_MESSAGE_STATE`, keyed by message id,
//! which only messages with such a history get.

use super::provision::{BucketSpec, ensure_key_value};
use std::time::Duration;

use async_nats::jetstream::consumer::{self, DeliverPolicy};
use async_nats::jetstream::kv::{self, Operation, UpdateErrorKind};
use futures::StreamExt;
use time::OffsetDateTime;

use super::subjects::FEED_STREAM;
use super::{Bus, BusError};
use crate::audit::Event;
use crate::model::PartyId;
use crate::retention::{MessageRecord, MessageState, published_at, records_from_audit};

/// The KV bucket of message states.
pub const STATE_BUCKET: &str = "LIAISON_MESSAGE_STATE";

/// How far a gateway's clock (which stamps message ids) and the NATS servers' (which stamp stored
/// entries) may disagree; a lookup reads the audit this long either side of a message's time.
pub const CLOCK_SKEW: Duration = Duration::from_secs(300);

/// Attempts at a compare-and-set update before giving up (other gateways updating the same state).
const UPDATE_ATTEMPTS: usize = 8;

fn unavailable(error: impl std::fmt::Display) -> BusError {
    BusError::Unavailable(format!("message records: {error}"))
}

/// Creates or updates the state bucket. States live as long as audit entries.
pub(super) async fn ensure_bucket(
    jetstream: &async_nats::jetstream::Context,
    replicas: usize,
    max_age: Duration,
) -> Result<(), BusError> {
    let description = "Liaison: reviews, corrections and purges of published messages";
    let spec = BucketSpec { bucket: STATE_BUCKET, description, history: 1, max_age, max_bytes: -1 };
    ensure_key_value(jetstream, spec, replicas).await
}

impl Bus {
    fn states(&self) -> Result<&kv::Store, BusError> {
        self.messages.as_ref().ok_or_else(|| unavailable("not opened on this connection"))
    }

    /// One message's record; `None` if no copy of it was ever stored or it was purged.
    pub async fn message_record(&self, message_id: &str) -> Result<Option<MessageRecord>, BusError> {
        let Some(at) = published_at(message_id) else { return Ok(None) };
        let skew = time::Duration::try_from(CLOCK_SKEW).unwrap_or(time::Duration::ZERO);
        // A made-up id near the end of time has no bound past it: read to the end rather than overflow.
        let mut entries = self.read_audit(at.checked_sub(skew), at.checked_add(skew)).await?;
        let mut records = Vec::new();
        while let Some(entry) = entries.next().await {
            records.extend(entry?.records.into_iter().filter(|record| record.message_id == message_id));
        }
        let Some(mut record) = records_from_audit(&records).remove(message_id) else { return Ok(None) };
        if let Some((state, _)) = self.message_state(message_id).await? {
            record.state = state;
        }
        Ok(record.state.purged_at.is_none().then_some(record))
    }

    /// Reads the records of the messages published since `since`, a few at a time and without their state
    /// ([`MessageRecords::next`]), so a read of months of messages holds one audit entry at a time.
    pub async fn read_message_records(&self, since: OffsetDateTime) -> Result<MessageRecords, BusError> {
        let skew = time::Duration::try_from(CLOCK_SKEW).unwrap_or(time::Duration::ZERO);
        let entries = self.read_audit(since.checked_sub(skew), None).await?;
        Ok(MessageRecords { entries, since })
    }

    /// A message's state, if anything happened to it since it was published.
    pub async fn message_state_of(&self, message_id: &str) -> Result<Option<MessageState>, BusError> {
        Ok(self.message_state(message_id).await?.map(|(state, _)| state))
    }

    /// Changes a message's state with `change` (from the default when it has none), retrying when another
    /// gateway changed it first. `change` may run more than once.
    pub async fn update_message_state(
        &self,
        message_id: &str,
        change: impl Fn(&mut MessageState),
    ) -> Result<MessageState, BusError> {
        let states = self.states()?;
        for _ in 0..UPDATE_ATTEMPTS {
            let current = self.message_state(message_id).await?;
            let mut state = current.as_ref().map(|(state, _)| state.clone()).unwrap_or_default();
            change(&mut state);
            let value: bytes::Bytes = serde_json::to_vec(&state).map_err(unavailable)?.into();
            let written = match current {
                Some((_, revision)) => states.update(message_id, value, revision).await.map_err(|error| {
                    (error.kind() == UpdateErrorKind::WrongLastRevision).then_some(()).ok_or_else(|| unavailable(error))
                }),
                None => states.create(message_id, value).await.map_err(|error| {
                    (error.kind() == kv::CreateErrorKind::AlreadyExists).then_some(()).ok_or_else(|| unavailable(error))
                }),
            };
            match written {
                Ok(_) => return Ok(state),
                Err(Ok(())) => continue,
                Err(Err(error)) => return Err(error),
            }
        }
        Err(unavailable(format!("the state of {message_id} kept changing under {UPDATE_ATTEMPTS} updates")))
    }

    async fn message_state(&self, message_id: &str) -> Result<Option<(MessageState, u64)>, BusError> {
        if ulid::Ulid::from_string(message_id).is_err() {
            return Ok(None);
        }
        let entry = self.states()?.entry(message_id).await.map_err(unavailable)?;
        let Some(entry) = entry.filter(|entry| entry.operation == Operation::Put) else { return Ok(None) };
        let state = serde_json::from_slice(&entry.value).map_err(unavailable)?;
        Ok(Some((state, entry.revision)))
    }

    /// Erases every stored copy of a message: its feed copies, found on their subjects from shortly
    /// before it was published on (JetStream overwrites the data), and any dead letter made from them.
    /// `is_copy` tells from a payload whether it is a copy of this message (copies carry the message id
    /// only in their payload, which only the gRPC layer reads). Copies already gone are not an error.
    /// Returns how many were removed.
    pub async fn erase_copies(&self, record: &MessageRecord, is_copy: impl Fn(&[u8]) -> bool) -> Result<u32, BusError> {
        let mut subjects: Vec<String> = record.copies.iter().map(|copy| copy.subject.clone()).collect();
        subjects.sort();
        subjects.dedup();
        let feed = self.jetstream.get_stream_no_info(FEED_STREAM).await.map_err(unavailable)?;
        let skew = time::Duration::try_from(CLOCK_SKEW).unwrap_or(time::Duration::ZERO);
        let config = consumer::pull::OrderedConfig {
            filter_subjects: subjects,
            deliver_policy: match record.published_at.checked_sub(skew) {
                Some(start_time) => DeliverPolicy::ByStartTime { start_time },
                None => DeliverPolicy::All,
            },
            ..Default::default()
        };
        let mut reader = feed.create_consumer(config).await.map_err(unavailable)?;
        let mut sequences = Vec::new();
        if reader.info().await.map_err(unavailable)?.num_pending > 0 {
            let mut messages = reader.messages().await.map_err(unavailable)?;
            loop {
                let message = next_of(&mut messages, "feed").await?;
                let info = message.info().map_err(unavailable)?;
                if is_copy(&message.payload) {
                    sequences.push(info.stream_sequence);
                }
                if info.pending == 0 {
                    break;
                }
            }
        }
        let mut removed = 0;
        for sequence in sequences {
            match feed.delete_message(sequence).await {
                Ok(true) => removed += 1,
                Ok(false) => {}
                // Expired meanwhile, or removed by an earlier try of this purge.
                Err(error) if no_such_message(&error.kind()) => {}
                Err(error) => return Err(unavailable(format!("erasing feed sequence {sequence}: {error}"))),
            }
        }
        for recipient in record.recipients() {
            let Ok(party) = PartyId::parse(recipient) else { continue };
            let (dead, _) = self.dead_letters(Some(&party), usize::MAX).await?;
            for letter in dead.iter().filter(|letter| letter.message_id == record.message_id) {
                if self.erase_dead_letter(letter.sequence).await? {
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

/// A read of message records in the order they were published (their audit entries' order).
pub struct MessageRecords {
    entries: super::AuditReader,
    since: OffsetDateTime,
}

impl MessageRecords {
    /// The next audit entry's message records (of messages published since the read's `since`, states left
    /// default) and how many audit records the entry held; `None` at the end of the read. One publish's
    /// records are appended together and so sealed into one entry: a message's record is whole within it.
    pub async fn next(&mut self) -> Option<Result<(usize, Vec<MessageRecord>), BusError>> {
        let entry = match self.entries.next().await? {
            Ok(entry) => entry,
            Err(error) => return Some(Err(error)),
        };
        let approvals = entry.records.iter().filter(|record| record.event == Event::Approved);
        let records = records_from_audit(approvals).into_values().filter(|record| record.published_at >= self.since);
        Some(Ok((entry.records.len(), records.collect())))
    }
}

/// The next item of a read that should have one (the server said more are pending), within ten seconds.
async fn next_of<T, E: std::fmt::Display>(
    items: &mut (impl futures::Stream<Item = Result<T, E>> + Unpin),
    what: &str,
) -> Result<T, BusError> {
    tokio::time::timeout(Duration::from_secs(10), items.next())
        .await
        .map_err(|_| BusError::Timeout)?
        .ok_or_else(|| unavailable(format!("the {what} read ended early")))?
        .map_err(unavailable)
}

pub(super) fn no_such_message(kind: &async_nats::jetstream::stream::DeleteMessageErrorKind) -> bool {
    use async_nats::jetstream::{ErrorCode, stream::DeleteMessageErrorKind};
    matches!(kind, DeleteMessageErrorKind::JetStream(error) if error.error_code() == ErrorCode::NO_MESSAGE_FOUND)
}
