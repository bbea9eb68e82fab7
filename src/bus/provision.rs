//! Provisioning: creating or updating the Liaison streams and KV buckets, with the provisioning identity
//! on a connection of its own that is closed afterwards (`Bus::connect` at start-up, `liaison provision`),
//! and, for a gateway without that identity, checking that they exist.

use std::time::Duration;

use async_nats::jetstream::{self, stream};

use super::connect::{
    BusConfig, MESSAGE_TTL_SERVER, NatsAuth, StreamSettings, check_version, connect_with_retry, replicas_error,
    resolve_replicas, retry_timeouts, setup_context,
};
use super::subjects::{
    AUDIT_STREAM, DEAD_LETTER_STREAM, FEED_STREAM, audit_wildcard, dead_letter_wildcard, feed_wildcard,
};
use super::{Bus, BusError};

/// What provisioning set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provisioned {
    pub replicas: usize,
    pub cluster: Option<String>,
}

// === impl Bus ===

impl Bus {
    /// Creates or updates every stream and bucket as the provisioning identity `config.provision` (or,
    /// without one, `config.auth`), then closes that connection.
    pub async fn provision(config: &BusConfig) -> Result<Provisioned, BusError> {
        provision(config, config.provision.as_ref().unwrap_or(&config.auth)).await
    }
}

/// Provisions as `auth` on a connection of its own.
pub(super) async fn provision(config: &BusConfig, auth: &NatsAuth) -> Result<Provisioned, BusError> {
    let (client, _) = connect_with_retry(config, auth, "liaison-provision").await?;
    let info = client.server_info();
    let message_ttl = check_version(&info.version)? >= MESSAGE_TTL_SERVER;
    let settings =
        StreamSettings { replicas: resolve_replicas(config.stream.replicas, &info), ..config.stream.clone() };
    // Set-up requests get a short timeout: when several gateways create the same streams at once on a
    // fresh cluster, nats-server (2.15) can leave the racing requests unanswered, and the retry that
    // follows finds the stream in place.
    let setup = setup_context(&jetstream::new(client.clone()));
    let result = async {
        ensure_streams(&setup, &settings, message_ttl).await?;
        super::messages::ensure_bucket(&setup, settings.replicas, settings.audit_max_age).await?;
        super::policy::ensure_bucket(&setup, settings.replicas).await?;
        super::audit_chains::ensure_bucket(&setup, settings.replicas, settings.audit_max_age).await?;
        super::revocations::ensure_bucket(&setup, settings.replicas, settings.revocation_max_age).await?;
        super::held::ensure_bucket(&setup, settings.replicas).await?;
        super::speed::ensure_bucket(&setup, settings.replicas).await?;
        super::rfi::ensure_bucket(&setup, settings.replicas).await?;
        Ok::<_, BusError>(())
    }
    .await
    .map_err(|error| replicas_error(error, &settings, &info));
    // The provisioning credential is not kept open beyond set-up.
    if let Err(error) = client.drain().await {
        tracing::debug!(%error, "closing the provisioning connection");
    }
    result?;
    tracing::info!(replicas = settings.replicas, "streams and buckets provisioned");
    Ok(Provisioned { replicas: settings.replicas, cluster: info.cluster.clone() })
}

/// Without a provisioning identity: every stream and bucket the gateway opens must exist.
pub(super) async fn check_provisioned(jetstream: &jetstream::Context) -> Result<(), BusError> {
    let buckets = [
        super::messages::STATE_BUCKET,
        super::policy::POLICY_BUCKET,
        super::audit_chains::CHAINS_BUCKET,
        super::revocations::REVOCATIONS_BUCKET,
        super::held::HELD_BUCKET,
        super::speed::SPEED_BUCKET,
        super::rfi::RFI_BUCKET,
    ]
    .map(|bucket| format!("KV_{bucket}"));
    let streams = [FEED_STREAM, DEAD_LETTER_STREAM, AUDIT_STREAM].map(String::from);
    for name in streams.iter().chain(buckets.iter()) {
        match retry_timeouts(|| jetstream.get_stream(name)).await {
            Ok(_) => {}
            Err(error) if not_found(&error) => {
                return Err(BusError::Setup(format!(
                    "stream {name} does not exist ({error}): run `liaison provision` with the provisioning \
                     credential, or give the gateway one (--nats-provision-nkey, --nats-provision-creds or \
                     --nats-provision-user)"
                )));
            }
            Err(error) => return Err(BusError::Setup(format!("stream {name}: {error}"))),
        }
    }
    Ok(())
}

/// One KV bucket of Liaison's: its name, what it is for, revisions kept per key, and for how long (zero:
/// until removed).
pub(super) struct BucketSpec {
    pub bucket: &'static str,
    pub description: &'static str,
    pub history: i64,
    pub max_age: Duration,
    /// Most bytes the bucket may hold; -1 for no limit of its own.
    pub max_bytes: i64,
}

/// Creates or updates a KV bucket at set-up, retrying timeouts.
pub(super) async fn ensure_key_value(
    jetstream: &jetstream::Context,
    spec: BucketSpec,
    replicas: usize,
) -> Result<(), BusError> {
    let config = jetstream::kv::Config {
        bucket: spec.bucket.to_string(),
        description: spec.description.to_string(),
        history: spec.history,
        max_age: spec.max_age,
        max_bytes: spec.max_bytes,
        num_replicas: replicas,
        storage: stream::StorageType::File,
        ..Default::default()
    };
    retry_timeouts(|| jetstream.create_or_update_key_value(config.clone()))
        .await
        .map(drop)
        .map_err(|error| BusError::Setup(format!("bucket {}: {error}", spec.bucket)))
}

fn not_found(error: &jetstream::context::GetStreamError) -> bool {
    matches!(error.kind(), jetstream::context::GetStreamErrorKind::JetStream(inner)
        if inner.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND)
}

/// Creates or updates the feed stream and the dead-letter stream.
async fn ensure_streams(
    jetstream: &jetstream::Context,
    settings: &StreamSettings,
    message_ttl: bool,
) -> Result<(), BusError> {
    let feed = stream::Config {
        name: FEED_STREAM.to_string(),
        description: Some("Liaison: every recipient's stored copies".to_string()),
        subjects: vec![feed_wildcard()],
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        num_replicas: settings.replicas,
        max_age: settings.max_age,
        duplicate_window: settings.duplicate_window,
        allow_message_ttl: message_ttl,
        max_consumers: i32::try_from(settings.max_consumers).unwrap_or(i32::MAX),
        ..Default::default()
    };
    // Append-only: messages cannot be deleted or the stream purged through the API; only age removes them.
    let audit = stream::Config {
        name: AUDIT_STREAM.to_string(),
        description: Some("Liaison: dissemination audit, one hash chain per gateway".to_string()),
        subjects: vec![audit_wildcard()],
        max_age: settings.audit_max_age,
        allow_message_ttl: false,
        deny_delete: true,
        deny_purge: true,
        duplicate_window: Duration::from_secs(120),
        compression: Some(stream::Compression::S2),
        // Full, it refuses new entries (publishes fail UNAVAILABLE) rather than drop the oldest.
        max_bytes: i64::try_from(settings.audit_max_bytes).ok().filter(|bytes| *bytes > 0).unwrap_or(-1),
        discard: stream::DiscardPolicy::New,
        ..feed.clone()
    };
    check_audit_limit(jetstream, settings.audit_max_bytes).await?;
    let dead_letters = stream::Config {
        name: DEAD_LETTER_STREAM.to_string(),
        description: Some("Liaison: messages whose delivery attempts ran out, per recipient".to_string()),
        subjects: vec![dead_letter_wildcard()],
        max_age: settings.dead_letter_max_age,
        allow_message_ttl: false,
        ..feed.clone()
    };
    for mut config in [feed, dead_letters, audit] {
        let name = config.name.clone();
        let error = match retry_timeouts(|| jetstream.create_or_update_stream(config.clone())).await {
            Ok(_) => continue,
            Err(error) => error,
        };
        // Servers before 2.12 cannot change a stream's consumer limit: keep the one it has.
        let existing = match jetstream.get_stream(&name).await {
            Ok(mut stream) => stream.info().await.map(|info| info.config.max_consumers).ok(),
            Err(_) => None,
        };
        match existing {
            Some(max_consumers) if max_consumers != config.max_consumers => {
                tracing::warn!(stream = %name, max_consumers, "this server cannot change the stream's consumer limit; keeping it");
                config.max_consumers = max_consumers;
                jetstream
                    .create_or_update_stream(config)
                    .await
                    .map_err(|error| BusError::Setup(format!("stream {name}: {error}")))?;
            }
            _ if name == AUDIT_STREAM && error.to_string().contains("insufficient") => {
                return Err(BusError::Setup(format!(
                    "stream {name}: {error}: its byte limit (--audit-max-bytes {}) must fit in what the NATS server \
                     may store (jetstream max_file_store, by default most of the free disk)",
                    settings.audit_max_bytes
                )));
            }
            _ => return Err(BusError::Setup(format!("stream {name}: {error}"))),
        }
    }
    Ok(())
}

/// Refuses a byte limit below what the audit stream already holds: the audit would be full at once (and a
/// stream still discarding old entries, as before the limit existed, would drop entries to meet it).
async fn check_audit_limit(jetstream: &jetstream::Context, max_bytes: u64) -> Result<(), BusError> {
    if max_bytes == 0 {
        return Ok(());
    }
    let held = match jetstream.get_stream(AUDIT_STREAM).await {
        Ok(mut stream) => stream.info().await.map(|info| info.state.bytes).unwrap_or(0),
        Err(_) => return Ok(()),
    };
    match audit_limit_refusal(held, max_bytes) {
        Some(refusal) => Err(BusError::Setup(refusal)),
        None => Ok(()),
    }
}

/// Why `max_bytes` cannot be the audit stream's byte limit when it holds `held` bytes, if it cannot.
fn audit_limit_refusal(held: u64, max_bytes: u64) -> Option<String> {
    (max_bytes > 0 && held > max_bytes).then(|| {
        format!(
            "--audit-max-bytes {max_bytes} is below the {held} bytes {AUDIT_STREAM} already holds: the audit would \
             be full at once, refusing every publish; give more than {held}"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audit_byte_limit_may_not_go_below_what_the_stream_holds() {
        assert_eq!(audit_limit_refusal(100, 1_000), None);
        assert_eq!(audit_limit_refusal(1_000, 1_000), None);
        assert_eq!(audit_limit_refusal(5_000, 0), None, "no limit of its own");
        let refusal = audit_limit_refusal(1_001, 1_000).unwrap();
        assert!(refusal.starts_with("--audit-max-bytes 1000 is below the 1001 bytes LIAISON_AUDIT"), "{refusal}");
    }
}
