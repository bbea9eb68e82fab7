//! The registry of audit chains: the KV bucket `LIAISON_AUDIT_CHAINS`, one key per chain (its id), whose
//! value is the chain's last known length, head hash and time ([`KnownChain`]). A gateway updates its key
//! at start, at every checkpoint interval and at shutdown; `liaison audit verify` reads every key and
//! reports a registered chain the stream no longer holds (or holds fewer entries of).

use super::provision::{BucketSpec, ensure_key_value};
use async_nats::jetstream::{self, kv};

use super::{Bus, BusError};
use crate::audit::continuity::KnownChain;

/// The KV bucket of chain lengths.
pub const CHAINS_BUCKET: &str = "LIAISON_AUDIT_CHAINS";

fn unavailable(error: impl std::fmt::Display) -> BusError {
    BusError::Unavailable(format!("audit chain registry {CHAINS_BUCKET}: {error}"))
}

/// Creates or updates the registry bucket (provisioning). One value per chain; kept as long as the audit.
pub(super) async fn ensure_bucket(
    jetstream: &jetstream::Context,
    replicas: usize,
    max_age: std::time::Duration,
) -> Result<(), BusError> {
    let description = "Liaison: every gateway's audit chain and its last known length";
    let spec = BucketSpec { bucket: CHAINS_BUCKET, description, history: 1, max_age, max_bytes: -1 };
    ensure_key_value(jetstream, spec, replicas).await
}

/// A handle on the registry for one gateway's chain writer.
#[derive(Clone)]
pub struct ChainRegistry(kv::Store);

impl ChainRegistry {
    /// Records `known` as its chain's length.
    pub async fn register(&self, known: &KnownChain) -> Result<(), BusError> {
        let value = serde_json::to_vec(known).map_err(unavailable)?;
        self.0.put(&known.chain, value.into()).await.map(drop).map_err(unavailable)
    }

    /// What the registry knows of `chain`; `None` if it was never registered. A value that does not parse
    /// is an error: it must not silently stop the check at start.
    pub async fn get(&self, chain: &str) -> Result<Option<KnownChain>, BusError> {
        // Read at start-up, possibly just after the bucket was created: retried until its stream answers.
        match super::connect::retry_timeouts(|| self.0.get(chain)).await.map_err(unavailable)? {
            None => Ok(None),
            Some(value) => serde_json::from_slice(&value).map(Some).map_err(unavailable),
        }
    }
}

impl Bus {
    /// The registry of audit chains; `None` where the bucket does not exist (a deployment provisioned
    /// before it, or one whose registry was deleted).
    pub async fn chain_registry(&self) -> Result<Option<ChainRegistry>, BusError> {
        if !self.stream_exists(&format!("KV_{CHAINS_BUCKET}")).await? {
            return Ok(None);
        }
        self.jetstream.get_key_value(CHAINS_BUCKET).await.map(|store| Some(ChainRegistry(store))).map_err(unavailable)
    }

    /// Whether the stream `name` exists (an error is anything but "not found").
    pub(super) async fn stream_exists(&self, name: &str) -> Result<bool, BusError> {
        use jetstream::context::GetStreamErrorKind;
        match self.jetstream.get_stream(name).await {
            Ok(_) => Ok(true),
            Err(error) => match error.kind() {
                GetStreamErrorKind::JetStream(inner)
                    if inner.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND =>
                {
                    Ok(false)
                }
                _ => Err(unavailable(error)),
            },
        }
    }

    /// Every registered chain, by id (what `liaison audit verify` expects to find). Values that do not
    /// parse are left out with a warning.
    pub async fn registered_chains(&self) -> Result<Vec<KnownChain>, BusError> {
        use futures::StreamExt;
        let Some(ChainRegistry(store)) = self.chain_registry().await? else { return Ok(Vec::new()) };
        let mut keys = store.keys().await.map_err(unavailable)?;
        let mut chains = Vec::new();
        while let Some(key) = keys.next().await {
            let key = key.map_err(unavailable)?;
            let Some(value) = store.get(&key).await.map_err(unavailable)? else { continue };
            match serde_json::from_slice::<KnownChain>(&value) {
                Ok(known) => chains.push(known),
                Err(error) => tracing::warn!(chain = %key, %error, "unreadable entry in {CHAINS_BUCKET}"),
            }
        }
        chains.sort_by(|a, b| a.chain.cmp(&b.chain));
        Ok(chains)
    }
}
