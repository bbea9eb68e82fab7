//! RFIs end to end: publishing an RFI opens a record; the action party acknowledges, works and answers it
//! (the answer routed to the requester), the requester reopens or closes it; each transition is audited;
//! the refused ones name their rule; a liaison officer transfers one across the liaison structure (and a
//! transfer the policy denies is refused); an RFI past due expires once, with a notice to both parties
//! and a metric, however many gateways sweep; a restarted gateway continues an open RFI.

use crate::common;

use std::time::Duration;

use common::*;
use liaison::api as pb;
use liaison::identity::Role;
use pb::recipient_outcome::Outcome;
use tonic::Code;

const JUSTIFICATION: &str = "open case 2026-0042: the wire transfers fund the cell";

/// An unclassified RFI to `to` on money laundering.
fn rfi_envelope(to: &[&str]) -> pb::Envelope {
    pb::Envelope {
        recipients: to.iter().map(|party| party.to_string()).collect(),
        kind: pb::Kind::Rfi as i32,
        topic: "money-laundering".into(),
        markings: Some(pb::Markings { banner: "UNCLASSIFIED".into(), ..Default::default() }),
        precedence: pb::Precedence::Routine as i32,
        title: "Who owns account 4471?".into(),
        body: "Name the holder of account 4471 and its signatories".into(),
        content_type: "text/plain".into(),
        justification: JUSTIFICATION.into(),
        ..Default::default()
    }
}

/// Opens an RFI from `from`'s system to `to`; returns its id once its copy is delivered.
async fn open(gateway: &TestGateway, from: &str, to: &str) -> String {
    let mut client = gateway.client(from, Role::AgencySystem).await;
    let receipt = publish(&mut client, rfi_envelope(&[to])).await;
    assert!(matches!(receipt.outcomes[0].outcome, Some(Outcome::Delivered(_))), "{receipt:?}");
    receipt.message_id
}

/// The answer to RFI `id` from `party`'s system, to `to` (nobody named: its requester).
async fn answer(gateway: &TestGateway, party: &str, id: &str, to: &[&str]) -> Result<pb::Receipt, tonic::Status> {
    let mut client = gateway.client(party, Role::AgencySystem).await;
    let envelope = pb::Envelope {
        kind: pb::Kind::RfiResponse as i32,
        in_reply_to: id.into(),
        recipients: to.iter().map(|party| party.to_string()).collect(),
        title: "Account 4471".into(),
        body: "Held by Acme Freight LLC; two signatories".into(),
        ..rfi_envelope(&[])
    };
    let envelope = pb::Envelope { justification: String::new(), ..envelope };
    Ok(client.publish(pb::PublishRequest { envelope: Some(envelope) }).await?.into_inner().receipt.unwrap())
}

async fn get(gateway: &TestGateway, party: &str, role: Role, id: &str) -> Result<pb::Rfi, tonic::Status> {
    let mut rfis = gateway.rfis(party, role).await;
    Ok(rfis.get_rfi(pb::GetRfiRequest { rfi_id: id.into() }).await?.into_inner().rfi.unwrap())
}

async fn update(
    gateway: &TestGateway,
    (party, role): (&str, Role),
    id: &str,
    transition: pb::RfiTransition,
    reason: &str,
) -> Result<pb::Rfi, tonic::Status> {
    let mut rfis = gateway.rfis(party, role).await;
    let request = pb::UpdateRfiRequest { rfi_id: id.into(), transition: transition as i32, reason: reason.into() };
    Ok(rfis.update_rfi(request).await?.into_inner().rfi.unwrap())
}

async fn transfer(
    gateway: &TestGateway,
    party: &str,
    id: &str,
    to: &str,
) -> Result<pb::TransferRfiResponse, tonic::Status> {
    let mut rfis = gateway.rfis(party, Role::LiaisonOfficer).await;
    let request = pb::TransferRfiRequest { rfi_id: id.into(), to: to.into(), reason: "they hold the case".into() };
    Ok(rfis.transfer_rfi(request).await?.into_inner())
}

fn status(rfi: &pb::Rfi) -> pb::RfiStatus {
    pb::RfiStatus::try_from(rfi.status).unwrap()
}

/// The RFI events the audit holds for `id`, in order (an I&A operator reads every party's).
async fn rfi_events(gateway: &TestGateway, id: &str) -> Vec<(pb::AuditEvent, String)> {
    let mut operator = gateway.operator("ia", Role::Operator).await;
    let query = pb::QueryAuditRequest { message_id: id.into(), limit: 100, ..Default::default() };
    let mut records = operator.query_audit(query).await.unwrap().into_inner();
    let mut events = Vec::new();
    while let Some(record) = records.message().await.unwrap() {
        let event = record.event();
        if event.as_str_name().starts_with("AUDIT_EVENT_RFI_") {
            events.push((event, record.recipient));
        }
    }
    events
}

/// Everything `token`'s party has on its feed, read from the beginning until quiet.
async fn feed(gateway: &TestGateway, token: &str) -> Vec<pb::Envelope> {
    let mut client = client_with_header(&gateway.url(), Some(format!("Bearer {token}"))).await;
    let open = pb::OpenSubscription { start: from_beginning(), ..Default::default() };
    let mut subscription = subscribe(&mut client, open).await.unwrap();
    let mut envelopes = Vec::new();
    loop {
        let batch = subscription.next_batch(Duration::from_millis(1500)).await;
        if batch.is_empty() {
            return envelopes;
        }
        subscription.ack(&batch).await;
        envelopes.extend(batch.into_iter().map(|delivery| delivery.envelope.unwrap()));
    }
}

/// Waits until `check` holds for the RFI as `party`'s analyst reads it.
async fn wait_for(gateway: &TestGateway, party: &str, id: &str, check: impl Fn(&pb::Rfi) -> bool) -> pb::Rfi {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let rfi = get(gateway, party, Role::Analyst, id).await.unwrap();
        if check(&rfi) {
            return rfi;
        }
        assert!(tokio::time::Instant::now() < deadline, "RFI never got there: {rfi:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The value of `name{action_party="<party>"}` in a scrape, 0 when absent.
async fn party_metric(gateway: &TestGateway, name: &str, party: &str) -> f64 {
    let (_, body) = scrape(gateway).await;
    let prefix = format!("{name}{{action_party=\"{party}\"}} ");
    body.lines().find_map(|line| line.strip_prefix(&prefix)?.trim().parse().ok()).unwrap_or(0.0)
}

#[tokio::test]
async fn an_rfi_goes_from_open_to_closed_through_every_step_and_each_is_audited() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let id = open(&gateway, "cbp", "ia").await;
    let rfi = get(&gateway, "cbp", Role::Analyst, &id).await.unwrap();
    assert_eq!((status(&rfi), rfi.requester.as_str(), rfi.action_party.as_str()), (pb::RfiStatus::Open, "cbp", "ia"));
    assert_eq!((rfi.justification.as_str(), rfi.requester_person.as_str()), (JUSTIFICATION, "cbp-test"));
    let due = rfi.due_at.unwrap().seconds - rfi.opened_at.unwrap().seconds;
    assert!((6 * 3600 - 1..=6 * 3600).contains(&due), "ROUTINE is due in 6 hours: {due}");

    let ia = ("ia", Role::Analyst);
    let rfi = update(&gateway, ia, &id, pb::RfiTransition::Acknowledge, "").await.unwrap();
    assert!(status(&rfi) == pb::RfiStatus::Acknowledged && rfi.acknowledged_at.is_some());
    let rfi = update(&gateway, ia, &id, pb::RfiTransition::StartWork, "").await.unwrap();
    assert_eq!(status(&rfi), pb::RfiStatus::InWork);
    let receipt = answer(&gateway, "ia", &id, &[]).await.unwrap();
    assert_eq!(receipt.outcomes.len(), 1, "addressed to the requester: {receipt:?}");
    assert!(receipt.outcomes[0].party == "cbp" && matches!(receipt.outcomes[0].outcome, Some(Outcome::Delivered(_))));
    let rfi = get(&gateway, "cbp", Role::Analyst, &id).await.unwrap();
    assert_eq!((status(&rfi), rfi.response_id.as_str()), (pb::RfiStatus::Answered, receipt.message_id.as_str()));
    let received = feed(&gateway, &gateway.token("cbp", Role::Analyst)).await;
    assert_eq!(received.len(), 1);
    assert_eq!((received[0].kind(), received[0].in_reply_to.as_str()), (pb::Kind::RfiResponse, id.as_str()));

    let cbp = ("cbp", Role::AgencySystem);
    let rfi = update(&gateway, cbp, &id, pb::RfiTransition::Reopen, "the signatories are missing").await.unwrap();
    assert!(status(&rfi) == pb::RfiStatus::Open && rfi.answered_at.is_none());
    let rfi = update(&gateway, ia, &id, pb::RfiTransition::Reject, "outside our holdings").await.unwrap();
    assert_eq!(status(&rfi), pb::RfiStatus::Rejected);
    let rfi = update(&gateway, cbp, &id, pb::RfiTransition::Close, "").await.unwrap();
    assert!(status(&rfi) == pb::RfiStatus::Closed && rfi.closed_at.is_some());
    let steps: Vec<&str> = rfi.history.iter().map(|step| step.transition.as_str()).collect();
    assert_eq!(steps, ["open", "acknowledge", "start-work", "answer", "reopen", "reject", "close"]);
    assert_eq!(rfi.history[5].reason, "outside our holdings");

    use pb::AuditEvent::*;
    let events: Vec<pb::AuditEvent> = rfi_events(&gateway, &id).await.into_iter().map(|(event, _)| event).collect();
    assert_eq!(
        events,
        [RfiOpened, RfiAcknowledged, RfiInWork, RfiAnswered, RfiReopened, RfiRejected, RfiClosed],
        "every transition is in the audit"
    );
    assert!(party_metric(&gateway, "liaison_rfi_time_to_answer_seconds_count", "ia").await >= 1.0);
    assert!(party_metric(&gateway, "liaison_rfi_time_to_acknowledge_seconds_count", "ia").await >= 1.0);
}

fn assert_refused(result: Result<impl std::fmt::Debug, tonic::Status>, code: Code, needle: &str) {
    let status = result.expect_err("refused");
    assert_eq!(status.code(), code, "{status:?}");
    assert!(status.message().contains(needle), "{needle:?} not in {:?}", status.message());
}

#[tokio::test]
async fn refused_rfis_and_transitions_name_their_rule_and_change_nothing() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    let publish = |envelope| pb::PublishRequest { envelope: Some(envelope) };
    assert_refused(
        cbp.publish(publish(rfi_envelope(&["ia", "ice"]))).await,
        Code::InvalidArgument,
        "rfi-one-action-party",
    );
    assert_refused(cbp.publish(publish(rfi_envelope(&[]))).await, Code::InvalidArgument, "rfi-one-action-party");
    let unjustified = pb::Envelope { justification: " ".into(), ..rfi_envelope(&["ia"]) };
    assert_refused(cbp.publish(publish(unjustified)).await, Code::InvalidArgument, "envelope.justification: required");
    let report = pb::Envelope { kind: pb::Kind::Report as i32, ..rfi_envelope(&["ia"]) };
    assert_refused(cbp.publish(publish(report)).await, Code::InvalidArgument, "only an RFI (KIND_RFI)");
    let past = pb::Envelope { due_at: Some(prost_types::Timestamp { seconds: 1, nanos: 0 }), ..rfi_envelope(&["ia"]) };
    assert_refused(cbp.publish(publish(past)).await, Code::InvalidArgument, "envelope.due_at");

    let id = open(&gateway, "cbp", "ia").await;
    let (ia, cbp_system) = (("ia", Role::Analyst), ("cbp", Role::AgencySystem));
    let start = pb::RfiTransition::StartWork;
    assert_refused(update(&gateway, ia, &id, start, "").await, Code::FailedPrecondition, "rfi-status");
    // Answering an RFI the party is not acting on: the requester itself, or a third party.
    assert_refused(answer(&gateway, "cbp", &id, &["ia"]).await, Code::PermissionDenied, "rfi-action-party-acts");
    assert_refused(answer(&gateway, "ice", &id, &["cbp"]).await, Code::PermissionDenied, "rfi-action-party-acts");
    assert_refused(answer(&gateway, "ia", &id, &["ice"]).await, Code::InvalidArgument, "rfi-answer-to-requester");
    // Closing another party's RFI: the action party's, or a stranger's (refused by the table).
    let close = pb::RfiTransition::Close;
    assert_refused(update(&gateway, ia, &id, close, "").await, Code::PermissionDenied, "rfi-requester-decides");
    assert_refused(
        update(&gateway, ("fbi", Role::Analyst), &id, close, "").await,
        Code::PermissionDenied,
        "(UpdateRfi)",
    );
    // The wrong role: an operator does not work RFIs, only a liaison officer transfers.
    let ack = pb::RfiTransition::Acknowledge;
    assert_refused(update(&gateway, ("ia", Role::Operator), &id, ack, "").await, Code::PermissionDenied, "(UpdateRfi)");
    let mut analyst = gateway.rfis("ia", Role::Analyst).await;
    let request = pb::TransferRfiRequest { rfi_id: id.clone(), to: "ice".into(), reason: "theirs".into() };
    assert_refused(analyst.transfer_rfi(request).await, Code::PermissionDenied, "(TransferRfi)");
    assert_refused(get(&gateway, "fbi", Role::Analyst, &id).await, Code::PermissionDenied, "(GetRfi)");
    let reject = pb::RfiTransition::Reject;
    assert_refused(update(&gateway, ia, &id, reject, "").await, Code::InvalidArgument, "reason: required");
    assert_refused(
        update(&gateway, cbp_system, &ulid::Ulid::new().to_string(), close, "").await,
        Code::NotFound,
        "rfi_id",
    );
    assert_refused(update(&gateway, cbp_system, "not-an-id", close, "").await, Code::InvalidArgument, "rfi_id");

    // Bad input names its field.
    let mut rfis = gateway.rfis("cbp", Role::Analyst).await;
    let bad_view = pb::ListRfisRequest { view: 99, ..Default::default() };
    assert_refused(rfis.list_rfis(bad_view).await, Code::InvalidArgument, "view: unknown value 99");
    let bad_party = pb::ListRfisRequest { party: "Not A Party".into(), ..Default::default() };
    assert_refused(rfis.list_rfis(bad_party).await, Code::InvalidArgument, "party");
    let long = "x".repeat(2000);
    assert_refused(
        update(&gateway, cbp_system, &id, close, &long).await,
        Code::InvalidArgument,
        "reason: at most 1024",
    );
    let unspecified = pb::RfiTransition::Unspecified;
    assert_refused(
        update(&gateway, cbp_system, &id, unspecified, "").await,
        Code::InvalidArgument,
        "transition: required",
    );
    let mut officer = gateway.rfis("ia", Role::LiaisonOfficer).await;
    let request = pb::TransferRfiRequest { rfi_id: id.clone(), to: "ICE!".into(), reason: "theirs".into() };
    assert_refused(officer.transfer_rfi(request).await, Code::InvalidArgument, "to");

    let rfi = get(&gateway, "ia", Role::Operator, &id).await.unwrap();
    assert_eq!((status(&rfi), rfi.history.len()), (pb::RfiStatus::Open, 1), "nothing refused changed it");
    assert!(rfi.title.is_empty() && rfi.justification.is_empty(), "an operator sees metadata only: {rfi:?}");
    assert_eq!(get(&gateway, "ia", Role::Analyst, &id).await.unwrap().justification, JUSTIFICATION);
    assert!(feed(&gateway, &gateway.token("cbp", Role::Analyst)).await.is_empty(), "no refused answer was sent");
    assert_eq!(rfi_events(&gateway, &id).await.len(), 1, "only the opening is audited");
}

#[tokio::test]
async fn a_liaison_officer_transfers_an_rfi_across_the_liaison_structure_and_a_denied_transfer_is_refused() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let id = open(&gateway, "cbp", "ia").await;
    // I&A's liaison officer sends it on to the host agency that holds the case.
    let moved = transfer(&gateway, "ia", &id, "ice").await.unwrap();
    assert_eq!(moved.rule, "ia-dissemination-to-hosts");
    assert!(moved.subject.starts_with("liaison.feed.") && moved.subject.contains(".ice."), "{}", moved.subject);
    // The requester sees where it went.
    let rfi = get(&gateway, "cbp", Role::Analyst, &id).await.unwrap();
    assert_eq!((status(&rfi), rfi.action_party.as_str()), (pb::RfiStatus::Transferred, "ice"));
    let step = rfi.history.last().unwrap();
    assert_eq!((step.transition.as_str(), step.party.as_str(), step.action_party.as_str()), ("transfer", "ia", "ice"));
    let copies = feed(&gateway, &gateway.token("ice", Role::Analyst)).await;
    assert_eq!(copies.len(), 1, "ice got the RFI");
    assert_eq!((copies[0].id.as_str(), copies[0].kind()), (id.as_str(), pb::Kind::Rfi));
    assert_eq!(copies[0].attributes["liaison.rfi.transferred_by"], "ia");
    // I&A is no longer a party to it (neither requester nor action party): refused by the table.
    let ack = pb::RfiTransition::Acknowledge;
    assert_refused(update(&gateway, ("ia", Role::Analyst), &id, ack, "").await, Code::PermissionDenied, "(UpdateRfi)");

    // ICE may not send it to the FBI: no rule lets it; the transfer is refused and the denial audited.
    assert_refused(transfer(&gateway, "ice", &id, "fbi").await, Code::PermissionDenied, "DENIAL_REASON_NO_ROUTE");
    assert!(feed(&gateway, &gateway.token("fbi", Role::Analyst)).await.is_empty());
    let mut operator = gateway.operator("ia", Role::Operator).await;
    let query = pb::QueryAuditRequest {
        message_id: id.clone(),
        event: pb::AuditEvent::Denied as i32,
        limit: 10,
        ..Default::default()
    };
    let denied = operator.query_audit(query).await.unwrap().into_inner().message().await.unwrap().unwrap();
    assert_eq!((denied.recipient.as_str(), denied.origin.as_str()), ("fbi", "ice"));
    assert_eq!(get(&gateway, "ice", Role::Analyst, &id).await.unwrap().action_party, "ice");

    // ICE acknowledges and answers CBP through the I&A relay, as host-to-host traffic must go.
    update(&gateway, ("ice", Role::AgencySystem), &id, ack, "").await.unwrap();
    let receipt = answer(&gateway, "ice", &id, &["cbp", "ia"]).await.unwrap();
    assert!(
        receipt.outcomes.iter().all(|outcome| matches!(outcome.outcome, Some(Outcome::Delivered(_)))),
        "{receipt:?}"
    );
    let rfi = update(&gateway, ("cbp", Role::Analyst), &id, pb::RfiTransition::Close, "").await.unwrap();
    assert_eq!(status(&rfi), pb::RfiStatus::Closed);
    let events = rfi_events(&gateway, &id).await;
    use pb::AuditEvent::*;
    let expected = [RfiOpened, RfiTransferred, RfiAcknowledged, RfiAnswered, RfiClosed];
    assert_eq!(events.iter().map(|(event, _)| *event).collect::<Vec<_>>(), expected);
    assert_eq!(events[1].1, "ice", "the transfer names the new action party");
}

#[tokio::test]
async fn an_rfi_past_due_expires_once_with_a_notice_to_both_parties_however_many_gateways_sweep() {
    let nats = NatsServer::start().await;
    let short = |config: &mut liaison::config::ServeConfig| config.limits.rfi_due.routine = Duration::from_secs(2);
    let gateway = TestGateway::start_with(Some(nats.url()), short).await;
    let other = TestGateway::start_with(Some(nats.url()), short).await;
    let id = open(&gateway, "cbp", "ia").await;
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    let later = time::OffsetDateTime::now_utc() + Duration::from_secs(3600);
    let explicit = pb::Envelope {
        due_at: Some(prost_types::Timestamp { seconds: later.unix_timestamp(), nanos: 0 }),
        ..rfi_envelope(&["ia"])
    };
    let explicit = publish(&mut cbp, explicit).await.message_id;

    let rfi = wait_for(&gateway, "cbp", &id, |rfi| status(rfi) == pb::RfiStatus::Expired).await;
    assert!(rfi.overdue);
    assert_eq!(rfi.history.last().unwrap().party, "gateway");
    let kept = get(&gateway, "cbp", Role::Analyst, &explicit).await.unwrap();
    assert_eq!((status(&kept), kept.due_at.unwrap().seconds), (pb::RfiStatus::Open, later.unix_timestamp()));
    let mut rfis = gateway.rfis("cbp", Role::Analyst).await;
    let overdue = pb::ListRfisRequest { view: pb::RfiView::Overdue as i32, ..Default::default() };
    let listed = rfis.list_rfis(overdue).await.unwrap().into_inner().rfis;
    assert_eq!(listed.iter().map(|rfi| rfi.id.as_str()).collect::<Vec<_>>(), [id.as_str()]);

    // One notice to each end, though both gateways sweep.
    for party in ["cbp", "ia"] {
        let notices: Vec<pb::Envelope> = feed(&gateway, &gateway.token(party, Role::Analyst))
            .await
            .into_iter()
            .filter(|envelope| envelope.kind() == pb::Kind::Notice)
            .collect();
        assert_eq!(notices.len(), 1, "{party}: {notices:?}");
        assert_eq!(
            (notices[0].in_reply_to.as_str(), notices[0].attributes["liaison.notice"].as_str()),
            (id.as_str(), "rfi-overdue")
        );
    }
    let counted = party_metric(&gateway, "liaison_rfi_overdue_total", "ia").await
        + party_metric(&other, "liaison_rfi_overdue_total", "ia").await;
    assert_eq!(counted, 1.0, "counted once across the gateways");
    let events: Vec<_> = rfi_events(&gateway, &id).await.into_iter().map(|(event, _)| event).collect();
    assert_eq!(events, [pb::AuditEvent::RfiOpened, pb::AuditEvent::RfiExpired]);

    // The requester reopens it: due anew.
    let cbp = ("cbp", Role::AgencySystem);
    let rfi = update(&gateway, cbp, &id, pb::RfiTransition::Reopen, "still needed").await.unwrap();
    assert!(status(&rfi) == pb::RfiStatus::Open && !rfi.overdue);
}

#[tokio::test]
async fn a_restarted_gateway_continues_an_open_rfi() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let id = open(&gateway, "cbp", "ia").await;
    update(&gateway, ("ia", Role::Analyst), &id, pb::RfiTransition::Acknowledge, "").await.unwrap();
    let data_dir = gateway.stop().await;
    let gateway = TestGateway::start_in(data_dir, Some(nats.url()), |_| {}).await;
    let rfi = get(&gateway, "ia", Role::Analyst, &id).await.unwrap();
    assert_eq!(status(&rfi), pb::RfiStatus::Acknowledged, "the record is in NATS, not in the gateway");
    update(&gateway, ("ia", Role::Analyst), &id, pb::RfiTransition::StartWork, "").await.unwrap();
    answer(&gateway, "ia", &id, &[]).await.unwrap();
    let rfi = update(&gateway, ("cbp", Role::Analyst), &id, pb::RfiTransition::Close, "").await.unwrap();
    assert_eq!(status(&rfi), pb::RfiStatus::Closed);
    assert_eq!(party_metric(&gateway, "liaison_rfi_time_to_answer_seconds_count", "ia").await, 1.0);
}

#[tokio::test]
async fn the_cli_opens_lists_shows_and_moves_an_rfi() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let cbp = gateway.token("cbp", Role::AgencySystem);
    let opened = liaison_cli(
        &gateway,
        &cbp,
        &[
            "rfi",
            "open",
            "--to",
            "ia",
            "--topic",
            "money-laundering",
            "--precedence",
            "flash",
            "--title",
            "Who owns account 4471?",
            "--body",
            "Name the holder",
            "--justification",
            JUSTIFICATION,
        ],
    )
    .await;
    eprintln!("{opened}");
    let id = opened.split_whitespace().nth(1).unwrap().to_string();
    assert!(opened.contains(&format!("rfi {id}: open (requester cbp, action party ia, due ")), "{opened}");
    let mine = liaison_cli(&gateway, &cbp, &["rfi", "list", "--mine", "--json"]).await;
    let row: serde_json::Value = serde_json::from_str(mine.lines().next().unwrap()).unwrap();
    assert_eq!(
        (row["id"].as_str(), row["status"].as_str(), row["precedence"].as_str()),
        (Some(id.as_str()), Some("open"), Some("flash"))
    );
    let ia = gateway.token("ia", Role::Analyst);
    let acked = liaison_cli(&gateway, &ia, &["rfi", "ack", &id]).await;
    assert!(acked.contains(&format!("rfi {id}: acknowledged")), "{acked}");
    let table = liaison_cli(&gateway, &ia, &["rfi", "list", "--to-act"]).await;
    eprintln!("{table}");
    assert!(
        table.starts_with("ID ")
            && table.lines().nth(1).is_some_and(|line| line.starts_with(&id) && line.contains("acknowledged")),
        "{table}"
    );
    let officer = gateway.token("ia", Role::LiaisonOfficer);
    let moved =
        liaison_cli(&gateway, &officer, &["rfi", "transfer", &id, "--to", "ice", "--reason", "HSI holds the case"])
            .await;
    eprintln!("{moved}");
    assert!(moved.contains("transferred to ice under rule ia-dissemination-to-hosts"), "{moved}");
    let shown = liaison_cli(&gateway, &cbp, &["rfi", "show", &id]).await;
    eprintln!("{shown}");
    assert!(
        shown.contains("history:") && shown.contains("transfer") && shown.contains("HSI holds the case"),
        "{shown}"
    );
    let to_act = liaison_cli(&gateway, &ia, &["rfi", "list", "--to-act", "--json"]).await;
    assert!(to_act.is_empty(), "no longer ia's to act on: {to_act}");
    let ice = gateway.token("ice", Role::AgencySystem);
    let answered =
        liaison_cli(&gateway, &ice, &["rfi", "answer", &id, "--body", "Acme Freight LLC", "--also-to", "ia"]).await;
    eprintln!("{answered}");
    assert!(
        answered.contains("\n  cbp: delivered on liaison.feed.") && answered.contains("ia: delivered"),
        "{answered}"
    );
    assert!(answered.contains(&format!("rfi {id}: answered")), "{answered}");
    let closed = liaison_cli(&gateway, &cbp, &["rfi", "close", &id]).await;
    eprintln!("{closed}");
    assert!(closed.contains(&format!("rfi {id}: closed")), "{closed}");
}
