//! `liaison retention`: review messages due under their party's retention period, revalidate them, or
//! purge them (28 CFR 23.20(h)), through a gateway. Every revalidation and purge is audited by the gateway.

use std::time::Duration;

use super::output::{Format, Rows, rfc3339};
use crate::api as pb;

#[derive(Debug, clap::Subcommand)]
pub enum RetentionCommand {
    /// List messages whose review falls due within a horizon (overdue ones always), oldest published first.
    Review(ReviewArgs),
    /// Record that a message was reviewed and still meets the submission criteria; its period starts again.
    Revalidate(DecideArgs),
    /// Remove every stored copy of a message and send a purge notice to every party that received it.
    Purge(DecideArgs),
}

#[derive(Debug, clap::Args)]
pub struct ReviewArgs {
    #[command(flatten)]
    client: super::client::ClientArgs,
    /// Messages due within this long from now, e.g. `30d`.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30d")]
    within: Duration,
    /// Only messages of this origin party (another party's: operators and admins with oversight; others see
    /// their own party's).
    #[arg(long)]
    party: Option<String>,
    /// At most this many.
    #[arg(long, default_value_t = 1000)]
    limit: u32,
    /// Output: one JSON object per line, or CSV with a header row.
    #[arg(long, value_enum, default_value = "json")]
    format: Format,
    /// Purge every overdue message listed, with this reason (operators and admins of the origin party, or with
    /// oversight).
    #[arg(long, value_name = "REASON")]
    purge_overdue: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct DecideArgs {
    #[command(flatten)]
    client: super::client::ClientArgs,
    /// The message id.
    message_id: String,
    /// Why: recorded in the audit (and, for a purge, sent in the notice).
    #[arg(long)]
    reason: String,
}

/// One message as printed.
#[derive(serde::Serialize)]
struct Row {
    message_id: String,
    origin: String,
    kind: &'static str,
    topic: String,
    published_at: String,
    review_due: String,
    overdue: bool,
    last_reviewer: String,
    last_reviewed_at: String,
    recipients: String,
    criminal_intelligence: bool,
    superseded_by: String,
    banner: String,
}

pub async fn run(command: RetentionCommand) -> anyhow::Result<()> {
    match command {
        RetentionCommand::Review(args) => review(args).await,
        RetentionCommand::Revalidate(args) => {
            let mut operator = super::client::operator(&args.client).await?;
            let request = pb::RevalidateRequest { message_id: args.message_id.clone(), reason: args.reason };
            let response = operator.revalidate(request).await?.into_inner();
            println!("revalidated {}: next review due {}", args.message_id, rfc3339(response.review_due));
            Ok(())
        }
        RetentionCommand::Purge(args) => {
            let mut operator = super::client::operator(&args.client).await?;
            let response = purge(&mut operator, &args.message_id, &args.reason).await?;
            println!("{response}");
            Ok(())
        }
    }
}

async fn review(args: ReviewArgs) -> anyhow::Result<()> {
    let mut operator = super::client::operator(&args.client).await?;
    let request = pb::ListReviewDueRequest {
        within: Some(prost_types::Duration::try_from(args.within)?),
        party: args.party.unwrap_or_default(),
        limit: args.limit,
    };
    let mut answers = operator.list_review_due(request).await?.into_inner();
    let mut rows = Rows::new(args.format);
    let mut overdue = Vec::new();
    let mut truncated = false;
    // Printed as the gateway finds them, in the order they were published.
    while let Some(answer) = answers.message().await? {
        truncated |= answer.truncated;
        for item in answer.messages {
            if item.overdue {
                overdue.push(item.message_id.clone());
            }
            rows.write(&row(item))?;
        }
    }
    rows.finish()?;
    if truncated {
        eprintln!("more messages are due than --limit {}; raise it to see them all", args.limit);
    }
    if let Some(reason) = args.purge_overdue {
        for message_id in overdue {
            eprintln!("{}", purge(&mut operator, &message_id, &reason).await?);
        }
    }
    Ok(())
}

fn row(item: pb::ReviewItem) -> Row {
    let kind = pb::Kind::try_from(item.kind).unwrap_or_default().as_str_name();
    let last = item.last_revalidation.unwrap_or_default();
    Row {
        message_id: item.message_id,
        origin: item.origin,
        kind: kind.strip_prefix("KIND_").unwrap_or(kind),
        topic: item.topic,
        published_at: rfc3339(item.published_at),
        review_due: rfc3339(item.review_due),
        overdue: item.overdue,
        last_reviewer: last.reviewer,
        last_reviewed_at: rfc3339(last.at),
        recipients: item.recipients.join(" "),
        criminal_intelligence: item.criminal_intelligence,
        superseded_by: item.superseded_by,
        banner: item.banner,
    }
}

async fn purge(operator: &mut super::client::Operator, message_id: &str, reason: &str) -> anyhow::Result<String> {
    let request = pb::PurgeMessageRequest { message_id: message_id.to_string(), reason: reason.to_string() };
    let response = operator.purge_message(request).await?.into_inner();
    Ok(format!(
        "purged {message_id}: {} copies removed, notice {} sent to {}",
        response.copies_removed,
        response.notice_id,
        if response.notified.is_empty() { "nobody".to_string() } else { response.notified.join(", ") }
    ))
}
