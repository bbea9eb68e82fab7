//! The bus: the only module that knows NATS — connections, subjects, the JetStream stream and consumers.
//!
//! Payloads are opaque bytes here. The bus stores a copy only for an [`Approval`] made by the router, so no
//! code path writes to NATS without a routing decision.

mod connect;
mod feed;
mod subjects;

use std::time::Duration;

use async_nats::jetstream::{self, context::PublishAckFuture};
use bytes::Bytes;

use crate::router::Approval;

pub use connect::{BusConfig, NatsAuth, StreamSettings};
pub use feed::{AckHandle, Feed, FeedMessage, FeedSpec, Settle, Start};
pub use subjects::{FEED_STREAM, MAX_FILTER_SUBJECTS, SUBJECT_ROOT, delivery_subject, feed_filter_subjects};

/// A connection to NATS with the Liaison stream in place. Cheap to clone.
#[derive(Clone)]
pub struct Bus {
    client: async_nats::Client,
    jetstream: jetstream::Context,
    /// The server's largest accepted payload, checked before publishing.
    max_payload: usize,
}

/// A copy sent to JetStream whose storage acknowledgement has not been awaited yet.
pub struct PendingStore {
    ack: PublishAckFuture,
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
    #[error("subscription failed: {0}")]
    Subscription(String),
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
        dedup_id: String,
    ) -> Result<PendingStore, BusError> {
        if payload.len() > self.max_payload {
            return Err(BusError::TooLarge { size: payload.len(), limit: self.max_payload });
        }
        let subject = delivery_subject(approval);
        let message = jetstream::message::PublishMessage::build().payload(payload).message_id(dedup_id);
        let ack = self
            .jetstream
            .send_publish(subject.clone(), message)
            .await
            .map_err(|error| BusError::Unavailable(error.to_string()))?;
        Ok(PendingStore { ack, subject })
    }

    /// Opens a pull consumer over one recipient's feed.
    pub async fn open_feed(&self, spec: &FeedSpec) -> Result<Feed, BusError> {
        Feed::open(self.client.clone(), self.jetstream.clone(), spec).await
    }

    /// The underlying client, for the embedded-server readiness check and tests of the bus itself.
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// Flushes buffered writes (acks) to the server, used at shutdown.
    pub async fn flush(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.client.flush()).await;
    }
}

// === impl PendingStore ===

impl PendingStore {
    /// Waits for JetStream to confirm it has stored the copy.
    pub async fn stored(self) -> Result<Stored, BusError> {
        use async_nats::jetstream::context::PublishErrorKind;
        match self.ack.await {
            Ok(ack) => Ok(Stored { sequence: ack.sequence, duplicate: ack.duplicate, subject: self.subject }),
            Err(error) if error.kind() == PublishErrorKind::TimedOut => Err(BusError::Timeout),
            Err(error) => Err(BusError::Unavailable(error.to_string())),
        }
    }
}
