//! The test runner over the shipped policy: parsing, matching, failures at their lines, coverage.

use super::*;

fn router() -> Router {
    Router::embedded_default().unwrap()
}

const CASES: &str = r#"
[[case]]
name = "cbp to ia and fbi"
origin = "cbp"
recipients = ["ia", "fbi"]
topic = "money-laundering"
expect.ia = "delivered by host-reporting-to-ia"
expect.fbi = "denied NO_ROUTE"

[[case]]
name = "noforn to a partner"
origin = "ia"
recipients = ["gbr"]
topic = "counter-terrorism"
markings = "SECRET//NOFORN"
expect.gbr = "denied NOFORN"
"#;

#[test]
fn cases_that_hold_pass_and_count_what_they_cover() {
    let tests = parse("t.toml", CASES).unwrap();
    assert_eq!(tests.cases.len(), 2);
    assert_eq!(tests.cases[1].request.markings.banner(), "SECRET//NOFORN");
    let report = run(&tests, &router());
    assert_eq!((report.cases, report.checks, report.failures.len()), (2, 3, 0), "{:?}", report.failures);
    assert!(report.rules_covered.contains("host-reporting-to-ia"));
    assert!(report.reasons_covered.contains(&DenialReason::Noforn));
    assert!(report.marking_checks_not_covered().contains(&DenialReason::Les));
}

#[test]
fn a_wrong_expectation_fails_at_its_line_saying_what_was_expected_and_got() {
    let wrong = CASES.replace("expect.fbi = \"denied NO_ROUTE\"", "expect.fbi = \"delivered by host-reporting-to-ia\"");
    let report = run(&parse("deploy/policy/tests.toml", &wrong).unwrap(), &router());
    let lines: Vec<String> = report.failures.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "deploy/policy/tests.toml:8: cbp to ia and fbi: expected fbi delivered by host-reporting-to-ia got fbi denied \
          NO_ROUTE"
        ]
    );
}

#[test]
fn route_by_policy_fails_on_a_party_reached_that_is_not_expected() {
    let text = r#"
[[case]]
name = "by policy"
origin = "cbp"
topic = "border-security"
expect.ia = "delivered by host-reporting-to-ia"
"#;
    let report = run(&parse("t.toml", text).unwrap(), &router());
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    // Expecting a party the policy does not reach is a failure; so is one expected not reached that is.
    let text = text.replace("expect.ia = \"delivered by host-reporting-to-ia\"", "expect.ia = \"not reached\"");
    let report = run(&parse("t.toml", &text).unwrap(), &router());
    let lines: Vec<String> = report.failures.iter().map(ToString::to_string).collect();
    assert_eq!(lines, ["t.toml:6: by policy: expected ia not reached got ia delivered by host-reporting-to-ia"]);
}

#[test]
fn bad_cases_are_refused_at_their_line_naming_the_field() {
    let bad_banner = CASES.replace("SECRET//NOFORN", "SECRET//BOGUS");
    let error = parse("t.toml", &bad_banner).unwrap_err();
    assert_eq!(error.line, 15);
    assert!(error.to_string().starts_with("t.toml:15: noforn to a partner: markings: "), "{error}");
    let bad_expectation = CASES.replace("\"denied NOFORN\"", "\"maybe\"");
    let error = parse("t.toml", &bad_expectation).unwrap_err();
    assert!(error.to_string().starts_with("t.toml:16: noforn to a partner: expect.gbr: delivered"), "{error}");
    let error = parse("t.toml", "[[case]]\nname = \"x\"\n").unwrap_err();
    assert_eq!(error.file, "t.toml");
    assert!(parse("t.toml", &"#".repeat(MAX_FILE_BYTES + 1)).is_err());
}

#[test]
fn an_expectation_reads_every_form_and_nothing_else() {
    assert_eq!(expected("delivered"), Some(Expected::Delivered(None)));
    assert_eq!(expected("held by r"), Some(Expected::Held(Some("r".into()))));
    assert_eq!(expected("denied DENIAL_REASON_TLP"), Some(Expected::Denied(Some(DenialReason::Tlp))));
    assert_eq!(expected("denied rule_limits"), Some(Expected::Denied(Some(DenialReason::RuleLimits))));
    assert_eq!(expected("not reached"), Some(Expected::NotReached));
    assert_eq!(expected("denied SOMETIMES"), None);
    assert_eq!(expected("delivered by"), None);
}

#[test]
fn a_message_the_router_refuses_is_a_failure_not_a_panic() {
    let text = CASES.replace("origin = \"cbp\"", "origin = \"nobody\"");
    let report = run(&parse("t.toml", &text).unwrap(), &router());
    assert_eq!(report.failures.len(), 1);
    assert!(
        report.failures[0]
            .to_string()
            .contains("expected fbi denied NO_ROUTE got fbi the message refused: origin party nobody")
    );
}

/// The shipped test file passes against the shipped policy and covers every rule and marking check.
#[test]
fn the_shipped_tests_pass_and_cover_every_rule_and_marking_check() {
    let text = include_str!("../../../deploy/policy/tests.toml");
    let report = run(&parse("deploy/policy/tests.toml", text).unwrap(), &router());
    let failures: Vec<String> = report.failures.iter().map(ToString::to_string).collect();
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(report.rules_not_covered(&router()), Vec::<String>::new());
    assert_eq!(report.marking_checks_not_covered(), vec![]);
    assert!(report.rules_covered.len() >= 18);
}
