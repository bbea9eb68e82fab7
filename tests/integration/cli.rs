//! The command line a person uses: `liaison token issue`, then `liaison publish` in one terminal and
//! `liaison subscribe` in another, against a running gateway.

use crate::common;

use std::process::Stdio;
use std::time::Duration;

use common::*;
use liaison::identity::Role;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const LIAISON: &str = env!("CARGO_BIN_EXE_liaison");

/// Asserts that a command failed and returns what it printed on stderr.
fn failure(output: std::process::Output) -> String {
    assert!(!output.status.success(), "expected a failure, got {}", output.status);
    String::from_utf8_lossy(&output.stderr).into_owned()
}

async fn issue_token(gateway: &TestGateway, party: &str, role: &str) -> String {
    let output = Command::new(LIAISON)
        .args(["token", "issue", "--party", party, "--role", role, "--data-dir"])
        .arg(gateway.data_dir.path())
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

#[tokio::test]
async fn publish_in_one_terminal_arrives_in_subscribe_in_another() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let analyst_token = issue_token(&gateway, "ia", "analyst").await;
    let cbp_token = issue_token(&gateway, "cbp", "agency-system").await;

    let mut subscriber = Command::new(LIAISON)
        .args(["subscribe", "--count", "1", "--gateway", &gateway.url()])
        .env("LIAISON_TOKEN", &analyst_token)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // The subscriber reports on stderr once its subscription is open; publish only then.
    let mut status_lines = BufReader::new(subscriber.stderr.take().unwrap()).lines();
    let opened = tokio::time::timeout(Duration::from_secs(15), status_lines.next_line()).await.unwrap().unwrap();
    assert!(opened.unwrap_or_default().starts_with("subscribed as ia_eph_"), "subscriber did not open");

    let publish = Command::new(LIAISON)
        .args(["publish", "--to", "ia", "--to", "fbi", "--topic", "money-laundering"])
        .args(["--title", "Wire transfers", "--body", "Structured deposits at the port of entry"])
        .args(["--gateway", &gateway.url(), "--token", &cbp_token])
        .output()
        .await
        .unwrap();
    let receipt = String::from_utf8_lossy(&publish.stdout);
    assert!(publish.status.success(), "{}", String::from_utf8_lossy(&publish.stderr));
    assert!(receipt.contains("ia: delivered, sequence 1 on liaison.feed.ia.cbp.report.money-laundering"), "{receipt}");
    assert!(receipt.contains("fbi: denied, DENIAL_REASON_NO_ROUTE"), "{receipt}");

    let output = tokio::time::timeout(Duration::from_secs(15), subscriber.wait_with_output()).await.unwrap().unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    assert!(printed.contains("from cbp | KIND_REPORT money-laundering | UNCLASSIFIED | Wire transfers"), "{printed}");
    assert!(printed.contains("Structured deposits at the port of entry"), "{printed}");
}

#[tokio::test]
async fn publish_reports_bad_input_and_exits_non_zero() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let token = issue_token(&gateway, "cbp", "agency-system").await;
    let output = Command::new(LIAISON)
        .args(["publish", "--to", "ia", "--topic", "Not.A.Topic", "--body", "x"])
        .args(["--gateway", &gateway.url(), "--token", &token])
        .output()
        .await
        .unwrap();
    let stderr = failure(output);
    assert!(stderr.contains("InvalidArgument") && stderr.contains("envelope.topic"), "{stderr}");
}

#[tokio::test]
async fn token_issue_without_a_key_says_how_to_get_one() {
    let empty = tempfile::tempdir().unwrap();
    let output = Command::new(LIAISON)
        .args(["token", "issue", "--party", "cbp", "--role", "analyst", "--data-dir"])
        .arg(empty.path())
        .output()
        .await
        .unwrap();
    assert!(failure(output).contains("no signing key"));
}

#[tokio::test]
async fn serve_rejects_a_bad_configuration_before_binding() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("liaison.toml");
    std::fs::write(&config, "stream-replicas = 9\n").unwrap();
    let output = Command::new(LIAISON).args(["serve", "--config"]).arg(&config).output().await.unwrap();
    let stderr = failure(output);
    assert!(stderr.contains("invalid configuration") && stderr.contains("stream-replicas"), "{stderr}");
}

#[tokio::test]
async fn serve_settings_come_from_flags_over_environment() {
    let from_env = Command::new(LIAISON).arg("serve").env("LIAISON_STREAM_REPLICAS", "9").output().await.unwrap();
    let stderr = failure(from_env);
    assert!(stderr.contains("stream-replicas must be 1 to 5, got 9"), "{stderr}");

    let flag_wins = Command::new(LIAISON)
        .args(["serve", "--stream-replicas", "7"])
        .env("LIAISON_STREAM_REPLICAS", "9")
        .output()
        .await
        .unwrap();
    let stderr = failure(flag_wins);
    assert!(stderr.contains("got 7"), "{stderr}");
}

#[tokio::test]
async fn route_check_explains_decisions_through_the_gateway_and_offline() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let token = issue_token(&gateway, "ia", "operator").await;
    let output = Command::new(LIAISON)
        .args(["route", "check", "--from", "cbp", "--to", "ia", "--to", "fbi", "--topic", "border-security"])
        .args(["--classification", "secret", "--gateway", &gateway.url(), "--token", &token])
        .output()
        .await
        .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(printed.contains("ia: delivered by rule host-reporting-to-ia"), "{printed}");
    assert!(printed.contains("fbi: denied, DENIAL_REASON_NO_ROUTE"), "{printed}");

    // Without --to: who route-by-policy would select.
    let output = Command::new(LIAISON)
        .args(["route", "check", "--offline", "--from", "cbp", "--topic", "money-laundering"])
        .output()
        .await
        .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(printed.contains("ia: delivered by rule host-reporting-to-ia"), "{printed}");
    assert!(printed.contains("ice: delivered by rule border-crime-relay-cbp-ice"), "{printed}");
    assert_eq!(printed.lines().count(), 3, "{printed}");
}

#[tokio::test]
async fn rotating_the_signing_key_keeps_issued_tokens_valid() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let before = issue_token(&gateway, "cbp", "agency-system").await;
    let output = Command::new(LIAISON)
        .args(["token", "rotate-key", "--data-dir"])
        .arg(gateway.data_dir.path())
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("now signing with key "));
    let after = issue_token(&gateway, "cbp", "agency-system").await;

    // Restart the gateway on the same data directory: both tokens work.
    let data_dir = gateway.stop().await;
    let gateway = TestGateway::start_in(data_dir, Some(nats.url()), |_| {}).await;
    for token in [&before, &after] {
        let mut client = client_with_header(&gateway.url(), Some(format!("Bearer {token}"))).await;
        publish(&mut client, envelope(&["ia"], "border-security", b"after rotation")).await;
    }
}

#[tokio::test]
async fn token_new_key_makes_a_shared_key_that_gateways_and_token_issue_use() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("signing-key.pem");
    let created = Command::new(LIAISON).args(["token", "new-key"]).arg(&key).output().await.unwrap();
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    assert!(String::from_utf8_lossy(&created.stdout).starts_with("created signing key "));
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    let before = std::fs::read(&key).unwrap();
    let again = Command::new(LIAISON).args(["token", "new-key"]).arg(&key).output().await.unwrap();
    assert!(failure(again).contains("exists"), "an existing key is never overwritten");
    assert_eq!(std::fs::read(&key).unwrap(), before);

    let nats = NatsServer::start().await;
    let shared = key.clone();
    let gateway = TestGateway::start_with(Some(nats.url()), |config| config.signing_key = Some(shared)).await;
    let issued = Command::new(LIAISON)
        .args(["token", "issue", "--party", "cbp", "--role", "agency-system", "--signing-key"])
        .arg(&key)
        .output()
        .await
        .unwrap();
    assert!(issued.status.success(), "{}", String::from_utf8_lossy(&issued.stderr));
    let token = String::from_utf8(issued.stdout).unwrap();
    let mut client = client_with_header(&gateway.url(), Some(format!("Bearer {}", token.trim()))).await;
    publish(&mut client, envelope(&["ia"], "border-security", b"signed with the shared key")).await;
}

#[tokio::test]
async fn serve_refuses_missing_tls_files_before_binding() {
    let output = Command::new(LIAISON)
        .args(["serve", "--tls-cert", "/nonexistent/server.pem", "--tls-key", "/nonexistent/server-key.pem"])
        .output()
        .await
        .unwrap();
    let stderr = failure(output);
    assert!(stderr.contains("invalid configuration") && stderr.contains("/nonexistent/server.pem"), "{stderr}");
}

/// Runs `liaison subscribe` with `args` to completion and returns the header line of each delivery printed.
async fn subscribe_lines(gateway: &TestGateway, token: &str, args: &[&str]) -> Vec<String> {
    let run = Command::new(LIAISON)
        .arg("subscribe")
        .args(args)
        .args(["--gateway", &gateway.url(), "--token", token])
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(15), run)
        .await
        .unwrap_or_else(|_| panic!("subscribe {args:?} did not exit"))
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let printed = String::from_utf8(output.stdout).unwrap();
    printed.lines().filter(|line| line.starts_with('#')).map(str::to_string).collect()
}

#[tokio::test]
async fn subscribe_count_prints_exactly_that_many_and_a_durable_resumes_after_them() {
    let (_nats, gateway, mut cbp, _ia) = cbp_and_ia().await;
    for n in 1..=5 {
        publish(&mut cbp, envelope(&["ia"], "money-laundering", format!("report {n}").as_bytes())).await;
    }
    let token = gateway.token("ia", Role::Analyst);

    let first = subscribe_lines(&gateway, &token, &["--start", "all", "--durable", "desk", "--count", "2"]).await;
    let sequences: Vec<&str> = first.iter().map(|line| line.split_whitespace().next().unwrap()).collect();
    assert_eq!(sequences, ["#1", "#2"], "{first:?}");

    // Well within the 30 s ack deadline: what the first run's session had pulled is handed back when it ends.
    let rest = subscribe_lines(&gateway, &token, &["--durable", "desk", "--count", "3"]).await;
    let mut sequences: Vec<&str> = rest.iter().map(|line| line.split_whitespace().next().unwrap()).collect();
    sequences.sort();
    assert_eq!(sequences, ["#3", "#4", "#5"], "{rest:?}");

    let zero = Command::new(LIAISON).args(["subscribe", "--count", "0"]).output().await.unwrap();
    assert!(failure(zero).contains("--count"));
}
