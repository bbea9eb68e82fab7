//! Changing policy safely, against a real gateway and nats-server: `liaison policy test` reporting a wrong
//! expectation at its line, `liaison policy simulate` over recorded traffic listing exactly the deliveries a
//! draft removes and the ones it adds (and scoped or refused by party and role), ApplyPolicy refusing a
//! revision whose tests fail, and `liaison policy diff` of a known change.

use crate::common;

use std::time::Duration;

use common::*;
use liaison::api as pb;
use liaison::config::PolicySource;
use liaison::identity::Role;
use liaison::router::{DEFAULT_DIRECTORY, DEFAULT_POLICY};
use tonic::Code;

const LIAISON: &str = env!("CARGO_BIN_EXE_liaison");
const SHIPPED_TESTS: &str = include_str!("../../deploy/policy/tests.toml");

/// Runs the CLI: (success, stdout, stderr).
async fn liaison(args: &[&str]) -> (bool, String, String) {
    let output = tokio::process::Command::new(LIAISON).args(args).output().await.unwrap();
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).to_string();
    (output.status.success(), text(&output.stdout), text(&output.stderr))
}

/// The shipped policy with the CBP/ICE relay rule limited to alerts (so CBP's reports no longer reach ICE)
/// and a new rule letting CBP send border-security reporting to the FBI.
fn draft_policy() -> String {
    let limited = DEFAULT_POLICY
        .replace("name = \"border-crime-relay-cbp-ice\"", "name = \"border-crime-relay-cbp-ice\"\nkinds = [\"alert\"]");
    assert_ne!(limited, DEFAULT_POLICY);
    limited
        + "\n[[rule]]\nname = \"cbp-to-fbi-border\"\nbasis = \"CBP shares border-security reporting with the FBI\"\n\
           from = [\"cbp\"]\nto = [\"fbi\"]\ntopics = [\"border-security\"]\n"
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

#[tokio::test]
async fn policy_test_prints_a_wrong_expectation_at_its_line_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let wrong = SHIPPED_TESTS.replace("expect.fbi = \"denied NO_ROUTE\"", "expect.fbi = \"delivered\"");
    assert_ne!(wrong, SHIPPED_TESTS);
    let file = write(&dir, "tests.toml", &wrong);
    let line = wrong.lines().position(|line| line == "expect.fbi = \"delivered\"").unwrap() + 1;
    let (ok, out, stderr) = liaison(&["policy", "test", &file]).await;
    assert!(!ok, "a failing case exits non-zero: {out}");
    let expected = format!(
        "{file}:{line}: CBP reporting reaches I&A, not the FBI: expected fbi delivered got fbi denied NO_ROUTE"
    );
    assert_eq!(out.lines().next(), Some(expected.as_str()), "{out}");
    assert!(stderr.contains("30 cases, 43 checks, 1 failed"), "{stderr}");

    let shipped = write(&dir, "shipped.toml", SHIPPED_TESTS);
    let (ok, out, stderr) = liaison(&["policy", "test", &shipped]).await;
    assert!(ok, "{out}{stderr}");
    assert_eq!(out, "coverage: every rule and every marking check\n30 cases, 43 checks, 0 failed\n");
}

/// Recorded traffic: CBP's report to I&A and ICE (through the relay), its border-security report to I&A and
/// the FBI (the FBI denied), and I&A's to CBP. Returns the gateway and the message ids.
async fn recorded_traffic(nats: &NatsServer) -> (TestGateway, String, String, String) {
    let gateway = TestGateway::start(nats).await;
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    let mut ia = gateway.client("ia", Role::AgencySystem).await;
    let relayed = publish(&mut cbp, envelope(&["ia", "ice"], "money-laundering", b"relayed")).await;
    delivered_sequence(&relayed, "ice");
    let border = publish(&mut cbp, envelope(&["ia", "fbi"], "border-security", b"border")).await;
    assert!(matches!(border.outcomes[1].outcome, Some(pb::recipient_outcome::Outcome::Denied(_))), "{border:?}");
    let from_ia = publish(&mut ia, envelope(&["cbp"], "border-security", b"from ia")).await;
    delivered_sequence(&from_ia, "cbp");
    (gateway, relayed.message_id, border.message_id, from_ia.message_id)
}

#[tokio::test]
async fn simulate_lists_exactly_the_deliveries_a_draft_removes_and_the_ones_it_adds() {
    let nats = NatsServer::start().await;
    let (gateway, relayed, border, _) = recorded_traffic(&nats).await;
    let dir = tempfile::tempdir().unwrap();
    let draft = write(&dir, "policy.toml", &draft_policy());
    let token = gateway.token("ia", Role::Operator);
    let args = ["policy", "simulate", "--policy", draft.as_str(), "--since", "1h", "--format", "csv"];
    let out = liaison_cli(&gateway, &token, &args).await;
    assert_eq!(
        out,
        format!(
            "origin,recipient,before,before_by,after,after_by,count,examples\n\
             cbp,fbi,denied,NO_ROUTE,delivered,cbp-to-fbi-border,1,{border}\n\
             cbp,ice,delivered,border-crime-relay-cbp-ice,denied,RULE_LIMITS (border-crime-relay-cbp-ice),1,{relayed}\n"
        )
    );
    // The table says the same, with the summary: five decisions replayed, two would change.
    let out = liaison_cli(&gateway, &token, &["policy", "simulate", "--policy", &draft, "--since", "1h"]).await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(lines[0].starts_with("EDGE        CHANGE               BEFORE"), "{out}");
    assert!(lines[1].starts_with("cbp -> fbi  denied -> delivered  NO_ROUTE "), "{out}");
    assert!(lines[3].contains(": 5 decisions replayed, 2 would change, 0 skipped"), "{out}");

    // Under the policy in force nothing changes.
    let same = write(&dir, "same.toml", DEFAULT_POLICY);
    let out = liaison_cli(&gateway, &token, &["policy", "simulate", "--policy", &same, "--format", "jsonl"]).await;
    assert_eq!(out, "");
}

#[tokio::test]
async fn simulate_shows_a_party_without_oversight_only_its_own_decisions_and_refuses_others() {
    let nats = NatsServer::start().await;
    let (gateway, relayed, _, from_ia) = recorded_traffic(&nats).await;
    // A draft with no rules: every delivery would be denied.
    let request = |party: &str| pb::SimulatePolicyRequest {
        policy: "# no rules\n".into(),
        directory: DEFAULT_DIRECTORY.into(),
        since: Some((std::time::SystemTime::now() - Duration::from_secs(3600)).into()),
        party: party.into(),
        examples: 16,
        ..Default::default()
    };
    let changes = |party: &'static str, role: Role, asked: &'static str| {
        let gateway = &gateway;
        async move {
            let mut operator = gateway.operator(party, role).await;
            let mut answers = operator.simulate_policy(request(asked)).await?.into_inner();
            let mut edges = Vec::new();
            while let Some(answer) = answers.message().await? {
                if let Some(pb::simulate_policy_response::Item::Change(change)) = answer.item {
                    edges.push(format!("{} -> {} {:?}", change.origin, change.recipient, change.examples));
                }
            }
            Ok::<_, tonic::Status>(edges)
        }
    };
    // Every delivery, grouped per edge; CBP -> FBI was denied and stays so.
    let all = changes("ia", Role::Operator, "").await.unwrap();
    assert_eq!(all.len(), 3, "{all:?}");
    assert_eq!(all[1], format!("cbp -> ice [\"{relayed}\"]"));
    // ICE's operator sees ICE's decisions only, whatever it asks for.
    let ice = changes("ice", Role::Operator, "").await.unwrap();
    assert_eq!(ice, [format!("cbp -> ice [\"{relayed}\"]")]);
    let cbp = changes("cbp", Role::Admin, "cbp").await.unwrap();
    assert_eq!(cbp, all, "every change involves CBP");
    assert_eq!(cbp[2], format!("ia -> cbp [\"{from_ia}\"]"));
    // Another party's decisions, or an analyst: PERMISSION_DENIED naming the rule.
    let refused = changes("cbp", Role::Operator, "ia").await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert!(refused.message().contains("(SimulatePolicy)"), "{refused:?}");
    let refused = changes("ia", Role::Analyst, "").await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert!(refused.message().contains("role analyst may not simulate a policy over recorded traffic"), "{refused:?}");
    // A draft that does not compile is refused, naming file, line and field.
    let mut operator = gateway.operator("ia", Role::Operator).await;
    let bad = pb::SimulatePolicyRequest { policy: "[[rule]]\nname = 1\n".into(), ..request("") };
    let refused = operator.simulate_policy(bad).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(refused.message().starts_with("policy:2: "), "{refused:?}");
    let too_many = pb::SimulatePolicyRequest { examples: 17, ..request("") };
    let refused = operator.simulate_policy(too_many).await.unwrap_err();
    assert_eq!((refused.code(), refused.message()), (Code::InvalidArgument, "examples: at most 16"));
}

#[tokio::test]
async fn simulate_stops_at_its_scan_budget() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start_with(Some(nats.url()), |config| config.limits.simulate_scan_budget = 2).await;
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    for body in [b"one", b"two", b"thr"] {
        publish(&mut cbp, envelope(&["ia"], "border-security", body)).await;
    }
    let mut operator = gateway.operator("ia", Role::Operator).await;
    let request = pb::SimulatePolicyRequest {
        policy: DEFAULT_POLICY.into(),
        directory: DEFAULT_DIRECTORY.into(),
        since: Some((std::time::SystemTime::now() - Duration::from_secs(3600)).into()),
        ..Default::default()
    };
    let mut answers = operator.simulate_policy(request).await.unwrap().into_inner();
    let error = loop {
        match answers.message().await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("the replay ended without reaching its budget"),
            Err(error) => break error,
        }
    };
    assert_eq!(error.code(), Code::ResourceExhausted);
    assert!(error.message().contains("--simulate-scan-budget"), "{error:?}");
}

#[tokio::test]
async fn apply_refuses_a_revision_whose_tests_fail_naming_the_first_failure() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start_with(Some(nats.url()), |config| config.policy_source = PolicySource::Kv).await;
    let dir = tempfile::tempdir().unwrap();
    let tests = write(&dir, "tests.toml", SHIPPED_TESTS);
    let draft = write(&dir, "policy.toml", &draft_policy());
    let token = gateway.token("ia", Role::Admin);
    let url = gateway.url();
    let apply = |policy: String| {
        let (tests, token, url) = (tests.clone(), token.clone(), url.clone());
        async move { liaison(&["policy", "apply", &policy, "--tests", &tests, "--gateway", &url, "--token", &token]).await }
    };
    let (ok, out, stderr) = apply(draft.clone()).await;
    assert!(!ok, "{out}");
    // The new rule covers CBP -> FBI, so the shipped case expecting NO_ROUTE there now fails first.
    let line = SHIPPED_TESTS.lines().position(|line| line == "expect.fbi = \"denied NO_ROUTE\"").unwrap() + 1;
    assert!(
        stderr.contains(&format!(
            "message: \"tests: 3 of 43 checks fail, the revision is not applied; first: {tests}:{line}: \
             CBP reporting reaches I&A, not the FBI: expected fbi denied NO_ROUTE got fbi denied RULE_LIMITS\""
        )),
        "{stderr}"
    );
    let mut operator = gateway.operator("ia", Role::Operator).await;
    let history = operator.list_policy_history(pb::ListPolicyHistoryRequest {}).await.unwrap().into_inner();
    assert_eq!(history.revisions.len(), 1, "nothing was applied");

    let passing = write(&dir, "passing.toml", DEFAULT_POLICY);
    let (ok, out, stderr) = apply(passing).await;
    assert!(ok, "{stderr}");
    assert!(out.starts_with("applied: revision 2"), "{out}");
    // Tests that do not parse are refused as such.
    let mut admin = gateway.operator("ia", Role::Admin).await;
    let request =
        pb::ApplyPolicyRequest { policy: DEFAULT_POLICY.into(), tests: "[[case]]\n".into(), ..Default::default() };
    let refused = admin.apply_policy(request).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(refused.message().starts_with("tests: tests:"), "{refused:?}");
}

#[tokio::test]
async fn diff_lists_the_rules_and_edges_a_known_change_touches() {
    let old = tempfile::tempdir().unwrap();
    write(&old, "policy.toml", DEFAULT_POLICY);
    write(&old, "directory.toml", DEFAULT_DIRECTORY);
    let new = tempfile::tempdir().unwrap();
    write(&new, "policy.toml", &draft_policy());
    let fema = "id = \"fema\"\nname = \"Federal Emergency Management Agency\"\nkind = \"dhs-component\"\nnationality = \"USA\"\nclearance = \"secret\"";
    assert!(DEFAULT_DIRECTORY.contains(fema));
    write(&new, "directory.toml", &DEFAULT_DIRECTORY.replace(fema, &fema.replace("\"secret\"", "\"top-secret\"")));
    let (old, new) = (old.path().to_str().unwrap(), new.path().to_str().unwrap());
    let (ok, out, stderr) = liaison(&["policy", "diff", old, new]).await;
    assert!(ok, "{stderr}");
    assert_eq!(
        out,
        "rules:\n  \
           ~ rule border-crime-relay-cbp-ice\n      \
               kinds: (absent) -> [\"alert\"]\n  \
           + rule cbp-to-fbi-border\n\
         directory:\n  \
           ~ party fema\n      \
               clearance: \"secret\" -> \"top-secret\"\n\
         edges:\n  \
           + cbp -> fbi: gains cbp-to-fbi-border (newly covered)\n"
    );
    // A policy file against the same file: no differences.
    let file = format!("{old}/policy.toml");
    let (ok, out, _) = liaison(&["policy", "diff", &file, &file]).await;
    assert!(ok);
    assert_eq!(out, "no differences\n");
}
