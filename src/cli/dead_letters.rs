//! `liaison dead-letters list`: what was dead-lettered, metadata only (operators and admins: their own party's,
//! every party's with oversight), as JSON lines or CSV. `liaison dead-letters redrive`: put a party's dead
//! letters back on its feed (an admin of that party, or with oversight); each is routed again under the
//! current policy.

use super::output::{Format, Rows, rfc3339};
use crate::api as pb;

#[derive(Debug, clap::Subcommand)]
pub enum DeadLettersCommand {
    /// List dead letters, oldest first: subject, headers and size, never content.
    List(ListArgs),
    /// Put dead letters back on the party's feed for the subscription that gave up on them.
    Redrive(RedriveArgs),
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    client: super::client::ClientArgs,
    /// Only this recipient party's dead letters.
    #[arg(long)]
    party: Option<String>,
    /// At most this many (at most 10000).
    #[arg(long, default_value_t = 1000)]
    limit: u32,
    /// Output: one JSON object per line, or CSV with a header row.
    #[arg(long, value_enum, default_value = "json")]
    format: Format,
}

#[derive(Debug, clap::Args)]
pub struct RedriveArgs {
    #[command(flatten)]
    client: super::client::ClientArgs,
    /// The recipient party; must be the token's own.
    #[arg(long)]
    party: String,
    /// Dead-letter sequences (from `list`); none means all of the party's dead letters.
    sequences: Vec<u64>,
}

/// One dead letter as printed.
#[derive(serde::Serialize)]
struct Row {
    sequence: u64,
    dead_lettered_at: String,
    party: String,
    origin: String,
    kind: &'static str,
    topic: String,
    message_id: String,
    feed_sequence: u64,
    subscription_id: String,
    delivery_attempts: u32,
    reason: String,
    size_bytes: u64,
}

pub async fn run(command: DeadLettersCommand) -> anyhow::Result<()> {
    match command {
        DeadLettersCommand::List(args) => list(args).await,
        DeadLettersCommand::Redrive(args) => redrive(args).await,
    }
}

async fn list(args: ListArgs) -> anyhow::Result<()> {
    let mut operator = super::client::operator(&args.client).await?;
    let request = pb::ListDeadLettersRequest { party: args.party.unwrap_or_default(), limit: args.limit };
    let response = operator.list_dead_letters(request).await?.into_inner();
    let mut rows = Rows::new(args.format);
    for letter in response.dead_letters {
        let kind = pb::Kind::try_from(letter.kind).unwrap_or_default().as_str_name();
        rows.write(&Row {
            sequence: letter.sequence,
            dead_lettered_at: rfc3339(letter.dead_lettered_at),
            party: letter.party,
            origin: letter.origin,
            kind: kind.strip_prefix("KIND_").unwrap_or(kind),
            topic: letter.topic,
            message_id: letter.message_id,
            feed_sequence: letter.feed_sequence,
            subscription_id: letter.subscription_id,
            delivery_attempts: letter.delivery_attempts,
            reason: letter.reason,
            size_bytes: letter.size_bytes,
        })?;
    }
    rows.finish()?;
    if response.truncated {
        eprintln!("more dead letters than --limit {}; raise it to see them all", args.limit);
    }
    Ok(())
}

async fn redrive(args: RedriveArgs) -> anyhow::Result<()> {
    let mut operator = super::client::operator(&args.client).await?;
    let request = pb::RedriveDeadLettersRequest { party: args.party, sequences: args.sequences };
    let response = operator.redrive_dead_letters(request).await?.into_inner();
    let redriven: Vec<String> = response.redriven.iter().map(u64::to_string).collect();
    println!("redriven {}: {}", redriven.len(), redriven.join(" "));
    for refusal in response.refused {
        println!("refused {}: {}", refusal.sequence, refusal.explanation);
    }
    Ok(())
}
