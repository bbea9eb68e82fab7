//! `liaison token issue`: mint a bearer token with the gateway's signing key.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use crate::identity::{Grant, Issuer, Role, SigningKey};
use crate::model::{Classification, Token};

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
        /// The person's own clearance, which limits what they receive: unclassified, confidential, secret,
        /// top-secret.
        #[arg(long, value_parser = parse_clearance)]
        clearance: Option<Classification>,
        /// The person's nationality (ISO 3166 alpha-3), checked against NOFORN and REL TO.
        #[arg(long)]
        nationality: Option<String>,
        /// Whether the person may receive LES (law-enforcement-sensitive) material [default: as their
        /// party].
        #[arg(long, value_name = "true|false", action = clap::ArgAction::Set)]
        law_enforcement: Option<bool>,
        /// The gateway's data directory, which holds the signing key.
        #[arg(long, env = "LIAISON_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// The signing key file the gateways were given with --signing-key (instead of the data directory's).
        #[arg(long, env = "LIAISON_SIGNING_KEY")]
        signing_key: Option<PathBuf>,
    },
    /// Create a new signing key file (Ed25519, PKCS#8 PEM, mode 0600) to give every gateway of a deployment
    /// with --signing-key. Never overwrites a file.
    NewKey {
        /// Where to write the key.
        path: PathBuf,
    },
    /// Start signing with a new key; the old one stays trusted so its tokens work until they expire.
    /// Restart the gateway (one at a time) to pick it up.
    RotateKey {
        /// The gateway's data directory, which holds the signing key.
        #[arg(long, env = "LIAISON_DATA_DIR")]
        data_dir: Option<PathBuf>,
    },
}

fn parse_clearance(value: &str) -> Result<Classification, String> {
    Classification::from_name(value).ok_or_else(|| Classification::NAMES.to_string())
}

pub fn run(command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Issue {
            party,
            role,
            subject,
            ttl,
            clearance,
            nationality,
            law_enforcement,
            data_dir,
            signing_key,
        } => {
            let party = Token::parse(&party).context("--party")?;
            let key = match signing_key {
                Some(path) => SigningKey::load_file(&path)?,
                None => SigningKey::load(&data_dir.unwrap_or_else(crate::config::default_data_dir))?,
            };
            let subject = subject.unwrap_or_else(|| format!("{party}-{}", role.name()));
            let grant = Grant { party, role, subject, clearance, nationality, law_enforcement, ttl };
            println!("{}", Issuer::new(&key)?.grant(&grant)?);
            Ok(())
        }
        TokenCommand::NewKey { path } => {
            let key = SigningKey::create_file(&path)?;
            println!("created signing key {} in {}", key.kid(), path.display());
            Ok(())
        }
        TokenCommand::RotateKey { data_dir } => {
            let data_dir = data_dir.unwrap_or_else(crate::config::default_data_dir);
            let key = SigningKey::rotate(&data_dir)?;
            println!("now signing with key {}; earlier keys stay trusted", key.kid());
            Ok(())
        }
    }
}
