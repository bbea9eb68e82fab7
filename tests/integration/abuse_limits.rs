//! Abuse limits per credential: publish rate and concurrent subscriptions -> RESOURCE_EXHAUSTED naming
//! the limit, an idle PublishStream is closed, and the gateway keeps serving everyone else. The feed
//! stream's consumer limit is set explicitly and reaching it is named too.

use crate::common;

use std::time::Duration;

use common::*;
use liaison::api as pb;
use liaison::identity::Role;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;

#[tokio::test]
async fn publish_rate_is_limited_per_credential() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start_with(Some(nats.url()), |config| config.limits.publish_rate = 1).await;
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    publish(&mut cbp, envelope(&["ia"], "border-security", b"first")).await;
    let status = cbp
        .publish(pb::PublishRequest { envelope: Some(envelope(&["ia"], "border-security", b"second")) })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(
        status.message().contains("publish rate") && status.message().contains("cbp/cbp-test"),
        "{}",
        status.message()
    );
    // Another credential has its own allowance.
    let mut tsa = gateway.client("tsa", Role::AgencySystem).await;
    publish(&mut tsa, envelope(&["ia"], "aviation-security", b"other credential")).await;
}

#[tokio::test]
async fn concurrent_subscriptions_are_capped_per_credential() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start_with(Some(nats.url()), |config| config.limits.max_subscriptions = 2).await;
    let mut analyst = gateway.client("ia", Role::Analyst).await;
    let first = subscribe(&mut analyst, pb::OpenSubscription::default()).await.unwrap();
    let _second = subscribe(&mut analyst, pb::OpenSubscription::default()).await.unwrap();
    let status = match subscribe(&mut analyst, pb::OpenSubscription::default()).await {
        Err(status) => status,
        Ok(_) => panic!("a third subscription was opened"),
    };
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(status.message().contains("at most 2"), "{}", status.message());

    // Closing one frees its slot (the session ends asynchronously: retry within a bound).
    drop(first);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match subscribe(&mut analyst, pb::OpenSubscription::default()).await {
            Ok(_) => break,
            Err(status) if status.code() == Code::ResourceExhausted => {
                assert!(tokio::time::Instant::now() < deadline, "slot not released");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(status) => panic!("unexpected {status}"),
        }
    }
}

#[tokio::test]
async fn an_idle_publish_stream_is_closed() {
    let nats = NatsServer::start().await;
    let gateway =
        TestGateway::start_with(Some(nats.url()), |config| config.limits.idle_timeout = Duration::from_secs(1)).await;
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    let (requests, outgoing) = tokio::sync::mpsc::channel::<pb::PublishStreamRequest>(4);
    let mut responses = cbp.publish_stream(ReceiverStream::new(outgoing)).await.unwrap().into_inner();
    requests
        .send(pb::PublishStreamRequest { envelope: Some(envelope(&["ia"], "border-security", b"one")) })
        .await
        .unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(10), responses.message()).await.unwrap().unwrap().unwrap();
    assert!(matches!(answer.result, Some(pb::publish_stream_response::Result::Receipt(_))));
    // Then silence, with the sending side still open: the gateway ends the stream.
    let end = tokio::time::timeout(Duration::from_secs(10), responses.message()).await.expect("stream not closed");
    let status = end.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded);
    assert!(status.message().contains("idle"), "{}", status.message());
    drop(requests);
}

#[tokio::test]
async fn the_feed_streams_consumer_limit_is_set_and_reaching_it_is_named() {
    let nats = NatsServer::start().await;
    // Room for two subscriptions of four lanes each, and one lane more: the third subscription's routine
    // lane is made and then removed again when its next lane finds no room.
    let gateway = TestGateway::start_with(Some(nats.url()), |config| config.stream.max_consumers = 9).await;
    let jetstream = async_nats::jetstream::new(nats.client().await);
    let mut stream = jetstream.get_stream(liaison::bus::FEED_STREAM).await.unwrap();
    // Explicit, not the server's default (1,000 on nats-server 2.15).
    assert_eq!(stream.info().await.unwrap().config.max_consumers, 9);

    let mut ia = gateway.client("ia", Role::Analyst).await;
    let mut fbi = gateway.client("fbi", Role::Analyst).await;
    let first = subscribe(&mut ia, pb::OpenSubscription::default()).await.unwrap();
    let _second = subscribe(&mut fbi, pb::OpenSubscription::default()).await.unwrap();
    let status = subscribe(&mut ia, pb::OpenSubscription::default()).await.err().expect("over the limit");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("--max-consumers"), "{}", status.message());
    assert_eq!(stream.info().await.unwrap().state.consumer_count, 8, "the refused subscription left no consumer");

    // Ending a subscription frees its consumers for the next one.
    drop(first);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match subscribe(&mut ia, pb::OpenSubscription::default()).await {
            Ok(_) => break,
            Err(status) => assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}"),
        }
        assert!(tokio::time::Instant::now() < deadline, "the ended subscription's consumer was not removed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Each refusal is RESOURCE_EXHAUSTED and names the flag that sets the limit.
fn assert_exhausted(status: &tonic::Status, flag: &str) {
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains(flag), "names {flag}: {}", status.message());
}

#[tokio::test]
async fn publish_streams_audit_queries_and_traffic_watches_are_capped_per_credential() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start_with(Some(nats.url()), |config| {
        config.limits.max_publish_streams = 1;
        config.limits.max_audit_queries = 1;
        config.limits.max_traffic_watches = 1;
        config.limits.publish_rate = 0;
    })
    .await;
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    let (requests, outgoing) = tokio::sync::mpsc::channel::<pb::PublishStreamRequest>(64);
    let mut receipts = cbp.publish_stream(ReceiverStream::new(outgoing)).await.unwrap().into_inner();
    let (_unused, idle) = tokio::sync::mpsc::channel::<pb::PublishStreamRequest>(1);
    let second = cbp.publish_stream(ReceiverStream::new(idle)).await.expect_err("a second stream is refused");
    assert_exhausted(&second, "--max-publish-streams");
    // Enough audit records that one query's answer cannot all sit in the client's HTTP/2 window.
    const MESSAGES: usize = 1500;
    let sender = tokio::spawn(async move {
        for n in 0..MESSAGES {
            let envelope = envelope(&["ia"], "border-security", format!("report {n}").as_bytes());
            requests.send(pb::PublishStreamRequest { envelope: Some(envelope) }).await.unwrap();
        }
    });
    for _ in 0..MESSAGES {
        receipts.message().await.unwrap().expect("a receipt per publish");
    }
    sender.await.unwrap();
    drop(receipts);

    // HTTP/2's smallest windows, so the answer waits on the client reading it and the query stays running.
    let channel = tonic::transport::Endpoint::from_shared(gateway.url())
        .unwrap()
        .initial_stream_window_size(65_535)
        .initial_connection_window_size(65_535)
        .connect()
        .await
        .unwrap();
    let header: tonic::metadata::MetadataValue<_> =
        format!("Bearer {}", gateway.token("ia", Role::Operator)).parse().unwrap();
    let authorize: Authorize = Box::new(move |mut request| {
        request.metadata_mut().insert("authorization", header.clone());
        Ok(request)
    });
    let mut operator =
        liaison::api::operator_service_client::OperatorServiceClient::with_interceptor(channel, authorize);
    let query = pb::QueryAuditRequest { limit: 100_000, ..Default::default() };
    let mut unread = operator.query_audit(query.clone()).await.unwrap().into_inner();
    let status = operator.query_audit(query.clone()).await.expect_err("a second query while one runs");
    assert_exhausted(&status, "--max-audit-queries");
    let review = operator.list_review_due(pb::ListReviewDueRequest::default()).await;
    assert_exhausted(&review.expect_err("a review listing is an audit read too"), "--max-audit-queries");
    let mut read = 0;
    while unread.message().await.unwrap().is_some() {
        read += 1;
    }
    assert!(read >= MESSAGES, "the first query answered in full: {read}");
    let mut again = operator.query_audit(query).await.expect("the finished query freed its slot").into_inner();
    assert!(again.message().await.unwrap().is_some());

    let watch = pb::WatchTrafficRequest { interval_ms: 100, party: "ia".into() };
    let first = operator.watch_traffic(watch.clone()).await.unwrap().into_inner();
    let status = operator.watch_traffic(watch.clone()).await.expect_err("a second watch is refused");
    assert_exhausted(&status, "--max-traffic-watches");
    // Another credential of the same party has its own allowance.
    let mut other = operator_with_token(&gateway.url(), &token_of(&gateway, "ia", "other-desk", Role::Operator)).await;
    other.watch_traffic(watch.clone()).await.expect("another credential may watch");
    // The slot is released when the server side of the watch ends, a moment after the client drops it.
    drop(first);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while let Err(status) = operator.watch_traffic(watch.clone()).await {
        assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
        assert!(tokio::time::Instant::now() < deadline, "slot not released");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn token_of(gateway: &TestGateway, party: &str, subject: &str, role: Role) -> String {
    let party = liaison::model::Token::parse(party).unwrap();
    gateway.issuer().issue(&party, role, subject, Duration::from_secs(600)).unwrap()
}

#[tokio::test]
async fn a_party_holds_only_so_many_durables_and_reopening_one_is_not_a_new_one() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start_with(Some(nats.url()), |config| config.limits.max_durables_per_party = 2).await;
    let mut ia = gateway.client("ia", Role::Analyst).await;
    let durable = |name: &str| pb::OpenSubscription { durable_name: name.into(), ..Default::default() };
    drop(subscribe(&mut ia, durable("desk-a")).await.unwrap());
    drop(subscribe(&mut ia, durable("desk-b")).await.unwrap());
    let status = subscribe(&mut ia, durable("desk-c")).await.err().expect("a third durable is refused");
    assert_exhausted(&status, "--max-durables-per-party");
    assert!(status.message().contains("party ia has 2"), "{}", status.message());
    // Counted per party over every credential, not per session: another analyst of ia is refused too.
    let mut colleague = client_with_header(
        &gateway.url(),
        Some(format!("Bearer {}", token_of(&gateway, "ia", "colleague", Role::Analyst))),
    )
    .await;
    let status = subscribe(&mut colleague, durable("desk-d")).await.err().expect("still two durables");
    assert_exhausted(&status, "--max-durables-per-party");
    subscribe(&mut ia, durable("desk-a")).await.expect("an existing durable reopens");
    subscribe(&mut ia, pb::OpenSubscription::default()).await.expect("ephemeral subscriptions are not durables");
    let mut fbi = gateway.client("fbi", Role::Analyst).await;
    subscribe(&mut fbi, durable("desk-c")).await.expect("another party has its own allowance");
}

#[tokio::test]
async fn consumer_creation_is_rate_limited_per_credential_for_opens_and_seeks() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start_with(Some(nats.url()), |config| config.limits.consumer_rate = 2).await;
    let mut ia = gateway.client("ia", Role::Analyst).await;
    let open = pb::OpenSubscription { durable_name: "desk".into(), ..Default::default() };
    drop(subscribe(&mut ia, open.clone()).await.unwrap());
    let seek = pb::SeekRequest { durable_name: "desk".into(), target: Some(pb::seek_request::Target::Beginning(())) };
    ia.seek(seek.clone()).await.expect("the second consumer of the second");
    let status = subscribe(&mut ia, open.clone()).await.err().expect("a third consumer in the second");
    assert_exhausted(&status, "--consumer-rate");
    let status = ia.seek(seek.clone()).await.expect_err("a seek is a consumer creation too");
    assert_exhausted(&status, "--consumer-rate");
    let mut fbi = gateway.client("fbi", Role::Analyst).await;
    subscribe(&mut fbi, pb::OpenSubscription::default()).await.expect("another credential has its own allowance");
    // The allowance refills at the rate: two a second.
    tokio::time::sleep(Duration::from_millis(600)).await;
    subscribe(&mut ia, open).await.expect("allowed again after the refill");
}

#[tokio::test]
async fn ack_lists_are_capped_and_each_id_is_acted_on_once() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start_with(Some(nats.url()), |config| config.limits.max_ack_ids = 3).await;
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    let mut ia = gateway.client("ia", Role::Analyst).await;
    let open = pb::OpenSubscription { durable_name: "desk".into(), start: from_beginning(), ..Default::default() };
    let mut subscription = subscribe(&mut ia, open.clone()).await.unwrap();
    publish(&mut cbp, envelope(&["ia"], "border-security", b"once")).await;
    let delivery = subscription.take(1, Duration::from_secs(10)).await.remove(0);
    assert_eq!(delivery.delivery_attempt, 1);
    // The same id three times is one nack: the message comes back as attempt 2, once.
    let ack_ids = vec![delivery.ack_id.clone(); 3];
    let nack = pb::NegativeAcknowledge { ack_ids, redelivery_delay: None };
    let request = pb::subscribe_request::Request::Nack(nack);
    subscription.requests.send(pb::SubscribeRequest { request: Some(request) }).await.unwrap();
    let again = subscription.take(1, Duration::from_secs(10)).await.remove(0);
    assert_eq!((again.stream_sequence, again.delivery_attempt), (delivery.stream_sequence, 2));
    subscription.ack(std::slice::from_ref(&again)).await;
    assert!(subscription.next_batch(Duration::from_secs(2)).await.is_empty(), "nacked once, delivered once more");

    // Four ids is over the cap: the stream ends, naming the flag.
    let ack_ids = (1..=4).map(|n| n.to_string()).collect();
    let request = pb::subscribe_request::Request::Ack(pb::Acknowledge { ack_ids });
    subscription.requests.send(pb::SubscribeRequest { request: Some(request) }).await.unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), subscription.responses.message())
        .await
        .expect("answered")
        .expect_err("the over-long ack list ends the stream");
    assert_exhausted(&status, "--max-ack-ids");
    subscribe(&mut ia, open).await.expect("the gateway keeps serving the subscriber");
}

#[tokio::test]
async fn a_nack_waits_at_most_the_maximum_backoff_whatever_it_asks() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    let mut ia = gateway.client("ia", Role::Analyst).await;
    let retry_policy = pb::RetryPolicy {
        minimum_backoff: Some(proto_duration(Duration::from_millis(100))),
        maximum_backoff: Some(proto_duration(Duration::from_secs(1))),
    };
    let open = pb::OpenSubscription { retry_policy: Some(retry_policy), ..Default::default() };
    let mut subscription = subscribe(&mut ia, open).await.unwrap();
    publish(&mut cbp, envelope(&["ia"], "border-security", b"later")).await;
    let delivery = subscription.take(1, Duration::from_secs(10)).await.remove(0);
    subscription.nack(&delivery, Some(Duration::from_secs(24 * 3600))).await;
    // Asked for a day; the policy's maximum backoff is a second.
    let again = subscription.take(1, Duration::from_secs(10)).await.remove(0);
    assert_eq!((again.stream_sequence, again.delivery_attempt), (delivery.stream_sequence, 2));
}
