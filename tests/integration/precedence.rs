//! Precedence moves traffic: a subscriber with a backlog receives FLASH before IMMEDIATE before PRIORITY
//! before ROUTINE, each lane in the order it was published, every message once.

use crate::common;

use std::time::Duration;

use common::*;
use liaison::api as pb;
use liaison::identity::Role;
use tokio_stream::wrappers::ReceiverStream;

const BACKLOG: usize = 10_000;
/// The subscriber's window: it holds this many ROUTINE messages unacknowledged while the others arrive.
const WINDOW: u32 = 100;
const WAIT: Duration = Duration::from_secs(60);

fn message(precedence: pb::Precedence, body: &str) -> pb::Envelope {
    let mut envelope = envelope(&["ia"], "cyber-crime", body.as_bytes());
    envelope.precedence = precedence as i32;
    envelope
}

/// Publishes `envelopes` on one PublishStream and waits for every receipt.
async fn publish_all(client: &mut Client, envelopes: Vec<pb::Envelope>) {
    let count = envelopes.len();
    let (requests, outgoing) = tokio::sync::mpsc::channel(256);
    let mut responses = client.publish_stream(ReceiverStream::new(outgoing)).await.unwrap().into_inner();
    let sender = tokio::spawn(async move {
        for envelope in envelopes {
            requests.send(pb::PublishStreamRequest { envelope: Some(envelope) }).await.unwrap();
        }
    });
    for _ in 0..count {
        let response = responses.message().await.unwrap().expect("a receipt per request");
        assert!(matches!(response.result, Some(pb::publish_stream_response::Result::Receipt(_))), "{response:?}");
    }
    sender.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flash_published_behind_ten_thousand_routine_messages_is_the_next_delivery() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start_with(Some(nats.url()), |config| config.limits.publish_rate = 0).await;
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    let routine = (0..BACKLOG).map(|index| message(pb::Precedence::Routine, &format!("routine {index}")));
    publish_all(&mut cbp, routine.collect()).await;

    let mut ia = gateway.client("ia", Role::Analyst).await;
    let open = pb::OpenSubscription { start: from_beginning(), max_outstanding_messages: WINDOW, ..Default::default() };
    let mut feed = subscribe(&mut ia, open).await.unwrap();
    assert_eq!(feed.opened.subjects.len(), 4, "one filter per lane: {:?}", feed.opened.subjects);
    let held = feed.take(WINDOW as usize, WAIT).await;
    let expected: Vec<String> = (0..WINDOW as usize).map(|index| format!("routine {index}")).collect();
    assert_eq!(held.iter().map(body).collect::<Vec<_>>(), expected);
    assert_quiet(&mut feed, Duration::from_millis(300), "the window is full").await;

    // Lowest first, so that only precedence can put them in the order expected.
    for (precedence, body) in [
        (pb::Precedence::Priority, "priority"),
        (pb::Precedence::Immediate, "immediate"),
        (pb::Precedence::Flash, "flash"),
    ] {
        publish(&mut cbp, message(precedence, body)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    feed.ack(&held).await;

    let next = feed.next_batch(WAIT).await;
    assert_eq!(next.first().map(body).as_deref(), Some("flash"), "FLASH overtakes the backlog in one batch");
    let mut rest = next.iter().map(body).collect::<Vec<_>>();
    feed.ack(&next).await;
    while rest.len() < BACKLOG - WINDOW as usize + 3 {
        let batch = feed.next_batch(WAIT).await;
        assert!(!batch.is_empty(), "got {} of the rest in time", rest.len());
        feed.ack(&batch).await;
        rest.extend(batch.iter().map(body));
    }
    let routine_rest = (WINDOW as usize..BACKLOG).map(|index| format!("routine {index}"));
    let expected: Vec<String> =
        ["flash", "immediate", "priority"].map(String::from).into_iter().chain(routine_rest).collect();
    assert_eq!(rest, expected, "then IMMEDIATE, PRIORITY and the ROUTINE backlog in its order, each once");
    assert_quiet(&mut feed, Duration::from_secs(1), "nothing is delivered twice").await;
}

#[tokio::test]
async fn a_durable_keeps_every_lanes_position_across_sessions_and_a_seek_moves_them_all() {
    let (nats, gateway, mut cbp, mut ia) = cbp_and_ia().await;
    let durable =
        || pb::OpenSubscription { durable_name: "desk".to_string(), start: from_beginning(), ..Default::default() };
    let lanes = [pb::Precedence::Routine, pb::Precedence::Priority, pb::Precedence::Immediate, pb::Precedence::Flash];
    for (index, precedence) in lanes.iter().cycle().take(8).enumerate() {
        publish(&mut cbp, message(*precedence, &format!("{} {index}", precedence.as_str_name()))).await;
    }
    let mut first = subscribe(&mut ia, durable()).await.unwrap();
    let all = first.take(8, WAIT).await;
    let bodies: Vec<String> = all.iter().map(body).collect();
    let rank = |body: &String| {
        ["PRECEDENCE_FLASH", "PRECEDENCE_IMMEDIATE", "PRECEDENCE_PRIORITY", "PRECEDENCE_ROUTINE"]
            .iter()
            .position(|name| body.starts_with(name))
            .unwrap()
    };
    let mut sorted = bodies.clone();
    sorted.sort_by_key(rank);
    assert_eq!(bodies, sorted, "a backlog read at once comes highest lane first");
    first.ack(&all[..4]).await;
    // Stream sequences 1..=8 in publication order: the FLASH copies are 4 and 8, the IMMEDIATE 3 and 7.
    wait_ack_floor(&nats, "ia_desk_flash", 8).await;
    wait_ack_floor(&nats, "ia_desk_immediate", 7).await;
    drop(first);

    let mut second = subscribe(&mut ia, durable()).await.unwrap();
    let rest = second.take(4, WAIT).await;
    // Redeliveries, so each lane's order is JetStream's redelivery order; the lanes still come in theirs.
    let mut again: Vec<String> = rest.iter().map(body).collect();
    assert!(again[..2].iter().chain(&bodies[4..6]).all(|body| body.starts_with("PRECEDENCE_PRIORITY")), "{again:?}");
    again.sort_by_key(rank);
    again[..2].sort();
    again[2..].sort();
    assert_eq!(again, bodies[4..], "the unacknowledged ones, again");
    assert_quiet(&mut second, Duration::from_millis(500), "the acknowledged ones are not").await;
    drop(second);

    let mut operator = gateway.client("ia", Role::Analyst).await;
    let seek = pb::SeekRequest { durable_name: "desk".into(), target: Some(pb::seek_request::Target::Beginning(())) };
    let moved = operator.seek(seek).await.expect("seek").into_inner();
    assert_eq!(moved.pending, 8, "every lane moved back to the beginning");
    let mut third = subscribe(&mut ia, durable()).await.unwrap();
    let again = third.take(8, WAIT).await;
    assert_eq!(again.iter().map(body).collect::<Vec<_>>(), bodies);
}

#[tokio::test]
async fn an_ended_subscription_removes_every_lanes_consumer() {
    let (nats, _gateway, _cbp, mut ia) = cbp_and_ia().await;
    let jetstream = async_nats::jetstream::new(nats.client().await);
    let mut stream = jetstream.get_stream(liaison::bus::FEED_STREAM).await.unwrap();
    let feed = subscribe(&mut ia, pb::OpenSubscription::default()).await.unwrap();
    assert_eq!(stream.info().await.unwrap().state.consumer_count, 4);
    drop(feed);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while stream.info().await.unwrap().state.consumer_count != 0 {
        assert!(tokio::time::Instant::now() < deadline, "consumers left after the subscription ended");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// 30 subscriptions (the default --max-subscriptions is 32 per caller) ending together have 120 consumers
/// to delete, more than the 64 deletes a gateway sends at once: the rest wait their turn, and none is left behind (as the server would leave an
/// ephemeral consumer for a minute after its feed went).
#[tokio::test(flavor = "multi_thread")]
async fn subscriptions_ending_together_remove_every_consumer() {
    let (nats, _gateway, _cbp, mut ia) = cbp_and_ia().await;
    let jetstream = async_nats::jetstream::new(nats.client().await);
    let mut stream = jetstream.get_stream(liaison::bus::FEED_STREAM).await.unwrap();
    let mut feeds = Vec::new();
    for _ in 0..30 {
        feeds.push(subscribe(&mut ia, pb::OpenSubscription::default()).await.unwrap());
        // Within the gateway's default --consumer-rate of 20 subscriptions per second.
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    assert_eq!(stream.info().await.unwrap().state.consumer_count, 120);
    drop(feeds);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let left = stream.info().await.unwrap().state.consumer_count;
        if left == 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{left} consumers left after the subscriptions ended");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
