//! How the commands that talk to NATS directly (`liaison audit verify`) reach it: URL, runtime credential
//! and TLS, defaulting to the embedded server of the data directory and its runtime identity, so they
//! work after a default `liaison serve` without flags.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use crate::bus::{BusConfig, NatsAuth, StreamSettings};
use crate::config::{NatsCredentialFlags, default_data_dir, nats_auth, nats_tls};
use crate::embedded::{identities, recorded_url};

/// Where NATS is and who to be on it.
#[derive(Debug, Clone, clap::Args)]
pub struct NatsArgs {
    /// The NATS server or cluster (comma-separated URLs) [default: the embedded server last started in
    /// --data-dir].
    #[arg(long, env = "LIAISON_NATS_URL")]
    pub nats_url: Option<String>,
    /// NATS credentials file (JWT + nkey) [default: the runtime identity of --data-dir, if there].
    #[arg(long, env = "LIAISON_NATS_CREDS")]
    pub nats_creds: Option<PathBuf>,
    /// File with an NKEY seed.
    #[arg(long, env = "LIAISON_NATS_NKEY")]
    pub nats_nkey: Option<PathBuf>,
    /// NATS user name (with --nats-password).
    #[arg(long, env = "LIAISON_NATS_USER", requires = "nats_password")]
    pub nats_user: Option<String>,
    /// NATS password.
    #[arg(long, env = "LIAISON_NATS_PASSWORD", hide_env_values = true)]
    pub nats_password: Option<String>,
    /// Require TLS to NATS and trust this CA (PEM).
    #[arg(long, env = "LIAISON_NATS_TLS_CA")]
    pub nats_tls_ca: Option<PathBuf>,
    /// Client certificate (PEM) presented to NATS (with --nats-tls-key).
    #[arg(long, env = "LIAISON_NATS_TLS_CERT")]
    pub nats_tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --nats-tls-cert.
    #[arg(long, env = "LIAISON_NATS_TLS_KEY")]
    pub nats_tls_key: Option<PathBuf>,
    /// A gateway data directory: its embedded server and runtime identity are the defaults above, and its
    /// keys check signed audit checkpoints [default: $XDG_DATA_HOME/liaison for NATS].
    #[arg(long, env = "LIAISON_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

// === impl NatsArgs ===

impl NatsArgs {
    /// Connection settings; no stream is created with them unless the caller provisions.
    pub fn bus_config(&self) -> anyhow::Result<BusConfig> {
        let data_dir = self.data_dir.clone().unwrap_or_else(default_data_dir);
        let flags = NatsCredentialFlags {
            creds: self.nats_creds.clone(),
            nkey: self.nats_nkey.clone(),
            user: self.nats_user.clone(),
            password: self.nats_password.clone(),
        };
        let mut auth = nats_auth("nats", flags).map_err(anyhow::Error::msg)?;
        let runtime_seed = identities::runtime_seed(&data_dir);
        if auth == NatsAuth::None && runtime_seed.exists() {
            auth = NatsAuth::Nkey(runtime_seed);
        }
        let url = match &self.nats_url {
            Some(url) => url.clone(),
            None => recorded_url(&data_dir).with_context(|| {
                format!("no --nats-url, and no embedded server was started in {}", data_dir.display())
            })?,
        };
        let tls = nats_tls(self.nats_tls_ca.clone(), self.nats_tls_cert.clone(), self.nats_tls_key.clone())
            .map_err(anyhow::Error::msg)?;
        Ok(BusConfig {
            url,
            auth,
            provision: None,
            tls,
            stream: StreamSettings::default(),
            max_payload: 0,
            connect_timeout: Duration::from_secs(10),
            ack_timeout: Duration::from_secs(10),
        })
    }
}
