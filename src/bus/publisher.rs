//! Storing copies on the feed: JetStream publishes whose acknowledgements all come back on one reply
//! subscription of the gateway.
//!
//! async-nats's `send_publish` makes an inbox name, two timers and a boxed future for every publish, and
//! parses each ack through an untagged enum that builds an error value before it finds the ack. A copy is
//! the hot path, so it goes here instead: the reply subject is `<inbox>.<n>` with a counter, the waiting
//! copies sit in a map swept for timeouts a few times per timeout, and an ack is parsed as one plain
//! struct. What a caller sees is what `send_publish` gave: the stored sequence and whether it was a
//! duplicate, a JetStream error, or a timeout. In-flight copies are bounded (callers wait for room).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_nats::{HeaderMap, StatusCode, Subject};
use bytes::Bytes;
use dashmap::DashMap;
use futures::StreamExt;
use serde::Deserialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use tokio::time::Instant;

use super::BusError;

/// Copies sent and not yet acknowledged, beyond which a publish waits.
const MAX_IN_FLIGHT: usize = 16_384;

/// What JetStream said about one stored copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Ack {
    pub sequence: u64,
    pub duplicate: bool,
}

/// Publishes copies and routes their acks back to whoever waits for them. Cheap to clone.
#[derive(Clone)]
pub(super) struct Publisher {
    client: async_nats::Client,
    /// `<inbox>.` : every ack comes back on `<inbox>.<n>`.
    reply_prefix: Arc<str>,
    next: Arc<AtomicU64>,
    waiting: Arc<DashMap<u64, Waiter>>,
    room: Arc<Semaphore>,
    /// Set when the reply subscription has ended (the connection closed): nothing would answer.
    closed: Arc<AtomicBool>,
}

struct Waiter {
    done: oneshot::Sender<Result<Ack, BusError>>,
    deadline: Instant,
}

/// A copy sent, its ack not yet awaited.
pub(super) struct PendingAck {
    ack: oneshot::Receiver<Result<Ack, BusError>>,
    _room: OwnedSemaphorePermit,
}

impl Publisher {
    /// Subscribes to the reply subjects and starts the task that hands acks to their copies and times
    /// out the ones that never come (within about a quarter of `timeout` after it).
    pub async fn start(client: async_nats::Client, timeout: Duration) -> Result<Publisher, BusError> {
        let inbox = client.new_inbox();
        let replies = client
            .subscribe(format!("{inbox}.*"))
            .await
            .map_err(|error| BusError::Setup(format!("the copies' ack subscription: {error}")))?;
        let publisher = Publisher {
            client,
            reply_prefix: format!("{inbox}.").into(),
            next: Arc::new(AtomicU64::new(0)),
            waiting: Arc::new(DashMap::new()),
            room: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
            closed: Arc::new(AtomicBool::new(false)),
        };
        let (prefix, waiting, closed) =
            (publisher.reply_prefix.clone(), publisher.waiting.clone(), publisher.closed.clone());
        tokio::spawn(async move {
            route_acks(replies, prefix, waiting.clone(), timeout).await;
            closed.store(true, Ordering::SeqCst);
            fail_where(&waiting, |_| true, || unavailable("the ack subscription ended"));
        });
        Ok(publisher)
    }

    /// Sends one copy to `subject`; the returned ack resolves once JetStream has stored it (or refused,
    /// or `timeout` passed).
    pub async fn publish(
        &self,
        subject: String,
        headers: Option<HeaderMap>,
        payload: Bytes,
        timeout: Duration,
    ) -> Result<PendingAck, BusError> {
        let room = self.room.clone().acquire_owned().await.map_err(|_| unavailable("the publisher has stopped"))?;
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (done, ack) = oneshot::channel();
        // Waiting before the copy leaves, so an ack can never arrive for no one.
        self.waiting.insert(id, Waiter { done, deadline: Instant::now() + timeout });
        if self.closed.load(Ordering::SeqCst) {
            self.waiting.remove(&id);
            return Err(unavailable("the connection to NATS is closed"));
        }
        let mut reply = String::with_capacity(self.reply_prefix.len() + 20);
        reply.push_str(&self.reply_prefix);
        reply.push_str(itoa::Buffer::new().format(id));
        let sent = match headers {
            Some(headers) => self.client.publish_with_reply_and_headers(subject, reply, headers, payload).await,
            None => self.client.publish_with_reply(subject, reply, payload).await,
        };
        if let Err(error) = sent {
            self.waiting.remove(&id);
            return Err(unavailable(&error));
        }
        Ok(PendingAck { ack, _room: room })
    }
}

impl PendingAck {
    /// Waits for JetStream's answer.
    pub async fn stored(self) -> Result<Ack, BusError> {
        self.ack.await.unwrap_or_else(|_| Err(unavailable("the publisher has stopped")))
    }
}

/// Hands each ack to its copy and times out the copies past their deadline, until the subscription ends.
async fn route_acks(
    mut replies: async_nats::Subscriber,
    prefix: Arc<str>,
    waiting: Arc<DashMap<u64, Waiter>>,
    timeout: Duration,
) {
    let mut sweep = tokio::time::interval((timeout / 4).max(Duration::from_millis(50)));
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            reply = replies.next() => {
                let Some(reply) = reply else { break };
                let Some(id) = reply_id(&reply.subject, &prefix) else { continue };
                if let Some((_, waiter)) = waiting.remove(&id) {
                    let _ = waiter.done.send(ack_of(reply.status, &reply.payload));
                }
            }
            _ = sweep.tick() => {
                let now = Instant::now();
                fail_where(&waiting, |waiter| waiter.deadline <= now, || BusError::Timeout);
            }
        }
    }
}

/// Fails the waiting copies `which` picks (past their deadline, or all once nothing will answer).
fn fail_where(waiting: &DashMap<u64, Waiter>, which: impl Fn(&Waiter) -> bool, error: impl Fn() -> BusError) {
    let picked: Vec<u64> = waiting.iter().filter(|entry| which(entry.value())).map(|entry| *entry.key()).collect();
    for id in picked {
        if let Some((_, waiter)) = waiting.remove(&id) {
            let _ = waiter.done.send(Err(error()));
        }
    }
}

/// The counter of a reply subject `<prefix><n>`.
fn reply_id(subject: &Subject, prefix: &str) -> Option<u64> {
    subject.as_str().strip_prefix(prefix)?.parse().ok()
}

/// JetStream's answer to a publish: `{"stream":..,"seq":..,"duplicate":..}` or `{"error":{..}}`; a
/// no-responders status when no stream captures the subject.
fn ack_of(status: Option<StatusCode>, payload: &[u8]) -> Result<Ack, BusError> {
    #[derive(Deserialize)]
    struct Reply<'a> {
        #[serde(default)]
        seq: u64,
        #[serde(default)]
        duplicate: bool,
        #[serde(borrow, default)]
        error: Option<Refusal<'a>>,
    }
    #[derive(Deserialize)]
    struct Refusal<'a> {
        #[serde(default)]
        code: u16,
        #[serde(default)]
        err_code: u64,
        #[serde(borrow, default)]
        description: std::borrow::Cow<'a, str>,
    }
    if status == Some(StatusCode::NO_RESPONDERS) {
        return Err(unavailable("no stream captures the subject (no responders)"));
    }
    match serde_json::from_slice::<Reply<'_>>(payload) {
        Ok(Reply { error: Some(refusal), .. }) => Err(unavailable(format!(
            "JetStream refused the copy: {} (code {}, error {})",
            refusal.description, refusal.code, refusal.err_code
        ))),
        Ok(Reply { seq: 0, .. }) => Err(unavailable("JetStream's ack names no sequence")),
        Ok(Reply { seq, duplicate, .. }) => Ok(Ack { sequence: seq, duplicate }),
        Err(error) => Err(unavailable(format!("unreadable JetStream ack: {error}"))),
    }
}

fn unavailable(error: impl std::fmt::Display) -> BusError {
    BusError::Unavailable(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_duplicates_and_refusals_are_read_as_jetstream_sends_them() {
        let stored = ack_of(None, br#"{"stream":"LIAISON_FEED","seq":42}"#).unwrap();
        assert_eq!(stored, Ack { sequence: 42, duplicate: false });
        let again = ack_of(None, br#"{"stream":"LIAISON_FEED","seq":42,"duplicate":true}"#).unwrap();
        assert_eq!(again, Ack { sequence: 42, duplicate: true });
        let full = r#"{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"}}"#;
        let refused = ack_of(None, full.as_bytes()).unwrap_err().to_string();
        assert!(refused.contains("maximum messages exceeded") && refused.contains("10077"), "{refused}");
        let nobody = ack_of(Some(StatusCode::NO_RESPONDERS), b"").unwrap_err().to_string();
        assert!(nobody.contains("no responders"), "{nobody}");
        assert!(ack_of(None, b"{}").unwrap_err().to_string().contains("no sequence"));
        assert!(ack_of(None, b"not json").unwrap_err().to_string().contains("unreadable"));
    }

    #[test]
    fn only_a_counter_under_the_prefix_names_a_copy() {
        let prefix = "_INBOX.abc.";
        assert_eq!(reply_id(&Subject::from("_INBOX.abc.17"), prefix), Some(17));
        assert_eq!(reply_id(&Subject::from("_INBOX.abc.x"), prefix), None);
        assert_eq!(reply_id(&Subject::from("_INBOX.other.17"), prefix), None);
    }
}
