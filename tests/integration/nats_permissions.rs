//! Least privilege on NATS: with `deploy/nats/nats-server.conf` the gateway works with its own NATS user,
//! and any other user can neither see, publish into, nor reach through JetStream the Liaison subject space.

use crate::common;

use std::time::Duration;

use common::*;
use futures::StreamExt;
use liaison::api as pb;
use liaison::bus::NatsAuth;
use liaison::identity::Role;

const GATEWAY_PASSWORD: &str = "gateway-secret-for-tests";
const APPS_PASSWORD: &str = "apps-secret-for-tests";

async fn server() -> NatsServer {
    // The shipped file, with only its store directory moved into the test's temp dir.
    let shipped = include_str!("../../deploy/nats/nats-server.conf");
    assert!(shipped.contains("store_dir: \"/var/lib/nats/jetstream\""));
    NatsServer::start_configured(
        |store| shipped.replace("/var/lib/nats/jetstream", &store.display().to_string()),
        &[("LIAISON_NATS_PASSWORD", GATEWAY_PASSWORD), ("APPS_NATS_PASSWORD", APPS_PASSWORD)],
    )
    .await
}

async fn connect(
    nats: &NatsServer,
    user: &str,
    password: &str,
) -> Result<async_nats::Client, async_nats::ConnectError> {
    async_nats::ConnectOptions::with_user_and_password(user.into(), password.into()).connect(nats.url()).await
}

#[tokio::test]
async fn only_the_gateway_user_reaches_the_liaison_subject_space() {
    let nats = server().await;
    // No credentials, or wrong ones: no connection at all.
    assert!(async_nats::connect(nats.url()).await.is_err(), "anonymous access must be refused");
    assert!(connect(&nats, "liaison-gateway", "wrong").await.is_err());

    let gateway = TestGateway::start_with(Some(nats.url()), |config| {
        config.nats_auth = NatsAuth::UserPassword { user: "liaison-gateway".into(), password: GATEWAY_PASSWORD.into() };
    })
    .await;
    let mut analyst = gateway.client("ia", Role::Analyst).await;
    let mut feed = subscribe(&mut analyst, pb::OpenSubscription::default()).await.unwrap();

    // Another application's user, connected and watching the whole Liaison space.
    let apps = connect(&nats, "apps", APPS_PASSWORD).await.unwrap();
    let mut watcher = apps.subscribe("liaison.>").await.unwrap();
    apps.flush().await.unwrap();

    // The gateway side works end to end...
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    let receipt = publish(&mut cbp, envelope(&["ia"], "border-security", b"for ia only")).await;
    assert_eq!(delivered_sequence(&receipt, "ia"), 1);
    assert_eq!(feed.take(1, Duration::from_secs(10)).await[0].envelope.as_ref().unwrap().body.as_ref(), b"for ia only");

    // ...while the other user sees nothing of it,
    assert!(
        tokio::time::timeout(Duration::from_millis(500), watcher.next()).await.is_err(),
        "apps saw Liaison traffic"
    );
    // cannot inject into anyone's feed,
    apps.publish("liaison.feed.ia.cbp.report.border-security", "forged".into()).await.unwrap();
    apps.flush().await.unwrap();
    assert!(feed.next_batch(Duration::from_millis(500)).await.is_empty(), "a forged message reached the feed");
    // and cannot reach the stream through JetStream.
    let jetstream = async_nats::jetstream::new(apps.clone());
    assert!(jetstream.get_stream("LIAISON_FEED").await.is_err(), "apps reached the Liaison stream");

    // The stream holds exactly the one message the gateway stored.
    let gateway_user = connect(&nats, "liaison-gateway", GATEWAY_PASSWORD).await.unwrap();
    let mut stream = async_nats::jetstream::new(gateway_user).get_stream("LIAISON_FEED").await.unwrap();
    assert_eq!(stream.info().await.unwrap().state.messages, 1);
}

#[tokio::test]
async fn the_gateway_user_is_limited_to_what_the_gateway_needs() {
    let nats = server().await;
    let mut errors = Vec::new();
    // Publishing outside the allowed subjects is a permissions violation the server reports.
    let (events, mut received) = tokio::sync::mpsc::unbounded_channel();
    let client_with_events =
        async_nats::ConnectOptions::with_user_and_password("liaison-gateway".into(), GATEWAY_PASSWORD.into())
            .event_callback(move |event| {
                let events = events.clone();
                async move {
                    let _ = events.send(event.to_string());
                }
            })
            .connect(nats.url())
            .await
            .unwrap();
    client_with_events.publish("other.subject", "x".into()).await.unwrap();
    client_with_events.flush().await.unwrap();
    while let Ok(Some(event)) = tokio::time::timeout(Duration::from_secs(2), received.recv()).await {
        errors.push(event);
        if errors.iter().any(|event| event.contains("Permissions Violation")) {
            break;
        }
    }
    assert!(errors.iter().any(|event| event.contains("Permissions Violation")), "events: {errors:?}");
}
