//! Bounded audit work (issue 15, point 4): a QueryAudit call stops reading the moment its client goes away
//! and examines at most `--audit-query-scan-budget` records, then says where to go on; ListReviewDue is for
//! people, streams as it reads and stops when its client goes away; a publish's unknown recipients are one
//! audit record and too many are refused; they get no traffic flow; and a full audit stream fails closed.

use crate::common;

use std::time::Duration;

use common::*;
use liaison::api as pb;
use liaison::audit::{AuditEntry, AuditRecord, MessageRef};
use liaison::identity::Role;
use tonic::Code;

/// Longest wait for what the gateway reads every few seconds (the audit stream's size).
const WAIT: Duration = Duration::from_secs(15);

/// Polls `metric` until `done` holds of it, for at most `wait`; returns the last value.
async fn metric_until(gateway: &TestGateway, name: &str, wait: Duration, done: impl Fn(f64) -> bool) -> f64 {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let value = metric(gateway, name).await;
        if done(value) || tokio::time::Instant::now() >= deadline {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Stores `entries` made-up audit entries of `records` denials each on a chain of their own, straight into
/// the audit stream (as the test's all-powerful NATS user): an audit long enough to take a while to read.
async fn fill_audit(nats: &NatsServer, entries: u64, records: usize) {
    let jetstream = async_nats::jetstream::new(nats.client().await);
    let message = MessageRef { message_id: "01J00000000000000000000000", origin: "cbp", policy_version: "v" };
    let record = AuditRecord::denied(&message, "fbi", "NO_ROUTE");
    let at = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap();
    let subject = liaison::bus::audit_subject("gw-filler");
    let mut acks = Vec::new();
    for seq in 1..=entries {
        let entry = AuditEntry {
            chain: "gw-filler".into(),
            seq,
            prev_hash: String::new(),
            at: at.clone(),
            records: vec![record.clone(); records],
            hash: String::new(),
        };
        acks.push(jetstream.publish(subject.clone(), serde_json::to_vec(&entry).unwrap().into()).await.unwrap());
        if acks.len() == 1000 {
            for ack in acks.drain(..) {
                ack.await.unwrap();
            }
        }
    }
    for ack in acks {
        ack.await.unwrap();
    }
}

/// A client call that reads the audit: QueryAudit for a record that is not there, or ListReviewDue when
/// nothing is due. Either way the gateway reads the whole audit to find that out.
#[derive(Debug, Clone, Copy)]
enum AuditRead {
    Query,
    Review,
}

impl AuditRead {
    fn query() -> pb::QueryAuditRequest {
        pb::QueryAuditRequest { event: pb::AuditEvent::AuditLoss as i32, ..Default::default() }
    }

    fn review() -> pb::ListReviewDueRequest {
        pb::ListReviewDueRequest { within: Some(proto_duration(Duration::from_secs(3600))), ..Default::default() }
    }

    /// Opens the call; the returned stream, dropped, is the client going away.
    async fn open(self, operator: &mut Operator) -> Box<dyn std::any::Any + Send> {
        match self {
            AuditRead::Query => Box::new(operator.query_audit(Self::query()).await.unwrap().into_inner()),
            AuditRead::Review => Box::new(operator.list_review_due(Self::review()).await.unwrap().into_inner()),
        }
    }

    /// Reads the call to its end, which finds nothing.
    async fn read_to_end(self, operator: &mut Operator) {
        match self {
            AuditRead::Query => {
                let mut answer = operator.query_audit(Self::query()).await.unwrap().into_inner();
                assert!(answer.message().await.unwrap().is_none(), "no record matches");
            }
            AuditRead::Review => {
                let listed = list_review_due(operator, Self::review()).await.unwrap();
                assert!(listed.messages.is_empty(), "nothing is due");
            }
        }
    }
}

/// Against an audit of 100,000 records: kept to its end, the call examines every record; abandoned as soon
/// as the gateway is reading, it stops at once instead of finishing.
async fn an_abandoned_read_stops(call: AuditRead) {
    const ENTRIES: u64 = 20_000;
    const RECORDS: usize = 5;
    const SCANNED: &str = "liaison_audit_query_scanned_records_total";
    let total = (ENTRIES as usize * RECORDS) as f64;
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    fill_audit(&nats, ENTRIES, RECORDS).await;
    let mut operator = gateway.operator("ia", Role::Operator).await;

    let started = tokio::time::Instant::now();
    call.read_to_end(&mut operator).await;
    let whole_read = started.elapsed();
    let scanned = metric(&gateway, SCANNED).await;
    assert!(scanned >= total, "a whole read examined {scanned} of {total} records");
    assert_eq!(metric(&gateway, "liaison_audit_queries").await, 0.0);

    let answer = call.open(&mut operator).await;
    let reading = metric_until(&gateway, SCANNED, whole_read, |now| now > scanned).await;
    assert!(reading > scanned, "the second read did not start");
    drop(answer);
    let running = metric_until(&gateway, "liaison_audit_queries", whole_read, |running| running == 0.0).await;
    assert_eq!(running, 0.0, "the read went on after its client left");
    let second = metric(&gateway, SCANNED).await - scanned;
    assert!(
        second < total / 2.0,
        "the abandoned read examined {second} of {total} records (a whole read: {whole_read:?})"
    );
    // Nothing reads on behind the gauge's back.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(metric(&gateway, SCANNED).await - scanned, second);
}

#[tokio::test]
async fn a_query_stops_reading_as_soon_as_its_client_goes_away() {
    an_abandoned_read_stops(AuditRead::Query).await;
}

#[tokio::test]
async fn a_review_listing_stops_reading_as_soon_as_its_client_goes_away() {
    an_abandoned_read_stops(AuditRead::Review).await;
}

/// Reads one QueryAudit answer to its end: the records, and the status it ended with if not OK.
async fn query_all(
    operator: &mut Operator,
    request: pb::QueryAuditRequest,
) -> (Vec<pb::QueryAuditResponse>, Option<tonic::Status>) {
    let mut answer = operator.query_audit(request).await.unwrap().into_inner();
    let mut records = Vec::new();
    loop {
        match answer.message().await {
            Ok(Some(record)) => records.push(record),
            Ok(None) => return (records, None),
            Err(status) => return (records, Some(status)),
        }
    }
}

#[tokio::test]
async fn a_query_past_its_scan_budget_names_the_flag_and_goes_on_exactly_where_it_stopped() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start_with(Some(nats.url()), |config| config.limits.audit_query_scan_budget = 10).await;
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    let mut published = Vec::new();
    for index in 0..30 {
        let receipt = publish(&mut cbp, envelope(&["ia"], "border-security", format!("{index}").as_bytes())).await;
        published.push(receipt.message_id);
    }
    let mut operator = gateway.operator("ia", Role::Operator).await;
    let approved = pb::AuditEvent::Approved as i32;
    let mut request = pb::QueryAuditRequest { party: "cbp".into(), event: approved, ..Default::default() };
    let mut seen = Vec::new();
    let mut calls = 0;
    loop {
        calls += 1;
        assert!(calls <= 10, "30 records in calls of 10 took more than 10 calls");
        let (records, status) = query_all(&mut operator, request.clone()).await;
        assert!(records.len() <= 10, "one call examined more than its budget: {}", records.len());
        seen.extend(records.into_iter().map(|record| record.message_id));
        let Some(status) = status else { break };
        assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
        let message = status.message();
        assert!(message.contains("--audit-query-scan-budget") && message.contains("10 audit records"), "{message}");
        let after = message.rsplit("after_sequence = ").next().and_then(|rest| rest.split_whitespace().next());
        request.after_sequence = after.and_then(|after| after.parse().ok()).unwrap_or_else(|| panic!("{message}"));
    }
    assert!(calls >= 3, "a budget of 10 records read 30 in {calls} calls");
    assert_eq!(seen, published, "every record once, in order, across the calls");

    // The CLI prints what came and exits non-zero naming where to go on.
    let token = gateway.token("ia", Role::Operator);
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_liaison"))
        .args(["audit", "query", "--gateway", &gateway.url(), "--token", &token, "--party", "cbp"])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stdout).lines().count(), 10);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--audit-query-scan-budget") && stderr.contains("after_sequence = "), "{stderr}");
}

/// The shipped directory with `ia`'s retention period set to `retention`.
fn directory_with_ia_retention(dir: &std::path::Path, retention: &str) -> liaison::policy_store::PolicyFiles {
    let shipped = liaison::router::DEFAULT_DIRECTORY;
    let text = shipped.replacen("id = \"ia\"\n", &format!("id = \"ia\"\nretention = \"{retention}\"\n"), 1);
    assert_ne!(text, shipped, "the ia party is in the shipped directory");
    let path = dir.join("directory.toml");
    std::fs::write(&path, text).unwrap();
    liaison::policy_store::PolicyFiles { directory: Some(path), policy: None }
}

#[tokio::test]
async fn a_review_list_is_for_people_and_streams_in_publication_order_up_to_its_limit() {
    let nats = NatsServer::start().await;
    let files = tempfile::tempdir().unwrap();
    let policy = directory_with_ia_retention(files.path(), "1s");
    let gateway = TestGateway::start_with(Some(nats.url()), |config| config.policy_files = policy).await;
    let mut ia = gateway.client("ia", Role::AgencySystem).await;
    let mut published = Vec::new();
    for index in 0..5 {
        let receipt = publish(&mut ia, envelope(&["cbp"], "border-security", format!("{index}").as_bytes())).await;
        published.push(receipt.message_id);
    }
    let within = Some(proto_duration(Duration::from_secs(3600)));

    // A party's systems publish and read feeds; reviewing is for people.
    let mut system = gateway.operator("ia", Role::AgencySystem).await;
    let refused = system.list_review_due(pb::ListReviewDueRequest { within, ..Default::default() }).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert!(
        refused.message().contains("(ListReviewDue)") && refused.message().contains("agency-system"),
        "{refused:?}"
    );

    // One answer per audit entry read, as the gateway goes: five publishes, five answers, oldest first.
    let mut analyst = gateway.operator("ia", Role::Analyst).await;
    let request = pb::ListReviewDueRequest { within, ..Default::default() };
    let mut answers = analyst.list_review_due(request).await.unwrap().into_inner();
    let mut listed = Vec::new();
    let mut count = 0;
    while let Some(answer) = answers.message().await.unwrap() {
        count += 1;
        assert!(!answer.truncated);
        listed.extend(answer.messages.into_iter().map(|item| item.message_id));
    }
    assert_eq!(listed, published);
    assert!(count > 1, "the answer came as one message");

    // At the limit it stops, and a last answer says more matched.
    let request = pb::ListReviewDueRequest { within, limit: 3, ..Default::default() };
    let first_three = list_review_due(&mut analyst, request).await.unwrap();
    let ids: Vec<&str> = first_three.messages.iter().map(|item| item.message_id.as_str()).collect();
    assert_eq!(ids, published[..3]);
    assert!(first_three.truncated);
    let request = pb::ListReviewDueRequest { within, limit: 5, ..Default::default() };
    let all = list_review_due(&mut analyst, request).await.unwrap();
    assert_eq!((all.messages.len(), all.truncated), (5, false));
}

/// How many messages `stream` holds now.
async fn stored(nats: &NatsServer, stream: &str) -> u64 {
    let jetstream = async_nats::jetstream::new(nats.client().await);
    jetstream.get_stream(stream).await.unwrap().info().await.unwrap().state.messages
}

#[tokio::test]
async fn a_publishs_unknown_recipients_are_one_audit_record_and_too_many_are_refused_with_nothing_recorded() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    let made_up: Vec<String> = (1..=256).map(|index| format!("made-up-{index}")).collect();
    // `ia`, a party, and `unknown` made-up ones (all 256 alone: the most recipients a message may name).
    let named = |unknown: usize| {
        let mut recipients = if unknown < made_up.len() { vec!["ia"] } else { Vec::new() };
        recipients.extend(made_up[..unknown].iter().map(String::as_str));
        envelope(&recipients, "border-security", b"to whom it may concern")
    };

    // Eight (the default limit): each denied in the receipt, all in one audit record.
    let receipt = publish(&mut cbp, named(8)).await;
    let denied: Vec<&str> = receipt
        .outcomes
        .iter()
        .filter(|outcome| matches!(outcome.outcome, Some(pb::recipient_outcome::Outcome::Denied(_))))
        .map(|outcome| outcome.party.as_str())
        .collect();
    assert_eq!(denied, made_up[..8]);
    let mut operator = gateway.operator("ia", Role::Operator).await;
    let by_message = pb::QueryAuditRequest { message_id: receipt.message_id.clone(), ..Default::default() };
    let (records, status) = query_all(&mut operator, by_message).await;
    assert!(status.is_none(), "{status:?}");
    let events: Vec<i32> = records.iter().map(|record| record.event).collect();
    assert_eq!(events, [pb::AuditEvent::Approved as i32, pb::AuditEvent::Denied as i32], "{records:?}");
    let unknown = &records[1];
    assert_eq!((unknown.recipient.as_str(), unknown.decided_by.as_str()), ("", "UNKNOWN_PARTY"));
    assert_eq!(unknown.unknown_recipients, made_up[..8]);
    // A query for one of them finds it.
    let by_party = pb::QueryAuditRequest { party: "made-up-3".into(), ..Default::default() };
    let (records, _) = query_all(&mut operator, by_party).await;
    assert_eq!(records.iter().map(|record| &record.message_id).collect::<Vec<_>>(), [&receipt.message_id]);

    // Nine, or the 256: refused outright, nothing stored in the audit or the feed.
    let (audit_before, feed_before) =
        (stored(&nats, liaison::bus::AUDIT_STREAM).await, stored(&nats, liaison::bus::FEED_STREAM).await);
    for unknown in [9, 256] {
        let refused = cbp.publish(pb::PublishRequest { envelope: Some(named(unknown)) }).await.unwrap_err();
        assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
        assert!(refused.message().contains(&format!("{unknown} named recipients")), "{}", refused.message());
        assert!(refused.message().contains("at most 8 (--max-unknown-recipients)"), "{}", refused.message());
    }
    let still = publish(&mut cbp, named(0)).await;
    assert_eq!(still.outcomes.len(), 1, "the credential goes on publishing");
    assert_eq!(stored(&nats, liaison::bus::AUDIT_STREAM).await, audit_before + 1, "only the last publish recorded");
    assert_eq!(stored(&nats, liaison::bus::FEED_STREAM).await, feed_before + 1, "only the last publish stored");

    // The record of a new shape verifies with the rest of the chain.
    let (ok, report) = crate::audit::verify(&nats).await;
    assert!(ok, "{report}");
}

#[tokio::test]
async fn parties_that_are_not_in_the_directory_get_no_traffic_flow() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    // 20 publishes, each to ia and 8 names of its own: 160 made-up parties.
    for publish_index in 0..20 {
        let names: Vec<String> = (0..8).map(|index| format!("made-up-{publish_index}-{index}")).collect();
        let mut recipients = vec!["ia"];
        recipients.extend(names.iter().map(String::as_str));
        publish(&mut cbp, envelope(&recipients, "border-security", b"hello")).await;
    }

    let mut operator = gateway.operator("ia", Role::Operator).await;
    let subjects = operator.list_subjects(pb::ListSubjectsRequest::default()).await.unwrap().into_inner().subjects;
    let recipients: Vec<&str> = subjects.iter().map(|subject| subject.recipient.as_str()).collect();
    assert_eq!(recipients, ["ia"], "one flow, cbp to ia");
    let request = pb::WatchTrafficRequest { interval_ms: 100, party: String::new() };
    let mut snapshots = operator.watch_traffic(request).await.unwrap().into_inner();
    let snapshot = tokio::time::timeout(Duration::from_secs(10), snapshots.message()).await.unwrap().unwrap().unwrap();
    assert_eq!(snapshot.subjects.len(), 1, "{:?}", snapshot.subjects);
    // The denials are still counted, per origin.
    let totals = snapshot.totals.unwrap();
    assert_eq!((totals.published_messages, totals.denied), (20, 160));
    let counts = operator.list_denial_counts(pb::ListDenialCountsRequest {}).await.unwrap().into_inner();
    assert_eq!(counts.counts, [pb::DenialCount { reason: pb::DenialReason::UnknownParty as i32, count: 160 }]);
    assert_eq!(metric(&gateway, "liaison_traffic_flows").await, 1.0);
    assert_eq!(metric(&gateway, "liaison_unknown_recipients_total{origin=\"cbp\"}").await, 160.0);
    let (_, body) = scrape(&gateway).await;
    assert!(!body.contains("made-up"), "a made-up name became a label");
}

/// Provisions the streams on `nats` as the provisioning identity with an audit byte limit of `max_bytes`.
async fn provision_audit_limit(nats: &NatsServer, max_bytes: u64) -> Result<(), liaison::bus::BusError> {
    let args = liaison::config::ServeArgs {
        nats: liaison::config::NatsFlags { nats_url: Some(nats.url()), ..Default::default() },
        audit_max_bytes: Some(max_bytes),
        insecure: true,
        ..Default::default()
    };
    let mut config = liaison::config::ServeConfig::load(&args).unwrap();
    config.nats_auth = runtime_auth();
    config.nats_provision_auth = Some(provisioning_auth());
    liaison::bus::Bus::provision(&config.bus_config(&nats.url())).await.map(drop)
}

#[tokio::test]
async fn a_full_audit_fails_closed_keeps_every_entry_and_says_why_until_it_has_room() {
    const LIMIT: u64 = 32 * 1024;
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start_with(Some(nats.url()), |config| config.stream.audit_max_bytes = LIMIT).await;
    let jetstream = async_nats::jetstream::new(nats.client().await);
    let audit_config =
        jetstream.get_stream(liaison::bus::AUDIT_STREAM).await.unwrap().info().await.unwrap().config.clone();
    assert_eq!(audit_config.max_bytes, LIMIT as i64);
    assert_eq!(audit_config.discard, async_nats::jetstream::stream::DiscardPolicy::New, "refuse new, never drop old");
    assert_eq!(metric_until(&gateway, "liaison_audit_max_bytes", WAIT, |max| max > 0.0).await, LIMIT as f64);
    let (status, body) = http_get(&gateway, "/readyz").await;
    assert_eq!(status, 200, "{body}");

    // Publish until the audit is full.
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    let mut published = 0;
    let refused = loop {
        let request = pb::PublishRequest { envelope: Some(envelope(&["ia"], "border-security", b"filling")) };
        match cbp.publish(request).await {
            Ok(_) => published += 1,
            Err(status) => break status,
        }
        assert!(published < 1_000, "{LIMIT} bytes of audit took more than 1,000 publishes");
    };
    assert!(published > 10, "full after {published} publishes");
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    let message = refused.message();
    assert!(message.contains("LIAISON_AUDIT is full") && message.contains("--audit-max-bytes"), "{message}");
    assert!(message.contains("no copy was sent"), "{message}");

    // Fails closed: no copy without its record, and nothing old was dropped to make room.
    let entries = stored(&nats, liaison::bus::AUDIT_STREAM).await;
    let copies = stored(&nats, liaison::bus::FEED_STREAM).await;
    assert_eq!(copies, published as u64, "only the recorded publishes have copies");
    for _ in 0..3 {
        let request = pb::PublishRequest { envelope: Some(envelope(&["ia"], "border-security", b"refused")) };
        assert_eq!(cbp.publish(request).await.unwrap_err().code(), Code::Unavailable);
    }
    assert_eq!(stored(&nats, liaison::bus::FEED_STREAM).await, copies);
    let state = jetstream.get_stream(liaison::bus::AUDIT_STREAM).await.unwrap().info().await.unwrap().state.clone();
    assert_eq!((state.first_sequence, state.messages), (1, entries), "every entry kept");

    // /readyz says why; the metrics showed it coming.
    let (status, body) = http_get(&gateway, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("LIAISON_AUDIT is full") && body.contains(&format!("{LIMIT} bytes (--audit-max-bytes)")),
        "{body}"
    );
    let bytes = metric_until(&gateway, "liaison_audit_bytes", WAIT, |bytes| bytes > LIMIT as f64 * 0.9).await;
    assert!(bytes > LIMIT as f64 * 0.9 && bytes <= LIMIT as f64, "liaison_audit_bytes {bytes} of {LIMIT}");

    // A limit below what the stream holds is refused: the audit would be full at once.
    let error = provision_audit_limit(&nats, 1024).await.unwrap_err().to_string();
    assert!(error.contains("--audit-max-bytes 1024 is below the"), "{error}");
    // Raised, the gateway is ready again once it has read the new limit, and the chain goes on unbroken.
    provision_audit_limit(&nats, 4 * LIMIT).await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while http_get(&gateway, "/readyz").await.0 != 200 {
        assert!(tokio::time::Instant::now() < deadline, "not ready after the limit was raised");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    publish(&mut cbp, envelope(&["ia"], "border-security", b"room again")).await;
    assert_eq!(stored(&nats, liaison::bus::FEED_STREAM).await, copies + 1);
    let (ok, report) = crate::audit::verify(&nats).await;
    assert!(ok, "the refused entries left no gap in the chain: {report}");
}
