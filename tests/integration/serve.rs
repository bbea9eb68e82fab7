//! `liaison serve` as a user runs it: the binary starts its embedded nats-server, serves, and on SIGTERM
//! or SIGINT drains, stops nats-server and exits 0.

use crate::common;

use std::process::Stdio;
use std::time::Duration;

use common::*;
use liaison::api as pb;
use liaison::api::gateway_service_client::GatewayServiceClient;
use liaison::identity::{Issuer, Role, SigningKey};
use liaison::model::Token;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::Command;
use tonic::transport::{Certificate, Channel, ClientTlsConfig};

const LIAISON: &str = env!("CARGO_BIN_EXE_liaison");

async fn serve_and_stop_with(signal: Signal) {
    let data_dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut gateway = Command::new(LIAISON)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--admin-listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir.path())
        .env("LIAISON_NATS_SERVER_BIN", nats_server_bin())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    // Wait for the signing key and the port, then publish once to show it serves.
    // The default is TLS with a local CA created under the data directory.
    let url = format!("https://127.0.0.1:{port}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut client = loop {
        assert!(tokio::time::Instant::now() < deadline, "gateway did not start");
        if let Ok(key) = SigningKey::load(data_dir.path()) {
            let token = Issuer::new(&key)
                .unwrap()
                .issue(&Token::parse("cbp").unwrap(), Role::AgencySystem, "test", Duration::from_secs(60))
                .unwrap();
            let ca = data_dir.path().join("tls/ca.pem");
            if ca.exists() && tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(std::fs::read(&ca).unwrap()));
                let channel = Channel::from_shared(url.clone()).unwrap().tls_config(tls).unwrap().connect_lazy();
                let header: tonic::metadata::MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
                break GatewayServiceClient::with_interceptor(channel, move |mut request: tonic::Request<()>| {
                    request.metadata_mut().insert("authorization", header.clone());
                    Ok(request)
                });
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let receipt = loop {
        let request = pb::PublishRequest { envelope: Some(envelope(&["ia"], "cyber-crime", b"via the binary")) };
        match client.publish(request).await {
            Ok(response) => break response.into_inner().receipt.unwrap(),
            Err(status) if status.code() == tonic::Code::Unavailable => {
                assert!(tokio::time::Instant::now() < deadline, "gateway not serving: {status}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(status) => panic!("publish failed: {status}"),
        }
    };
    assert_eq!(delivered_sequence(&receipt, "ia"), 1);

    let nats_pid: i32 =
        std::fs::read_to_string(data_dir.path().join("nats/nats-server.pid")).unwrap().trim().parse().unwrap();
    kill(Pid::from_raw(gateway.id().unwrap() as i32), signal).unwrap();
    let status = tokio::time::timeout(Duration::from_secs(20), gateway.wait()).await.unwrap().unwrap();
    assert!(status.success(), "gateway exited with {status} after {signal}");
    assert!(kill(Pid::from_raw(nats_pid), None).is_err(), "nats-server {nats_pid} outlived the gateway");
}

#[tokio::test]
async fn sigterm_stops_the_gateway_and_its_nats_server() {
    serve_and_stop_with(Signal::SIGTERM).await;
}

#[tokio::test]
async fn sigint_stops_the_gateway_and_its_nats_server() {
    serve_and_stop_with(Signal::SIGINT).await;
}
