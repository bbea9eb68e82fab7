//! What one client connection may hold: concurrent HTTP/2 streams, the size of its request headers, and
//! the keepalive that closes a connection whose peer has gone silent. (The TLS handshake timeout is in
//! `tls.rs`, beside the certificates it needs.)

use crate::common;

use std::time::Duration;

use common::*;
use liaison::api as pb;
use liaison::identity::Role;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::metadata::MetadataValue;

#[tokio::test]
async fn calls_beyond_the_streams_a_connection_may_hold_wait_for_one_to_end() {
    let nats = NatsServer::start().await;
    let gateway =
        TestGateway::start_with(Some(nats.url()), |config| config.limits.connection.max_concurrent_streams = 2).await;
    // Clients on one channel share its connection.
    let channel = gateway.channel().await.unwrap();
    let token = gateway.token("ia", Role::Analyst);
    let mut ia = client_on(channel.clone(), &token);
    let first = subscribe(&mut ia, pb::OpenSubscription::default()).await.unwrap();
    let _second = subscribe(&mut ia, pb::OpenSubscription::default()).await.unwrap();
    let mut third_client = client_on(channel, &token);
    let third = tokio::spawn(async move { subscribe(&mut third_client, pb::OpenSubscription::default()).await });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!third.is_finished(), "a third stream was opened on a connection that may hold two");
    drop(first);
    let third = tokio::time::timeout(Duration::from_secs(10), third).await.expect("opened once a stream ended");
    third.unwrap().expect("the third subscription opens");
    // Another connection has its own streams.
    let mut other = gateway.client("ia", Role::Analyst).await;
    subscribe(&mut other, pb::OpenSubscription::default()).await.expect("a second connection");
}

fn client_on(channel: tonic::transport::Channel, token: &str) -> Client {
    let header: MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
    let authorize: Authorize = Box::new(move |mut request| {
        request.metadata_mut().insert("authorization", header.clone());
        Ok(request)
    });
    liaison::api::gateway_service_client::GatewayServiceClient::with_interceptor(channel, authorize)
}

#[tokio::test]
async fn request_headers_over_the_limit_are_refused_and_the_gateway_keeps_serving() {
    let nats = NatsServer::start().await;
    let gateway =
        TestGateway::start_with(Some(nats.url()), |config| config.limits.connection.max_header_list_size = 8192).await;
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    let mut request = tonic::Request::new(pb::PublishRequest {
        envelope: Some(envelope(&["ia"], "border-security", b"with a huge header")),
    });
    let padding: MetadataValue<_> = "x".repeat(16 * 1024).parse().unwrap();
    request.metadata_mut().insert("x-padding", padding);
    let refused = cbp.publish(request).await.expect_err("a 16 KiB header list over an 8 KiB limit");
    assert_eq!(refused.code(), tonic::Code::ResourceExhausted, "{refused:?}");
    assert!(refused.message().contains("--max-header-list-size"), "{}", refused.message());
    // Beyond four times the limit HTTP/2 itself refuses the header list, before anything reads it.
    let mut request = tonic::Request::new(pb::PublishRequest { envelope: Some(envelope(&["ia"], "x", b"")) });
    request.metadata_mut().insert("x-padding", "x".repeat(40 * 1024).parse().unwrap());
    let refused = cbp.publish(request).await.expect_err("a 40 KiB header list");
    assert!(refused.message().contains("431"), "HTTP 431: {refused:?}");
    let mut fresh = gateway.client("cbp", Role::AgencySystem).await;
    let receipt = publish(&mut fresh, envelope(&["ia"], "border-security", b"normal")).await;
    assert_eq!(delivered_sequence(&receipt, "ia"), 1, "only the normal publish was stored");
}

#[tokio::test]
async fn a_connection_that_stops_answering_pings_is_closed() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start_with(Some(nats.url()), |config| {
        config.limits.connection.keepalive_interval = Duration::from_secs(1);
        config.limits.connection.keepalive_timeout = Duration::from_secs(1);
    })
    .await;
    // A raw HTTP/2 client: the preface and its SETTINGS, then silence. It reads what the gateway sends
    // (its SETTINGS, then PINGs) and never answers.
    let mut silent = tokio::net::TcpStream::connect(gateway.addr).await.unwrap();
    silent.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await.unwrap();
    silent.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).await.unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buffer = [0u8; 1024];
        loop {
            match silent.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the gateway kept a connection whose pings went unanswered");
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    publish(&mut cbp, envelope(&["ia"], "border-security", b"still serving")).await;
}
