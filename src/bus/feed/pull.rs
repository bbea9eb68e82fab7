//! The pull loop of one feed: JetStream pull requests for each lane's consumer, answered on one inbox.
//!
//! A feed reads its four lanes (FLASH, IMMEDIATE, PRIORITY, ROUTINE: one consumer each) through one inbox
//! subscription, `<inbox>.<lane>`: every lane's requests name their own reply subject, and the messages
//! that arrive are sorted into per-lane queues, so [`Pull::next`] hands out the highest lane's oldest
//! message first. Before it answers it takes everything the inbox already holds, so a FLASH that arrived
//! behind a prefetched run of ROUTINE messages overtakes them. Within a lane the order is the stream's.
//!
//! async-nats's `pull::Stream` does the same for one consumer with a task per stream that holds a copy of
//! the consumer's info and configuration, about 7 KiB of every open subscription (10,000 idle subscriptions
//! spent 70 MiB on it), and it would need four. Here the requests go out from `next` itself: a lane asks
//! for more when half of what it asked for has been handed out, re-asks when its requests expire (the
//! server's 408 says how much was left), and starts over when it has been silent for two heartbeats or the
//! client has reconnected, since the server may then have dropped the requests. What the server says about
//! a consumer itself (deleted, no JetStream) ends the pull with a [`PullError`] for the feed to act on.

use std::collections::VecDeque;
use std::time::Duration;

use async_nats::{Client, Message, StatusCode, Subject, Subscriber};
use bytes::Bytes;
use futures::{FutureExt, StreamExt};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::bus::BusError;
use crate::model::Precedence;

/// How long one pull request of the routine lane waits on the server, and its heartbeat.
const ROUTINE_TIMING: Timing = Timing { expires: Duration::from_secs(30), heartbeat: Duration::from_secs(5) };
/// The same for the other lanes, which are mostly empty: fewer heartbeats for an idle subscription.
const LANE_TIMING: Timing = Timing { expires: Duration::from_secs(45), heartbeat: Duration::from_secs(15) };
/// Longest a new pull waits for every lane's first answer before it hands anything out.
const PRIME_WAIT: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Copy)]
struct Timing {
    expires: Duration,
    heartbeat: Duration,
}

/// Why a pull cannot go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum PullError {
    /// The consumer was deleted (a durable being moved by a seek, or removed).
    ConsumerDeleted,
    /// Nobody answered the request: JetStream, or the consumer, is not there.
    NoResponders,
    Other(String),
}

impl std::fmt::Display for PullError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PullError::ConsumerDeleted => f.write_str("the consumer was deleted"),
            PullError::NoResponders => f.write_str("no responders: JetStream or the consumer is not there"),
            PullError::Other(reason) => f.write_str(reason),
        }
    }
}

pub(super) struct Pull {
    subscriber: Subscriber,
    inbox: String,
    /// `$JS.API.CONSUMER.MSG.NEXT.<stream>.<feed>`: with a lane's suffix, where its requests go. Subjects
    /// and requests are made when sent, so an idle feed keeps only this and each lane's counters.
    next_prefix: String,
    batch: usize,
    max_bytes: usize,
    /// Highest lane first ([`Precedence::LANES`]).
    lanes: Vec<Lane>,
    /// Bumped on every (re)connection of the client.
    connections: watch::Receiver<u64>,
    /// What the server said that ends the pull, found while sorting the inbox; returned next.
    failed: Option<PullError>,
    /// Until every lane has answered its first request, or this instant: nothing is handed out, so that a
    /// backlog found on opening comes highest lane first too.
    priming_until: Instant,
}

/// One lane's consumer: what its requests may still bring, and what they brought that is not handed out.
struct Lane {
    lane: Precedence,
    /// Whether the first request (answered at once with what the lane holds, `no_wait`) has gone out, and
    /// whether the lane has answered it in full.
    first_sent: bool,
    primed: bool,
    pending_messages: usize,
    pending_bytes: usize,
    /// Arrived and not handed out yet, oldest first.
    queued: VecDeque<Message>,
    queued_bytes: usize,
    /// Past this with nothing heard on the lane, its requests are taken as lost.
    silent_until: Instant,
}

impl Pull {
    /// Subscribes to a new inbox for the lanes of the feed `feed` on `stream`; the first requests go out
    /// with the first [`Pull::next`].
    pub(super) async fn open(
        client: &Client,
        (stream, feed): (&str, &str),
        (batch, max_bytes): (usize, usize),
        connections: watch::Receiver<u64>,
    ) -> Result<Pull, BusError> {
        let next_prefix = format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.{feed}");
        Pull::subscribed(client, next_prefix, (batch, max_bytes), connections).await
    }

    /// The same pull on a new inbox, asking afresh: for consumers recreated under their feed.
    pub(super) async fn reopen(&self, client: &Client) -> Result<Pull, BusError> {
        let (prefix, connections) = (self.next_prefix.clone(), self.connections.clone());
        Pull::subscribed(client, prefix, (self.batch, self.max_bytes), connections).await
    }

    async fn subscribed(
        client: &Client,
        next_prefix: String,
        (batch, max_bytes): (usize, usize),
        mut connections: watch::Receiver<u64>,
    ) -> Result<Pull, BusError> {
        let inbox = client.new_inbox();
        let subscriber = client
            .subscribe(Subject::from(format!("{inbox}.*")))
            .await
            .map_err(|error| BusError::Subscription(error.to_string()))?;
        connections.borrow_and_update();
        let lanes = Precedence::LANES.into_iter().map(Lane::new).collect();
        let priming_until = Instant::now() + PRIME_WAIT;
        Ok(Pull { subscriber, inbox, next_prefix, batch, max_bytes, lanes, connections, failed: None, priming_until })
    }

    /// The next message, highest lane first; `None` once the subscription has ended. Cancel-safe: a
    /// request is counted when it is handed to a task that sends it, and a message taken off the inbox is
    /// kept in its lane's queue until it is returned.
    pub(super) async fn next(&mut self, client: &Client) -> Option<Result<Message, PullError>> {
        loop {
            if let Some(ready) = self.ready(client, self.lanes.len()) {
                return Some(ready);
            }
            let mut silent_until = self.lanes.iter().map(|lane| lane.silent_until).min()?;
            if !self.primed() {
                silent_until = silent_until.min(self.priming_until);
            }
            tokio::select! {
                // What has arrived comes first: a feed not polled for a while is not taken for silent.
                biased;
                message = self.subscriber.next() => {
                    if let Some(error) = self.take(message?) {
                        self.failed = Some(error);
                    }
                }
                () = tokio::time::sleep_until(silent_until) => {
                    for lane in self.lanes.iter_mut().filter(|lane| lane.silent_until <= Instant::now()) {
                        tracing::debug!(lane = lane.lane.name(), "pull requests went unanswered; asking again");
                        lane.start_over();
                    }
                }
                Ok(()) = self.connections.changed() => self.lanes.iter_mut().for_each(Lane::start_over),
            }
        }
    }

    /// What is ready now in a lane above `rank` (0 is FLASH), without waiting: everything the inbox holds
    /// is sorted into the lanes first, and each lane asks for more if it is running low.
    pub(super) fn ready(&mut self, client: &Client, rank: usize) -> Option<Result<Message, PullError>> {
        while let Some(Some(message)) = self.subscriber.next().now_or_never() {
            if let Some(error) = self.take(message) {
                self.failed = Some(error);
            }
        }
        if let Some(error) = self.failed.take() {
            return Some(Err(error));
        }
        let requests: Vec<_> = (0..self.lanes.len()).filter_map(|index| self.request_more(index)).collect();
        if !requests.is_empty() {
            // One short task for all of them: sent from it, so that dropping `next` (a session's select)
            // never loses a request that was counted; one, not one per lane, because a task costs memory
            // that opening 10,000 subscriptions at once keeps.
            let client = client.clone();
            tokio::spawn(async move {
                for (subject, reply, request) in requests {
                    if let Err(error) = client.publish_with_reply(subject, reply, request).await {
                        // Nothing comes back for it: the lane's silence starts it over.
                        tracing::debug!(%error, "could not send a pull request");
                    }
                }
            });
        }
        if !self.primed() {
            return None;
        }
        self.lanes.iter_mut().take(rank).find_map(Lane::pop).map(Ok)
    }

    /// Has every lane answered its first request (or has the wait for them run out)?
    fn primed(&self) -> bool {
        self.lanes.iter().all(|lane| lane.primed) || Instant::now() >= self.priming_until
    }

    /// What is already on the inbox or queued, without asking for more: for handing it back when the feed
    /// closes.
    pub(super) fn buffered(&mut self) -> Vec<Message> {
        while let Some(Some(message)) = self.subscriber.next().now_or_never() {
            let _ = self.take(message);
        }
        self.lanes.iter_mut().flat_map(|lane| std::mem::take(&mut lane.queued)).collect()
    }

    /// Sorts one message from the inbox into its lane: a delivery is queued, a status either ends the pull
    /// or only updates what is pending.
    fn take(&mut self, message: Message) -> Option<PullError> {
        let lane = match message.status {
            // A delivery keeps its stream subject, whose last token is its lane.
            None | Some(StatusCode::OK) => self.lane_of_delivery(&message),
            // A status comes on the lane's own reply subject.
            Some(_) => message
                .subject
                .strip_prefix(self.inbox.as_str())
                .and_then(|rest| rest.strip_prefix('.'))
                .and_then(|index| index.parse::<usize>().ok()),
        };
        let (batch, max_bytes) = (self.batch, self.max_bytes);
        let lane = self.lanes.get_mut(lane?)?;
        lane.silent_until = Instant::now() + 2 * timing(lane.lane).heartbeat;
        lane.take(message, batch, max_bytes).err()
    }

    /// The request lane `index` makes once half of what it asked for has been handed out (what is queued
    /// counts as still pending, so a lane that is not being read stops asking), counted as sent: its
    /// subject, reply subject and body.
    fn request_more(&mut self, index: usize) -> Option<(Subject, Subject, Bytes)> {
        let (batch, max_bytes) = (self.batch, self.max_bytes);
        let lane = self.lanes.get_mut(index)?;
        let (messages, bytes) = (lane.pending_messages + lane.queued.len(), lane.pending_bytes + lane.queued_bytes);
        let low_on_messages = messages <= batch / 2;
        let low_on_bytes = max_bytes > 0 && bytes <= max_bytes / 2;
        if !(low_on_messages || low_on_bytes) {
            return None;
        }
        lane.pending_messages += batch;
        lane.pending_bytes += max_bytes;
        let request = match std::mem::replace(&mut lane.first_sent, true) {
            false => first_request_json(batch, max_bytes),
            true => request_json(batch, max_bytes, timing(lane.lane)),
        };
        let subject = match lane.lane {
            Precedence::Routine => Subject::from(self.next_prefix.as_str()),
            other => Subject::from(format!("{}_{}", self.next_prefix, other.name())),
        };
        Some((subject, Subject::from(format!("{}.{index}", self.inbox)), request))
    }

    /// The lane a delivery belongs to, by the precedence token ending its subject (the routine lane, last,
    /// has none).
    fn lane_of_delivery(&self, message: &Message) -> Option<usize> {
        let lanes = self.lanes.len();
        let rank = crate::bus::subjects::lane_of(message.subject.as_str()).rank();
        Some(lanes.checked_sub(1)?.min(rank))
    }
}

// === impl Lane ===

impl Lane {
    fn new(lane: Precedence) -> Lane {
        Lane {
            lane,
            first_sent: false,
            primed: false,
            pending_messages: 0,
            pending_bytes: 0,
            queued: VecDeque::new(),
            queued_bytes: 0,
            silent_until: Instant::now() + 2 * timing(lane).heartbeat,
        }
    }

    fn pop(&mut self) -> Option<Message> {
        let message = self.queued.pop_front()?;
        self.queued_bytes = self.queued_bytes.saturating_sub(message.length);
        Some(message)
    }

    /// Accounts for one message of this lane: a delivery is queued; a status ends the pull (an error) or
    /// only updates what is pending.
    fn take(&mut self, message: Message, batch: usize, max_bytes: usize) -> Result<(), PullError> {
        match message.status.unwrap_or(StatusCode::OK) {
            StatusCode::OK => {
                self.pending_messages = self.pending_messages.saturating_sub(1);
                self.pending_bytes = self.pending_bytes.saturating_sub(message.length);
                self.primed |= self.pending_messages == 0;
                self.queued_bytes += message.length;
                self.queued.push_back(message);
                Ok(())
            }
            StatusCode::IDLE_HEARTBEAT => Ok(()),
            StatusCode::TIMEOUT | StatusCode::REQUEST_TERMINATED | StatusCode::NOT_FOUND => {
                match message.description.as_deref() {
                    Some("Consumer Deleted") => return Err(PullError::ConsumerDeleted),
                    Some(description)
                        if description == "Consumer is push based"
                            || description.starts_with("Exceeded MaxRequest") =>
                    {
                        return Err(PullError::Other(description.to_string()));
                    }
                    _ => {}
                }
                // A request ended (expired, or cut short): what it did not bring is no longer pending.
                let left = |name: &str, whole: usize| {
                    message
                        .headers
                        .as_ref()
                        .and_then(|headers| headers.get(name))
                        .and_then(|value| value.as_str().parse().ok())
                        .unwrap_or(whole)
                };
                self.pending_messages = self.pending_messages.saturating_sub(left("Nats-Pending-Messages", batch));
                self.pending_bytes = self.pending_bytes.saturating_sub(left("Nats-Pending-Bytes", max_bytes));
                self.primed = true;
                Ok(())
            }
            StatusCode::NO_RESPONDERS => Err(PullError::NoResponders),
            status => Err(PullError::Other(format!(
                "pull request answered with status {status}: {}",
                message.description.as_deref().unwrap_or("")
            ))),
        }
    }

    /// Forgets the requests in flight, so that the next turn asks afresh.
    fn start_over(&mut self) {
        self.pending_messages = 0;
        self.pending_bytes = 0;
        self.primed = true;
        self.silent_until = Instant::now() + 2 * timing(self.lane).heartbeat;
    }
}

/// How long a lane's requests wait on the server and how often it hears a heartbeat.
fn timing(lane: Precedence) -> Timing {
    match lane {
        Precedence::Routine => ROUTINE_TIMING,
        _ => LANE_TIMING,
    }
}

/// A pull request for `batch` messages and at most `max_bytes` (0: no limit), expiring and sending
/// heartbeats as `timing` says.
fn request_json(batch: usize, max_bytes: usize, timing: Timing) -> Bytes {
    let (expires, heartbeat) = (timing.expires.as_nanos(), timing.heartbeat.as_nanos());
    let max_bytes = if max_bytes > 0 { format!(r#","max_bytes":{max_bytes}"#) } else { String::new() };
    Bytes::from(format!(r#"{{"batch":{batch}{max_bytes},"expires":{expires},"idle_heartbeat":{heartbeat}}}"#))
}

/// The first request of a lane: what it holds now, at once (`no_wait`), answered with a status when it
/// holds less than `batch`.
fn first_request_json(batch: usize, max_bytes: usize) -> Bytes {
    let max_bytes = if max_bytes > 0 { format!(r#","max_bytes":{max_bytes}"#) } else { String::new() };
    Bytes::from(format!(r#"{{"batch":{batch}{max_bytes},"no_wait":true}}"#))
}

#[cfg(test)]
mod tests {
    use super::{LANE_TIMING, ROUTINE_TIMING, first_request_json, request_json};

    #[test]
    fn a_request_names_its_batch_bytes_expiry_and_heartbeat() {
        let request: serde_json::Value = serde_json::from_slice(&request_json(256, 8 << 20, ROUTINE_TIMING)).unwrap();
        assert_eq!(
            request,
            serde_json::json!({"batch": 256, "max_bytes": 8 << 20, "expires": 30_000_000_000u64,
                "idle_heartbeat": 5_000_000_000u64})
        );
        let first: serde_json::Value = serde_json::from_slice(&first_request_json(256, 0)).unwrap();
        assert_eq!(first, serde_json::json!({"batch": 256, "no_wait": true}));
        let unlimited: serde_json::Value = serde_json::from_slice(&request_json(1, 0, LANE_TIMING)).unwrap();
        assert_eq!(
            unlimited,
            serde_json::json!({"batch": 1, "expires": 45_000_000_000u64, "idle_heartbeat": 15_000_000_000u64})
        );
    }
}
