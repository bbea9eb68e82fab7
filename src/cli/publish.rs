//! `liaison publish`: publish one message and print its receipt, recipient by recipient.

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;

use crate::api as pb;

use super::client::{self, ClientArgs};
use super::routing_args::RoutingArgs;

#[derive(Debug, clap::Args)]
pub struct PublishArgs {
    #[command(flatten)]
    client: ClientArgs,
    #[command(flatten)]
    routing: RoutingArgs,
    #[arg(long, default_value = "")]
    title: String,
    /// Body text; without --body or --body-file the body is read from standard input.
    #[arg(long, conflicts_with = "body_file")]
    body: Option<String>,
    #[arg(long)]
    body_file: Option<PathBuf>,
    #[arg(long, default_value = "text/plain")]
    content_type: String,
    /// Attribute as key=value; repeat for several.
    #[arg(long = "attr", value_parser = parse_attribute)]
    attributes: Vec<(String, String)>,
    #[arg(long, default_value = "")]
    idempotency_key: String,
    #[arg(long, default_value = "")]
    in_reply_to: String,
}

fn parse_attribute(value: &str) -> Result<(String, String), String> {
    value
        .split_once('=')
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .ok_or_else(|| "expected key=value".to_string())
}

pub async fn run(args: PublishArgs) -> anyhow::Result<()> {
    let body = match (&args.body, &args.body_file) {
        (Some(body), _) => body.clone().into_bytes(),
        (None, Some(path)) => std::fs::read(path).with_context(|| format!("--body-file {}", path.display()))?,
        (None, None) => {
            let mut body = Vec::new();
            std::io::stdin().read_to_end(&mut body).context("reading the body from standard input")?;
            body
        }
    };
    let envelope = envelope(&args, body);
    let mut client = client::connect(&args.client).await?;
    let response = client
        .publish(pb::PublishRequest { envelope: Some(envelope) })
        .await
        .map_err(|status| anyhow::anyhow!("publish failed: {:?}: {}", status.code(), status.message()))?;
    let receipt = response.into_inner().receipt.unwrap_or_default();
    print_receipt(&receipt);
    Ok(())
}

fn envelope(args: &PublishArgs, body: Vec<u8>) -> pb::Envelope {
    pb::Envelope {
        idempotency_key: args.idempotency_key.clone(),
        recipients: args.routing.recipients.clone(),
        kind: args.routing.kind(),
        topic: args.routing.topic.clone(),
        markings: Some(args.routing.markings()),
        precedence: args.routing.precedence(),
        in_reply_to: args.in_reply_to.clone(),
        title: args.title.clone(),
        body: body.into(),
        content_type: args.content_type.clone(),
        attributes: args.attributes.iter().cloned().collect(),
        ..Default::default()
    }
}

fn print_receipt(receipt: &pb::Receipt) {
    use pb::recipient_outcome::Outcome;
    println!("message {} ({})", receipt.message_id, receipt.banner);
    if receipt.outcomes.is_empty() {
        println!("  no recipient: the routing rules select nobody for this message");
    }
    for outcome in &receipt.outcomes {
        match &outcome.outcome {
            Some(Outcome::Delivered(delivered)) => println!(
                "  {}: delivered, sequence {} on {}{}{}",
                outcome.party,
                delivered.stream_sequence,
                delivered.subject,
                match delivered.released_by.as_str() {
                    "" => String::new(),
                    code => format!(", released by REL TO {code}"),
                },
                if delivered.duplicate { " (duplicate of an earlier publish)" } else { "" }
            ),
            Some(Outcome::Denied(denied)) => {
                let reason =
                    pb::DenialReason::try_from(denied.reason).map(|reason| reason.as_str_name()).unwrap_or("UNKNOWN");
                println!("  {}: denied, {reason}: {}", outcome.party, denied.explanation);
            }
            Some(Outcome::Held(held)) => println!(
                "  {}: held for foreign-disclosure review until {}: {}",
                outcome.party,
                super::output::rfc3339(held.expires_at),
                held.explanation
            ),
            None => println!("  {}: no outcome", outcome.party),
        }
    }
}
