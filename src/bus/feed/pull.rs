//! The pull loop of one feed: JetStream pull requests answered on the feed's own inbox.
//!
//! async-nats's `pull::Stream` does the same with a task per stream that holds a copy of the consumer's
//! info and configuration, about 7 KiB of every open subscription (10,000 idle subscriptions spent 70 MiB
//! on it). Here the requests go out from `next` itself: a feed asks for more when half of what it asked
//! for has arrived, re-asks when its requests expire (the server's 408 says how much was left), and starts
//! over when the inbox has been silent for two heartbeats or the client has reconnected, since the server
//! may then have dropped the requests. What the server says about the consumer itself (deleted, no
//! JetStream) ends the pull with a [`PullError`] for the feed to act on.

use std::time::Duration;

use async_nats::{Client, Message, StatusCode, Subject, Subscriber};
use bytes::Bytes;
use futures::{FutureExt, StreamExt};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::bus::BusError;

/// How long one pull request waits on the server.
const EXPIRES: Duration = Duration::from_secs(30);
/// How often the server sends a heartbeat to a waiting request with nothing to deliver.
const HEARTBEAT: Duration = Duration::from_secs(5);

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
    inbox: Subject,
    /// `$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>`.
    next_subject: Subject,
    /// The request's JSON, the same every time.
    request: Bytes,
    batch: usize,
    max_bytes: usize,
    /// What the requests sent so far may still bring.
    pending_messages: usize,
    pending_bytes: usize,
    /// Past this with nothing heard on the inbox, the requests are taken as lost.
    silent_until: Instant,
    /// Bumped on every (re)connection of the client.
    connections: watch::Receiver<u64>,
}

impl Pull {
    /// Subscribes to a new inbox for `consumer` on `stream`; the first request goes out with the first
    /// [`Pull::next`].
    pub(super) async fn open(
        client: &Client,
        (stream, consumer): (&str, &str),
        (batch, max_bytes): (usize, usize),
        connections: watch::Receiver<u64>,
    ) -> Result<Pull, BusError> {
        let next_subject = Subject::from(format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"));
        Pull::subscribed(client, next_subject, request_json(batch, max_bytes), (batch, max_bytes), connections).await
    }

    /// The same pull on a new inbox, asking afresh: for a consumer recreated under its feed.
    pub(super) async fn reopen(&self, client: &Client) -> Result<Pull, BusError> {
        let (subject, request) = (self.next_subject.clone(), self.request.clone());
        Pull::subscribed(client, subject, request, (self.batch, self.max_bytes), self.connections.clone()).await
    }

    async fn subscribed(
        client: &Client,
        next_subject: Subject,
        request: Bytes,
        (batch, max_bytes): (usize, usize),
        mut connections: watch::Receiver<u64>,
    ) -> Result<Pull, BusError> {
        let inbox = Subject::from(client.new_inbox());
        let subscriber =
            client.subscribe(inbox.clone()).await.map_err(|error| BusError::Subscription(error.to_string()))?;
        connections.borrow_and_update();
        Ok(Pull {
            subscriber,
            inbox,
            next_subject,
            request,
            batch,
            max_bytes,
            pending_messages: 0,
            pending_bytes: 0,
            silent_until: Instant::now() + 2 * HEARTBEAT,
            connections,
        })
    }

    /// The next message of the consumer; `None` once the subscription has ended. Cancel-safe: a request
    /// is counted when it is handed to a task that sends it, and a message is only taken off the inbox
    /// to be returned or to be accounted for.
    pub(super) async fn next(&mut self, client: &Client) -> Option<Result<Message, PullError>> {
        loop {
            self.request_more(client);
            let silent_until = self.silent_until;
            let message = tokio::select! {
                // What has arrived comes first: a feed not polled for a while is not taken for silent.
                biased;
                message = self.subscriber.next() => message?,
                () = tokio::time::sleep_until(silent_until) => {
                    tracing::debug!(inbox = %self.inbox, "pull requests went unanswered; asking again");
                    self.start_over();
                    continue;
                }
                Ok(()) = self.connections.changed() => {
                    self.start_over();
                    continue;
                }
            };
            self.silent_until = Instant::now() + 2 * HEARTBEAT;
            match self.take(message) {
                Some(result) => return Some(result),
                None => continue,
            }
        }
    }

    /// What is already on the inbox, without asking for more: for handing it back when the feed closes.
    pub(super) fn buffered(&mut self) -> Vec<Message> {
        let mut messages = Vec::new();
        while let Some(Some(message)) = self.subscriber.next().now_or_never() {
            if message.status.is_none_or(|status| status == StatusCode::OK) {
                messages.push(message);
            }
        }
        messages
    }

    /// Accounts for one message from the inbox: a delivery is returned, a status either ends the pull or
    /// only updates what is pending (`None`).
    fn take(&mut self, message: Message) -> Option<Result<Message, PullError>> {
        match message.status.unwrap_or(StatusCode::OK) {
            StatusCode::OK => {
                self.pending_messages = self.pending_messages.saturating_sub(1);
                self.pending_bytes = self.pending_bytes.saturating_sub(message.length);
                Some(Ok(message))
            }
            StatusCode::IDLE_HEARTBEAT => None,
            StatusCode::TIMEOUT | StatusCode::REQUEST_TERMINATED | StatusCode::NOT_FOUND => {
                match message.description.as_deref() {
                    Some("Consumer Deleted") => return Some(Err(PullError::ConsumerDeleted)),
                    Some(description)
                        if description == "Consumer is push based"
                            || description.starts_with("Exceeded MaxRequest") =>
                    {
                        return Some(Err(PullError::Other(description.to_string())));
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
                self.pending_messages = self.pending_messages.saturating_sub(left("Nats-Pending-Messages", self.batch));
                self.pending_bytes = self.pending_bytes.saturating_sub(left("Nats-Pending-Bytes", self.max_bytes));
                None
            }
            StatusCode::NO_RESPONDERS => Some(Err(PullError::NoResponders)),
            status => Some(Err(PullError::Other(format!(
                "pull request answered with status {status}: {}",
                message.description.as_deref().unwrap_or("")
            )))),
        }
    }

    /// Asks for another batch once half of what was asked for has arrived. The request is sent from its
    /// own short task, so that dropping `next` (a session's select) never loses one that was counted.
    fn request_more(&mut self, client: &Client) {
        let low_on_messages = self.pending_messages <= self.batch / 2;
        let low_on_bytes = self.max_bytes > 0 && self.pending_bytes <= self.max_bytes / 2;
        if !(low_on_messages || low_on_bytes) {
            return;
        }
        self.pending_messages += self.batch;
        self.pending_bytes += self.max_bytes;
        let (client, subject, inbox, request) =
            (client.clone(), self.next_subject.clone(), self.inbox.clone(), self.request.clone());
        tokio::spawn(async move {
            if let Err(error) = client.publish_with_reply(subject, inbox, request).await {
                // Nothing comes back for it: the inbox's silence starts the pull over.
                tracing::debug!(%error, "could not send a pull request");
            }
        });
    }

    /// Forgets the requests in flight, so that the next turn asks afresh.
    fn start_over(&mut self) {
        self.pending_messages = 0;
        self.pending_bytes = 0;
        self.silent_until = Instant::now() + 2 * HEARTBEAT;
    }
}

/// A pull request for `batch` messages and at most `max_bytes` (0: no limit), expiring after
/// [`EXPIRES`] with a heartbeat every [`HEARTBEAT`].
fn request_json(batch: usize, max_bytes: usize) -> Bytes {
    let (expires, heartbeat) = (EXPIRES.as_nanos(), HEARTBEAT.as_nanos());
    let max_bytes = if max_bytes > 0 { format!(r#","max_bytes":{max_bytes}"#) } else { String::new() };
    Bytes::from(format!(r#"{{"batch":{batch}{max_bytes},"expires":{expires},"idle_heartbeat":{heartbeat}}}"#))
}

#[cfg(test)]
mod tests {
    use super::request_json;

    #[test]
    fn a_request_names_its_batch_bytes_expiry_and_heartbeat() {
        let request: serde_json::Value = serde_json::from_slice(&request_json(256, 8 << 20)).unwrap();
        assert_eq!(
            request,
            serde_json::json!({"batch": 256, "max_bytes": 8 << 20, "expires": 30_000_000_000u64,
                "idle_heartbeat": 5_000_000_000u64})
        );
        let unlimited: serde_json::Value = serde_json::from_slice(&request_json(1, 0)).unwrap();
        assert_eq!(
            unlimited,
            serde_json::json!({"batch": 1, "expires": 30_000_000_000u64, "idle_heartbeat": 5_000_000_000u64})
        );
    }
}
