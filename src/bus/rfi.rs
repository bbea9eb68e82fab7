//! RFI records in the KV bucket `LIAISON_RFI`, one key per RFI (its message id, a ULID), a JSON
//! `rfi::RfiRecord`. Created once when an RFI's copy is stored for its action party; every later
//! transition is written with the revision it was decided on (compare and set), so of two gateways or
//! callers moving one RFI at once only one succeeds and the other decides again on what it finds. Records
//! survive gateway restarts; the bucket is bounded in bytes and keeps a record for a year and a month
//! after its last change.

use std::time::Duration;

use async_nats::jetstream::kv::{self, Operation};
use futures::StreamExt;

use super::provision::{BucketSpec, ensure_key_value};
use super::{Bus, BusError};
use crate::rfi::RfiRecord;

/// The KV bucket of RFI records.
pub const RFI_BUCKET: &str = "LIAISON_RFI";

/// Most bytes the bucket may hold: past it new RFIs are not recorded (the publish says so).
pub const RFI_MAX_BYTES: i64 = 256 << 20;

/// How long a record is kept after its last change: longer than the latest due time (a year), so an open
/// RFI is expired (a change) before it could age out.
pub const RFI_MAX_AGE: Duration = Duration::from_secs(395 * 86_400);

fn unavailable(error: impl std::fmt::Display) -> BusError {
    BusError::Unavailable(format!("RFI records: {error}"))
}

/// Creates or updates the bucket.
pub(super) async fn ensure_bucket(jetstream: &async_nats::jetstream::Context, replicas: usize) -> Result<(), BusError> {
    let spec = BucketSpec {
        bucket: RFI_BUCKET,
        description: "Liaison: requests for information and where each stands",
        history: 1,
        max_age: RFI_MAX_AGE,
        max_bytes: RFI_MAX_BYTES,
    };
    ensure_key_value(jetstream, spec, replicas).await
}

/// A record as read, with the revision a change must match.
#[derive(Debug, Clone)]
pub struct RfiEntry {
    pub record: RfiRecord,
    pub revision: u64,
}

/// What one listing read.
#[derive(Debug, Clone, Default)]
pub struct RfiListing {
    pub entries: Vec<RfiEntry>,
    /// More records were there than the listing read.
    pub truncated: bool,
}

impl Bus {
    fn rfi_bucket(&self) -> Result<&kv::Store, BusError> {
        self.rfis.as_ref().ok_or_else(|| unavailable("not opened on this connection"))
    }

    /// Records a new RFI; recording it again (a retried publish) leaves the first.
    pub async fn create_rfi(&self, record: &RfiRecord) -> Result<(), BusError> {
        let value: bytes::Bytes = serde_json::to_vec(record).map_err(unavailable)?.into();
        match self.rfi_bucket()?.create(&record.id, value).await {
            Ok(_) => Ok(()),
            Err(error) if error.kind() == kv::CreateErrorKind::AlreadyExists => Ok(()),
            Err(error) => Err(unavailable(error)),
        }
    }

    /// One RFI, if recorded.
    pub async fn rfi(&self, id: &str) -> Result<Option<RfiEntry>, BusError> {
        if ulid::Ulid::from_string(id).is_err() {
            return Ok(None);
        }
        let entry = self.rfi_bucket()?.entry(id).await.map_err(unavailable)?;
        let Some(entry) = entry.filter(|entry| entry.operation == Operation::Put) else { return Ok(None) };
        let record = serde_json::from_slice(&entry.value).map_err(unavailable)?;
        Ok(Some(RfiEntry { record, revision: entry.revision }))
    }

    /// Writes `record` if its key is still at `revision`; `None` when another change came first.
    pub async fn update_rfi(&self, record: &RfiRecord, revision: u64) -> Result<Option<u64>, BusError> {
        let value: bytes::Bytes = serde_json::to_vec(record).map_err(unavailable)?.into();
        match self.rfi_bucket()?.update(&record.id, value, revision).await {
            Ok(revision) => Ok(Some(revision)),
            Err(error) if error.kind() == kv::UpdateErrorKind::WrongLastRevision => Ok(None),
            Err(error) => Err(unavailable(error)),
        }
    }

    /// The newest records, at most `scan` of them read, newest first (ids are ULIDs).
    pub async fn rfis(&self, scan: usize) -> Result<RfiListing, BusError> {
        let bucket = self.rfi_bucket()?;
        let mut keys: Vec<String> = match bucket.keys().await {
            Ok(keys) => keys.filter_map(|key| async move { key.ok() }).collect().await,
            Err(error) => return Err(unavailable(error)),
        };
        keys.sort_unstable_by(|a, b| b.cmp(a));
        let truncated = keys.len() > scan;
        keys.truncate(scan);
        let mut entries = Vec::with_capacity(keys.len());
        for key in keys {
            let Some(entry) = bucket.entry(&key).await.map_err(unavailable)? else { continue };
            if entry.operation != Operation::Put {
                continue;
            }
            let record = serde_json::from_slice(&entry.value).map_err(unavailable)?;
            entries.push(RfiEntry { record, revision: entry.revision });
        }
        Ok(RfiListing { entries, truncated })
    }
}
