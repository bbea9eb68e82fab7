//! The bus: the only module that knows NATS — connections, subjects, the JetStream stream and consumers.
//!
//! Payloads are opaque bytes here. The bus stores a copy only for an [`Approval`] made by the router, so no
//! code path writes to NATS without a routing decision.

mod audit;
mod audit_capacity;
mod audit_chains;
mod connect;
mod dead_letter;
mod feed;
mod headers;
mod held;
mod messages;
pub mod permissions;
mod policy;
mod provision;
mod publisher;
mod revocations;
mod rfi;
mod speed;
mod subjects;

use std::time::Duration;

use async_nats::jetstream;
use bytes::Bytes;

use crate::router::Approval;

pub use audit::{AuditLog, AuditReader, ChainKeeping, CheckpointSigner, PendingAudit, StoredAudit};
pub use audit_chains::{CHAINS_BUCKET, ChainRegistry};
pub use connect::{BusConfig, NatsAuth, NatsTls, StreamSettings};
pub use dead_letter::{DeadLetterInfo, DeadLetterRecord, StoredDeadLetter};
pub use feed::{AckHandle, Feed, FeedMessage, FeedSpec, Retry, Settle, Start};
pub use held::{HELD_BUCKET, HeldEntry};
pub use messages::{CLOCK_SKEW, MessageRecords, STATE_BUCKET};
pub use policy::{ApplyError, POLICY_BUCKET, POLICY_HISTORY, PolicyBucket, PolicyRevision};
pub use provision::Provisioned;
pub use revocations::{MAX_REVOKED_SUBJECT, REVOCATIONS_BUCKET, RevocationBucket, revocation_key};
pub use rfi::{RFI_BUCKET, RFI_MAX_BYTES, RfiEntry, RfiListing};
pub use speed::{Cursor, SPEED_BUCKET, StoredCopy};
pub use subjects::{
    AUDIT_STREAM, DEAD_LETTER_STREAM, FEED_STREAM, MAX_FILTER_SUBJECTS, SUBJECT_ROOT, audit_subject,
    dead_letter_subject, delivery_subject, feed_filter_subjects, feed_subject, lane_of, party_dead_letters,
};

/// A connection to NATS with the Liaison stream in place. Cheap to clone.
#[derive(Clone)]
pub struct Bus {
    client: async_nats::Client,
    jetstream: jetstream::Context,
    /// The server's largest accepted payload, checked before publishing.
    max_payload: usize,
    /// The server drops messages at their `Nats-TTL` (nats-server 2.11 and later).
    message_ttl: bool,
    /// How long the feed stream keeps copies; zero keeps them until other limits apply.
    feed_max_age: Duration,
    /// Message states (reviews, corrections, purges); absent on read-only connections.
    messages: Option<async_nats::jetstream::kv::Store>,
    /// Copies held for disclosure review; absent on read-only connections.
    held: Option<async_nats::jetstream::kv::Store>,
    /// Acknowledgement marks and judging cursors for speed of service; absent on read-only connections.
    speed: Option<async_nats::jetstream::kv::Store>,
    /// RFI records; absent on read-only connections.
    rfis: Option<async_nats::jetstream::kv::Store>,
    /// Stores copies; absent on read-only connections.
    publisher: Option<publisher::Publisher>,
    /// How long a copy's storage acknowledgement is waited for.
    ack_timeout: Duration,
    /// Goes up with every (re)connection of `client`.
    connections: tokio::sync::watch::Receiver<u64>,
}

/// How one copy is stored. A copy carries no header it does not need: the payload holds the message id,
/// and a header costs nats-server a scan of the header block on every store (a de-duplication id also an
/// entry in the stream's duplicate map for the whole window).
#[derive(Debug, Clone, Default)]
pub struct CopyOptions {
    /// JetStream de-duplication id (`Nats-Msg-Id`), when a retry of this copy must store nothing new.
    pub dedup_id: Option<String>,
    /// Time left until the message expires, if it does.
    pub expires_in: Option<Duration>,
}

/// A copy sent to JetStream whose storage acknowledgement has not been awaited yet.
pub struct PendingStore {
    ack: publisher::PendingAck,
    subject: String,
}

/// A copy JetStream has stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub sequence: u64,
    /// JetStream had stored this copy before (same de-duplication id within the window).
    pub duplicate: bool,
    pub subject: String,
}

/// Failures of the bus.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("cannot connect to NATS at {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("unsupported NATS server: {0}")]
    Unsupported(String),
    #[error("JetStream set-up failed: {0}")]
    Setup(String),
    #[error("JetStream did not confirm storage in time")]
    Timeout,
    #[error("NATS is unavailable: {0}")]
    Unavailable(String),
    /// The audit stream has no room left (its `--audit-max-bytes`, or the server's storage): it refuses
    /// new entries rather than drop old ones, so nothing that must be recorded can happen.
    #[error(
        "the audit stream LIAISON_AUDIT is full (its byte limit, --audit-max-bytes, or the NATS server's storage): \
         it keeps every entry and refuses new ones until an operator makes room ({0})"
    )]
    AuditFull(String),
    #[error("subscription failed: {0}")]
    Subscription(String),
    #[error("no durable subscription {0}")]
    NotFound(String),
    #[error("the feed stream has as many subscriptions as it may (the gateway's --max-consumers); try again later")]
    ConsumerLimit,
    #[error(
        "durable subscriptions: party {party} has {count}; at most {max} (--max-durables-per-party); delete one or reuse a name"
    )]
    DurableLimit { party: String, count: usize, max: usize },
    #[error("envelope: encoded message of {size} bytes exceeds the NATS server's max_payload of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
}

// === impl Bus ===

impl Bus {
    /// Stores one approved copy: sends it and returns a future for JetStream's storage acknowledgement, so
    /// callers can pipeline many copies. `dedup_id` becomes the JetStream message id.
    pub async fn publish(
        &self,
        approval: &Approval,
        payload: Bytes,
        options: CopyOptions,
    ) -> Result<PendingStore, BusError> {
        self.store(delivery_subject(approval), payload, options, None).await
    }

    /// Sends one copy to `subject`; `redrive_for` marks a redriven copy meant for one subscription only.
    async fn store(
        &self,
        subject: String,
        payload: Bytes,
        options: CopyOptions,
        redrive_for: Option<&str>,
    ) -> Result<PendingStore, BusError> {
        if payload.len() > self.max_payload {
            return Err(BusError::TooLarge { size: payload.len(), limit: self.max_payload });
        }
        let mut headers = async_nats::HeaderMap::new();
        if let Some(dedup_id) = options.dedup_id {
            headers.insert(async_nats::header::NATS_MESSAGE_ID, dedup_id);
        }
        if let Some(left) = options.expires_in.filter(|_| self.message_ttl) {
            // TTLs are whole seconds; round up so a message is never dropped early (delivery checks the exact time).
            let seconds = left.as_secs() + u64::from(left.subsec_nanos() > 0);
            headers.insert(async_nats::header::NATS_MESSAGE_TTL, seconds.max(1).to_string());
        }
        if let Some(subscription) = redrive_for {
            headers.insert(headers::REDRIVE_FOR, subscription);
        }
        let headers = (!headers.is_empty()).then_some(headers);
        let publisher = self
            .publisher
            .as_ref()
            .ok_or_else(|| BusError::Unavailable("a read-only connection stores nothing".into()))?;
        let ack = publisher.publish(subject.clone(), headers, payload, self.ack_timeout).await?;
        Ok(PendingStore { ack, subject })
    }

    /// The payload of a stored copy: how a duplicate's original is named (the gRPC layer reads its id).
    /// `None` when the copy is gone (expired or purged while its idempotency key was still remembered).
    pub async fn copy_at(&self, sequence: u64) -> Result<Option<Bytes>, BusError> {
        use async_nats::jetstream::stream::RawMessageErrorKind;
        let stream = self
            .jetstream
            .get_stream_no_info(FEED_STREAM)
            .await
            .map_err(|error| BusError::Unavailable(error.to_string()))?;
        match stream.get_raw_message(sequence).await {
            Ok(stored) => Ok(Some(stored.payload)),
            Err(error) if error.kind() == RawMessageErrorKind::NoMessageFound => Ok(None),
            Err(error) => Err(BusError::Unavailable(error.to_string())),
        }
    }

    /// Opens a pull consumer over one recipient's feed.
    pub async fn open_feed(&self, spec: &FeedSpec) -> Result<Feed, BusError> {
        Feed::open(self.client.clone(), self.jetstream.clone(), self.connections.clone(), spec).await
    }

    /// The underlying client, for the embedded-server readiness check and tests of the bus itself.
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// How long the feed stream keeps copies (zero: until other limits apply).
    pub fn feed_max_age(&self) -> Duration {
        self.feed_max_age
    }

    /// Whether the connection to NATS is up right now.
    pub fn connected(&self) -> Result<(), BusError> {
        match self.client.connection_state() {
            async_nats::connection::State::Connected => Ok(()),
            state => Err(BusError::Unavailable(format!("connection {state}"))),
        }
    }

    /// How far every consumer of the feed stream is behind, read from JetStream.
    ///
    /// Folded page by page as the server lists them: collecting every consumer's info first held 1.2 KiB
    /// per consumer at once, 45 MiB every few seconds with 10,000 subscriptions of four lanes each.
    pub async fn consumer_lag(&self) -> Result<Vec<crate::traffic::ConsumerLag>, BusError> {
        use futures::TryStreamExt;
        let unavailable = |error: &dyn std::fmt::Display| BusError::Unavailable(error.to_string());
        let stream = self.jetstream.get_stream_no_info(FEED_STREAM).await.map_err(|error| unavailable(&error))?;
        // A feed's lanes are one entry, under the feed's name.
        let feeds = stream
            .consumers()
            .try_fold(std::collections::BTreeMap::<String, crate::traffic::ConsumerLag>::new(), |mut feeds, info| {
                let name = feed::feed_of_consumer(&info.name);
                let lag = match feeds.get_mut(name) {
                    Some(lag) => lag,
                    None => feeds.entry(name.to_string()).or_insert_with(|| crate::traffic::ConsumerLag {
                        party: name.split('_').next().unwrap_or_default().to_string(),
                        consumer: name.to_string(),
                        ..Default::default()
                    }),
                };
                lag.pending += info.num_pending;
                lag.ack_pending += info.num_ack_pending as u64;
                lag.redelivered += info.num_redelivered as u64;
                futures::future::ready(Ok(feeds))
            })
            .await
            .map_err(|error| unavailable(&error))?;
        Ok(feeds.into_values().collect())
    }

    /// Flushes buffered writes (acks) to the server, used at shutdown.
    pub async fn flush(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.client.flush()).await;
    }
}

// === impl PendingStore ===

impl PendingStore {
    /// The subject the copy was sent to.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Waits for JetStream to confirm it has stored the copy.
    pub async fn stored(self) -> Result<Stored, BusError> {
        let ack = self.ack.stored().await?;
        Ok(Stored { sequence: ack.sequence, duplicate: ack.duplicate, subject: self.subject })
    }
}
