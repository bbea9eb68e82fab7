//! Dead letters: copies whose delivery attempts ran out, moved to `liaison.dead.<recipient>...` in a
//! stream of their own. Listing reads headers only (a headers-only consumer), so operators see metadata and
//! the gateway never even fetches the content for them. Redriving puts a copy back on its feed for the
//! subscription that gave up on it.

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer::pull};
use bytes::Bytes;
use futures::StreamExt;
use time::OffsetDateTime;

use super::feed::{AckHandle, Feed, FeedMessage, Settle};
use super::subjects::{
    DEAD_LETTER_STREAM, FEED_STREAM, SUBJECT_ROOT, dead_letter_subject, delivery_subject, feed_subject_of_dead_letter,
};
use super::{Bus, BusError, CopyOptions, headers};
use crate::model::PartyId;
use crate::router::Approval;

/// Why and after how many attempts a delivery is dead-lettered.
#[derive(Debug, Clone)]
pub struct DeadLetterInfo {
    pub message_id: String,
    pub attempts: u64,
    pub reason: String,
}

/// The metadata of one dead letter (from its subject and headers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterRecord {
    pub sequence: u64,
    pub subject: String,
    pub recipient: String,
    pub origin: String,
    /// The kind's subject token.
    pub kind: String,
    pub topic: String,
    pub message_id: String,
    pub feed_sequence: u64,
    pub subscription: String,
    pub attempts: u64,
    pub reason: String,
    pub dead_lettered_at: OffsetDateTime,
    pub size_bytes: u64,
}

/// One dead letter with its payload, read for a redrive.
#[derive(Debug, Clone)]
pub struct StoredDeadLetter {
    pub sequence: u64,
    pub recipient: String,
    pub feed_subject: String,
    pub subscription: String,
    pub payload: Bytes,
}

// === impl Feed ===

impl Feed {
    /// Moves one delivery to its dead-letter subject, then terminates it on this feed. Idempotent: the
    /// dead letter's de-duplication id is the consumer and feed sequence, so a retry after a crash stores
    /// nothing twice.
    pub async fn dead_letter(&self, message: &FeedMessage, info: &DeadLetterInfo) -> Result<(), BusError> {
        let mut headers = HeaderMap::new();
        headers
            .insert(async_nats::header::NATS_MESSAGE_ID, format!("dead:{}:{}", self.name(), message.stream_sequence));
        headers.insert(headers::MESSAGE_ID, info.message_id.as_str());
        headers.insert(headers::FEED_SEQUENCE, message.stream_sequence.to_string());
        headers.insert(headers::SUBSCRIPTION, self.name());
        headers.insert(headers::ATTEMPTS, info.attempts.to_string());
        headers.insert(headers::REASON, info.reason.as_str());
        let subject = dead_letter_subject(message.subject.as_str());
        let ack = self
            .jetstream()
            .publish_with_headers(subject, headers, message.payload.clone())
            .await
            .map_err(|error| BusError::Unavailable(error.to_string()))?;
        ack.await.map_err(|error| BusError::Unavailable(error.to_string()))?;
        self.settle(&message.ack, Settle::Reject).await
    }

    /// Settles a delivery meant for another subscription (a redriven copy) so it never shows up here.
    pub async fn skip(&self, handle: &AckHandle) -> Result<(), BusError> {
        self.settle(handle, Settle::Ack).await
    }
}

// === impl Bus ===

impl Bus {
    /// Dead letters, oldest first: all of them or one recipient's, at most `limit`; the flag says whether
    /// more matched.
    pub async fn dead_letters(
        &self,
        recipient: Option<&PartyId>,
        limit: usize,
    ) -> Result<(Vec<DeadLetterRecord>, bool), BusError> {
        let filter_subject = match recipient {
            Some(party) => format!("{SUBJECT_ROOT}.dead.{party}.>"),
            None => format!("{SUBJECT_ROOT}.dead.>"),
        };
        let config = pull::Config {
            filter_subject,
            headers_only: true,
            ack_policy: jetstream::consumer::AckPolicy::None,
            inactive_threshold: Duration::from_secs(30),
            memory_storage: true,
            ..Default::default()
        };
        let mut consumer = self
            .jetstream
            .create_consumer_on_stream(config, DEAD_LETTER_STREAM)
            .await
            .map_err(|error| BusError::Unavailable(error.to_string()))?;
        let pending = consumer.info().await.map_err(|error| BusError::Unavailable(error.to_string()))?.num_pending;
        let wanted = usize::try_from(pending).unwrap_or(usize::MAX).min(limit);
        let mut records = Vec::with_capacity(wanted);
        if wanted > 0 {
            let mut messages = consumer
                .stream()
                .max_messages_per_batch(wanted.min(1000))
                .messages()
                .await
                .map_err(|error| BusError::Unavailable(error.to_string()))?;
            while records.len() < wanted {
                let next = tokio::time::timeout(Duration::from_secs(10), messages.next()).await;
                match next {
                    Ok(Some(Ok(message))) => records.extend(record(&message)),
                    Ok(Some(Err(error))) => return Err(BusError::Unavailable(error.to_string())),
                    Ok(None) | Err(_) => return Err(BusError::Timeout),
                }
            }
        }
        let name = consumer.cached_info().name.clone();
        let _ = self.jetstream.delete_consumer_from_stream(&name, DEAD_LETTER_STREAM).await;
        Ok((records, pending > limit as u64))
    }

    /// Erases one dead letter (a purge); `false` when it is already gone.
    pub async fn erase_dead_letter(&self, sequence: u64) -> Result<bool, BusError> {
        let stream = self
            .jetstream
            .get_stream_no_info(DEAD_LETTER_STREAM)
            .await
            .map_err(|error| BusError::Unavailable(error.to_string()))?;
        match stream.delete_message(sequence).await {
            Ok(removed) => Ok(removed),
            Err(error) if super::messages::no_such_message(&error.kind()) => Ok(false),
            Err(error) => Err(BusError::Unavailable(error.to_string())),
        }
    }

    /// One dead letter with its payload.
    pub async fn dead_letter(&self, sequence: u64) -> Result<Option<StoredDeadLetter>, BusError> {
        let stream = self
            .jetstream
            .get_stream_no_info(DEAD_LETTER_STREAM)
            .await
            .map_err(|error| BusError::Unavailable(error.to_string()))?;
        let stored = match stream.get_raw_message(sequence).await {
            Ok(stored) => stored,
            Err(error) if error.kind() == jetstream::stream::RawMessageErrorKind::NoMessageFound => return Ok(None),
            Err(error) => return Err(BusError::Unavailable(error.to_string())),
        };
        let Some(feed_subject) = feed_subject_of_dead_letter(stored.subject.as_str()) else {
            return Ok(None);
        };
        let recipient = feed_subject.split('.').nth(2).unwrap_or_default().to_string();
        let subscription = header(&stored.headers, headers::SUBSCRIPTION).unwrap_or_default();
        Ok(Some(StoredDeadLetter { sequence, recipient, feed_subject, subscription, payload: stored.payload }))
    }

    /// Puts a dead letter back on its feed, approved again by the router, for the subscription that gave up
    /// on it (or for every subscription of the party when that one no longer exists); then removes it from
    /// the dead-letter stream.
    pub async fn redrive(&self, approval: &Approval, dead: &StoredDeadLetter) -> Result<(), BusError> {
        let subject = delivery_subject(approval);
        if subject != dead.feed_subject {
            return Err(BusError::Subscription(format!(
                "dead letter {} came from {}, not {subject}",
                dead.sequence, dead.feed_subject
            )));
        }
        let still_there = !dead.subscription.is_empty()
            && self
                .jetstream
                .get_consumer_from_stream::<pull::Config, _, _>(&dead.subscription, FEED_STREAM)
                .await
                .is_ok();
        let options = CopyOptions { dedup_id: Some(format!("redrive:{}", dead.sequence)), expires_in: None };
        let target = still_there.then_some(dead.subscription.as_str());
        self.store(subject, dead.payload.clone(), options, target).await?.stored().await?;
        let stream = self
            .jetstream
            .get_stream_no_info(DEAD_LETTER_STREAM)
            .await
            .map_err(|error| BusError::Unavailable(error.to_string()))?;
        stream.delete_message(dead.sequence).await.map_err(|error| BusError::Unavailable(error.to_string()))?;
        Ok(())
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).map(|value| value.as_str().to_string())
}

/// The record of one headers-only dead letter; `None` for anything that is not a Liaison dead letter.
fn record(message: &jetstream::Message) -> Option<DeadLetterRecord> {
    let info = message.info().ok()?;
    let headers = message.message.headers.as_ref()?;
    let subject = message.message.subject.to_string();
    let mut tokens = subject.split('.').skip(2);
    let (recipient, origin, kind, topic) = (tokens.next()?, tokens.next()?, tokens.next()?, tokens.next()?);
    let number = |name: &str| header(headers, name).and_then(|value| value.parse::<u64>().ok()).unwrap_or(0);
    Some(DeadLetterRecord {
        sequence: info.stream_sequence,
        recipient: recipient.to_string(),
        origin: origin.to_string(),
        kind: kind.to_string(),
        topic: topic.to_string(),
        message_id: header(headers, headers::MESSAGE_ID).unwrap_or_default(),
        feed_sequence: number(headers::FEED_SEQUENCE),
        subscription: header(headers, headers::SUBSCRIPTION).unwrap_or_default(),
        attempts: number(headers::ATTEMPTS),
        reason: header(headers, headers::REASON).unwrap_or_default(),
        dead_lettered_at: info.published,
        size_bytes: number("Nats-Msg-Size"),
        subject,
    })
}
