//! Policy reload: the gateway picks up edited policy files and SIGHUP, swaps atomically, refuses a bad
//! file with file:line errors while the old policy stays in force, and `liaison policy validate` checks
//! files offline.

use crate::common;

use std::path::Path;
use std::time::Duration;

use common::*;
use liaison::api as pb;
use liaison::identity::Role;
use liaison::policy_store::{PolicyFiles, PolicyStore};
use liaison::router::{DEFAULT_DIRECTORY, DEFAULT_POLICY};

const CBP_TO_FBI: &str = "\n[[rule]]\nname = \"test-cbp-to-fbi\"\nbasis = \"test\"\nfrom = [\"cbp\"]\nto = [\"fbi\"]\n";

fn write_files(dir: &Path, policy: &str) -> PolicyFiles {
    let files = PolicyFiles { directory: Some(dir.join("directory.toml")), policy: Some(dir.join("policy.toml")) };
    std::fs::write(files.directory.as_ref().unwrap(), DEFAULT_DIRECTORY).unwrap();
    std::fs::write(files.policy.as_ref().unwrap(), policy).unwrap();
    files
}

/// Polls until the store's version differs from `old`, within `limit`.
async fn changed_version(store: &PolicyStore, old: &str, limit: Duration) -> String {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let version = store.current().version().to_string();
        if version != old {
            return version;
        }
        assert!(tokio::time::Instant::now() < deadline, "policy {old} was not replaced within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn fbi_outcome(receipt: &pb::Receipt) -> bool {
    matches!(
        receipt.outcomes.iter().find(|outcome| outcome.party == "fbi").and_then(|outcome| outcome.outcome.as_ref()),
        Some(pb::recipient_outcome::Outcome::Delivered(_))
    )
}

#[tokio::test]
async fn an_edited_policy_file_takes_effect_and_a_bad_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let files = write_files(dir.path(), DEFAULT_POLICY);
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start_with(Some(nats.url()), |config| config.policy_files = files.clone()).await;
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    let before = publish(&mut cbp, envelope(&["fbi"], "counter-terrorism", b"before")).await;
    assert!(!fbi_outcome(&before));

    // A bad edit is refused; the policy in force stays.
    std::fs::write(
        files.policy.as_ref().unwrap(),
        "[[rule]]\nname = \"broken\"\nfrom = [\"cbp\"]\nto = [\"nobody\"]\n",
    )
    .unwrap();
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let receipt = publish(&mut cbp, envelope(&["ia"], "counter-terrorism", b"during")).await;
        assert_eq!(receipt.policy_version, before.policy_version);
    }

    // A good edit takes effect: the watcher survived the bad one.
    std::fs::write(files.policy.as_ref().unwrap(), format!("{DEFAULT_POLICY}{CBP_TO_FBI}")).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let after = loop {
        let receipt = publish(&mut cbp, envelope(&["fbi"], "counter-terrorism", b"after")).await;
        if receipt.policy_version != before.policy_version {
            break receipt;
        }
        assert!(tokio::time::Instant::now() < deadline, "edited policy not picked up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(fbi_outcome(&after), "{after:?}");
}

#[tokio::test]
async fn sighup_reloads_and_reload_errors_name_file_line_and_field() {
    // The files are reached through a symlink whose target lives elsewhere, so the file watcher sees no
    // change and only SIGHUP can cause the reload.
    let real = tempfile::tempdir().unwrap();
    write_files(real.path(), DEFAULT_POLICY);
    let linked = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(real.path(), linked.path().join("policy")).unwrap();
    let files = PolicyFiles {
        directory: Some(linked.path().join("policy/directory.toml")),
        policy: Some(linked.path().join("policy/policy.toml")),
    };
    // Our own listener first, so SIGHUP can never take the default action (ending the test process).
    let mut our_hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).unwrap();
    let store = std::sync::Arc::new(PolicyStore::load(files).unwrap());
    let stop = tokio_util::sync::CancellationToken::new();
    let watcher = store.clone().watch(stop.clone());
    let old = store.current().version().to_string();

    std::fs::write(real.path().join("policy.toml"), format!("{DEFAULT_POLICY}{CBP_TO_FBI}")).unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(store.current().version(), old, "the watcher must not have seen the change behind the symlink");
    nix::sys::signal::raise(nix::sys::signal::Signal::SIGHUP).unwrap();
    our_hangup.recv().await;
    let new = changed_version(&store, &old, Duration::from_secs(10)).await;
    assert!(store.current().policy().rules().iter().any(|rule| &*rule.name == "test-cbp-to-fbi"));

    std::fs::write(real.path().join("policy.toml"), "[[rule]]\nname = \"x\"\nfrom = [\"cbp\"]\n\nto = [\"nobody\"]\n")
        .unwrap();
    let error = store.reload().unwrap_err();
    assert!(error.to_string().ends_with("policy/policy.toml:5: rule[0].to[0]: unknown party nobody"), "{error}");
    assert_eq!(store.current().version(), new, "a refused reload keeps the policy in force");
    stop.cancel();
    watcher.await.unwrap();
}

#[tokio::test]
async fn policy_validate_checks_files_offline() {
    let liaison = env!("CARGO_BIN_EXE_liaison");
    let dir = tempfile::tempdir().unwrap();
    let files = write_files(dir.path(), DEFAULT_POLICY);
    let output = tokio::process::Command::new(liaison)
        .args(["policy", "validate"])
        .arg(files.policy.as_ref().unwrap())
        .arg("--directory")
        .arg(files.directory.as_ref().unwrap())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.starts_with("ok: policy version ") && stdout.contains("41 parties, 18 rules"), "{stdout}");

    std::fs::write(files.policy.as_ref().unwrap(), "[[rule]]\nname = \"x\"\nfrom = [\"kind:spy\"]\nto = [\"ia\"]\n")
        .unwrap();
    let output = tokio::process::Command::new(liaison)
        .args(["policy", "validate"])
        .arg(files.policy.as_ref().unwrap())
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("policy.toml:3: rule[0].from[0]: unknown party kind \"spy\""), "{stderr}");
}
