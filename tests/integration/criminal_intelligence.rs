//! 28 CFR 23.20(a): a message marked as criminal intelligence must state the reasonable suspicion it rests
//! on and name the submitting agency's control official, or it is refused with INVALID_ARGUMENT citing the
//! rule, and nothing is stored. A complete submission is delivered with its marking intact.

use crate::common;

use std::time::Duration;

use common::*;
use liaison::api as pb;
use liaison::identity::Role;
use tonic::Code;

fn marked(suspicion: &str, official: &str) -> pb::Envelope {
    let mut envelope = envelope(&["ia"], "narcotics", b"Shipment pattern at the port");
    envelope.criminal_intelligence =
        Some(pb::CriminalIntelligence { reasonable_suspicion: suspicion.into(), control_official: official.into() });
    envelope
}

#[tokio::test]
async fn criminal_intelligence_needs_a_reasonable_suspicion_and_a_control_official() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;

    for (suspicion, official, field) in [
        ("", "Lt. A. Reyes", "reasonable_suspicion"),
        ("   ", "Lt. A. Reyes", "reasonable_suspicion"),
        ("Three seizures tied to one consignee", "", "control_official"),
    ] {
        let status = cbp
            .publish(pb::PublishRequest { envelope: Some(marked(suspicion, official)) })
            .await
            .expect_err("an incomplete criminal intelligence submission is refused");
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(status.message().contains(&format!("envelope.criminal_intelligence.{field}")), "{status:?}");
        assert!(status.message().contains("28 CFR 23.20(a)"), "{status:?}");
    }
    let jetstream = async_nats::jetstream::new(nats.client().await);
    let mut stream = jetstream.get_stream(liaison::bus::FEED_STREAM).await.unwrap();
    assert_eq!(stream.info().await.unwrap().state.messages, 0, "nothing refused was stored");

    let complete = marked("Three seizures tied to one consignee", "Lt. A. Reyes");
    let receipt = publish(&mut cbp, complete.clone()).await;
    delivered_sequence(&receipt, "ia");
    let mut analyst = gateway.client("ia", Role::Analyst).await;
    let open = pb::OpenSubscription { start: from_beginning(), ..Default::default() };
    let mut feed = subscribe(&mut analyst, open).await.unwrap();
    let delivery = feed.take(1, Duration::from_secs(10)).await.remove(0);
    assert_eq!(delivery.envelope.unwrap().criminal_intelligence, complete.criminal_intelligence);

    // A message not marked as criminal intelligence needs neither.
    publish(&mut cbp, envelope(&["ia"], "narcotics", b"unmarked")).await;
}
