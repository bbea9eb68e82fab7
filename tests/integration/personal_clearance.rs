//! Every delivery is re-checked against the subscriber's own attributes — clearance, nationality and
//! law-enforcement eligibility from their token, the party's where the token states none — by the same
//! holder checks the router applies to parties: each rule that stops a message at a party stops it at a
//! person too. Withheld deliveries are counted.

use crate::common;

use std::time::Duration;

use common::*;
use liaison::api as pb;
use liaison::identity::{Grant, Role};
use liaison::model::{Classification, Token};
use liaison::policy_store::PolicyFiles;
use liaison::router::{DEFAULT_DIRECTORY, DEFAULT_POLICY};

use pb::DisseminationControl::{Les, Noforn};

/// The attributes a test token states; `None` leaves them to the party (ia: USA, top-secret, LE).
#[derive(Default, Clone)]
struct Person {
    clearance: Option<Classification>,
    nationality: Option<&'static str>,
    law_enforcement: Option<bool>,
}

/// One message of the standard set: body, classification, controls, REL TO.
type Sample = (&'static str, pb::Classification, &'static [pb::DisseminationControl], &'static [&'static str]);

/// Messages cbp may send to ia, one per rule the personal check applies.
const SAMPLES: &[Sample] = &[
    ("secret", pb::Classification::Secret, &[], &[]),
    ("confidential", pb::Classification::Confidential, &[], &[]),
    ("noforn", pb::Classification::Confidential, &[Noforn], &[]),
    ("rel-can", pb::Classification::Secret, &[], &["USA", "CAN"]),
    ("rel-gbr", pb::Classification::Secret, &[], &["USA", "GBR"]),
    ("les", pb::Classification::Unclassified, &[Les], &[]),
    ("unclassified", pb::Classification::Unclassified, &[], &[]),
];

fn marked(&(body, classification, controls, rel_to): &Sample) -> pb::Envelope {
    let mut envelope = envelope(&["ia"], "border-security", body.as_bytes());
    let markings = envelope.markings.as_mut().unwrap();
    markings.classification = classification as i32;
    markings.controls = controls.iter().map(|control| *control as i32).collect();
    markings.rel_to = rel_to.iter().map(|country| country.to_string()).collect();
    markings.tlp = pb::Tlp::Unspecified as i32;
    envelope
}

/// A gateway with the standard set published by cbp to ia.
async fn published(nats: &NatsServer) -> TestGateway {
    let gateway = TestGateway::start(nats).await;
    publish_samples(&gateway).await;
    gateway
}

async fn publish_samples(gateway: &TestGateway) {
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    for sample in SAMPLES {
        let receipt = publish(&mut cbp, marked(sample)).await;
        delivered_sequence(&receipt, "ia");
    }
}

fn person_token(gateway: &TestGateway, subject: &str, person: &Person) -> String {
    let grant = Grant {
        party: Token::parse("ia").unwrap(),
        role: Role::Analyst,
        subject: subject.into(),
        clearance: person.clearance,
        nationality: person.nationality.map(str::to_string),
        law_enforcement: person.law_enforcement,
        accesses: None,
        ttl: Duration::from_secs(600),
    };
    gateway.issuer().grant(&grant).unwrap()
}

/// Every sample but `withheld`, in publish order.
fn all_but(withheld: &[&str]) -> Vec<String> {
    SAMPLES.iter().map(|sample| sample.0).filter(|body| !withheld.contains(body)).map(str::to_string).collect()
}

async fn withheld_count(gateway: &TestGateway) -> u64 {
    let mut operator = gateway.operator("ia", Role::Operator).await;
    operator.list_denial_counts(pb::ListDenialCountsRequest {}).await.unwrap().into_inner().withheld
}

#[tokio::test]
async fn a_foreign_national_receives_no_classified_material_without_rel_to_their_country() {
    let nats = NatsServer::start().await;
    let gateway = published(&nats).await;
    let gbr = Person { nationality: Some("GBR"), ..Person::default() };
    let bodies = bodies_received(&gateway, &person_token(&gateway, "gbr-officer", &gbr)).await;
    // SECRET and CONFIDENTIAL without REL TO, NOFORN, and REL TO USA CAN are all withheld.
    assert_eq!(bodies, all_but(&["secret", "confidential", "noforn", "rel-can"]));
    assert_eq!(withheld_count(&gateway).await, 4);
    // The same check over a US national gives everything: the withholding was the nationality.
    let usa = Person { nationality: Some("USA"), ..Person::default() };
    assert_eq!(bodies_received(&gateway, &person_token(&gateway, "us-analyst", &usa)).await, all_but(&[]));
}

#[tokio::test]
async fn noforn_is_withheld_from_a_foreign_national_even_when_released_otherwise() {
    let nats = NatsServer::start().await;
    let gateway = published(&nats).await;
    // A Canadian: REL TO USA CAN arrives; NOFORN, and classified without REL TO, do not.
    let can = Person { nationality: Some("CAN"), ..Person::default() };
    let bodies = bodies_received(&gateway, &person_token(&gateway, "can-officer", &can)).await;
    assert_eq!(bodies, all_but(&["secret", "confidential", "noforn", "rel-gbr"]));
    assert!(!bodies.contains(&"noforn".to_string()));
}

#[tokio::test]
async fn a_rel_to_list_that_does_not_name_the_nationality_is_withheld() {
    let nats = NatsServer::start().await;
    let gateway = published(&nats).await;
    let mex = Person { nationality: Some("MEX"), clearance: Some(Classification::TopSecret), ..Person::default() };
    let bodies = bodies_received(&gateway, &person_token(&gateway, "mex-officer", &mex)).await;
    assert!(!bodies.iter().any(|body| body.starts_with("rel-")), "{bodies:?}");
    assert_eq!(bodies, all_but(&["secret", "confidential", "noforn", "rel-can", "rel-gbr"]));
}

#[tokio::test]
async fn deliveries_above_personal_clearance_are_withheld_and_not_redelivered() {
    let nats = NatsServer::start().await;
    let gateway = published(&nats).await;
    let confidential = Person { clearance: Some(Classification::Confidential), ..Person::default() };
    let token = person_token(&gateway, "confidential-analyst", &confidential);
    let mut client = client_with_header(&gateway.url(), Some(format!("Bearer {token}"))).await;
    let open = pb::OpenSubscription {
        start: from_beginning(),
        ack_deadline: Some(proto_duration(Duration::from_secs(1))),
        ..Default::default()
    };
    let mut feed = subscribe(&mut client, open).await.unwrap();
    let expected = all_but(&["secret", "rel-can", "rel-gbr"]);
    let deliveries = feed.take(expected.len(), Duration::from_secs(10)).await;
    assert_eq!(deliveries.iter().map(body).collect::<Vec<_>>(), expected);
    feed.ack(&deliveries).await;
    // The withheld ones do not come back after the ack deadline either (an ephemeral subscription: only
    // this person reads it).
    assert!(feed.next_batch(Duration::from_millis(2500)).await.is_empty());
    assert_eq!(withheld_count(&gateway).await, 3);
}

#[tokio::test]
async fn les_is_withheld_from_a_person_whose_token_says_not_law_enforcement() {
    let nats = NatsServer::start().await;
    let gateway = published(&nats).await;
    // Issued by the CLI, as an administrator would.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_liaison"))
        .args(["token", "issue", "--party", "ia", "--role", "analyst", "--law-enforcement", "false", "--data-dir"])
        .arg(gateway.data_dir.path())
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let token = String::from_utf8(output.stdout).unwrap();
    assert_eq!(bodies_received(&gateway, token.trim()).await, all_but(&["les"]));
    assert_eq!(withheld_count(&gateway).await, 1);
}

#[tokio::test]
async fn a_token_without_personal_claims_is_held_to_its_partys_attributes_in_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let files = PolicyFiles {
        directory: Some(dir.path().join("directory.toml")),
        policy: Some(dir.path().join("policy.toml")),
    };
    std::fs::write(files.directory.as_ref().unwrap(), DEFAULT_DIRECTORY).unwrap();
    std::fs::write(files.policy.as_ref().unwrap(), DEFAULT_POLICY).unwrap();
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start_with(Some(nats.url()), |config| config.policy_files = files.clone()).await;
    publish_samples(&gateway).await;
    let token = person_token(&gateway, "plain-analyst", &Person::default());
    // What the router let ia have, all of it.
    assert_eq!(bodies_received(&gateway, &token).await, all_but(&[]));

    // ia's accreditation drops to CONFIDENTIAL: the copies already stored above it are withheld from a
    // token that states no clearance of its own.
    let ia = "id = \"ia\"\nname = \"DHS Office of Intelligence and Analysis\"\nkind = \"hub\"\nnationality = \"USA\"\nclearance = \"top-secret\"";
    assert!(DEFAULT_DIRECTORY.contains(ia));
    let lowered = DEFAULT_DIRECTORY.replace(ia, &ia.replace("top-secret", "confidential"));
    let before = policy_version(&mut gateway.operator("ia", Role::Operator).await).await;
    std::fs::write(files.directory.as_ref().unwrap(), lowered).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while policy_version(&mut gateway.operator("ia", Role::Operator).await).await == before {
        assert!(tokio::time::Instant::now() < deadline, "the edited directory was not picked up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(bodies_received(&gateway, &token).await, all_but(&["secret", "rel-can", "rel-gbr"]));
    // A token that states its own clearance is held to it instead.
    let cleared = Person { clearance: Some(Classification::Secret), ..Person::default() };
    assert_eq!(bodies_received(&gateway, &person_token(&gateway, "cleared", &cleared)).await, all_but(&[]));
}
