//! Markings as the IC writes them, end to end: a banner line published over gRPC (and by `liaison publish
//! --marking`), tetragraph release (`REL TO USA, FVEY`), SCI compartments that need accesses of the party
//! and of the person, refusals that name their rule, and the canonical banner on receipts, deliveries and
//! audit records.

use crate::common;

use std::time::Duration;

use common::*;
use liaison::api as pb;
use liaison::identity::{Grant, Role};
use liaison::model::{Accesses, Token};
use pb::recipient_outcome::Outcome;
use tonic::Code;

const WAIT: Duration = Duration::from_secs(10);

/// `recipients` of an ia report marked only by `banner`.
fn bannered(recipients: &[&str], banner: &str, body: &str) -> pb::Envelope {
    let mut envelope = envelope(recipients, "counter-terrorism", body.as_bytes());
    envelope.markings = Some(pb::Markings { banner: banner.into(), ..Default::default() });
    envelope
}

fn outcome<'r>(receipt: &'r pb::Receipt, party: &str) -> &'r Outcome {
    let outcome = receipt.outcomes.iter().find(|outcome| outcome.party == party);
    outcome.and_then(|outcome| outcome.outcome.as_ref()).unwrap_or_else(|| panic!("no outcome for {party}"))
}

fn denial<'r>(receipt: &'r pb::Receipt, party: &str) -> (pb::DenialReason, &'r str) {
    match outcome(receipt, party) {
        Outcome::Denied(denied) => (denied.reason(), denied.explanation.as_str()),
        other => panic!("{party} not denied: {other:?}"),
    }
}

#[tokio::test]
async fn rel_to_fvey_reaches_canada_and_britain_but_not_mexico() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let mut canada = subscribe(&mut gateway.client("can", Role::Analyst).await, Default::default()).await.unwrap();
    let mut ia = gateway.client("ia", Role::AgencySystem).await;
    let sent = bannered(&["can", "gbr", "mex"], "C//REL TO USA, FVEY", "FVEY report");
    let receipt = publish(&mut ia, sent).await;

    assert_eq!(receipt.banner, "CONFIDENTIAL//REL TO USA, FVEY");
    for party in ["can", "gbr"] {
        match outcome(&receipt, party) {
            Outcome::Delivered(delivered) => assert_eq!(delivered.released_by, "FVEY", "{party}"),
            other => panic!("{party}: {other:?}"),
        }
    }
    let (reason, why) = denial(&receipt, "mex");
    assert_eq!(reason, pb::DenialReason::NotReleasable);
    assert_eq!(why, "REL TO USA, FVEY does not include MEX (mex)");

    // Canada's copy carries the canonical banner beside the structured fields.
    let delivery = canada.take(1, WAIT).await.remove(0);
    let markings = delivery.envelope.unwrap().markings.unwrap();
    assert_eq!(markings.banner, "CONFIDENTIAL//REL TO USA, FVEY");
    assert_eq!(markings.classification(), pb::Classification::Confidential);
    assert_eq!(markings.rel_to, ["USA", "FVEY"]);

    // The router's records name the markings it decided under.
    let mut operator = gateway.operator("ia", Role::Operator).await;
    let query = pb::QueryAuditRequest { message_id: receipt.message_id.clone(), limit: 100, ..Default::default() };
    let mut records = operator.query_audit(query).await.unwrap().into_inner();
    let mut decisions = Vec::new();
    while let Some(record) = records.message().await.unwrap() {
        if [pb::AuditEvent::Approved, pb::AuditEvent::Denied].contains(&record.event()) {
            decisions.push((record.recipient, record.markings));
        }
    }
    decisions.sort();
    let banner = || "CONFIDENTIAL//REL TO USA, FVEY".to_string();
    assert_eq!(decisions, [("can".into(), banner()), ("gbr".into(), banner()), ("mex".into(), banner())]);
}

/// An nsa analyst token stating `accesses` (or, with `None`, taking nsa's: SI-G and TK).
fn nsa_analyst(gateway: &TestGateway, subject: &str, accesses: Option<&[&str]>) -> String {
    let grant = Grant {
        party: Token::parse("nsa").unwrap(),
        role: Role::Analyst,
        subject: subject.into(),
        clearance: None,
        nationality: None,
        law_enforcement: None,
        accesses: accesses.map(|accesses| Accesses::parse(accesses).unwrap()),
        ttl: Duration::from_secs(600),
    };
    gateway.issuer().grant(&grant).unwrap()
}

#[tokio::test]
async fn compartmented_material_reaches_only_parties_and_persons_read_into_every_compartment() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let mut ia = gateway.client("ia", Role::AgencySystem).await;
    let banner = "TOP SECRET//SI-G/TK//ORCON/NOFORN";
    let receipt = publish(&mut ia, bannered(&["nsa", "nga", "cbp"], banner, "SI-G report")).await;
    delivered_sequence(&receipt, "nsa");
    let (reason, why) = denial(&receipt, "nga");
    assert_eq!(reason, pb::DenialReason::Access);
    assert_eq!(why, format!("nga is not read into SI, SI-G ({banner})"));
    let (reason, why) = denial(&receipt, "cbp");
    assert_eq!(reason, pb::DenialReason::Access);
    assert!(why.starts_with("cbp is not read into SI, SI-G, TK"), "{why}");
    publish(&mut ia, bannered(&["nsa"], "TS//TK//NOFORN", "TK report")).await;

    // Persons: the token's accesses where it states them, the party's otherwise.
    let read_in = nsa_analyst(&gateway, "nsa-sigint", None);
    assert_eq!(bodies_received(&gateway, &read_in).await, ["SI-G report", "TK report"]);
    let tk_only = nsa_analyst(&gateway, "nsa-imagery", Some(&["TK"]));
    assert_eq!(bodies_received(&gateway, &tk_only).await, ["TK report"]);
}

#[tokio::test]
async fn a_banner_is_refused_naming_the_rule_it_breaks_and_the_gateway_keeps_serving() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let mut ia = gateway.client("ia", Role::AgencySystem).await;
    let cases = [
        ("TOP SECRET//HCS-P//ORCON", "HCS requires NOFORN (ISM-ID-00049)"),
        ("TOP SECRET//SI-G//NOFORN", "SI-G requires ORCON (ISM-ID-00045)"),
        ("SECRET//ORCON/RELIDO", "(rule orcon-relido)"),
        ("SECRET//NOFORN/REL TO USA, CAN", "(rule noforn-rel)"),
        ("SECRET//FOUO", "(ISM-ID-00030)"),
        ("SECRET//SI-Q", "\"SI-Q\" is not a published SCI control system or compartment (rule unknown-sci)"),
        ("SECRET//NOFORN//SI", "(rule category-order)"),
        ("secret", "(rule syntax)"),
    ];
    for (banner, needle) in cases {
        let status = ia
            .publish(pb::PublishRequest { envelope: Some(bannered(&["nsa"], banner, "refused")) })
            .await
            .expect_err(banner);
        assert_eq!(status.code(), Code::InvalidArgument, "{banner}: {status:?}");
        assert!(status.message().contains("envelope.markings"), "{banner}: {}", status.message());
        assert!(status.message().contains(needle), "{banner}: {}", status.message());
    }
    // Both forms at once must agree.
    let mut both = bannered(&["nsa"], "SECRET//REL TO USA, CAN", "both");
    let markings = both.markings.as_mut().unwrap();
    markings.classification = pb::Classification::Secret as i32;
    markings.controls = vec![pb::DisseminationControl::Noforn as i32];
    let status = ia.publish(pb::PublishRequest { envelope: Some(both.clone()) }).await.unwrap_err();
    assert!(status.message().contains("disagree"), "{status:?}");
    let markings = both.markings.as_mut().unwrap();
    markings.controls.clear();
    markings.rel_to = vec!["USA".into(), "CAN".into()];
    delivered_sequence(&publish(&mut ia, both).await, "nsa");
    // Nothing refused was stored: nsa's feed holds the one accepted message.
    assert_eq!(bodies_received(&gateway, &nsa_analyst(&gateway, "nsa-check", None)).await, ["both"]);
}

#[tokio::test]
async fn liaison_publish_takes_a_banner_and_prints_it_with_what_released_each_copy() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let token = gateway.token("ia", Role::AgencySystem);
    let args = [
        "publish",
        "--to",
        "gbr",
        "--topic",
        "counter-terrorism",
        "--marking",
        "SECRET//REL TO USA, GBR, FVEY",
        "--body",
        "from the CLI",
    ];
    let out = liaison_cli(&gateway, &token, &args).await;
    assert!(out.contains("(SECRET//REL TO USA, GBR, FVEY)"), "{out}");
    assert!(out.contains("gbr: delivered, sequence 1 on liaison.feed.gbr."), "{out}");
    assert!(out.contains(", released by REL TO GBR"), "{out}");
}
