//! The shared policy through the command line: `liaison policy apply`, `history` and `rollback` against a
//! gateway following the NATS KV bucket, with tokens from `liaison token issue --signing-key`; and a
//! gateway reading files refuses to apply, saying why.

use crate::common;

use common::*;
use liaison::api as pb;
use liaison::config::PolicySource;
use liaison::identity::Role;
use liaison::router::DEFAULT_POLICY;

const LIAISON: &str = env!("CARGO_BIN_EXE_liaison");

/// Runs the CLI: (success, stdout, stderr).
async fn liaison(args: &[&str]) -> (bool, String, String) {
    let output = tokio::process::Command::new(LIAISON).args(args).output().await.unwrap();
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).to_string();
    (output.status.success(), text(&output.stdout), text(&output.stderr))
}

#[tokio::test]
async fn policy_apply_history_and_rollback_from_the_command_line() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start_with(Some(nats.url()), |config| config.policy_source = PolicySource::Kv).await;
    let key = gateway.data_dir.path().join("signing-key.pem");
    let key = key.to_str().unwrap();
    let (ok, token, stderr) =
        liaison(&["token", "issue", "--signing-key", key, "--party", "ia", "--role", "admin"]).await;
    assert!(ok, "{stderr}");
    let token = token.trim();
    let url = gateway.url();
    let mut operator = gateway.operator("ia", Role::Operator).await;
    let seeded = policy_version(&mut operator).await;

    // A policy without the rule that lets I&A reach its hosts: ia -> cbp is then denied.
    let dir = tempfile::tempdir().unwrap();
    let narrowed = DEFAULT_POLICY.replace(
        "name = \"ia-dissemination-to-hosts\"",
        "name = \"ia-dissemination-to-hosts\"\ntopics = [\"cyber-crime\"]",
    );
    assert_ne!(narrowed, DEFAULT_POLICY);
    let file = dir.path().join("policy.toml");
    std::fs::write(&file, &narrowed).unwrap();
    let file = file.to_str().unwrap();
    let (ok, out, stderr) =
        liaison(&["policy", "apply", file, "--comment", "narrow", "--gateway", &url, "--token", token]).await;
    assert!(ok, "{out}{stderr}");
    assert!(out.starts_with("applied: revision 2, policy version "), "{out}");
    let applied = out.trim().rsplit(' ').next().unwrap().to_string();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while policy_version(&mut operator).await != applied {
        assert!(tokio::time::Instant::now() < deadline, "the gateway never took {applied}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let mut ia = gateway.client("ia", Role::AgencySystem).await;
    let receipt = publish(&mut ia, envelope(&["cbp"], "border-security", b"narrowed")).await;
    assert!(
        matches!(receipt.outcomes[0].outcome, Some(pb::recipient_outcome::Outcome::Denied(_))),
        "the applied policy decides: {receipt:?}"
    );

    // Stale expectations and bad files are refused, naming the field.
    let (ok, _, stderr) =
        liaison(&["policy", "apply", file, "--expected-revision", "1", "--gateway", &url, "--token", token]).await;
    assert!(!ok && stderr.contains("expected_revision: the policy changed meanwhile (now revision 2)"), "{stderr}");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[[rule]]\nname = \"x\"\nfrom = [\"ia\"]\nto = [\"nobody\"]\n").unwrap();
    let (ok, _, stderr) =
        liaison(&["policy", "apply", bad.to_str().unwrap(), "--gateway", &url, "--token", token]).await;
    assert!(!ok && stderr.contains("policy:4: rule[0].to[0]: unknown party nobody"), "{stderr}");

    let (ok, out, stderr) = liaison(&["policy", "history", "--gateway", &url, "--token", token]).await;
    assert!(ok, "{stderr}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "a header and two revisions: {out}");
    assert!(lines[1].trim_start().starts_with(&format!("1  {seeded}")) && lines[1].contains("seed"), "{out}");
    assert!(lines[2].trim_start().starts_with(&format!("2  {applied}")) && lines[2].ends_with("narrow"), "{out}");

    let (ok, out, stderr) =
        liaison(&["policy", "rollback", "1", "--comment", "undo", "--gateway", &url, "--token", token]).await;
    assert!(ok, "{stderr}");
    assert_eq!(out.trim(), format!("restored revision 1 as revision 3, policy version {seeded}"));
    let (_, out, _) = liaison(&["policy", "history", "--gateway", &url, "--token", token]).await;
    assert!(out.lines().last().unwrap().ends_with("undo (restores 1)"), "{out}");
    let (ok, _, stderr) = liaison(&["policy", "rollback", "99", "--gateway", &url, "--token", token]).await;
    assert!(!ok && stderr.contains("no revision 99 is kept"), "{stderr}");
}

#[tokio::test]
async fn a_gateway_reading_files_refuses_to_apply_and_says_why() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let mut admin = gateway.operator("ia", Role::Admin).await;
    let request = pb::ApplyPolicyRequest { policy: DEFAULT_POLICY.into(), ..Default::default() };
    let refused = admin.apply_policy(request).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    assert!(refused.message().contains("--policy-store kv"), "{refused:?}");
}
