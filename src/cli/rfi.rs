//! `liaison rfi`: requests for information through a gateway. `open` publishes an RFI to its action party
//! and `answer` the response to one (both as the party's system); `list`, `show` read the records;
//! `ack`, `work`, `reject` (the action party), `close`, `reopen` (the requester) and `transfer` (a
//! liaison officer of the action party) move them. Tables for people, `--json` for scripts.

use std::path::PathBuf;

use anyhow::Context;

use super::client::{self, ClientArgs};
use super::output::{parse_time, rfc3339, timestamp};
use crate::api as pb;

#[derive(Debug, clap::Subcommand)]
pub enum RfiCommand {
    /// Publish an RFI to the party that must answer it; prints the receipt and the due time.
    Open(OpenArgs),
    /// The RFIs of the caller's party, newest first.
    List(ListArgs),
    /// One RFI with its history.
    Show(ShowArgs),
    /// Acknowledge an RFI your party must act on.
    Ack(StepArgs),
    /// Start work on an acknowledged RFI.
    Work(StepArgs),
    /// Reject an RFI your party must act on (--reason required).
    Reject(StepArgs),
    /// Answer an RFI: publishes an RFI_RESPONSE in reply to it, to its requester.
    Answer(AnswerArgs),
    /// Transfer an RFI to another party (a liaison officer of the action party).
    Transfer(TransferArgs),
    /// Close an RFI your party asked.
    Close(StepArgs),
    /// Reopen an answered, rejected or expired RFI your party asked (--reason required).
    Reopen(StepArgs),
}

#[derive(Debug, clap::Args)]
pub struct OpenArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// The action party: the one party that must answer.
    #[arg(long)]
    to: String,
    #[arg(long)]
    topic: String,
    #[arg(long, default_value = "")]
    title: String,
    /// What is asked; without --body or --body-file it is read from standard input.
    #[arg(long, conflicts_with = "body_file")]
    body: Option<String>,
    #[arg(long)]
    body_file: Option<PathBuf>,
    /// The need to know: why the requester needs the answer (required).
    #[arg(long)]
    justification: String,
    /// The markings as a banner line.
    #[arg(long, default_value = "UNCLASSIFIED")]
    marking: String,
    #[arg(long, value_enum, default_value = "routine")]
    precedence: PrecedenceArg,
    /// When it must be answered (RFC 3339); default: from the precedence (FLASH 10 minutes ... ROUTINE 6
    /// hours, as the gateway is configured).
    #[arg(long, value_parser = parse_time)]
    due: Option<time::OffsetDateTime>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum PrecedenceArg {
    Routine,
    Priority,
    Immediate,
    Flash,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Only those the party asked.
    #[arg(long, group = "view")]
    mine: bool,
    /// Only those the party must act on (open, transferred, acknowledged, in work).
    #[arg(long, group = "view")]
    to_act: bool,
    /// Only those past due (asked by or waiting for the party).
    #[arg(long, group = "view")]
    overdue: bool,
    /// Another party's (operators of an oversight party).
    #[arg(long)]
    party: Option<String>,
    #[arg(long, default_value_t = 1000)]
    limit: u32,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    #[command(flatten)]
    client: ClientArgs,
    rfi_id: String,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct StepArgs {
    #[command(flatten)]
    client: ClientArgs,
    rfi_id: String,
    /// Why (audited); required to reject and to reopen.
    #[arg(long, default_value = "")]
    reason: String,
}

#[derive(Debug, clap::Args)]
pub struct AnswerArgs {
    #[command(flatten)]
    client: ClientArgs,
    rfi_id: String,
    #[arg(long, default_value = "")]
    title: String,
    /// The answer; without --body or --body-file it is read from standard input.
    #[arg(long, conflicts_with = "body_file")]
    body: Option<String>,
    #[arg(long)]
    body_file: Option<PathBuf>,
    #[arg(long, default_value = "UNCLASSIFIED")]
    marking: String,
    /// Also send it to this party (e.g. the I&A relay a host-to-host answer needs); repeat for several.
    #[arg(long = "also-to")]
    also_to: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct TransferArgs {
    #[command(flatten)]
    client: ClientArgs,
    rfi_id: String,
    /// The new action party.
    #[arg(long)]
    to: String,
    /// Why (required, audited).
    #[arg(long)]
    reason: String,
}

/// One RFI as `--json` prints it.
#[derive(serde::Serialize)]
struct Row {
    id: String,
    status: String,
    overdue: bool,
    requester: String,
    requester_person: String,
    action_party: String,
    topic: String,
    banner: String,
    precedence: String,
    title: String,
    justification: String,
    opened_at: String,
    due_at: String,
    acknowledged_at: String,
    answered_at: String,
    closed_at: String,
    response_id: String,
    history: Vec<Step>,
}

#[derive(serde::Serialize)]
struct Step {
    at: String,
    transition: String,
    party: String,
    person: String,
    status: String,
    action_party: String,
    reason: String,
}

pub async fn run(command: RfiCommand) -> anyhow::Result<()> {
    match command {
        RfiCommand::Open(args) => open(args).await,
        RfiCommand::List(args) => list(args).await,
        RfiCommand::Show(args) => {
            let mut rfis = client::rfis(&args.client).await?;
            let request = pb::GetRfiRequest { rfi_id: args.rfi_id };
            let rfi = rfis.get_rfi(request).await.map_err(failed)?.into_inner().rfi.unwrap_or_default();
            match args.json {
                true => println!("{}", serde_json::to_string(&row(&rfi))?),
                false => print_rfi(&rfi),
            }
            Ok(())
        }
        RfiCommand::Ack(args) => step(args, pb::RfiTransition::Acknowledge).await,
        RfiCommand::Work(args) => step(args, pb::RfiTransition::StartWork).await,
        RfiCommand::Reject(args) => step(args, pb::RfiTransition::Reject).await,
        RfiCommand::Close(args) => step(args, pb::RfiTransition::Close).await,
        RfiCommand::Reopen(args) => step(args, pb::RfiTransition::Reopen).await,
        RfiCommand::Answer(args) => answer(args).await,
        RfiCommand::Transfer(args) => {
            let mut rfis = client::rfis(&args.client).await?;
            let request = pb::TransferRfiRequest { rfi_id: args.rfi_id, to: args.to, reason: args.reason };
            let moved = rfis.transfer_rfi(request).await.map_err(failed)?.into_inner();
            let rfi = moved.rfi.unwrap_or_default();
            println!(
                "rfi {} transferred to {} under rule {}: sequence {} on {}",
                rfi.id, rfi.action_party, moved.rule, moved.stream_sequence, moved.subject
            );
            print_state(&rfi);
            Ok(())
        }
    }
}

fn failed(status: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{:?}: {}", status.code(), status.message())
}

fn read_body(body: &Option<String>, file: &Option<PathBuf>) -> anyhow::Result<Vec<u8>> {
    use std::io::Read;
    match (body, file) {
        (Some(body), _) => Ok(body.clone().into_bytes()),
        (None, Some(path)) => std::fs::read(path).with_context(|| format!("--body-file {}", path.display())),
        (None, None) => {
            let mut body = Vec::new();
            std::io::stdin().read_to_end(&mut body).context("reading the body from standard input")?;
            Ok(body)
        }
    }
}

async fn open(args: OpenArgs) -> anyhow::Result<()> {
    let precedence = match args.precedence {
        PrecedenceArg::Routine => pb::Precedence::Routine,
        PrecedenceArg::Priority => pb::Precedence::Priority,
        PrecedenceArg::Immediate => pb::Precedence::Immediate,
        PrecedenceArg::Flash => pb::Precedence::Flash,
    };
    let envelope = pb::Envelope {
        recipients: vec![args.to.clone()],
        kind: pb::Kind::Rfi as i32,
        topic: args.topic.clone(),
        markings: Some(pb::Markings { banner: args.marking.clone(), ..Default::default() }),
        precedence: precedence as i32,
        title: args.title.clone(),
        body: read_body(&args.body, &args.body_file)?.into(),
        content_type: "text/plain".into(),
        justification: args.justification.clone(),
        due_at: args.due.map(timestamp),
        ..Default::default()
    };
    let receipt = publish(&args.client, envelope).await?;
    let mut rfis = client::rfis(&args.client).await?;
    match rfis.get_rfi(pb::GetRfiRequest { rfi_id: receipt.message_id.clone() }).await {
        Ok(response) => print_state(&response.into_inner().rfi.unwrap_or_default()),
        Err(_) => println!("rfi {} not opened: its action party {} did not receive it", receipt.message_id, args.to),
    }
    Ok(())
}

/// Publishes and prints the receipt, recipient by recipient.
async fn publish(args: &ClientArgs, envelope: pb::Envelope) -> anyhow::Result<pb::Receipt> {
    use pb::recipient_outcome::Outcome;
    let mut client = client::connect(args).await?;
    let request = pb::PublishRequest { envelope: Some(envelope) };
    let receipt = client.publish(request).await.map_err(failed)?.into_inner().receipt.unwrap_or_default();
    println!("message {} ({})", receipt.message_id, receipt.banner);
    for outcome in &receipt.outcomes {
        match &outcome.outcome {
            Some(Outcome::Delivered(delivered)) => println!("  {}: delivered on {}", outcome.party, delivered.subject),
            Some(Outcome::Denied(denied)) => println!("  {}: denied: {}", outcome.party, denied.explanation),
            Some(Outcome::Held(held)) => println!("  {}: held for review: {}", outcome.party, held.explanation),
            None => {}
        }
    }
    Ok(receipt)
}

async fn answer(args: AnswerArgs) -> anyhow::Result<()> {
    let mut rfis = client::rfis(&args.client).await?;
    let request = pb::GetRfiRequest { rfi_id: args.rfi_id.clone() };
    let rfi = rfis.get_rfi(request).await.map_err(failed)?.into_inner().rfi.unwrap_or_default();
    let mut recipients = vec![rfi.requester.clone()];
    recipients.extend(args.also_to.iter().cloned());
    let envelope = pb::Envelope {
        recipients,
        kind: pb::Kind::RfiResponse as i32,
        topic: rfi.topic.clone(),
        markings: Some(pb::Markings { banner: args.marking.clone(), ..Default::default() }),
        precedence: rfi.precedence,
        in_reply_to: rfi.id.clone(),
        title: args.title.clone(),
        body: read_body(&args.body, &args.body_file)?.into(),
        content_type: "text/plain".into(),
        ..Default::default()
    };
    publish(&args.client, envelope).await?;
    let rfi = rfis.get_rfi(pb::GetRfiRequest { rfi_id: args.rfi_id }).await.map_err(failed)?.into_inner();
    print_state(&rfi.rfi.unwrap_or_default());
    Ok(())
}

async fn step(args: StepArgs, transition: pb::RfiTransition) -> anyhow::Result<()> {
    let mut rfis = client::rfis(&args.client).await?;
    let request = pb::UpdateRfiRequest { rfi_id: args.rfi_id, transition: transition as i32, reason: args.reason };
    let rfi = rfis.update_rfi(request).await.map_err(failed)?.into_inner().rfi.unwrap_or_default();
    print_state(&rfi);
    Ok(())
}

async fn list(args: ListArgs) -> anyhow::Result<()> {
    let view = match (args.mine, args.to_act, args.overdue) {
        (true, _, _) => pb::RfiView::Mine,
        (_, true, _) => pb::RfiView::ToAct,
        (_, _, true) => pb::RfiView::Overdue,
        _ => pb::RfiView::Unspecified,
    };
    let mut rfis = client::rfis(&args.client).await?;
    let request = pb::ListRfisRequest { view: view as i32, party: args.party.unwrap_or_default(), limit: args.limit };
    let listing = rfis.list_rfis(request).await.map_err(failed)?.into_inner();
    if args.json {
        for rfi in &listing.rfis {
            println!("{}", serde_json::to_string(&row(rfi))?);
        }
    } else {
        println!(
            "{:<26}  {:<12}  {:<12}  {:<12}  {:<9}  {:<20}  TITLE",
            "ID", "STATUS", "REQUESTER", "ACTION", "PREC", "DUE"
        );
        for rfi in &listing.rfis {
            let status = format!("{}{}", status_name(rfi.status), if rfi.overdue { "!" } else { "" });
            println!(
                "{:<26}  {:<12}  {:<12}  {:<12}  {:<9}  {:<20}  {}",
                rfi.id,
                status,
                rfi.requester,
                rfi.action_party,
                precedence_name(rfi.precedence),
                rfc3339(rfi.due_at),
                rfi.title
            );
        }
    }
    if listing.truncated {
        eprintln!("(the gateway read only its newest records, --rfi-scan-limit; older RFIs are not shown)");
    }
    Ok(())
}

fn status_name(status: i32) -> String {
    let name = pb::RfiStatus::try_from(status).unwrap_or_default().as_str_name();
    name.trim_start_matches("RFI_STATUS_").to_lowercase().replace('_', "-")
}

fn precedence_name(precedence: i32) -> String {
    let name = pb::Precedence::try_from(precedence).unwrap_or_default().as_str_name();
    name.trim_start_matches("PRECEDENCE_").to_lowercase()
}

/// One line: where an RFI stands now.
fn print_state(rfi: &pb::Rfi) {
    let overdue = if rfi.overdue { ", OVERDUE" } else { "" };
    println!(
        "rfi {}: {} (requester {}, action party {}, due {}{overdue})",
        rfi.id,
        status_name(rfi.status),
        rfi.requester,
        rfi.action_party,
        rfc3339(rfi.due_at)
    );
}

fn print_rfi(rfi: &pb::Rfi) {
    print_state(rfi);
    println!("  title:         {}", rfi.title);
    println!("  topic:         {} ({}, {})", rfi.topic, rfi.banner, precedence_name(rfi.precedence));
    println!("  requester:     {} ({})", rfi.requester, rfi.requester_person);
    println!("  justification: {}", rfi.justification);
    if !rfi.response_id.is_empty() {
        println!("  answer:        {}", rfi.response_id);
    }
    println!("  history:");
    for step in &rfi.history {
        let reason = if step.reason.is_empty() { String::new() } else { format!(": {}", step.reason) };
        println!(
            "    {}  {:<11} by {} {:<16} -> {} at {}{reason}",
            rfc3339(step.at),
            step.transition,
            step.party,
            format!("({})", step.person),
            status_name(step.status),
            step.action_party
        );
    }
}

fn row(rfi: &pb::Rfi) -> Row {
    Row {
        id: rfi.id.clone(),
        status: status_name(rfi.status),
        overdue: rfi.overdue,
        requester: rfi.requester.clone(),
        requester_person: rfi.requester_person.clone(),
        action_party: rfi.action_party.clone(),
        topic: rfi.topic.clone(),
        banner: rfi.banner.clone(),
        precedence: precedence_name(rfi.precedence),
        title: rfi.title.clone(),
        justification: rfi.justification.clone(),
        opened_at: rfc3339(rfi.opened_at),
        due_at: rfc3339(rfi.due_at),
        acknowledged_at: rfc3339(rfi.acknowledged_at),
        answered_at: rfc3339(rfi.answered_at),
        closed_at: rfc3339(rfi.closed_at),
        response_id: rfi.response_id.clone(),
        history: rfi
            .history
            .iter()
            .map(|step| Step {
                at: rfc3339(step.at),
                transition: step.transition.clone(),
                party: step.party.clone(),
                person: step.person.clone(),
                status: status_name(step.status),
                action_party: step.action_party.clone(),
                reason: step.reason.clone(),
            })
            .collect(),
    }
}
