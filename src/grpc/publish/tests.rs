//! The publish path's pure checks: unknown recipients and corrections.

use super::*;
use crate::model::{Kind, Markings, Precedence, Token};
use crate::router::Router;

fn route(recipients: &[&str]) -> (RouteRequest, Routing) {
    let request = RouteRequest {
        origin: Token::parse("cbp").unwrap(),
        recipients: recipients.iter().map(|party| Token::parse(party).unwrap()).collect(),
        kind: Kind::Report,
        topic: Token::parse("border-security").unwrap(),
        markings: Markings::unclassified(),
        precedence: Precedence::Routine,
    };
    let routing = Router::embedded_default().unwrap().route(&request).unwrap();
    (request, routing)
}

#[test]
fn a_publish_naming_more_unknown_parties_than_the_limit_is_refused_naming_it() {
    let (request, routing) = route(&["ia", "nobody", "no-one"]);
    assert!(check_unknown(&request, &routing, 2).is_ok(), "known parties do not count");
    let refused = check_unknown(&request, &routing, 1).unwrap_err();
    assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
    let message = refused.to_string();
    assert!(message.contains("2 named recipients") && message.contains("nobody, no-one"), "{message}");
    assert!(message.contains("at most 1 (--max-unknown-recipients)"), "{message}");

    let many: Vec<String> = (0..20).map(|index| format!("made-up-{index}")).collect();
    let (request, routing) = route(&many.iter().map(String::as_str).collect::<Vec<_>>());
    let message = check_unknown(&request, &routing, 8).unwrap_err().to_string();
    assert!(message.contains("made-up-7, ...") && !message.contains("made-up-8"), "eight named: {message}");
}

#[test]
fn parties_a_correction_reaches_again_are_not_the_callers_to_count() {
    let (mut request, routing) = route(&["nobody"]);
    request.recipients.clear();
    assert!(check_unknown(&request, &routing, 0).is_ok());
}
