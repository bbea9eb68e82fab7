//! `liaison audit verify`: recompute every gateway's dissemination audit chain straight from NATS and name
//! the first broken entry of each. Read-only: no stream is created or changed.

use std::path::PathBuf;
use std::time::Duration;

use crate::audit::verify_all;
use crate::bus::{Bus, BusConfig, NatsAuth, StreamSettings};

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
    let bus = Bus::connect_read_only(&config).await?;
    let reports = verify_all(bus.audit_entries().await?);
    if reports.is_empty() {
        println!("no audit entries");
        return Ok(());
    }
    let mut broken = 0;
    for report in &reports {
        match &report.result {
            Ok(head) => println!(
                "chain {}: {} entries, intact (head entry {}, hash {})",
                report.chain,
                report.entries,
                head.seq,
                &head.hash[..16.min(head.hash.len())]
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
