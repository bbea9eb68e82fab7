//! Replay and ordering: idempotent publishes are stored once and reported with the original id, a new
//! subscription starts where StartPosition says, Seek moves a durable under an open session, and a
//! subscriber with a window of one sees its feed in exact publish order, a nacked message first again.

use crate::common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use liaison::api as pb;
use liaison::identity::Role;
use pb::start_position::Position;
use pb::subscribe_request::Request;

const WAIT: Duration = Duration::from_secs(10);
/// Margin on each side of a time mark, so server storage times fall clearly before or after it.
const TIME_MARGIN: Duration = Duration::from_millis(1100);

/// A report from cbp to ia with `body`.
fn report(body: &str) -> pb::Envelope {
    envelope(&["ia"], "cyber-crime", body.as_bytes())
}

/// The Delivered outcome for ia in a receipt.
fn delivered_to_ia(receipt: &pb::Receipt) -> &pb::Delivered {
    match receipt.outcomes.iter().find(|outcome| outcome.party == "ia").and_then(|outcome| outcome.outcome.as_ref()) {
        Some(pb::recipient_outcome::Outcome::Delivered(delivered)) => delivered,
        other => panic!("ia not delivered: {other:?}"),
    }
}

/// Opens an ephemeral subscription of ia at `position`.
async fn open_at(analyst: &mut Client, position: Position) -> Subscription {
    let open =
        pb::OpenSubscription { start: Some(pb::StartPosition { position: Some(position) }), ..Default::default() };
    subscribe(analyst, open).await.expect("subscription opened")
}

/// Receives exactly `count` deliveries, acks them, and checks nothing else follows.
async fn drain(subscription: &mut Subscription, count: usize) -> Vec<pb::Delivery> {
    let deliveries = subscription.take(count, WAIT).await;
    subscription.ack(&deliveries).await;
    assert_quiet(subscription, Duration::from_millis(700), "more than expected").await;
    deliveries
}

fn now() -> prost_types::Timestamp {
    prost_types::Timestamp::from(std::time::SystemTime::now())
}

#[tokio::test]
async fn idempotent_publish_is_stored_once_and_reports_the_original_id() {
    let (nats, _gateway, mut cbp, mut analyst) = cbp_and_ia().await;
    let keyed = pb::Envelope { idempotency_key: "case-2026-0042:v1".into(), ..report("keyed") };

    let first = publish(&mut cbp, keyed.clone()).await;
    let retry = publish(&mut cbp, keyed.clone()).await;
    let (stored, repeated) = (delivered_to_ia(&first), delivered_to_ia(&retry));
    assert!(!stored.duplicate, "first publish marked duplicate: {first:?}");
    assert!(repeated.duplicate, "retry not marked duplicate: {retry:?}");
    assert_eq!(repeated.stream_sequence, stored.stream_sequence, "retry reports the original sequence");
    assert_eq!(repeated.subject, stored.subject);
    assert!(!first.message_id.is_empty());
    assert_eq!(retry.message_id, first.message_id, "retry reports the id the message was stored under");

    let other_key = pb::Envelope { idempotency_key: "case-2026-0042:v2".into(), ..report("other key") };
    let other = publish(&mut cbp, other_key).await;
    assert!(!delivered_to_ia(&other).duplicate, "a different key is a new message: {other:?}");
    assert!(delivered_to_ia(&other).stream_sequence > stored.stream_sequence);
    assert_ne!(other.message_id, first.message_id);

    // What NATS itself holds: two messages, the retry added nothing.
    let jetstream = async_nats::jetstream::new(nats.client().await);
    let mut stream = jetstream.get_stream(liaison::bus::FEED_STREAM).await.expect("feed stream");
    assert_eq!(liaison::bus::FEED_STREAM, "LIAISON_FEED");
    assert_eq!(stream.info().await.expect("stream info").state.messages, 2);

    let mut subscription = open_at(&mut analyst, Position::All(())).await;
    let deliveries = drain(&mut subscription, 2).await;
    let got: Vec<(u64, String, String)> = deliveries
        .iter()
        .map(|delivery| (delivery.stream_sequence, delivery.envelope.as_ref().unwrap().id.clone(), body(delivery)))
        .collect();
    let expected = vec![
        (stored.stream_sequence, first.message_id.clone(), "keyed".to_string()),
        (delivered_to_ia(&other).stream_sequence, other.message_id.clone(), "other key".to_string()),
    ];
    assert_eq!(got, expected, "the keyed message once, then the other");
}

#[tokio::test]
async fn from_sequence_starts_at_that_message() {
    let (_nats, _gateway, mut cbp, mut analyst) = cbp_and_ia().await;
    let published = publish_report_sequences(&mut cbp, "report", 6).await;

    let mut subscription = open_at(&mut analyst, Position::FromSequence(published[2])).await;
    let deliveries = drain(&mut subscription, 4).await;
    assert_eq!(sequences(&deliveries), published[2..].to_vec());
    let bodies: Vec<String> = deliveries.iter().map(body).collect();
    assert_eq!(bodies, ["report 2", "report 3", "report 4", "report 5"]);
}

#[tokio::test]
async fn from_time_delivers_only_what_was_stored_after_it() {
    let (_nats, _gateway, mut cbp, mut analyst) = cbp_and_ia().await;
    let before = now();
    let earlier = publish_report_sequences(&mut cbp, "earlier", 3).await;
    tokio::time::sleep(TIME_MARGIN).await;
    let mark = now();
    tokio::time::sleep(TIME_MARGIN).await;
    let later = publish_report_sequences(&mut cbp, "later", 3).await;

    let mut subscription = open_at(&mut analyst, Position::FromTime(mark)).await;
    let deliveries = drain(&mut subscription, 3).await;
    assert_eq!(sequences(&deliveries), later);
    for delivery in &deliveries {
        let stored_at = delivery.stored_at.expect("stored_at");
        assert!((stored_at.seconds, stored_at.nanos) >= (mark.seconds, mark.nanos), "{delivery:?} before the mark");
    }

    // A time before everything replays both batches.
    let mut everything = open_at(&mut analyst, Position::FromTime(before)).await;
    let all = drain(&mut everything, 6).await;
    assert_eq!(sequences(&all), [earlier, later].concat());
}

#[tokio::test]
async fn all_replays_everything_and_only_new_nothing_old() {
    let (_nats, _gateway, mut cbp, mut analyst) = cbp_and_ia().await;
    let old = publish_report_sequences(&mut cbp, "old", 4).await;

    let mut all = open_at(&mut analyst, Position::All(())).await;
    assert_eq!(sequences(&drain(&mut all, 4).await), old);

    let mut only_new = open_at(&mut analyst, Position::OnlyNew(())).await;
    assert_quiet(&mut only_new, Duration::from_secs(1), "only_new delivered old messages").await;
    // It is live: a message published now arrives, and nothing old with it.
    let new = publish_report_sequences(&mut cbp, "new", 1).await;
    let deliveries = drain(&mut only_new, 1).await;
    assert_eq!(sequences(&deliveries), new);
    assert_eq!(body(&deliveries[0]), "new 0");
}

/// Opens ia's durable `name` from the beginning.
async fn open_durable(analyst: &mut Client, name: &str) -> Subscription {
    let open = pb::OpenSubscription { durable_name: name.into(), start: from_beginning(), ..Default::default() };
    subscribe(analyst, open).await.expect("durable opened")
}

async fn seek(client: &mut Client, durable: &str, target: Option<pb::seek_request::Target>) -> pb::SeekResponse {
    let request = pb::SeekRequest { durable_name: durable.into(), target };
    client.seek(request).await.expect("seek accepted").into_inner()
}

/// Receives `expected` (in order) on a durable session, first attempts after a seek, and acks them.
async fn receive_again(subscription: &mut Subscription, expected: &[u64]) {
    let deliveries = drain(subscription, expected.len()).await;
    assert_eq!(sequences(&deliveries), expected);
    assert!(deliveries.iter().all(|delivery| delivery.delivery_attempt == 1), "{deliveries:?}");
}

#[tokio::test]
async fn seek_to_a_time_replays_later_messages_into_the_open_session() {
    let (nats, gateway, mut cbp, mut analyst) = cbp_and_ia().await;
    let earlier = publish_report_sequences(&mut cbp, "earlier", 5).await;
    tokio::time::sleep(TIME_MARGIN).await;
    let mark = now();
    tokio::time::sleep(TIME_MARGIN).await;
    let later = publish_report_sequences(&mut cbp, "later", 5).await;

    let mut session = open_durable(&mut analyst, "desk").await;
    assert_eq!(session.opened.subscription_id, "ia_desk");
    let all = drain(&mut session, 10).await;
    assert_eq!(sequences(&all), [earlier, later.clone()].concat());
    wait_ack_floor(&nats, "ia_desk", later[4]).await;

    // The session stays open while another client of ia moves the durable back.
    let mut desk_admin = gateway.client("ia", Role::Analyst).await;
    let moved = seek(&mut desk_admin, "desk", Some(pb::seek_request::Target::Time(mark))).await;
    assert_eq!(moved.subscription_id, "ia_desk");
    // Counted as of the move: the open session starting to take them at once must not lower it.
    assert_eq!(moved.pending, 5, "the five messages stored after the mark");
    receive_again(&mut session, &later).await;
}

#[tokio::test]
async fn seek_to_a_sequence_and_to_the_beginning() {
    let (nats, _gateway, mut cbp, mut analyst) = cbp_and_ia().await;
    let published = publish_report_sequences(&mut cbp, "report", 10).await;
    let mut session = open_durable(&mut analyst, "desk").await;
    assert_eq!(sequences(&drain(&mut session, 10).await), published);
    wait_ack_floor(&nats, "ia_desk", published[9]).await;

    // The session's own client may seek too; the Subscribe stream is independent of the unary call.
    let moved = seek(&mut analyst, "desk", Some(pb::seek_request::Target::Sequence(published[7]))).await;
    assert_eq!(moved.pending, 3);
    receive_again(&mut session, &published[7..]).await;
    wait_ack_floor(&nats, "ia_desk", published[9]).await;

    let moved = seek(&mut analyst, "desk", Some(pb::seek_request::Target::Beginning(()))).await;
    assert_eq!((moved.subscription_id.as_str(), moved.pending), ("ia_desk", 10));
    receive_again(&mut session, &published).await;
}

#[tokio::test]
async fn seek_under_a_full_window_voids_what_the_session_held() {
    let (_nats, _gateway, mut cbp, mut analyst) = cbp_and_ia().await;
    let published = publish_report_sequences(&mut cbp, "report", 6).await;
    // A window of two, held unacknowledged, with a deadline far longer than the test.
    let open = pb::OpenSubscription {
        durable_name: "desk".into(),
        start: from_beginning(),
        max_outstanding_messages: 2,
        ack_deadline: Some(prost_types::Duration { seconds: 300, nanos: 0 }),
        ..Default::default()
    };
    let mut session = subscribe(&mut analyst, open).await.expect("durable opened");
    let held = session.take(2, WAIT).await;
    assert_eq!(sequences(&held), published[..2]);
    assert_quiet(&mut session, Duration::from_millis(500), "the window is full").await;

    // Moving the durable voids the two held deliveries: the session goes on from the new position at
    // once, without waiting for them to be acked or to time out.
    let moved = seek(&mut analyst, "desk", Some(pb::seek_request::Target::Sequence(published[4]))).await;
    assert_eq!(moved.pending, 2);
    let resumed = session.take(2, WAIT).await;
    assert_eq!(sequences(&resumed), published[4..]);
    assert!(resumed.iter().all(|delivery| delivery.delivery_attempt == 1), "{resumed:?}");
}

#[tokio::test]
async fn seek_refuses_unknown_durables_missing_targets_and_other_parties() {
    let (nats, _gateway, mut cbp, mut analyst) = cbp_and_ia().await;
    let published = publish_report_sequences(&mut cbp, "report", 3).await;
    let mut session = open_durable(&mut analyst, "desk").await;
    assert_eq!(sequences(&drain(&mut session, 3).await), published);
    wait_ack_floor(&nats, "ia_desk", published[2]).await;

    let beginning = Some(pb::seek_request::Target::Beginning(()));
    let request = |name: &str, target| pb::SeekRequest { durable_name: name.into(), target };

    let status = analyst.seek(request("no-such-desk", beginning)).await.expect_err("unknown durable");
    assert_eq!(status.code(), tonic::Code::NotFound, "{status:?}");

    let status = analyst.seek(request("desk", None)).await.expect_err("no target");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("target"), "{status:?}");

    // cbp's "desk" is cbp's own durable, which does not exist: ia's is out of its reach.
    let status = cbp.seek(request("desk", beginning)).await.expect_err("other party's durable");
    assert_eq!(status.code(), tonic::Code::NotFound, "{status:?}");

    // None of these moved ia's durable: nothing is replayed, and it still delivers new messages.
    assert_quiet(&mut session, Duration::from_secs(1), "a refused seek moved the durable").await;
    let jetstream = async_nats::jetstream::new(nats.client().await);
    let stream = jetstream.get_stream(liaison::bus::FEED_STREAM).await.expect("feed stream");
    let info = stream.consumer_info("ia_desk").await.expect("ia_desk still exists");
    assert_eq!((info.num_pending, info.ack_floor.stream_sequence), (0, published[2]));
    let new = publish_report_sequences(&mut cbp, "new", 1).await;
    assert_eq!(sequences(&drain(&mut session, 1).await), new);
}

#[tokio::test]
async fn a_window_of_one_delivers_in_exact_publish_order() {
    let (_nats, _gateway, mut cbp, mut analyst) = cbp_and_ia().await;
    const COUNT: usize = 200;
    let published = publish_report_sequences(&mut cbp, "ordered", COUNT).await;
    let open = pb::OpenSubscription { start: from_beginning(), max_outstanding_messages: 1, ..Default::default() };
    let mut subscription = subscribe(&mut analyst, open).await.expect("subscription opened");
    assert_eq!(subscription.opened.max_outstanding_messages, 1);

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut received = Vec::with_capacity(COUNT);
    while received.len() < COUNT {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        assert!(!left.is_zero(), "only {} of {COUNT} delivered in time", received.len());
        let batch = subscription.next_batch(left).await;
        assert_eq!(batch.len(), 1, "a batch of {} with a window of one after {}", batch.len(), received.len());
        subscription.ack(&batch).await;
        received.extend(batch);
    }
    assert_quiet(&mut subscription, Duration::from_millis(700), "more than published").await;

    let bodies: Vec<String> = received.iter().map(body).collect();
    let expected: Vec<String> = (0..COUNT).map(|index| format!("ordered {index}")).collect();
    assert_eq!(bodies, expected, "bodies in publish order");
    assert_eq!(sequences(&received), published);
    assert!(received.iter().all(|delivery| delivery.delivery_attempt == 1));
}

#[tokio::test]
async fn a_nacked_message_comes_back_before_later_ones() {
    let (_nats, _gateway, mut cbp, mut analyst) = cbp_and_ia().await;
    let published = publish_report_sequences(&mut cbp, "report", 5).await;
    let open = pb::OpenSubscription { start: from_beginning(), max_outstanding_messages: 1, ..Default::default() };
    let mut subscription = subscribe(&mut analyst, open).await.expect("subscription opened");

    let mut order = Vec::new();
    for _ in 0..6 {
        let batch = subscription.next_batch(WAIT).await;
        assert_eq!(batch.len(), 1, "with a window of one, after {order:?}: {batch:?}");
        let delivery = &batch[0];
        order.push((delivery.stream_sequence, delivery.delivery_attempt));
        if (delivery.stream_sequence, delivery.delivery_attempt) == (published[2], 1) {
            let nack = pb::NegativeAcknowledge { ack_ids: vec![delivery.ack_id.clone()], redelivery_delay: None };
            subscription.requests.send(pb::SubscribeRequest { request: Some(Request::Nack(nack)) }).await.unwrap();
        } else {
            subscription.ack(&batch).await;
        }
    }
    assert_quiet(&mut subscription, Duration::from_millis(700), "more than expected").await;
    let expected = vec![
        (published[0], 1),
        (published[1], 1),
        (published[2], 1),
        (published[2], 2),
        (published[3], 1),
        (published[4], 1),
    ];
    assert_eq!(order, expected, "the nacked message again, then the rest in order");
    let distinct: BTreeSet<u64> = order.iter().map(|(sequence, _)| *sequence).collect();
    assert_eq!(distinct.len(), published.len());
}

/// A subscription idle for longer than a pull request lives (30 s) still gets what is published next: the
/// server answers the expired request, and the feed asks again (`bus/feed/pull.rs`).
#[tokio::test]
async fn an_idle_subscription_outlives_its_pull_requests() {
    let (_nats, _gateway, mut cbp, mut analyst) = cbp_and_ia().await;
    let mut subscription = subscribe(&mut analyst, pb::OpenSubscription::default()).await.expect("opened");
    assert_quiet(&mut subscription, Duration::from_secs(36), "nothing was published yet").await;
    let published = publish_report_sequences(&mut cbp, "after the expiry", 3).await;
    let received = subscription.take(3, WAIT).await;
    assert_eq!(sequences(&received), published);
}

/// A subscriber that holds its whole window, unacknowledged but within its ack deadline, keeps its
/// subscription for longer than a lane's last pull request (at most 45 s) and a minute: an ephemeral
/// consumer outlives its last pull by its ack deadline and a minute. The window is one message by bytes, so
/// the second message is pulled and waits in the session while the feed is not read.
#[tokio::test]
async fn a_subscriber_holding_its_window_past_the_inactivity_threshold_keeps_its_feed() {
    let (_nats, _gateway, mut cbp, mut analyst) = cbp_and_ia().await;
    let open = pb::OpenSubscription {
        start: from_beginning(),
        max_outstanding_bytes: 1,
        ack_deadline: Some(proto_duration(Duration::from_secs(300))),
        ..Default::default()
    };
    let mut subscription = subscribe(&mut analyst, open).await.expect("opened");
    let published = publish_report_sequences(&mut cbp, "held", 2).await;
    let first = subscription.take(1, WAIT).await;
    assert_eq!(sequences(&first), published[..1]);
    assert_quiet(&mut subscription, Duration::from_secs(120), "the window is full").await;
    subscription.ack(&first).await;
    let second = subscription.take(1, WAIT).await;
    assert_eq!(sequences(&second), published[1..]);
}
