//! A stalled subscriber costs the gateway bounded memory: with a backlog of ~120 MB in JetStream, a
//! subscription that never reads nor acks holds at most its window, the backlog stays in NATS, and the
//! `liaison serve` process's resident memory does not grow with the backlog. A second subscription that
//! reads but never acks receives exactly its byte window and then nothing more.

use crate::common;

use std::time::{Duration, Instant};

use common::process::GatewayProcess;
use common::*;
use liaison::api as pb;
use liaison::identity::Role;
use prost::Message;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

/// Messages in the backlog.
const BACKLOG: usize = 100_000;
const BODY_BYTES: usize = 1024;
/// The window both subscriptions ask for.
const WINDOW_BYTES: u64 = 1024 * 1024;
/// Most the gateway's resident memory may grow over its post-publish baseline while the subscriptions are
/// stalled. Buffering the backlog would cost well over 100 MiB.
const MAX_RSS_GROWTH: u64 = 64 * 1024 * 1024;
/// How long memory is sampled with the subscriptions stalled.
const SAMPLE_FOR: Duration = Duration::from_secs(5);
/// How long the reading subscription must then receive nothing.
const QUIET_FOR: Duration = Duration::from_secs(2);
const WAIT: Duration = Duration::from_secs(60);

const MIB: f64 = 1024.0 * 1024.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_subscriber_costs_the_gateway_bounded_memory() {
    let nats = NatsServer::start().await;
    // Unlimited publish rate: the backlog is published as fast as the gateway takes it.
    let gateway = GatewayProcess::start_with_args(&nats.url(), &["--publish-rate", "0"]).await;

    let started = Instant::now();
    publish_backlog(&mut gateway.client("cbp", Role::AgencySystem).await).await;
    let publish_time = started.elapsed();
    let baseline = gateway.rss_bytes();
    println!(
        "published {BACKLOG} x {BODY_BYTES} B in {:.1} s ({:.0} messages/s); gateway RSS baseline {:.1} MiB",
        publish_time.as_secs_f64(),
        BACKLOG as f64 / publish_time.as_secs_f64(),
        baseline as f64 / MIB
    );

    let open =
        pb::OpenSubscription { start: from_beginning(), max_outstanding_bytes: WINDOW_BYTES, ..Default::default() };
    let mut ia = gateway.client("ia", Role::Analyst).await;
    // Parked: never read, never acked, kept open until the end of the test.
    let parked = subscribe(&mut ia, open.clone()).await.expect("parked subscription opened");
    assert_eq!(parked.opened.max_outstanding_bytes, WINDOW_BYTES);
    let window_messages = u64::from(parked.opened.max_outstanding_messages);

    // Reads but never acks: exactly the byte window arrives, then nothing.
    let mut reader = subscribe(&mut ia, open).await.expect("reading subscription opened");
    let mut peak = baseline;
    let received = receive_window(&mut reader, &gateway, &mut peak).await;
    let sizes: Vec<u64> = received.iter().map(delivery_bytes).collect();
    let total: u64 = sizes.iter().sum();
    let before_last = total - sizes.last().copied().unwrap_or_default();
    assert!(
        before_last < WINDOW_BYTES && total >= WINDOW_BYTES,
        "the reader got {} deliveries of {total} bytes: not exactly its {WINDOW_BYTES}-byte window",
        received.len()
    );
    assert!(received.len() as u64 <= window_messages, "more deliveries than the message window");
    let sequences: Vec<u64> = received.iter().map(|delivery| delivery.stream_sequence).collect();
    let expected: Vec<u64> = (1..=received.len() as u64).collect();
    assert_eq!(sequences, expected, "the reader's window is the head of the backlog, in order, once each");
    assert!(received.iter().all(|delivery| delivery.delivery_attempt == 1), "nothing redelivered yet");

    // Sample memory with one subscription parked and the other holding a full window.
    let sampling_until = Instant::now() + SAMPLE_FOR;
    while Instant::now() < sampling_until {
        let extra = reader.next_batch(Duration::from_millis(100)).await;
        assert!(extra.is_empty(), "the reader got {} deliveries beyond its window", extra.len());
        peak = peak.max(gateway.rss_bytes());
    }
    let growth = peak.saturating_sub(baseline);
    println!(
        "stalled: reader holds {} deliveries ({:.2} MiB); gateway RSS peak {:.1} MiB, growth {:.1} MiB (bound {:.0} MiB)",
        received.len(),
        total as f64 / MIB,
        peak as f64 / MIB,
        growth as f64 / MIB,
        MAX_RSS_GROWTH as f64 / MIB
    );
    assert!(
        growth < MAX_RSS_GROWTH,
        "gateway RSS grew by {:.1} MiB over its {:.1} MiB baseline with a stalled subscriber (bound {:.0} MiB)",
        growth as f64 / MIB,
        baseline as f64 / MIB,
        MAX_RSS_GROWTH as f64 / MIB
    );

    // The backlog stayed in NATS: the parked consumer has at most its window handed out.
    let jetstream = async_nats::jetstream::new(nats.client().await);
    let stream = jetstream.get_stream(liaison::bus::FEED_STREAM).await.expect("feed stream");
    assert_eq!(stream.get_info().await.expect("stream info").state.messages, BACKLOG as u64, "backlog stored");
    let info = stream.consumer_info(&parked.opened.subscription_id).await.expect("parked consumer info");
    println!(
        "parked consumer {}: num_ack_pending {} (window {window_messages} messages), num_pending {}",
        info.name, info.num_ack_pending, info.num_pending
    );
    assert!(info.num_ack_pending > 0, "the parked subscription was never handed anything: nothing was tested");
    assert!(
        info.num_ack_pending as u64 <= window_messages,
        "parked consumer has {} deliveries unacknowledged, beyond its window of {window_messages}",
        info.num_ack_pending
    );
    assert!(
        info.num_pending >= BACKLOG as u64 - window_messages,
        "only {} messages still pending in NATS for the parked consumer: the gateway pulled the backlog",
        info.num_pending
    );

    // The reader still has nothing beyond its window, and the parked stream is still open.
    assert!(reader.next_batch(QUIET_FOR).await.is_empty(), "deliveries beyond the window after sampling");
    assert!(!parked.requests.is_closed(), "the parked subscription ended");
    drop(parked);
}

/// Publishes the backlog over one PublishStream, checking that every response is a receipt storing the
/// copy for ia, in order.
async fn publish_backlog(cbp: &mut Client) {
    let (requests, outgoing) = mpsc::channel(1024);
    let feeder = tokio::spawn(async move {
        let body = vec![b'x'; BODY_BYTES];
        for _ in 0..BACKLOG {
            let envelope = envelope(&["ia"], "cyber-crime", &body);
            if requests.send(pb::PublishStreamRequest { envelope: Some(envelope) }).await.is_err() {
                return;
            }
        }
    });
    let mut responses = cbp.publish_stream(ReceiverStream::new(outgoing)).await.expect("publish stream").into_inner();
    let mut answered = 0u64;
    while let Some(response) =
        tokio::time::timeout(WAIT, responses.message()).await.expect("publish response in time").expect("stream")
    {
        assert_eq!(response.request_index, answered, "responses in request order");
        match response.result {
            Some(pb::publish_stream_response::Result::Receipt(receipt)) => {
                assert_eq!(delivered_sequence(&receipt, "ia"), answered + 1, "stored in request order");
            }
            other => panic!("request {answered} was not stored: {other:?}"),
        }
        answered += 1;
    }
    assert_eq!(answered, BACKLOG as u64, "every publish answered");
    feeder.await.unwrap();
}

/// Reads deliveries (never acking) until the byte window is full, sampling the gateway's memory meanwhile.
async fn receive_window(reader: &mut Subscription, gateway: &GatewayProcess, peak: &mut u64) -> Vec<pb::Delivery> {
    let deadline = Instant::now() + WAIT;
    let mut received: Vec<pb::Delivery> = Vec::new();
    while received.iter().map(delivery_bytes).sum::<u64>() < WINDOW_BYTES {
        assert!(Instant::now() < deadline, "the reader got only {} deliveries in {WAIT:?}", received.len());
        received.extend(reader.next_batch(Duration::from_millis(100)).await);
        *peak = (*peak).max(gateway.rss_bytes());
    }
    // Anything the gateway sends right behind the window-filling batch would be a breach: give it a moment.
    received.extend(reader.next_batch(Duration::from_millis(500)).await);
    received
}

/// The bytes a delivery counts against the window: its stored payload, the encoded envelope.
fn delivery_bytes(delivery: &pb::Delivery) -> u64 {
    delivery.envelope.as_ref().map_or(0, |envelope| envelope.encoded_len() as u64)
}
