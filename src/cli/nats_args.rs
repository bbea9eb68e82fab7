//! How the commands that talk to NATS directly (`liaison audit verify`, `token revoke`, `token revocations`)
//! reach it: URL, runtime credential and TLS (`NatsFlags`, shared with `serve`), defaulting to the embedded
//! server of the data directory and its runtime identity, so they work after a default `liaison serve`
//! without flags.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use crate::bus::{BusConfig, NatsAuth, StreamSettings};
use crate::config::{NatsFlags, default_data_dir, nats_auth, nats_tls};
use crate::embedded::{identities, recorded_url};

/// Where NATS is and who to be on it.
#[derive(Debug, Clone, clap::Args)]
pub struct NatsArgs {
    #[command(flatten)]
    pub nats: NatsFlags,
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
        let nats = &self.nats;
        let mut auth = nats_auth("nats", nats.credentials()).map_err(anyhow::Error::msg)?;
        let runtime_seed = identities::runtime_seed(&data_dir);
        if auth == NatsAuth::None && runtime_seed.exists() {
            auth = NatsAuth::Nkey(runtime_seed);
        }
        let url = match &nats.nats_url {
            Some(url) => url.clone(),
            None => recorded_url(&data_dir).with_context(|| {
                format!("no --nats-url, and no embedded server was started in {}", data_dir.display())
            })?,
        };
        let tls = nats_tls(nats.nats_tls_ca.clone(), nats.nats_tls_cert.clone(), nats.nats_tls_key.clone())
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
