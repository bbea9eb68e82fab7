//! Connecting to NATS: credentials and TLS, server checks, and (through `provision.rs`, on a connection of
//! the provisioning identity) creating or updating the streams at start-up.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use tokio::sync::watch;

use super::{Bus, BusError};

/// How to reach NATS and how the stream is kept.
#[derive(Debug, Clone)]
pub struct BusConfig {
    /// One or more comma-separated server URLs.
    pub url: String,
    /// The runtime identity: everything the gateway does after start-up.
    pub auth: NatsAuth,
    /// The provisioning identity, used once at start-up to create or update the streams and buckets on
    /// a connection of its own; `None` only checks that they exist (`liaison provision` made them).
    pub provision: Option<NatsAuth>,
    /// TLS to NATS, for both identities.
    pub tls: NatsTls,
    pub stream: StreamSettings,
    /// Largest payload the gateway will publish; the server's `max_payload` must allow it.
    pub max_payload: usize,
    /// How long to keep retrying the first connection.
    pub connect_timeout: Duration,
    /// How long to wait for JetStream to confirm a stored copy.
    pub ack_timeout: Duration,
}

/// NATS credentials of one of the gateway's NATS identities.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NatsAuth {
    #[default]
    None,
    UserPassword {
        user: String,
        password: String,
    },
    /// A credentials file (JWT + NKEY seed), decentralised auth.
    CredentialsFile(PathBuf),
    /// A file holding an NKEY user seed (`SU...`).
    Nkey(PathBuf),
}

/// TLS to NATS. With a CA the server's certificate must chain to it; with a certificate and key the
/// client presents them (servers with `verify: true`). Any of them requires TLS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NatsTls {
    pub ca: Option<PathBuf>,
    pub client_cert: Option<(PathBuf, PathBuf)>,
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
    /// Most bytes the audit stream holds; at it, it refuses new entries (it never drops old ones). Zero sets
    /// no limit of its own.
    pub audit_max_bytes: u64,
}

/// Oldest server with everything the bus uses (multiple filter subjects per consumer): the one the embedded
/// server's binary is checked against too.
const MIN_SERVER: (u64, u64) = crate::embedded::MIN_VERSION;
/// Oldest server that drops messages at a per-message TTL; older ones rely on the check at delivery.
pub(super) const MESSAGE_TTL_SERVER: (u64, u64) = (2, 11);

// === impl Bus ===

impl Bus {
    /// Connects, checks the server, and creates or updates the stream idempotently.
    pub async fn connect(config: &BusConfig) -> Result<Bus, BusError> {
        let (client, connections) = connect_with_retry(config, &config.auth, "liaison-gateway").await?;
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
        match &config.provision {
            Some(auth) => drop(super::provision::provision(config, auth).await?),
            None => super::provision::check_provisioned(&jetstream).await?,
        }
        let messages = open_bucket(&jetstream, super::messages::STATE_BUCKET).await?;
        let held = open_bucket(&jetstream, super::held::HELD_BUCKET).await?;
        let speed = open_bucket(&jetstream, super::speed::SPEED_BUCKET).await?;
        let rfis = open_bucket(&jetstream, super::rfi::RFI_BUCKET).await?;
        let publisher = super::publisher::Publisher::start(client.clone(), config.ack_timeout).await?;
        tracing::info!(replicas = settings.replicas, cluster = info.cluster.as_deref().unwrap_or("-"), "streams ready");
        Ok(Bus {
            max_payload: info.max_payload,
            message_ttl,
            client,
            jetstream,
            feed_max_age: settings.max_age,
            messages: Some(messages),
            held: Some(held),
            speed: Some(speed),
            rfis: Some(rfis),
            publisher: Some(publisher),
            ack_timeout: config.ack_timeout,
            connections,
        })
    }

    /// Connects to read what is there (tools such as `liaison audit verify`): no stream is created or
    /// changed, so a cluster's settings are never touched.
    pub async fn connect_read_only(config: &BusConfig) -> Result<Bus, BusError> {
        let (client, connections) = connect_with_retry(config, &config.auth, "liaison-gateway").await?;
        let info = client.server_info();
        let message_ttl = check_version(&info.version)? >= MESSAGE_TTL_SERVER;
        let jetstream = jetstream::new(client.clone());
        let feed_max_age = config.stream.max_age;
        Ok(Bus {
            max_payload: info.max_payload,
            message_ttl,
            client,
            jetstream,
            feed_max_age,
            messages: None,
            held: None,
            speed: None,
            rfis: None,
            publisher: None,
            ack_timeout: config.ack_timeout,
            connections,
        })
    }
}

/// Connects as `auth`, retrying until the connect timeout. The receiver's value goes up with every
/// (re)connection of the client: feeds re-send their pull requests then.
pub(super) async fn connect_with_retry(
    config: &BusConfig,
    auth: &NatsAuth,
    name: &str,
) -> Result<(async_nats::Client, watch::Receiver<u64>), BusError> {
    let deadline = Instant::now() + config.connect_timeout;
    let mut delay = Duration::from_millis(50);
    loop {
        let (connections, connected) = watch::channel(0u64);
        match connect_once(config, auth, name, Arc::new(connections)).await {
            Ok(client) => return Ok((client, connected)),
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

async fn log_event(event: async_nats::Event) {
    match event {
        async_nats::Event::Connected => tracing::info!("connected to NATS"),
        async_nats::Event::Disconnected => tracing::warn!("disconnected from NATS"),
        other => tracing::info!(event = %other, "NATS event"),
    }
}

async fn connect_once(
    config: &BusConfig,
    auth: &NatsAuth,
    name: &str,
    connections: Arc<watch::Sender<u64>>,
) -> Result<async_nats::Client, String> {
    let options = async_nats::ConnectOptions::new()
        .name(name)
        .connection_timeout(Duration::from_secs(2))
        .event_callback(move |event| {
            if matches!(event, async_nats::Event::Connected) {
                connections.send_modify(|count| *count += 1);
            }
            log_event(event)
        });
    let options = with_tls(options, &config.tls);
    let options = match auth {
        NatsAuth::None => options,
        NatsAuth::UserPassword { user, password } => options.user_and_password(user.clone(), password.clone()),
        NatsAuth::CredentialsFile(path) => options
            .credentials_file(path)
            .await
            .map_err(|error| format!("credentials file {}: {error}", path.display()))?,
        NatsAuth::Nkey(path) => {
            let seed =
                std::fs::read_to_string(path).map_err(|error| format!("nkey seed {}: {error}", path.display()))?;
            options.nkey(seed.trim().to_string())
        }
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

fn with_tls(options: async_nats::ConnectOptions, tls: &NatsTls) -> async_nats::ConnectOptions {
    let mut options = options;
    if let Some(ca) = &tls.ca {
        options = options.add_root_certificates(ca.clone());
    }
    if let Some((cert, key)) = &tls.client_cert {
        options = options.add_client_certificate(cert.clone(), key.clone());
    }
    if tls.ca.is_some() || tls.client_cert.is_some() {
        options = options.require_tls(true);
    }
    options
}

/// Runs a JetStream API request again when it times out or finds no responders: a cluster still electing
/// leaders (a stream just created has none for a moment), or several
/// gateways setting up the same streams at once, can leave a request unanswered.
pub(super) async fn retry_timeouts<T, E: std::fmt::Display, F: Future<Output = Result<T, E>>>(
    mut request: impl FnMut() -> F,
) -> Result<T, E> {
    for attempt in 1..SETUP_ATTEMPTS {
        match request().await {
            // A stream just created in a cluster answers "no responders" until its leader is elected.
            Err(error) if transient(&error.to_string()) => {
                tracing::warn!(%error, attempt, "JetStream set-up request timed out or found no leader yet; trying again");
                tokio::time::sleep(Duration::from_millis(250 * u64::from(attempt))).await;
            }
            result => return result,
        }
    }
    request().await
}

fn transient(error: &str) -> bool {
    error.contains("timed out") || error.contains("no responders")
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
pub(super) fn resolve_replicas(configured: usize, info: &async_nats::ServerInfo) -> usize {
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
pub(super) fn replicas_error(error: BusError, settings: &StreamSettings, info: &async_nats::ServerInfo) -> BusError {
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
pub(super) fn check_version(version: &str) -> Result<(u64, u64), BusError> {
    match crate::embedded::binary::parse_version(version) {
        Some(found) if found >= MIN_SERVER => Ok(found),
        _ => Err(BusError::Unsupported(format!(
            "nats-server {version} is too old; Liaison needs {}.{} or newer",
            MIN_SERVER.0, MIN_SERVER.1
        ))),
    }
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
