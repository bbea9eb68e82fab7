//! Foreign-disclosure review end to end: RELIDO material bound for a foreign partner its REL TO does not
//! cover is held, not delivered nor denied; a disclosure officer of the origin party lists it (metadata
//! only), releases it (REL TO the recipient's country, optionally narrowed) or refuses it (the originator
//! is notified); a hold ends at its time with a notice; held copies survive a gateway restart.

use crate::common;

use std::time::Duration;

use common::*;
use liaison::api as pb;
use liaison::identity::Role;
use pb::recipient_outcome::Outcome;
use tonic::Code;

const WAIT: Duration = Duration::from_secs(10);

/// ia's report to Canada marked only by `banner`.
fn to_canada(banner: &str, body: &str) -> pb::Envelope {
    let mut envelope = envelope(&["can"], "counter-terrorism", body.as_bytes());
    envelope.title = format!("title of {body}");
    envelope.markings = Some(pb::Markings { banner: banner.into(), ..Default::default() });
    envelope
}

/// Publishes as ia's system and checks the copy for Canada was held; returns the message id.
async fn held(gateway: &TestGateway, banner: &str, body: &str) -> String {
    let mut ia = gateway.client("ia", Role::AgencySystem).await;
    let receipt = publish(&mut ia, to_canada(banner, body)).await;
    match &receipt.outcomes[0].outcome {
        Some(Outcome::Held(held)) => {
            assert!(held.explanation.ends_with("RELIDO: held for a foreign disclosure officer's review"), "{held:?}");
            assert!(held.expires_at.is_some());
        }
        other => panic!("not held: {other:?}"),
    }
    receipt.message_id
}

async fn list(gateway: &TestGateway, party: &str, role: Role) -> Result<Vec<pb::HeldItem>, tonic::Status> {
    let mut operator = gateway.operator(party, role).await;
    Ok(operator.list_held(pb::ListHeldRequest::default()).await?.into_inner().items)
}

#[tokio::test]
async fn a_held_copy_is_listed_for_the_origins_disclosure_officer_and_released_by_it() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let message_id = held(&gateway, "SECRET", "uncaveated").await;
    let explicit = held(&gateway, "SECRET//REL TO USA, GBR/RELIDO", "relido").await;
    assert!(bodies_received(&gateway, &gateway.token("can", Role::Analyst)).await.is_empty(), "nothing delivered");

    let items = list(&gateway, "ia", Role::DisclosureOfficer).await.unwrap();
    let summary: Vec<(&str, &str, &str, &str)> = items
        .iter()
        .map(|item| (item.message_id.as_str(), item.recipient.as_str(), item.banner.as_str(), item.title.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            (message_id.as_str(), "can", "SECRET", "title of uncaveated"),
            (explicit.as_str(), "can", "SECRET//REL TO USA, GBR/RELIDO", "title of relido")
        ]
    );
    // Another party's officer sees none of them; other roles may not list.
    assert!(list(&gateway, "cbp", Role::DisclosureOfficer).await.unwrap().is_empty());
    for (party, role) in [("ia", Role::Admin), ("ia", Role::Analyst), ("can", Role::Analyst)] {
        let status = list(&gateway, party, role).await.unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{party} {role:?}");
    }

    let mut officer = gateway.operator("ia", Role::DisclosureOfficer).await;
    let mut foreign = gateway.operator("cbp", Role::DisclosureOfficer).await;
    let approve = |message_id: &str| pb::ApproveHeldRequest {
        message_id: message_id.into(),
        recipient: "can".into(),
        reason: "releasable under the bilateral arrangement".into(),
        narrowed_title: "Sanitised".into(),
        narrowed_body: b"tearline: sanitised summary".to_vec(),
    };
    let status = foreign.approve_held(approve(&message_id)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let released = officer.approve_held(approve(&message_id)).await.unwrap().into_inner();
    assert_eq!(released.banner, "SECRET//REL TO USA, CAN");
    let again = officer.approve_held(approve(&message_id)).await.unwrap_err();
    assert_eq!(again.code(), Code::NotFound, "decided once: {again:?}");

    // Canada receives the narrowed copy, released to it; its person check passes.
    let mut canada = subscribe(
        &mut gateway.client("can", Role::Analyst).await,
        pb::OpenSubscription { start: from_beginning(), ..Default::default() },
    )
    .await
    .unwrap();
    let delivery = canada.take(1, WAIT).await.remove(0);
    let envelope = delivery.envelope.unwrap();
    assert_eq!((envelope.id.as_str(), envelope.title.as_str()), (message_id.as_str(), "Sanitised"));
    assert_eq!(&envelope.body[..], b"tearline: sanitised summary");
    assert_eq!(envelope.markings.unwrap().banner, "SECRET//REL TO USA, CAN");

    // The release is audited, naming the officer and the markings released under.
    let mut audit = gateway.operator("ia", Role::Operator).await;
    let query = pb::QueryAuditRequest {
        message_id: message_id.clone(),
        event: pb::AuditEvent::DisclosureApproved as i32,
        limit: 10,
        ..Default::default()
    };
    let record = audit.query_audit(query).await.unwrap().into_inner().message().await.unwrap().expect("a record");
    assert_eq!((record.subscriber.as_str(), record.markings.as_str()), ("ia-test", "SECRET//REL TO USA, CAN"));
    let left: Vec<String> =
        list(&gateway, "ia", Role::DisclosureOfficer).await.unwrap().into_iter().map(|i| i.message_id).collect();
    assert_eq!(left, [explicit]);
}

/// The notices in ia's feed: (kind, `liaison.notice`, `liaison.message_id`).
async fn notices(gateway: &TestGateway, count: usize) -> Vec<(String, String)> {
    let mut ia = gateway.client("ia", Role::Analyst).await;
    let open = pb::OpenSubscription { start: from_beginning(), ..Default::default() };
    let mut feed = subscribe(&mut ia, open).await.unwrap();
    let deliveries = feed.take(count, Duration::from_secs(20)).await;
    deliveries
        .into_iter()
        .map(|delivery| {
            let envelope = delivery.envelope.unwrap();
            assert_eq!(envelope.kind(), pb::Kind::Notice);
            (envelope.attributes["liaison.notice"].clone(), envelope.attributes["liaison.message_id"].clone())
        })
        .collect()
}

#[tokio::test]
async fn a_refusal_and_an_expired_hold_each_notify_the_originator() {
    let nats = NatsServer::start().await;
    let gateway =
        TestGateway::start_with(Some(nats.url()), |config| config.limits.disclosure_hold = Duration::from_secs(3))
            .await;
    let refused = held(&gateway, "SECRET", "to be refused").await;
    let mut officer = gateway.operator("ia", Role::DisclosureOfficer).await;
    let deny = pb::DenyHeldRequest {
        message_id: refused.clone(),
        recipient: "can".into(),
        reason: "source protection".into(),
    };
    let answer = officer.deny_held(deny).await.unwrap().into_inner();
    assert!(ulid::Ulid::from_string(&answer.notice_id).is_ok());
    let expiring = held(&gateway, "SECRET", "left undecided").await;

    let got = notices(&gateway, 2).await;
    assert_eq!(got, [("disclosure-denied".into(), refused.clone()), ("disclosure-expired".into(), expiring.clone())]);
    assert!(list(&gateway, "ia", Role::DisclosureOfficer).await.unwrap().is_empty());
    assert!(bodies_received(&gateway, &gateway.token("can", Role::Analyst)).await.is_empty());
    let mut audit = gateway.operator("ia", Role::Operator).await;
    for (message_id, event) in
        [(refused, pb::AuditEvent::DisclosureDenied), (expiring, pb::AuditEvent::DisclosureExpired)]
    {
        let query = pb::QueryAuditRequest { message_id, event: event as i32, limit: 10, ..Default::default() };
        let record = audit.query_audit(query).await.unwrap().into_inner().message().await.unwrap();
        assert!(record.is_some_and(|record| record.recipient == "can"), "{event:?}");
    }
}

#[tokio::test]
async fn held_copies_survive_a_gateway_restart_and_are_counted() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let message_id = held(&gateway, "CONFIDENTIAL", "kept").await;
    drop(gateway.stop().await);
    let gateway = TestGateway::start(&nats).await;
    let items = list(&gateway, "ia", Role::DisclosureOfficer).await.unwrap();
    assert_eq!(items.iter().map(|item| item.message_id.as_str()).collect::<Vec<_>>(), [message_id.as_str()]);
    // The sweep counts what waits (every few seconds).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while metric(&gateway, "liaison_disclosure_held").await != 1.0 {
        assert!(tokio::time::Instant::now() < deadline, "the held copy was never counted");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
