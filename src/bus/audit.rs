//! Storing and reading the dissemination audit: one gateway's hash chain on `liaison.audit.<chain>` in the
//! append-only `LIAISON_AUDIT` stream (see [`crate::audit`] for the chain itself).
//!
//! Appends are sealed and sent under one lock, so a chain's entries reach the stream in sequence order;
//! their storage acknowledgements are awaited outside it, so concurrent publishes pipeline. At start the
//! chain continues from the last entry stored on its subject, so a restart leaves no gap.

use async_nats::jetstream::{self, consumer, stream::RawMessageErrorKind};
use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::Mutex;

use super::subjects::{AUDIT_STREAM, audit_subject, audit_wildcard};
use super::{Bus, BusError};
use crate::audit::{AuditEntry, AuditRecord, ChainHead};

/// One gateway's audit chain.
pub struct AuditLog {
    jetstream: jetstream::Context,
    head: Mutex<ChainHead>,
}

/// An appended entry whose storage is not yet confirmed.
pub struct PendingAudit(jetstream::context::PublishAckFuture);

impl AuditLog {
    /// The chain's name.
    pub async fn chain(&self) -> String {
        self.head.lock().await.chain.clone()
    }

    /// Seals `records` as the next entry of the chain and sends it; await the result before relying on it.
    pub async fn append(&self, records: Vec<AuditRecord>) -> Result<PendingAudit, BusError> {
        let at =
            time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
        let mut head = self.head.lock().await;
        let mut next = head.clone();
        let entry = next.seal(at, records);
        let payload = Bytes::from(serde_json::to_vec(&entry).map_err(|error| BusError::Setup(error.to_string()))?);
        // Sent before the head advances: a failed send leaves the chain where it was.
        let ack = self
            .jetstream
            .publish(audit_subject(&entry.chain), payload)
            .await
            .map_err(|error| BusError::Unavailable(format!("audit: {error}")))?;
        *head = next;
        Ok(PendingAudit(ack))
    }
}

impl PendingAudit {
    /// Waits until the stream has stored the entry.
    pub async fn stored(self) -> Result<(), BusError> {
        self.0.await.map(|_| ()).map_err(|error| BusError::Unavailable(format!("audit not stored: {error}")))
    }
}

impl Bus {
    /// Opens `chain` for appending, continuing after its last stored entry.
    pub async fn audit_log(&self, chain: &str) -> Result<AuditLog, BusError> {
        let head = match self.last_audit_entry(chain).await? {
            Some(entry) => ChainHead { chain: chain.to_string(), seq: entry.seq, hash: entry.hash },
            None => ChainHead::new(chain),
        };
        tracing::info!(chain, seq = head.seq, "audit chain open");
        Ok(AuditLog { jetstream: self.jetstream.clone(), head: Mutex::new(head) })
    }

    async fn last_audit_entry(&self, chain: &str) -> Result<Option<AuditEntry>, BusError> {
        let stream = self.audit_stream().await?;
        match stream.get_last_raw_message_by_subject(&audit_subject(chain)).await {
            Ok(message) => serde_json::from_slice(&message.payload).map(Some).map_err(|error| {
                BusError::Setup(format!("the last entry of audit chain {chain} is unreadable: {error}"))
            }),
            Err(error) if error.kind() == RawMessageErrorKind::NoMessageFound => Ok(None),
            Err(error) => Err(BusError::Unavailable(format!("audit: {error}"))),
        }
    }

    async fn audit_stream(&self) -> Result<jetstream::stream::Stream, BusError> {
        self.jetstream.get_stream(AUDIT_STREAM).await.map_err(|error| BusError::Unavailable(format!("audit: {error}")))
    }

    /// Every audit entry in stream order, with its stream sequence; `None` where a stored message is not an
    /// entry at all (which verification reports as a break).
    pub async fn audit_entries(&self) -> Result<Vec<(u64, String, Option<AuditEntry>)>, BusError> {
        let mut stream = self.audit_stream().await?;
        let info = stream.info().await.map_err(|error| BusError::Unavailable(error.to_string()))?;
        if info.state.messages == 0 {
            return Ok(Vec::new());
        }
        let last = info.state.last_sequence;
        let reader = stream
            .create_consumer(consumer::pull::OrderedConfig {
                filter_subject: audit_wildcard(),
                deliver_policy: consumer::DeliverPolicy::All,
                ..Default::default()
            })
            .await
            .map_err(|error| BusError::Subscription(error.to_string()))?;
        let mut messages = reader.messages().await.map_err(|error| BusError::Subscription(error.to_string()))?;
        let mut entries = Vec::new();
        while let Some(message) = messages.next().await {
            let message = message.map_err(|error| BusError::Subscription(error.to_string()))?;
            let sequence = message.info().map(|info| info.stream_sequence).unwrap_or_default();
            let chain = message.subject.as_str().rsplit('.').next().unwrap_or_default().to_string();
            entries.push((sequence, chain, serde_json::from_slice(&message.payload).ok()));
            if sequence >= last {
                break;
            }
        }
        Ok(entries)
    }
}
