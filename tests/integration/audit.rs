//! Dissemination audit (28 CFR 23.20(g)): each publish and each delivery produces exactly the expected
//! records, in an append-only stream, in a hash chain per gateway that `liaison audit verify` recomputes;
//! a record altered through raw NATS is named by the verifier, and a gateway restart continues the chain.

use crate::common;

use std::time::Duration;

use common::*;
use liaison::api as pb;
use liaison::audit::{AuditEntry, Event};
use liaison::identity::Role;

const LIAISON: &str = env!("CARGO_BIN_EXE_liaison");

/// Every audit entry stored (checkpoints left out), in stream order, with its stream sequence and subject.
async fn entries(nats: &NatsServer) -> Vec<(u64, String, AuditEntry)> {
    let jetstream = async_nats::jetstream::new(nats.client().await);
    let mut stream = jetstream.get_stream(liaison::bus::AUDIT_STREAM).await.expect("audit stream");
    let last = stream.info().await.unwrap().state.last_sequence;
    let mut entries = Vec::new();
    for sequence in 1..=last {
        if let Ok(message) = stream.get_raw_message(sequence).await
            && !message.subject.ends_with(".checkpoint")
        {
            let entry = serde_json::from_slice(&message.payload).expect("an audit entry");
            entries.push((sequence, message.subject.to_string(), entry));
        }
    }
    entries
}

/// Waits until `count` entries are stored.
async fn wait_entries(nats: &NatsServer, count: usize) -> Vec<(u64, String, AuditEntry)> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let entries = entries(nats).await;
        if entries.len() >= count {
            return entries;
        }
        assert!(tokio::time::Instant::now() < deadline, "only {} audit entries: {entries:?}", entries.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs `liaison audit verify`: (success, stdout + stderr).
pub(crate) async fn verify(nats: &NatsServer) -> (bool, String) {
    let output = tokio::process::Command::new(LIAISON)
        .args(["audit", "verify", "--nats-url", &nats.url()])
        .arg("--nats-nkey")
        .arg(&test_identities().runtime_seed)
        .output()
        .await
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

#[tokio::test]
async fn each_publish_and_delivery_is_recorded_and_a_forged_entry_is_named() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    let receipt = publish(&mut cbp, envelope(&["ia", "nobody"], "border-security", b"audited")).await;

    // Written before the receipt came back: it is there now, without waiting.
    let stored = entries(&nats).await;
    assert_eq!(stored.len(), 1, "one entry per publish: {stored:?}");
    let (_, subject, entry) = &stored[0];
    assert_eq!(subject, &format!("liaison.audit.{}", entry.chain));
    assert_eq!((entry.seq, entry.prev_hash.as_str()), (1, liaison::audit::GENESIS));
    let [approved, denied] = entry.records.as_slice() else { panic!("two decisions: {entry:?}") };
    assert_eq!((approved.event, &*approved.recipient), (Event::Approved, "ia"));
    assert_eq!(approved.message_id, receipt.message_id);
    assert_eq!(approved.origin, "cbp");
    assert_eq!(approved.policy_version, receipt.policy_version);
    let outcome = receipt.outcomes.iter().find(|outcome| outcome.party == "ia").unwrap();
    let Some(pb::recipient_outcome::Outcome::Delivered(delivered)) = &outcome.outcome else { panic!() };
    assert_eq!((&*approved.decided_by, &*approved.basis), (delivered.rule.as_str(), delivered.basis.as_str()));
    assert!(!approved.basis.is_empty(), "the need-to-know basis is recorded");
    // A party not in the directory is denied in the record all of a publish's unknown recipients share.
    assert_eq!((denied.event, &*denied.recipient), (Event::Denied, ""));
    assert_eq!(*denied.unknown_recipients, ["nobody"]);
    assert!(denied.decided_by.starts_with("UNKNOWN_PARTY"), "{denied:?}");

    // A delivery to an analyst is recorded with who received it.
    let mut analyst = gateway.client("ia", Role::Analyst).await;
    let open = pb::OpenSubscription { start: from_beginning(), ..Default::default() };
    let mut feed = subscribe(&mut analyst, open).await.unwrap();
    feed.take(1, Duration::from_secs(10)).await;
    let stored = wait_entries(&nats, 2).await;
    let (_, _, delivery) = &stored[1];
    assert_eq!((delivery.seq, delivery.prev_hash.as_str()), (2, stored[0].2.hash.as_str()));
    let [delivered] = delivery.records.as_slice() else { panic!("one delivery: {delivery:?}") };
    assert_eq!((delivered.event, &*delivered.message_id), (Event::Delivered, receipt.message_id.as_str()));
    assert_eq!((&*delivered.recipient, &*delivered.subscriber), ("ia", "ia-test"));

    let (ok, report) = verify(&nats).await;
    assert!(ok, "{report}");
    assert!(report.contains(&format!("chain {}: 2 entries, intact", entry.chain)), "{report}");

    // The stream is append-only: a stored entry cannot be deleted through the API...
    let jetstream = async_nats::jetstream::new(nats.client().await);
    let stream = jetstream.get_stream(liaison::bus::AUDIT_STREAM).await.unwrap();
    assert!(stream.delete_message(stored[0].0).await.is_err(), "deleting an audit entry is refused");
    // ...so a forger can only add one: entry 1 with another recipient, re-hashed, after the real entries.
    let mut forged = entry.clone();
    forged.records[0].recipient = "fbi".into();
    forged.hash = liaison::audit::entry_hash(&forged);
    let ack = jetstream.publish(subject.clone(), serde_json::to_vec(&forged).unwrap().into()).await.unwrap();
    let forged_sequence = ack.await.unwrap().sequence;

    let (ok, report) = verify(&nats).await;
    assert!(!ok, "a forged entry must fail verification: {report}");
    assert!(
        report.contains(&format!(
            "chain {}: BROKEN: chain {}: entry 1 (stream sequence {forged_sequence})",
            entry.chain, entry.chain
        )),
        "the forged entry is named: {report}"
    );
}

#[tokio::test]
async fn a_restarted_gateway_continues_its_chain_without_a_gap() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    publish(&mut cbp, envelope(&["ia"], "border-security", b"before")).await;
    publish(&mut cbp, envelope(&["ia"], "border-security", b"before")).await;
    let data_dir = gateway.stop().await;

    let gateway = TestGateway::start_in(data_dir, Some(nats.url()), |_| {}).await;
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    publish(&mut cbp, envelope(&["ia"], "border-security", b"after")).await;

    let stored = entries(&nats).await;
    let chains: std::collections::BTreeSet<&str> = stored.iter().map(|(_, _, entry)| entry.chain.as_str()).collect();
    assert_eq!(chains.len(), 1, "the same chain after the restart: {chains:?}");
    let seqs: Vec<u64> = stored.iter().map(|(_, _, entry)| entry.seq).collect();
    assert_eq!(seqs, [1, 2, 3]);
    assert_eq!(stored[2].2.prev_hash, stored[1].2.hash, "the first entry after the restart links to the last before");
    let (ok, report) = verify(&nats).await;
    assert!(ok && report.contains("3 entries, intact"), "{report}");
    // The audit is kept S2-compressed (about a quarter of its raw size), and a restart keeps it so.
    let jetstream = async_nats::jetstream::new(nats.client().await);
    let mut audit_stream = jetstream.get_stream(liaison::bus::AUDIT_STREAM).await.unwrap();
    let config = audit_stream.info().await.unwrap().config.clone();
    assert_eq!(config.compression, Some(async_nats::jetstream::stream::Compression::S2));
    assert!(config.deny_delete && config.deny_purge, "append-only");

    // Another gateway writes a chain of its own: gateways never serialise on one chain.
    let other = TestGateway::start(&nats).await;
    let mut tsa = other.client("tsa", Role::AgencySystem).await;
    publish(&mut tsa, envelope(&["ia"], "aviation-security", b"other gateway")).await;
    let stored = entries(&nats).await;
    let chains: std::collections::BTreeSet<String> = stored.iter().map(|(_, _, entry)| entry.chain.clone()).collect();
    assert_eq!(chains.len(), 2, "{chains:?}");
    let (ok, report) = verify(&nats).await;
    assert!(ok, "{report}");
    assert_eq!(report.matches("intact").count(), 2, "{report}");
}

#[tokio::test]
async fn a_chain_whose_last_entries_landed_out_of_order_continues_from_its_highest() {
    let nats = NatsServer::start().await;
    // A chain of four entries where entry 3 was retried and stored after entry 4, as up to 32 entries are
    // stored at once; then a gateway with this chain in its data directory starts.
    let chain = "gw-out-of-order";
    let mut head = liaison::audit::ChainHead::new(chain);
    let sealed: Vec<AuditEntry> = (1..=4).map(|_| head.seal("2026-11-23T00:00:00Z".into(), Vec::new())).collect();
    let jetstream = async_nats::jetstream::new(nats.client().await);
    let gateway = TestGateway::start(&nats).await; // creates the audit stream
    drop(gateway);
    for index in [0, 1, 3, 2] {
        let payload = serde_json::to_vec(&sealed[index]).unwrap();
        jetstream.publish(format!("liaison.audit.{chain}"), payload.into()).await.unwrap().await.unwrap();
    }
    let data_dir = tempfile::tempdir().unwrap();
    std::fs::write(data_dir.path().join("audit-chain"), format!("{chain}\n")).unwrap();
    let gateway = TestGateway::start_in(data_dir, Some(nats.url()), |_| {}).await;
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    publish(&mut cbp, envelope(&["ia"], "border-security", b"after")).await;

    let stored = entries(&nats).await;
    let (_, _, newest) = stored.iter().rfind(|(_, _, entry)| entry.chain == chain).unwrap();
    assert_eq!((newest.seq, newest.prev_hash.as_str()), (5, sealed[3].hash.as_str()), "continues after entry 4");
    let (ok, report) = verify(&nats).await;
    assert!(ok && report.contains(&format!("chain {chain}: 5 entries, intact")), "{report}");
}

#[tokio::test]
async fn the_chain_head_is_signed_and_checked_against_the_gateways_key() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start_with(Some(nats.url()), |config| {
        config.audit_checkpoint_interval = Duration::from_millis(200)
    })
    .await;
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    publish(&mut cbp, envelope(&["ia"], "border-security", b"signed")).await;
    let chain = std::fs::read_to_string(gateway.data_dir.path().join("audit-chain")).unwrap().trim().to_string();

    // Wait for a checkpoint of entry 1.
    let jetstream = async_nats::jetstream::new(nats.client().await);
    let stream = jetstream.get_stream(liaison::bus::AUDIT_STREAM).await.unwrap();
    let subject = format!("liaison.audit.{chain}.checkpoint");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let checkpoint: liaison::audit::Checkpoint = loop {
        if let Ok(message) = stream.get_last_raw_message_by_subject(&subject).await {
            break serde_json::from_slice(&message.payload).unwrap();
        }
        assert!(tokio::time::Instant::now() < deadline, "no checkpoint written");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!((checkpoint.chain.as_str(), checkpoint.seq), (chain.as_str(), 1));

    let data_dir = gateway.data_dir.path().to_str().unwrap().to_string();
    let with_keys = |extra: &[&str]| {
        std::process::Command::new(LIAISON)
            .args(["audit", "verify", "--nats-url", &nats.url()])
            .arg("--nats-nkey")
            .arg(&test_identities().runtime_seed)
            .args(extra)
            .output()
            .unwrap()
    };
    let output = with_keys(&["--data-dir", &data_dir]);
    let report = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(output.status.success(), "{report}");
    assert!(report.contains("1 signed checkpoints verified"), "{report}");
    let output = with_keys(&[]);
    let report = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(report.contains("1 signed by keys not given"), "{report}");

    // A checkpoint with a forged signature under the gateway's key id is named.
    let mut forged = checkpoint.clone();
    forged.signature = "00".repeat(64);
    jetstream.publish(subject, serde_json::to_vec(&forged).unwrap().into()).await.unwrap().await.unwrap();
    let output = with_keys(&["--data-dir", &data_dir]);
    let report = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(!output.status.success(), "{report}");
    assert!(report.contains("bad signature"), "{report}");
}

#[tokio::test]
async fn audit_queries_filter_and_originators_see_their_own_disseminations() {
    use liaison::api::operator_service_client::OperatorServiceClient;
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    let mut tsa = gateway.client("tsa", Role::AgencySystem).await;
    let from_cbp = publish(&mut cbp, envelope(&["ia", "nobody"], "border-security", b"one")).await;
    let from_tsa = publish(&mut tsa, envelope(&["ia"], "aviation-security", b"two")).await;
    let mut analyst = gateway.client("ia", Role::Analyst).await;
    let open = pb::OpenSubscription { start: from_beginning(), ..Default::default() };
    subscribe(&mut analyst, open).await.unwrap().take(2, Duration::from_secs(10)).await;
    wait_entries(&nats, 3).await;

    let query = |party: &str, role: Role, request: pb::QueryAuditRequest| {
        let token = gateway.token(party, role);
        let url = gateway.url();
        async move {
            let channel = tonic::transport::Channel::from_shared(url).unwrap().connect().await.unwrap();
            let header: tonic::metadata::MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
            let mut client = OperatorServiceClient::with_interceptor(channel, move |mut r: tonic::Request<()>| {
                r.metadata_mut().insert("authorization", header.clone());
                Ok(r)
            });
            let mut stream = client.query_audit(request).await.unwrap().into_inner();
            let mut records = Vec::new();
            while let Some(record) = stream.message().await.unwrap() {
                records.push((record.event, record.message_id, record.origin, record.recipient));
            }
            records
        }
    };
    let (approved, denied, delivered) =
        (pb::AuditEvent::Approved as i32, pb::AuditEvent::Denied as i32, pb::AuditEvent::Delivered as i32);
    let all = query("ia", Role::Operator, pb::QueryAuditRequest::default()).await;
    assert_eq!(all.len(), 5, "approved + denied for cbp's, approved for tsa's, two deliveries: {all:?}");

    let by_message = pb::QueryAuditRequest { message_id: from_cbp.message_id.clone(), ..Default::default() };
    let records = query("ia", Role::Operator, by_message).await;
    assert_eq!(records.len(), 3, "{records:?}");
    assert!(records.iter().all(|record| record.1 == from_cbp.message_id));

    let by_party = pb::QueryAuditRequest { party: "tsa".into(), ..Default::default() };
    let records = query("ia", Role::Operator, by_party).await;
    let events: Vec<i32> = records.iter().map(|record| record.0).collect();
    assert_eq!(events, [approved, delivered], "{records:?}");

    let by_event = pb::QueryAuditRequest { event: denied, ..Default::default() };
    let records = query("ia", Role::Operator, by_event).await;
    assert_eq!(records, [(denied, from_cbp.message_id.clone(), "cbp".to_string(), String::new())]);

    let later = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    let future = pb::QueryAuditRequest {
        since: Some(prost_types::Timestamp { seconds: later.unix_timestamp(), nanos: 0 }),
        ..Default::default()
    };
    assert!(query("ia", Role::Operator, future).await.is_empty());
    let stamp = |time: time::OffsetDateTime| Some(prost_types::Timestamp { seconds: time.unix_timestamp(), nanos: 0 });
    let hour_ago = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    let window = |since, until| pb::QueryAuditRequest { since, until, ..Default::default() };
    assert!(query("ia", Role::Operator, window(None, stamp(hour_ago))).await.is_empty(), "all written since");
    assert_eq!(query("ia", Role::Operator, window(stamp(hour_ago), stamp(later))).await, all);
    let by_message_since =
        pb::QueryAuditRequest { message_id: from_cbp.message_id.clone(), since: stamp(hour_ago), ..Default::default() };
    assert_eq!(query("ia", Role::Operator, by_message_since).await.len(), 3);

    // The originator learns every dissemination of its own messages, and nothing about tsa's.
    let own = query("cbp", Role::AgencySystem, pb::QueryAuditRequest::default()).await;
    assert_eq!(own.len(), 3, "{own:?}");
    assert!(own.iter().all(|record| record.2 == "cbp"), "{own:?}");
    assert!(own.iter().any(|record| record.0 == delivered && record.3 == "ia"), "the delivery is disclosed");
    assert!(!own.iter().any(|record| record.1 == from_tsa.message_id));

    // The CLI exports CSV (from another process: the gateway runs on this test's runtime).
    let token = gateway.token("ia", Role::Operator);
    let csv = liaison_cli(&gateway, &token, &["audit", "query", "--format", "csv", "--event", "denied"]).await;
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(lines[0].starts_with("at,event,message_id,origin,recipient"), "{csv}");
    assert!(lines[1].contains(&format!(",DENIED,{},cbp,,", from_cbp.message_id)), "{csv}");
    assert!(lines[0].ends_with(",unknown_recipients") && lines[1].ends_with(",nobody"), "{csv}");
}
