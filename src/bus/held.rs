//! Copies held for foreign-disclosure review, in the KV bucket `LIAISON_HELD`, keyed
//! `<message id>.<recipient>`: written once when the router holds a copy, removed when a disclosure
//! officer decides or the hold expires. Removal goes by revision, so of two gateways deciding (or
//! sweeping) the same item only one acts on it. Items survive gateway restarts; the bucket has a size
//! limit, at which new holds are refused.

use async_nats::jetstream::kv::{self, Operation};
use futures::StreamExt;

use super::provision::{BucketSpec, ensure_key_value};
use super::{Bus, BusError};
use crate::disclosure::HeldItem;

/// The KV bucket of held copies.
pub const HELD_BUCKET: &str = "LIAISON_HELD";

/// Most bytes the bucket may hold: past it, new holds are refused (the publish reports it) and every
/// waiting item stays.
pub const HELD_MAX_BYTES: i64 = 1 << 30;

fn unavailable(error: impl std::fmt::Display) -> BusError {
    BusError::Unavailable(format!("held copies: {error}"))
}

/// Creates or updates the bucket. Items are removed by decision or expiry, not by age.
pub(super) async fn ensure_bucket(jetstream: &async_nats::jetstream::Context, replicas: usize) -> Result<(), BusError> {
    let description = "Liaison: copies held for foreign-disclosure review (RELIDO)";
    let spec = BucketSpec {
        bucket: HELD_BUCKET,
        description,
        history: 1,
        max_age: std::time::Duration::ZERO,
        max_bytes: HELD_MAX_BYTES,
    };
    ensure_key_value(jetstream, spec, replicas).await
}

/// A held item as read, with the revision its removal must match.
#[derive(Debug, Clone)]
pub struct HeldEntry {
    pub item: HeldItem,
    pub revision: u64,
}

impl Bus {
    fn held_bucket(&self) -> Result<&kv::Store, BusError> {
        self.held.as_ref().ok_or_else(|| unavailable("not opened on this connection"))
    }

    /// Keeps a held copy; holding the same copy again (a retried publish) leaves the first.
    pub async fn hold(&self, item: &HeldItem) -> Result<(), BusError> {
        let value: bytes::Bytes = serde_json::to_vec(item).map_err(unavailable)?.into();
        match self.held_bucket()?.create(item.key(), value).await {
            Ok(_) => Ok(()),
            Err(error) if error.kind() == kv::CreateErrorKind::AlreadyExists => Ok(()),
            Err(error) => Err(unavailable(error)),
        }
    }

    /// One held item, if it is still waiting.
    pub async fn held(&self, message_id: &str, recipient: &str) -> Result<Option<HeldEntry>, BusError> {
        let key = HeldItem::key_of(message_id, recipient);
        if !valid_key(&key) {
            return Ok(None);
        }
        let entry = self.held_bucket()?.entry(key).await.map_err(unavailable)?;
        let Some(entry) = entry.filter(|entry| entry.operation == Operation::Put) else { return Ok(None) };
        let item = serde_json::from_slice(&entry.value).map_err(unavailable)?;
        Ok(Some(HeldEntry { item, revision: entry.revision }))
    }

    /// Every waiting item (`limit` at most), in key order: message ids are ULIDs, so oldest first.
    pub async fn held_items(&self, limit: usize) -> Result<Vec<HeldEntry>, BusError> {
        let bucket = self.held_bucket()?;
        let mut keys: Vec<String> = match bucket.keys().await {
            Ok(keys) => keys.filter_map(|key| async move { key.ok() }).collect().await,
            Err(error) => return Err(unavailable(error)),
        };
        keys.sort_unstable();
        let mut entries = Vec::new();
        for key in keys {
            if entries.len() >= limit {
                break;
            }
            let Some(entry) = bucket.entry(&key).await.map_err(unavailable)? else { continue };
            if entry.operation != Operation::Put {
                continue;
            }
            let item = serde_json::from_slice(&entry.value).map_err(unavailable)?;
            entries.push(HeldEntry { item, revision: entry.revision });
        }
        Ok(entries)
    }

    /// Removes a held item if it is still the one read; `false` when another gateway removed or changed it
    /// first.
    pub async fn release_hold(&self, entry: &HeldEntry) -> Result<bool, BusError> {
        match self.held_bucket()?.purge_expect_revision(entry.item.key(), Some(entry.revision)).await {
            Ok(()) => Ok(true),
            Err(error) if error.kind() == kv::UpdateErrorKind::WrongLastRevision => Ok(false),
            Err(error) => Err(unavailable(error)),
        }
    }

    /// Removes every held copy of a message (a purge).
    pub async fn erase_holds(&self, message_id: &str) -> Result<u32, BusError> {
        let bucket = self.held_bucket()?;
        let prefix = format!("{message_id}.");
        let keys: Vec<String> = match bucket.keys().await {
            Ok(keys) => keys.filter_map(|key| async move { key.ok() }).collect().await,
            Err(error) => return Err(unavailable(error)),
        };
        let mut erased = 0;
        for key in keys.into_iter().filter(|key| key.starts_with(&prefix)) {
            bucket.purge(&key).await.map_err(unavailable)?;
            erased += 1;
        }
        Ok(erased)
    }
}

/// A key a client can name: a ULID, a dot, a party token.
fn valid_key(key: &str) -> bool {
    key.split_once('.')
        .is_some_and(|(id, party)| ulid::Ulid::from_string(id).is_ok() && crate::model::PartyId::parse(party).is_ok())
}
