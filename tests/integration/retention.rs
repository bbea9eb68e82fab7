//! Retention, review, purge and corrections (28 CFR 23.20(h) and the correction rule of DOMAIN.md):
//! messages fall due for review by their origin party's retention period; a revalidation restarts it and
//! is audited; a purge erases every stored copy (feed and dead letters) and notifies every party that
//! received one; a correction reaches every earlier recipient the policy still allows.

use crate::common;

use std::path::Path;
use std::time::Duration;

use common::*;
use liaison::api as pb;
use liaison::identity::Role;
use liaison::policy_store::PolicyFiles;
use liaison::router::DEFAULT_DIRECTORY;
use tonic::Code;

const LIAISON: &str = env!("CARGO_BIN_EXE_liaison");
const WAIT: Duration = Duration::from_secs(10);

/// The shipped directory with `ia`'s retention period set to `retention`.
fn directory_with_ia_retention(dir: &Path, retention: &str) -> PolicyFiles {
    let text = DEFAULT_DIRECTORY.replacen("id = \"ia\"\n", &format!("id = \"ia\"\nretention = \"{retention}\"\n"), 1);
    assert_ne!(text, DEFAULT_DIRECTORY, "the ia party is in the shipped directory");
    let path = dir.join("directory.toml");
    std::fs::write(&path, text).unwrap();
    PolicyFiles { directory: Some(path), policy: None }
}

/// An unclassified report without LES or TLP markings, which every host party may receive.
fn plain(recipients: &[&str], body: &[u8]) -> pb::Envelope {
    let mut envelope = envelope(recipients, "border-security", body);
    envelope.markings =
        Some(pb::Markings { classification: pb::Classification::Unclassified as i32, ..Default::default() });
    envelope
}

fn review_request(within: Duration) -> pb::ListReviewDueRequest {
    pb::ListReviewDueRequest { within: Some(proto_duration(within)), ..Default::default() }
}

fn ids(response: &pb::ListReviewDueResponse) -> Vec<&str> {
    response.messages.iter().map(|item| item.message_id.as_str()).collect()
}

/// Every audit record of `message_id` of one event, through QueryAudit.
async fn audit_records(
    operator: &mut Operator,
    message_id: &str,
    event: pb::AuditEvent,
) -> Vec<pb::QueryAuditResponse> {
    let request = pb::QueryAuditRequest { message_id: message_id.into(), event: event as i32, ..Default::default() };
    let mut stream = operator.query_audit(request).await.unwrap().into_inner();
    let mut records = Vec::new();
    while let Some(record) = stream.message().await.unwrap() {
        records.push(record);
    }
    records
}

#[tokio::test]
async fn messages_fall_due_by_their_partys_retention_and_a_revalidation_restarts_it() {
    let nats = NatsServer::start().await;
    let files = tempfile::tempdir().unwrap();
    let policy = directory_with_ia_retention(files.path(), "3s");
    let gateway = TestGateway::start_with(Some(nats.url()), |config| config.policy_files = policy).await;
    let mut ia = gateway.client("ia", Role::AgencySystem).await;
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    let short = publish(&mut ia, envelope(&["cbp"], "border-security", b"kept three seconds")).await;
    let long = publish(&mut cbp, envelope(&["ia"], "border-security", b"kept five years")).await;
    let mut operator = gateway.operator("ia", Role::Operator).await;

    // Within an hour only ia's message falls due (cbp keeps the five-year default); none is overdue yet.
    let listed = list_review_due(&mut operator, review_request(Duration::from_secs(3600))).await.unwrap();
    assert_eq!(ids(&listed), [short.message_id.as_str()]);
    let item = &listed.messages[0];
    assert!(!item.overdue);
    assert_eq!((item.origin.as_str(), item.recipients.as_slice()), ("ia", &["cbp".to_string()][..]));
    assert_eq!(item.retention, Some(proto_duration(Duration::from_secs(3))));
    assert_eq!(item.kind, pb::Kind::Report as i32);
    assert_eq!(item.banner, "UNCLASSIFIED//LES", "the markings it was published under");
    let within_six_years = Duration::from_secs(6 * 366 * 24 * 3600);
    let everything = list_review_due(&mut operator, review_request(within_six_years)).await.unwrap();
    assert_eq!(ids(&everything), [short.message_id.as_str(), long.message_id.as_str()], "in publication order");

    tokio::time::sleep(Duration::from_millis(3200)).await;
    let overdue = list_review_due(&mut operator, review_request(Duration::ZERO)).await.unwrap();
    assert_eq!(ids(&overdue), [short.message_id.as_str()]);
    assert!(overdue.messages[0].overdue);

    // The CLI lists it too, as CSV.
    let token = gateway.token("ia", Role::Operator);
    let csv = liaison_cli(&gateway, &token, &["retention", "review", "--within", "0s", "--format", "csv"]).await;
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(lines[0].starts_with("message_id,origin,kind,topic,published_at,review_due,overdue"), "{csv}");
    assert!(lines[1].starts_with(&format!("{},ia,REPORT,border-security,", short.message_id)), "{csv}");
    assert!(lines[1].contains(",true,"), "overdue: {csv}");

    // Only a person of the origin party revalidates, with a reason.
    let revalidate =
        |message_id: &str, reason: &str| pb::RevalidateRequest { message_id: message_id.into(), reason: reason.into() };
    let mut reviewer = gateway.operator("ia", Role::Analyst).await;
    let refused = reviewer.revalidate(revalidate(&short.message_id, " ")).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(refused.message().starts_with("reason: required"), "{refused:?}");
    let refused = gateway.operator("cbp", Role::Analyst).await.revalidate(revalidate(&short.message_id, "x")).await;
    assert_eq!(refused.unwrap_err().code(), Code::PermissionDenied, "another party may not revalidate");
    let refused = operator.revalidate(revalidate(&short.message_id, "x")).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "operators never judge content");
    let unknown = reviewer.revalidate(revalidate("01ARZ3NDEKTSV4RRFFQ69G5FAV", "x")).await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    assert!(unknown.message().contains("message_id"), "{unknown:?}");

    let before = time::OffsetDateTime::now_utc().unix_timestamp();
    let reason = "suspect still under investigation, case 2026-0042";
    let response = reviewer.revalidate(revalidate(&short.message_id, reason)).await.unwrap().into_inner();
    let review = response.revalidation.unwrap();
    assert_eq!((review.reviewer.as_str(), review.reason.as_str()), ("ia-test", reason));
    let due = response.review_due.unwrap().seconds;
    assert!((before + 2..=before + 5).contains(&due), "due three seconds after the review: {due} vs {before}");

    // No longer overdue; listed with its review when due soon.
    let overdue = list_review_due(&mut operator, review_request(Duration::ZERO)).await.unwrap();
    assert!(overdue.messages.is_empty(), "{overdue:?}");
    let soon = list_review_due(&mut operator, review_request(Duration::from_secs(3600))).await.unwrap();
    let last = soon.messages[0].last_revalidation.as_ref().unwrap();
    assert_eq!((last.reviewer.as_str(), last.reason.as_str()), ("ia-test", reason));

    // The revalidation is audited with the reviewer and the reason.
    let records = audit_records(&mut operator, &short.message_id, pb::AuditEvent::Revalidated).await;
    let [record] = records.as_slice() else { panic!("one revalidation record: {records:?}") };
    assert_eq!((record.subscriber.as_str(), record.reason.as_str(), record.origin.as_str()), ("ia-test", reason, "ia"));

    // A non-operator sees only its own party's messages and may not ask for another's.
    let mut other = gateway.operator("cbp", Role::Analyst).await;
    let own = list_review_due(&mut other, review_request(within_six_years)).await.unwrap();
    assert_eq!(ids(&own), [long.message_id.as_str()]);
    let request = pb::ListReviewDueRequest { party: "ia".into(), ..review_request(within_six_years) };
    assert_eq!(list_review_due(&mut other, request).await.unwrap_err().code(), Code::PermissionDenied);

    // From the command line: revalidate again, let it fall overdue, and purge what is overdue.
    let cli = |token: String, args: &[&str]| {
        let mut command = tokio::process::Command::new(LIAISON);
        command.args(args).args(["--gateway", &gateway.url()]).env("LIAISON_TOKEN", token);
        command.output()
    };
    let output =
        cli(gateway.token("ia", Role::Analyst), &["retention", "revalidate", &short.message_id, "--reason", "again"])
            .await
            .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(printed.starts_with(&format!("revalidated {}: next review due ", short.message_id)), "{printed}");
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let output = cli(
        gateway.token("ia", Role::Operator),
        &["retention", "review", "--within", "0s", "--purge-overdue", "review found it no longer justified"],
    )
    .await
    .unwrap();
    let report = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{report}");
    assert!(report.contains(&format!("purged {}: 1 copies removed, notice ", short.message_id)), "{report}");
    assert!(report.trim_end().ends_with("sent to cbp"), "{report}");
    let overdue = list_review_due(&mut operator, review_request(Duration::ZERO)).await.unwrap();
    assert!(overdue.messages.is_empty(), "purged: {overdue:?}");
    let records = audit_records(&mut operator, &short.message_id, pb::AuditEvent::Revalidated).await;
    assert_eq!(records.len(), 2, "both revalidations are audited");
}

#[tokio::test]
async fn a_purge_erases_every_copy_and_every_recipient_gets_the_notice() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let mut ia = gateway.client("ia", Role::AgencySystem).await;
    let purged = publish(&mut ia, plain(&["cbp", "fema"], b"to be purged")).await;
    let kept = publish(&mut ia, plain(&["cbp"], b"kept")).await;
    let cbp_copy = delivered_sequence(&purged, "cbp");
    let fema_copy = delivered_sequence(&purged, "fema");

    // cbp receives it, nacks it on its only attempt: a dead letter is one more stored copy.
    let mut cbp = gateway.client("cbp", Role::Analyst).await;
    let open = pb::OpenSubscription { start: from_beginning(), max_delivery_attempts: 1, ..Default::default() };
    let mut feed = subscribe(&mut cbp, open).await.unwrap();
    let first = feed.take(2, WAIT).await;
    let (bad, good): (Vec<_>, Vec<_>) =
        first.into_iter().partition(|delivery| delivery.envelope.as_ref().unwrap().id == purged.message_id);
    feed.ack(&good).await;
    let nack = pb::subscribe_request::Request::Nack(pb::NegativeAcknowledge {
        ack_ids: vec![bad[0].ack_id.clone()],
        redelivery_delay: None,
    });
    feed.requests.send(pb::SubscribeRequest { request: Some(nack) }).await.unwrap();
    let mut operator = gateway.operator("ia", Role::Operator).await;
    let dead_letters = || pb::ListDeadLettersRequest { party: "cbp".into(), ..Default::default() };
    let deadline = tokio::time::Instant::now() + WAIT;
    while operator.list_dead_letters(dead_letters()).await.unwrap().into_inner().dead_letters.is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the nacked message was not dead-lettered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let purge = |message_id: &str, reason: &str| pb::PurgeMessageRequest {
        message_id: message_id.into(),
        reason: reason.into(),
    };
    let refused = gateway.operator("ia", Role::Analyst).await.purge_message(purge(&purged.message_id, "x")).await;
    assert_eq!(refused.unwrap_err().code(), Code::PermissionDenied, "analysts do not purge");
    let refused = operator.purge_message(purge(&purged.message_id, "")).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);

    let reason = "information found to be inaccurate";
    let response = operator.purge_message(purge(&purged.message_id, reason)).await.unwrap().into_inner();
    assert_eq!(response.copies_removed, 3, "two feed copies and one dead letter: {response:?}");
    assert_eq!(response.notified, ["cbp", "fema"]);

    // Every stored copy is gone: feed copies by sequence, the dead letter, and the record.
    let jetstream = async_nats::jetstream::new(nats.client().await);
    let feed_stream = jetstream.get_stream(liaison::bus::FEED_STREAM).await.unwrap();
    for sequence in [cbp_copy, fema_copy] {
        assert!(feed_stream.get_raw_message(sequence).await.is_err(), "feed copy {sequence} still stored");
    }
    assert!(feed_stream.get_raw_message(delivered_sequence(&kept, "cbp")).await.is_ok(), "other messages stay");
    let dead = operator.list_dead_letters(dead_letters()).await.unwrap().into_inner().dead_letters;
    assert!(dead.iter().all(|letter| letter.message_id != purged.message_id), "dead letter left: {dead:?}");
    let again = operator.purge_message(purge(&purged.message_id, reason)).await.unwrap_err();
    assert_eq!(again.code(), Code::NotFound, "the record is gone after a purge");
    let within_six_years = Duration::from_secs(6 * 366 * 24 * 3600);
    let listed = list_review_due(&mut operator, review_request(within_six_years)).await.unwrap();
    assert_eq!(ids(&listed), [kept.message_id.as_str()], "{listed:?}");

    // The open subscriber gets the notice; fema, reading from the beginning, only the notice.
    let is_notice = |delivery: &pb::Delivery| {
        let envelope = delivery.envelope.as_ref().unwrap();
        envelope.kind == pb::Kind::Notice as i32
            && envelope.id == response.notice_id
            && envelope.in_reply_to == purged.message_id
            && envelope.attributes.get("liaison.notice").map(String::as_str) == Some("purge")
            && envelope.attributes.get("liaison.reason").map(String::as_str) == Some(reason)
            && envelope.origin == "ia"
    };
    let notice = feed.take(1, WAIT).await;
    assert!(is_notice(&notice[0]), "{notice:?}");
    let mut fema = gateway.client("fema", Role::Analyst).await;
    // A subscriber that reads reports only still gets notices.
    let reports_only = Some(pb::FeedFilter { kinds: vec![pb::Kind::Report as i32], ..Default::default() });
    let open = pb::OpenSubscription { start: from_beginning(), filter: reports_only, ..Default::default() };
    let mut fema_feed = subscribe(&mut fema, open).await.unwrap();
    let fema_got = fema_feed.take(1, WAIT).await;
    assert!(is_notice(&fema_got[0]), "fema sees the notice, not the purged message: {fema_got:?}");
    assert!(fema_feed.next_batch(Duration::from_millis(500)).await.is_empty());

    // Audited: one purge record per recipient with the reason and who purged, and the notices as approved.
    let records = audit_records(&mut operator, &purged.message_id, pb::AuditEvent::Purged).await;
    let recipients: Vec<&str> = records.iter().map(|record| record.recipient.as_str()).collect();
    assert_eq!(recipients, ["cbp", "fema"]);
    assert!(records.iter().all(|record| record.reason == reason && record.subscriber == "ia-test"), "{records:?}");
    let notices = audit_records(&mut operator, &response.notice_id, pb::AuditEvent::Approved).await;
    assert_eq!(notices.len(), 2, "{notices:?}");
    assert!(notices.iter().all(|record| record.decided_by == "notice"), "{notices:?}");
}

#[tokio::test]
async fn a_correction_reaches_every_earlier_recipient_that_may_still_receive_it() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let mut ia = gateway.client("ia", Role::AgencySystem).await;
    let original = publish(&mut ia, plain(&["cbp", "fema"], b"first version")).await;

    // The correction names only cbp; fema received the original, so it gets the correction too.
    let mut correction = plain(&["cbp"], b"second version");
    correction.supersedes = original.message_id.clone();
    let corrected = publish(&mut ia, correction.clone()).await;
    delivered_sequence(&corrected, "cbp");
    delivered_sequence(&corrected, "fema");

    let mut fema = gateway.client("fema", Role::Analyst).await;
    let mut feed =
        subscribe(&mut fema, pb::OpenSubscription { start: from_beginning(), ..Default::default() }).await.unwrap();
    let got = feed.take(2, WAIT).await;
    let last = got[1].envelope.as_ref().unwrap();
    assert_eq!(
        (last.id.as_str(), last.supersedes.as_str()),
        (corrected.message_id.as_str(), original.message_id.as_str())
    );

    // A further correction fema may no longer hold (above its SECRET accreditation) is denied to it, with
    // the reason, while cbp still gets it.
    let mut secret = plain(&["cbp"], b"third version");
    secret.supersedes = corrected.message_id.clone();
    secret.markings.as_mut().unwrap().classification = pb::Classification::TopSecret as i32;
    let third = publish(&mut ia, secret).await;
    delivered_sequence(&third, "cbp");
    let fema_outcome = third.outcomes.iter().find(|outcome| outcome.party == "fema").expect("fema considered");
    let Some(pb::recipient_outcome::Outcome::Denied(denied)) = &fema_outcome.outcome else {
        panic!("fema must be denied: {third:?}")
    };
    assert_eq!(denied.reason, pb::DenialReason::Classification as i32);

    // The superseded message is marked and audited; correcting it again, or someone else's, is refused.
    let mut operator = gateway.operator("ia", Role::Operator).await;
    let records = audit_records(&mut operator, &original.message_id, pb::AuditEvent::Superseded).await;
    let [record] = records.as_slice() else { panic!("one superseded record: {records:?}") };
    assert_eq!(record.decided_by, format!("superseded by {}", corrected.message_id));
    let listed =
        list_review_due(&mut operator, review_request(Duration::from_secs(6 * 366 * 24 * 3600))).await.unwrap();
    let first = listed.messages.iter().find(|item| item.message_id == original.message_id).unwrap();
    assert_eq!(first.superseded_by, corrected.message_id);

    let refused = ia.publish(pb::PublishRequest { envelope: Some(correction.clone()) }).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(refused.message().starts_with("envelope.supersedes:"), "{refused:?}");
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    let mut foreign = envelope(&["ia"], "border-security", b"not mine");
    foreign.supersedes = third.message_id.clone();
    let refused = cbp.publish(pb::PublishRequest { envelope: Some(foreign.clone()) }).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    foreign.supersedes = "01ARZ3NDEKTSV4RRFFQ69G5FAV".into();
    let refused = cbp.publish(pb::PublishRequest { envelope: Some(foreign.clone()) }).await.unwrap_err();
    assert_eq!(refused.code(), Code::NotFound, "{refused:?}");
    foreign.supersedes = "not-an-id".into();
    let refused = cbp.publish(pb::PublishRequest { envelope: Some(foreign) }).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");

    // Only the gateway sends notices.
    let mut notice = envelope(&["cbp"], "border-security", b"fake notice");
    notice.kind = pb::Kind::Notice as i32;
    let refused = ia.publish(pb::PublishRequest { envelope: Some(notice) }).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(refused.message().starts_with("envelope.kind:"), "{refused:?}");
}
