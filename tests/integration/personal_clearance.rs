//! Every delivery is re-checked against the subscriber's own clearance and nationality from their token:
//! material above an analyst's clearance, or NOFORN / not REL TO their nationality, is withheld (and
//! counted) even though the policy delivered it to their party.

use crate::common;

use std::time::Duration;

use common::*;
use liaison::api as pb;
use liaison::api::operator_service_client::OperatorServiceClient;
use liaison::identity::{Grant, Role};
use liaison::model::{Classification, Token};

fn marked(classification: pb::Classification, controls: &[pb::DisseminationControl], body: &[u8]) -> pb::Envelope {
    let mut envelope = envelope(&["ia"], "border-security", body);
    let markings = envelope.markings.as_mut().unwrap();
    markings.classification = classification as i32;
    markings.controls = controls.iter().map(|control| *control as i32).collect();
    markings.tlp = pb::Tlp::Unspecified as i32;
    envelope
}

async fn analyst(gateway: &TestGateway, clearance: Option<Classification>, nationality: Option<&str>) -> Client {
    let grant = Grant {
        party: Token::parse("ia").unwrap(),
        role: Role::Analyst,
        subject: "analyst-under-test".into(),
        clearance,
        nationality: nationality.map(str::to_string),
        ttl: Duration::from_secs(600),
    };
    let token = gateway.issuer().grant(&grant).unwrap();
    client_with_header(&gateway.url(), Some(format!("Bearer {token}"))).await
}

fn bodies(deliveries: &[pb::Delivery]) -> Vec<Vec<u8>> {
    deliveries.iter().map(|delivery| delivery.envelope.as_ref().unwrap().body.to_vec()).collect()
}

#[tokio::test]
async fn deliveries_above_personal_clearance_or_not_released_to_the_person_are_withheld() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    publish(&mut cbp, marked(pb::Classification::Secret, &[], b"secret")).await;
    publish(&mut cbp, marked(pb::Classification::Confidential, &[], b"confidential")).await;
    publish(&mut cbp, marked(pb::Classification::Confidential, &[pb::DisseminationControl::Noforn], b"noforn")).await;
    publish(&mut cbp, marked(pb::Classification::Unclassified, &[], b"unclassified")).await;

    let open = || pb::OpenSubscription {
        start: from_beginning(),
        ack_deadline: Some(prost_types::Duration { seconds: 1, nanos: 0 }),
        ..Default::default()
    };
    // A US analyst cleared to CONFIDENTIAL sees everything but the SECRET report.
    let mut confidential = analyst(&gateway, Some(Classification::Confidential), Some("USA")).await;
    let mut feed = subscribe(&mut confidential, open()).await.unwrap();
    let deliveries = feed.take(3, Duration::from_secs(10)).await;
    assert_eq!(bodies(&deliveries), [b"confidential".to_vec(), b"noforn".to_vec(), b"unclassified".to_vec()]);
    feed.ack(&deliveries).await;
    // The withheld one does not come back after the ack deadline either.
    assert!(feed.next_batch(Duration::from_millis(2500)).await.is_empty());
    drop(feed);

    // A Canadian liaison officer at I&A, cleared to SECRET, never sees the NOFORN report.
    let mut canadian = analyst(&gateway, Some(Classification::Secret), Some("CAN")).await;
    let mut feed = subscribe(&mut canadian, open()).await.unwrap();
    let deliveries = feed.take(3, Duration::from_secs(10)).await;
    assert_eq!(bodies(&deliveries), [b"secret".to_vec(), b"confidential".to_vec(), b"unclassified".to_vec()]);
    drop(feed);

    // A token with no personal limits gets the party's whole feed.
    let mut unlimited = analyst(&gateway, None, None).await;
    let mut feed = subscribe(&mut unlimited, open()).await.unwrap();
    assert_eq!(feed.take(4, Duration::from_secs(10)).await.len(), 4);

    // Withheld deliveries are counted.
    let channel = tonic::transport::Channel::from_shared(gateway.url()).unwrap().connect().await.unwrap();
    let token: tonic::metadata::MetadataValue<_> =
        format!("Bearer {}", gateway.token("ia", Role::Operator)).parse().unwrap();
    let mut operator = OperatorServiceClient::with_interceptor(channel, move |mut request: tonic::Request<()>| {
        request.metadata_mut().insert("authorization", token.clone());
        Ok(request)
    });
    let counts = operator.list_denial_counts(pb::ListDenialCountsRequest {}).await.unwrap().into_inner();
    assert_eq!(counts.withheld, 2);
}
