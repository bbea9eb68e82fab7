//! `liaison publish`: publish one message and print its receipt, recipient by recipient.

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;

use crate::api as pb;
use crate::model::Kind;

use super::client::{self, ClientArgs};

#[derive(Debug, clap::Args)]
pub struct PublishArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Recipient party; repeat for several. None routes by policy.
    #[arg(long = "to")]
    recipients: Vec<String>,
    /// Message kind: report, alert, tip, rfi, rfi-response, product.
    #[arg(long, default_value = "report", value_parser = parse_kind)]
    kind: Kind,
    /// Program area, e.g. `money-laundering`.
    #[arg(long)]
    topic: String,
    #[arg(long, default_value = "")]
    title: String,
    /// Body text; without --body or --body-file the body is read from standard input.
    #[arg(long, conflicts_with = "body_file")]
    body: Option<String>,
    #[arg(long)]
    body_file: Option<PathBuf>,
    #[arg(long, default_value = "text/plain")]
    content_type: String,
    #[arg(long, value_enum, default_value = "unclassified")]
    classification: ClassificationArg,
    /// Dissemination control; repeat for several.
    #[arg(long = "control", value_enum)]
    controls: Vec<ControlArg>,
    /// REL TO country trigraph; repeat for several, USA first.
    #[arg(long = "rel-to")]
    rel_to: Vec<String>,
    #[arg(long, value_enum)]
    tlp: Option<TlpArg>,
    #[arg(long, value_enum, default_value = "routine")]
    precedence: PrecedenceArg,
    /// Attribute as key=value; repeat for several.
    #[arg(long = "attr", value_parser = parse_attribute)]
    attributes: Vec<(String, String)>,
    #[arg(long, default_value = "")]
    idempotency_key: String,
    #[arg(long, default_value = "")]
    in_reply_to: String,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ClassificationArg {
    Unclassified,
    Confidential,
    Secret,
    TopSecret,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ControlArg {
    Noforn,
    Les,
    Fouo,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum TlpArg {
    Clear,
    Green,
    Amber,
    AmberStrict,
    Red,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum PrecedenceArg {
    Routine,
    Priority,
    Immediate,
    Flash,
}

pub(super) fn parse_kind(value: &str) -> Result<Kind, String> {
    Kind::from_token(value)
        .ok_or_else(|| "one of report, alert, tip, rfi, rfi-response, product".to_string())
}

fn parse_attribute(value: &str) -> Result<(String, String), String> {
    value
        .split_once('=')
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .ok_or_else(|| "expected key=value".to_string())
}

/// The protobuf kind of a domain kind.
pub fn kind_to_proto(kind: Kind) -> pb::Kind {
    match kind {
        Kind::Report => pb::Kind::Report,
        Kind::Alert => pb::Kind::Alert,
        Kind::Tip => pb::Kind::Tip,
        Kind::Rfi => pb::Kind::Rfi,
        Kind::RfiResponse => pb::Kind::RfiResponse,
        Kind::Product => pb::Kind::Product,
    }
}

pub async fn run(args: PublishArgs) -> anyhow::Result<()> {
    let body = match (&args.body, &args.body_file) {
        (Some(body), _) => body.clone().into_bytes(),
        (None, Some(path)) => {
            std::fs::read(path).with_context(|| format!("--body-file {}", path.display()))?
        }
        (None, None) => {
            let mut body = Vec::new();
            std::io::stdin()
                .read_to_end(&mut body)
                .context("reading the body from standard input")?;
            body
        }
    };
    let envelope = envelope(&args, body);
    let mut client = client::connect(&args.client).await?;
    let response = client
        .publish(pb::PublishRequest {
            envelope: Some(envelope),
        })
        .await
        .map_err(|status| {
            anyhow::anyhow!("publish failed: {:?}: {}", status.code(), status.message())
        })?;
    let receipt = response.into_inner().receipt.unwrap_or_default();
    print_receipt(&receipt);
    Ok(())
}

fn envelope(args: &PublishArgs, body: Vec<u8>) -> pb::Envelope {
    let classification = match args.classification {
        ClassificationArg::Unclassified => pb::Classification::Unclassified,
        ClassificationArg::Confidential => pb::Classification::Confidential,
        ClassificationArg::Secret => pb::Classification::Secret,
        ClassificationArg::TopSecret => pb::Classification::TopSecret,
    };
    let controls = args
        .controls
        .iter()
        .map(|control| match control {
            ControlArg::Noforn => pb::DisseminationControl::Noforn as i32,
            ControlArg::Les => pb::DisseminationControl::Les as i32,
            ControlArg::Fouo => pb::DisseminationControl::Fouo as i32,
        })
        .collect();
    let tlp = match args.tlp {
        None => pb::Tlp::Unspecified,
        Some(TlpArg::Clear) => pb::Tlp::Clear,
        Some(TlpArg::Green) => pb::Tlp::Green,
        Some(TlpArg::Amber) => pb::Tlp::Amber,
        Some(TlpArg::AmberStrict) => pb::Tlp::AmberStrict,
        Some(TlpArg::Red) => pb::Tlp::Red,
    };
    let precedence = match args.precedence {
        PrecedenceArg::Routine => pb::Precedence::Routine,
        PrecedenceArg::Priority => pb::Precedence::Priority,
        PrecedenceArg::Immediate => pb::Precedence::Immediate,
        PrecedenceArg::Flash => pb::Precedence::Flash,
    };
    pb::Envelope {
        idempotency_key: args.idempotency_key.clone(),
        recipients: args.recipients.clone(),
        kind: kind_to_proto(args.kind) as i32,
        topic: args.topic.clone(),
        markings: Some(pb::Markings {
            classification: classification as i32,
            controls,
            rel_to: args.rel_to.clone(),
            tlp: tlp as i32,
        }),
        precedence: precedence as i32,
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
    println!("message {}", receipt.message_id);
    if receipt.outcomes.is_empty() {
        println!("  no recipient: the routing rules select nobody for this message");
    }
    for outcome in &receipt.outcomes {
        match &outcome.outcome {
            Some(Outcome::Delivered(delivered)) => println!(
                "  {}: delivered, sequence {} on {}{}",
                outcome.party,
                delivered.stream_sequence,
                delivered.subject,
                if delivered.duplicate {
                    " (duplicate of an earlier publish)"
                } else {
                    ""
                }
            ),
            Some(Outcome::Denied(denied)) => {
                let reason = pb::DenialReason::try_from(denied.reason)
                    .map(|reason| reason.as_str_name())
                    .unwrap_or("UNKNOWN");
                println!(
                    "  {}: denied, {reason}: {}",
                    outcome.party, denied.explanation
                );
            }
            None => println!("  {}: no outcome", outcome.party),
        }
    }
}
