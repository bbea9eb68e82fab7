//! `OperatorService.QueryAudit`: dissemination audit records matching filters, as a server stream.
//! Operators and admins of a party with oversight see every record; any other caller only the records of its
//! own party's messages (28 CFR 23.20(g): disclosure to the originator), whatever its filters say.
//!
//! The work of one call is bounded: it examines at most `--audit-query-scan-budget` records, then ends
//! with RESOURCE_EXHAUSTED naming the stream sequence to go on after; and it stops reading the moment the
//! client goes away, not when it next has a record to send.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use futures::Stream;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use crate::api as pb;
use time::OffsetDateTime;

use crate::audit::{AuditEntry, AuditQuery, AuditRecord, Event, written_at};
use crate::bus::{AuditReader, CLOCK_SKEW};
use crate::identity::Caller;
use crate::identity::authorization::{Action, View, scope_of};
use crate::retention::published_at;

use super::quota::Call;
use super::server::Gateway;
use super::{GatewayError, convert};

const DEFAULT_LIMIT: u32 = 10_000;
const MAX_LIMIT: u32 = 100_000;

type Records = Result<pb::QueryAuditResponse, Status>;

impl Gateway {
    pub(super) async fn query_audit(
        &self,
        caller: &Caller,
        request: pb::QueryAuditRequest,
    ) -> Result<impl Stream<Item = Records> + use<>, GatewayError> {
        let party = match request.party.as_str() {
            "" => None,
            party => Some(convert::token("party", party)?),
        };
        let view = self.authorize(caller, Action::QueryAudit, scope_of(&caller.party, party.as_ref()))?;
        let slot = self.quotas.open_call(caller, Call::QueryAudit)?;
        // Without a full view, a caller sees the records of its own party's messages, whatever it filters on.
        let origin = (view == View::OwnParty).then(|| caller.party.to_string());
        let (query, limit) = audit_query(origin, &request)?;
        // Only the stretch of the audit the filters can match is read, one entry at a time. The read opens
        // before answering, so a NATS failure at the start is the call's status.
        let (since, until) = stored_between(&query);
        let entries = match request.after_sequence {
            0 => self.bus.read_audit(since, until).await?,
            after => self.bus.read_audit_after(after, until).await?,
        };
        let (sender, receiver) = mpsc::channel(64);
        let budget = self.limits.audit_query_scan_budget;
        let read = Read { query, limit, budget, running: Running::start(self.audit_reads.clone()) };
        tokio::spawn(async move {
            let _slot = slot;
            read.run(entries, sender).await
        });
        Ok(ReceiverStream::new(receiver))
    }
}

/// Client calls reading the audit (QueryAudit, ListReviewDue) running, and the audit records they examined:
/// what operators (and tests) see of the work such calls cause.
#[derive(Debug, Default)]
pub struct AuditReads {
    active: AtomicU64,
    scanned: AtomicU64,
}

impl AuditReads {
    /// (reads running, records examined since start).
    pub fn read(&self) -> (u64, u64) {
        (self.active.load(Relaxed), self.scanned.load(Relaxed))
    }
}

/// Counts one running read of the audit (QueryAudit, ListReviewDue) until dropped.
pub(super) struct Running(Arc<AuditReads>);

impl Running {
    pub(super) fn start(counters: Arc<AuditReads>) -> Running {
        counters.active.fetch_add(1, Relaxed);
        Running(counters)
    }

    /// Counts audit records the read examined.
    pub(super) fn examined(&self, records: usize) {
        self.0.scanned.fetch_add(records as u64, Relaxed);
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Relaxed);
    }
}

/// One QueryAudit call's read of the audit.
struct Read {
    query: AuditQuery,
    limit: u32,
    /// Records it may examine (`--audit-query-scan-budget`).
    budget: u64,
    /// Counted as running from the call until the read ends.
    running: Running,
}

impl Read {
    /// Sends the matching records until the read ends, `limit` are sent, the budget is spent (the call ends
    /// with RESOURCE_EXHAUSTED saying where) or the client goes away: then it stops reading at once, whether
    /// or not it has anything to send.
    async fn run(self, mut entries: AuditReader, sender: mpsc::Sender<Records>) {
        let (mut sent, mut scanned, mut last_read) = (0, 0, None);
        loop {
            let next = tokio::select! {
                biased;
                () = sender.closed() => return,
                next = entries.next_in_stream() => next,
            };
            let (stream_sequence, entry) = match next {
                None => return,
                Some(Ok(next)) => next,
                Some(Err(error)) => {
                    let _ = sender.send(Err(GatewayError::from(error).into())).await;
                    return;
                }
            };
            // Whole entries only, so that going on after the last one read repeats nothing.
            if let Some(last) = &last_read
                && scanned + entry.records.len() as u64 > self.budget
            {
                let _ = sender.send(Err(GatewayError::TooLarge(budget_spent(self.budget, last)).into())).await;
                return;
            }
            scanned += entry.records.len() as u64;
            self.running.examined(entry.records.len());
            let at = written_at(&entry);
            for record in entry.records.iter().filter(|record| self.query.matches(at, record)) {
                if sent == self.limit || sender.send(Ok(response(&entry, at, record))).await.is_err() {
                    return;
                }
                sent += 1;
            }
            last_read = Some((stream_sequence, entry));
        }
    }
}

/// Why a read stopped at its scan budget after the entry `last` (with its stream sequence), and how to go on.
fn budget_spent(budget: u64, last: &(u64, AuditEntry)) -> String {
    let (stream_sequence, entry) = last;
    format!(
        "QueryAudit may examine {budget} audit records per call (--audit-query-scan-budget) and stopped after \
         stream sequence {stream_sequence} (entry {} of chain {}, written at {}); ask again with the same \
         filters and after_sequence = {stream_sequence} to go on",
        entry.seq, entry.chain, entry.at
    )
}

fn response(entry: &AuditEntry, at: OffsetDateTime, record: &AuditRecord<'_>) -> pb::QueryAuditResponse {
    pb::QueryAuditResponse {
        chain: entry.chain.clone(),
        entry: entry.seq,
        at: Some(convert::timestamp(at)),
        event: audit_event(record.event) as i32,
        message_id: record.message_id.to_string(),
        origin: record.origin.to_string(),
        recipient: record.recipient.to_string(),
        subscriber: record.subscriber.to_string(),
        decided_by: record.decided_by.to_string(),
        basis: record.basis.to_string(),
        policy_version: record.policy_version.to_string(),
        reason: record.reason.to_string(),
        subject: record.subject.to_string(),
        unknown_recipients: record.unknown_recipients.to_vec(),
        markings: record.markings.to_string(),
    }
}

/// When the entries a query can match were stored, by the NATS servers' clock: records are stamped by
/// gateways, whose clocks may differ by up to [`CLOCK_SKEW`]. No record of a message is written before the
/// message was published (its id says when).
pub(super) fn stored_between(query: &AuditQuery) -> (Option<OffsetDateTime>, Option<OffsetDateTime>) {
    let skew = time::Duration::try_from(CLOCK_SKEW).unwrap_or(time::Duration::ZERO);
    let published = query.message_id.as_deref().and_then(published_at);
    let since = match (query.since, published) {
        (Some(since), Some(published)) => Some(since.max(published)),
        (since, published) => since.or(published),
    };
    // Times at the ends of the representable range have no bound beyond them: read to that end.
    (since.and_then(|since| since.checked_sub(skew)), query.until.and_then(|until| until.checked_add(skew)))
}

/// Validates the filters; with `origin`, only the records of that party's messages match.
pub(super) fn audit_query(
    origin: Option<String>,
    request: &pb::QueryAuditRequest,
) -> Result<(AuditQuery, u32), GatewayError> {
    let optional_token = |field: &str, value: &str| match value {
        "" => Ok(None),
        value => convert::token(field, value).map(|token| Some(token.to_string())),
    };
    let limit = match request.limit {
        0 => DEFAULT_LIMIT,
        limit if limit > MAX_LIMIT => {
            return Err(GatewayError::InvalidArgument(format!("limit: at most {MAX_LIMIT}")));
        }
        limit => limit,
    };
    let event = match pb::AuditEvent::try_from(request.event) {
        Ok(pb::AuditEvent::Unspecified) => None,
        Ok(pb::AuditEvent::Approved) => Some(Event::Approved),
        Ok(pb::AuditEvent::Denied) => Some(Event::Denied),
        Ok(pb::AuditEvent::Delivered) => Some(Event::Delivered),
        Ok(pb::AuditEvent::Withheld) => Some(Event::Withheld),
        Ok(pb::AuditEvent::Revalidated) => Some(Event::Revalidated),
        Ok(pb::AuditEvent::Purged) => Some(Event::Purged),
        Ok(pb::AuditEvent::Superseded) => Some(Event::Superseded),
        Ok(pb::AuditEvent::Redriven) => Some(Event::Redriven),
        Ok(pb::AuditEvent::AuditLoss) => Some(Event::AuditLoss),
        Ok(pb::AuditEvent::OrconApproved) => Some(Event::OrconApproved),
        Ok(pb::AuditEvent::Held) => Some(Event::Held),
        Ok(pb::AuditEvent::DisclosureApproved) => Some(Event::DisclosureApproved),
        Ok(pb::AuditEvent::DisclosureDenied) => Some(Event::DisclosureDenied),
        Ok(pb::AuditEvent::DisclosureExpired) => Some(Event::DisclosureExpired),
        Ok(pb::AuditEvent::RfiOpened) => Some(Event::RfiOpened),
        Ok(pb::AuditEvent::RfiAcknowledged) => Some(Event::RfiAcknowledged),
        Ok(pb::AuditEvent::RfiInWork) => Some(Event::RfiInWork),
        Ok(pb::AuditEvent::RfiAnswered) => Some(Event::RfiAnswered),
        Ok(pb::AuditEvent::RfiClosed) => Some(Event::RfiClosed),
        Ok(pb::AuditEvent::RfiRejected) => Some(Event::RfiRejected),
        Ok(pb::AuditEvent::RfiTransferred) => Some(Event::RfiTransferred),
        Ok(pb::AuditEvent::RfiExpired) => Some(Event::RfiExpired),
        Ok(pb::AuditEvent::RfiReopened) => Some(Event::RfiReopened),
        Err(_) => return Err(GatewayError::InvalidArgument(format!("event: unknown value {}", request.event))),
    };
    let message_id = (!request.message_id.is_empty()).then(|| request.message_id.clone());
    let query = AuditQuery {
        message_id,
        party: optional_token("party", &request.party)?,
        origin,
        since: request.since.as_ref().map(|since| convert::time("since", since)).transpose()?,
        until: request.until.as_ref().map(|until| convert::time("until", until)).transpose()?,
        event,
    };
    Ok((query, limit))
}

fn audit_event(event: Event) -> pb::AuditEvent {
    match event {
        Event::Approved => pb::AuditEvent::Approved,
        Event::Denied => pb::AuditEvent::Denied,
        Event::Delivered => pb::AuditEvent::Delivered,
        Event::Withheld => pb::AuditEvent::Withheld,
        Event::Revalidated => pb::AuditEvent::Revalidated,
        Event::Purged => pb::AuditEvent::Purged,
        Event::Superseded => pb::AuditEvent::Superseded,
        Event::Redriven => pb::AuditEvent::Redriven,
        Event::AuditLoss => pb::AuditEvent::AuditLoss,
        Event::OrconApproved => pb::AuditEvent::OrconApproved,
        Event::Held => pb::AuditEvent::Held,
        Event::DisclosureApproved => pb::AuditEvent::DisclosureApproved,
        Event::DisclosureDenied => pb::AuditEvent::DisclosureDenied,
        Event::DisclosureExpired => pb::AuditEvent::DisclosureExpired,
        Event::RfiOpened => pb::AuditEvent::RfiOpened,
        Event::RfiAcknowledged => pb::AuditEvent::RfiAcknowledged,
        Event::RfiInWork => pb::AuditEvent::RfiInWork,
        Event::RfiAnswered => pb::AuditEvent::RfiAnswered,
        Event::RfiClosed => pb::AuditEvent::RfiClosed,
        Event::RfiRejected => pb::AuditEvent::RfiRejected,
        Event::RfiTransferred => pb::AuditEvent::RfiTransferred,
        Event::RfiExpired => pb::AuditEvent::RfiExpired,
        Event::RfiReopened => pb::AuditEvent::RfiReopened,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(seconds).unwrap()
    }

    #[test]
    fn a_query_reads_only_the_stretch_its_filters_can_match_with_room_for_clock_skew() {
        let skew = CLOCK_SKEW.as_secs() as i64;
        let everything = AuditQuery::default();
        assert_eq!(stored_between(&everything), (None, None));

        let window = AuditQuery { since: Some(at(1_000_000)), until: Some(at(2_000_000)), ..Default::default() };
        assert_eq!(stored_between(&window), (Some(at(1_000_000 - skew)), Some(at(2_000_000 + skew))));

        // A message id (a ULID) says when it was published: nothing about it is older.
        let id = ulid::Ulid::from_parts(1_500_000_000, 7).to_string();
        let message = AuditQuery { message_id: Some(id.clone()), ..Default::default() };
        assert_eq!(stored_between(&message), (Some(at(1_500_000 - skew)), None));
        let later_since = AuditQuery { message_id: Some(id), since: Some(at(1_600_000)), ..Default::default() };
        assert_eq!(stored_between(&later_since).0, Some(at(1_600_000 - skew)));
        let not_a_ulid = AuditQuery { message_id: Some("not-a-ulid".into()), ..Default::default() };
        assert_eq!(stored_between(&not_a_ulid), (None, None));
    }

    #[test]
    fn times_at_the_ends_of_the_range_read_to_that_end_instead_of_overflowing() {
        let last = OffsetDateTime::from_unix_timestamp(253_402_300_799).unwrap();
        let first = OffsetDateTime::from_unix_timestamp(0).unwrap();
        let query = AuditQuery { since: Some(first), until: Some(last), ..Default::default() };
        let skew = time::Duration::try_from(CLOCK_SKEW).unwrap();
        assert_eq!(stored_between(&query), (Some(first - skew), None));
        // The largest ULID lies past year 9999; its time cannot bound anything.
        let end_of_time =
            AuditQuery { message_id: Some(ulid::Ulid::from_parts(u64::MAX, 0).to_string()), ..Default::default() };
        let _ = stored_between(&end_of_time);
        let near_end = ulid::Ulid::from_parts(253_402_300_799_000, 0).to_string();
        let near_end = AuditQuery { message_id: Some(near_end), ..Default::default() };
        assert_eq!(stored_between(&near_end).1, None);
    }
}
