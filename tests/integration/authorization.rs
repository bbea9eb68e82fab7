//! Powers are scoped to a party: every RPC called as every role of a party with oversight (`ia`, the hub)
//! and of one without (`cbp`), for its own party, another party and all parties, against a real gateway.
//! The expected cell values are written out here, independently of `identity::authorization::TABLE`, so a
//! wrong table fails this test. Plus the attacks by the foreign partner `can`, and oversight
//! granted (and withdrawn) by the directory alone.

use crate::common;

use std::time::Duration;

use common::*;
use liaison::api as pb;
use liaison::config::PolicySource;
use liaison::identity::Role;
use liaison::router::{DEFAULT_DIRECTORY, DEFAULT_POLICY};
use tokio_stream::StreamExt;
use tonic::Code;

const WAIT: Duration = Duration::from_secs(10);
const ROLES: [Role; 5] = [Role::AgencySystem, Role::Analyst, Role::Operator, Role::Admin, Role::DisclosureOfficer];
const SIX_YEARS: Duration = Duration::from_secs(6 * 366 * 24 * 3600);

/// Whose data a call names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    Own,
    Other,
    All,
}

/// Expected cells: for `ia` agency-system, analyst, operator, admin, disclosure officer, then the same for
/// `cbp`. `Y` allowed (a listing shows what was asked), `F` allowed but filtered to the caller's own party,
/// `D` PERMISSION_DENIED.
const EXPECTED: &[(&str, At, &str)] = &[
    ("Publish", At::Own, "YDDDD YDDDD"),
    ("Publish", At::Other, "DDDDD DDDDD"),
    ("PublishStream", At::Own, "YDDDD YDDDD"),
    ("PublishStream", At::Other, "DDDDD DDDDD"),
    ("Subscribe", At::Own, "YYDDD YYDDD"),
    ("Subscribe", At::Other, "DDDDD DDDDD"),
    ("Seek", At::Own, "YYDDD YYDDD"),
    ("CheckRoute", At::Own, "DDYYD DDYYD"),
    ("CheckRoute", At::Other, "DDYYD DDDDD"),
    ("ListDenialCounts", At::All, "DDYYD DDFFD"),
    ("ListDeadLetters", At::Own, "DDYYD DDYYD"),
    ("ListDeadLetters", At::Other, "DDYYD DDDDD"),
    ("ListDeadLetters", At::All, "DDYYD DDFFD"),
    ("RedriveDeadLetters", At::Own, "DDDYD DDDYD"),
    ("RedriveDeadLetters", At::Other, "DDDYD DDDDD"),
    ("WatchTraffic", At::Own, "DDYYD DDYYD"),
    ("WatchTraffic", At::Other, "DDYYD DDDDD"),
    ("WatchTraffic", At::All, "DDYYD DDFFD"),
    ("ListSubjects", At::Own, "DDYYD DDYYD"),
    ("ListSubjects", At::Other, "DDYYD DDDDD"),
    ("ListSubjects", At::All, "DDYYD DDFFD"),
    ("QueryAudit", At::Own, "FFYYF FFFFF"),
    ("QueryAudit", At::Other, "FFYYF FFFFF"),
    ("QueryAudit", At::All, "FFYYF FFFFF"),
    ("ListReviewDue", At::Own, "DYYYD DYYYD"),
    ("ListReviewDue", At::Other, "DDYYD DDDDD"),
    ("ListReviewDue", At::All, "DFYYD DFFFD"),
    ("Revalidate", At::Own, "DYDYD DYDYD"),
    ("Revalidate", At::Other, "DDDYD DDDDD"),
    ("ApproveOrcon", At::Own, "DYDYD DYDYD"),
    ("ApproveOrcon", At::Other, "DDDDD DDDDD"),
    ("ListHeld", At::Own, "DDDDY DDDDY"),
    ("ListHeld", At::Other, "DDDDY DDDDD"),
    ("ListHeld", At::All, "DDDDY DDDDF"),
    ("DecideHeld", At::Own, "DDDDY DDDDY"),
    ("DecideHeld", At::Other, "DDDDY DDDDD"),
    ("PurgeMessage", At::Own, "DDYYD DDYYD"),
    ("PurgeMessage", At::Other, "DDYYD DDDDD"),
    ("ApplyPolicy", At::All, "DDDYD DDDDD"),
    ("ListPolicyHistory", At::All, "DDYYD DDYYD"),
    ("RollbackPolicy", At::All, "DDDYD DDDDD"),
    ("SimulatePolicy", At::Own, "DDYYD DDYYD"),
    ("SimulatePolicy", At::Other, "DDYYD DDDDD"),
    ("SimulatePolicy", At::All, "DDYYD DDFFD"),
];

/// What a successful call returned: nothing to judge, or one entry per listed item naming the parties it
/// belongs to (a dead letter its recipient, a review item or audit record its origin, a subject its origin
/// and recipient).
type Items = Option<Vec<Vec<String>>>;

struct World {
    gateway: TestGateway,
    /// A message each party published to the other, by origin.
    ia_message: String,
    cbp_message: String,
    /// Holds the policy file the gateway was started with.
    _policy_dir: tempfile::TempDir,
}

/// Publishes uncaveated SECRET from `party` to Canada, which holds it for review; returns its message id.
async fn hold_one(gateway: &TestGateway, party: &str) -> String {
    let mut origin = gateway.client(party, Role::AgencySystem).await;
    let mut envelope = plain(&["can"], b"held");
    envelope.markings = Some(pb::Markings { banner: "SECRET".into(), ..Default::default() });
    let receipt = publish(&mut origin, envelope).await;
    assert!(matches!(receipt.outcomes[0].outcome, Some(pb::recipient_outcome::Outcome::Held(_))), "{receipt:?}");
    receipt.message_id
}

fn other(party: &str) -> &'static str {
    if party == "ia" { "cbp" } else { "ia" }
}

/// An unclassified report without LES or TLP markings, which both parties may receive.
fn plain(recipients: &[&str], body: &[u8]) -> pb::Envelope {
    let mut envelope = envelope(recipients, "border-security", body);
    envelope.markings =
        Some(pb::Markings { classification: pb::Classification::Unclassified as i32, ..Default::default() });
    envelope
}

/// A gateway following the shared policy, with messages both ways, one from cbp denied to fbi (a flow
/// without ia, which only a full view shows ia), and a dead letter for each party from a durable `dl`
/// (which Seek then moves).
async fn world(nats: &NatsServer) -> World {
    // The shipped policy, plus a rule from cbp to Canada so that both parties have copies held for review.
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    let extra = "\n[[rule]]\nname = \"test-cbp-to-can\"\nbasis = \"test\"\nfrom = [\"cbp\"]\nto = [\"can\"]\n";
    std::fs::write(&policy, format!("{DEFAULT_POLICY}{extra}")).unwrap();
    let gateway = TestGateway::start_with(Some(nats.url()), |config| {
        config.policy_source = PolicySource::Kv;
        config.policy_files.policy = Some(policy.clone());
    })
    .await;
    for party in ["ia", "cbp"] {
        hold_one(&gateway, party).await;
    }
    let mut ia = gateway.client("ia", Role::AgencySystem).await;
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    let ia_message = publish(&mut ia, plain(&["cbp"], b"from ia")).await;
    delivered_sequence(&ia_message, "cbp");
    let cbp_message = publish(&mut cbp, plain(&["ia"], b"from cbp")).await;
    delivered_sequence(&cbp_message, "ia");
    let denied = publish(&mut cbp, plain(&["fbi"], b"host to host")).await;
    assert!(matches!(denied.outcomes[0].outcome, Some(pb::recipient_outcome::Outcome::Denied(_))), "{denied:?}");

    let mut overseer = gateway.operator("ia", Role::Operator).await;
    for party in ["ia", "cbp"] {
        let mut analyst = gateway.client(party, Role::Analyst).await;
        let open = pb::OpenSubscription {
            durable_name: "dl".into(),
            start: from_beginning(),
            max_delivery_attempts: 1,
            ..Default::default()
        };
        let mut desk = subscribe(&mut analyst, open).await.unwrap();
        let delivery = desk.take(1, WAIT).await.remove(0);
        desk.nack(&delivery, None).await;
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let request = pb::ListDeadLettersRequest { party: party.into(), limit: 0 };
            let listed = overseer.list_dead_letters(request).await.unwrap().into_inner();
            if !listed.dead_letters.is_empty() {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "no dead letter for {party}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    World { gateway, ia_message: ia_message.message_id, cbp_message: cbp_message.message_id, _policy_dir: dir }
}

/// Calls `rpc` as `role` of `party` at `at`; `Err` is the status code.
async fn call(world: &World, rpc: &str, at: At, party: &str, role: Role) -> Result<Items, Code> {
    let gateway = &world.gateway;
    let target = match at {
        At::Own => party,
        At::Other => other(party),
        At::All => "",
    };
    let status = |status: tonic::Status| status.code();
    match rpc {
        "Publish" | "PublishStream" | "Subscribe" | "Seek" => gateway_call(world, rpc, at, party, role).await,
        "CheckRoute" => {
            let recipient = if target == party { other(party) } else { party };
            let request = pb::CheckRouteRequest {
                origin: target.into(),
                recipients: vec![recipient.into()],
                kind: pb::Kind::Report as i32,
                topic: "border-security".into(),
                markings: plain(&[], b"").markings,
                precedence: 0,
            };
            gateway.operator(party, role).await.check_route(request).await.map_err(status)?;
            Ok(None)
        }
        "ListDenialCounts" => {
            let request = pb::ListDenialCountsRequest {};
            let counts = gateway.operator(party, role).await.list_denial_counts(request).await.map_err(status)?;
            let counts = counts.into_inner();
            let mut items = Vec::new();
            if counts.permission_denied + counts.unauthenticated > 0 {
                items.push(vec!["the whole gateway".to_string()]);
            }
            if !counts.counts.is_empty() {
                items.push(vec![party.to_string()]);
            }
            Ok(Some(items))
        }
        _ => operator_call(world, rpc, target, party, role).await,
    }
}

async fn gateway_call(world: &World, rpc: &str, at: At, party: &str, role: Role) -> Result<Items, Code> {
    let mut client = world.gateway.client(party, role).await;
    let status = |status: tonic::Status| status.code();
    let mut envelope = plain(&[other(party)], b"authorization");
    if at == At::Other {
        envelope.origin = other(party).into();
    }
    match rpc {
        "Publish" => {
            client.publish(pb::PublishRequest { envelope: Some(envelope) }).await.map_err(status)?;
        }
        "PublishStream" => {
            let requests = tokio_stream::iter([pb::PublishStreamRequest { envelope: Some(envelope) }]);
            let mut responses = client.publish_stream(requests).await.map_err(status)?.into_inner();
            let first = tokio::time::timeout(WAIT, responses.next()).await.expect("an answer");
            match first.expect("one response").map_err(status)?.result {
                Some(pb::publish_stream_response::Result::Receipt(_)) => {}
                Some(pb::publish_stream_response::Result::Error(error)) => return Err(Code::from(error.code)),
                None => panic!("an empty answer"),
            }
        }
        "Subscribe" => {
            let feed = if at == At::Other { other(party).to_string() } else { String::new() };
            subscribe(&mut client, pb::OpenSubscription { feed, ..Default::default() }).await.map_err(status)?;
        }
        "Seek" => {
            let target = Some(pb::seek_request::Target::Beginning(()));
            client.seek(pb::SeekRequest { durable_name: "dl".into(), target }).await.map_err(status)?;
        }
        _ => unreachable!("{rpc}"),
    }
    Ok(None)
}

async fn operator_call(world: &World, rpc: &str, target: &str, party: &str, role: Role) -> Result<Items, Code> {
    let mut operator = world.gateway.operator(party, role).await;
    let status = |status: tonic::Status| status.code();
    let message_of = |origin: &str| if origin == "ia" { world.ia_message.clone() } else { world.cbp_message.clone() };
    let items = match rpc {
        "ListDeadLetters" => {
            let request = pb::ListDeadLettersRequest { party: target.into(), limit: 0 };
            let listed = operator.list_dead_letters(request).await.map_err(status)?.into_inner();
            listed.dead_letters.into_iter().map(|dead| vec![dead.party]).collect()
        }
        "RedriveDeadLetters" => {
            let request = pb::RedriveDeadLettersRequest { party: target.into(), sequences: vec![999_999] };
            operator.redrive_dead_letters(request).await.map_err(status)?;
            return Ok(None);
        }
        "WatchTraffic" => {
            let request = pb::WatchTrafficRequest { interval_ms: 100, party: target.into() };
            let mut snapshots = operator.watch_traffic(request).await.map_err(status)?.into_inner();
            let snapshot = tokio::time::timeout(WAIT, snapshots.message()).await.expect("a snapshot");
            let snapshot = snapshot.map_err(status)?.expect("a snapshot");
            snapshot.subjects.into_iter().map(|subject| vec![subject.origin, subject.recipient]).collect()
        }
        "ListSubjects" => {
            let request = pb::ListSubjectsRequest { party: target.into() };
            let listed = operator.list_subjects(request).await.map_err(status)?.into_inner();
            listed.subjects.into_iter().map(|subject| vec![subject.origin, subject.recipient]).collect()
        }
        "QueryAudit" => {
            let request = pb::QueryAuditRequest { party: target.into(), ..Default::default() };
            let mut records = operator.query_audit(request).await.map_err(status)?.into_inner();
            let mut items = Vec::new();
            while let Some(record) = records.message().await.map_err(status)? {
                items.push(vec![record.origin]);
            }
            items
        }
        "ListReviewDue" => {
            let within = Some(proto_duration(SIX_YEARS));
            let request = pb::ListReviewDueRequest { within, party: target.into(), limit: 0 };
            let listed = list_review_due(&mut operator, request).await.map_err(status)?;
            listed.messages.into_iter().map(|item| vec![item.origin]).collect()
        }
        "Revalidate" => {
            let request = pb::RevalidateRequest { message_id: message_of(target), reason: "still needed".into() };
            operator.revalidate(request).await.map_err(status)?;
            return Ok(None);
        }
        "ApproveOrcon" => {
            let request = pb::ApproveOrconRequest {
                message_id: message_of(target),
                party: "fbi".into(),
                reason: "needed".into(),
            };
            operator.approve_orcon(request).await.map_err(status)?;
            return Ok(None);
        }
        "ListHeld" => {
            let request = pb::ListHeldRequest { party: target.into(), limit: 0 };
            let listed = operator.list_held(request).await.map_err(status)?.into_inner();
            listed.items.into_iter().map(|item| vec![item.origin]).collect()
        }
        "DecideHeld" => {
            // A fresh held copy of the target party each time, so an allowed refusal leaves the others.
            let message_id = hold_one(&world.gateway, target).await;
            let request = pb::DenyHeldRequest { message_id, recipient: "can".into(), reason: "test".into() };
            operator.deny_held(request).await.map_err(status)?;
            return Ok(None);
        }
        "PurgeMessage" => {
            // A fresh message of the target party each time, so an allowed purge leaves the others alone.
            let mut origin = world.gateway.client(target, Role::AgencySystem).await;
            let fresh = publish(&mut origin, plain(&[other(target)], b"to be purged")).await;
            let request = pb::PurgeMessageRequest { message_id: fresh.message_id, reason: "test".into() };
            operator.purge_message(request).await.map_err(status)?;
            return Ok(None);
        }
        "ApplyPolicy" => {
            let policy = DEFAULT_POLICY.to_string();
            let request = pb::ApplyPolicyRequest { policy, comment: "unchanged".into(), ..Default::default() };
            operator.apply_policy(request).await.map_err(status)?;
            return Ok(None);
        }
        "ListPolicyHistory" => {
            operator.list_policy_history(pb::ListPolicyHistoryRequest {}).await.map_err(status)?;
            return Ok(None);
        }
        "RollbackPolicy" => {
            let request = pb::RollbackPolicyRequest { revision: 1, comment: "back".into() };
            operator.rollback_policy(request).await.map_err(status)?;
            return Ok(None);
        }
        "SimulatePolicy" => {
            // A draft with no rules: every recorded delivery and hold would be denied.
            let hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
            let request = pb::SimulatePolicyRequest {
                policy: "# no rules\n".into(),
                directory: DEFAULT_DIRECTORY.into(),
                since: Some(hour_ago.into()),
                party: target.into(),
                ..Default::default()
            };
            let mut answers = operator.simulate_policy(request).await.map_err(status)?.into_inner();
            let mut items = Vec::new();
            while let Some(answer) = answers.message().await.map_err(status)? {
                if let Some(pb::simulate_policy_response::Item::Change(change)) = answer.item {
                    items.push(vec![change.origin, change.recipient]);
                }
            }
            items
        }
        _ => unreachable!("{rpc}"),
    };
    Ok(Some(items))
}

/// The cell a result shows: `Y`, `F`, `D`, or a description of anything else.
fn observed(rpc: &str, at: At, party: &str, result: Result<Items, Code>) -> String {
    let items = match result {
        Err(Code::PermissionDenied) => return "D".into(),
        Err(code) => return format!("{code:?}"),
        Ok(None) => return "Y".into(),
        Ok(Some(items)) => items,
    };
    if items.is_empty() {
        return "empty (cannot tell Y from F)".into();
    }
    let all_own = items.iter().all(|item| item.iter().any(|owner| owner == party));
    match (at, all_own) {
        // At the own party, a full view and the own view are the same, except in the audit: the own view
        // holds the records of the party's own messages, the full one also those it received.
        (At::Own, true) if rpc == "QueryAudit" => "F".into(),
        (At::Own, true) => "Y".into(),
        (At::Own, false) if rpc == "QueryAudit" => "Y".into(),
        (At::Own, false) => format!("another party's items at the own scope: {items:?}"),
        (_, true) => "F".into(),
        (_, false) => "Y".into(),
    }
}

#[tokio::test]
async fn every_rpc_as_every_role_for_its_own_party_another_and_all_gets_the_documented_answer() {
    let nats = NatsServer::start().await;
    let world = world(&nats).await;
    let mut wrong = Vec::new();
    let mut cells = 0;
    for (rpc, at, expected) in EXPECTED {
        let expected: Vec<char> = expected.chars().filter(|c| !c.is_whitespace()).collect();
        assert_eq!(expected.len(), 2 * ROLES.len(), "{rpc} {at:?}");
        for (position, (party, role)) in
            ["ia", "cbp"].into_iter().flat_map(|party| ROLES.map(|role| (party, role))).enumerate()
        {
            let result = call(&world, rpc, *at, party, role).await;
            let got = observed(rpc, *at, party, result);
            cells += 1;
            if got != expected[position].to_string() {
                wrong.push(format!(
                    "{rpc} {at:?} as {} of {party}: expected {}, got {got}",
                    role.name(),
                    expected[position]
                ));
            }
        }
    }
    assert_eq!(cells, EXPECTED.len() * 2 * ROLES.len());
    assert!(wrong.is_empty(), "{} of {cells} cells differ:\n{}", wrong.len(), wrong.join("\n"));
    // Every RPC of both services has a row.
    let rpcs: std::collections::BTreeSet<&str> = EXPECTED.iter().map(|(rpc, _, _)| *rpc).collect();
    assert_eq!(rpcs.len(), 21, "{rpcs:?}");
}

/// The attacks: the foreign partner `can`'s admin applies an empty policy, its operator purges a
/// message I&A sent to the FBI, and the FBI (a recipient) purges it too. All are refused and the message is
/// intact; I&A's operator (oversight) then purges it, so the refusals were not vacuous.
#[tokio::test]
async fn a_foreign_partner_can_neither_rewrite_the_policy_nor_purge_another_partys_message() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start_with(Some(nats.url()), |config| config.policy_source = PolicySource::Kv).await;
    let mut overseer = gateway.operator("ia", Role::Operator).await;
    let version = policy_version(&mut overseer).await;

    let empty = pb::ApplyPolicyRequest { policy: "# no rules\n".into(), ..Default::default() };
    let mut can_admin = gateway.operator("can", Role::Admin).await;
    let refused = can_admin.apply_policy(empty).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert!(
        refused.message().starts_with(
            "role admin may not apply the policy for all parties or shared state (ApplyPolicy): that needs admin of an \
             oversight party"
        ),
        "{refused:?}"
    );
    let rollback = pb::RollbackPolicyRequest { revision: 1, comment: String::new() };
    assert_eq!(can_admin.rollback_policy(rollback).await.unwrap_err().code(), Code::PermissionDenied);
    let history = overseer.list_policy_history(pb::ListPolicyHistoryRequest {}).await.unwrap().into_inner();
    assert_eq!(history.revisions.len(), 1, "nothing was stored: {history:?}");
    assert_eq!(policy_version(&mut overseer).await, version);

    let mut ia = gateway.client("ia", Role::AgencySystem).await;
    let sent = publish(&mut ia, plain(&["fbi"], b"for the fbi")).await;
    delivered_sequence(&sent, "fbi");
    let purge = || pb::PurgeMessageRequest { message_id: sent.message_id.clone(), reason: "mine now".into() };
    for (party, role) in [("can", Role::Operator), ("can", Role::Admin), ("fbi", Role::Operator), ("fbi", Role::Admin)]
    {
        let refused = gateway.operator(party, role).await.purge_message(purge()).await.unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied, "{} of {party}: {refused:?}", role.name());
        assert!(refused.message().contains("may not purge messages for another party (PurgeMessage)"), "{refused:?}");
    }

    // Intact: the FBI still receives it, and no purge is on record.
    let mut fbi = gateway.client("fbi", Role::Analyst).await;
    let open = pb::OpenSubscription { start: from_beginning(), ..Default::default() };
    let mut feed = subscribe(&mut fbi, open).await.unwrap();
    let delivered = feed.take(1, WAIT).await.remove(0);
    assert_eq!(delivered.envelope.as_ref().map(|envelope| envelope.id.as_str()), Some(sent.message_id.as_str()));
    let purged = pb::QueryAuditRequest {
        message_id: sent.message_id.clone(),
        event: pb::AuditEvent::Purged as i32,
        ..Default::default()
    };
    let mut records = overseer.query_audit(purged.clone()).await.unwrap().into_inner();
    assert!(records.message().await.unwrap().is_none(), "a refused purge left a record");

    let done = overseer.purge_message(purge()).await.unwrap().into_inner();
    assert_eq!(done.copies_removed, 1);
    let mut records = overseer.query_audit(purged).await.unwrap().into_inner();
    assert!(records.message().await.unwrap().is_some(), "the allowed purge is audited");
}

/// Only the directory grants oversight, and the gateway reads it at each call: once a policy revision
/// gives `fbi` oversight its operator reads cbp's dead letters; rolled back, it is refused again.
#[tokio::test]
async fn oversight_granted_by_the_directory_takes_effect_at_once_and_ends_with_it() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start_with(Some(nats.url()), |config| config.policy_source = PolicySource::Kv).await;
    let mut fbi = gateway.operator("fbi", Role::Operator).await;
    assert_eq!(fbi.list_dead_letters(cbp_dead_letters()).await.unwrap_err().code(), Code::PermissionDenied);

    let granted = DEFAULT_DIRECTORY.replacen("id = \"fbi\"\n", "id = \"fbi\"\noversight = true\n", 1);
    assert_ne!(granted, DEFAULT_DIRECTORY);
    let request = pb::ApplyPolicyRequest { directory: granted, comment: "fbi oversees".into(), ..Default::default() };
    let mut ia_admin = gateway.operator("ia", Role::Admin).await;
    ia_admin.apply_policy(request).await.unwrap();
    until(&mut fbi, Code::Ok).await;
    // Oversight is for operators and admins: fbi's analyst still sees only fbi's review list.
    let mut analyst = gateway.operator("fbi", Role::Analyst).await;
    let request = pb::ListReviewDueRequest { party: "cbp".into(), ..Default::default() };
    assert_eq!(list_review_due(&mut analyst, request).await.unwrap_err().code(), Code::PermissionDenied);

    ia_admin.rollback_policy(pb::RollbackPolicyRequest { revision: 1, comment: "undo".into() }).await.unwrap();
    until(&mut fbi, Code::PermissionDenied).await;
}

fn cbp_dead_letters() -> pb::ListDeadLettersRequest {
    pb::ListDeadLettersRequest { party: "cbp".into(), limit: 0 }
}

/// Polls `operator`'s ListDeadLetters of cbp until it answers `want` (the policy is installed from the
/// bucket's watch, a moment after ApplyPolicy returns).
async fn until(operator: &mut Operator, want: Code) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let got = match operator.list_dead_letters(cbp_dead_letters()).await {
            Ok(_) => Code::Ok,
            Err(status) => status.code(),
        };
        if got == want {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "still {got:?}, waiting for {want:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
