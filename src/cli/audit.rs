//! `liaison audit query`: dissemination records through a gateway, as JSON lines or CSV.
//!
//! `liaison audit verify`: recompute every gateway's dissemination audit chain straight from NATS and name
//! the first broken entry of each, and check its signed checkpoints against a gateway's keys
//! (`--data-dir`). Chains the registry `LIAISON_AUDIT_CHAINS` or a checkpoint knows of but the stream does
//! not hold (or holds fewer entries of) are reported missing; losses an operator accepted at start
//! (`audit-loss` entries) are listed. Read-only: no stream is created or changed.

use std::collections::HashMap;

use super::nats_args::NatsArgs;
use super::output::{Format, Rows, parse_time, rfc3339, timestamp};
use crate::audit::Verifier;
use crate::bus::{AUDIT_STREAM, Bus, CHAINS_BUCKET, StoredAudit};
use crate::identity::{SigningKey, trusted_public_keys, verify_signature};

#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Recompute every audit hash chain; exits non-zero and names the first broken entry if one is broken.
    Verify(NatsArgs),
    /// List dissemination records through a gateway (operators see all; others their own messages').
    Query(QueryArgs),
}

/// Filters and output of `liaison audit query`.
#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    #[command(flatten)]
    client: super::client::ClientArgs,
    /// Only records of this message id.
    #[arg(long)]
    message_id: Option<String>,
    /// Only records where this party is the origin or the recipient.
    #[arg(long)]
    party: Option<String>,
    /// Only records written at or after this time (RFC 3339).
    #[arg(long, value_parser = parse_time)]
    since: Option<time::OffsetDateTime>,
    /// Only records written before this time (RFC 3339).
    #[arg(long, value_parser = parse_time)]
    until: Option<time::OffsetDateTime>,
    /// Only this kind of record.
    #[arg(long, value_enum)]
    event: Option<EventArg>,
    /// At most this many records.
    #[arg(long, default_value_t = 10_000)]
    limit: u32,
    /// Output: one JSON object per line, or CSV with a header row.
    #[arg(long, value_enum, default_value = "json")]
    format: Format,
    /// Go on after this audit stream sequence, as a query stopped by the gateway's scan budget says.
    #[arg(long)]
    after_sequence: Option<u64>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum EventArg {
    Approved,
    Denied,
    Delivered,
    Withheld,
    Revalidated,
    Purged,
    Superseded,
    Redriven,
    AuditLoss,
    OrconApproved,
    Held,
    DisclosureApproved,
    DisclosureDenied,
    DisclosureExpired,
    RfiOpened,
    RfiAcknowledged,
    RfiInWork,
    RfiAnswered,
    RfiClosed,
    RfiRejected,
    RfiTransferred,
    RfiExpired,
    RfiReopened,
}

/// One record as printed.
#[derive(serde::Serialize)]
struct Row {
    at: String,
    event: &'static str,
    message_id: String,
    origin: String,
    recipient: String,
    subscriber: String,
    decided_by: String,
    basis: String,
    policy_version: String,
    reason: String,
    subject: String,
    /// The canonical banner the router decided under (approvals and denials).
    markings: String,
    chain: String,
    entry: u64,
    /// Space-separated: a publish's recipients that are not in the directory, denied in one record.
    unknown_recipients: String,
}

async fn query(args: QueryArgs) -> anyhow::Result<()> {
    use crate::api as pb;
    let mut operator = super::client::operator(&args.client).await?;
    let event = match args.event {
        None => pb::AuditEvent::Unspecified,
        Some(EventArg::Approved) => pb::AuditEvent::Approved,
        Some(EventArg::Denied) => pb::AuditEvent::Denied,
        Some(EventArg::Delivered) => pb::AuditEvent::Delivered,
        Some(EventArg::Withheld) => pb::AuditEvent::Withheld,
        Some(EventArg::Revalidated) => pb::AuditEvent::Revalidated,
        Some(EventArg::Purged) => pb::AuditEvent::Purged,
        Some(EventArg::Superseded) => pb::AuditEvent::Superseded,
        Some(EventArg::Redriven) => pb::AuditEvent::Redriven,
        Some(EventArg::AuditLoss) => pb::AuditEvent::AuditLoss,
        Some(EventArg::OrconApproved) => pb::AuditEvent::OrconApproved,
        Some(EventArg::Held) => pb::AuditEvent::Held,
        Some(EventArg::DisclosureApproved) => pb::AuditEvent::DisclosureApproved,
        Some(EventArg::DisclosureDenied) => pb::AuditEvent::DisclosureDenied,
        Some(EventArg::DisclosureExpired) => pb::AuditEvent::DisclosureExpired,
        Some(EventArg::RfiOpened) => pb::AuditEvent::RfiOpened,
        Some(EventArg::RfiAcknowledged) => pb::AuditEvent::RfiAcknowledged,
        Some(EventArg::RfiInWork) => pb::AuditEvent::RfiInWork,
        Some(EventArg::RfiAnswered) => pb::AuditEvent::RfiAnswered,
        Some(EventArg::RfiClosed) => pb::AuditEvent::RfiClosed,
        Some(EventArg::RfiRejected) => pb::AuditEvent::RfiRejected,
        Some(EventArg::RfiTransferred) => pb::AuditEvent::RfiTransferred,
        Some(EventArg::RfiExpired) => pb::AuditEvent::RfiExpired,
        Some(EventArg::RfiReopened) => pb::AuditEvent::RfiReopened,
    };
    let request = pb::QueryAuditRequest {
        message_id: args.message_id.unwrap_or_default(),
        party: args.party.unwrap_or_default(),
        since: args.since.map(timestamp),
        until: args.until.map(timestamp),
        event: event as i32,
        limit: args.limit,
        after_sequence: args.after_sequence.unwrap_or_default(),
    };
    let mut records = operator.query_audit(request).await?.into_inner();
    let mut rows = Rows::new(args.format);
    loop {
        let record = match records.message().await {
            Ok(Some(record)) => record,
            Ok(None) => break,
            // What came before the failure is printed: a query stopped by the scan budget names where to
            // go on (`--after-sequence`).
            Err(status) => {
                rows.finish()?;
                return Err(status.into());
            }
        };
        let at = rfc3339(record.at);
        let event = pb::AuditEvent::try_from(record.event).unwrap_or_default().as_str_name();
        let row = Row {
            at,
            event: event.strip_prefix("AUDIT_EVENT_").unwrap_or(event),
            message_id: record.message_id,
            origin: record.origin,
            recipient: record.recipient,
            subscriber: record.subscriber,
            decided_by: record.decided_by,
            basis: record.basis,
            policy_version: record.policy_version,
            reason: record.reason,
            subject: record.subject,
            markings: record.markings,
            unknown_recipients: record.unknown_recipients.join(" "),
            chain: record.chain,
            entry: record.entry,
        };
        rows.write(&row)?;
    }
    rows.finish()
}

/// Key id -> SPKI PEM of the data directory's signing key and trusted keys.
fn known_keys(dir: &std::path::Path) -> anyhow::Result<HashMap<String, String>> {
    let key = SigningKey::load(dir)?;
    let mut keys: HashMap<String, String> = trusted_public_keys(dir)?.into_iter().collect();
    keys.insert(key.kid().to_string(), key.public_pem());
    Ok(keys)
}

pub async fn run(command: AuditCommand) -> anyhow::Result<()> {
    let nats = match command {
        AuditCommand::Verify(nats) => nats,
        AuditCommand::Query(args) => return query(args).await,
    };
    let config = nats.bus_config()?;
    let keys = match &nats.data_dir {
        Some(dir) => known_keys(dir)?,
        None => HashMap::new(),
    };
    let bus = Bus::connect_read_only(&config).await?;
    let check = |kid: &str, message: &str, signature: &str| {
        keys.get(kid).map(|pem| verify_signature(pem, message.as_bytes(), signature))
    };
    // One pass over the stream; the verifier holds a bounded window per chain, not the audit.
    let mut verifier = Verifier::new(&check);
    // Chains that should be there: the registry's, at the length it knew.
    for known in bus.registered_chains().await? {
        verifier.expect(&known.chain, known.entries, format!("the registry {CHAINS_BUCKET} (at {})", known.at));
    }
    if !bus.audit_stream_exists().await? {
        println!("the stream {AUDIT_STREAM} does not exist");
    } else {
        read_into(&bus, &mut verifier).await?;
    }
    report(verifier)
}

/// Feeds every stored entry and checkpoint to `verifier`.
async fn read_into(bus: &Bus, verifier: &mut Verifier<'_>) -> anyhow::Result<()> {
    let mut stored = bus.read_whole_audit().await?;
    while let Some(message) = stored.next_stored().await {
        match message? {
            StoredAudit::Entry { stream_sequence, chain, entry } => verifier.entry(stream_sequence, &chain, entry),
            StoredAudit::Checkpoint { stream_sequence, checkpoint: Some(checkpoint), .. } => {
                verifier.checkpoint(stream_sequence, checkpoint)
            }
            // A checkpoint that does not parse breaks its chain like any other unreadable message.
            StoredAudit::Checkpoint { stream_sequence, chain, checkpoint: None } => {
                verifier.entry(stream_sequence, &chain, None)
            }
        }
    }
    Ok(())
}

/// Prints one line per chain; fails if one is broken or missing.
fn report(verifier: Verifier<'_>) -> anyhow::Result<()> {
    let reports = verifier.finish();
    if reports.is_empty() {
        println!("no audit entries");
        return Ok(());
    }
    let mut broken = 0;
    for report in &reports {
        match &report.result {
            Ok(head) => println!(
                "chain {}: {} entries, intact (head entry {}, hash {}); {} signed checkpoints verified{}",
                report.chain,
                report.entries,
                head.seq,
                &head.hash[..16.min(head.hash.len())],
                report.checkpoints_verified,
                match report.checkpoints_unchecked {
                    0 => String::new(),
                    unchecked => format!(", {unchecked} signed by keys not given (--data-dir)"),
                }
            ),
            Err(why) if report.missing => {
                broken += 1;
                println!("chain {}: MISSING: {}", report.chain, why.why.trim_start_matches("is missing: "));
            }
            Err(why) => {
                broken += 1;
                println!("chain {}: BROKEN: {why}", report.chain);
            }
        }
        for (first, last) in &report.losses {
            println!(
                "chain {}: LOSS RECORDED: entries {first}-{last} are gone (an audit-loss entry says so)",
                report.chain
            );
        }
    }
    match broken {
        0 => Ok(()),
        count => anyhow::bail!("{count} of {} audit chains broken", reports.len()),
    }
}
