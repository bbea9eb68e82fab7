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
const PROVISION_PASSWORD: &str = "provision-secret-for-tests";
const APPS_PASSWORD: &str = "apps-secret-for-tests";

async fn server() -> NatsServer {
    // The shipped file, with only its store directory moved into the test's temp dir.
    let shipped = include_str!("../../deploy/nats/nats-server.conf");
    assert!(shipped.contains("store_dir: \"/var/lib/nats/jetstream\""));
    NatsServer::start_configured(
        |store| shipped.replace("/var/lib/nats/jetstream", &store.display().to_string()),
        &[
            ("LIAISON_NATS_PASSWORD", GATEWAY_PASSWORD),
            ("LIAISON_NATS_PROVISION_PASSWORD", PROVISION_PASSWORD),
            ("APPS_NATS_PASSWORD", APPS_PASSWORD),
        ],
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
        config.nats_provision_auth =
            Some(NatsAuth::UserPassword { user: "liaison-provision".into(), password: PROVISION_PASSWORD.into() });
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
    // Publishing outside the allowed subjects, in or out of the Liaison subject space, is a permissions
    // violation the server reports.
    for subject in ["other.subject", "liaison.bench.raw", "liaison.feedx.ia"] {
        let mut errors = Vec::new();
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
        client_with_events.publish(subject, "x".into()).await.unwrap();
        client_with_events.flush().await.unwrap();
        while let Ok(Some(event)) = tokio::time::timeout(Duration::from_secs(2), received.recv()).await {
            errors.push(event);
            if errors.iter().any(|event| event.contains("Permissions Violation")) {
                break;
            }
        }
        assert!(errors.iter().any(|event| event.contains("Permissions Violation")), "{subject}: events: {errors:?}");
    }
}

/// A JetStream API request as `client`; the server's error description, or `None` when it succeeded.
async fn refusal(client: &async_nats::Client, subject: &str, body: &str) -> Option<String> {
    // A permissions violation is answered by nothing (the request times out) and reported as an event; a
    // JetStream refusal comes back as an error. Either way the request has no effect, checked below.
    match tokio::time::timeout(Duration::from_secs(3), client.request(subject.to_string(), body.to_string().into()))
        .await
    {
        Err(_) => Some("timed out".into()),
        Ok(Err(error)) => Some(error.to_string()),
        Ok(Ok(reply)) => {
            let text = String::from_utf8_lossy(&reply.payload).to_string();
            text.contains("\"error\"").then_some(text)
        }
    }
}

/// The permission violations NATS reports to `client`'s connection, collected from its events.
fn with_events(
    options: async_nats::ConnectOptions,
) -> (async_nats::ConnectOptions, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let (events, received) = tokio::sync::mpsc::unbounded_channel();
    let options = options.event_callback(move |event| {
        let events = events.clone();
        async move {
            let _ = events.send(event.to_string());
        }
    });
    (options, received)
}

async fn permission_violation(received: &mut tokio::sync::mpsc::UnboundedReceiver<String>, subject: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut seen = Vec::new();
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, received.recv()).await {
        if event.contains("Permissions Violation") && event.contains(subject) {
            return;
        }
        seen.push(event);
    }
    panic!("no permissions violation for {subject}; events: {seen:?}");
}

#[tokio::test]
async fn the_runtime_credential_cannot_delete_purge_or_reconfigure_what_provisioning_can() {
    // The harness's server has the embedded server's accounts; the gateway provisions the streams.
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    publish(&mut cbp, envelope(&["ia"], "border-security", b"kept")).await;

    let (options, mut violations) = with_events(async_nats::ConnectOptions::new());
    let runtime = connect_as(&nats.url(), &runtime_auth(), options).await.unwrap();
    let feed_update =
        serde_json::json!({"name": "LIAISON_FEED", "subjects": ["liaison.feed.>"], "max_age": 1_000_000_000u64})
            .to_string();
    let attempts = [
        ("$JS.API.STREAM.DELETE.LIAISON_AUDIT", String::new()),
        ("$JS.API.STREAM.PURGE.LIAISON_FEED", String::new()),
        ("$JS.API.STREAM.UPDATE.LIAISON_FEED", feed_update),
        ("$JS.API.STREAM.DELETE.KV_LIAISON_POLICY", String::new()),
        ("$JS.API.STREAM.MSG.DELETE.LIAISON_AUDIT", r#"{"seq":1}"#.to_string()),
    ];
    for (subject, body) in &attempts {
        assert!(refusal(&runtime, subject, body).await.is_some(), "{subject} was allowed");
        permission_violation(&mut violations, subject).await;
    }
    // Nothing changed: everything is still there, with its messages.
    let inspector = async_nats::jetstream::new(nats.client().await);
    let mut feed = inspector.get_stream("LIAISON_FEED").await.unwrap();
    assert_eq!(feed.info().await.unwrap().state.messages, 1);
    assert_ne!(feed.info().await.unwrap().config.max_age, Duration::from_secs(1));
    assert!(inspector.get_stream("LIAISON_AUDIT").await.unwrap().info().await.unwrap().state.messages >= 1);
    assert!(inspector.get_key_value("LIAISON_POLICY").await.is_ok());
    drop(gateway);

    // The provisioning credential can delete and create them.
    let provisioning = async_nats::jetstream::new(nats.connect_as(&provisioning_auth()).await.unwrap());
    provisioning.delete_stream("LIAISON_AUDIT").await.expect("provisioning deletes the audit");
    provisioning.delete_key_value("LIAISON_POLICY").await.expect("provisioning deletes a bucket");
    let restarted = TestGateway::start(&nats).await;
    assert!(inspector.get_stream("LIAISON_AUDIT").await.is_ok(), "provisioning at start-up recreated the audit");
    assert!(inspector.get_key_value("LIAISON_POLICY").await.is_ok());
    drop(restarted);
}

#[tokio::test]
async fn a_gateway_without_provisioning_needs_provisioned_streams() {
    let nats = NatsServer::start().await;
    let config = |provision: bool| {
        move |config: &mut liaison::config::ServeConfig| {
            if !provision {
                config.nats_provision_auth = None;
            }
        }
    };
    let data_dir = tempfile::tempdir().unwrap();
    let args = liaison::config::ServeArgs {
        data_dir: Some(data_dir.path().to_path_buf()),
        nats: liaison::config::NatsFlags { nats_url: Some(nats.url()), ..Default::default() },
        ..Default::default()
    };
    let mut serve = liaison::config::ServeConfig::load(&args).unwrap();
    serve.nats_auth = runtime_auth();
    serve.nats_provision_auth = None;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let error = liaison::app::run(serve, listener, async {}).await.expect_err("no streams, no provisioning");
    let message = format!("{error:#}");
    assert!(message.contains("liaison provision"), "{message}");

    // Once provisioned (here by a gateway that has the credential), the runtime-only gateway starts.
    drop(TestGateway::start_with(Some(nats.url()), config(true)).await);
    let gateway = TestGateway::start_with(Some(nats.url()), config(false)).await;
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    delivered_sequence(&publish(&mut cbp, envelope(&["ia"], "border-security", b"x")).await, "ia");
}
