//! Directory and policy TOML loading (`router/directory.rs`, `router/policy.rs`), then routing under
//! whatever loads.
//!
//! Input: one byte choosing what the rest is: 0, a policy for the shipped directory; 1, a directory for the
//! shipped policy; 2, a directory and a policy separated by the first NUL byte.
#![no_main]

use liaison::model::{Classification, DisseminationControl, Kind, Markings, Precedence, RouteRequest, Tlp, Token};
use liaison::router::{DEFAULT_DIRECTORY, DEFAULT_POLICY, LoadError, Router};
use liaison_fuzz::check_routing;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let (directory, policy) = match mode % 3 {
        0 => (DEFAULT_DIRECTORY.as_bytes(), rest),
        1 => (rest, DEFAULT_POLICY.as_bytes()),
        _ => match rest.iter().position(|&byte| byte == 0) {
            Some(at) => (&rest[..at], &rest[at + 1..]),
            None => (rest, &[][..]),
        },
    };
    // The files are read as UTF-8 text; anything else fails before parsing.
    let (Ok(directory), Ok(policy)) = (std::str::from_utf8(directory), std::str::from_utf8(policy)) else { return };
    match Router::load(("directory.toml", directory), ("policy.toml", policy)) {
        Err(error) => check_error(&error, directory, policy),
        Ok(router) => route_some(&router),
    }
});

/// A load error names its file, a field and a line within the file.
fn check_error(error: &LoadError, directory: &str, policy: &str) {
    let text = match error.file.as_str() {
        "directory.toml" => directory,
        "policy.toml" => policy,
        other => panic!("error names file {other:?}"),
    };
    assert!(!error.field.is_empty() && !error.message.is_empty(), "{error}");
    if let Some(line) = error.line {
        assert!((1..=text.matches('\n').count() + 1).contains(&line), "{error}: line out of the file");
    }
}

/// Routes a few messages from the first parties, by policy and to named recipients, under the loaded files.
fn route_some(router: &Router) {
    let parties = router.directory().parties();
    let markings = [
        Markings::unclassified(),
        Markings {
            classification: Classification::Secret,
            controls: vec![DisseminationControl::Les],
            rel_to: vec!["USA".into(), "CAN".into()],
            tlp: Some(Tlp::Amber),
            ..Markings::unclassified()
        },
        Markings { tlp: Some(Tlp::Red), ..Markings::unclassified() },
    ];
    let topics: Vec<Token> =
        ["counter-terrorism", "narcotics", "other"].iter().filter_map(|t| Token::parse(t).ok()).collect();
    let named: Vec<Token> = parties.iter().take(6).map(|party| party.id.clone()).collect();
    for (index, origin) in parties.iter().take(4).enumerate() {
        for recipients in [Vec::new(), named.clone()] {
            let request = RouteRequest {
                origin: origin.id.clone(),
                recipients,
                kind: Kind::ALL[index % Kind::ALL.len()],
                topic: topics[index % topics.len()].clone(),
                markings: markings[index % markings.len()].clone(),
                precedence: Precedence::ALL[index % Precedence::ALL.len()],
            };
            check_routing(router, &request, &named);
        }
    }
}
