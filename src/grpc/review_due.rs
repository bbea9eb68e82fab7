//! `OperatorService.ListReviewDue` (28 CFR 23.20(h)): the messages whose review falls due within a horizon,
//! streamed in the order they were published while the audit is read once, one entry at a time. Nothing is
//! gathered first, so a listing over the feed's 90 days holds one entry and one answer batch, and it stops
//! reading the moment the client goes away.
//!
//! People only: an analyst, operator or admin lists its own party's messages, an operator or admin of a
//! party with oversight every party's (`identity::authorization`). A message's state (reviews, purge) is
//! looked up only for the messages due without it: a review only moves the due time later.

use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use crate::api as pb;
use crate::bus::{Bus, MessageRecords};
use crate::identity::Caller;
use crate::identity::authorization::Action;
use crate::model::PartyId;
use crate::retention::{MessageRecord, ReviewDue, review_of};
use crate::router::Router;

use super::audit_query::Running;
use super::quota::Call;
use super::retention::{retention_of, revalidation};
use super::server::Gateway;
use super::{GatewayError, convert};

const DEFAULT_WITHIN: Duration = Duration::from_secs(30 * 24 * 3600);
const DEFAULT_LIMIT: u32 = 1000;
const MAX_LIMIT: u32 = 100_000;
/// Message states looked up at once.
const STATE_LOOKUPS: usize = 32;

type Answer = Result<pb::ListReviewDueResponse, Status>;

/// A ListReviewDue request, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ReviewRequest {
    pub within: Duration,
    pub limit: u32,
    /// The origin party asked for; `None` is all parties.
    pub party: Option<PartyId>,
}

/// One listing's read.
struct Listing {
    bus: Arc<Bus>,
    router: Arc<Router>,
    /// Only this origin's messages (the caller's own party's, without a full view).
    origin: Option<PartyId>,
    now: time::OffsetDateTime,
    within: Duration,
    limit: u32,
    /// Counted as a running audit read until the listing ends.
    running: Running,
}

impl Gateway {
    pub(super) async fn list_review_due(
        &self,
        caller: &Caller,
        request: pb::ListReviewDueRequest,
    ) -> Result<impl Stream<Item = Answer> + use<>, GatewayError> {
        let asked = review_request(&request)?;
        let origin = self.authorize_listing(caller, Action::ListReviewDue, asked.party)?;
        // An audit read like QueryAudit, under the same cap.
        let slot = self.quotas.open_call(caller, Call::QueryAudit)?;
        let now = time::OffsetDateTime::now_utc();
        // Messages older than the feed keeps are no longer stored: nothing of them is left to review.
        let since = match self.bus.feed_max_age() {
            age if age.is_zero() => None,
            age => now.checked_sub(time::Duration::try_from(age).unwrap_or(time::Duration::MAX)),
        }
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        // Opened before answering, so a NATS failure at the start is the call's status.
        let records = self.bus.read_message_records(since).await?;
        let (sender, receiver) = mpsc::channel(4);
        let listing = Listing {
            bus: self.bus.clone(),
            router: self.policy.current(),
            origin,
            now,
            within: asked.within,
            limit: asked.limit,
            running: Running::start(self.audit_reads.clone()),
        };
        tokio::spawn(async move {
            let _slot = slot;
            listing.run(records, sender).await
        });
        Ok(ReceiverStream::new(receiver))
    }
}

/// Validates a ListReviewDue request.
pub(super) fn review_request(request: &pb::ListReviewDueRequest) -> Result<ReviewRequest, GatewayError> {
    let within = match &request.within {
        None => DEFAULT_WITHIN,
        Some(within) => convert::duration("within", within)?,
    };
    let limit = match request.limit {
        0 => DEFAULT_LIMIT,
        limit if limit > MAX_LIMIT => {
            return Err(GatewayError::InvalidArgument(format!("limit: at most {MAX_LIMIT}")));
        }
        limit => limit,
    };
    let party = match request.party.as_str() {
        "" => None,
        party => Some(convert::token("party", party)?),
    };
    Ok(ReviewRequest { within, limit, party })
}

impl Listing {
    /// Sends the due messages of each audit entry as one answer until the read ends, `limit` are sent (then
    /// a last answer says it was truncated) or the client goes away.
    async fn run(self, mut records: MessageRecords, sender: mpsc::Sender<Answer>) {
        let mut sent = 0;
        loop {
            let next = tokio::select! {
                biased;
                () = sender.closed() => return,
                next = records.next() => next,
            };
            let due = match next {
                None => return,
                Some(Ok((examined, batch))) => {
                    self.running.examined(examined);
                    self.due(batch).await
                }
                Some(Err(error)) => Err(error.into()),
            };
            let due = match due {
                Ok(due) => due,
                Err(error) => {
                    let _ = sender.send(Err(error.into())).await;
                    return;
                }
            };
            let room = (self.limit - sent) as usize;
            let truncated = due.len() > room;
            let messages: Vec<pb::ReviewItem> = due.into_iter().take(room).map(review_item).collect();
            sent += messages.len() as u32;
            if !messages.is_empty()
                && sender.send(Ok(pb::ListReviewDueResponse { messages, truncated: false })).await.is_err()
            {
                return;
            }
            if truncated {
                let _ = sender.send(Ok(pb::ListReviewDueResponse { messages: Vec::new(), truncated: true })).await;
                return;
            }
        }
    }

    /// The messages of one entry that are due, with their state; notices carry no intelligence of their own
    /// and are never due.
    async fn due(&self, batch: Vec<MessageRecord>) -> Result<Vec<ReviewDue>, GatewayError> {
        let notice = crate::model::Kind::Notice.token();
        let candidates: Vec<ReviewDue> = batch
            .into_iter()
            .filter(|record| record.kind != notice)
            .filter(|record| self.origin.as_ref().is_none_or(|origin| record.origin == origin.as_str()))
            .filter_map(|record| {
                let retention = retention_of(&self.router, &record.origin);
                review_of(record, retention, self.now, self.within)
            })
            .collect();
        let ids: Vec<String> = candidates.iter().map(|candidate| candidate.record.message_id.clone()).collect();
        let mut states = futures::stream::iter(ids)
            .map(|message_id| {
                let bus = self.bus.clone();
                async move { bus.message_state_of(&message_id).await }
            })
            .buffered(STATE_LOOKUPS);
        let mut with_state = Vec::with_capacity(candidates.len());
        while let Some(state) = states.next().await {
            with_state.push(state?);
        }
        drop(states);
        Ok(candidates
            .into_iter()
            .zip(with_state)
            .filter_map(|(candidate, state)| match state {
                None => Some(candidate),
                Some(state) => {
                    let record = MessageRecord { state, ..candidate.record };
                    review_of(record, candidate.retention, self.now, self.within)
                }
            })
            .collect())
    }
}

fn review_item(item: ReviewDue) -> pb::ReviewItem {
    pb::ReviewItem {
        kind: crate::model::Kind::from_token(&item.record.kind).map_or(0, |kind| pb::Kind::from(kind) as i32),
        published_at: Some(convert::timestamp(item.record.published_at)),
        retention: prost_types::Duration::try_from(item.retention).ok(),
        review_due: Some(convert::timestamp(item.due)),
        overdue: item.overdue,
        last_revalidation: item.record.state.revalidations.last().map(revalidation),
        recipients: item.record.recipients().into_iter().map(str::to_string).collect(),
        criminal_intelligence: item.record.criminal_intelligence,
        superseded_by: item.record.state.superseded_by,
        banner: item.record.banner,
        message_id: item.record.message_id,
        origin: item.record.origin,
        topic: item.record.topic,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_defaults_to_thirty_days_and_a_thousand_and_bounds_its_limit() {
        let asked = review_request(&pb::ListReviewDueRequest::default()).unwrap();
        assert_eq!(asked, ReviewRequest { within: DEFAULT_WITHIN, limit: DEFAULT_LIMIT, party: None });
        let too_many = pb::ListReviewDueRequest { limit: MAX_LIMIT + 1, ..Default::default() };
        assert!(review_request(&too_many).unwrap_err().to_string().starts_with("limit: at most"));
        let bad_party = pb::ListReviewDueRequest { party: "Not A Party".into(), ..Default::default() };
        assert!(review_request(&bad_party).unwrap_err().to_string().starts_with("party"));
    }

    #[test]
    fn a_window_at_the_edges_of_a_duration_is_taken_or_refused_naming_the_field() {
        let within = |seconds, nanos| pb::ListReviewDueRequest {
            within: Some(prost_types::Duration { seconds, nanos }),
            ..Default::default()
        };
        let longest = review_request(&within(i64::MAX, 999_999_999)).unwrap();
        assert_eq!(longest.within.as_secs(), i64::MAX as u64);
        for refused in [within(i64::MIN, 0), within(0, -1)] {
            let error = review_request(&refused).unwrap_err().to_string();
            assert!(error.starts_with("within: must be a non-negative duration"), "{error}");
        }
    }
}
