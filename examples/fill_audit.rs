//! Fills a gateway's audit stream with recorded routing decisions, for measuring `liaison policy simulate`
//! over a large window (BENCHMARKS.md, "Replaying recorded traffic through a draft policy") without running
//! the network benchmark. It talks to NATS directly, as the benchmark's raw baseline does.
//!
//! ```sh
//! cargo run --release --example fill_audit -- NATS_URL NKEY_SEED_FILE DECISIONS
//! ```
//!
//! Each entry holds the records one publish writes (as `grpc/publish.rs` builds them), decided under the
//! shipped policy: four kinds of message in turn, named and routed by policy, approvals and denials.

use std::time::Instant;

use liaison::audit::{AuditRecord, ChainHead, EncodedRecords, MessageRef};
use liaison::model::{Kind, Markings, Precedence, RouteRequest, Token};
use liaison::router::{Outcome, Router};

const CHAIN: &str = "bench-fill";
const IN_FLIGHT: usize = 2_000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(args.len() == 4, "usage: fill_audit NATS_URL NKEY_SEED_FILE DECISIONS");
    let seed = std::fs::read_to_string(&args[2])?.trim().to_string();
    let wanted: u64 = args[3].parse()?;
    let client = async_nats::ConnectOptions::with_nkey(seed).connect(&args[1]).await?;
    let jetstream = async_nats::jetstream::new(client);
    let router = Router::embedded_default()?;
    let messages = [
        request("cbp", &["ia", "ice", "fbi"], "money-laundering", "UNCLASSIFIED"),
        request("cbp", &["ia", "fbi"], "border-security", "SECRET"),
        request("ia", &["cbp", "fbi", "ice", "gbr"], "counter-terrorism", "SECRET//REL TO USA, GBR"),
        request("fc-tx", &[], "human-smuggling", "UNCLASSIFIED"),
    ];
    let (mut head, mut decisions, mut entries) = (ChainHead::new(CHAIN), 0u64, 0u64);
    let mut pending = Vec::with_capacity(IN_FLIGHT);
    let started = Instant::now();
    while decisions < wanted {
        let request = &messages[(entries % messages.len() as u64) as usize];
        let records = records(&ulid::Ulid::new().to_string(), request, &router);
        decisions += records.len() as u64;
        let at = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339)?;
        let sealed = head.seal_encoded(&at, &[records]);
        pending.push(jetstream.publish(format!("liaison.audit.{CHAIN}"), sealed.json).await?);
        entries += 1;
        if pending.len() == IN_FLIGHT {
            for ack in pending.drain(..) {
                ack.await?;
            }
        }
    }
    for ack in pending {
        ack.await?;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!("{decisions} decisions in {entries} entries on liaison.audit.{CHAIN} in {seconds:.1} s");
    Ok(())
}

fn request(origin: &str, recipients: &[&str], topic: &str, banner: &str) -> RouteRequest {
    let token = |value: &str| Token::parse(value).expect("a token");
    RouteRequest {
        origin: token(origin),
        recipients: recipients.iter().map(|recipient| token(recipient)).collect(),
        kind: Kind::Report,
        topic: token(topic),
        markings: Markings::from_banner(banner).expect("a banner"),
        precedence: Precedence::Routine,
    }
}

/// The records a publish of `request` writes, as `grpc/publish.rs` builds and encodes them.
fn records(id: &str, request: &RouteRequest, router: &Router) -> EncodedRecords {
    let routing = router.route(request).expect("routable");
    let origin = request.origin.to_string();
    let message = MessageRef { message_id: id, origin: &origin, policy_version: router.version() };
    let banner = request.markings.banner();
    let feed =
        |recipient: &str| format!("liaison.feed.{recipient}.{origin}.{}.{}", request.kind.token(), request.topic);
    let mut records = EncodedRecords::with_capacity(routing.outcomes.len());
    for outcome in &routing.outcomes {
        match outcome {
            Outcome::Deliver(approval) => {
                let (recipient, subject) = (approval.recipient().as_str(), feed(approval.recipient().as_str()));
                let record = AuditRecord::approved(&message, recipient, approval.rule(), approval.basis(), &subject);
                records.push(&record.under_markings(&banner).routed_as(request, false));
            }
            Outcome::Hold(hold) => {
                let record = AuditRecord::held(&message, hold.recipient.as_str(), &hold.explanation);
                records.push(&record.under_markings(&banner).routed_as(request, true));
            }
            Outcome::Deny(denial) => {
                let decided_by = denial.decided_by();
                let record = AuditRecord::denied(&message, denial.recipient.as_str(), &decided_by);
                records.push(&record.under_markings(&banner).routed_as(request, true));
            }
        }
    }
    records
}
