//! Scale-out on loopback: three clustered nats-servers and two stateless gateways sharing one signing key
//! and the policy in NATS KV. Publishing goes through gateway A while a durable subscriber reads through
//! gateway B (and later moves to A); the stream leader is SIGKILLed mid-run and restarted. Message ids
//! prove that no acknowledged publish is lost and that every one is delivered at least once. A policy
//! applied through A takes effect on B within one second, and rolls back.

use crate::common;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::cluster::NatsCluster;
use common::*;
use liaison::api as pb;
use liaison::config::PolicySource;
use liaison::identity::Role;
use liaison::router::DEFAULT_POLICY;
use tokio_stream::wrappers::ReceiverStream;

const MESSAGES: usize = 1500;

/// A gateway on the cluster following the shared policy; `signing_key` is another gateway's key.
async fn gateway(cluster: &NatsCluster, signing_key: Option<std::path::PathBuf>) -> TestGateway {
    TestGateway::start_with(Some(cluster.url()), |config| {
        config.policy_source = PolicySource::Kv;
        config.signing_key = signing_key;
        config.limits.publish_rate = 0;
        config.nats_tls = cluster.tls();
    })
    .await
}

/// A gateway client on `on` with a token of `issuer` (the shared key's gateway).
async fn client_on(on: &TestGateway, issuer: &TestGateway, party: &str, role: Role) -> Client {
    client_with_header(&on.url(), Some(format!("Bearer {}", issuer.token(party, role)))).await
}

async fn operator_on(on: &TestGateway, issuer: &TestGateway, role: Role) -> Operator {
    operator_with_token(&on.url(), &issuer.token("ia", role)).await
}

/// Polls `operator` until it decides under `version`; returns how long that took.
async fn time_until_version(operator: &mut Operator, version: &str, started: Instant) -> Duration {
    loop {
        if policy_version(operator).await == version {
            return started.elapsed();
        }
        assert!(started.elapsed() < Duration::from_secs(10), "gateway B never took version {version}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// One delivery seen by the subscriber: message id and attempt.
type Seen = Arc<Mutex<Vec<(String, u32)>>>;

/// Reads the durable `desk` of ia through `gateway`, acking everything, until `stop`; reopens after errors.
async fn read_desk(mut client: Client, seen: Seen, stop: tokio::sync::watch::Receiver<bool>) {
    use pb::subscribe_request::Request;
    while !*stop.borrow() {
        let (requests, outgoing) = tokio::sync::mpsc::channel(64);
        let open = pb::OpenSubscription {
            durable_name: "desk".into(),
            start: from_beginning(),
            ack_deadline: Some(proto_duration(Duration::from_secs(5))),
            ..Default::default()
        };
        requests.send(pb::SubscribeRequest { request: Some(Request::Open(open)) }).await.unwrap();
        let mut responses = match client.subscribe(ReceiverStream::new(outgoing)).await {
            Ok(responses) => responses.into_inner(),
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        loop {
            let mut stopped = stop.clone();
            let next = tokio::select! {
                next = responses.message() => next,
                _ = stopped.changed() => return,
            };
            let Ok(Some(response)) = next else { break };
            if let Some(pb::subscribe_response::Response::Deliveries(batch)) = response.response {
                let ack_ids = batch.deliveries.iter().map(|delivery| delivery.ack_id.clone()).collect();
                seen.lock().unwrap().extend(
                    batch
                        .deliveries
                        .iter()
                        .map(|delivery| (delivery.envelope.as_ref().unwrap().id.clone(), delivery.delivery_attempt)),
                );
                let _ = requests
                    .send(pb::SubscribeRequest { request: Some(Request::Ack(pb::Acknowledge { ack_ids })) })
                    .await;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Publishes message `index` with its idempotency key until a receipt comes back; returns the message id.
async fn publish_until_stored(client: &mut Client, index: usize) -> String {
    let mut envelope = envelope(&["ia"], "border-security", format!("message {index}").as_bytes());
    envelope.idempotency_key = format!("k{index}");
    let started = Instant::now();
    loop {
        match client.publish(pb::PublishRequest { envelope: Some(envelope.clone()) }).await {
            Ok(response) => return response.into_inner().receipt.unwrap().message_id,
            Err(status) => {
                assert!(started.elapsed() < Duration::from_secs(60), "publish {index} kept failing: {status:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_on_a_three_node_cluster_lose_nothing_when_a_node_dies() {
    let mut cluster = NatsCluster::start().await;
    let a = gateway(&cluster, None).await;
    let b = gateway(&cluster, Some(a.data_dir.path().join("signing-key.pem"))).await;

    // Every stream and bucket is replicated three times (the default on a cluster).
    let jetstream = async_nats::jetstream::new(cluster.client().await);
    let streams = ["LIAISON_FEED", "LIAISON_DEAD", "LIAISON_AUDIT", "KV_LIAISON_MESSAGE_STATE", "KV_LIAISON_POLICY"];
    for stream in streams.into_iter().chain(["KV_LIAISON_REVOCATIONS"]) {
        let info = jetstream.get_stream(stream).await.unwrap().info().await.unwrap().clone();
        assert_eq!(info.config.num_replicas, 3, "{stream}");
    }

    // A policy applied through A is in force on B within a second; history and rollback work too.
    let mut admin_a = operator_on(&a, &a, Role::Admin).await;
    let mut operator_b = operator_on(&b, &a, Role::Operator).await;
    let original = policy_version(&mut operator_b).await;
    let edited = format!("{DEFAULT_POLICY}\n# edited for the cluster test\n");
    let started = Instant::now();
    let applied = admin_a
        .apply_policy(pb::ApplyPolicyRequest { policy: edited, comment: "test".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_ne!(applied.policy_version, original);
    let took = time_until_version(&mut operator_b, &applied.policy_version, started).await;
    println!("policy applied through A in force on B after {:.1} ms", took.as_secs_f64() * 1000.0);
    assert!(took <= Duration::from_secs(1), "B took {took:?}");
    let history = operator_b.list_policy_history(pb::ListPolicyHistoryRequest {}).await.unwrap().into_inner();
    let revisions: Vec<(u64, &str)> =
        history.revisions.iter().map(|revision| (revision.revision, revision.applied_by.as_str())).collect();
    assert_eq!(revisions.len(), 2, "{history:?}");
    assert_eq!((revisions[0].1, revisions[1]), ("seed", (applied.revision, "ia-test")));
    let restored = admin_a
        .rollback_policy(pb::RollbackPolicyRequest { revision: revisions[0].0, comment: "undo".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(restored.policy_version, original);
    time_until_version(&mut operator_b, &original, Instant::now()).await;
    let bad = admin_a
        .apply_policy(pb::ApplyPolicyRequest { policy: "[[rule]]\nname = 1\n".into(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument, "an invalid policy is refused before it is stored");
    assert!(bad.message().starts_with("policy:"), "{bad:?}");
    let mut operator_a = operator_on(&a, &a, Role::Operator).await;
    let refused = operator_a
        .apply_policy(pb::ApplyPolicyRequest { policy: DEFAULT_POLICY.into(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied, "operators do not apply policy");

    // Publish through A; read the durable through B, later through A.
    let seen: Seen = Arc::default();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let (stop_b, stopped_b) = tokio::sync::watch::channel(false);
    let reader_b = tokio::spawn(read_desk(client_on(&b, &a, "ia", Role::Analyst).await, seen.clone(), stopped_b));
    let mut publisher = client_on(&a, &a, "cbp", Role::AgencySystem).await;
    let mut acknowledged = Vec::with_capacity(MESSAGES);
    let mut killed = None;
    let mut reader_a = None;
    for index in 0..MESSAGES {
        if index == MESSAGES / 3 {
            // Kill the node leading the feed stream: JetStream must elect another and keep every copy.
            let info = jetstream.get_stream("LIAISON_FEED").await.unwrap().info().await.unwrap().clone();
            let leader = info.cluster.and_then(|cluster| cluster.leader).expect("the feed stream has a leader");
            println!("killing {leader} (feed stream leader) after {index} publishes");
            cluster.kill(&leader);
            killed = Some(leader);
        }
        if index == MESSAGES / 2 {
            // The subscriber moves from B to A and resumes the same durable.
            let _ = stop_b.send(true);
            reader_a = Some(tokio::spawn(read_desk(
                client_on(&a, &a, "ia", Role::Analyst).await,
                seen.clone(),
                stopped.clone(),
            )));
        }
        if index == 2 * MESSAGES / 3 {
            let name = killed.clone().unwrap();
            println!("restarting {name} after {index} publishes");
            cluster.restart(&name);
        }
        acknowledged.push(publish_until_stored(&mut publisher, index).await);
    }

    // Every acknowledged message arrives at least once.
    let deadline = Instant::now() + Duration::from_secs(90);
    let wanted: HashSet<&str> = acknowledged.iter().map(String::as_str).collect();
    loop {
        let missing = {
            let seen = seen.lock().unwrap();
            let got: HashSet<&str> = seen.iter().map(|(id, _)| id.as_str()).collect();
            wanted.iter().filter(|id| !got.contains(**id)).count()
        };
        if missing == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{missing} acknowledged messages never delivered");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = stop.send(true);
    for reader in [Some(reader_b), reader_a].into_iter().flatten() {
        let _ = tokio::time::timeout(Duration::from_secs(5), reader).await;
    }

    // Exactly the acknowledged messages, no strangers; a repeat is a redelivery (attempt 2 or later) of
    // a message whose ack was in flight when the subscriber moved or the node died.
    let seen = seen.lock().unwrap();
    assert_eq!(acknowledged.iter().collect::<HashSet<_>>().len(), MESSAGES, "each publish is a distinct message");
    let mut first: HashMap<&str, usize> = HashMap::new();
    let mut repeats = 0;
    for (position, (id, attempt)) in seen.iter().enumerate() {
        assert!(wanted.contains(id.as_str()), "delivered a message never acknowledged to its publisher: {id}");
        if first.insert(id.as_str(), position).is_some() {
            repeats += 1;
            assert!(*attempt >= 2, "message {id} delivered twice as a first attempt");
        }
    }
    println!("{MESSAGES} acknowledged, {} deliveries, {repeats} redeliveries", seen.len());
}

#[tokio::test]
async fn replicas_a_deployment_cannot_hold_are_refused_with_the_reason() {
    let nats = NatsServer::start().await;
    let settings = liaison::bus::StreamSettings {
        replicas: 3,
        max_age: Duration::from_secs(3600),
        duplicate_window: Duration::from_secs(60),
        dead_letter_max_age: Duration::from_secs(3600),
        audit_max_age: Duration::from_secs(3600),
        max_consumers: 1000,
        revocation_max_age: Duration::from_secs(3600),
        audit_max_bytes: 64 * 1024 * 1024,
    };
    let config = liaison::bus::BusConfig {
        url: nats.url(),
        auth: runtime_auth(),
        provision: Some(provisioning_auth()),
        tls: Default::default(),
        stream: settings.clone(),
        max_payload: 1024 * 1024,
        connect_timeout: Duration::from_secs(5),
        ack_timeout: Duration::from_secs(5),
    };
    let error = liaison::bus::Bus::connect(&config).await.err().expect("three replicas on one server must fail");
    let message = error.to_string();
    assert!(message.contains("--stream-replicas 3 cannot be honoured"), "{message}");
    assert!(message.contains("not part of a cluster"), "{message}");

    // Unset (0), a single server gets one replica.
    let auto = liaison::bus::BusConfig { stream: liaison::bus::StreamSettings { replicas: 0, ..settings }, ..config };
    liaison::bus::Bus::connect(&auto).await.expect("one replica on one server");
    let jetstream = async_nats::jetstream::new(nats.client().await);
    let info = jetstream.get_stream("LIAISON_FEED").await.unwrap().info().await.unwrap().clone();
    assert_eq!(info.config.num_replicas, 1);
}

#[tokio::test]
async fn the_cluster_refuses_plaintext_and_anonymous_clients() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let cluster = NatsCluster::start().await;
    let port = cluster.url().split(',').next().unwrap().rsplit(':').next().unwrap().parse::<u16>().unwrap();
    // A plaintext client, speaking the protocol by hand so that nothing upgrades to TLS behind its back.
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (read, mut write) = stream.into_split();
    let mut lines = tokio::io::BufReader::new(read).lines();
    let info = lines.next_line().await.unwrap().unwrap_or_default();
    assert!(info.contains("\"tls_required\":true"), "{info}");
    let _ = write.write_all(b"CONNECT {\"user\":\"inspector\",\"pass\":\"inspector-test-password\"}\r\nPING\r\n").await;
    let answer = tokio::time::timeout(Duration::from_secs(5), lines.next_line()).await;
    let answer = match answer {
        Ok(Ok(Some(line))) => line,
        other => format!("closed: {other:?}"),
    };
    assert!(!answer.starts_with("PONG"), "a plaintext client was served: {answer}");
    // Over TLS, a client without one of the accounts' credentials is refused too; the inspector is not.
    assert!(cluster.connect_as(&liaison::bus::NatsAuth::None).await.is_err(), "an anonymous TLS client was accepted");
    cluster.client().await;
}
