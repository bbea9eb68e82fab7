//! The message index: one [`MessageRecord`] per published message in the KV bucket `LIAISON_MESSAGES`,
//! keyed by message id. Metadata only (origin, kind, topic, where each copy is stored, reviews), read by
//! retention review, purges and corrections. Shared by every gateway, like everything else in JetStream.

use std::time::Duration;

use async_nats::jetstream::kv::{self, Operation, UpdateErrorKind};
use futures::StreamExt;

use super::subjects::FEED_STREAM;
use super::{Bus, BusError};
use crate::model::PartyId;
use crate::retention::MessageRecord;

/// The KV bucket of message records.
pub const MESSAGES_BUCKET: &str = "LIAISON_MESSAGES";

/// Attempts at a compare-and-set update before giving up (other gateways updating the same record).
const UPDATE_ATTEMPTS: usize = 8;

fn unavailable(error: impl std::fmt::Display) -> BusError {
    BusError::Unavailable(format!("message index: {error}"))
}

/// Creates or updates the bucket. Records live as long as audit entries; a revalidation rewrites the
/// record, so its age starts again.
pub(super) async fn ensure_bucket(
    jetstream: &async_nats::jetstream::Context,
    replicas: usize,
    max_age: Duration,
) -> Result<(), BusError> {
    super::connect::retry_timeouts(|| {
        jetstream.create_or_update_key_value(kv::Config {
            bucket: MESSAGES_BUCKET.to_string(),
            description: "Liaison: one record per published message, for review, purge and corrections".into(),
            history: 1,
            max_age,
            num_replicas: replicas,
            storage: async_nats::jetstream::stream::StorageType::File,
            ..Default::default()
        })
    })
    .await
    .map(drop)
    .map_err(|error| BusError::Setup(format!("bucket {MESSAGES_BUCKET}: {error}")))
}

impl Bus {
    fn message_index(&self) -> Result<&kv::Store, BusError> {
        self.messages.as_ref().ok_or_else(|| unavailable("not opened on this connection"))
    }

    /// Stores a new message's record.
    pub async fn record_message(&self, record: &MessageRecord) -> Result<(), BusError> {
        let value = serde_json::to_vec(record).map_err(unavailable)?;
        self.message_index()?.put(&record.message_id, value.into()).await.map_err(unavailable)?;
        Ok(())
    }

    /// One message's record, if it is on record (never purged).
    pub async fn message_record(&self, message_id: &str) -> Result<Option<MessageRecord>, BusError> {
        Ok(self.message_entry(message_id).await?.map(|(record, _)| record))
    }

    async fn message_entry(&self, message_id: &str) -> Result<Option<(MessageRecord, u64)>, BusError> {
        if kv_key_invalid(message_id) {
            return Ok(None);
        }
        let entry = self.message_index()?.entry(message_id).await.map_err(unavailable)?;
        let Some(entry) = entry.filter(|entry| entry.operation == Operation::Put) else {
            return Ok(None);
        };
        let record = serde_json::from_slice(&entry.value).map_err(unavailable)?;
        Ok(Some((record, entry.revision)))
    }

    /// Changes a record with `change`, retrying when another gateway changed it first; `None` when the
    /// message is not on record. `change` may run more than once.
    pub async fn update_message_record(
        &self,
        message_id: &str,
        change: impl Fn(&mut MessageRecord),
    ) -> Result<Option<MessageRecord>, BusError> {
        for _ in 0..UPDATE_ATTEMPTS {
            let Some((mut record, revision)) = self.message_entry(message_id).await? else {
                return Ok(None);
            };
            change(&mut record);
            let value = serde_json::to_vec(&record).map_err(unavailable)?;
            match self.message_index()?.update(message_id, value.into(), revision).await {
                Ok(_) => return Ok(Some(record)),
                Err(error) if error.kind() == UpdateErrorKind::WrongLastRevision => continue,
                Err(error) => return Err(unavailable(error)),
            }
        }
        Err(unavailable(format!("record {message_id} kept changing under {UPDATE_ATTEMPTS} updates")))
    }

    /// Adds copies to a record, creating it if there is none (a retried publish whose first attempt was
    /// stored but not indexed).
    pub async fn merge_message_record(&self, record: &MessageRecord) -> Result<(), BusError> {
        let merged = self
            .update_message_record(&record.message_id, |existing| {
                for copy in &record.copies {
                    if !existing.copies.contains(copy) {
                        existing.copies.push(copy.clone());
                    }
                }
            })
            .await?;
        match merged {
            Some(_) => Ok(()),
            None => self.record_message(record).await,
        }
    }

    /// Every record on file.
    pub async fn message_records(&self) -> Result<Vec<MessageRecord>, BusError> {
        let index = self.message_index()?;
        // Fresh counts: the store's own status is the one cached when it was opened.
        let mut stream = self.jetstream.get_stream(format!("KV_{MESSAGES_BUCKET}")).await.map_err(unavailable)?;
        let stored = stream.info().await.map_err(unavailable)?.state.messages;
        let mut records = Vec::with_capacity(usize::try_from(stored).unwrap_or(0));
        if stored == 0 {
            return Ok(records);
        }
        let mut entries = index.watch_with_history(">").await.map_err(unavailable)?;
        loop {
            let entry = tokio::time::timeout(Duration::from_secs(10), entries.next())
                .await
                .map_err(|_| BusError::Timeout)?
                .ok_or_else(|| unavailable("the index watch ended early"))?
                .map_err(unavailable)?;
            if entry.operation == Operation::Put {
                match serde_json::from_slice(&entry.value) {
                    Ok(record) => records.push(record),
                    Err(error) => tracing::warn!(key = %entry.key, %error, "unreadable message record skipped"),
                }
            }
            if entry.delta == 0 {
                return Ok(records);
            }
        }
    }

    /// Removes the record (after a purge).
    pub async fn forget_message(&self, message_id: &str) -> Result<(), BusError> {
        self.message_index()?.purge(message_id).await.map_err(unavailable)
    }

    /// Erases every stored copy of a message: its feed copies (by sequence; JetStream overwrites the
    /// data) and any dead letter made from them. Copies already gone are not an error. Returns how many
    /// were removed.
    pub async fn erase_copies(&self, record: &MessageRecord) -> Result<u32, BusError> {
        let feed = self.jetstream.get_stream_no_info(FEED_STREAM).await.map_err(unavailable)?;
        let mut removed = 0;
        for copy in &record.copies {
            match feed.delete_message(copy.sequence).await {
                Ok(true) => removed += 1,
                Ok(false) => {}
                // Expired, or removed by an earlier try of this purge.
                Err(error) if no_such_message(&error.kind()) => {}
                Err(error) => return Err(unavailable(format!("erasing feed sequence {}: {error}", copy.sequence))),
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

pub(super) fn no_such_message(kind: &async_nats::jetstream::stream::DeleteMessageErrorKind) -> bool {
    use async_nats::jetstream::{ErrorCode, stream::DeleteMessageErrorKind};
    matches!(kind, DeleteMessageErrorKind::JetStream(error) if error.error_code() == ErrorCode::NO_MESSAGE_FOUND)
}

/// Keys a KV bucket cannot hold; no message id is one.
fn kv_key_invalid(key: &str) -> bool {
    key.is_empty() || !key.bytes().all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'='))
}
