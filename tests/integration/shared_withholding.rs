//! Withholding is per person: on a durable shared by several members of a party, a delivery withheld from
//! one (a foreign national) stays available for the eligible ones, and is audited as withheld for that
//! person; with no eligible member it ends in the dead-letter stream, from which an admin can redrive it.

use crate::common;

use std::time::Duration;

use common::*;
use liaison::api as pb;
use liaison::identity::{Grant, Role};
use liaison::model::Token;

const N: usize = 8;

/// A token of an ia analyst named `subject` with a personal nationality.
fn member(gateway: &TestGateway, subject: &str, nationality: &str) -> String {
    let grant = Grant {
        party: Token::parse("ia").unwrap(),
        role: Role::Analyst,
        subject: subject.into(),
        clearance: None,
        nationality: Some(nationality.into()),
        law_enforcement: None,
        accesses: None,
        ttl: Duration::from_secs(600),
    };
    gateway.issuer().grant(&grant).unwrap()
}

async fn open(gateway: &TestGateway, token: &str, durable: &str, max_attempts: u32) -> Subscription {
    let mut client = client_with_header(&gateway.url(), Some(format!("Bearer {token}"))).await;
    let open = pb::OpenSubscription {
        durable_name: durable.into(),
        start: from_beginning(),
        ack_deadline: Some(proto_duration(Duration::from_secs(1))),
        max_delivery_attempts: max_attempts,
        ..Default::default()
    };
    subscribe(&mut client, open).await.unwrap()
}

/// Publishes `count` SECRET//NOFORN reports from cbp to ia; returns their message ids.
async fn publish_noforn(gateway: &TestGateway, count: usize) -> Vec<String> {
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    let mut ids = Vec::new();
    for index in 0..count {
        let mut envelope = envelope(&["ia"], "border-security", format!("noforn-{index}").as_bytes());
        let markings = envelope.markings.as_mut().unwrap();
        markings.classification = pb::Classification::Secret as i32;
        markings.controls = vec![pb::DisseminationControl::Noforn as i32];
        markings.tlp = pb::Tlp::Unspecified as i32;
        let receipt = publish(&mut cbp, envelope).await;
        delivered_sequence(&receipt, "ia");
        ids.push(receipt.message_id);
    }
    ids
}

/// Takes `count` deliveries, acknowledging each batch as it arrives.
async fn take_acking(subscription: &mut Subscription, count: usize) -> Vec<pb::Delivery> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut deliveries = Vec::new();
    while deliveries.len() < count {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        assert!(!left.is_zero(), "got {} of {count} deliveries in time", deliveries.len());
        let batch = subscription.next_batch(left).await;
        subscription.ack(&batch).await;
        deliveries.extend(batch);
    }
    deliveries
}

/// Polls the withheld counter until it reaches `at_least`.
async fn wait_withheld(gateway: &TestGateway, at_least: u64) {
    let mut operator = gateway.operator("ia", Role::Operator).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let counts = operator.list_denial_counts(pb::ListDenialCountsRequest {}).await.unwrap().into_inner();
        if counts.withheld >= at_least {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "withheld {} of {at_least}", counts.withheld);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// (message id, subscriber) of every audit record of `event`.
async fn audited(gateway: &TestGateway, event: pb::AuditEvent) -> Vec<(String, String)> {
    let mut operator = gateway.operator("ia", Role::Operator).await;
    let request = pb::QueryAuditRequest { event: event as i32, ..Default::default() };
    let mut stream = operator.query_audit(request).await.unwrap().into_inner();
    let mut records = Vec::new();
    while let Some(record) = stream.message().await.unwrap() {
        records.push((record.message_id, record.subscriber));
    }
    records
}

#[tokio::test]
async fn on_a_shared_durable_the_us_member_gets_every_message_withheld_from_the_foreign_national() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    // The foreign national opens the durable first and is handed every message first.
    let mut gbr = open(&gateway, &member(&gateway, "gbr-officer", "GBR"), "desk", 100).await;
    let ids = publish_noforn(&gateway, N).await;
    wait_withheld(&gateway, N as u64).await;

    let mut usa = open(&gateway, &member(&gateway, "us-analyst", "USA"), "desk", 100).await;
    let deliveries = take_acking(&mut usa, N).await;
    let mut got: Vec<String> =
        deliveries.iter().map(|delivery| delivery.envelope.as_ref().unwrap().id.clone()).collect();
    got.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(got, expected, "the eligible member receives every message");
    assert!(deliveries.iter().all(|delivery| delivery.delivery_attempt >= 2), "each was withheld first");
    assert!(gbr.next_batch(Duration::from_secs(2)).await.is_empty(), "the foreign national received one");
    assert!(usa.next_batch(Duration::from_millis(500)).await.is_empty(), "acknowledged messages came back");

    // The audit names the person each was withheld from, and the person it was delivered to.
    let withheld = audited(&gateway, pb::AuditEvent::Withheld).await;
    assert!(withheld.iter().all(|(_, subscriber)| subscriber == "gbr-officer"), "{withheld:?}");
    for id in &ids {
        assert!(withheld.iter().any(|(message, _)| message == id), "no withheld record of {id}");
    }
    let delivered = audited(&gateway, pb::AuditEvent::Delivered).await;
    assert_eq!(delivered.len(), N, "{delivered:?}");
    assert!(delivered.iter().all(|(_, subscriber)| subscriber == "us-analyst"), "{delivered:?}");
}

#[tokio::test]
async fn with_no_eligible_member_a_withheld_message_ends_in_the_dead_letter_stream_and_can_be_redriven() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let mut gbr = open(&gateway, &member(&gateway, "gbr-officer", "GBR"), "desk", 3).await;
    let ids = publish_noforn(&gateway, 2).await;

    let mut operations = gateway.operator("ia", Role::Operator).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let dead = loop {
        let request = pb::ListDeadLettersRequest { party: "ia".into(), limit: 0 };
        let listed = operations.list_dead_letters(request).await.unwrap().into_inner().dead_letters;
        if listed.len() >= 2 {
            break listed;
        }
        assert!(tokio::time::Instant::now() < deadline, "dead-lettered {} of 2", listed.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(dead.len(), 2, "{dead:?}");
    for letter in &dead {
        assert!(ids.contains(&letter.message_id), "{letter:?}");
        assert_eq!(letter.subscription_id, "ia_desk");
        assert_eq!(letter.delivery_attempts, 3, "three attempts, each withheld");
        assert!(letter.reason.starts_with("withheld from every session that received it"), "{}", letter.reason);
        assert!(letter.reason.contains("NOFORN"), "{}", letter.reason);
    }
    assert!(gbr.next_batch(Duration::from_millis(500)).await.is_empty(), "the foreign national received one");
    assert_ne!(dead[0].message_id, dead[1].message_id);
    // Three withholdings per message, each audited for the person (the last stored with its batch, just
    // after the move).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let withheld = loop {
        let withheld = audited(&gateway, pb::AuditEvent::Withheld).await;
        if withheld.len() >= 6 || tokio::time::Instant::now() > deadline {
            break withheld;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(withheld.len(), 6, "{withheld:?}");
    assert!(withheld.iter().all(|(_, subscriber)| subscriber == "gbr-officer"), "{withheld:?}");
    drop(gbr);

    // Once an eligible member reads the durable, an admin's redrive reaches them.
    let mut usa = open(&gateway, &member(&gateway, "us-analyst", "USA"), "desk", 3).await;
    let mut admin = gateway.operator("ia", Role::Admin).await;
    let request = pb::RedriveDeadLettersRequest { party: "ia".into(), sequences: vec![] };
    let redriven = admin.redrive_dead_letters(request).await.unwrap().into_inner();
    assert_eq!(redriven.redriven.len(), 2, "{redriven:?}");
    let deliveries = take_acking(&mut usa, 2).await;
    let mut got: Vec<&str> =
        deliveries.iter().map(|delivery| delivery.envelope.as_ref().unwrap().id.as_str()).collect();
    got.sort();
    let mut expected: Vec<&str> = ids.iter().map(String::as_str).collect();
    expected.sort();
    assert_eq!(got, expected);
}
