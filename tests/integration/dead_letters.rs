//! Dead letters: after its last delivery attempt (by nack or by expired deadline) a message moves to the
//! recipient's dead-letter subject; operators list it by metadata only; only an admin of the recipient party
//! can redrive it, and the redriven copy goes back to the subscription that gave up on it.

use crate::common;

use std::time::Duration;

use common::*;
use liaison::api as pb;
use liaison::identity::Role;
use prost::Message;
use tonic::Code;

const MARKER: &str = "okapi-91d2-content-marker";
const WAIT: Duration = Duration::from_secs(10);

async fn operator(gateway: &TestGateway, party: &str, role: Role) -> Operator {
    gateway.operator(party, role).await
}

/// A durable "desk" for ia with two attempts and a one-second deadline.
fn desk() -> pb::OpenSubscription {
    pb::OpenSubscription {
        durable_name: "desk".into(),
        start: from_beginning(),
        max_delivery_attempts: 2,
        ack_deadline: Some(prost_types::Duration { seconds: 1, nanos: 0 }),
        ..Default::default()
    }
}

fn marked(body: &str) -> pb::Envelope {
    let mut envelope = envelope(&["ia"], "money-laundering", format!("{MARKER} {body}").as_bytes());
    envelope.title = MARKER.into();
    envelope.attributes.insert("note".into(), MARKER.into());
    envelope
}

/// Publishes `poison` and `fine`; the desk nacks `poison` on both attempts and acks `fine`. Returns the
/// poison message's id and feed sequence, with the desk session still open.
async fn dead_letter_by_nack(gateway: &TestGateway) -> (String, u64, Subscription) {
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    let poison = publish(&mut cbp, marked("poison")).await;
    publish(&mut cbp, envelope(&["ia"], "money-laundering", b"fine")).await;
    let mut ia = gateway.client("ia", Role::Analyst).await;
    let mut desk = subscribe(&mut ia, desk()).await.unwrap();
    assert_eq!(desk.opened.max_delivery_attempts, 2);
    assert_eq!(desk.opened.dead_letter_subject, "liaison.dead.ia.>");

    let first = desk.take(2, WAIT).await;
    let (bad, good): (Vec<_>, Vec<_>) =
        first.into_iter().partition(|delivery| delivery.envelope.as_ref().unwrap().id == poison.message_id);
    desk.ack(&good).await;
    assert_eq!(bad[0].delivery_attempt, 1);
    desk.nack(&bad[0], None).await;
    let again = desk.take(1, WAIT).await.remove(0);
    assert_eq!(again.envelope.as_ref().unwrap().id, poison.message_id);
    assert_eq!(again.delivery_attempt, 2, "every delivery carries its attempt number");
    desk.nack(&again, None).await;
    // The third attempt never reaches the subscriber: it is dead-lettered instead.
    assert!(desk.next_batch(Duration::from_secs(2)).await.is_empty(), "a message came back after its last attempt");
    (poison.message_id, again.stream_sequence, desk)
}

#[tokio::test]
async fn the_last_attempt_moves_a_message_to_its_dead_letter_subject_seen_by_operators_as_metadata() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let (poison_id, poison_sequence, mut desk) = dead_letter_by_nack(&gateway).await;

    // A message nobody acknowledges runs out of attempts by deadline.
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    let ignored = publish(&mut cbp, envelope(&["ia"], "cyber-crime", b"ignored")).await;
    let attempts: Vec<u32> = desk.take(1, WAIT).await.iter().map(|delivery| delivery.delivery_attempt).collect();
    assert_eq!(attempts, [1]);
    let attempts: Vec<u32> = desk.take(1, WAIT).await.iter().map(|delivery| delivery.delivery_attempt).collect();
    assert_eq!(attempts, [2]);
    assert!(desk.next_batch(Duration::from_secs(3)).await.is_empty());

    let mut operations = operator(&gateway, "ia", Role::Operator).await;
    let request = pb::ListDeadLettersRequest { party: "ia".into(), limit: 0 };
    let listed = operations.list_dead_letters(request).await.unwrap().into_inner();
    assert!(!listed.truncated);
    let ids: Vec<&str> = listed.dead_letters.iter().map(|dead| dead.message_id.as_str()).collect();
    assert_eq!(ids, [poison_id.as_str(), ignored.message_id.as_str()]);
    let poison = &listed.dead_letters[0];
    assert_eq!(poison.subject, "liaison.dead.ia.cbp.report.money-laundering");
    assert_eq!((poison.party.as_str(), poison.origin.as_str()), ("ia", "cbp"));
    assert_eq!((poison.kind, poison.topic.as_str()), (pb::Kind::Report as i32, "money-laundering"));
    assert_eq!(poison.feed_sequence, poison_sequence);
    assert_eq!(poison.subscription_id, "ia_desk");
    assert_eq!(poison.delivery_attempts, 2);
    assert!(poison.size_bytes > MARKER.len() as u64, "size of the stored message: {}", poison.size_bytes);
    assert!(poison.reason.contains("2 delivery attempts"), "{}", poison.reason);
    assert!(poison.dead_lettered_at.is_some());
    assert!(
        !String::from_utf8_lossy(&listed.encode_to_vec()).contains(MARKER),
        "a dead-letter listing carried message content"
    );

    // Another party's listing is empty; a listing of every party has both.
    let fbi = pb::ListDeadLettersRequest { party: "fbi".into(), limit: 0 };
    assert!(operations.list_dead_letters(fbi).await.unwrap().into_inner().dead_letters.is_empty());
    let one = pb::ListDeadLettersRequest { party: String::new(), limit: 1 };
    let one = operations.list_dead_letters(one).await.unwrap().into_inner();
    assert_eq!((one.dead_letters.len(), one.truncated), (1, true));

    // The dead letter keeps the whole message for the recipient (the marker is there, so the check above
    // can fail), and the analyst role cannot list dead letters.
    let jetstream = async_nats::jetstream::new(nats.client().await);
    let stream = jetstream.get_stream("LIAISON_DEAD").await.unwrap();
    let stored = stream.get_raw_message(poison.sequence).await.unwrap();
    let envelope = pb::Envelope::decode(stored.payload).unwrap();
    assert_eq!(envelope.id, poison_id);
    assert!(String::from_utf8_lossy(&envelope.body).contains(MARKER));
    let mut as_analyst = operator(&gateway, "ia", Role::Analyst).await;
    let denied = as_analyst.list_dead_letters(pb::ListDeadLettersRequest::default()).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn only_the_recipients_admin_redrives_and_the_copy_returns_to_the_subscription_that_gave_up() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    // A second durable of the same party that took the poison message fine.
    let mut ia = gateway.client("ia", Role::Analyst).await;
    let archive_open =
        pb::OpenSubscription { durable_name: "archive".into(), start: from_beginning(), ..Default::default() };
    let mut archive = subscribe(&mut ia, archive_open).await.unwrap();
    let (poison_id, _, mut desk) = dead_letter_by_nack(&gateway).await;
    let archived = archive.take(2, WAIT).await;
    archive.ack(&archived).await;

    let mut operations = operator(&gateway, "ia", Role::Operator).await;
    let listed = operations.list_dead_letters(pb::ListDeadLettersRequest::default()).await.unwrap().into_inner();
    let sequence = listed.dead_letters[0].sequence;
    let redrive = |party: &str, sequences: Vec<u64>| pb::RedriveDeadLettersRequest { party: party.into(), sequences };

    // An operator, and an admin of another party, may not redrive ia's dead letters.
    let refused = operations.redrive_dead_letters(redrive("ia", vec![])).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    let mut fbi_admin = operator(&gateway, "fbi", Role::Admin).await;
    let refused = fbi_admin.redrive_dead_letters(redrive("ia", vec![])).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    // fbi's own redrive cannot reach ia's dead letter by sequence either.
    let own = fbi_admin.redrive_dead_letters(redrive("fbi", vec![sequence])).await.unwrap().into_inner();
    assert!(own.redriven.is_empty());
    assert!(own.refused[0].explanation.contains("not of fbi"), "{:?}", own.refused);

    let mut ia_admin = operator(&gateway, "ia", Role::Admin).await;
    let done = ia_admin.redrive_dead_letters(redrive("ia", vec![sequence, 999])).await.unwrap().into_inner();
    assert_eq!(done.redriven, [sequence]);
    assert_eq!(done.refused.len(), 1);
    assert_eq!(done.refused[0].sequence, 999);
    let after = operations.list_dead_letters(pb::ListDeadLettersRequest::default()).await.unwrap().into_inner();
    assert!(after.dead_letters.is_empty(), "a redriven message is no longer a dead letter");

    // The desk gets the message again (a fresh delivery); the archive, which had acknowledged it, does not.
    let back = desk.take(1, WAIT).await.remove(0);
    assert_eq!(back.envelope.as_ref().unwrap().id, poison_id);
    assert_eq!(back.delivery_attempt, 1);
    desk.ack(std::slice::from_ref(&back)).await;
    assert!(archive.next_batch(Duration::from_secs(2)).await.is_empty(), "the redrive reached another subscription");
}

#[tokio::test]
async fn dead_letters_and_seek_from_the_command_line() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let (poison_id, feed_sequence, desk) = dead_letter_by_nack(&gateway).await;
    drop(desk);

    let operator_token = gateway.token("ia", Role::Operator);
    let csv =
        liaison_cli(&gateway, &operator_token, &["dead-letters", "list", "--party", "ia", "--format", "csv"]).await;
    let lines: Vec<&str> = csv.lines().collect();
    assert!(
        lines[0].starts_with("sequence,dead_lettered_at,party,origin,kind,topic,message_id,feed_sequence"),
        "{csv}"
    );
    assert_eq!(lines.len(), 2, "{csv}");
    let row = lines[1];
    assert!(row.contains(&format!(",ia,cbp,REPORT,money-laundering,{poison_id},{feed_sequence},ia_desk,2,")), "{row}");
    assert!(!csv.contains(MARKER), "a listing never shows content");
    let sequence = row.split(',').next().unwrap();

    let admin_token = gateway.token("ia", Role::Admin);
    let redriven =
        liaison_cli(&gateway, &admin_token, &["dead-letters", "redrive", "--party", "ia", sequence, "999"]).await;
    assert!(redriven.starts_with(&format!("redriven 1: {sequence}\n")), "{redriven}");
    assert!(redriven.contains("refused 999: "), "{redriven}");
    let json = liaison_cli(&gateway, &operator_token, &["dead-letters", "list"]).await;
    assert!(json.is_empty(), "nothing is left: {json}");
    // The redrive is audited: who, which dead letter, where the new copy went and under which rule.
    let audited = liaison_cli(&gateway, &operator_token, &["audit", "query", "--event", "redriven"]).await;
    let rows: Vec<serde_json::Value> = audited.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(rows.len(), 1, "{audited}");
    let row = &rows[0];
    assert_eq!((row["event"].as_str(), row["message_id"].as_str()), (Some("REDRIVEN"), Some(poison_id.as_str())));
    assert_eq!((row["recipient"].as_str(), row["subscriber"].as_str()), (Some("ia"), Some("ia-test")));
    assert_eq!(row["reason"].as_str(), Some(format!("dead letter {sequence}").as_str()), "{row}");
    assert!(row["subject"].as_str().unwrap().starts_with("liaison.feed.ia.cbp."), "{row}");
    assert!(!row["decided_by"].as_str().unwrap().is_empty() && !row["policy_version"].as_str().unwrap().is_empty());

    // The desk acknowledged everything but the poison message, which is back: from sequence 1 on, both
    // messages and the redriven copy are pending again.
    let analyst_token = gateway.token("ia", Role::Analyst);
    let moved = liaison_cli(&gateway, &analyst_token, &["seek", "desk", "--to", "seq:1"]).await;
    assert_eq!(moved.trim(), "ia_desk moved: 3 messages pending");
    let now = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap();
    let moved = liaison_cli(&gateway, &analyst_token, &["seek", "desk", "--to", &format!("time:{now}")]).await;
    assert_eq!(moved.trim(), "ia_desk moved: 0 messages pending");
    // A time in the future is refused (nats-server would read year 2999 as the very beginning).
    let future = tokio::process::Command::new(env!("CARGO_BIN_EXE_liaison"))
        .args(["seek", "desk", "--to", "time:2999-01-01T00:00:00Z"])
        .args(["--gateway", &gateway.url(), "--token", &analyst_token])
        .output()
        .await
        .unwrap();
    assert!(!future.status.success());
    let refused = String::from_utf8_lossy(&future.stderr);
    assert!(refused.contains("time: 2999-01-01T00:00:00Z is in the future"), "{refused}");
    let bad = tokio::process::Command::new(env!("CARGO_BIN_EXE_liaison"))
        .args(["seek", "desk", "--to", "yesterday", "--token", "x"])
        .output()
        .await
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("one of beginning, seq:N, time:RFC3339"));
}
