//! Connecting to NATS: credentials, server checks, and creating or updating the stream at start-up.

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream};

use super::subjects::{
    AUDIT_STREAM, DEAD_LETTER_STREAM, FEED_STREAM, audit_wildcard, dead_letter_wildcard, feed_wildcard,
};
use super::{Bus, BusError};

/// How to reach NATS and how the stream is kept.
#[derive(Debug, Clone)]
pub struct BusConfig {
    /// One or more comma-separated server URLs.
    pub url: String,
    pub auth: NatsAuth,
    pub stream: StreamSettings,
    /// Largest payload the gateway will publish; the server's `max_payload` must allow it.
    pub max_payload: usize,
    /// How long to keep retrying the first connection.
    pub connect_timeout: Duration,
    /// How long to wait for JetStream to confirm a stored copy.
    pub ack_timeout: Duration,
}

/// NATS credentials of the gateway's own NATS user.
#[derive(Debug, Clone, Default)]
pub enum NatsAuth {
    #[default]
    None,
    UserPassword {
        user: String,
        password: String,
    },
    CredentialsFile(PathBuf),
}

/// Stream retention and replication.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreamSettings {
    pub replicas: usize,
    /// Zero keeps messages until removed by other limits.
    pub max_age: Duration,
    /// Window in which a repeated de-duplication id is recognised.
    pub duplicate_window: Duration,
    /// How long dead letters are kept; zero keeps them until redriven or removed by other limits.
    pub dead_letter_max_age: Duration,
    /// How long audit entries are kept (28 CFR 23.20(h): review within five years).
    pub audit_max_age: Duration,
    /// Most consumers (subscriptions, durable or not) on the feed stream. Set explicitly because
    /// nats-server 2.15 otherwise limits every stream to 1,000.
    pub max_consumers: usize,
    /// How long token revocations are kept: the longest token lifetime plus the clock leeway, after which
    /// no token a revocation could match is still in force. Zero keeps them.
    pub revocation_max_age: Duration,
}

/// Oldest server with everything the bus uses (multiple filter subjects per consumer).
const MIN_SERVER: (u64, u64) = (2, 10);
/// Oldest server that drops messages at a per-message TTL; older ones rely on the check at delivery.
const MESSAGE_TTL_SERVER: (u64, u64) = (2, 11);

// === impl Bus ===

impl Bus {
    /// Connects, checks the server, and creates or updates the stream idempotently.
    pub async fn connect(config: &BusConfig) -> Result<Bus, BusError> {
        let client = connect_with_retry(config).await?;
        let info = client.server_info();
        let version = check_version(&info.version)?;
        let message_ttl = version >= MESSAGE_TTL_SERVER;
        if info.max_payload < config.max_payload {
            tracing::warn!(
                server_max_payload = info.max_payload,
                gateway_max_payload = config.max_payload,
                "the NATS server's max_payload is below the largest message the gateway accepts; larger \
                 messages will be refused with RESOURCE_EXHAUSTED (raise max_payload on the server)"
            );
        }
        let jetstream = jetstream::ContextBuilder::new()
            .ack_timeout(config.ack_timeout)
            .max_ack_inflight(16_384)
            .backpressure_on_inflight(true)
            .build(client.clone());
        let settings =
            StreamSettings { replicas: resolve_replicas(config.stream.replicas, &info), ..config.stream.clone() };
        // Set-up requests get a short timeout: when several gateways create the same streams at once on a
        // fresh cluster, nats-server (2.15) can leave the racing requests unanswered, and the retry that
        // follows finds the stream in place.
        let setup = setup_context(&jetstream);
        ensure_streams(&setup, &settings, message_ttl)
            .await
            .map_err(|error| replicas_error(error, &settings, &info))?;
        super::messages::ensure_bucket(&setup, settings.replicas, settings.audit_max_age)
            .await
            .map_err(|error| replicas_error(error, &settings, &info))?;
        super::audit_chains::ensure_bucket(&setup, settings.replicas, settings.audit_max_age)
            .await
            .map_err(|error| replicas_error(error, &settings, &info))?;
        super::revocations::ensure_bucket(&setup, settings.replicas, settings.revocation_max_age)
            .await
            .map_err(|error| replicas_error(error, &settings, &info))?;
        let messages = open_bucket(&jetstream, super::messages::STATE_BUCKET).await?;
        tracing::info!(replicas = settings.replicas, cluster = info.cluster.as_deref().unwrap_or("-"), "streams ready");
        Ok(Bus {
            max_payload: info.max_payload,
            message_ttl,
            client,
            jetstream,
            replicas: settings.replicas,
            feed_max_age: settings.max_age,
            messages: Some(messages),
        })
    }

    /// Connects to read what is there (tools such as `liaison audit verify`): no stream is created or
    /// changed, so a cluster's settings are never touched.
    pub async fn connect_read_only(config: &BusConfig) -> Result<Bus, BusError> {
        let client = connect_with_retry(config).await?;
        let info = client.server_info();
        let message_ttl = check_version(&info.version)? >= MESSAGE_TTL_SERVER;
        let jetstream = jetstream::new(client.clone());
        let replicas = resolve_replicas(config.stream.replicas, &info);
        let feed_max_age = config.stream.max_age;
        Ok(Bus {
            max_payload: info.max_payload,
            message_ttl,
            client,
            jetstream,
            replicas,
            feed_max_age,
            messages: None,
        })
    }
}

async fn connect_with_retry(config: &BusConfig) -> Result<async_nats::Client, BusError> {
    let deadline = Instant::now() + config.connect_timeout;
    let mut delay = Duration::from_millis(50);
    loop {
        match connect_once(config).await {
            Ok(client) => return Ok(client),
            Err(reason) if Instant::now() + delay >= deadline => {
                return Err(BusError::Connect { url: config.url.clone(), reason });
            }
            Err(reason) => {
                tracing::debug!(url = %config.url, %reason, "NATS not reachable yet, retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(1));
            }
        }
    }
}

async fn connect_once(config: &BusConfig) -> Result<async_nats::Client, String> {
    let options = async_nats::ConnectOptions::new()
        .name("liaison-gateway")
        .connection_timeout(Duration::from_secs(2))
        .event_callback(|event| async move {
            match event {
                async_nats::Event::Connected => tracing::info!("connected to NATS"),
                async_nats::Event::Disconnected => tracing::warn!("disconnected from NATS"),
                other => tracing::info!(event = %other, "NATS event"),
            }
        });
    let options = match &config.auth {
        NatsAuth::None => options,
        NatsAuth::UserPassword { user, password } => options.user_and_password(user.clone(), password.clone()),
        NatsAuth::CredentialsFile(path) => options
            .credentials_file(path)
            .await
            .map_err(|error| format!("credentials file {}: {error}", path.display()))?,
    };
    // A cluster is given as a comma-separated list; the client tries them and reconnects to any of them.
    let servers = config
        .url
        .split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .map(|url| url.parse::<async_nats::ServerAddr>().map_err(|error| format!("{url}: {error}")))
        .collect::<Result<Vec<_>, _>>()?;
    options.connect(servers).await.map_err(|error| error.to_string())
}

/// Runs a JetStream API request again when it times out: a cluster still electing leaders, or several
/// gateways setting up the same streams at once, can leave a request unanswered.
pub(super) async fn retry_timeouts<T, E: std::fmt::Display, F: Future<Output = Result<T, E>>>(
    mut request: impl FnMut() -> F,
) -> Result<T, E> {
    for attempt in 1..SETUP_ATTEMPTS {
        match request().await {
            Err(error) if error.to_string().contains("timed out") => {
                tracing::warn!(%error, attempt, "JetStream set-up request timed out; trying again");
                tokio::time::sleep(Duration::from_millis(250 * u64::from(attempt))).await;
            }
            result => return result,
        }
    }
    request().await
}

/// A JetStream context for set-up requests: a short timeout, for [`retry_timeouts`].
pub(super) fn setup_context(jetstream: &jetstream::Context) -> jetstream::Context {
    let mut setup = jetstream.clone();
    setup.set_timeout(SETUP_TIMEOUT);
    setup
}

/// Opens an existing KV bucket with the ordinary context (the store keeps the context it was opened with).
pub(super) async fn open_bucket(
    jetstream: &jetstream::Context,
    bucket: &str,
) -> Result<async_nats::jetstream::kv::Store, BusError> {
    retry_timeouts(|| jetstream.get_key_value(bucket))
        .await
        .map_err(|error| BusError::Setup(format!("bucket {bucket}: {error}")))
}

/// Tries of one set-up request before giving up.
const SETUP_ATTEMPTS: u32 = 8;
/// How long one set-up request may wait for its answer.
const SETUP_TIMEOUT: Duration = Duration::from_secs(2);

/// The replicas to use: as configured, or (0) three on a cluster and one on a single server.
fn resolve_replicas(configured: usize, info: &async_nats::ServerInfo) -> usize {
    match (configured, info.cluster.is_some()) {
        (0, true) => 3,
        (0, false) => 1,
        (1, true) => {
            tracing::warn!(
                cluster = info.cluster.as_deref().unwrap_or_default(),
                "NATS is a cluster but --stream-replicas is 1: losing the server that holds a stream loses its messages"
            );
            1
        }
        (replicas, _) => replicas,
    }
}

/// Says plainly when set-up failed because the deployment cannot hold the replicas asked for.
fn replicas_error(error: BusError, settings: &StreamSettings, info: &async_nats::ServerInfo) -> BusError {
    let BusError::Setup(reason) = &error else { return error };
    let lowered = reason.to_lowercase();
    let cannot_hold = lowered.contains("insufficient resources")
        || lowered.contains("non-clustered mode")
        || lowered.contains("no suitable peers")
        || lowered.contains("replicas");
    if !cannot_hold || settings.replicas <= 1 {
        return error;
    }
    let replicas = settings.replicas;
    let deployment = match &info.cluster {
        Some(cluster) => format!("NATS cluster {cluster:?} has fewer than {replicas} JetStream servers available"),
        None => "the NATS server is not part of a cluster".to_string(),
    };
    BusError::Setup(format!(
        "--stream-replicas {replicas} cannot be honoured: {deployment} ({reason}). Run at least {replicas} clustered JetStream servers (see deploy/nats/cluster/), or lower --stream-replicas"
    ))
}

/// The server's (major, minor) version, if it is new enough.
fn check_version(version: &str) -> Result<(u64, u64), BusError> {
    let mut parts = version.trim_start_matches('v').split(['.', '-']).map(|part| part.parse::<u64>().ok());
    let major = parts.next().flatten();
    let minor = parts.next().flatten();
    match (major, minor) {
        (Some(major), Some(minor)) if (major, minor) >= MIN_SERVER => Ok((major, minor)),
        _ => Err(BusError::Unsupported(format!(
            "nats-server {version} is too old; Liaison needs {}.{} or newer",
            MIN_SERVER.0, MIN_SERVER.1
        ))),
    }
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
        ..feed.clone()
    };
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
            _ => return Err(BusError::Setup(format!("stream {name}: {error}"))),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_version;

    #[test]
    fn server_versions() {
        assert_eq!(check_version("2.10.0").unwrap(), (2, 10));
        assert!(check_version("v2.15.1").is_ok());
        assert!(check_version("3.0.0-beta").is_ok());
        assert!(check_version("2.9.10").is_err());
        assert!(check_version("garbage").is_err());
    }
}
