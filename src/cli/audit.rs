//! `liaison audit verify`: recompute every gateway's dissemination audit chain straight from NATS and name
//! the first broken entry of each, and check its signed checkpoints against a gateway's keys
//! (`--data-dir`). Read-only: no stream is created or changed.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::audit::verify_all;
use crate::bus::{Bus, BusConfig, NatsAuth, StreamSettings};
use crate::identity::{SigningKey, trusted_public_keys, verify_signature};

#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Recompute every audit hash chain; exits non-zero and names the first broken entry if one is broken.
    Verify(NatsArgs),
}

/// Where the audit stream is.
#[derive(Debug, clap::Args)]
pub struct NatsArgs {
    /// The NATS server or cluster (comma-separated URLs).
    #[arg(long, env = "LIAISON_NATS_URL")]
    nats_url: String,
    /// NATS credentials file (JWT + nkey).
    #[arg(long, env = "LIAISON_NATS_CREDS")]
    nats_creds: Option<PathBuf>,
    /// NATS user name (with --nats-password).
    #[arg(long, env = "LIAISON_NATS_USER", requires = "nats_password")]
    nats_user: Option<String>,
    /// NATS password.
    #[arg(long, env = "LIAISON_NATS_PASSWORD", hide_env_values = true)]
    nats_password: Option<String>,
    /// A gateway data directory whose signing key and trusted keys check the signed checkpoints.
    #[arg(long, env = "LIAISON_DATA_DIR")]
    data_dir: Option<PathBuf>,
}

/// Key id -> SPKI PEM of the data directory's signing key and trusted keys.
fn known_keys(dir: &std::path::Path) -> anyhow::Result<HashMap<String, String>> {
    let key = SigningKey::load(dir)?;
    let mut keys: HashMap<String, String> = trusted_public_keys(dir)?.into_iter().collect();
    keys.insert(key.kid().to_string(), key.public_pem());
    Ok(keys)
}

pub async fn run(command: AuditCommand) -> anyhow::Result<()> {
    let AuditCommand::Verify(nats) = command;
    let auth = match (nats.nats_creds, nats.nats_user, nats.nats_password) {
        (Some(creds), _, _) => NatsAuth::CredentialsFile(creds),
        (None, Some(user), Some(password)) => NatsAuth::UserPassword { user, password },
        _ => NatsAuth::None,
    };
    let config = BusConfig {
        url: nats.nats_url,
        auth,
        stream: StreamSettings::default(),
        max_payload: 0,
        connect_timeout: Duration::from_secs(10),
        ack_timeout: Duration::from_secs(10),
    };
    let keys = match &nats.data_dir {
        Some(dir) => known_keys(dir)?,
        None => HashMap::new(),
    };
    let bus = Bus::connect_read_only(&config).await?;
    let contents = bus.audit_contents().await?;
    let check = |kid: &str, message: &str, signature: &str| {
        keys.get(kid).map(|pem| verify_signature(pem, message.as_bytes(), signature))
    };
    let reports = verify_all(contents.entries, &contents.checkpoints, &check);
    if reports.is_empty() {
        println!("no audit entries");
        return Ok(());
    }
    let mut broken = 0;
    for report in &reports {
        match &report.result {
            Ok(head) => println!(
                "chain {}: {} entries, intact (head entry {}, hash {}); {} signed checkpoints verified{}",
                report.chain,
                report.entries,
                head.seq,
                &head.hash[..16.min(head.hash.len())],
                report.checkpoints_verified,
                match report.checkpoints_unchecked {
                    0 => String::new(),
                    unchecked => format!(", {unchecked} signed by keys not given (--data-dir)"),
                }
            ),
            Err(why) => {
                broken += 1;
                println!("chain {}: BROKEN: {why}", report.chain);
            }
        }
    }
    match broken {
        0 => Ok(()),
        count => anyhow::bail!("{count} of {} audit chains broken", reports.len()),
    }
}
