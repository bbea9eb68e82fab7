//! Routing through the gateway: receipts report every denied recipient with its reason, rule and policy
//! version; route-by-policy fans out; bad marking combinations are refused naming the rule; operators can
//! dry-run the router and read the denial counters.

use crate::common;

use std::time::Duration;

use common::*;
use liaison::api as pb;
use liaison::identity::Role;
use tonic::Code;

const WAIT: Duration = Duration::from_secs(10);

fn marked(recipients: &[&str], topic: &str, classification: pb::Classification) -> pb::Envelope {
    let mut envelope = envelope(recipients, topic, b"routing test");
    let markings = envelope.markings.as_mut().unwrap();
    markings.classification = classification as i32;
    markings.controls.clear();
    markings.tlp = pb::Tlp::Unspecified as i32;
    envelope
}

async fn operator(gateway: &TestGateway, role: Role) -> Operator {
    gateway.operator("ia", role).await
}

fn outcome(receipt: &pb::Receipt, party: &str) -> pb::recipient_outcome::Outcome {
    receipt.outcomes.iter().find(|outcome| outcome.party == party).and_then(|outcome| outcome.outcome.clone()).unwrap()
}

#[tokio::test]
async fn denied_recipients_are_reported_with_reason_rule_and_version() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    let receipt =
        publish(&mut cbp, marked(&["ia", "fbi", "ice", "fema"], "money-laundering", pb::Classification::Secret)).await;
    assert_eq!(
        receipt.outcomes.iter().map(|outcome| outcome.party.as_str()).collect::<Vec<_>>(),
        ["ia", "fbi", "ice", "fema"]
    );
    assert_eq!(receipt.policy_version.len(), 12);

    let pb::recipient_outcome::Outcome::Delivered(ia) = outcome(&receipt, "ia") else { panic!("ia not delivered") };
    assert_eq!(ia.rule, "host-reporting-to-ia");
    assert!(ia.basis.contains("liaison officers"), "{}", ia.basis);
    let pb::recipient_outcome::Outcome::Delivered(ice) = outcome(&receipt, "ice") else { panic!("ice not delivered") };
    assert_eq!(ice.rule, "border-crime-relay-cbp-ice");
    let pb::recipient_outcome::Outcome::Denied(fbi) = outcome(&receipt, "fbi") else { panic!("fbi not denied") };
    assert_eq!(fbi.reason, pb::DenialReason::NoRoute as i32);
    assert!(fbi.explanation.contains(&receipt.policy_version), "{}", fbi.explanation);
    let pb::recipient_outcome::Outcome::Denied(fema) = outcome(&receipt, "fema") else { panic!("fema not denied") };
    assert_eq!(fema.reason, pb::DenialReason::NoRoute as i32);

    // The denied recipient's feed has nothing; the relayed one has the message.
    let mut fbi_analyst = gateway.client("fbi", Role::Analyst).await;
    let mut fbi_feed =
        subscribe(&mut fbi_analyst, pb::OpenSubscription { start: from_beginning(), ..Default::default() })
            .await
            .unwrap();
    assert!(fbi_feed.next_batch(Duration::from_millis(500)).await.is_empty());
    let mut ice_analyst = gateway.client("ice", Role::Analyst).await;
    let mut ice_feed =
        subscribe(&mut ice_analyst, pb::OpenSubscription { start: from_beginning(), ..Default::default() })
            .await
            .unwrap();
    assert_eq!(ice_feed.take(1, WAIT).await[0].envelope.as_ref().unwrap().id, receipt.message_id);

    // Without I&A on the message, the relay rule does not carry it to ICE.
    let receipt = publish(&mut cbp, marked(&["ice"], "money-laundering", pb::Classification::Unclassified)).await;
    let pb::recipient_outcome::Outcome::Denied(ice) = outcome(&receipt, "ice") else { panic!("ice not denied") };
    assert_eq!(ice.reason, pb::DenialReason::RelayRequired as i32);
    assert!(ice.explanation.contains("only through ia"), "{}", ice.explanation);

    // Denials are counted.
    let mut operator = operator(&gateway, Role::Operator).await;
    let counts = operator.list_denial_counts(pb::ListDenialCountsRequest {}).await.unwrap().into_inner().counts;
    let count = |reason: pb::DenialReason| {
        counts.iter().find(|count| count.reason == reason as i32).map_or(0, |count| count.count)
    };
    assert_eq!(count(pb::DenialReason::NoRoute), 2);
    assert_eq!(count(pb::DenialReason::RelayRequired), 1);
}

#[tokio::test]
async fn marking_enforcement_denies_per_recipient() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let mut ia = gateway.client("ia", Role::AgencySystem).await;
    let mut envelope = marked(&["can", "gbr", "fema", "cisa"], "counter-terrorism", pb::Classification::Secret);
    let markings = envelope.markings.as_mut().unwrap();
    markings.rel_to = vec!["USA".into(), "GBR".into()];
    markings.controls = vec![pb::DisseminationControl::Les as i32];
    let receipt = publish(&mut ia, envelope).await;
    let reasons: Vec<(String, i32)> = receipt
        .outcomes
        .iter()
        .map(|outcome| match &outcome.outcome {
            Some(pb::recipient_outcome::Outcome::Denied(denied)) => (outcome.party.clone(), denied.reason),
            _ => (outcome.party.clone(), 0),
        })
        .collect();
    assert_eq!(
        reasons,
        [
            ("can".to_string(), pb::DenialReason::NotReleasable as i32),
            ("gbr".to_string(), pb::DenialReason::Les as i32),
            ("fema".to_string(), pb::DenialReason::Les as i32),
            ("cisa".to_string(), pb::DenialReason::Les as i32),
        ]
    );
}

#[tokio::test]
async fn rel_to_a_tetragraph_reaches_the_parties_of_its_member_countries() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let mut ia = gateway.client("ia", Role::AgencySystem).await;
    // The shipped directory defines FVEY = AUS, CAN, GBR, NZL, USA.
    let mut envelope = marked(&["can", "mex"], "border-security", pb::Classification::Confidential);
    envelope.markings.as_mut().unwrap().rel_to = vec!["USA".into(), "FVEY".into()];
    let receipt = publish(&mut ia, envelope).await;
    assert_eq!(delivered_sequence(&receipt, "can"), 1, "CAN is a member of FVEY: {receipt:?}");
    let mex = receipt.outcomes.iter().find(|outcome| outcome.party == "mex").unwrap();
    match &mex.outcome {
        Some(pb::recipient_outcome::Outcome::Denied(denied)) => {
            assert_eq!(denied.reason, pb::DenialReason::NotReleasable as i32);
            assert!(denied.explanation.contains("REL TO USA, FVEY does not include MEX"), "{denied:?}");
        }
        other => panic!("mex must be named, FVEY does not include it: {other:?}"),
    }
}

#[tokio::test]
async fn route_by_policy_fans_out_to_the_selected_parties() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let mut ia = gateway.client("ia", Role::AgencySystem).await;
    let mut envelope = marked(&[], "human-smuggling", pb::Classification::Unclassified);
    envelope.markings.as_mut().unwrap().tlp = pb::Tlp::Green as i32;
    let receipt = publish(&mut ia, envelope).await;
    let delivered: Vec<&str> = receipt.outcomes.iter().map(|outcome| outcome.party.as_str()).collect();
    assert_eq!(
        delivered,
        ["ia-mc-toc", "cbp", "ice", "uscg", "southcom", "hsi-iiu", "hsi-jioc", "fc-tx", "fc-ca", "mex"]
    );
    for party in ["mex", "fc-tx"] {
        let mut analyst = gateway.client(party, Role::Analyst).await;
        let mut feed = subscribe(&mut analyst, pb::OpenSubscription { start: from_beginning(), ..Default::default() })
            .await
            .unwrap();
        let delivery = &feed.take(1, WAIT).await[0];
        assert_eq!(delivery.envelope.as_ref().unwrap().id, receipt.message_id, "{party}");
        assert_eq!(delivery.envelope.as_ref().unwrap().recipients, [party]);
    }
}

#[tokio::test]
async fn bad_marking_combinations_are_refused_naming_the_rule() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    let cases: [(&str, MarkingChange); 5] = [
        ("NOFORN cannot be combined with REL TO", |markings| {
            markings.classification = pb::Classification::Secret as i32;
            markings.controls = vec![pb::DisseminationControl::Noforn as i32];
            markings.rel_to = vec!["USA".into(), "CAN".into()];
        }),
        ("REL TO requires CONFIDENTIAL or above", |markings| markings.rel_to = vec!["USA".into(), "CAN".into()]),
        ("REL TO needs at least one country besides USA", |markings| {
            markings.classification = pb::Classification::Secret as i32;
            markings.rel_to = vec!["USA".into()];
        }),
        ("FOUO is only valid on UNCLASSIFIED", |markings| {
            markings.classification = pb::Classification::Confidential as i32;
            markings.controls = vec![pb::DisseminationControl::Fouo as i32];
        }),
        ("TLP:RED goes only to named recipients", |markings| markings.tlp = pb::Tlp::Red as i32),
    ];
    for (rule, change) in cases {
        let mut envelope = marked(&[], "border-security", pb::Classification::Unclassified);
        change(envelope.markings.as_mut().unwrap());
        let status = cbp.publish(pb::PublishRequest { envelope: Some(envelope) }).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{rule}");
        assert!(status.message().contains(rule), "{rule}: {}", status.message());
    }
    publish(&mut cbp, marked(&["ia"], "border-security", pb::Classification::Unclassified)).await;
}

type MarkingChange = fn(&mut pb::Markings);

#[tokio::test]
async fn operators_dry_run_the_router() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let mut operator_client = operator(&gateway, Role::Operator).await;
    let request = pb::CheckRouteRequest {
        origin: "cbp".into(),
        recipients: vec![],
        kind: pb::Kind::Report as i32,
        topic: "border-security".into(),
        markings: Some(pb::Markings { classification: pb::Classification::Unclassified as i32, ..Default::default() }),
        precedence: pb::Precedence::Routine as i32,
    };
    let response = operator_client.check_route(request.clone()).await.unwrap().into_inner();
    assert_eq!(response.decisions.len(), 1);
    assert_eq!(response.decisions[0].party, "ia");
    assert!(response.decisions[0].allowed);
    assert_eq!(response.decisions[0].rule, "host-reporting-to-ia");

    let named = pb::CheckRouteRequest { recipients: vec!["fbi".into()], ..request.clone() };
    let response = operator_client.check_route(named).await.unwrap().into_inner();
    assert!(!response.decisions[0].allowed);
    assert_eq!(response.decisions[0].reason, pb::DenialReason::NoRoute as i32);

    let unknown = pb::CheckRouteRequest { origin: "atlantis".into(), ..request.clone() };
    let status = operator_client.check_route(unknown).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("origin"), "{}", status.message());

    let mut analyst = operator(&gateway, Role::Analyst).await;
    assert_eq!(analyst.check_route(request).await.unwrap_err().code(), Code::PermissionDenied);
    // Dry runs store nothing.
    let mut ia = gateway.client("ia", Role::Analyst).await;
    let mut feed =
        subscribe(&mut ia, pb::OpenSubscription { start: from_beginning(), ..Default::default() }).await.unwrap();
    assert!(feed.next_batch(Duration::from_millis(300)).await.is_empty());
}
