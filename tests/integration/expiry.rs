//! Expiry and retry timing: an envelope's `expires_at` must be in the future, an expired message is not
//! delivered (first time or again) and the stream drops it at its TTL, and a subscription's retry policy
//! spaces out redeliveries after nacks, refusing policies outside its documented bounds.

use crate::common;

use std::time::Duration;

use common::*;
use liaison::api as pb;
use prost::Message;

const WAIT: Duration = Duration::from_secs(10);

/// A timestamp `offset` from now, in the past when `ahead` is false.
fn from_now(offset: Duration, ahead: bool) -> prost_types::Timestamp {
    let now = std::time::SystemTime::now();
    prost_types::Timestamp::from(if ahead { now + offset } else { now - offset })
}

/// A report from cbp to ia with `body`, expiring at `expires_at` if given.
fn report(body: &str, expires_at: Option<prost_types::Timestamp>) -> pb::Envelope {
    pb::Envelope { expires_at, ..envelope(&["ia"], "cyber-crime", body.as_bytes()) }
}

async fn open(analyst: &mut Client, ack_deadline: Option<Duration>, retry: Option<pb::RetryPolicy>) -> Subscription {
    let open = pb::OpenSubscription {
        start: from_beginning(),
        ack_deadline: ack_deadline.map(proto_duration),
        retry_policy: retry,
        ..Default::default()
    };
    subscribe(analyst, open).await.expect("subscription opened")
}

async fn feed_stream(nats: &NatsServer) -> async_nats::jetstream::stream::Stream {
    let jetstream = async_nats::jetstream::new(nats.client().await);
    jetstream.get_stream(liaison::bus::FEED_STREAM).await.expect("feed stream")
}

async fn stored_messages(stream: &mut async_nats::jetstream::stream::Stream) -> u64 {
    stream.info().await.expect("stream info").state.messages
}

#[tokio::test]
async fn an_expiry_in_the_past_is_refused() {
    let (nats, _gateway, mut cbp, _analyst) = cbp_and_ia().await;
    let stale = report("stale", Some(from_now(Duration::from_secs(5), false)));
    let status = cbp.publish(pb::PublishRequest { envelope: Some(stale) }).await.expect_err("past expiry");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("envelope.expires_at"), "{status:?}");
    assert_eq!(stored_messages(&mut feed_stream(&nats).await).await, 0, "a refused message was stored");

    // The same message with a future expiry is accepted.
    publish(&mut cbp, report("fresh", Some(from_now(Duration::from_secs(60), true)))).await;
}

#[tokio::test]
async fn an_expired_message_is_not_delivered_and_the_stream_drops_it() {
    let (nats, _gateway, mut cbp, mut analyst) = cbp_and_ia().await;
    let published_at = tokio::time::Instant::now();
    let short = publish(&mut cbp, report("short-lived", Some(from_now(Duration::from_secs(2), true)))).await;
    let lasting = publish(&mut cbp, report("lasting", None)).await;
    let short_sequence = delivered_sequence(&short, "ia");

    // Both are stored, the expiring one with a NATS per-message TTL.
    let mut stream = feed_stream(&nats).await;
    assert_eq!(stored_messages(&mut stream).await, 2);
    let raw = stream.get_raw_message(short_sequence).await.expect("expiring message stored");
    let ttl = raw.headers.get(async_nats::header::NATS_MESSAGE_TTL).map(|value| value.as_str().to_string());
    assert_eq!(ttl.as_deref(), Some("2"), "TTL header: {:?}", raw.headers);

    // Nobody reads while it expires; a subscriber from the beginning then sees only the lasting one.
    tokio::time::sleep_until(published_at + Duration::from_secs(3)).await;
    let mut subscription = open(&mut analyst, None, None).await;
    let deliveries = subscription.take(1, WAIT).await;
    assert_eq!(
        (deliveries[0].stream_sequence, body(&deliveries[0])),
        (delivered_sequence(&lasting, "ia"), "lasting".into())
    );
    subscription.ack(&deliveries).await;
    assert_quiet(&mut subscription, Duration::from_secs(1), "expired message delivered").await;

    // The server dropped it at its TTL.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while stored_messages(&mut stream).await != 1 {
        assert!(tokio::time::Instant::now() < deadline, "the expired message is still stored");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(stream.get_raw_message(short_sequence).await.is_err(), "expired message still readable");
}

/// Copies stored without a TTL (a pre-2.11 server, or written by hand) are checked at delivery too.
#[tokio::test]
async fn an_expired_copy_still_in_the_stream_is_not_delivered() {
    let (nats, _gateway, mut cbp, mut analyst) = cbp_and_ia().await;
    let receipt = publish(&mut cbp, report("template", None)).await;
    let subject = match &receipt.outcomes[0].outcome {
        Some(pb::recipient_outcome::Outcome::Delivered(delivered)) => delivered.subject.clone(),
        other => panic!("not delivered: {other:?}"),
    };
    // Stored copies as the gateway writes them, one long expired, one not expiring, straight into the stream.
    let jetstream = async_nats::jetstream::new(nats.client().await);
    for (body, expires_at) in [("expired", Some(from_now(Duration::from_secs(60), false))), ("current", None)] {
        let copy = pb::Envelope { id: ulid::Ulid::new().to_string(), origin: "cbp".into(), ..report(body, expires_at) };
        jetstream.publish(subject.clone(), copy.encode_to_vec().into()).await.unwrap().await.expect("stored");
    }
    assert_eq!(stored_messages(&mut feed_stream(&nats).await).await, 3);

    let mut subscription = open(&mut analyst, Some(Duration::from_secs(1)), None).await;
    let deliveries = subscription.take(2, WAIT).await;
    let bodies: Vec<String> = deliveries.iter().map(body).collect();
    assert_eq!(bodies, ["template", "current"]);
    subscription.ack(&deliveries).await;
    // Past the 1 s deadline: the expired copy was settled for good, not merely skipped once.
    assert_quiet(&mut subscription, Duration::from_millis(2500), "expired copy delivered").await;
}

#[tokio::test]
async fn an_unacked_message_that_expires_before_its_redelivery_is_not_delivered_again() {
    let (_nats, _gateway, mut cbp, mut analyst) = cbp_and_ia().await;
    let short = publish(&mut cbp, report("short-lived", Some(from_now(Duration::from_secs(2), true)))).await;
    let lasting = publish(&mut cbp, report("lasting", None)).await;
    let (short, lasting) = (delivered_sequence(&short, "ia"), delivered_sequence(&lasting, "ia"));
    // Opening 1.1 s in, the first delivery comes before the expiry and the earliest redelivery
    // (one 1 s ack deadline later) after it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut subscription = open(&mut analyst, Some(Duration::from_secs(1)), None).await;
    let first = subscription.take(2, WAIT).await;
    assert_eq!(first.iter().map(|delivery| delivery.stream_sequence).collect::<Vec<_>>(), [short, lasting]);

    // Nothing is acked: the lasting message keeps coming back, the expired one never does.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(4);
    let mut again = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            break;
        }
        again.extend(subscription.next_batch(left).await);
    }
    assert!(again.iter().all(|delivery| delivery.stream_sequence == lasting), "expired redelivered: {again:?}");
    assert!(again.iter().any(|delivery| delivery.delivery_attempt >= 2), "no redelivery at all: {again:?}");
}

#[tokio::test]
async fn a_retry_policy_spaces_out_redeliveries_after_nacks() {
    let (_nats, _gateway, mut cbp, mut analyst) = cbp_and_ia().await;
    let sequence = delivered_sequence(&publish(&mut cbp, report("flaky", None)).await, "ia");
    let retry = pb::RetryPolicy {
        minimum_backoff: Some(proto_duration(Duration::from_secs(1))),
        maximum_backoff: Some(proto_duration(Duration::from_secs(10))),
    };
    // The default 30 s deadline: any redelivery within the test is the nack's doing.
    let mut subscription = open(&mut analyst, None, Some(retry)).await;

    let first = subscription.take(1, WAIT).await.remove(0);
    assert_eq!((first.stream_sequence, first.delivery_attempt), (sequence, 1));
    let nacked_at = tokio::time::Instant::now();
    subscription.nack(&first, None).await;
    assert_quiet(&mut subscription, Duration::from_millis(700), "redelivered before the 1 s backoff").await;
    let second = subscription.take(1, Duration::from_secs(5)).await.remove(0);
    let waited = nacked_at.elapsed();
    assert!(waited >= Duration::from_millis(900), "back after {waited:?}, before the 1 s backoff");
    assert_eq!((second.stream_sequence, second.delivery_attempt), (sequence, 2));

    // The second attempt backs off twice as long.
    let nacked_at = tokio::time::Instant::now();
    subscription.nack(&second, None).await;
    assert_quiet(&mut subscription, Duration::from_millis(1700), "redelivered before the 2 s backoff").await;
    let third = subscription.take(1, Duration::from_secs(5)).await.remove(0);
    let waited = nacked_at.elapsed();
    assert!(waited >= Duration::from_millis(1900), "back after {waited:?}, before the 2 s backoff");
    assert_eq!((third.stream_sequence, third.delivery_attempt), (sequence, 3));
    subscription.ack(&[third]).await;
}

#[tokio::test]
async fn retry_policies_outside_the_bounds_are_refused() {
    let (_nats, _gateway, _cbp, mut analyst) = cbp_and_ia().await;
    let policy = |minimum: Duration, maximum: Option<Duration>| pb::RetryPolicy {
        minimum_backoff: Some(proto_duration(minimum)),
        maximum_backoff: maximum.map(proto_duration),
    };
    let cases = [
        ("minimum above maximum", policy(Duration::from_secs(2), Some(Duration::from_secs(1)))),
        ("minimum below 10 ms", policy(Duration::from_millis(5), Some(Duration::from_secs(1)))),
        ("minimum below 10 ms, default maximum", policy(Duration::from_millis(5), None)),
        ("maximum above an hour", policy(Duration::from_secs(1), Some(Duration::from_secs(3601)))),
    ];
    for (case, retry) in cases {
        let open = pb::OpenSubscription { retry_policy: Some(retry), ..Default::default() };
        let status = subscribe(&mut analyst, open).await.err().unwrap_or_else(|| panic!("{case}: accepted"));
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{case}: {status:?}");
        assert!(status.message().contains("open.retry_policy"), "{case}: {status:?}");
    }
    // The bounds themselves are accepted.
    let edge = policy(Duration::from_millis(10), Some(Duration::from_secs(3600)));
    subscribe(&mut analyst, pb::OpenSubscription { retry_policy: Some(edge), ..Default::default() })
        .await
        .expect("10 ms to 1 h accepted");
}
