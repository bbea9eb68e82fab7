//! Storing and reading the dissemination audit: one gateway's hash chain on `liaison.audit.<chain>` in the
//! append-only `LIAISON_AUDIT` stream (see [`crate::audit`] for the chain itself).
//!
//! One writer task per chain seals and sends entries, so they reach the stream in sequence order; records
//! that queue up while it works go into one entry (group commit). At start the chain continues from the
//! last entry stored on its subject, so a restart leaves no gap — unless the stream holds fewer entries
//! than the data directory or the chain registry knew of: then the chain refuses to open, or with an
//! operator's acceptance records the loss first ([`crate::audit::continuity`]).

use std::sync::Arc;

use async_nats::jetstream::{self, consumer, stream::RawMessageErrorKind};
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::sync::{mpsc, oneshot};

use super::audit_chains::{CHAINS_BUCKET, ChainRegistry};
use super::subjects::{AUDIT_STREAM, audit_subject, audit_wildcard};
use super::{Bus, BusError};
use crate::audit::continuity::{self, KnownChain};
use crate::audit::{AuditEntry, AuditRecord, ChainHead, Checkpoint};

/// Most records sealed into one entry.
const MAX_RECORDS_PER_ENTRY: usize = 512;
/// Longest wait for the next entry of a read the server said has more.
const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Submissions waiting for the writer; beyond this, appends wait (backpressure).
const QUEUE: usize = 4096;

/// One gateway's audit chain. Appends go to a single writer task, which seals whatever has queued up
/// (group commit: many concurrent publishes, one entry) and sends entries in chain order; their storage
/// acknowledgements are awaited concurrently, so the chain never waits on a round trip.
pub struct AuditLog {
    submissions: mpsc::Sender<Submission>,
    /// Cancelled when the writer has stored what was queued and kept the chain's length.
    finished: tokio_util::sync::CancellationToken,
}

/// How a chain is kept track of outside the stream, so that a vanished audit is noticed at start.
pub struct ChainKeeping {
    /// What the data directory says the chain had.
    pub known: Option<KnownChain>,
    /// Who accepts a loss (`--accept-audit-loss`): it is recorded and the chain continues, instead of the
    /// chain refusing to open.
    pub accept_loss_by: Option<String>,
    /// Keeps the chain's length in the data directory.
    pub persist: Arc<dyn Fn(&KnownChain) + Send + Sync>,
}

/// Writes a chain's length to the data directory and the registry.
struct Keeper {
    persist: Arc<dyn Fn(&KnownChain) + Send + Sync>,
    registry: Option<ChainRegistry>,
    /// The length last kept.
    kept: Option<u64>,
}

/// Signs a message, returning the signature in hex.
pub type Sign = Arc<dyn Fn(&[u8]) -> String + Send + Sync>;

/// How a chain's head is signed now and then.
#[derive(Clone)]
pub struct CheckpointSigner {
    pub kid: String,
    pub sign: Sign,
    pub interval: std::time::Duration,
}

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

struct Submission {
    records: Vec<AuditRecord>,
    done: oneshot::Sender<Result<(), BusError>>,
}

/// An appended set of records whose storage is not yet confirmed.
pub struct PendingAudit(oneshot::Receiver<Result<(), BusError>>);

impl AuditLog {
    /// Queues `records` for the next entry of the chain; await the result before relying on them.
    pub async fn append(&self, records: Vec<AuditRecord>) -> Result<PendingAudit, BusError> {
        let (done, stored) = oneshot::channel();
        self.submissions
            .send(Submission { records, done })
            .await
            .map_err(|_| BusError::Unavailable("audit: the writer has stopped".into()))?;
        Ok(PendingAudit(stored))
    }

    /// Completes when every handle is gone and the writer has finished: entries stored, the head signed
    /// and the chain's length kept.
    pub fn finished(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.finished.clone().cancelled_owned()
    }
}

impl Keeper {
    /// Keeps `stored` (seq and hash of the highest entry stored with no gap below) if it moved.
    async fn keep(&mut self, chain: &str, stored: &(u64, String)) {
        if self.kept == Some(stored.0) {
            return;
        }
        let at =
            time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
        let known = KnownChain::of(&ChainHead { chain: chain.to_string(), seq: stored.0, hash: stored.1.clone() }, at);
        (self.persist)(&known);
        match &self.registry {
            Some(registry) => match registry.register(&known).await {
                Ok(()) => self.kept = Some(stored.0),
                Err(error) => tracing::warn!(chain, seq = stored.0, %error, "audit chain length not registered"),
            },
            None => self.kept = Some(stored.0),
        }
    }
}

impl PendingAudit {
    /// Waits until the stream has stored the entry holding these records.
    pub async fn stored(self) -> Result<(), BusError> {
        self.0.await.unwrap_or_else(|_| Err(BusError::Unavailable("audit: the writer has stopped".into())))
    }
}

/// Tries at storing one entry before its records are refused.
const STORE_ATTEMPTS: u32 = 5;
/// Entries sent and not yet acknowledged.
const IN_FLIGHT: usize = 32;

/// Seals and sends entries until every `AuditLog` handle is dropped. Records that queue up while entries
/// are in flight go into the next one (group commit); up to `IN_FLIGHT` entries are stored concurrently,
/// each retried under its de-duplication id (`<chain>:<seq>`) until stored, so a retry never stores an entry
/// twice. Verification orders a chain by sequence, so an entry stored after a later one still verifies.
/// An entry that cannot be stored at all has its records refused (their publishes fail) and shows as a
/// missing entry when the chain is verified.
async fn write(
    jetstream: jetstream::Context,
    mut head: ChainHead,
    mut submissions: mpsc::Receiver<Submission>,
    signer: Option<CheckpointSigner>,
    mut keeper: Keeper,
    finished: tokio_util::sync::CancellationToken,
) {
    let _finished = finished.drop_guard();
    let mut in_flight = FuturesUnordered::new();
    // Entries known stored without a gap, for checkpoints: completions arrive in any order.
    let mut checkpoints = Checkpoints::new(&head, signer);
    let mut ticker = tokio::time::interval(checkpoints.interval());
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let next = tokio::select! {
            submission = submissions.recv(), if in_flight.len() < IN_FLIGHT => submission,
            Some(stored) = in_flight.next(), if !in_flight.is_empty() => {
                checkpoints.stored(stored);
                continue;
            }
            _ = ticker.tick() => {
                checkpoints.write(&jetstream).await;
                keeper.keep(&head.chain, &checkpoints.stored).await;
                continue;
            }
        };
        let Some(first) = next else {
            // Every handle is gone: finish what is in flight and sign where the chain ends.
            while let Some(stored) = in_flight.next().await {
                checkpoints.stored(stored);
            }
            checkpoints.write(&jetstream).await;
            keeper.keep(&head.chain, &checkpoints.stored).await;
            break;
        };
        let mut batch = vec![first];
        let mut count = batch[0].records.len();
        while count < MAX_RECORDS_PER_ENTRY
            && let Ok(more) = submissions.try_recv()
        {
            count += more.records.len();
            batch.push(more);
        }
        let at =
            time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
        let records = batch.iter_mut().flat_map(|submission| std::mem::take(&mut submission.records)).collect();
        let entry = head.seal(at, records);
        let jetstream = jetstream.clone();
        in_flight.push(async move {
            let result = store(&jetstream, &entry).await;
            if let Err(error) = &result {
                tracing::error!(chain = %entry.chain, seq = entry.seq, %error, "audit entry not stored; its records are refused");
            }
            let stored = result.is_ok().then(|| (entry.seq, entry.hash.clone()));
            for submission in batch {
                let _ = submission.done.send(result.clone().map_err(BusError::Unavailable));
            }
            stored
        });
    }
}

/// Signed checkpoints of one chain: the highest entry stored with no gap below it, signed every interval
/// when it has moved.
struct Checkpoints {
    signer: Option<CheckpointSigner>,
    chain: String,
    /// Stored contiguously up to here.
    stored: (u64, String),
    /// Stored above a gap, waiting for it to fill.
    ahead: std::collections::BTreeMap<u64, String>,
    signed: u64,
}

impl Checkpoints {
    fn new(head: &ChainHead, signer: Option<CheckpointSigner>) -> Checkpoints {
        let stored = (head.seq, head.hash.clone());
        Checkpoints { signer, chain: head.chain.clone(), stored, ahead: Default::default(), signed: head.seq }
    }

    fn interval(&self) -> std::time::Duration {
        self.signer.as_ref().map(|signer| signer.interval).unwrap_or(std::time::Duration::from_secs(3600))
    }

    fn stored(&mut self, stored: Option<(u64, String)>) {
        let Some((seq, hash)) = stored else { return };
        self.ahead.insert(seq, hash);
        while let Some(hash) = self.ahead.remove(&(self.stored.0 + 1)) {
            self.stored = (self.stored.0 + 1, hash);
        }
    }

    async fn write(&mut self, jetstream: &jetstream::Context) {
        let Some(signer) = &self.signer else { return };
        let (seq, hash) = self.stored.clone();
        if seq <= self.signed {
            return;
        }
        let at =
            time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
        let signature = (signer.sign)(Checkpoint::message(&self.chain, seq, &hash, &at).as_bytes());
        let checkpoint = Checkpoint { chain: self.chain.clone(), seq, hash, at, kid: signer.kid.clone(), signature };
        let Ok(payload) = serde_json::to_vec(&checkpoint) else { return };
        let subject = format!("{}.checkpoint", audit_subject(&self.chain));
        match jetstream.publish(subject, payload.into()).await {
            Ok(ack) => match ack.await {
                Ok(_) => self.signed = seq,
                Err(error) => tracing::warn!(chain = %self.chain, seq, %error, "audit checkpoint not stored"),
            },
            Err(error) => tracing::warn!(chain = %self.chain, seq, %error, "audit checkpoint not sent"),
        }
    }
}

async fn store(jetstream: &jetstream::Context, entry: &AuditEntry) -> Result<(), String> {
    let payload = Bytes::from(serde_json::to_vec(entry).map_err(|error| error.to_string())?);
    let id = format!("{}:{}", entry.chain, entry.seq);
    let mut delay = std::time::Duration::from_millis(100);
    let mut last_error = String::new();
    for _ in 0..STORE_ATTEMPTS {
        let publish = jetstream::message::PublishMessage::build().message_id(id.as_str()).payload(payload.clone());
        match jetstream.send_publish(audit_subject(&entry.chain), publish).await {
            Ok(ack) => match ack.await {
                Ok(_) => return Ok(()),
                Err(error) => last_error = format!("audit not stored: {error}"),
            },
            Err(error) => last_error = format!("audit not sent: {error}"),
        }
        tokio::time::sleep(delay).await;
        delay *= 2;
    }
    Err(last_error)
}

/// How far back from the last stored entry the head is looked for: entries are stored several at a time and
/// one may be retried, so the last stored is not always the highest; out-of-order ones land within seconds.
const HEAD_LOOKBACK: std::time::Duration = std::time::Duration::from_secs(60);

/// The end of `chain` as stored: the highest entry among those stored in the minute before the last one.
async fn chain_head(jetstream: &jetstream::Context, chain: &str) -> Result<ChainHead, BusError> {
    let unavailable = |error: &dyn std::fmt::Display| BusError::Unavailable(format!("audit: {error}"));
    let unreadable = |error: serde_json::Error| {
        BusError::Setup(format!("an entry of audit chain {chain} is unreadable: {error}; run liaison audit verify"))
    };
    let stream = jetstream.get_stream(AUDIT_STREAM).await.map_err(|error| unavailable(&error))?;
    let subject = audit_subject(chain);
    let last = match stream.get_last_raw_message_by_subject(&subject).await {
        Ok(message) => message,
        Err(error) if error.kind() == RawMessageErrorKind::NoMessageFound => return Ok(ChainHead::new(chain)),
        Err(error) => return Err(unavailable(&error)),
    };
    let mut highest: AuditEntry = serde_json::from_slice(&last.payload).map_err(unreadable)?;
    let reader = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: subject,
            deliver_policy: consumer::DeliverPolicy::ByStartTime { start_time: last.time - HEAD_LOOKBACK },
            ..Default::default()
        })
        .await
        .map_err(|error| unavailable(&error))?;
    let mut messages = reader.messages().await.map_err(|error| unavailable(&error))?;
    while let Some(message) = messages.next().await {
        let message = message.map_err(|error| unavailable(&error))?;
        let entry: AuditEntry = serde_json::from_slice(&message.payload).map_err(unreadable)?;
        if entry.seq > highest.seq {
            highest = entry;
        }
        if message.info().map(|info| info.stream_sequence).unwrap_or(u64::MAX) >= last.sequence {
            break;
        }
    }
    Ok(ChainHead { chain: chain.to_string(), seq: highest.seq, hash: highest.hash })
}

impl Bus {
    /// Opens `chain` for appending, continuing after its last stored entry; refuses (fails closed) when the
    /// stream holds fewer entries than `keeping` or the registry knew of, unless the loss is accepted, in
    /// which case the loss is stored as the chain's next entry before anything else.
    pub async fn audit_log(
        &self,
        chain: &str,
        signer: Option<CheckpointSigner>,
        keeping: ChainKeeping,
    ) -> Result<AuditLog, BusError> {
        let stored = chain_head(&self.jetstream, chain).await?;
        let registry = self.chain_registry().await?;
        let registered = match &registry {
            Some(registry) => registry.get(chain).await?,
            None => None,
        };
        let registry_source = format!("registry {CHAINS_BUCKET}");
        let known = [("data dir", keeping.known), (registry_source.as_str(), registered)];
        let loss = continuity::check(&stored, &known);
        let head = match (&loss, &keeping.accept_loss_by) {
            (None, _) => stored,
            (Some(loss), None) => return Err(BusError::Setup(loss.refusal())),
            (Some(loss), Some(by)) => {
                tracing::warn!(chain, by = %by, "{}; recording the loss (--accept-audit-loss)", loss.explanation());
                loss.continue_from()
            }
        };
        tracing::info!(chain, seq = head.seq, "audit chain open");
        let mut keeper = Keeper { persist: keeping.persist, registry, kept: None };
        keeper.keep(chain, &(head.seq, head.hash.clone())).await;
        let (submissions, queued) = mpsc::channel(QUEUE);
        let finished = tokio_util::sync::CancellationToken::new();
        tokio::spawn(write(self.jetstream.clone(), head, queued, signer, keeper, finished.clone()));
        let log = AuditLog { submissions, finished };
        if let (Some(loss), Some(by)) = (loss, keeping.accept_loss_by) {
            log.append(vec![loss.record(&by)]).await?.stored().await?;
        }
        Ok(log)
    }

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

    /// Whether the audit stream exists at all (it is gone if someone deleted it).
    pub async fn audit_stream_exists(&self) -> Result<bool, BusError> {
        self.stream_exists(AUDIT_STREAM).await
    }

    async fn audit_stream(&self) -> Result<jetstream::stream::Stream, BusError> {
        self.jetstream.get_stream(AUDIT_STREAM).await.map_err(|error| BusError::Unavailable(format!("audit: {error}")))
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
