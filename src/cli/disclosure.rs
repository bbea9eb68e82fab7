//! `liaison disclosure`: foreign-disclosure review of the copies held for a foreign party (RELIDO), through
//! a gateway: list them (metadata only), release one (its recipient's country added to its REL TO,
//! optionally narrowed to a sanitised title and body) or refuse it (the originator is notified). For
//! disclosure officers of the origin party, or of a party with oversight; the gateway audits each decision.

use std::path::PathBuf;

use anyhow::Context;

use super::output::{Format, Rows, rfc3339};
use crate::api as pb;

#[derive(Debug, clap::Subcommand)]
pub enum DisclosureCommand {
    /// List the copies held for review, oldest first.
    List(ListArgs),
    /// Release a held copy to its recipient.
    Approve(ApproveArgs),
    /// Refuse a held copy; its originator is sent a notice.
    Deny(DecideArgs),
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    client: super::client::ClientArgs,
    /// Only copies of this origin party (another party's: disclosure officers of a party with oversight).
    #[arg(long)]
    party: Option<String>,
    /// At most this many (at most 1000).
    #[arg(long, default_value_t = 1000)]
    limit: u32,
    /// Output: one JSON object per line, or CSV with a header row.
    #[arg(long, value_enum, default_value = "json")]
    format: Format,
}

#[derive(Debug, clap::Args)]
pub struct DecideArgs {
    #[command(flatten)]
    client: super::client::ClientArgs,
    /// The message id.
    message_id: String,
    /// The foreign party the copy is held for.
    #[arg(long)]
    recipient: String,
    /// Why: recorded in the audit (and, for a refusal, sent to the originator).
    #[arg(long)]
    reason: String,
}

#[derive(Debug, clap::Args)]
pub struct ApproveArgs {
    #[command(flatten)]
    decide: DecideArgs,
    /// Release this sanitised title instead of the original (with --narrowed-body-file).
    #[arg(long, requires = "narrowed_body_file")]
    narrowed_title: Option<String>,
    /// Release this file's contents as the body instead of the original (with --narrowed-title).
    #[arg(long, requires = "narrowed_title")]
    narrowed_body_file: Option<PathBuf>,
}

/// One held copy as printed.
#[derive(serde::Serialize)]
struct Row {
    message_id: String,
    origin: String,
    recipient: String,
    kind: &'static str,
    topic: String,
    banner: String,
    title: String,
    rule: String,
    held_at: String,
    expires_at: String,
    explanation: String,
}

pub async fn run(command: DisclosureCommand) -> anyhow::Result<()> {
    match command {
        DisclosureCommand::List(args) => {
            let mut operator = super::client::operator(&args.client).await?;
            let request = pb::ListHeldRequest { party: args.party.unwrap_or_default(), limit: args.limit };
            let items = operator.list_held(request).await?.into_inner().items;
            let mut rows = Rows::new(args.format);
            for item in items {
                let kind = pb::Kind::try_from(item.kind).unwrap_or_default().as_str_name();
                rows.write(&Row {
                    kind: kind.strip_prefix("KIND_").unwrap_or(kind),
                    held_at: rfc3339(item.held_at),
                    expires_at: rfc3339(item.expires_at),
                    message_id: item.message_id,
                    origin: item.origin,
                    recipient: item.recipient,
                    topic: item.topic,
                    banner: item.banner,
                    title: item.title,
                    rule: item.rule,
                    explanation: item.explanation,
                })?;
            }
            rows.finish()
        }
        DisclosureCommand::Approve(args) => {
            let narrowed_body = match &args.narrowed_body_file {
                Some(path) => std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
                None => Vec::new(),
            };
            let decide = args.decide;
            let mut operator = super::client::operator(&decide.client).await?;
            let request = pb::ApproveHeldRequest {
                message_id: decide.message_id.clone(),
                recipient: decide.recipient.clone(),
                reason: decide.reason,
                narrowed_title: args.narrowed_title.unwrap_or_default(),
                narrowed_body,
            };
            let released = operator.approve_held(request).await?.into_inner();
            println!(
                "released {} to {} as {}: sequence {} on {}",
                decide.message_id, decide.recipient, released.banner, released.stream_sequence, released.subject
            );
            Ok(())
        }
        DisclosureCommand::Deny(args) => {
            let mut operator = super::client::operator(&args.client).await?;
            let request = pb::DenyHeldRequest {
                message_id: args.message_id.clone(),
                recipient: args.recipient.clone(),
                reason: args.reason,
            };
            let refused = operator.deny_held(request).await?.into_inner();
            println!(
                "refused {} to {}; notice {} sent to the originator",
                args.message_id, args.recipient, refused.notice_id
            );
            Ok(())
        }
    }
}
