//! A message published over gRPC arrives through Subscribe with every field intact, on the documented
//! subject; receipts say delivered or denied per recipient.

use crate::common;

use std::time::Duration;

use common::*;
use futures::StreamExt;
use liaison::api as pb;
use liaison::identity::Role;
use prost::Message;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn published_message_arrives_with_every_field_intact() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let mut analyst = gateway.client("ia", Role::Analyst).await;
    let mut subscription = subscribe(&mut analyst, pb::OpenSubscription::default()).await.unwrap();
    let lanes = ["liaison.feed.ia.*.*.*.flash", "liaison.feed.ia.*.*.*.immediate", "liaison.feed.ia.*.*.*.priority"];
    assert_eq!(subscription.opened.subjects, [&lanes[..], &["liaison.feed.ia.*.*.*"]].concat());

    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    let mut sent = envelope(&["ia"], "money-laundering", b"Structured deposits at the San Ysidro port of entry");
    sent.idempotency_key = "cbp-report-1".into();
    sent.in_reply_to = ulid::Ulid::new().to_string();
    let markings = sent.markings.as_mut().unwrap();
    markings.classification = pb::Classification::Secret as i32;
    markings.rel_to = vec!["USA".into(), "CAN".into()];
    sent.attributes.insert("source".into(), "port-ops".into());
    let receipt = publish(&mut cbp, sent.clone()).await;
    assert_eq!(receipt.outcomes.len(), 1);
    let sequence = delivered_sequence(&receipt, "ia");

    let deliveries = subscription.take(1, WAIT).await;
    let delivery = &deliveries[0];
    assert_eq!(delivery.stream_sequence, sequence);
    assert_eq!(delivery.delivery_attempt, 1);
    assert!(delivery.stored_at.is_some());
    let got = delivery.envelope.clone().unwrap();

    // The gateway sets id and origin and adds the canonical banner beside the markings' fields; everything
    // else is what was sent.
    assert_eq!(receipt.banner, "SECRET//REL TO USA, CAN//LES");
    assert_eq!(got.id, receipt.message_id);
    assert!(ulid::Ulid::from_string(&got.id).is_ok());
    assert_eq!(got.origin, "cbp");
    let mut expected = sent;
    expected.id = receipt.message_id.clone();
    expected.origin = "cbp".into();
    expected.markings.as_mut().unwrap().banner = receipt.banner.clone();
    assert_eq!(got, expected);
}

#[tokio::test]
async fn copies_land_on_the_documented_subject() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let raw = nats.client().await;
    let mut watcher = raw.subscribe("liaison.feed.>").await.unwrap();
    raw.flush().await.unwrap();

    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    let receipt = publish(&mut cbp, envelope(&["ia"], "counter-proliferation", b"dual-use export")).await;
    let Some(pb::recipient_outcome::Outcome::Delivered(delivered)) = &receipt.outcomes[0].outcome else {
        panic!("not delivered: {receipt:?}");
    };
    assert_eq!(delivered.subject, "liaison.feed.ia.cbp.report.counter-proliferation");

    let message = tokio::time::timeout(WAIT, watcher.next()).await.unwrap().unwrap();
    assert_eq!(message.subject.as_str(), "liaison.feed.ia.cbp.report.counter-proliferation");
    let stored = pb::Envelope::decode(message.payload).unwrap();
    assert_eq!(stored.id, receipt.message_id);
    assert_eq!(stored.recipients, ["ia"]);
    assert_eq!(stored.body.as_ref(), b"dual-use export");
}

#[tokio::test]
async fn receipts_say_delivered_or_denied_with_a_reason() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    let receipt = publish(&mut cbp, envelope(&["ia", "fbi", "atlantis"], "cyber-crime", b"x")).await;
    let summary: Vec<(String, String)> = receipt
        .outcomes
        .iter()
        .map(|outcome| {
            let what = match &outcome.outcome {
                Some(pb::recipient_outcome::Outcome::Delivered(_)) => "delivered".to_string(),
                Some(pb::recipient_outcome::Outcome::Denied(denied)) => {
                    assert!(!denied.explanation.is_empty());
                    pb::DenialReason::try_from(denied.reason).unwrap().as_str_name().to_string()
                }
                Some(pb::recipient_outcome::Outcome::Held(_)) => "held".to_string(),
                None => "none".to_string(),
            };
            (outcome.party.clone(), what)
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("ia".to_string(), "delivered".to_string()),
            ("fbi".to_string(), "DENIAL_REASON_NO_ROUTE".to_string()),
            ("atlantis".to_string(), "DENIAL_REASON_UNKNOWN_PARTY".to_string()),
        ]
    );

    // No recipients: route by policy. From I&A that is every party a rule reaches whose topics of
    // interest include cyber-crime, as the default directory and policy say.
    let mut ia = gateway.client("ia", Role::AgencySystem).await;
    let mut bulletin = envelope(&[], "cyber-crime", b"bulletin");
    bulletin.markings.as_mut().unwrap().controls.clear();
    let receipt = publish(&mut ia, bulletin).await;
    let delivered: Vec<&str> = receipt
        .outcomes
        .iter()
        .filter(|outcome| matches!(outcome.outcome, Some(pb::recipient_outcome::Outcome::Delivered(_))))
        .map(|outcome| outcome.party.as_str())
        .collect();
    assert_eq!(delivered, ["ia-mc-cyber", "cisa", "fbi", "nsa", "hsi-nsps", "hsi-jioc", "fc-ca", "can", "gbr"]);
    assert_eq!(delivered.len(), receipt.outcomes.len(), "nothing denied: {receipt:?}");
    let mut fbi = gateway.client("fbi", Role::Analyst).await;
    let mut subscription =
        subscribe(&mut fbi, pb::OpenSubscription { start: from_beginning(), ..Default::default() }).await.unwrap();
    let deliveries = subscription.take(1, WAIT).await;
    assert_eq!(deliveries[0].envelope.as_ref().unwrap().body.as_ref(), b"bulletin");
    assert_eq!(deliveries[0].envelope.as_ref().unwrap().recipients, ["fbi"]);
}

#[tokio::test]
async fn filters_select_by_origin_kind_and_topic_on_the_server() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    let mut tsa = gateway.client("tsa", Role::AgencySystem).await;
    publish(&mut cbp, envelope(&["ia"], "money-laundering", b"cbp-ml")).await;
    publish(&mut tsa, envelope(&["ia"], "money-laundering", b"tsa-ml")).await;
    let mut tip = envelope(&["ia"], "cyber-crime", b"cbp-tip");
    tip.kind = pb::Kind::Tip as i32;
    publish(&mut cbp, tip).await;

    let mut analyst = gateway.client("ia", Role::Analyst).await;
    let open = pb::OpenSubscription {
        filter: Some(pb::FeedFilter {
            origins: vec!["cbp".into()],
            kinds: vec![pb::Kind::Report as i32],
            topics: vec!["money-laundering".into()],
        }),
        start: from_beginning(),
        ..Default::default()
    };
    let mut subscription = subscribe(&mut analyst, open).await.unwrap();
    // A kind filter always admits notices (purge notices), on the same origins and topics.
    // One filter per lane, highest first; the routine lane's subjects have no precedence token.
    let lanes = [".flash", ".immediate", ".priority", ""];
    let subjects: Vec<String> = lanes
        .iter()
        .flat_map(|lane| ["report", "notice"].map(|kind| format!("liaison.feed.ia.cbp.{kind}.money-laundering{lane}")))
        .collect();
    assert_eq!(subscription.opened.subjects, subjects);
    let deliveries = subscription.take(1, WAIT).await;
    assert_eq!(deliveries[0].envelope.as_ref().unwrap().body.as_ref(), b"cbp-ml");
    assert!(subscription.next_batch(Duration::from_millis(500)).await.is_empty());
}
