//! Subscribe: a StreamingPull-style subscription to the caller's feed.
//!
//! The first request must be `open`; it is validated and authorised (a caller reads only its own party's
//! feed), the JetStream consumer is opened, and `opened` is sent back. A session task then interleaves
//! deliveries (bounded by max outstanding messages and bytes) with the client's acks, nacks and extensions.

mod ack_ids;
mod disposition;
mod outgoing;
mod outstanding;
mod personal;
mod session;

use outgoing::Outgoing;

use std::time::Duration;

use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, Streaming};

use super::auth::Credential;
use crate::api as pb;
use crate::bus::{FeedSpec, MAX_FILTER_SUBJECTS, Retry, Start, party_dead_letters};
use crate::identity::Caller;
use crate::model::Kind;

use super::GatewayError;
use super::convert;
use super::quota::Call;
use super::server::{Gateway, Limits, MAX_DELIVERY_ATTEMPTS};

/// Defaults for what a subscriber leaves unset.
const DEFAULT_MAX_MESSAGES: u32 = 1000;
const DEFAULT_MAX_BYTES: u64 = 10 * 1024 * 1024;
const DEFAULT_ACK_DEADLINE: Duration = Duration::from_secs(30);
const ACK_DEADLINE_RANGE: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(600));
const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(600);
const BACKOFF_RANGE: (Duration, Duration) = (Duration::from_millis(10), LONGEST_BACKOFF);
/// The longest backoff a retry policy may have, and so the longest a nack may wait.
const LONGEST_BACKOFF: Duration = Duration::from_secs(3600);

/// The effective window and delivery settings of one subscription.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub max_messages: usize,
    pub max_bytes: usize,
    pub ack_deadline: Duration,
    /// Attempts before dead-lettering.
    pub max_attempts: u32,
    pub retry: Option<Retry>,
    /// Confirm acks once the stream has recorded them.
    pub confirm_acks: bool,
}

/// Reads the `open` request, opens the feed and starts the session.
pub async fn start(
    gateway: Gateway,
    caller: Caller,
    credential: Credential,
    mut requests: Streaming<pb::SubscribeRequest>,
) -> Result<impl Stream<Item = Result<pb::SubscribeResponse, Status>>, Status> {
    gateway.require_subscriber(&caller)?;
    let slot = gateway.quotas.open_call(&caller, Call::Subscribe)?;
    let first = tokio::time::timeout(gateway.limits.open_timeout, requests.message())
        .await
        .map_err(|_| GatewayError::InvalidArgument("open: not received in time".into()))??;
    let open = match first.and_then(|request| request.request) {
        Some(pb::subscribe_request::Request::Open(open)) => open,
        _ => {
            return Err(
                GatewayError::InvalidArgument("open: the first request must open the subscription".into()).into()
            );
        }
    };
    let (spec, window) = feed_spec(&caller, &open, &gateway.limits).map_err(|error| gateway.counted(error))?;
    gateway.quotas.check_consumer(&caller)?;
    let mut feed = gateway.bus.open_feed(&spec).await.map_err(GatewayError::from)?;
    tracing::info!(party = %caller.party, subject = %caller.subject, consumer = feed.name(), "subscription opened");

    let opened = pb::SubscriptionOpened {
        subscription_id: feed.name().to_string(),
        subjects: feed.take_subjects(),
        max_outstanding_messages: window.max_messages as u32,
        max_outstanding_bytes: window.max_bytes as u64,
        ack_deadline: prost_types::Duration::try_from(window.ack_deadline).ok(),
        max_delivery_attempts: window.max_attempts,
        dead_letter_subject: party_dead_letters(&caller.party),
    };
    let (responses, receiver) = mpsc::channel(16);
    responses.send(Outgoing::Opened(Box::new(opened))).await.map_err(|_| Status::cancelled("client went away"))?;
    let span = tracing::info_span!("subscribe", party = %caller.party, consumer = feed.name());
    let session = session::Session::new(feed, window, (caller, credential), gateway.clone(), slot);
    tokio::spawn(tracing::Instrument::instrument(session.run(requests, responses), span));
    Ok(ReceiverStream::new(receiver).map(Outgoing::into_response))
}

/// Validates an `open` request into a feed specification and the effective window.
pub(super) fn feed_spec(
    caller: &Caller,
    open: &pb::OpenSubscription,
    limits: &Limits,
) -> Result<(FeedSpec, Window), GatewayError> {
    if !open.feed.is_empty() && open.feed != caller.party.as_str() {
        return Err(GatewayError::PermissionDenied(format!(
            "open.feed: a caller of party {} may only read feed {}, not {:?}",
            caller.party, caller.party, open.feed
        )));
    }
    let filter = open.filter.clone().unwrap_or_default();
    let origins = convert::tokens("open.filter.origins", &filter.origins)?;
    let mut kinds = filter
        .kinds
        .iter()
        .enumerate()
        .map(|(index, kind)| convert::kind(&format!("open.filter.kinds[{index}]"), *kind))
        .collect::<Result<Vec<_>, _>>()?;
    // A kind filter always admits notices: a purge notice must reach every subscriber of a party that
    // received the message, whatever kinds it reads. Origin and topic filters match the notice already.
    if !kinds.is_empty() && !kinds.contains(&Kind::Notice) {
        kinds.push(Kind::Notice);
    }
    let topics = convert::tokens("open.filter.topics", &filter.topics)?;
    let combinations = origins.len().max(1) * kinds.len().max(1) * topics.len().max(1);
    if combinations > MAX_FILTER_SUBJECTS {
        return Err(GatewayError::InvalidArgument(format!(
            "open.filter: origins x kinds (notices included) x topics is {combinations} combinations; at most {MAX_FILTER_SUBJECTS}"
        )));
    }
    let durable = match open.durable_name.as_str() {
        "" => None,
        name => Some(convert::token("open.durable_name", name)?),
    };
    let window = window(open, limits)?;
    let spec = FeedSpec {
        recipient: caller.party.clone(),
        durable,
        origins,
        kinds,
        topics,
        start: start_position(open.start.as_ref())?,
        max_ack_pending: window.max_messages,
        ack_wait: window.ack_deadline,
        retry: window.retry,
        durable_expiry: limits.durable_expiry,
        max_durables: limits.max_durables_per_party,
        prefetch_messages: window.max_messages.min(256),
        prefetch_bytes: window.max_bytes.min(8 * 1024 * 1024).max(limits.max_payload()),
    };
    Ok((spec, window))
}

fn window(open: &pb::OpenSubscription, limits: &Limits) -> Result<Window, GatewayError> {
    let max_messages = match open.max_outstanding_messages {
        0 => DEFAULT_MAX_MESSAGES,
        requested => requested,
    }
    .min(limits.max_outstanding_messages);
    let max_bytes = match open.max_outstanding_bytes {
        0 => DEFAULT_MAX_BYTES,
        requested => requested,
    }
    .min(limits.max_outstanding_bytes);
    let ack_deadline = match &open.ack_deadline {
        None => DEFAULT_ACK_DEADLINE,
        Some(deadline) => convert::duration("open.ack_deadline", deadline)?,
    };
    let (shortest, longest) = ACK_DEADLINE_RANGE;
    if ack_deadline < shortest || ack_deadline > longest {
        return Err(GatewayError::InvalidArgument(format!(
            "open.ack_deadline: must be between {}s and {}s",
            shortest.as_secs(),
            longest.as_secs()
        )));
    }
    let max_attempts = match open.max_delivery_attempts {
        0 => limits.max_delivery_attempts,
        requested if requested > MAX_DELIVERY_ATTEMPTS => {
            return Err(GatewayError::InvalidArgument(format!(
                "open.max_delivery_attempts: at most {MAX_DELIVERY_ATTEMPTS}"
            )));
        }
        requested => requested,
    };
    Ok(Window {
        max_messages: max_messages as usize,
        max_bytes: max_bytes as usize,
        ack_deadline,
        max_attempts,
        retry: open.retry_policy.as_ref().map(retry).transpose()?,
        confirm_acks: open.confirm_acks,
    })
}

fn retry(policy: &pb::RetryPolicy) -> Result<Retry, GatewayError> {
    let (shortest, longest) = BACKOFF_RANGE;
    let minimum = match &policy.minimum_backoff {
        None => shortest,
        Some(minimum) => convert::duration("open.retry_policy.minimum_backoff", minimum)?,
    };
    let maximum = match &policy.maximum_backoff {
        None => DEFAULT_MAX_BACKOFF.max(minimum),
        Some(maximum) => convert::duration("open.retry_policy.maximum_backoff", maximum)?,
    };
    if minimum < shortest || maximum > longest || minimum > maximum {
        return Err(GatewayError::InvalidArgument(format!(
            "open.retry_policy: need {}ms <= minimum_backoff <= maximum_backoff <= {}s",
            shortest.as_millis(),
            longest.as_secs()
        )));
    }
    Ok(Retry { minimum, maximum })
}

fn start_position(start: Option<&pb::StartPosition>) -> Result<Start, GatewayError> {
    use pb::start_position::Position;
    Ok(match start.and_then(|start| start.position.as_ref()) {
        None | Some(Position::OnlyNew(_)) => Start::New,
        Some(Position::All(_)) => Start::All,
        Some(Position::FromSequence(0)) => {
            return Err(GatewayError::InvalidArgument("open.start.from_sequence: sequences start at 1".into()));
        }
        Some(Position::FromSequence(sequence)) => Start::Sequence(*sequence),
        Some(Position::FromTime(timestamp)) => Start::Time(convert::start_time("open.start.from_time", timestamp)?),
    })
}
