//! Converting and validating protobuf requests into domain types. Every error names the field it is about.

use std::time::Duration;

use crate::api as pb;
use crate::identity::Caller;
use crate::model::{Kind, PartyId, Precedence, RouteRequest, Tlp, Token};
use crate::router::DenialReason;
use crate::traffic::FlowLabels;

use super::GatewayError;
use super::server::Limits;

mod markings;

pub use markings::{markings, markings_to_pb, stored_markings};

/// Longest title, in bytes.
const MAX_TITLE_BYTES: usize = 1024;
/// Most attributes per message.
const MAX_ATTRIBUTES: usize = 64;
const MAX_ATTRIBUTE_KEY_BYTES: usize = 128;
const MAX_ATTRIBUTE_VALUE_BYTES: usize = 4096;
const MAX_CONTENT_TYPE_BYTES: usize = 255;
const MAX_IDEMPOTENCY_KEY_BYTES: usize = 128;

/// Attribute keys with this prefix (in any letter case) are the gateway's: purge notices and corrections
/// carry `liaison.notice`, `liaison.message_id`, `liaison.reason`, and receiving systems act on them.
pub const RESERVED_ATTRIBUTE_PREFIX: &str = "liaison.";
/// Most an originator's `created_at` may lie ahead of the gateway's clock (clocks differ a little).
const CREATED_AT_SLACK: time::Duration = time::Duration::minutes(5);

fn invalid(message: String) -> GatewayError {
    GatewayError::InvalidArgument(message)
}

/// Parses a token field, naming the field on error.
pub fn token(field: &str, value: &str) -> Result<Token, GatewayError> {
    Token::parse(value).map_err(|error| invalid(format!("{field}: {error}")))
}

/// Parses a list of token fields, naming the one in error as `list[index]`; the name is made only then, so
/// a publish's recipients cost no formatting.
pub fn tokens(list: &str, values: &[String]) -> Result<Vec<Token>, GatewayError> {
    let parse = |(index, value): (usize, &String)| {
        Token::parse(value).map_err(|error| invalid(format!("{list}[{index}]: {error}")))
    };
    values.iter().enumerate().map(parse).collect()
}

/// Validates a publish and returns its routing view. The envelope is normalised in place: precedence
/// defaults to ROUTINE. Identity fields (`id`, `origin`) are checked here and set by the publisher.
pub fn route_request(
    caller: &Caller,
    envelope: &mut pb::Envelope,
    limits: &Limits,
) -> Result<RouteRequest, GatewayError> {
    if !envelope.id.is_empty() {
        return Err(invalid("envelope.id: assigned by the gateway; leave it empty".into()));
    }
    if !envelope.origin.is_empty() && envelope.origin != caller.party.as_str() {
        return Err(GatewayError::PermissionDenied(format!(
            "envelope.origin: {:?} is not the caller's party {}; the origin is always the caller's own party",
            envelope.origin, caller.party
        )));
    }
    check_body(envelope, limits)?;
    check_metadata(envelope, limits)?;
    check_criminal_intelligence(envelope.criminal_intelligence.as_ref())?;
    let recipients = tokens("envelope.recipients", &envelope.recipients)?;
    let kind = kind("envelope.kind", envelope.kind)?;
    if kind == Kind::Notice {
        return Err(invalid("envelope.kind: NOTICE is sent by the gateway only (purge and correction notices)".into()));
    }
    if !envelope.supersedes.is_empty() {
        ulid::Ulid::from_string(&envelope.supersedes)
            .map_err(|_| invalid(format!("envelope.supersedes: {:?} is not a message id", envelope.supersedes)))?;
    }
    let topic = token("envelope.topic", &envelope.topic)?;
    let markings = markings(envelope.markings.as_ref())?;
    // Stored (and so delivered) in canonical form, the banner beside the fields.
    envelope.markings = Some(markings_to_pb(&markings));
    if markings.tlp == Some(Tlp::Red) && recipients.is_empty() {
        return Err(invalid("envelope.markings.tlp: TLP:RED goes only to named recipients; name them".into()));
    }
    let precedence = precedence(envelope.precedence)?;
    if envelope.precedence == pb::Precedence::Unspecified as i32 {
        envelope.precedence = pb::Precedence::Routine as i32;
    }
    Ok(RouteRequest { origin: caller.party.clone(), recipients, kind, topic, markings, precedence })
}

/// Longest reasonable-suspicion statement and control-official name.
const MAX_SUSPICION_BYTES: usize = 8 * 1024;
const MAX_OFFICIAL_BYTES: usize = 256;

/// 28 CFR 23.20(a): criminal intelligence only with a stated reasonable suspicion and a named control official.
fn check_criminal_intelligence(marking: Option<&pb::CriminalIntelligence>) -> Result<(), GatewayError> {
    let Some(marking) = marking else { return Ok(()) };
    let required = [
        (
            "reasonable_suspicion",
            &marking.reasonable_suspicion,
            MAX_SUSPICION_BYTES,
            "must state the reasonable suspicion of criminal conduct the submission rests on",
        ),
        (
            "control_official",
            &marking.control_official,
            MAX_OFFICIAL_BYTES,
            "must name the submitting agency's control official",
        ),
    ];
    for (field, value, limit, rule) in required {
        let field = format!("envelope.criminal_intelligence.{field}");
        if value.trim().is_empty() {
            return Err(invalid(format!("{field}: criminal intelligence {rule} (28 CFR 23.20(a))")));
        }
        if value.len() > limit {
            return Err(invalid(format!("{field}: at most {limit} bytes, got {}", value.len())));
        }
    }
    Ok(())
}

fn check_body(envelope: &pb::Envelope, limits: &Limits) -> Result<(), GatewayError> {
    if envelope.body.is_empty() {
        return Err(invalid("envelope.body: must not be empty".into()));
    }
    if envelope.body.len() > limits.max_body_bytes {
        return Err(GatewayError::TooLarge(format!(
            "envelope.body: {} bytes exceeds the limit of {} bytes",
            envelope.body.len(),
            limits.max_body_bytes
        )));
    }
    Ok(())
}

fn check_metadata(envelope: &pb::Envelope, limits: &Limits) -> Result<(), GatewayError> {
    let too_large = |field: &str, size: usize, limit: usize| {
        GatewayError::TooLarge(format!("{field}: {size} bytes exceeds the limit of {limit} bytes"))
    };
    if envelope.title.len() > MAX_TITLE_BYTES {
        return Err(too_large("envelope.title", envelope.title.len(), MAX_TITLE_BYTES));
    }
    if envelope.content_type.len() > MAX_CONTENT_TYPE_BYTES {
        return Err(too_large("envelope.content_type", envelope.content_type.len(), MAX_CONTENT_TYPE_BYTES));
    }
    let key = &envelope.idempotency_key;
    if key.len() > MAX_IDEMPOTENCY_KEY_BYTES
        || !key.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
    {
        return Err(invalid(format!(
            "envelope.idempotency_key: at most {MAX_IDEMPOTENCY_KEY_BYTES} characters of letters, digits, '-', '_', '.', ':'"
        )));
    }
    if !envelope.in_reply_to.is_empty() && ulid::Ulid::from_string(&envelope.in_reply_to).is_err() {
        return Err(invalid("envelope.in_reply_to: must be a message id (ULID)".into()));
    }
    if let Some(created_at) = &envelope.created_at {
        check_created_at(created_at, time::OffsetDateTime::now_utc())?;
    }
    if envelope.attributes.len() > MAX_ATTRIBUTES {
        return Err(GatewayError::TooLarge(format!(
            "envelope.attributes: {} entries exceeds the limit of {MAX_ATTRIBUTES}",
            envelope.attributes.len()
        )));
    }
    let mut metadata_bytes = envelope.title.len() + envelope.content_type.len();
    for (key, value) in &envelope.attributes {
        if key.is_empty() || key.len() > MAX_ATTRIBUTE_KEY_BYTES {
            return Err(invalid(format!(
                "envelope.attributes: keys must be 1 to {MAX_ATTRIBUTE_KEY_BYTES} bytes, got {}",
                key.len()
            )));
        }
        if is_reserved_attribute(key) {
            return Err(invalid(format!(
                "envelope.attributes[{key}]: keys starting with {RESERVED_ATTRIBUTE_PREFIX:?} are reserved for the \
                 gateway's own notices (purges, corrections)"
            )));
        }
        if value.len() > MAX_ATTRIBUTE_VALUE_BYTES {
            return Err(too_large(&format!("envelope.attributes[{key}]"), value.len(), MAX_ATTRIBUTE_VALUE_BYTES));
        }
        metadata_bytes += key.len() + value.len();
    }
    if metadata_bytes > limits.max_metadata_bytes {
        return Err(too_large(
            "envelope metadata (title, content_type, attributes)",
            metadata_bytes,
            limits.max_metadata_bytes,
        ));
    }
    Ok(())
}

impl From<Kind> for pb::Kind {
    fn from(kind: Kind) -> pb::Kind {
        match kind {
            Kind::Report => pb::Kind::Report,
            Kind::Alert => pb::Kind::Alert,
            Kind::Tip => pb::Kind::Tip,
            Kind::Rfi => pb::Kind::Rfi,
            Kind::RfiResponse => pb::Kind::RfiResponse,
            Kind::Product => pb::Kind::Product,
            Kind::Notice => pb::Kind::Notice,
        }
    }
}

impl From<Precedence> for pb::Precedence {
    fn from(precedence: Precedence) -> pb::Precedence {
        match precedence {
            Precedence::Routine => pb::Precedence::Routine,
            Precedence::Priority => pb::Precedence::Priority,
            Precedence::Immediate => pb::Precedence::Immediate,
            Precedence::Flash => pb::Precedence::Flash,
        }
    }
}

/// A required message kind.
pub fn kind(field: &str, value: i32) -> Result<Kind, GatewayError> {
    match pb::Kind::try_from(value) {
        Ok(pb::Kind::Unspecified) => Err(invalid(format!("{field}: required"))),
        Ok(pb::Kind::Report) => Ok(Kind::Report),
        Ok(pb::Kind::Alert) => Ok(Kind::Alert),
        Ok(pb::Kind::Tip) => Ok(Kind::Tip),
        Ok(pb::Kind::Rfi) => Ok(Kind::Rfi),
        Ok(pb::Kind::RfiResponse) => Ok(Kind::RfiResponse),
        Ok(pb::Kind::Product) => Ok(Kind::Product),
        Ok(pb::Kind::Notice) => Ok(Kind::Notice),
        Err(_) => Err(invalid(format!("{field}: unknown value {value}"))),
    }
}

pub fn precedence(value: i32) -> Result<Precedence, GatewayError> {
    match pb::Precedence::try_from(value) {
        Ok(pb::Precedence::Unspecified | pb::Precedence::Routine) => Ok(Precedence::Routine),
        Ok(pb::Precedence::Priority) => Ok(Precedence::Priority),
        Ok(pb::Precedence::Immediate) => Ok(Precedence::Immediate),
        Ok(pb::Precedence::Flash) => Ok(Precedence::Flash),
        Err(_) => Err(invalid(format!("envelope.precedence: unknown value {value}"))),
    }
}

/// The API's code for a denial reason.
pub fn denial_reason(reason: DenialReason) -> pb::DenialReason {
    match reason {
        DenialReason::UnknownParty => pb::DenialReason::UnknownParty,
        DenialReason::SelfAddressed => pb::DenialReason::SelfAddressed,
        DenialReason::NoRoute => pb::DenialReason::NoRoute,
        DenialReason::RuleLimits => pb::DenialReason::RuleLimits,
        DenialReason::RelayRequired => pb::DenialReason::RelayRequired,
        DenialReason::Classification => pb::DenialReason::Classification,
        DenialReason::Noforn => pb::DenialReason::Noforn,
        DenialReason::NotReleasable => pb::DenialReason::NotReleasable,
        DenialReason::Les => pb::DenialReason::Les,
        DenialReason::Tlp => pb::DenialReason::Tlp,
        DenialReason::Access => pb::DenialReason::Access,
        DenialReason::Orcon => pb::DenialReason::Orcon,
    }
}

/// True for attribute keys only the gateway may set.
fn is_reserved_attribute(key: &str) -> bool {
    key.get(..RESERVED_ATTRIBUTE_PREFIX.len())
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case(RESERVED_ATTRIBUTE_PREFIX))
}

/// The originator's creation time is its own claim and is kept as given, within bounds: not before the
/// Unix epoch, and not more than [`CREATED_AT_SLACK`] ahead of the gateway's clock. Retention, review and
/// the audit never use it: they go by the gateway's time (the message id is a ULID of it).
fn check_created_at(created_at: &prost_types::Timestamp, now: time::OffsetDateTime) -> Result<(), GatewayError> {
    const FIELD: &str = "envelope.created_at";
    if !(0..1_000_000_000).contains(&created_at.nanos) {
        return Err(invalid(format!("{FIELD}: nanos must be within 0..1e9")));
    }
    let at = time(FIELD, created_at)?;
    if at > now + CREATED_AT_SLACK {
        return Err(invalid(format!(
            "{FIELD}: {} is ahead of the gateway's clock ({}) by more than {} minutes; leave it empty for the publish time",
            timestamp_text(at),
            timestamp_text(now),
            CREATED_AT_SLACK.whole_minutes()
        )));
    }
    Ok(())
}

/// A protobuf duration as a std duration, refusing negatives. Negative seconds are refused before
/// prost's conversion, which negates them (and overflows on `i64::MIN`).
pub fn duration(field: &str, value: &prost_types::Duration) -> Result<Duration, GatewayError> {
    let negative = || invalid(format!("{field}: must be a non-negative duration"));
    if value.seconds < 0 {
        return Err(negative());
    }
    Duration::try_from(*value).map_err(|_| negative())
}

/// A point in time from a protobuf timestamp.
pub fn time(field: &str, value: &prost_types::Timestamp) -> Result<time::OffsetDateTime, GatewayError> {
    let nanos = i128::from(value.seconds) * 1_000_000_000 + i128::from(value.nanos);
    let out_of_range = || invalid(format!("{field}: out of range; times run from {EARLIEST} to {LATEST}"));
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|_| out_of_range())?;
    match at.year() {
        // Before the epoch nothing was stored, and NATS (Go) cannot take every negative year.
        ..1970 => Err(invalid(format!("{field}: {} is before {EARLIEST}", timestamp_text(at)))),
        // What protobuf's Timestamp (and RFC 3339) can express.
        10_000.. => Err(out_of_range()),
        _ => Ok(at),
    }
}

/// The range of times a request may name.
const EARLIEST: &str = "1970-01-01T00:00:00Z";
const LATEST: &str = "9999-12-31T23:59:59Z";

/// Most a start time may lie ahead of the gateway's clock: the client's clock may be ahead of it.
const START_TIME_SLACK: time::Duration = time::Duration::minutes(5);

/// A time to start reading a feed at. It must not lie in the future: JetStream picks the start when the
/// subscription is created, so a later time could only mean "now", and one past the year 2262 overflows
/// nats-server's clock and reads from the very beginning instead.
pub fn start_time(field: &str, value: &prost_types::Timestamp) -> Result<time::OffsetDateTime, GatewayError> {
    let start = time(field, value)?;
    if start > time::OffsetDateTime::now_utc() + START_TIME_SLACK {
        return Err(invalid(format!("{field}: {} is in the future; give a time already past", timestamp_text(start))));
    }
    Ok(start)
}

fn timestamp_text(time: time::OffsetDateTime) -> String {
    // RFC 3339 has four-digit years only; earlier or later times are shown by their date and time.
    time.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| format!("{}-{:02}-{:02}T{}Z", time.year(), u8::from(time.month()), time.day(), time.time()))
}

/// How long until a message being published expires, if it does. A time already past is refused.
pub fn expires_in(envelope: &pb::Envelope, now: time::OffsetDateTime) -> Result<Option<Duration>, GatewayError> {
    let Some(expires_at) = &envelope.expires_at else {
        return Ok(None);
    };
    let left = time("envelope.expires_at", expires_at)? - now;
    match Duration::try_from(left) {
        Ok(left) if !left.is_zero() => Ok(Some(left)),
        _ => Err(invalid("envelope.expires_at: must be in the future".into())),
    }
}

/// True when a stored message's expiry has passed.
pub fn expired(envelope: &pb::Envelope, now: time::OffsetDateTime) -> bool {
    envelope.expires_at.as_ref().is_some_and(|expires_at| time("", expires_at).is_ok_and(|at| at <= now))
}

/// A protobuf timestamp for a point in time.
pub fn timestamp(time: time::OffsetDateTime) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: time.unix_timestamp(), nanos: time.nanosecond() as i32 }
}

/// The traffic labels of a stored copy for `recipient`, from its envelope; `None` if a token is invalid
/// (never so for copies the gateway stored).
pub fn flow_labels(recipient: &PartyId, envelope: &pb::Envelope) -> Option<FlowLabels> {
    Some(FlowLabels {
        recipient: recipient.clone(),
        origin: Token::parse(&envelope.origin).ok()?,
        kind: kind("kind", envelope.kind).ok()?,
        topic: Token::parse(&envelope.topic).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> prost_types::Timestamp {
        prost_types::Timestamp { seconds, nanos: 0 }
    }

    #[test]
    fn a_token_list_names_the_entry_in_error_by_its_index() {
        let values = ["fbi".to_string(), "not a party".to_string()];
        let parsed = tokens("envelope.recipients", &values[..1]).unwrap();
        assert_eq!(parsed.iter().map(|token| token.as_str()).collect::<Vec<_>>(), ["fbi"]);
        let Err(GatewayError::InvalidArgument(message)) = tokens("envelope.recipients", &values) else {
            panic!("a bad entry is refused");
        };
        assert!(message.starts_with("envelope.recipients[1]: "), "{message}");
        assert!(tokens("envelope.recipients", &[]).unwrap().is_empty());
    }

    #[test]
    fn created_at_may_lie_in_the_past_or_a_little_ahead() {
        let now = time::OffsetDateTime::from_unix_timestamp(2_000_000_000).unwrap();
        assert!(check_created_at(&at(0), now).is_ok());
        assert!(check_created_at(&at(1_000_000_000), now).is_ok());
        assert!(check_created_at(&at(2_000_000_000 + 299), now).is_ok());
    }

    #[test]
    fn created_at_far_from_the_clock_is_refused_naming_the_field() {
        let now = time::OffsetDateTime::from_unix_timestamp(2_000_000_000).unwrap();
        for bad in [
            at(2_000_000_000 + 301),
            at(-1),
            at(i64::MAX),
            at(i64::MIN),
            prost_types::Timestamp { seconds: 5, nanos: -1 },
        ] {
            let error = check_created_at(&bad, now).unwrap_err();
            assert!(
                matches!(&error, GatewayError::InvalidArgument(text) if text.starts_with("envelope.created_at: ")),
                "{bad:?}: {error}"
            );
        }
        let ahead = check_created_at(&at(2_000_000_000 + 3600), now).unwrap_err().to_string();
        assert!(ahead.contains("ahead of the gateway's clock"), "{ahead}");
    }

    #[test]
    fn times_run_from_the_epoch_to_the_end_of_year_9999() {
        let time = |seconds: i64, nanos: i32| time("since", &prost_types::Timestamp { seconds, nanos });
        assert!(time(0, 0).is_ok());
        assert!(time(253_402_300_799, 999_999_999).is_ok(), "9999-12-31T23:59:59.999999999Z");
        for (seconds, nanos, needle) in [
            (-1, 0, "since: 1969-12-31T23:59:59Z is before 1970-01-01T00:00:00Z"),
            (-62_135_596_800 - 86_400, 0, "since: 0000-12-31T00:00:00Z is before 1970"),
            (-62_198_755_200, 0, "since: -1-01-01T0:00:00.0Z is before 1970"),
            (253_402_300_800, 0, "since: out of range"),
            (i64::MAX, 0, "since: out of range"),
            (i64::MIN, 0, "since: out of range"),
        ] {
            let error = time(seconds, nanos).unwrap_err().to_string();
            assert!(error.contains(needle), "{seconds}: {error}");
        }
    }

    #[test]
    fn durations_are_non_negative_and_the_most_negative_is_refused_without_overflowing() {
        // Found by fuzzing (fuzz/corpus/requests): prost negated i64::MIN seconds.
        let duration = |seconds: i64, nanos: i32| duration("within", &prost_types::Duration { seconds, nanos });
        assert_eq!(duration(0, 0).unwrap(), Duration::ZERO);
        assert_eq!(duration(i64::MAX, 999_999_999).unwrap(), Duration::new(i64::MAX as u64, 999_999_999));
        assert_eq!(duration(1, -500_000_000).unwrap(), Duration::from_millis(500), "normalised as before");
        for (seconds, nanos) in [(i64::MIN, 0), (i64::MIN, i32::MIN), (-1, 0), (0, -1), (0, i32::MIN)] {
            let error = duration(seconds, nanos).unwrap_err().to_string();
            assert_eq!(error, "within: must be a non-negative duration", "{seconds}s {nanos}ns");
        }
    }

    #[test]
    fn liaison_attribute_keys_are_reserved_in_any_case() {
        for key in ["liaison.notice", "Liaison.Message_Id", "LIAISON.reason", "liaison."] {
            assert!(is_reserved_attribute(key), "{key}");
        }
        for key in ["liaison", "liaisonnotice", "x.liaison.notice", "li", "ünicode"] {
            assert!(!is_reserved_attribute(key), "{key}");
        }
    }
}
