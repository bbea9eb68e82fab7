//! The embedded default: with no NATS URL the gateway starts its own nats-server under the data directory,
//! restarts it if it dies, and stops it on shutdown.

use crate::common;

use std::time::Duration;

use common::*;
use liaison::api as pb;
use liaison::identity::Role;

const WAIT: Duration = Duration::from_secs(15);

fn embedded_pid(gateway: &TestGateway) -> i32 {
    let pid_file = gateway.data_dir.path().join("nats/nats-server.pid");
    std::fs::read_to_string(&pid_file).expect("pid file of the embedded server").trim().parse().unwrap()
}

fn alive(pid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default().contains(") Z ")
}

#[tokio::test]
async fn serves_on_an_embedded_server_and_stops_it() {
    let gateway = TestGateway::start_with(None, |_| {}).await;
    let pid = embedded_pid(&gateway);
    assert!(alive(pid));
    assert!(gateway.data_dir.path().join("nats/jetstream").is_dir(), "store under the data directory");
    // The server it runs accepted a configuration that fsyncs before acknowledging (README, "What a
    // receipt survives").
    let config = std::fs::read_to_string(gateway.data_dir.path().join("nats/nats-server.conf")).unwrap();
    let sync = liaison::embedded::sync::configured_sync(&config);
    assert_eq!(sync.as_deref(), Some("always"), "{config}");

    let mut analyst = gateway.client("ia", Role::Analyst).await;
    let mut subscription = subscribe(&mut analyst, pb::OpenSubscription::default()).await.unwrap();
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    publish(&mut cbp, envelope(&["ia"], "cyber-crime", b"embedded")).await;
    let deliveries = subscription.take(1, WAIT).await;
    assert_eq!(deliveries[0].envelope.as_ref().unwrap().body.as_ref(), b"embedded");

    drop(subscription);
    gateway.stop().await;
    assert!(!alive(pid), "embedded nats-server {pid} still running after shutdown");
}

#[tokio::test]
async fn a_crashed_embedded_server_is_restarted_and_nothing_stored_is_lost() {
    let gateway = TestGateway::start_with(None, |_| {}).await;
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    let before = publish(&mut cbp, envelope(&["ia"], "cyber-crime", b"before")).await;
    delivered_sequence(&before, "ia");

    let pid = embedded_pid(&gateway);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL).unwrap();

    // Publishing fails while the server is down and succeeds again once it is back.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let attempt = cbp.publish(pb::PublishRequest { envelope: Some(envelope(&["ia"], "cyber-crime", b"after")) });
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(5), attempt).await {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "gateway did not recover from a nats-server crash");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_ne!(embedded_pid(&gateway), pid, "a new nats-server was started");

    let mut analyst = gateway.client("ia", Role::Analyst).await;
    let mut subscription =
        subscribe(&mut analyst, pb::OpenSubscription { start: from_beginning(), ..Default::default() }).await.unwrap();
    let bodies: Vec<Vec<u8>> = subscription
        .take(2, WAIT)
        .await
        .iter()
        .map(|delivery| delivery.envelope.as_ref().unwrap().body.to_vec())
        .collect();
    assert_eq!(bodies, [b"before".to_vec(), b"after".to_vec()]);
    drop(subscription);
    gateway.stop().await;
}

#[tokio::test]
async fn the_embedded_server_refuses_anonymous_and_unknown_clients() {
    let gateway = TestGateway::start_with(None, |_| {}).await;
    let nats = gateway.data_dir.path().join("nats");
    let url = std::fs::read_to_string(nats.join("url")).unwrap().trim().to_string();
    for seed in ["runtime.nk", "provision.nk"] {
        let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(nats.join(seed)).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o600, "{seed}");
    }
    let anonymous = async_nats::ConnectOptions::new().max_reconnects(1).connect(&url).await;
    assert!(anonymous.is_err(), "an anonymous client was accepted");
    let stranger = async_nats::ConnectOptions::with_nkey(nkeys::KeyPair::new_user().seed().unwrap())
        .max_reconnects(1)
        .connect(&url)
        .await;
    assert!(stranger.is_err(), "an unknown nkey was accepted");
    // The data directory's runtime identity is accepted.
    let seed = std::fs::read_to_string(nats.join("runtime.nk")).unwrap();
    let runtime = async_nats::ConnectOptions::with_nkey(seed.trim().to_string()).connect(&url).await.unwrap();
    let mut feed = async_nats::jetstream::new(runtime).get_stream("LIAISON_FEED").await.unwrap();
    assert_eq!(feed.info().await.unwrap().state.messages, 0);

    // The commands that talk to NATS find the server and its identities through the data directory alone.
    let data_dir = gateway.data_dir.path().to_str().unwrap().to_string();
    for command in [["audit", "verify"], ["provision", "--insecure"]] {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_liaison"))
            .args(command)
            .args(["--data-dir", &data_dir])
            .env_remove("LIAISON_NATS_URL")
            .output()
            .await
            .unwrap();
        assert!(output.status.success(), "liaison {command:?}: {}", String::from_utf8_lossy(&output.stderr));
    }

    // The identities survive a restart: the same seeds, still accepted.
    let before = std::fs::read_to_string(nats.join("runtime.nk")).unwrap();
    let data_dir = gateway.stop().await;
    let gateway = TestGateway::start_in(data_dir, None, |_| {}).await;
    assert_eq!(std::fs::read_to_string(gateway.data_dir.path().join("nats/runtime.nk")).unwrap(), before);
    gateway.stop().await;
}
