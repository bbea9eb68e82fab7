//! Failover: the gateway is stopped abruptly (SIGKILL) in the middle of a publishing stream and a consuming
//! stream and started again, or the nats-server is restarted under a running gateway. Message ids prove
//! that no acknowledged publish was lost, every message was delivered at least once, each idempotency key
//! was stored once, and every repeated delivery is a redelivery (attempt >= 2) of a message whose ack the
//! gateway had not confirmed.

use crate::common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::process::GatewayProcess;
use common::*;
use liaison::api as pb;
use liaison::identity::Role;
use pb::subscribe_response::Response;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

/// Messages published, each with its own idempotency key `k<i>`.
const COUNT: usize = 3000;
/// Short, so that deliveries stranded by the disruption come back within the test.
const ACK_DEADLINE: Duration = Duration::from_secs(3);
/// Generous bound on every wait; exceeding it fails with what was still missing.
const WAIT: Duration = Duration::from_secs(60);
const DURABLE: &str = "failover";
/// The subscription's window: also the most acks a disruption can leave stored but unconfirmed.
const WINDOW: u32 = 256;
/// Publishing goes in bursts with pauses between them, so the run lasts a few seconds and the disruption
/// lands mid-stream with a burst of requests unanswered.
const BURST: usize = 64;
const PACE: Duration = Duration::from_millis(25);
/// The disruption comes as the publisher hands over this request: about a third of the way, mid-burst.
const DISRUPT_AT: usize = COUNT / 3 / BURST * BURST + BURST / 2;
/// Pause before reconnecting after an error.
const RETRY: Duration = Duration::from_millis(100);

#[derive(Clone, Copy, Debug)]
enum Disruption {
    KillGateway,
    RestartNats,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_gateway_loses_no_acknowledged_publish_and_redelivers_only_unconfirmed() {
    run(Disruption::KillGateway).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_nats_loses_no_acknowledged_publish_and_redelivers_only_unconfirmed() {
    run(Disruption::RestartNats).await;
}

async fn run(disruption: Disruption) {
    let mut nats = NatsServer::start().await;
    let mut gateway = GatewayProcess::start_with_args(&nats.url(), &["--publish-rate", "0"]).await;
    let progress = Arc::new(Progress::default());
    let consumed = Arc::new(Mutex::new(Consumed::default()));
    let stop = CancellationToken::new();
    let publisher = tokio::spawn(publish_all(gateway.lazy_client("cbp", Role::AgencySystem), progress.clone()));
    let epoch = Instant::now();
    let ia = gateway.lazy_client("ia", Role::Analyst);
    let consumer = tokio::spawn(consume(ia, consumed.clone(), stop.clone(), epoch));

    // The disruption comes as request DISRUPT_AT is handed to the stream, once deliveries are flowing.
    let reached = tokio::time::timeout(WAIT, progress.disrupt.notified()).await.is_ok();
    let deadline = tokio::time::Instant::now() + WAIT;
    while reached && consumed.lock().unwrap().deliveries.is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if !reached || consumed.lock().unwrap().deliveries.is_empty() {
        let summary = consumed.lock().unwrap().summary();
        let acked = progress.acked.load(Ordering::SeqCst);
        panic!(
            "request {DISRUPT_AT} not sent or nothing delivered in {WAIT:?}: {acked} publishes acknowledged; {summary}; \
             gateway log:\n{}",
            gateway.log_tail()
        );
    }
    let delivered_at_disruption = consumed.lock().unwrap().deliveries.len();
    let disrupted_at = epoch.elapsed();
    let acked_at_disruption = match disruption {
        Disruption::KillGateway => {
            gateway.kill();
            let acked_at_kill = progress.acked.load(Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(300)).await;
            gateway.restart().await;
            acked_at_kill
        }
        Disruption::RestartNats => {
            let acked_at_restart = progress.acked.load(Ordering::SeqCst);
            nats.restart().await;
            acked_at_restart
        }
    };
    assert!(acked_at_disruption < COUNT, "publishing finished before the {disruption:?}: nothing was tested");

    let published = tokio::time::timeout(WAIT * 2, publisher)
        .await
        .unwrap_or_else(|_| panic!("publisher unfinished after {:?}; gateway log:\n{}", WAIT * 2, gateway.log_tail()))
        .expect("publisher task");

    // Each idempotency key is stored once, whatever the retries.
    let jetstream = async_nats::jetstream::new(nats.client().await);
    let stream = jetstream.get_stream(liaison::bus::FEED_STREAM).await.expect("feed stream");
    let stored = stream.get_info().await.expect("stream info").state.messages;
    assert_eq!(stored, COUNT as u64, "LIAISON_FEED holds {stored} messages for {COUNT} idempotency keys");

    // Every stored message delivered, and the durable's consumer has nothing left to deliver or to be acked.
    // (Not every ack need be confirmed: a gateway killed after storing an ack cannot confirm it.)
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (delivered, name) = {
            let consumed = consumed.lock().unwrap();
            (consumed.first_delivery.len(), consumed.subscription_id.clone())
        };
        let info = match &name {
            Some(name) => stream.consumer_info(name).await.ok(),
            None => None,
        };
        let settled = info.as_ref().is_some_and(|info| info.num_pending == 0 && info.num_ack_pending == 0);
        if delivered >= COUNT && settled {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            let summary = consumed.lock().unwrap().summary();
            let state = info.map(|info| (info.num_pending, info.num_ack_pending, info.ack_floor));
            panic!("after {WAIT:?}: {summary}; consumer (pending, ack pending, ack floor): {state:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Then nothing may come back: anything delivered now is a repeat, checked below.
    tokio::time::sleep(ACK_DEADLINE + Duration::from_secs(1)).await;
    stop.cancel();
    consumer.await.expect("consumer task");
    let consumed = Arc::try_unwrap(consumed).ok().expect("consumer finished").into_inner().unwrap();

    let repeats = consumed.deliveries.len() - consumed.first_delivery.len();
    println!(
        "{disruption:?}: {acked_at_disruption} of {COUNT} publishes acknowledged and {delivered_at_disruption} deliveries \
         made before it; publisher: {} streams, {} broken, {} refused requests, {} duplicate receipts; \
         consumer: {} sessions, {} broken, {} deliveries, {repeats} repeated, {} messages never confirmed",
        published.streams,
        published.broken,
        published.refused,
        published.receipts.iter().filter(|receipt| is_duplicate(receipt)).count(),
        consumed.sessions,
        consumed.broken,
        consumed.deliveries.len(),
        consumed.first_delivery.keys().filter(|id| !consumed.confirmed.contains_key(*id)).count(),
    );
    println!("{disruption:?} began {:.2} s into the test", disrupted_at.as_secs_f64());
    if let Disruption::KillGateway = disruption {
        assert!(published.broken > 0, "the publish stream survived a SIGKILL of the gateway: the kill missed it");
        assert!(consumed.broken > 0, "the subscription survived a SIGKILL of the gateway: the kill missed it");
    }
    check(&published, &consumed);
    let unconfirmed = consumed.first_delivery.keys().filter(|id| !consumed.confirmed.contains_key(*id)).count();
    assert!(
        unconfirmed <= WINDOW as usize,
        "{unconfirmed} messages never had an ack confirmed; one disruption can strand at most a window ({WINDOW})"
    );

    // The dissemination audit came through too: its chain continued across the restart without a gap.
    let verify = std::process::Command::new(env!("CARGO_BIN_EXE_liaison"))
        .args(["audit", "verify", "--nats-url", &nats.url()])
        .arg("--nats-nkey")
        .arg(&test_identities().runtime_seed)
        .output()
        .expect("liaison audit verify");
    let report = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success(), "{report}{}", String::from_utf8_lossy(&verify.stderr));
    assert_eq!(report.matches("intact").count(), 1, "one gateway, one chain, intact: {report}");
}

// === publishing ===

/// How far the publisher got: receipts received (a key is acknowledged only by its receipt), and the
/// signal that request DISRUPT_AT has been handed to the stream.
#[derive(Default)]
struct Progress {
    acked: AtomicUsize,
    disrupt: tokio::sync::Notify,
}

/// What the publisher saw: the receipt of every key, and how often it had to start over.
struct Published {
    receipts: Vec<pb::Receipt>,
    streams: usize,
    broken: usize,
    refused: usize,
}

fn request(index: usize) -> pb::PublishStreamRequest {
    let mut envelope = envelope(&["ia"], "cyber-crime", format!("message {index}").as_bytes());
    envelope.idempotency_key = format!("k{index}");
    pb::PublishStreamRequest { envelope: Some(envelope) }
}

/// Publishes keys `k0..k<COUNT>` over PublishStream. A key counts as acknowledged only when its receipt
/// arrives; after any failure a new stream resends from the first unanswered key.
async fn publish_all(mut client: Client, progress: Arc<Progress>) -> Published {
    let mut published = Published { receipts: Vec::with_capacity(COUNT), streams: 0, broken: 0, refused: 0 };
    let mut deadline = tokio::time::Instant::now() + WAIT;
    while published.receipts.len() < COUNT {
        let first = published.receipts.len();
        assert!(tokio::time::Instant::now() < deadline, "no receipt for key k{first} within {WAIT:?}");
        let (requests, outgoing) = mpsc::channel(32);
        let feeder_progress = progress.clone();
        let feeder = tokio::spawn(async move {
            for index in first..COUNT {
                if index % BURST == 0 {
                    tokio::time::sleep(PACE).await;
                }
                if requests.send(request(index)).await.is_err() {
                    return;
                }
                if index == DISRUPT_AT {
                    feeder_progress.disrupt.notify_one();
                }
            }
        });
        published.streams += 1;
        let mut responses = match client.publish_stream(ReceiverStream::new(outgoing)).await {
            Ok(responses) => responses.into_inner(),
            Err(_) => {
                feeder.abort();
                published.broken += 1;
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        loop {
            match responses.message().await {
                Ok(Some(response)) => {
                    let index = first + response.request_index as usize;
                    assert_eq!(index, published.receipts.len(), "responses out of request order");
                    match response.result {
                        Some(pb::publish_stream_response::Result::Receipt(receipt)) => {
                            delivered_sequence(&receipt, "ia");
                            published.receipts.push(receipt);
                            progress.acked.store(published.receipts.len(), Ordering::SeqCst);
                            deadline = tokio::time::Instant::now() + WAIT;
                        }
                        // Refused (e.g. NATS unavailable): start over from this key.
                        _ => {
                            published.refused += 1;
                            break;
                        }
                    }
                }
                Ok(None) if published.receipts.len() == COUNT => break,
                Ok(None) | Err(_) => {
                    published.broken += 1;
                    break;
                }
            }
        }
        feeder.abort();
        if published.receipts.len() < COUNT {
            tokio::time::sleep(RETRY).await;
        }
    }
    published
}

fn is_duplicate(receipt: &pb::Receipt) -> bool {
    receipt.outcomes.iter().any(|outcome| {
        matches!(&outcome.outcome, Some(pb::recipient_outcome::Outcome::Delivered(delivered)) if delivered.duplicate)
    })
}

// === consuming ===

/// One delivery as the consumer saw it.
struct Seen {
    message_id: String,
    key: String,
    attempt: u32,
    ack_id: String,
    /// When it arrived, since the test started.
    at: Duration,
    /// Whether the gateway had already confirmed an ack of this message when it was delivered.
    confirmed_before: bool,
}

/// Everything the consumer saw, in order.
#[derive(Default)]
struct Consumed {
    deliveries: Vec<Seen>,
    /// Message id -> index of its first delivery.
    first_delivery: HashMap<String, usize>,
    /// Message ids whose ack the gateway confirmed, and when it first did (since the test started).
    confirmed: HashMap<String, Duration>,
    /// Confirmed ack ids the session had never delivered.
    unknown_confirmations: Vec<String>,
    sessions: usize,
    broken: usize,
    last_error: Option<String>,
    /// The durable's consumer name, from `opened`.
    subscription_id: Option<String>,
}

impl Consumed {
    fn summary(&self) -> String {
        format!(
            "{} deliveries, {} distinct messages of {COUNT}, {} confirmed, {} sessions; last subscription error: {:?}",
            self.deliveries.len(),
            self.first_delivery.len(),
            self.confirmed.len(),
            self.sessions,
            self.last_error
        )
    }
}

fn open_request() -> pb::SubscribeRequest {
    let open = pb::OpenSubscription {
        durable_name: DURABLE.to_string(),
        start: from_beginning(),
        ack_deadline: Some(prost_types::Duration::try_from(ACK_DEADLINE).unwrap()),
        confirm_acks: true,
        max_outstanding_messages: WINDOW,
        ..Default::default()
    };
    pb::SubscribeRequest { request: Some(pb::subscribe_request::Request::Open(open)) }
}

type Session = (mpsc::Sender<pb::SubscribeRequest>, tonic::Streaming<pb::SubscribeResponse>, String);

/// Opens (or re-opens) the durable subscription and waits for `opened`.
async fn open_durable(client: &mut Client) -> Result<Session, String> {
    let (requests, outgoing) = mpsc::channel(64);
    requests.send(open_request()).await.unwrap();
    let mut responses =
        client.subscribe(ReceiverStream::new(outgoing)).await.map_err(|status| status.to_string())?.into_inner();
    match responses.message().await {
        Ok(Some(pb::SubscribeResponse { response: Some(Response::Opened(opened)) })) => {
            Ok((requests, responses, opened.subscription_id))
        }
        other => Err(format!("expected opened, got {other:?}")),
    }
}

/// Reads the durable subscription as ia until `stop`, acking every delivery at once and recording every
/// delivery and confirmation; re-opens the durable after any failure.
async fn consume(mut client: Client, consumed: Arc<Mutex<Consumed>>, stop: CancellationToken, epoch: Instant) {
    while !stop.is_cancelled() {
        let opened = tokio::select! {
            () = stop.cancelled() => return,
            opened = open_durable(&mut client) => opened,
        };
        let (requests, mut responses, subscription_id) = match opened {
            Ok(session) => session,
            Err(error) => {
                consumed.lock().unwrap().last_error = Some(error);
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        {
            let mut consumed = consumed.lock().unwrap();
            consumed.sessions += 1;
            consumed.subscription_id = Some(subscription_id);
        }
        // Ack ids are stream sequences: this session's map back to message ids.
        let mut message_ids: HashMap<String, String> = HashMap::new();
        loop {
            let response = tokio::select! {
                () = stop.cancelled() => return,
                response = responses.message() => response,
            };
            match response {
                Ok(Some(pb::SubscribeResponse { response: Some(Response::Deliveries(batch)) })) => {
                    let mut ack_ids = Vec::with_capacity(batch.deliveries.len());
                    {
                        let mut consumed = consumed.lock().unwrap();
                        for delivery in batch.deliveries {
                            let envelope = delivery.envelope.expect("delivery without envelope");
                            let index = consumed.deliveries.len();
                            consumed.first_delivery.entry(envelope.id.clone()).or_insert(index);
                            let confirmed_before = consumed.confirmed.contains_key(&envelope.id);
                            message_ids.insert(delivery.ack_id.clone(), envelope.id.clone());
                            consumed.deliveries.push(Seen {
                                message_id: envelope.id,
                                key: envelope.idempotency_key,
                                attempt: delivery.delivery_attempt,
                                ack_id: delivery.ack_id.clone(),
                                at: epoch.elapsed(),
                                confirmed_before,
                            });
                            ack_ids.push(delivery.ack_id);
                        }
                    }
                    let ack = pb::subscribe_request::Request::Ack(pb::Acknowledge { ack_ids });
                    if requests.send(pb::SubscribeRequest { request: Some(ack) }).await.is_err() {
                        consumed.lock().unwrap().broken += 1;
                        break;
                    }
                }
                Ok(Some(pb::SubscribeResponse { response: Some(Response::Acknowledged(confirmation)) })) => {
                    let mut consumed = consumed.lock().unwrap();
                    for ack_id in confirmation.ack_ids {
                        match message_ids.get(&ack_id) {
                            Some(message_id) => {
                                consumed.confirmed.entry(message_id.clone()).or_insert(epoch.elapsed());
                            }
                            None => consumed.unknown_confirmations.push(ack_id),
                        }
                    }
                }
                other => {
                    let mut consumed = consumed.lock().unwrap();
                    consumed.broken += 1;
                    consumed.last_error = Some(format!("{other:?}"));
                    break;
                }
            }
        }
        tokio::time::sleep(RETRY).await;
    }
}

// === the proof ===

fn check(published: &Published, consumed: &Consumed) {
    assert!(
        consumed.unknown_confirmations.is_empty(),
        "the gateway confirmed ack ids its session never delivered: {:?}",
        &consumed.unknown_confirmations[..consumed.unknown_confirmations.len().min(10)]
    );

    // Each delivered message id carries one key, and each key one message id: stored once per key.
    let mut id_of_key: HashMap<&str, &str> = HashMap::new();
    let mut key_of_id: HashMap<&str, &str> = HashMap::new();
    for seen in &consumed.deliveries {
        let key = *key_of_id.entry(&seen.message_id).or_insert(&seen.key);
        assert_eq!(key, seen.key, "message {} delivered with two idempotency keys", seen.message_id);
        let id = *id_of_key.entry(&seen.key).or_insert(&seen.message_id);
        assert_eq!(id, seen.message_id, "key {} stored twice, as messages {id} and {}", seen.key, seen.message_id);
    }
    let undelivered: Vec<String> =
        (0..COUNT).map(|index| format!("k{index}")).filter(|key| !id_of_key.contains_key(key.as_str())).collect();
    assert!(
        undelivered.is_empty(),
        "{} keys never delivered, e.g. {:?}",
        undelivered.len(),
        &undelivered[..undelivered.len().min(10)]
    );
    assert_eq!(id_of_key.len(), COUNT, "messages delivered with keys that were never published");

    // Every acknowledged publish was delivered, under the message id its receipt names.
    assert_eq!(published.receipts.len(), COUNT);
    let wrong: Vec<String> = published
        .receipts
        .iter()
        .enumerate()
        .filter(|(index, receipt)| id_of_key[format!("k{index}").as_str()] != receipt.message_id)
        .map(|(index, receipt)| {
            format!(
                "k{index}: receipt {} (duplicate: {}), delivered {}",
                receipt.message_id,
                is_duplicate(receipt),
                id_of_key[format!("k{index}").as_str()]
            )
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "{} receipts name a message id that was never delivered: {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(10)]
    );

    // Every repeated delivery is a redelivery of a message whose ack had not been confirmed.
    let bad: Vec<String> = consumed
        .deliveries
        .iter()
        .enumerate()
        .filter(|(index, seen)| consumed.first_delivery[&seen.message_id] != *index)
        .filter(|(_, seen)| seen.confirmed_before || seen.attempt < 2)
        .map(|(index, seen)| {
            let first = &consumed.deliveries[consumed.first_delivery[&seen.message_id]];
            let confirmed = consumed.confirmed.get(&seen.message_id).map(|at| format!("{:.2} s", at.as_secs_f64()));
            format!(
                "delivery {index}: {} ({}, ack id {}) attempt {} at {:.2} s; first delivered at {:.2} s (attempt {}), \
                 ack confirmed at {}",
                seen.message_id,
                seen.key,
                seen.ack_id,
                seen.attempt,
                seen.at.as_secs_f64(),
                first.at.as_secs_f64(),
                first.attempt,
                confirmed.as_deref().unwrap_or("never")
            )
        })
        .collect();
    assert!(
        bad.is_empty(),
        "{} repeated deliveries were not legitimate redeliveries: {:?}",
        bad.len(),
        &bad[..bad.len().min(10)]
    );
}
