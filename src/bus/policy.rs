//! The shared policy: the directory and routing policy of every gateway, versioned in the KV bucket
//! `LIAISON_POLICY` under one key, so both texts change together. Each put is a revision; the bucket keeps
//! the last [`POLICY_HISTORY`] for `liaison policy history` and `rollback`.

use super::provision::{BucketSpec, ensure_key_value};
use async_nats::jetstream::kv::{self, CreateErrorKind, Operation, UpdateErrorKind};
use futures::{Stream, StreamExt};
use std::time::Duration;

use super::{Bus, BusError};
use crate::policy_store::PolicyDocument;

/// The KV bucket of the shared policy.
pub const POLICY_BUCKET: &str = "LIAISON_POLICY";
/// The one key: the directory and policy in force.
const KEY: &str = "current";
/// Revisions kept (the most a KV bucket keeps per key).
pub const POLICY_HISTORY: i64 = 64;

/// The policy bucket, created by provisioning and opened by a gateway.
#[derive(Clone)]
pub struct PolicyBucket {
    store: kv::Store,
}

/// One stored revision of the policy.
#[derive(Debug, Clone)]
pub struct PolicyRevision {
    pub revision: u64,
    pub document: PolicyDocument,
}

/// Why a policy could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("the policy changed meanwhile (now revision {current}); read it again and retry")]
    Conflict { current: u64 },
    #[error(transparent)]
    Bus(#[from] BusError),
}

fn unavailable(error: impl std::fmt::Display) -> BusError {
    BusError::Unavailable(format!("policy bucket: {error}"))
}

/// Creates or updates the policy bucket (provisioning).
pub(super) async fn ensure_bucket(jetstream: &async_nats::jetstream::Context, replicas: usize) -> Result<(), BusError> {
    let description = "Liaison: the party directory and routing policy shared by every gateway";
    let spec = BucketSpec {
        bucket: POLICY_BUCKET,
        description,
        history: POLICY_HISTORY,
        max_age: Duration::ZERO,
        max_bytes: -1,
    };
    ensure_key_value(jetstream, spec, replicas).await
}

impl Bus {
    /// Opens the policy bucket (provisioning created it).
    pub async fn policy_bucket(&self) -> Result<PolicyBucket, BusError> {
        let store = super::connect::open_bucket(&self.jetstream, POLICY_BUCKET).await?;
        Ok(PolicyBucket { store })
    }
}

impl PolicyBucket {
    /// The policy in force, if any has been stored.
    pub async fn current(&self) -> Result<Option<PolicyRevision>, BusError> {
        let entry = self.store.entry(KEY).await.map_err(unavailable)?;
        entry.filter(|entry| entry.operation == Operation::Put).map(revision).transpose()
    }

    /// Stores `document` as the first revision unless one exists; `false` if another gateway was first.
    pub async fn seed(&self, document: &PolicyDocument) -> Result<bool, BusError> {
        match self.store.create(KEY, encode(document)?.into()).await {
            Ok(_) => Ok(true),
            Err(error) if error.kind() == CreateErrorKind::AlreadyExists => Ok(false),
            Err(error) => Err(unavailable(error)),
        }
    }

    /// Stores a new revision. With `expected`, only if the revision in force is still that one.
    pub async fn apply(&self, document: &PolicyDocument, expected: Option<u64>) -> Result<u64, ApplyError> {
        let value = encode(document)?;
        let Some(expected) = expected else {
            return Ok(self.store.put(KEY, value.into()).await.map_err(unavailable)?);
        };
        match self.store.update(KEY, value.into(), expected).await {
            Ok(revision) => Ok(revision),
            Err(error) if error.kind() == UpdateErrorKind::WrongLastRevision => {
                let current = self.current().await?.map_or(0, |current| current.revision);
                Err(ApplyError::Conflict { current })
            }
            Err(error) => Err(unavailable(error).into()),
        }
    }

    /// Every revision still kept, oldest first.
    pub async fn history(&self) -> Result<Vec<PolicyRevision>, BusError> {
        let mut entries = self.store.history(KEY).await.map_err(unavailable)?;
        let mut revisions = Vec::new();
        while let Some(entry) = entries.next().await {
            let entry = entry.map_err(unavailable)?;
            let last = entry.delta == 0;
            if entry.operation == Operation::Put {
                revisions.push(revision(entry)?);
            }
            if last {
                break;
            }
        }
        Ok(revisions)
    }

    /// One kept revision.
    pub async fn revision(&self, revision_number: u64) -> Result<Option<PolicyRevision>, BusError> {
        let entry = self.store.entry_for_revision(KEY, revision_number).await.map_err(unavailable)?;
        entry.filter(|entry| entry.operation == Operation::Put).map(revision).transpose()
    }

    /// The revision in force, then every later one as it is stored. Ends if the watch breaks; the caller
    /// watches again.
    pub async fn watch(&self) -> Result<impl Stream<Item = Result<PolicyRevision, BusError>> + use<>, BusError> {
        let entries = self.store.watch_with_history(KEY).await.map_err(unavailable)?;
        Ok(entries.filter_map(|entry| {
            std::future::ready(match entry {
                Ok(entry) if entry.operation == Operation::Put => Some(revision(entry)),
                Ok(_) => None,
                Err(error) => Some(Err(unavailable(error))),
            })
        }))
    }
}

fn encode(document: &PolicyDocument) -> Result<Vec<u8>, BusError> {
    serde_json::to_vec(document).map_err(unavailable)
}

fn revision(entry: kv::Entry) -> Result<PolicyRevision, BusError> {
    let document = serde_json::from_slice(&entry.value)
        .map_err(|error| unavailable(format!("revision {} is not a policy document: {error}", entry.revision)))?;
    Ok(PolicyRevision { revision: entry.revision, document })
}
