//! `liaison token issue`: mint a bearer token with the gateway's signing key. `liaison token revoke` and
//! `revocations`: revoke tokens by id or subject in NATS, where every gateway honours them, and list them.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use super::nats_args::NatsArgs;
use super::output::{Format, Rows};
use crate::bus::{Bus, MAX_REVOKED_SUBJECT};
use crate::identity::{DEFAULT_MAX_TOKEN_TTL, Grant, Issuer, Revocation, RevocationTarget, Role, SigningKey};
use crate::model::{Accesses, Classification, Token};

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
        /// How long the token is valid, e.g. `12h`; at most --max-token-ttl.
        #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
        ttl: Duration,
        /// The gateways' --max-token-ttl: a longer --ttl is refused here, as gateways would refuse the token
        /// [default: 30days].
        #[arg(long, env = "LIAISON_MAX_TOKEN_TTL", value_parser = humantime::parse_duration)]
        max_token_ttl: Option<Duration>,
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
        /// An SCI control system or compartment (SI, SI-G, TK ...) or special access program (SAR-BP) the
        /// person is read into; repeat for several [default: as their party].
        #[arg(long = "access", value_name = "ACCESS")]
        accesses: Vec<String>,
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
    /// Revoke one token (--id, printed by `issue`) or every token of a subject issued until now
    /// (--subject, of --party or of any party). Every gateway refuses them within a second.
    Revoke(RevokeArgs),
    /// List the revocations in force, as JSON lines or CSV.
    Revocations {
        #[command(flatten)]
        nats: NatsArgs,
        /// Output: one JSON object per line, or CSV with a header row.
        #[arg(long, value_enum, default_value = "json")]
        format: Format,
    },
}

/// What `liaison token revoke` revokes, and why.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["id", "subject"])))]
pub struct RevokeArgs {
    /// The token id (`jti`) to revoke.
    #[arg(long)]
    id: Option<String>,
    /// The subject whose tokens issued until now are revoked.
    #[arg(long)]
    subject: Option<String>,
    /// Only the subject's tokens of this party [default: any party].
    #[arg(long, requires = "subject")]
    party: Option<String>,
    /// Why, for whoever lists the revocations.
    #[arg(long, default_value = "")]
    reason: String,
    #[command(flatten)]
    nats: NatsArgs,
}

/// One revocation as listed.
#[derive(serde::Serialize)]
struct Row {
    id: String,
    party: String,
    subject: String,
    revoked_at: String,
    revoked_by: String,
    reason: String,
}

fn parse_clearance(value: &str) -> Result<Classification, String> {
    Classification::from_name(value).ok_or_else(|| Classification::NAMES.to_string())
}

pub async fn run(command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Issue {
            party,
            role,
            subject,
            ttl,
            max_token_ttl,
            clearance,
            nationality,
            law_enforcement,
            accesses,
            data_dir,
            signing_key,
        } => {
            let party = Token::parse(&party).context("--party")?;
            let accesses = match accesses.is_empty() {
                true => None,
                false => Some(Accesses::parse(&accesses).map_err(|why| anyhow::anyhow!("--access: {why}"))?),
            };
            let key = match signing_key {
                Some(path) => SigningKey::load_file(&path)?,
                None => SigningKey::load(&data_dir.unwrap_or_else(crate::config::default_data_dir))?,
            };
            let subject = subject.unwrap_or_else(|| format!("{party}-{}", role.name()));
            let grant = Grant { party, role, subject, clearance, nationality, law_enforcement, accesses, ttl };
            let issuer = Issuer::new(&key)?.with_max_ttl(max_token_ttl.unwrap_or(DEFAULT_MAX_TOKEN_TTL));
            let (token, id) = issuer.grant_with_id(&grant)?;
            println!("{token}");
            eprintln!("token id {id} (revoke with `liaison token revoke --id {id}`)");
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
            println!(
                "now signing with key {}; the earlier key stays trusted for --retired-key-grace (default: the max token TTL)",
                key.kid()
            );
            Ok(())
        }
        TokenCommand::Revoke(args) => revoke(args).await,
        TokenCommand::Revocations { nats, format } => list(nats, format).await,
    }
}

async fn revoke(args: RevokeArgs) -> anyhow::Result<()> {
    let target = revocation_target(args.id.as_deref(), args.subject.as_deref(), args.party.as_deref())?;
    let revocation = Revocation {
        target,
        revoked_at: time::OffsetDateTime::now_utc().unix_timestamp().try_into().unwrap_or(0),
        reason: args.reason,
        revoked_by: format!("{} (liaison token revoke, pid {})", os_user(), std::process::id()),
    };
    let bus = Bus::connect_read_only(&args.nats.bus_config()?).await?;
    bus.revocation_bucket().await?.revoke(&revocation).await?;
    println!("revoked {}", describe(&revocation.target));
    Ok(())
}

/// What the flags of `liaison token revoke` name.
fn revocation_target(id: Option<&str>, subject: Option<&str>, party: Option<&str>) -> anyhow::Result<RevocationTarget> {
    match (id, subject) {
        (Some(id), None) => {
            let id =
                ulid::Ulid::from_string(id).map_err(|error| anyhow::anyhow!("--id {id:?}: not a token id: {error}"))?;
            Ok(RevocationTarget::Token(id.to_string()))
        }
        (None, Some(subject)) => {
            anyhow::ensure!(
                !subject.is_empty() && subject.len() <= MAX_REVOKED_SUBJECT,
                "--subject must be 1 to {MAX_REVOKED_SUBJECT} bytes"
            );
            let party = party.map(Token::parse).transpose().context("--party")?;
            Ok(RevocationTarget::Subject { party, subject: subject.to_string() })
        }
        _ => anyhow::bail!("give either --id or --subject"),
    }
}

fn describe(target: &RevocationTarget) -> String {
    match target {
        RevocationTarget::Token(id) => format!("token id {id}"),
        RevocationTarget::Subject { party: Some(party), subject } => {
            format!("the tokens of subject {subject:?} of party {party} issued until now")
        }
        RevocationTarget::Subject { party: None, subject } => {
            format!("the tokens of subject {subject:?} of any party issued until now")
        }
    }
}

async fn list(nats: NatsArgs, format: Format) -> anyhow::Result<()> {
    let bus = Bus::connect_read_only(&nats.bus_config()?).await?;
    let mut rows = Rows::new(format);
    for revocation in bus.revocation_bucket().await?.list().await? {
        let (id, party, subject) = match revocation.target {
            RevocationTarget::Token(id) => (id, String::new(), String::new()),
            RevocationTarget::Subject { party, subject } => {
                (String::new(), party.map(|party| party.to_string()).unwrap_or_default(), subject)
            }
        };
        let revoked_at = time::OffsetDateTime::from_unix_timestamp(revocation.revoked_at.try_into().unwrap_or(0))
            .ok()
            .and_then(|at| at.format(&time::format_description::well_known::Rfc3339).ok())
            .unwrap_or_default();
        let row = Row { id, party, subject, revoked_at, revoked_by: revocation.revoked_by, reason: revocation.reason };
        rows.write(&row)?;
    }
    rows.finish()
}

/// Who is running this command, for the record: the login name, else the user id.
fn os_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| format!("uid {}", nix::unistd::getuid()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revoke_flags_name_a_token_id_or_a_subject() {
        let id = ulid::Ulid::new().to_string();
        assert_eq!(revocation_target(Some(&id.to_lowercase()), None, None).unwrap(), RevocationTarget::Token(id));
        assert!(revocation_target(Some("not-a-ulid"), None, None).is_err());
        let cbp = Some(Token::parse("cbp").unwrap());
        assert_eq!(
            revocation_target(None, Some("alice"), Some("cbp")).unwrap(),
            RevocationTarget::Subject { party: cbp, subject: "alice".into() }
        );
        assert!(revocation_target(None, Some("alice"), Some("CBP.>")).is_err());
        assert!(revocation_target(None, Some(""), None).is_err());
        assert!(revocation_target(None, Some(&"x".repeat(MAX_REVOKED_SUBJECT + 1)), None).is_err());
    }
}
