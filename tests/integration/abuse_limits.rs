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
    let gateway = TestGateway::start_with(Some(nats.url()), |config| config.stream.max_consumers = 2).await;
    let jetstream = async_nats::jetstream::new(nats.client().await);
    let mut stream = jetstream.get_stream(liaison::bus::FEED_STREAM).await.unwrap();
    // Explicit, not the server's default (1,000 on nats-server 2.15).
    assert_eq!(stream.info().await.unwrap().config.max_consumers, 2);

    let mut ia = gateway.client("ia", Role::Analyst).await;
    let mut fbi = gateway.client("fbi", Role::Analyst).await;
    let first = subscribe(&mut ia, pb::OpenSubscription::default()).await.unwrap();
    let _second = subscribe(&mut fbi, pb::OpenSubscription::default()).await.unwrap();
    let status = subscribe(&mut ia, pb::OpenSubscription::default()).await.err().expect("over the limit");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("--max-consumers"), "{}", status.message());

    // Ending a subscription frees its consumer for the next one.
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
