//! Feeds: JetStream pull consumers over one recipient's subjects, with explicit acks.
//!
//! A feed reads four lanes, one consumer each: FLASH, IMMEDIATE, PRIORITY and ROUTINE copies have
//! subjects of their own ([`super::subjects`]), and the feed hands out the highest lane's oldest message
//! first ([`pull`]), so a FLASH overtakes a ROUTINE backlog while each lane keeps the stream's order.
//!
//! A durable feed is a durable consumer named `<recipient>_<durable>` for its routine lane and
//! `<recipient>_<durable>_<lane>` for the others ('_' cannot occur in a token, so names never collide);
//! it survives disconnects and gateway restarts, and every client that opens the same name shares its
//! messages. Other feeds are ephemeral consumers, deleted when the subscription ends and removed by the
//! server after a minute of inactivity if the gateway dies.
//!
//! A durable can be moved ([`Bus::seek`](super::Bus::seek)): its consumer is recreated at the new position, and every open
//! feed on it re-attaches by name and reports a reset, so sessions drop what they held.

mod durable_count;
mod lanes;
mod pull;
mod seek;

use std::time::Duration;

use async_nats::Subject;
use async_nats::jetstream::consumer::pull::Config as PullConfig;
use async_nats::jetstream::{
    self, AckKind,
    consumer::{self, AckPolicy, DeliverPolicy},
};
use bytes::Bytes;
use time::OffsetDateTime;
use tokio::sync::watch;

use super::subjects::{FEED_STREAM, feed_filter_subjects, lane_of};
use super::{BusError, headers};
use crate::model::{Kind, PartyId, Precedence, Token, Topic};
pub(crate) use lanes::feed_of_consumer;
use lanes::{delete_consumers, lane_consumer};
use pull::{Pull, PullError};

/// What a feed reads and how.
#[derive(Debug, Clone)]
pub struct FeedSpec {
    pub recipient: PartyId,
    pub durable: Option<Token>,
    pub origins: Vec<PartyId>,
    pub kinds: Vec<Kind>,
    pub topics: Vec<Topic>,
    pub start: Start,
    /// Most unacknowledged messages the server hands out on this consumer.
    pub max_ack_pending: usize,
    pub ack_wait: Duration,
    /// Backoff between attempts, if the subscriber asked for it.
    pub retry: Option<Retry>,
    /// A durable unused for this long is deleted by the server; zero keeps it.
    pub durable_expiry: Duration,
    /// Most durables the recipient party may have on the stream before a new one is refused; 0 is unlimited.
    pub max_durables: usize,
    /// Bound on what the client library buffers ahead of the subscriber.
    pub prefetch_messages: usize,
    pub prefetch_bytes: usize,
}

/// Exponential backoff: attempt `n` waits `min(minimum * 2^(n-1), maximum)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    pub minimum: Duration,
    pub maximum: Duration,
}

/// Most backoff steps given to JetStream; later attempts reuse the last one.
const MAX_BACKOFF_STEPS: u32 = 16;
/// How long past its ack deadline an ephemeral feed's consumers outlive the last pull request. A session
/// whose window is full sends none (it pulls again when the client acks), and a client may hold its window
/// for up to its deadline, so the server may delete them only after that; they are deleted when the stream
/// ends, and this is how long they outlive a gateway that died (at most 11 minutes, with a 10-minute
/// deadline).
const EPHEMERAL_GRACE: Duration = Duration::from_secs(60);

/// Where a new feed starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    New,
    All,
    Sequence(u64),
    Time(OffsetDateTime),
}

/// An open feed.
pub struct Feed {
    /// The routine lane's consumer, which names the feed.
    name: String,
    subjects: Vec<String>,
    messages: Pull,
    /// A message handed back by [`Feed::unread`], delivered next unless a higher lane has one ready.
    unread: Option<Box<FeedMessage>>,
    /// Set when the consumer was recreated under this feed (a seek); taken by [`Feed::take_reset`].
    reset: bool,
    /// Set while re-attaching to a durable, so a re-attach cut short (the caller dropped `next`) resumes.
    detached: bool,
    /// Ephemeral consumers are deleted on close; durable ones stay.
    ephemeral: bool,
    client: async_nats::Client,
    jetstream: jetstream::Context,
}

/// One delivery from a feed.
pub struct FeedMessage {
    pub payload: Bytes,
    pub subject: Subject,
    /// On a redriven copy: the one subscription it is meant for.
    pub redrive_for: Option<String>,
    pub stream_sequence: u64,
    /// 1 for the first delivery.
    pub attempt: u64,
    pub stored_at: OffsetDateTime,
    pub ack: AckHandle,
}

/// What is needed to settle one delivery later, without keeping its payload alive.
#[derive(Debug, Clone)]
pub struct AckHandle {
    reply: Subject,
    /// The stream sequence of the delivery: handed back in this order, they are redelivered in it.
    sequence: u64,
}

impl AckHandle {
    /// Sends the settlement on `client`: a fire-and-forget publish, flushed with the client's buffer.
    async fn settle(&self, client: &async_nats::Client, settle: Settle) -> Result<(), BusError> {
        let kind = match settle {
            Settle::Ack => AckKind::Ack,
            Settle::Nack(delay) => AckKind::Nak(delay),
            Settle::Extend => AckKind::Progress,
            Settle::Reject => AckKind::Term,
        };
        client
            .publish(self.reply.clone(), Bytes::from(kind))
            .await
            .map_err(|error| BusError::Unavailable(error.to_string()))
    }
}

/// How a delivery is settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    Ack,
    /// Redeliver, after the delay if one is given.
    Nack(Option<Duration>),
    /// Restart the ack deadline.
    Extend,
    /// Never deliver again on this consumer (undecodable, expired, dead-lettered, or withheld from the
    /// only person reading it).
    Reject,
}

// === impl Feed ===

impl Feed {
    pub(super) async fn open(
        client: async_nats::Client,
        jetstream: jetstream::Context,
        connections: watch::Receiver<u64>,
        spec: &FeedSpec,
    ) -> Result<Feed, BusError> {
        let (name, ephemeral) = match &spec.durable {
            Some(durable) => (format!("{}_{durable}", spec.recipient), false),
            None => (format!("{}_eph_{}", spec.recipient, ulid::Ulid::new()), true),
        };
        let mut consumers = Vec::with_capacity(Precedence::LANES.len());
        let mut subjects = Vec::new();
        let mut configs = Vec::with_capacity(Precedence::LANES.len());
        for lane in Precedence::LANES {
            let filters = feed_filter_subjects(&spec.recipient, &spec.origins, &spec.kinds, &spec.topics, lane)
                .ok_or_else(|| BusError::Subscription("too many filter subjects".to_string()))?;
            let consumer = lane_consumer(&name, lane);
            configs.push(consumer_config(spec, &consumer, ephemeral, filters.clone()));
            subjects.extend(filters);
            consumers.push(consumer);
        }
        // The routine lane's consumer is made first: for a new durable it is the one the party's cap counts.
        let routine = configs.pop().expect("four lanes");
        let lanes = configs.into_iter();
        if ephemeral {
            let created = async {
                create(&jetstream, routine).await?;
                futures::future::try_join_all(lanes.map(|config| create(&jetstream, config))).await
            };
            if let Err(error) = created.await {
                // No half-made feed is left behind (the stream's consumer limit, say).
                delete_consumers(&jetstream, &consumers).await;
                return Err(error);
            }
        } else {
            open_durable(&jetstream, spec.max_durables, &spec.recipient, routine).await?;
            futures::future::try_join_all(lanes.map(|config| open_durable(&jetstream, 0, &spec.recipient, config)))
                .await?;
        }
        let prefetch = (spec.prefetch_messages.max(1), spec.prefetch_bytes);
        let messages = Pull::open(&client, (FEED_STREAM, &name), prefetch, connections).await?;
        let (reset, detached, unread) = (false, false, None);
        Ok(Feed { name, subjects, messages, unread, reset, detached, ephemeral, client, jetstream })
    }

    /// The consumer's name on the server.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// An ephemeral consumer serves one session; a durable one may be shared by several.
    pub fn is_ephemeral(&self) -> bool {
        self.ephemeral
    }

    /// The filter subjects this feed reads, every lane's, highest lane first; taken once, for the
    /// subscription's opening answer (an open feed does not keep them).
    pub fn take_subjects(&mut self) -> Vec<String> {
        std::mem::take(&mut self.subjects)
    }

    /// Every lane's consumer, highest lane first (made when needed: an idle feed keeps only its name).
    fn consumers(&self) -> Vec<String> {
        Precedence::LANES.iter().map(|lane| lane_consumer(&self.name, *lane)).collect()
    }

    /// Hands a message back, to be delivered next unless a higher lane has one by then: for a session
    /// that took one while its window was full.
    pub fn unread(&mut self, message: FeedMessage) {
        self.unread = Some(Box::new(message));
    }

    /// The next delivery. `None` means the feed has ended for good; lost pull requests (NATS reconnecting)
    /// are sent again ([`pull`]), and a durable whose consumer was recreated (a seek) is re-attached.
    /// Cancel-safe: dropping the future loses no message.
    pub async fn next(&mut self) -> Option<Result<FeedMessage, BusError>> {
        loop {
            // Boxed: rare, and this future is made for every delivery.
            if self.detached
                && let Err(error) = Box::pin(self.reattach()).await
            {
                return Some(Err(error));
            }
            let pulled = match self.unread.take() {
                Some(unread) => match self.messages.ready(&self.client, lane_of(unread.subject.as_str()).rank()) {
                    Some(pulled) => {
                        self.unread = Some(unread);
                        pulled
                    }
                    None => return Some(Ok(*unread)),
                },
                None => self.messages.next(&self.client).await?,
            };
            match pulled {
                Ok(message) => return Some(Ok(delivery(message, &self.jetstream))),
                Err(PullError::ConsumerDeleted | PullError::NoResponders) if !self.ephemeral => {
                    self.detached = true;
                }
                Err(error) => return Some(Err(BusError::Subscription(error.to_string()))),
            }
        }
    }

    /// True once after the consumer was recreated under this feed: deliveries held from before are void.
    pub fn take_reset(&mut self) -> bool {
        std::mem::take(&mut self.reset)
    }

    /// Finds the durable's consumers again after one was deleted, waiting a little for a seek to recreate
    /// them all.
    async fn reattach(&mut self) -> Result<(), BusError> {
        let mut delay = Duration::from_millis(20);
        let mut found = 0;
        for _ in 0..10 {
            let consumers = self.consumers();
            while let Some(consumer) = consumers.get(found) {
                match self.jetstream.get_consumer_from_stream::<PullConfig, _, _>(consumer, FEED_STREAM).await {
                    Ok(_) => found += 1,
                    Err(error) if is_not_found(&error) => break,
                    Err(error) => return Err(BusError::Subscription(error.to_string())),
                }
            }
            if found == consumers.len() {
                self.messages = self.messages.reopen(&self.client).await?;
                (self.detached, self.reset, self.unread) = (false, true, None);
                tracing::info!(consumer = %self.name, "re-attached to the recreated durable consumer");
                return Ok(());
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(500));
        }
        Err(BusError::Subscription(format!("durable subscription {} was deleted", self.name)))
    }

    /// Settles one delivery. Acks are fire-and-forget publishes, flushed with the client's buffer.
    pub async fn settle(&self, handle: &AckHandle, settle: Settle) -> Result<(), BusError> {
        handle.settle(&self.client, settle).await
    }

    /// Acknowledges one delivery and waits until the stream has recorded it (a JetStream double ack). The
    /// future owns what it needs, so a session can await confirmations while it goes on delivering.
    pub fn ack_confirmed(&self, handle: AckHandle) -> impl Future<Output = Result<(), BusError>> + Send + 'static {
        let client = self.client.clone();
        async move {
            let reply = client
                .request(handle.reply, Bytes::from(AckKind::Ack))
                .await
                .map_err(|error| BusError::Unavailable(error.to_string()))?;
            match std::str::from_utf8(&reply.payload) {
                Ok(text) if text.contains("error") => Err(BusError::Subscription(format!("ack refused: {text}"))),
                _ => Ok(()),
            }
        }
    }

    /// The client, for the dead-letter path.
    pub(super) fn jetstream(&self) -> &jetstream::Context {
        &self.jetstream
    }

    /// Closes the feed. A durable consumer gets `unacked` back (deliveries its session still held), with
    /// whatever this feed had already pulled from NATS, so its next session need not wait out the ack
    /// deadline. The pull subscription goes first, so none of it is handed straight back to this feed's
    /// own pending pull request. An ephemeral consumer is deleted instead.
    pub async fn close(mut self, mut unacked: Vec<AckHandle>) {
        if self.ephemeral {
            let _ = self.client.flush().await;
            delete_consumers(&self.jetstream, &self.consumers()).await;
            return;
        }
        unacked.extend(self.unread.take().map(|message| message.ack));
        for message in self.messages.buffered() {
            unacked.push(delivery(message, &self.jetstream).ack);
        }
        let Feed { messages, client, name, .. } = self;
        drop(messages); // unsubscribes, ahead of the naks on the same connection
        // JetStream redelivers in the order it is handed messages back: keep each lane's order.
        unacked.sort_by_key(|handle| handle.sequence);
        for handle in &unacked {
            if let Err(error) = handle.settle(&client, Settle::Nack(None)).await {
                tracing::debug!(consumer = %name, %error, "could not hand back a delivery");
                break;
            }
        }
        let _ = client.flush().await;
        if !unacked.is_empty() {
            tracing::debug!(consumer = %name, released = unacked.len(), "handed back unacknowledged deliveries");
        }
    }
}

fn delivery(message: async_nats::Message, jetstream: &jetstream::Context) -> FeedMessage {
    let message = jetstream::Message { message, context: jetstream.clone() };
    let (stream_sequence, attempt, stored_at) = match message.info() {
        Ok(info) => (info.stream_sequence, info.delivered.max(1) as u64, info.published),
        Err(_) => (0, 1, OffsetDateTime::UNIX_EPOCH),
    };
    let message = message.message;
    let reply = message.reply.unwrap_or_else(|| Subject::from_static(""));
    let header = |name: &str| {
        message.headers.as_ref().and_then(|headers| headers.get(name)).map(|value| value.as_str().to_string())
    };
    FeedMessage {
        redrive_for: header(headers::REDRIVE_FOR),
        payload: message.payload,
        subject: message.subject,
        stream_sequence,
        attempt,
        stored_at,
        ack: AckHandle { reply, sequence: stream_sequence },
    }
}

fn consumer_config(spec: &FeedSpec, name: &str, ephemeral: bool, subjects: Vec<String>) -> PullConfig {
    let (filter_subject, filter_subjects) = match subjects.len() {
        1 => (subjects[0].clone(), Vec::new()),
        _ => (String::new(), subjects),
    };
    PullConfig {
        name: Some(name.to_string()),
        durable_name: (!ephemeral).then(|| name.to_string()),
        description: Some(format!("Liaison feed of {}", spec.recipient)),
        deliver_policy: deliver_policy(spec.start),
        ack_policy: AckPolicy::Explicit,
        ack_wait: spec.ack_wait,
        // Attempts are counted and dead-lettered by the gateway (see grpc::subscribe), so JetStream never
        // stops redelivering on its own: a message cannot be dropped without reaching the dead-letter stream.
        max_deliver: -1,
        backoff: spec.retry.map(|retry| backoff(spec.ack_wait, retry)).unwrap_or_default(),
        max_ack_pending: spec.max_ack_pending as i64,
        filter_subject,
        filter_subjects,
        inactive_threshold: if ephemeral { spec.ack_wait + EPHEMERAL_GRACE } else { spec.durable_expiry },
        ..Default::default()
    }
}

/// JetStream's per-attempt redelivery waits: attempt `n` is redelivered `ack_wait + retry.delay(n)` after
/// it was handed out, so an expired deadline is followed by the backoff.
fn backoff(ack_wait: Duration, retry: Retry) -> Vec<Duration> {
    (1..=MAX_BACKOFF_STEPS).map(|attempt| ack_wait + retry.delay(attempt)).collect()
}

// === impl Retry ===

impl Retry {
    /// The wait before attempt `attempt + 1`, after attempt `attempt` failed.
    pub fn delay(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(30);
        self.minimum.saturating_mul(1 << doublings).min(self.maximum)
    }
}

fn is_not_found(error: &jetstream::stream::ConsumerError) -> bool {
    matches!(error.kind(), jetstream::stream::ConsumerErrorKind::JetStream(inner)
        if inner.error_code() == jetstream::ErrorCode::CONSUMER_NOT_FOUND)
}

async fn create(jetstream: &jetstream::Context, config: PullConfig) -> Result<consumer::PullConsumer, BusError> {
    jetstream.create_consumer_on_stream(config, FEED_STREAM).await.map_err(|error| match error.kind() {
        jetstream::stream::ConsumerErrorKind::JetStream(inner)
            if inner.error_code() == jetstream::ErrorCode::MAXIMUM_CONSUMERS_LIMIT =>
        {
            BusError::ConsumerLimit
        }
        _ => BusError::Subscription(error.to_string()),
    })
}

/// Opens an existing durable (updating what may change: filters, ack wait, window) or creates it, if
/// `recipient` has fewer than `max_durables` (0: no cap). The start position of an existing durable is
/// kept: it resumes after its last ack.
async fn open_durable(
    jetstream: &jetstream::Context,
    max_durables: usize,
    recipient: &PartyId,
    mut config: PullConfig,
) -> Result<consumer::PullConsumer, BusError> {
    let name = config.name.clone().unwrap_or_default();
    let name = name.as_str();
    for _ in 0..2 {
        match jetstream.get_consumer_from_stream::<PullConfig, _, _>(name, FEED_STREAM).await {
            Ok(mut existing) => {
                let current = &existing.cached_info().config;
                config.deliver_policy = current.deliver_policy;
                let unchanged = current.filter_subject == config.filter_subject
                    && current.filter_subjects == config.filter_subjects
                    && current.ack_wait == config.ack_wait
                    && current.backoff == config.backoff
                    && current.max_deliver == config.max_deliver
                    && current.max_ack_pending == config.max_ack_pending
                    && current.inactive_threshold == config.inactive_threshold;
                if !unchanged {
                    existing = jetstream
                        .update_consumer_on_stream(config.clone(), FEED_STREAM)
                        .await
                        .map_err(|error| BusError::Subscription(error.to_string()))?;
                }
                return Ok(existing);
            }
            Err(error) if is_not_found(&error) => {
                durable_count::check(jetstream, recipient, max_durables).await?;
                match create(jetstream, config.clone()).await {
                    Ok(created) => return Ok(created),
                    // Another gateway created it at the same moment: open that one instead.
                    Err(error) => {
                        tracing::debug!(consumer = name, %error, "create raced, reopening")
                    }
                }
            }
            Err(error) => return Err(BusError::Subscription(error.to_string())),
        }
    }
    Err(BusError::Subscription(format!("could not open durable subscription {name}")))
}

fn deliver_policy(start: Start) -> DeliverPolicy {
    match start {
        Start::New => DeliverPolicy::New,
        Start::All => DeliverPolicy::All,
        Start::Sequence(start_sequence) => DeliverPolicy::ByStartSequence { start_sequence },
        Start::Time(start_time) => DeliverPolicy::ByStartTime { start_time },
    }
}

#[cfg(test)]
mod tests;
