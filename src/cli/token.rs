//! `liaison token issue`: mint a bearer token with the gateway's signing key.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use crate::identity::{Issuer, Role, SigningKey};
use crate::model::Token;

#[derive(Debug, clap::Subcommand)]
pub enum TokenCommand {
    /// Print a new token for a party and role.
    Issue {
        /// The party the token speaks for, e.g. `cbp`.
        #[arg(long)]
        party: String,
        /// The role.
        #[arg(long, value_enum)]
        role: Role,
        /// The person or system the token is for [default: <party>-<role>].
        #[arg(long)]
        subject: Option<String>,
        /// How long the token is valid, e.g. `12h`.
        #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
        ttl: Duration,
        /// The gateway's data directory, which holds the signing key.
        #[arg(long, env = "LIAISON_DATA_DIR")]
        data_dir: Option<PathBuf>,
    },
}

pub fn run(command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Issue { party, role, subject, ttl, data_dir } => {
            let party = Token::parse(&party).context("--party")?;
            let data_dir = data_dir.unwrap_or_else(crate::config::default_data_dir);
            let key = SigningKey::load(&data_dir)?;
            let subject = subject.unwrap_or_else(|| format!("{party}-{}", role.name()));
            let token = Issuer::new(&key)?.issue(&party, role, &subject, ttl)?;
            println!("{token}");
            Ok(())
        }
    }
}
