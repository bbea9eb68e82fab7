//! Durable subscriptions resume after their last ack across client reconnects and gateway restarts, and
//! clients sharing one durable name split its messages between them, each message delivered once.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::*;
use liaison::api as pb;
use liaison::identity::Role;

const WAIT: Duration = Duration::from_secs(10);
/// The short ack deadline used so that deliveries left unacked by a gone client come back quickly.
const ACK_DEADLINE: Duration = Duration::from_secs(1);

fn open_durable(name: &str, ack_deadline: Option<Duration>, max_outstanding: u32) -> pb::OpenSubscription {
    pb::OpenSubscription {
        durable_name: name.to_string(),
        // Used when the durable is created; ignored when it is re-opened.
        start: from_beginning(),
        ack_deadline: ack_deadline.map(|deadline| prost_types::Duration::try_from(deadline).unwrap()),
        max_outstanding_messages: max_outstanding,
        ..Default::default()
    }
}

/// Receives and acks until every sequence in `expected` has arrived (bounded), then keeps listening past
/// the ack deadline to catch anything that should not come. Returns every delivery received.
async fn receive_all(subscription: &mut Subscription, expected: &BTreeSet<u64>) -> Vec<pb::Delivery> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut received: Vec<pb::Delivery> = Vec::new();
    loop {
        let seen: BTreeSet<u64> = received.iter().map(|delivery| delivery.stream_sequence).collect();
        if expected.is_subset(&seen) {
            break;
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        assert!(!left.is_zero(), "expected {expected:?}, got only {seen:?}");
        let batch = subscription.next_batch(left).await;
        subscription.ack(&batch).await;
        received.extend(batch);
    }
    let extra = subscription.next_batch(ACK_DEADLINE * 2 + Duration::from_millis(500)).await;
    received.extend(extra);
    received
}

/// Checks a resumed session: exactly `expected` arrived, each once, with the right message ids, and every
/// sequence in `redelivered` (handed to an earlier session but never acked) as a later attempt.
fn check_resumed(
    received: &[pb::Delivery],
    expected: &BTreeSet<u64>,
    redelivered: &BTreeSet<u64>,
    published: &BTreeMap<u64, String>,
) {
    let mut got = sequences(received);
    got.sort();
    assert_eq!(got, expected.iter().copied().collect::<Vec<_>>(), "exactly the unacked and new messages, once each");
    for delivery in received {
        let sequence = delivery.stream_sequence;
        assert_eq!(delivery.envelope.as_ref().unwrap().id, published[&sequence], "message id of {sequence}");
        if redelivered.contains(&sequence) {
            assert!(delivery.delivery_attempt >= 2, "{sequence} was delivered before: {delivery:?}");
        }
    }
}

#[tokio::test]
async fn durable_subscription_resumes_after_the_client_reconnects() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    let mut published = publish_reports(&mut cbp, "report", 5).await.into_iter().collect::<BTreeMap<_, _>>();

    let mut analyst = gateway.client("ia", Role::Analyst).await;
    let mut first = subscribe(&mut analyst, open_durable("desk", Some(ACK_DEADLINE), 0)).await.unwrap();
    assert_eq!(first.opened.subscription_id, "ia_desk");
    let mut deliveries = first.take(5, WAIT).await;
    deliveries.sort_by_key(|delivery| delivery.stream_sequence);
    assert_eq!(sequences(&deliveries), published.keys().copied().collect::<Vec<_>>());
    let (acked, unacked) = deliveries.split_at(2);
    first.ack(acked).await;
    wait_ack_floor(&nats, "ia_desk", acked[1].stream_sequence).await;
    drop(first);

    let newer = publish_reports(&mut cbp, "report", 3).await.into_iter().collect::<BTreeMap<_, _>>();
    published.extend(newer.clone());

    let mut analyst = gateway.client("ia", Role::Analyst).await;
    let mut second = subscribe(&mut analyst, open_durable("desk", Some(ACK_DEADLINE), 0)).await.unwrap();
    assert_eq!(second.opened.subscription_id, "ia_desk");
    let redelivered: BTreeSet<u64> = sequences(unacked).into_iter().collect();
    let expected: BTreeSet<u64> = redelivered.iter().chain(newer.keys()).copied().collect();
    assert_eq!(expected.len(), 6);
    let received = receive_all(&mut second, &expected).await;
    check_resumed(&received, &expected, &redelivered, &published);
}

#[tokio::test]
async fn a_closed_session_hands_back_what_it_held_without_waiting_for_the_ack_deadline() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    let published = publish_reports(&mut cbp, "report", 6).await.into_iter().collect::<BTreeMap<_, _>>();
    // A deadline far longer than the test: anything that comes back came back because it was handed back.
    let long_deadline = Some(Duration::from_secs(300));

    let mut analyst = gateway.client("ia", Role::Analyst).await;
    let mut first = subscribe(&mut analyst, open_durable("slow-desk", long_deadline, 2)).await.unwrap();
    let held = first.take(2, WAIT).await;
    first.ack(&held[..1]).await;
    wait_ack_floor(&nats, "ia_slow-desk", held[0].stream_sequence).await;
    drop(first);

    let mut analyst = gateway.client("ia", Role::Analyst).await;
    let mut second = subscribe(&mut analyst, open_durable("slow-desk", long_deadline, 0)).await.unwrap();
    let expected: BTreeSet<u64> =
        published.keys().copied().filter(|&sequence| sequence != held[0].stream_sequence).collect();
    let received = receive_all(&mut second, &expected).await;
    let redelivered = BTreeSet::from([held[1].stream_sequence]);
    check_resumed(&received, &expected, &redelivered, &published);
}

#[tokio::test]
async fn durable_subscription_survives_a_gateway_restart() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    let mut published = publish_reports(&mut cbp, "report", 3).await.into_iter().collect::<BTreeMap<_, _>>();

    let mut analyst = gateway.client("ia", Role::Analyst).await;
    let mut first = subscribe(&mut analyst, open_durable("night-desk", Some(ACK_DEADLINE), 0)).await.unwrap();
    let mut deliveries = first.take(3, WAIT).await;
    deliveries.sort_by_key(|delivery| delivery.stream_sequence);
    first.ack(&deliveries[..2]).await;
    wait_ack_floor(&nats, "ia_night-desk", deliveries[1].stream_sequence).await;

    // Stop the gateway under the open subscription: the client's stream ends.
    let data_dir = tokio::time::timeout(WAIT, gateway.stop()).await.expect("gateway stopped in time");
    let end = tokio::time::timeout(WAIT, first.responses.message()).await.expect("stream ended in time");
    assert!(!matches!(end, Ok(Some(_))), "subscription still delivering after stop: {end:?}");
    drop(first);

    let gateway = TestGateway::start_in(data_dir, Some(nats.url()), |_| {}).await;
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    let newer = publish_reports(&mut cbp, "report", 2).await.into_iter().collect::<BTreeMap<_, _>>();
    published.extend(newer.clone());

    let mut analyst = gateway.client("ia", Role::Analyst).await;
    let mut second = subscribe(&mut analyst, open_durable("night-desk", Some(ACK_DEADLINE), 0)).await.unwrap();
    assert_eq!(second.opened.subscription_id, "ia_night-desk");
    let redelivered = BTreeSet::from([deliveries[2].stream_sequence]);
    let expected: BTreeSet<u64> = redelivered.iter().chain(newer.keys()).copied().collect();
    let received = receive_all(&mut second, &expected).await;
    check_resumed(&received, &expected, &redelivered, &published);
}

/// Receives and acks on one subscription until `total` distinct sequences have been seen across both
/// clients (or the time is up); returns what this client received.
async fn work(
    subscription: &mut Subscription,
    seen: &std::sync::Mutex<BTreeSet<u64>>,
    total: usize,
    deadline: tokio::time::Instant,
) -> Vec<pb::Delivery> {
    let mut received = Vec::new();
    while seen.lock().unwrap().len() < total && tokio::time::Instant::now() < deadline {
        let batch = subscription.next_batch(Duration::from_millis(200)).await;
        subscription.ack(&batch).await;
        seen.lock().unwrap().extend(sequences(&batch));
        received.extend(batch);
    }
    received
}

#[tokio::test]
async fn clients_sharing_a_durable_name_split_its_messages() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let mut alice = gateway.client("ia", Role::Analyst).await;
    let mut bob = gateway.client("ia", Role::Analyst).await;
    // The default 30 s deadline: nothing may be redelivered during the test, so any repeat is a fault.
    let mut first = subscribe(&mut alice, open_durable("watch-floor", None, 2)).await.unwrap();
    let mut second = subscribe(&mut bob, open_durable("watch-floor", None, 2)).await.unwrap();
    assert_eq!(first.opened.subscription_id, second.opened.subscription_id);

    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    let published = publish_reports(&mut cbp, "report", 20).await.into_iter().collect::<BTreeMap<_, _>>();

    let seen = std::sync::Mutex::new(BTreeSet::new());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let (mut got_first, mut got_second) = tokio::join!(
        work(&mut first, &seen, published.len(), deadline),
        work(&mut second, &seen, published.len(), deadline),
    );
    // Nothing further arrives on either client.
    let (extra_first, extra_second) =
        tokio::join!(first.next_batch(Duration::from_secs(1)), second.next_batch(Duration::from_secs(1)));
    got_first.extend(extra_first);
    got_second.extend(extra_second);

    let mut all = sequences(&got_first);
    all.extend(sequences(&got_second));
    all.sort();
    assert_eq!(all, published.keys().copied().collect::<Vec<_>>(), "every message exactly once across both");
    for delivery in got_first.iter().chain(&got_second) {
        assert_eq!(delivery.delivery_attempt, 1);
        assert_eq!(delivery.envelope.as_ref().unwrap().id, published[&delivery.stream_sequence]);
    }
    assert!(
        !got_first.is_empty() && !got_second.is_empty(),
        "work not shared: {} and {}",
        got_first.len(),
        got_second.len()
    );
}

#[tokio::test]
async fn an_unused_durable_expires_but_not_while_a_session_holds_it() {
    const EXPIRY: Duration = Duration::from_secs(2);
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start_with(Some(nats.url()), |config| config.limits.durable_expiry = EXPIRY).await;
    let jetstream = async_nats::jetstream::new(nats.client().await);
    let feed_stream = jetstream.get_stream(liaison::bus::FEED_STREAM).await.unwrap();
    let exists = |name: &'static str| {
        let feed_stream = feed_stream.clone();
        async move { feed_stream.consumer_info(name).await.is_ok() }
    };

    let mut analyst = gateway.client("ia", Role::Analyst).await;
    let mut session = subscribe(&mut analyst, open_durable("night-shift", None, 0)).await.unwrap();
    let info = feed_stream.consumer_info("ia_night-shift").await.unwrap();
    assert_eq!(info.config.inactive_threshold, EXPIRY);
    // Held open for well over the expiry: the session's pull requests keep it.
    tokio::time::sleep(EXPIRY * 3).await;
    assert!(exists("ia_night-shift").await, "a durable in use was deleted");
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    let published = publish_reports(&mut cbp, "report", 1).await.into_iter().collect::<BTreeMap<_, _>>();
    let got = session.take(1, WAIT).await;
    assert_eq!(got[0].stream_sequence, *published.keys().next().unwrap());
    session.ack(&got).await;
    drop(session);

    // The server counts the gone session's last pull request (30 s expiry) as use until it expires; the
    // durable goes about 32 s after the session ended.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while exists("ia_night-shift").await {
        assert!(tokio::time::Instant::now() < deadline, "an unused durable was kept");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
