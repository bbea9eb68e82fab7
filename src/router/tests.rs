//! Router decisions as a table: one `check` per case.

use super::*;
use crate::model::{Markings, Precedence};

fn party(id: &str) -> PartyId {
    Token::parse(id).unwrap()
}

use crate::model::Token;

fn request(origin: &str, recipients: &[&str]) -> RouteRequest {
    RouteRequest {
        origin: party(origin),
        recipients: recipients.iter().map(|id| party(id)).collect(),
        kind: Kind::Report,
        topic: party("money-laundering"),
        markings: Markings::unclassified(),
        precedence: Precedence::Routine,
    }
}

/// Routes `origin -> recipients` with the default configuration and compares the outcomes, written as
/// `party` for delivered and `party:REASON` for denied.
fn check(origin: &str, recipients: &[&str], expected: &[&str]) {
    let router = Router::new(&RouterConfig::default()).unwrap();
    let routing = router.route(&request(origin, recipients)).unwrap();
    let actual: Vec<String> = routing
        .outcomes
        .iter()
        .map(|outcome| match outcome {
            Outcome::Deliver(approval) => approval.recipient().to_string(),
            Outcome::Deny(denial) => format!("{}:{:?}", denial.recipient, denial.reason),
        })
        .collect();
    assert_eq!(actual, expected, "{origin} -> {recipients:?}");
}

#[test]
fn hub_and_spoke() {
    check("cbp", &["ia"], &["ia"]);
    check("ia", &["cbp", "fbi"], &["cbp", "fbi"]);
    check("cbp", &["fbi"], &["fbi:NoRoute"]);
    check(
        "cbp",
        &["ia", "fbi", "nobody"],
        &["ia", "fbi:NoRoute", "nobody:UnknownParty"],
    );
    check("cbp", &["cbp"], &["cbp:SelfAddressed"]);
    check("cbp", &["ia", "ia"], &["ia"]);
}

#[test]
fn route_by_policy_selects_what_the_rules_allow() {
    check("cbp", &[], &["ia"]);
    let router = Router::new(&RouterConfig::default()).unwrap();
    let routing = router.route(&request("ia", &[])).unwrap();
    assert_eq!(routing.outcomes.len(), DEFAULT_PARTY_COUNT - 1);
    assert!(
        routing
            .outcomes
            .iter()
            .all(|outcome| matches!(outcome, Outcome::Deliver(_)))
    );
}

const DEFAULT_PARTY_COUNT: usize = 35;

#[test]
fn unknown_origin_and_too_many_recipients_are_refused() {
    let router = Router::new(&RouterConfig::default()).unwrap();
    assert_eq!(
        router.route(&request("nobody", &["ia"])).unwrap_err(),
        RouteError::UnknownOrigin(party("nobody"))
    );
    let mut big = request("cbp", &[]);
    big.recipients = vec![party("ia"); MAX_RECIPIENTS + 1];
    assert_eq!(
        router.route(&big).unwrap_err(),
        RouteError::TooManyRecipients(MAX_RECIPIENTS + 1)
    );
}

#[test]
fn explanations_say_why() {
    let router = Router::new(&RouterConfig::default()).unwrap();
    let routing = router.route(&request("cbp", &["fbi"])).unwrap();
    let Outcome::Deny(denial) = &routing.outcomes[0] else {
        panic!("expected a denial")
    };
    assert!(
        denial
            .explanation
            .contains("no routing rule lets cbp send to fbi"),
        "{}",
        denial.explanation
    );
    assert!(denial.explanation.contains("ia"), "{}", denial.explanation);
}

#[test]
fn rules_must_name_known_parties() {
    let config = RouterConfig {
        parties: vec!["ia".into()],
        allow: vec![AllowRule {
            from: "ia".into(),
            to: "cbp".into(),
        }],
    };
    let error = Router::new(&config).unwrap_err();
    assert!(
        error.contains("router.allow.to: cbp is not in router.parties"),
        "{error}"
    );
    let config = RouterConfig {
        parties: vec!["Bad.Party".into()],
        allow: vec![],
    };
    assert!(Router::new(&config).unwrap_err().contains("router.parties"));
}
