//! Reading the audit stream: entries (and, for verification, checkpoints) in stream order, one at a time,
//! from a time or a stream sequence on, to what was newest when the read began.

use async_nats::jetstream::consumer;
use futures::StreamExt;

use super::super::subjects::{audit_subject, audit_wildcard};
use super::super::{Bus, BusError};
use crate::audit::{AuditEntry, Checkpoint};

/// Longest wait for the next entry of a read the server said has more.
const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A read of the audit stream in stream order, from a time on, that ends at the message stored last when
/// the read began (or at the first stored after `until`). Messages come one at a time, so a read of the
/// whole audit holds only what its caller keeps.
pub struct AuditReader {
    messages: Option<consumer::pull::Ordered>,
    /// The stream sequence of the newest message when the read began.
    last: u64,
    until: Option<time::OffsetDateTime>,
}

/// One stored message of the audit stream. `None` where it does not parse.
pub enum StoredAudit {
    Entry { stream_sequence: u64, chain: String, entry: Option<AuditEntry> },
    Checkpoint { stream_sequence: u64, chain: String, checkpoint: Option<Checkpoint> },
}

impl Bus {
    /// Reads the audit entries stored (by the NATS servers' clock) from `since`, or from the first, up to
    /// `until`, or up to the newest when the read begins; [`AuditReader::next`] gives the entries.
    pub async fn read_audit(
        &self,
        since: Option<time::OffsetDateTime>,
        until: Option<time::OffsetDateTime>,
    ) -> Result<AuditReader, BusError> {
        let deliver_policy = match since {
            Some(since) => {
                consumer::DeliverPolicy::ByStartTime { start_time: since.max(time::OffsetDateTime::UNIX_EPOCH) }
            }
            None => consumer::DeliverPolicy::All,
        };
        // Entries only: checkpoints live one token deeper.
        self.open_audit_read(audit_subject("*"), deliver_policy, until).await
    }

    /// Reads the audit entries stored after stream sequence `after`, up to `until` or the newest when the
    /// read begins: how a query cut short by its scan budget goes on exactly where it stopped.
    pub async fn read_audit_after(
        &self,
        after: u64,
        until: Option<time::OffsetDateTime>,
    ) -> Result<AuditReader, BusError> {
        let Some(start_sequence) = after.checked_add(1) else {
            return Ok(AuditReader { messages: None, last: 0, until });
        };
        let deliver_policy = consumer::DeliverPolicy::ByStartSequence { start_sequence };
        self.open_audit_read(audit_subject("*"), deliver_policy, until).await
    }

    /// Reads every entry and checkpoint of the audit, for verification ([`AuditReader::next_stored`]).
    pub async fn read_whole_audit(&self) -> Result<AuditReader, BusError> {
        self.open_audit_read(audit_wildcard(), consumer::DeliverPolicy::All, None).await
    }

    async fn open_audit_read(
        &self,
        filter_subject: String,
        deliver_policy: consumer::DeliverPolicy,
        until: Option<time::OffsetDateTime>,
    ) -> Result<AuditReader, BusError> {
        let unavailable = |error: &dyn std::fmt::Display| BusError::Unavailable(format!("audit: {error}"));
        let stream = self.audit_stream().await?;
        // Fetched with the stream just now: the read ends at what was newest when it began.
        let last = stream.cached_info().state.last_sequence;
        let reader = stream
            .create_consumer(consumer::pull::OrderedConfig { filter_subject, deliver_policy, ..Default::default() })
            .await
            .map_err(|error| unavailable(&error))?;
        let messages = match reader.cached_info().num_pending {
            0 => None,
            _ => Some(reader.messages().await.map_err(|error| unavailable(&error))?),
        };
        Ok(AuditReader { messages, last, until })
    }
}

impl AuditReader {
    /// The next entry, or `None` at the end of the read. What does not parse is skipped here; `liaison audit
    /// verify` reports it.
    pub async fn next(&mut self) -> Option<Result<AuditEntry, BusError>> {
        Some(self.next_in_stream().await?.map(|(_, entry)| entry))
    }

    /// The next entry with its stream sequence, or `None` at the end of the read.
    pub async fn next_in_stream(&mut self) -> Option<Result<(u64, AuditEntry), BusError>> {
        loop {
            match self.next_stored().await? {
                Ok(StoredAudit::Entry { stream_sequence, entry: Some(entry), .. }) => {
                    return Some(Ok((stream_sequence, entry)));
                }
                Ok(_) => continue,
                Err(error) => return Some(Err(error)),
            }
        }
    }

    /// The next stored message, entry or checkpoint, or `None` at the end of the read.
    pub async fn next_stored(&mut self) -> Option<Result<StoredAudit, BusError>> {
        let messages = self.messages.as_mut()?;
        let message = match tokio::time::timeout(READ_TIMEOUT, messages.next()).await {
            Ok(Some(Ok(message))) => message,
            Ok(Some(Err(error))) => return self.fail(BusError::Unavailable(format!("audit: {error}"))),
            Ok(None) => return self.fail(BusError::Unavailable("audit: the read ended early".into())),
            Err(_) => return self.fail(BusError::Timeout),
        };
        let info = match message.info() {
            Ok(info) => info,
            Err(error) => return self.fail(BusError::Unavailable(format!("audit: {error}"))),
        };
        if self.until.is_some_and(|until| info.published > until) {
            self.messages = None;
            return None;
        }
        let stream_sequence = info.stream_sequence;
        if stream_sequence >= self.last || info.pending == 0 {
            self.messages = None;
        }
        // liaison.audit.<chain> or liaison.audit.<chain>.checkpoint
        let mut tokens = message.subject.as_str().split('.').skip(2);
        let chain = tokens.next().unwrap_or_default().to_string();
        Some(Ok(match tokens.next() {
            Some("checkpoint") => StoredAudit::Checkpoint {
                stream_sequence,
                chain,
                checkpoint: serde_json::from_slice(&message.payload).ok(),
            },
            _ => StoredAudit::Entry { stream_sequence, chain, entry: serde_json::from_slice(&message.payload).ok() },
        }))
    }

    fn fail<T>(&mut self, error: BusError) -> Option<Result<T, BusError>> {
        self.messages = None;
        Some(Err(error))
    }
}
