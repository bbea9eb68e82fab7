//! Acks, nacks, deadline extensions and the flow-control window behave as documented in gateway.proto:
//! acked deliveries stay gone, unacked and nacked ones come back as a later attempt, extensions hold a
//! delivery past its deadline, and max_outstanding_messages bounds what a subscriber holds unacknowledged.

use crate::common;

use std::time::Duration;

use common::*;
use liaison::api as pb;
use pb::subscribe_request::Request;

const WAIT: Duration = Duration::from_secs(10);

/// Opens the analyst's subscription with an ack deadline (None: the default) and window (0: the default).
async fn open(analyst: &mut Client, ack_deadline: Option<Duration>, max_outstanding: u32) -> Subscription {
    let open = pb::OpenSubscription {
        start: from_beginning(),
        ack_deadline: ack_deadline.map(proto_duration),
        max_outstanding_messages: max_outstanding,
        ..Default::default()
    };
    subscribe(analyst, open).await.expect("subscription opened")
}

fn message_id(delivery: &pb::Delivery) -> &str {
    &delivery.envelope.as_ref().expect("envelope").id
}

async fn send(subscription: &Subscription, request: Request) {
    let request = pb::SubscribeRequest { request: Some(request) };
    subscription.requests.send(request).await.unwrap();
}

async fn extend(subscription: &Subscription, delivery: &pb::Delivery) {
    let ack_ids = vec![delivery.ack_id.clone()];
    send(subscription, Request::Extend(pb::ExtendDeadline { ack_ids })).await;
}

#[tokio::test]
async fn acked_messages_are_not_redelivered() {
    let (_nats, _gateway, mut cbp, mut analyst) = cbp_and_ia().await;
    let published = publish_reports(&mut cbp, "report", 3).await;
    let mut subscription = open(&mut analyst, Some(Duration::from_secs(1)), 0).await;
    assert_eq!(subscription.opened.ack_deadline, Some(proto_duration(Duration::from_secs(1))));

    let deliveries = subscription.take(3, WAIT).await;
    for (delivery, (sequence, id)) in deliveries.iter().zip(&published) {
        assert_eq!((delivery.stream_sequence, message_id(delivery)), (*sequence, id.as_str()));
    }
    subscription.ack(&deliveries).await;

    // Well past the 1 s deadline: an unacked delivery would be back by now (see the next test).
    assert_quiet(&mut subscription, Duration::from_millis(2500), "acked deliveries came back").await;

    // The subscription is still live: silence above was not a dead stream.
    let later = publish_reports(&mut cbp, "report", 1).await;
    let delivery = subscription.take(1, WAIT).await.remove(0);
    assert_eq!((delivery.stream_sequence, delivery.delivery_attempt), (later[0].0, 1));
}

#[tokio::test]
async fn unacked_messages_come_back_after_the_ack_deadline() {
    let (_nats, _gateway, mut cbp, mut analyst) = cbp_and_ia().await;
    let published = publish_reports(&mut cbp, "report", 1).await;
    let mut subscription = open(&mut analyst, Some(Duration::from_secs(1)), 0).await;

    let first = subscription.take(1, WAIT).await.remove(0);
    assert_eq!(first.delivery_attempt, 1);
    assert_eq!((first.stream_sequence, message_id(&first)), (published[0].0, published[0].1.as_str()));

    // Not before the deadline...
    assert_quiet(&mut subscription, Duration::from_millis(700), "redelivered before the ack deadline").await;
    // ...but soon after it.
    let again = subscription.take(1, WAIT).await.remove(0);
    assert_eq!(again.delivery_attempt, 2);
    assert_eq!(again.stream_sequence, first.stream_sequence);
    assert_eq!(again.ack_id, first.ack_id);
    assert_eq!(message_id(&again), message_id(&first));
    assert_eq!(again.envelope, first.envelope);

    // Acking the redelivery settles it for good.
    subscription.ack(&[again]).await;
    assert_quiet(&mut subscription, Duration::from_millis(2500), "acked redelivery came back").await;
}

#[tokio::test]
async fn nack_without_delay_redelivers_at_once() {
    let (_nats, _gateway, mut cbp, mut analyst) = cbp_and_ia().await;
    let published = publish_reports(&mut cbp, "report", 1).await;
    // The default 30 s deadline: a prompt redelivery can only be the nack's doing.
    let mut subscription = open(&mut analyst, None, 0).await;

    let first = subscription.take(1, WAIT).await.remove(0);
    assert_eq!(first.delivery_attempt, 1);
    subscription.nack(&first, None).await;

    let again = subscription.take(1, Duration::from_secs(3)).await.remove(0);
    assert_eq!(again.delivery_attempt, 2);
    assert_eq!(again.stream_sequence, published[0].0);
    assert_eq!(message_id(&again), published[0].1);
    subscription.ack(&[again]).await;
}

#[tokio::test]
async fn nack_with_delay_redelivers_after_the_delay() {
    let (_nats, _gateway, mut cbp, mut analyst) = cbp_and_ia().await;
    let published = publish_reports(&mut cbp, "report", 1).await;
    let mut subscription = open(&mut analyst, None, 0).await;

    let first = subscription.take(1, WAIT).await.remove(0);
    let nacked_at = tokio::time::Instant::now();
    let delay = Duration::from_millis(1500);
    subscription.nack(&first, Some(delay)).await;

    assert_quiet(&mut subscription, Duration::from_secs(1), "nacked delivery back before its delay").await;
    let again = subscription.take(1, Duration::from_secs(5)).await.remove(0);
    // Quiet for the first second, and not back before the delay either (with 100 ms for timer slack).
    let waited = nacked_at.elapsed();
    assert!(waited >= delay - Duration::from_millis(100), "back after {waited:?}, before the {delay:?} delay");
    assert_eq!(again.delivery_attempt, 2);
    assert_eq!(again.stream_sequence, published[0].0);
    assert_eq!(message_id(&again), published[0].1);
    subscription.ack(&[again]).await;
}

#[tokio::test]
async fn extend_deadline_holds_a_delivery_past_its_deadline() {
    let (_nats, _gateway, mut cbp, mut analyst) = cbp_and_ia().await;
    publish_reports(&mut cbp, "report", 1).await;
    let mut subscription = open(&mut analyst, Some(Duration::from_secs(1)), 0).await;

    let delivery = subscription.take(1, WAIT).await.remove(0);
    // Extend every 400 ms for ~2.4 s, more than twice the 1 s deadline; nothing may come back meanwhile.
    for _ in 0..6 {
        assert_quiet(&mut subscription, Duration::from_millis(400), "redelivered despite extensions").await;
        extend(&subscription, &delivery).await;
    }
    assert_quiet(&mut subscription, Duration::from_millis(400), "redelivered despite extensions").await;
    // Once the extensions stop, the deadline they held off is real: the delivery comes back.
    let again = subscription.take(1, Duration::from_secs(5)).await.remove(0);
    assert_eq!((again.stream_sequence, again.delivery_attempt), (delivery.stream_sequence, 2));

    subscription.ack(&[again]).await;
    assert_quiet(&mut subscription, Duration::from_millis(2500), "acked delivery came back").await;
}

#[tokio::test]
async fn max_outstanding_messages_bounds_unacked_deliveries() {
    let (_nats, _gateway, mut cbp, mut analyst) = cbp_and_ia().await;
    let published = publish_reports(&mut cbp, "report", 10).await;
    let mut subscription = open(&mut analyst, None, 3).await;
    assert_eq!(subscription.opened.max_outstanding_messages, 3);

    // Three arrive, then nothing while all three are held.
    let mut received = subscription.take(3, WAIT).await;
    assert_quiet(&mut subscription, Duration::from_secs(1), "more than 3 outstanding").await;

    // Acking one makes room for exactly one more.
    subscription.ack(&received[..1]).await;
    received.extend(subscription.take(1, WAIT).await);
    assert_quiet(&mut subscription, Duration::from_millis(700), "more than 3 outstanding after one ack").await;

    // Acking everything held lets the rest through, never more than 3 unacked at once.
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut held: Vec<pb::Delivery> = received[1..].to_vec();
    while received.len() < published.len() {
        subscription.ack(&held).await;
        held.clear();
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        assert!(!left.is_zero(), "only {} of {} delivered in time", received.len(), published.len());
        let batch = subscription.next_batch(left).await;
        assert!(batch.len() <= 3, "{} deliveries outstanding at once", batch.len());
        held.extend(batch.iter().cloned());
        received.extend(batch);
    }
    subscription.ack(&held).await;

    let got: Vec<(u64, u32)> =
        received.iter().map(|delivery| (delivery.stream_sequence, delivery.delivery_attempt)).collect();
    let expected: Vec<(u64, u32)> = published.iter().map(|(sequence, _)| (*sequence, 1)).collect();
    assert_eq!(got, expected, "each message once, in stream order, first attempt");
    assert_quiet(&mut subscription, Duration::from_millis(500), "more than the 10 published").await;
}
