//! ORCON end to end: originator-controlled material goes only where its originator sends it. A redrive of
//! its dead letter and a correction reaching an earlier recipient are later disseminations, denied ORCON
//! until an analyst or admin of the origin party approves them (`ApproveOrcon`, audited).

use crate::common;

use std::time::Duration;

use common::*;
use liaison::api as pb;
use liaison::identity::Role;
use pb::recipient_outcome::Outcome;
use tonic::Code;

const WAIT: Duration = Duration::from_secs(10);

/// cbp's SECRET//ORCON report to `recipients`.
fn orcon(recipients: &[&str], body: &str) -> pb::Envelope {
    let mut envelope = envelope(recipients, "narcotics", body.as_bytes());
    envelope.markings = Some(pb::Markings { banner: "SECRET//ORCON".into(), ..Default::default() });
    envelope
}

/// Outcomes as `party` (delivered) or `party:REASON` (denied).
fn summary(receipt: &pb::Receipt) -> Vec<String> {
    let outcome = |outcome: &pb::RecipientOutcome| match &outcome.outcome {
        Some(Outcome::Delivered(_)) => outcome.party.clone(),
        Some(Outcome::Denied(denied)) => format!("{}:{}", outcome.party, denied.reason().as_str_name()),
        Some(Outcome::Held(_)) => format!("{}:HELD", outcome.party),
        None => format!("{}:?", outcome.party),
    };
    receipt.outcomes.iter().map(outcome).collect()
}

/// Publishes cbp's ORCON report to ia and lets a durable of ia nack it until it is a dead letter; returns the
/// message id and the dead letter's sequence.
async fn orcon_dead_letter(gateway: &TestGateway) -> (String, u64) {
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    let receipt = publish(&mut cbp, orcon(&["ia"], "poison")).await;
    delivered_sequence(&receipt, "ia");
    let mut ia = gateway.client("ia", Role::Analyst).await;
    let desk = pb::OpenSubscription {
        durable_name: "desk".into(),
        start: from_beginning(),
        max_delivery_attempts: 2,
        ack_deadline: Some(prost_types::Duration { seconds: 1, nanos: 0 }),
        ..Default::default()
    };
    let mut desk = subscribe(&mut ia, desk).await.unwrap();
    for _ in 0..2 {
        let delivery = desk.take(1, WAIT).await.remove(0);
        desk.nack(&delivery, None).await;
    }
    let mut operations = gateway.operator("ia", Role::Operator).await;
    for _ in 0..100 {
        let listed = operations.list_dead_letters(pb::ListDeadLettersRequest::default()).await.unwrap().into_inner();
        if let Some(dead) = listed.dead_letters.first() {
            return (receipt.message_id, dead.sequence);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no dead letter");
}

fn approve(message_id: &str, party: &str) -> pb::ApproveOrconRequest {
    pb::ApproveOrconRequest { message_id: message_id.into(), party: party.into(), reason: "needed for the case".into() }
}

#[tokio::test]
async fn redriving_orcon_material_needs_its_originators_approval() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let (message_id, sequence) = orcon_dead_letter(&gateway).await;
    let mut ia_admin = gateway.operator("ia", Role::Admin).await;
    let redrive = || pb::RedriveDeadLettersRequest { party: "ia".into(), sequences: vec![sequence] };

    let refused = ia_admin.redrive_dead_letters(redrive()).await.unwrap().into_inner();
    assert!(refused.redriven.is_empty());
    assert!(refused.refused[0].explanation.starts_with("ORCON: the originator did not send"), "{refused:?}");

    // The recipient may not approve for itself, nor the originator's systems or operators.
    for (party, role) in [("ia", Role::Admin), ("cbp", Role::AgencySystem), ("cbp", Role::Operator)] {
        let mut caller = gateway.operator(party, role).await;
        let status = caller.approve_orcon(approve(&message_id, "ia")).await.unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{party} {role:?}: {status:?}");
    }
    let mut originator = gateway.operator("cbp", Role::Analyst).await;
    let unknown = originator.approve_orcon(approve(&message_id, "atlantis")).await.unwrap_err();
    assert_eq!(unknown.code(), Code::InvalidArgument, "{unknown:?}");
    let approved = originator.approve_orcon(approve(&message_id, "ia")).await.unwrap().into_inner();
    assert_eq!(approved.approved, ["ia"]);

    let done = ia_admin.redrive_dead_letters(redrive()).await.unwrap().into_inner();
    assert_eq!(done.redriven, [sequence], "{done:?}");

    // The approval is audited, naming the approver and the reason.
    let mut audit = gateway.operator("cbp", Role::Operator).await;
    let query = pb::QueryAuditRequest {
        message_id: message_id.clone(),
        event: pb::AuditEvent::OrconApproved as i32,
        limit: 10,
        ..Default::default()
    };
    let mut records = audit.query_audit(query).await.unwrap().into_inner();
    let record = records.message().await.unwrap().expect("an ORCON_APPROVED record");
    assert_eq!((record.recipient.as_str(), record.subscriber.as_str()), ("ia", "cbp-test"));
    assert_eq!(record.reason, "needed for the case");
}

#[tokio::test]
async fn a_correction_reaches_earlier_recipients_of_orcon_material_only_with_approval() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    let mut originator = gateway.operator("cbp", Role::Analyst).await;
    // ice is reached only through ia (a relay rule): named together, both receive.
    let first = publish(&mut cbp, orcon(&["ia", "ice"], "first")).await;
    assert_eq!(summary(&first), ["ia", "ice"]);
    let relayed_alone = publish(&mut cbp, orcon(&["ice"], "alone")).await;
    assert_eq!(summary(&relayed_alone), ["ice:DENIAL_REASON_ORCON"]);

    let mut correction = orcon(&["ia"], "first, corrected");
    correction.supersedes = first.message_id.clone();
    let corrected = publish(&mut cbp, correction).await;
    assert_eq!(summary(&corrected), ["ia", "ice:DENIAL_REASON_ORCON"]);

    let second = publish(&mut cbp, orcon(&["ia", "ice"], "second")).await;
    originator.approve_orcon(approve(&second.message_id, "ice")).await.unwrap();
    let mut correction = orcon(&["ia"], "second, corrected");
    correction.supersedes = second.message_id.clone();
    assert_eq!(summary(&publish(&mut cbp, correction).await), ["ia", "ice"]);
}

#[tokio::test]
async fn orcon_usgov_reaches_executive_branch_parties_by_policy_and_others_only_when_named() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let mut ia = gateway.client("ia", Role::AgencySystem).await;
    let mut by_policy = envelope(&[], "border-security", b"usgov");
    by_policy.markings = Some(pb::Markings { banner: "SECRET//ORCON-USGOV".into(), ..Default::default() });
    let receipt = publish(&mut ia, by_policy.clone()).await;
    let outcomes = summary(&receipt);
    assert!(outcomes.contains(&"cbp".to_string()), "{outcomes:?}");
    assert!(outcomes.contains(&"fc-tx:DENIAL_REASON_ORCON".to_string()), "{outcomes:?}");
    by_policy.recipients = vec!["fc-tx".into()];
    assert_eq!(summary(&publish(&mut ia, by_policy).await), ["fc-tx"]);
}
