//! Token revocations in the KV bucket `LIAISON_REVOCATIONS`, shared by every gateway: one key per
//! revocation, `jti.<ulid>` for a token id and `sub.<party or _any>.<hex of the subject>` for a subject
//! (hex keeps any subject safe as a NATS subject token). The bucket's entries age out after the longest
//! token lifetime, when no token they could match is still in force.
//!
//! A gateway reads the whole bucket before it serves (it does not start if it cannot: no token is accepted
//! without knowing what is revoked), then follows the bucket's watch into its `Revocations`, watching
//! again from where it stopped whenever the watch breaks.

use super::provision::{BucketSpec, ensure_key_value};
use std::time::Duration;

use async_nats::jetstream::kv::{self, Operation};
use futures::{StreamExt, TryStreamExt};

use super::{Bus, BusError};
use crate::identity::{Revocation, RevocationTarget, Revocations};
use crate::model::Token;

/// The KV bucket of token revocations.
pub const REVOCATIONS_BUCKET: &str = "LIAISON_REVOCATIONS";

/// Key segment of a subject revocation that applies to every party (`_` never occurs in a party).
const ANY_PARTY: &str = "_any";

/// Longest subject accepted in a revocation (its key holds twice as many hex digits).
pub const MAX_REVOKED_SUBJECT: usize = 256;

/// Pause before watching again after the watch broke.
const REWATCH_DELAY: Duration = Duration::from_millis(250);

/// The revocations bucket, opened.
#[derive(Clone)]
pub struct RevocationBucket {
    store: kv::Store,
}

/// A revocation as stored (JSON).
#[derive(serde::Serialize, serde::Deserialize)]
struct Stored {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    jti: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    party: Option<String>,
    revoked_at: u64,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    revoked_by: String,
}

fn unavailable(error: impl std::fmt::Display) -> BusError {
    BusError::Unavailable(format!("revocations bucket: {error}"))
}

/// Creates or updates the bucket; entries are kept for `max_age` (the longest token lifetime plus the
/// clock leeway). A bucket kept longer (another gateway with a longer cap) is not shortened.
pub(super) async fn ensure_bucket(
    jetstream: &async_nats::jetstream::Context,
    replicas: usize,
    max_age: Duration,
) -> Result<(), BusError> {
    let existing = match jetstream.get_key_value(REVOCATIONS_BUCKET).await {
        Ok(store) => store.status().await.ok().map(|status| status.info.config.max_age),
        Err(_) => None,
    };
    let max_age = match existing {
        Some(existing) if existing.is_zero() || max_age.is_zero() => Duration::ZERO,
        Some(existing) => existing.max(max_age),
        None => max_age,
    };
    let description = "Liaison: revoked token ids and subjects";
    let spec = BucketSpec { bucket: REVOCATIONS_BUCKET, description, history: 1, max_age, max_bytes: -1 };
    ensure_key_value(jetstream, spec, replicas).await
}

/// The bucket key of a revocation target.
pub fn revocation_key(target: &RevocationTarget) -> String {
    match target {
        RevocationTarget::Token(jti) => format!("jti.{jti}"),
        RevocationTarget::Subject { party, subject } => {
            let party = party.as_ref().map_or(ANY_PARTY, |party| party.as_str());
            let hex: String = subject.bytes().map(|byte| format!("{byte:02x}")).collect();
            format!("sub.{party}.{hex}")
        }
    }
}

/// The target a bucket key names; `None` for a key Liaison does not write.
fn parse_key(key: &str) -> Option<RevocationTarget> {
    let mut parts = key.split('.');
    let target = match (parts.next(), parts.next(), parts.next()) {
        (Some("jti"), Some(jti), None) => RevocationTarget::Token(jti.to_string()),
        (Some("sub"), Some(party), Some(hex)) => {
            let party = match party {
                ANY_PARTY => None,
                party => Some(Token::parse(party).ok()?),
            };
            let bytes: Option<Vec<u8>> = (0..hex.len())
                .step_by(2)
                .map(|index| hex.get(index..index + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok()))
                .collect();
            RevocationTarget::Subject { party, subject: String::from_utf8(bytes?).ok()? }
        }
        _ => return None,
    };
    parts.next().is_none().then_some(target)
}

fn decode(entry: &kv::Entry) -> Result<Revocation, BusError> {
    let target = parse_key(&entry.key).ok_or_else(|| unavailable(format!("unknown key {:?}", entry.key)))?;
    let stored: Stored = serde_json::from_slice(&entry.value)
        .map_err(|error| unavailable(format!("key {:?} is not a revocation: {error}", entry.key)))?;
    Ok(Revocation { target, revoked_at: stored.revoked_at, reason: stored.reason, revoked_by: stored.revoked_by })
}

fn encode(revocation: &Revocation) -> Result<Vec<u8>, BusError> {
    let (jti, subject, party) = match &revocation.target {
        RevocationTarget::Token(jti) => (Some(jti.clone()), None, None),
        RevocationTarget::Subject { party, subject } => {
            (None, Some(subject.clone()), party.as_ref().map(|party| party.to_string()))
        }
    };
    let stored = Stored {
        jti,
        subject,
        party,
        revoked_at: revocation.revoked_at,
        reason: revocation.reason.clone(),
        revoked_by: revocation.revoked_by.clone(),
    };
    serde_json::to_vec(&stored).map_err(unavailable)
}

impl Bus {
    /// Opens the revocations bucket, which the provisioning step at start-up created.
    pub async fn revocation_bucket(&self) -> Result<RevocationBucket, BusError> {
        let store = super::connect::open_bucket(&self.jetstream, REVOCATIONS_BUCKET).await.map_err(|error| {
            BusError::Setup(format!("{error}; a gateway creates it when it starts (`liaison serve`)"))
        })?;
        Ok(RevocationBucket { store })
    }
}

impl RevocationBucket {
    /// Stores a revocation; every gateway watching honours it at once.
    pub async fn revoke(&self, revocation: &Revocation) -> Result<u64, BusError> {
        let key = revocation_key(&revocation.target);
        self.store.put(key, encode(revocation)?.into()).await.map_err(unavailable)
    }

    /// Every revocation still kept, in key order.
    pub async fn list(&self) -> Result<Vec<Revocation>, BusError> {
        let mut keys: Vec<String> =
            self.store.keys().await.map_err(unavailable)?.try_collect().await.map_err(unavailable)?;
        keys.sort();
        let mut revocations = Vec::new();
        for key in keys {
            if let Some(entry) = self.store.entry(&key).await.map_err(unavailable)?
                && entry.operation == Operation::Put
            {
                revocations.push(decode(&entry)?);
            }
        }
        Ok(revocations)
    }

    /// Reads every revocation into `revocations`; returns the bucket revision to follow from.
    pub async fn load(&self, revocations: &Revocations) -> Result<u64, BusError> {
        // The revision first: whatever is stored after it, the watch from it replays.
        let mut stream = self.store.stream.clone();
        let last = stream.info().await.map_err(unavailable)?.state.last_sequence;
        for revocation in self.list().await? {
            revocations.apply(&revocation);
        }
        Ok(last)
    }

    /// Follows the bucket into `revocations` from after `revision` until `stop`: each revocation is
    /// applied as it is stored, a deleted key forgotten, and revocations past `horizon` pruned. A broken
    /// watch is watched again from the last revision seen.
    pub async fn follow(
        self,
        revocations: Revocations,
        mut revision: u64,
        horizon: Duration,
        stop: tokio_util::sync::CancellationToken,
    ) {
        loop {
            let watched = async {
                let mut entries = self.store.watch_all_from_revision(revision + 1).await.map_err(unavailable)?;
                while let Some(entry) = entries.next().await {
                    let entry = entry.map_err(unavailable)?;
                    revision = revision.max(entry.revision);
                    apply(&revocations, &entry);
                    revocations.prune(unix_now(), horizon);
                }
                Ok::<(), BusError>(())
            };
            tokio::select! {
                () = stop.cancelled() => return,
                result = watched => match result {
                    Ok(()) => tracing::warn!("the revocations watch ended; watching again"),
                    Err(error) => tracing::warn!(%error, "watching the revocations failed; watching again"),
                },
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(REWATCH_DELAY) => {}
            }
        }
    }
}

/// Applies one watched entry: a put revokes, a delete or purge forgets.
fn apply(revocations: &Revocations, entry: &kv::Entry) {
    match entry.operation {
        Operation::Put => match decode(entry) {
            Ok(revocation) => {
                tracing::info!(key = %entry.key, "token revocation in force");
                revocations.apply(&revocation);
            }
            Err(error) => tracing::error!(%error, "unreadable revocation skipped"),
        },
        Operation::Delete | Operation::Purge => {
            if let Some(target) = parse_key(&entry.key) {
                revocations.remove(&target);
            }
        }
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|elapsed| elapsed.as_secs()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_nats_safe_and_parse_back() {
        let targets = [
            RevocationTarget::Token("01JABCDEFGHJKMNPQRSTVWXYZ0".into()),
            RevocationTarget::Subject { party: Some(Token::parse("cbp").unwrap()), subject: "alice.smith *>".into() },
            RevocationTarget::Subject { party: None, subject: "ünïcode".into() },
        ];
        for target in targets {
            let key = revocation_key(&target);
            assert!(key.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"._-".contains(&byte)), "{key}");
            assert_eq!(key.split('.').count(), if key.starts_with("jti.") { 2 } else { 3 }, "{key}");
            assert_eq!(parse_key(&key), Some(target));
        }
        assert_eq!(revocation_key(&RevocationTarget::Subject { party: None, subject: "a".into() }), "sub._any.61");
        for bad in ["jti", "jti.a.b", "sub.cbp", "sub.cbp.6", "sub.cbp.zz", "sub.CBP!.61", "other.x"] {
            assert_eq!(parse_key(bad), None, "{bad}");
        }
    }
}
