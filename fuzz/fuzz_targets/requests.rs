//! The validation of Subscribe's `open`, Seek, QueryAudit and ListReviewDue, as their handlers run it
//! before any I/O, then the pure steps after it (the audit stretch to read, records matched, the review
//! list), with every timestamp and duration at the edges of its range.
//!
//! Input: one byte; its low two bits choose the request, bit 2 whether the rest is the request's protobuf
//! encoding or structured input biased to edge values.
#![no_main]

use std::time::Duration;

use liaison::api as pb;
use liaison::audit::{AuditEntry, AuditRecord, written_at};
use liaison::bus::{MAX_FILTER_SUBJECTS, Start, feed_filter_subjects};
use liaison::grpc::{Limits, fuzzing};
use liaison::identity::Role;
use liaison::retention::{MessageRecord, MessageState, Revalidation, published_at, review_of};
use liaison::router::MAX_RETENTION;
use liaison_fuzz::{assert_client_error, assert_in_time_range, caller, duration, router, some, timestamp, word};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use prost::Message;
use time::OffsetDateTime;

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let which: u8 = u.arbitrary()?;
    let structured = which & 4 != 0;
    match which % 4 {
        0 => open(u, structured),
        1 => seek(u, structured),
        2 => query_audit(u, structured),
        _ => list_review_due(u, structured),
    }
}

/// The request from protobuf bytes (the rest of the input), or built by `build`.
fn request<T: Message + Default>(
    u: &mut Unstructured<'_>,
    structured: bool,
    build: impl FnOnce(&mut Unstructured<'_>) -> Result<T>,
) -> Result<Option<T>> {
    match structured {
        true => build(u).map(Some),
        false => Ok(T::decode(u.bytes(u.len())?).ok()),
    }
}

fn u32_edge(u: &mut Unstructured<'_>, edges: &[u32]) -> Result<u32> {
    match u.ratio(3, 4)? {
        true => Ok(*u.choose(edges)?),
        false => u.arbitrary(),
    }
}

fn u64_edge(u: &mut Unstructured<'_>, edges: &[u64]) -> Result<u64> {
    match u.ratio(3, 4)? {
        true => Ok(*u.choose(edges)?),
        false => u.arbitrary(),
    }
}

fn open(u: &mut Unstructured<'_>, structured: bool) -> Result<()> {
    let limits = Limits {
        max_outstanding_messages: u32_edge(u, &[10_000, 1, u32::MAX])?,
        max_outstanding_bytes: u64_edge(u, &[64 << 20, 1, u64::MAX])?,
        max_delivery_attempts: u32_edge(u, &[10, 1, 1000])?,
        ..Limits::default()
    };
    let caller = caller("cbp", Role::Analyst);
    let Some(open) = request(u, structured, build_open)? else { return Ok(()) };
    let (spec, window) = match fuzzing::subscribe_open(&caller, &open, &limits) {
        Err(error) => {
            assert_client_error(&error);
            return Ok(());
        }
        Ok(opened) => opened,
    };
    assert!(window.max_messages <= limits.max_outstanding_messages as usize);
    assert!(window.max_bytes as u64 <= limits.max_outstanding_bytes);
    assert!((Duration::from_secs(1)..=Duration::from_secs(600)).contains(&window.ack_deadline));
    assert!(window.max_attempts <= 1000.max(limits.max_delivery_attempts));
    if let Some(retry) = window.retry {
        assert!(Duration::from_millis(10) <= retry.minimum && retry.minimum <= retry.maximum);
        assert!(retry.maximum <= Duration::from_secs(3600));
        for attempt in [0, 1, 2, 31, 32, 1000, u32::MAX] {
            let delay = retry.delay(attempt);
            assert!(retry.minimum <= delay && delay <= retry.maximum, "attempt {attempt}: {delay:?}");
        }
    }
    check_start(spec.start);
    for lane in liaison::model::Precedence::LANES {
        let subjects = feed_filter_subjects(&spec.recipient, &spec.origins, &spec.kinds, &spec.topics, lane);
        assert!(subjects.is_some_and(|subjects| (1..=MAX_FILTER_SUBJECTS).contains(&subjects.len())));
    }
    Ok(())
}

fn build_open(u: &mut Unstructured<'_>) -> Result<pb::OpenSubscription> {
    use pb::start_position::Position;
    let list = |u: &mut Unstructured<'_>| -> Result<Vec<String>> {
        let count = *u.choose(&[0, 1, 2, 3, 17, 300])?;
        (0..count).map(|_| word(u)).collect()
    };
    let filter = pb::FeedFilter {
        origins: list(u)?,
        kinds: (0..u.int_in_range(0..=8)?).map(|_| u.int_in_range(-1..=8)).collect::<Result<_>>()?,
        topics: list(u)?,
    };
    let position = match u.int_in_range(0..=4)? {
        0 => None,
        1 => Some(Position::OnlyNew(())),
        2 => Some(Position::All(())),
        3 => Some(Position::FromSequence(u64_edge(u, &[0, 1, u64::MAX])?)),
        _ => Some(Position::FromTime(timestamp(u)?)),
    };
    let retry_policy =
        some(u, |u| Ok(pb::RetryPolicy { minimum_backoff: some(u, duration)?, maximum_backoff: some(u, duration)? }))?;
    Ok(pb::OpenSubscription {
        feed: u.choose(&["", "cbp", "ice", "CBP"])?.to_string(),
        filter: some(u, |_| Ok(filter))?,
        start: Some(pb::StartPosition { position }),
        durable_name: word(u)?,
        max_outstanding_messages: u32_edge(u, &[0, 1, 10_000, 10_001, u32::MAX])?,
        max_outstanding_bytes: u64_edge(u, &[0, 1, 64 << 20, u64::MAX])?,
        ack_deadline: some(u, duration)?,
        max_delivery_attempts: u32_edge(u, &[0, 1, 1000, 1001, u32::MAX])?,
        retry_policy,
        confirm_acks: u.arbitrary()?,
    })
}

/// A start position the gateway accepted: a sequence from 1, a time between 1970 and a little ahead.
fn check_start(start: Start) {
    match start {
        Start::Sequence(sequence) => assert!(sequence >= 1),
        Start::Time(at) => {
            assert_in_time_range(at);
            assert!(at <= OffsetDateTime::now_utc() + time::Duration::minutes(6), "{at} is in the future");
        }
        Start::New | Start::All => {}
    }
}

fn seek(u: &mut Unstructured<'_>, structured: bool) -> Result<()> {
    let build = |u: &mut Unstructured<'_>| -> Result<pb::SeekRequest> {
        use pb::seek_request::Target;
        let target = match u.int_in_range(0..=3)? {
            0 => None,
            1 => Some(Target::Time(timestamp(u)?)),
            2 => Some(Target::Sequence(u64_edge(u, &[0, 1, u64::MAX])?)),
            _ => Some(Target::Beginning(())),
        };
        Ok(pb::SeekRequest { durable_name: word(u)?, target })
    };
    let Some(request) = request(u, structured, build)? else { return Ok(()) };
    match fuzzing::seek_target(&request) {
        Err(error) => assert_client_error(&error),
        Ok((_, start)) => check_start(start),
    }
    Ok(())
}

/// A message id: a ULID of a time at an edge (the epoch, now, year 9999, the largest ULID), or text.
fn message_id(u: &mut Unstructured<'_>) -> Result<String> {
    let now = OffsetDateTime::now_utc().unix_timestamp() as u64 * 1000;
    let millis = u64_edge(u, &[0, 1, now, 253_402_300_799_999, 253_402_300_800_000, (1 << 48) - 1, u64::MAX])?;
    match u.int_in_range(0..=4)? {
        0 => Ok(String::new()),
        1 => word(u),
        _ => Ok(ulid::Ulid::from_parts(millis, u.arbitrary()?).to_string()),
    }
}

fn query_audit(u: &mut Unstructured<'_>, structured: bool) -> Result<()> {
    let origin = match u.arbitrary()? {
        true => Some("cbp".to_string()),
        false => None,
    };
    let build = |u: &mut Unstructured<'_>| -> Result<pb::QueryAuditRequest> {
        Ok(pb::QueryAuditRequest {
            message_id: message_id(u)?,
            party: word(u)?,
            since: some(u, timestamp)?,
            until: some(u, timestamp)?,
            event: u.int_in_range(-1..=10)?,
            limit: u32_edge(u, &[0, 1, 100_000, 100_001, u32::MAX])?,
            after_sequence: *u.choose(&[0, 1, u64::MAX - 1, u64::MAX])?,
        })
    };
    let Some(request) = request(u, structured, build)? else { return Ok(()) };
    let (query, limit) = match fuzzing::audit_query(origin.clone(), &request) {
        Err(error) => {
            assert_client_error(&error);
            return Ok(());
        }
        Ok(query) => query,
    };
    assert!((1..=100_000).contains(&limit));
    assert_eq!(query.origin, origin, "the origin restriction is kept whatever the filters");
    let (since, until) = fuzzing::audit_stored_between(&query);
    // Entries written at the ends of time, and at bounds of the stretch read.
    let times = [Some(OffsetDateTime::UNIX_EPOCH), Some(OffsetDateTime::now_utc()), Some(liaison_fuzz::last_time())];
    for at in times.into_iter().chain([since, until, query.since, query.until]).flatten() {
        let entry = AuditEntry {
            chain: "fuzz".into(),
            seq: 1,
            prev_hash: String::new(),
            at: at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            records: Vec::new(),
            hash: String::new(),
        };
        let at = written_at(&entry);
        let record = AuditRecord::audit_loss("fuzz", "fuzz", (1, 1), "fuzz");
        let matched = query.matches(at, &AuditRecord { message_id: request.message_id.as_str().into(), ..record });
        // What a query matches lies within the stretch read (no record precedes its message's publication).
        let after_publication =
            query.message_id.as_deref().and_then(published_at).is_none_or(|published| published <= at);
        if matched && after_publication {
            assert!(since.is_none_or(|since| since <= at) && until.is_none_or(|until| at <= until));
        }
    }
    Ok(())
}

fn list_review_due(u: &mut Unstructured<'_>, structured: bool) -> Result<()> {
    let build = |u: &mut Unstructured<'_>| -> Result<pb::ListReviewDueRequest> {
        Ok(pb::ListReviewDueRequest {
            within: some(u, duration)?,
            party: word(u)?,
            limit: u32_edge(u, &[0, 1, 1000, 100_000, 100_001, u32::MAX])?,
        })
    };
    let mut records = Vec::new();
    for _ in 0..u.int_in_range(0..=4)? {
        records.push(record(u)?);
    }
    let Some(request) = request(u, structured, build)? else { return Ok(()) };
    let (within, limit, _) = match fuzzing::review_filters(&request) {
        Err(error) => {
            assert_client_error(&error);
            return Ok(());
        }
        Ok(filters) => filters,
    };
    assert!((1..=100_000).contains(&limit));
    let directory = router().directory();
    let retention = |origin: &str| {
        liaison::model::Token::parse(origin)
            .ok()
            .and_then(|party| directory.get(&party).map(|party| party.retention))
            .unwrap_or(MAX_RETENTION)
    };
    for now in [OffsetDateTime::now_utc(), OffsetDateTime::UNIX_EPOCH, liaison_fuzz::last_time()] {
        for record in records.iter().cloned() {
            let kept = retention(&record.origin);
            let purged = record.state.purged_at.is_some();
            if let Some(item) = review_of(record, kept, now, within) {
                assert!(!purged, "a purged message listed for review");
                assert_eq!(item.overdue, item.due <= now);
            }
        }
    }
    Ok(())
}

/// A message on record, published (its id's time) and revalidated at edge times.
fn record(u: &mut Unstructured<'_>) -> Result<MessageRecord> {
    let id = message_id(u)?;
    let published = published_at(&id).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let mut state = MessageState::default();
    if u.ratio(1, 3)? {
        let at = match u.arbitrary()? {
            true => liaison_fuzz::last_time(),
            false => OffsetDateTime::UNIX_EPOCH,
        };
        state.revalidations.push(Revalidation { reviewer: "fuzz".into(), at, reason: "fuzz".into() });
    }
    Ok(MessageRecord {
        message_id: id,
        origin: u.choose(&["cbp", "ia", "gone"])?.to_string(),
        kind: "report".into(),
        topic: "narcotics".into(),
        published_at: published,
        copies: Vec::new(),
        criminal_intelligence: false,
        banner: "UNCLASSIFIED".into(),
        state,
    })
}
