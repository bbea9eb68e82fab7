//! Shared fixtures for the fuzz targets: the shipped directory and policy, callers, values at the edges of
//! their ranges, and the rule every target checks: a refused input is a client error, never a panic.

use std::sync::OnceLock;

use liaison::grpc::GatewayError;
use liaison::identity::{Caller, Role};
use liaison::model::{PartyId, RouteRequest, Tlp, Token};
use liaison::router::{Holder, Outcome, Router, check_holder};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use tonic::Code;

/// The router of the shipped directory and policy (`deploy/policy`), built once.
pub fn router() -> &'static Router {
    static ROUTER: OnceLock<Router> = OnceLock::new();
    ROUTER.get_or_init(|| Router::embedded_default().expect("the shipped directory and policy load"))
}

/// A caller of `party` in `role`, with no personal attributes.
pub fn caller(party: &str, role: Role) -> Caller {
    Caller {
        party: Token::parse(party).expect("a valid party token"),
        role,
        subject: format!("fuzz@{party}"),
        clearance: None,
        nationality: None,
        law_enforcement: None,
        accesses: None,
    }
}

/// One of the directory's parties.
pub fn party<'a>(u: &mut Unstructured<'_>, router: &'a Router) -> Result<&'a liaison::router::Party> {
    let parties = router.directory().parties();
    Ok(&parties[u.choose_index(parties.len())?])
}

/// Tokens the shipped directory and policy know, and a few near misses.
pub const WORDS: &[&str] = &[
    "ia",
    "cbp",
    "ice",
    "fbi",
    "nctc",
    "can",
    "gbr",
    "mex",
    "fc-ny",
    "nypd",
    "counter-terrorism",
    "narcotics",
    "money-laundering",
    "cyber-crime",
    "*",
    "",
    "IA",
    "ia.",
    "a-",
    "-a",
    "ünï",
    "a b",
    "x",
];

/// A short string: a known word, or arbitrary text.
pub fn word(u: &mut Unstructured<'_>) -> Result<String> {
    match u.ratio(3, 4)? {
        true => Ok(u.choose(WORDS)?.to_string()),
        false => u.arbitrary(),
    }
}

/// Countries and near misses for REL TO and nationalities.
pub const COUNTRIES: &[&str] = &["USA", "CAN", "GBR", "MEX", "AUS", "NZL", "usa", "US", "XXX", "AAA", ""];

/// Unix seconds around every edge a request time meets: the epoch, the end of year 9999 (protobuf's
/// Timestamp and RFC 3339), year 2262 (nanoseconds in an i64), the gateway's clock, and the integer limits.
pub fn edge_seconds(u: &mut Unstructured<'_>) -> Result<i64> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let edges = [
        0,
        -1,
        1,
        253_402_300_799,
        253_402_300_800,
        -62_135_596_800,
        -62_135_596_801,
        9_223_372_036,
        9_223_372_037,
        i64::MAX,
        i64::MIN,
        i64::MAX / 1_000_000_000,
        now,
        now + 299,
        now + 301,
        now - 1,
        i64::from(i32::MAX),
        u32::MAX.into(),
    ];
    match u.int_in_range(0..=3)? {
        0 => u.arbitrary(),
        1 => Ok(u.choose(&edges)?.wrapping_add(u.int_in_range(-2..=2)?)),
        _ => Ok(*u.choose(&edges)?),
    }
}

/// Nanoseconds at the edges of a Timestamp's or Duration's `nanos`.
pub fn edge_nanos(u: &mut Unstructured<'_>) -> Result<i32> {
    let edges = [0, 1, -1, 999_999_999, 1_000_000_000, -999_999_999, -1_000_000_000, i32::MAX, i32::MIN];
    match u.ratio(3, 4)? {
        true => Ok(*u.choose(&edges)?),
        false => u.arbitrary(),
    }
}

/// A protobuf timestamp at or near an edge.
pub fn timestamp(u: &mut Unstructured<'_>) -> Result<prost_types::Timestamp> {
    Ok(prost_types::Timestamp { seconds: edge_seconds(u)?, nanos: edge_nanos(u)? })
}

/// A protobuf duration at or near an edge: zero, the ranges the gateway allows (10 ms ... 1 h, 1 s ...
/// 600 s), protobuf's ±10,000 years, and the integer limits.
pub fn duration(u: &mut Unstructured<'_>) -> Result<prost_types::Duration> {
    let edges = [0, 1, -1, 600, 601, 3_600, 3_601, 30 * 86_400, 315_576_000_000, 315_576_000_001, i64::MAX, i64::MIN];
    let seconds = match u.ratio(3, 4)? {
        true => *u.choose(&edges)?,
        false => u.arbitrary()?,
    };
    let nanos = match u.ratio(1, 2)? {
        true => *u.choose(&[0, 10_000_000, 9_999_999, 999_999_999])?,
        false => edge_nanos(u)?,
    };
    Ok(prost_types::Duration { seconds, nanos })
}

/// An optional value: present three times in four.
pub fn some<T>(u: &mut Unstructured<'_>, value: impl FnOnce(&mut Unstructured<'_>) -> Result<T>) -> Result<Option<T>> {
    match u.ratio(3, 4)? {
        true => value(u).map(Some),
        false => Ok(None),
    }
}

/// A refusal of client input must be a client error that says what is wrong: never UNAVAILABLE or a bus
/// error (nothing here touched NATS), and never an empty message.
pub fn assert_client_error(error: &GatewayError) {
    let code = error.code();
    assert!(
        matches!(code, Code::InvalidArgument | Code::ResourceExhausted | Code::PermissionDenied),
        "unexpected {code:?} for client input: {error}"
    );
    assert!(!error.to_string().is_empty(), "{code:?} without a message");
}

/// The time of a protobuf timestamp must be within the range requests may name.
pub fn assert_in_time_range(at: time::OffsetDateTime) {
    assert!((1970..=9999).contains(&at.year()), "{at} outside 1970..=9999");
}

/// Routes `request` (and, as a correction, with `earlier` recipients) and checks what no policy can
/// change: every recipient is decided once; a copy goes only to a directory party other than the origin,
/// that the holder checks allow, and that was named when the publisher named recipients; TLP:RED only to
/// named recipients; ORCON only to recipients the originator named in this publish (a correction's
/// earlier recipients, unapproved, are not).
pub fn check_routing(router: &Router, request: &RouteRequest, earlier: &[PartyId]) {
    let Ok(routing) = router.route(request) else { return };
    check_outcomes(router, request, &routing.outcomes, &request.recipients);
    if let Ok(correction) = router.route_correction(request, earlier, &[]) {
        let named: Vec<PartyId> = request.recipients.iter().chain(earlier).cloned().collect();
        check_outcomes(router, request, &correction.outcomes, &named);
    }
}

/// Checks outcomes; `named` are the recipients the request (or the corrected message) named.
fn check_outcomes(router: &Router, request: &RouteRequest, outcomes: &[Outcome], named: &[PartyId]) {
    let orcon = request.markings.has(liaison::model::DisseminationControl::Orcon);
    let fan_out = request.recipients.is_empty();
    for (index, outcome) in outcomes.iter().enumerate() {
        let recipient = outcome.recipient();
        assert!(!outcomes[..index].iter().any(|other| other.recipient() == recipient), "{recipient} decided twice");
        if let Outcome::Hold(hold) = outcome {
            let party = router.directory().get(&hold.recipient).expect("held recipients are in the directory");
            assert_ne!(party.nationality, "USA", "held for a USA party");
            assert!(request.markings.releasable_by_disclosure_official(), "held without RELIDO");
        }
        let Outcome::Deliver(approval) = outcome else { continue };
        assert_ne!(recipient, &request.origin, "a copy back to the origin");
        let party = router.directory().get(recipient).expect("approved recipients are in the directory");
        let refusal = check_holder(&request.markings, &Holder::party(party), router.directory().tetragraphs());
        assert_eq!(refusal, None, "{recipient} approved by {} although the markings forbid it", approval.rule());
        if !fan_out || request.markings.tlp == Some(Tlp::Red) {
            assert!(named.contains(recipient), "{recipient} approved but not named");
        }
        if orcon {
            assert!(
                request.recipients.contains(recipient),
                "ORCON {recipient} approved but not named by the originator"
            );
        }
    }
}

/// The last instant a request may name: the end of year 9999.
pub fn last_time() -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(253_402_300_799_999_999_999).expect("in range")
}
