//! Feeds: JetStream pull consumers over one recipient's subjects, with explicit acks.
//!
//! A durable feed is a durable consumer named `<recipient>_<durable>` ('_' cannot occur in a token, so
//! names never collide); it survives disconnects and gateway restarts, and every client that opens the
//! same name shares its messages. Other feeds are ephemeral consumers, deleted when the subscription ends
//! and removed by the server after a minute of inactivity if the gateway dies.

use std::time::Duration;

use async_nats::Subject;
use async_nats::jetstream::{
    self, AckKind,
    consumer::{self, AckPolicy, DeliverPolicy, pull},
};
use bytes::Bytes;
use futures::StreamExt;
use time::OffsetDateTime;

use super::BusError;
use super::subjects::{FEED_STREAM, feed_filter_subjects};
use crate::model::{Kind, PartyId, Token, Topic};

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
    /// Bound on what the client library buffers ahead of the subscriber.
    pub prefetch_messages: usize,
    pub prefetch_bytes: usize,
}

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
    name: String,
    subjects: Vec<String>,
    messages: pull::Stream,
    /// Ephemeral consumers are deleted on close; durable ones stay.
    ephemeral: bool,
    client: async_nats::Client,
    jetstream: jetstream::Context,
}

/// One delivery from a feed.
pub struct FeedMessage {
    pub payload: Bytes,
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
}

/// How a delivery is settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    Ack,
    /// Redeliver, after the delay if one is given.
    Nack(Option<Duration>),
    /// Restart the ack deadline.
    Extend,
    /// Never deliver again (undecodable payload).
    Reject,
}

// === impl Feed ===

impl Feed {
    pub(super) async fn open(
        client: async_nats::Client,
        jetstream: jetstream::Context,
        spec: &FeedSpec,
    ) -> Result<Feed, BusError> {
        let subjects = feed_filter_subjects(&spec.recipient, &spec.origins, &spec.kinds, &spec.topics)
            .ok_or_else(|| BusError::Subscription("too many filter subjects".to_string()))?;
        let (name, ephemeral) = match &spec.durable {
            Some(durable) => (format!("{}_{durable}", spec.recipient), false),
            None => (format!("{}_eph_{}", spec.recipient, ulid::Ulid::new()), true),
        };
        let config = consumer_config(spec, &name, ephemeral, subjects.clone());
        let consumer =
            if ephemeral { create(&jetstream, config).await? } else { open_durable(&jetstream, &name, config).await? };
        let messages = consumer
            .stream()
            .max_messages_per_batch(spec.prefetch_messages.max(1))
            .max_bytes_per_batch(spec.prefetch_bytes)
            .heartbeat(Duration::from_secs(5))
            .expires(Duration::from_secs(30))
            .messages()
            .await
            .map_err(|error| BusError::Subscription(error.to_string()))?;
        Ok(Feed { name, subjects, messages, ephemeral, client, jetstream })
    }

    /// The consumer's name on the server.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The filter subjects this feed reads.
    pub fn subjects(&self) -> &[String] {
        &self.subjects
    }

    /// The next delivery. `None` means the feed has ended for good; transient errors (a missed heartbeat
    /// while NATS reconnects) are logged and skipped.
    pub async fn next(&mut self) -> Option<Result<FeedMessage, BusError>> {
        use async_nats::jetstream::consumer::pull::MessagesErrorKind;
        loop {
            match self.messages.next().await? {
                Ok(message) => return Some(Ok(delivery(message))),
                Err(error) if error.kind() == MessagesErrorKind::MissingHeartbeat => {
                    tracing::debug!(consumer = %self.name, "missed heartbeat, continuing");
                }
                Err(error) => return Some(Err(BusError::Subscription(error.to_string()))),
            }
        }
    }

    /// Settles one delivery. Acks are fire-and-forget publishes, flushed with the client's buffer.
    pub async fn settle(&self, handle: &AckHandle, settle: Settle) -> Result<(), BusError> {
        let kind = match settle {
            Settle::Ack => AckKind::Ack,
            Settle::Nack(delay) => AckKind::Nak(delay),
            Settle::Extend => AckKind::Progress,
            Settle::Reject => AckKind::Term,
        };
        self.client
            .publish(handle.reply.clone(), Bytes::from(kind))
            .await
            .map_err(|error| BusError::Unavailable(error.to_string()))
    }

    /// Ends the feed; an ephemeral consumer is deleted, a durable one kept.
    pub async fn close(self) {
        let _ = self.client.flush().await;
        if !self.ephemeral {
            return;
        }
        let deleted = self.jetstream.delete_consumer_from_stream(&self.name, FEED_STREAM).await;
        if let Err(error) = deleted {
            tracing::debug!(consumer = %self.name, %error, "could not delete ephemeral consumer");
        }
    }
}

fn delivery(message: jetstream::Message) -> FeedMessage {
    let (stream_sequence, attempt, stored_at) = match message.info() {
        Ok(info) => (info.stream_sequence, info.delivered.max(1) as u64, info.published),
        Err(_) => (0, 1, OffsetDateTime::UNIX_EPOCH),
    };
    let reply = message.message.reply.clone().unwrap_or_else(|| Subject::from_static(""));
    FeedMessage {
        payload: message.message.payload.clone(),
        stream_sequence,
        attempt,
        stored_at,
        ack: AckHandle { reply },
    }
}

fn consumer_config(spec: &FeedSpec, name: &str, ephemeral: bool, subjects: Vec<String>) -> pull::Config {
    let (filter_subject, filter_subjects) = match subjects.len() {
        1 => (subjects[0].clone(), Vec::new()),
        _ => (String::new(), subjects),
    };
    pull::Config {
        name: Some(name.to_string()),
        durable_name: (!ephemeral).then(|| name.to_string()),
        description: Some(format!("Liaison feed of {}", spec.recipient)),
        deliver_policy: match spec.start {
            Start::New => DeliverPolicy::New,
            Start::All => DeliverPolicy::All,
            Start::Sequence(start_sequence) => DeliverPolicy::ByStartSequence { start_sequence },
            Start::Time(start_time) => DeliverPolicy::ByStartTime { start_time },
        },
        ack_policy: AckPolicy::Explicit,
        ack_wait: spec.ack_wait,
        max_ack_pending: spec.max_ack_pending as i64,
        filter_subject,
        filter_subjects,
        inactive_threshold: if ephemeral { Duration::from_secs(60) } else { Duration::ZERO },
        ..Default::default()
    }
}

fn is_not_found(error: &jetstream::stream::ConsumerError) -> bool {
    matches!(error.kind(), jetstream::stream::ConsumerErrorKind::JetStream(inner)
        if inner.error_code() == jetstream::ErrorCode::CONSUMER_NOT_FOUND)
}

async fn create(jetstream: &jetstream::Context, config: pull::Config) -> Result<consumer::PullConsumer, BusError> {
    jetstream
        .create_consumer_on_stream(config, FEED_STREAM)
        .await
        .map_err(|error| BusError::Subscription(error.to_string()))
}

/// Opens an existing durable (updating what may change: filters, ack wait, window) or creates it. The
/// start position of an existing durable is kept: it resumes after its last ack.
async fn open_durable(
    jetstream: &jetstream::Context,
    name: &str,
    mut config: pull::Config,
) -> Result<consumer::PullConsumer, BusError> {
    for _ in 0..2 {
        match jetstream.get_consumer_from_stream::<pull::Config, _, _>(name, FEED_STREAM).await {
            Ok(mut existing) => {
                let current = &existing.cached_info().config;
                config.deliver_policy = current.deliver_policy;
                let unchanged = current.filter_subject == config.filter_subject
                    && current.filter_subjects == config.filter_subjects
                    && current.ack_wait == config.ack_wait
                    && current.max_ack_pending == config.max_ack_pending;
                if !unchanged {
                    existing = jetstream
                        .update_consumer_on_stream(config.clone(), FEED_STREAM)
                        .await
                        .map_err(|error| BusError::Subscription(error.to_string()))?;
                }
                return Ok(existing);
            }
            Err(error) if is_not_found(&error) => {
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
