//! Storing and reading the dissemination audit: one gateway's hash chain on `liaison.audit.<chain>` in the
//! append-only `LIAISON_AUDIT` stream (see [`crate::audit`] for the chain itself).
//!
//! One writer task per chain seals and sends entries, so they reach the stream in sequence order; records
//! that queue up while it works go into one entry (group commit). At start the chain continues from the
//! last entry stored on its subject, so a restart leaves no gap — unless the stream holds fewer entries
//! than the data directory or the chain registry knew of: then the chain refuses to open, or with an
//! operator's acceptance records the loss first ([`crate::audit::continuity`]).
//!
//! The stream has a byte limit and refuses entries at it (`bus::audit_capacity`): the records of a refused
//! entry are refused (their publishes fail UNAVAILABLE) and the chain goes on from its last stored entry.
//! `audit/read.rs` reads the stream; `audit/checkpoints.rs` signs the chain's head.

use std::sync::Arc;

use async_nats::jetstream::{self, consumer, stream::RawMessageErrorKind};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::sync::{mpsc, oneshot};

mod checkpoints;
mod read;

use checkpoints::Checkpoints;
pub use read::{AuditReader, StoredAudit};

use super::audit_capacity::{self, AuditCapacity};
use super::audit_chains::{CHAINS_BUCKET, ChainRegistry};
use super::subjects::{AUDIT_STREAM, audit_subject};
use super::{Bus, BusError};
use crate::audit::continuity::{self, KnownChain};
use crate::audit::{AuditEntry, ChainHead, EncodedRecords, SealedEntry};

/// Most records sealed into one entry.
const MAX_RECORDS_PER_ENTRY: usize = 512;
/// Submissions waiting for the writer; beyond this, appends wait (backpressure).
const QUEUE: usize = 4096;

/// One gateway's audit chain. Appends go to a single writer task, which seals whatever has queued up
/// (group commit: many concurrent publishes, one entry) and sends entries in chain order; their storage
/// acknowledgements are awaited concurrently, so the chain never waits on a round trip.
pub struct AuditLog {
    submissions: mpsc::Sender<Submission>,
    /// Cancelled when the writer has stored what was queued and kept the chain's length.
    finished: tokio_util::sync::CancellationToken,
    /// How full the stream is, for readiness and metrics.
    capacity: Arc<AuditCapacity>,
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

struct Submission {
    records: EncodedRecords,
    done: oneshot::Sender<Result<(), BusError>>,
}

/// An appended set of records whose storage is not yet confirmed.
pub struct PendingAudit(oneshot::Receiver<Result<(), BusError>>);

impl AuditLog {
    /// Queues `records` for the next entry of the chain; await the result before relying on them. They are
    /// encoded here, on the caller's thread, so the writer only joins and hashes.
    pub async fn append(&self, records: impl Into<EncodedRecords>) -> Result<PendingAudit, BusError> {
        let records = records.into();
        let (done, stored) = oneshot::channel();
        self.submissions
            .send(Submission { records, done })
            .await
            .map_err(|_| BusError::Unavailable("audit: the writer has stopped".into()))?;
        Ok(PendingAudit(stored))
    }

    /// How full the audit stream is.
    pub fn capacity(&self) -> &AuditCapacity {
        &self.capacity
    }

    /// Reads the stream's size and limit now (every few seconds, by the application).
    pub async fn observe_capacity(&self, bus: &Bus) -> Result<(), BusError> {
        let (bytes, max_bytes) = bus.audit_usage().await?;
        self.capacity.observe(bytes, max_bytes);
        Ok(())
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
/// each retried under its de-duplication id until stored, so a retry never stores an entry twice.
/// Verification orders a chain by sequence, so an entry stored after a later one still verifies. An entry
/// that cannot be stored at all has its records refused (their publishes fail) and shows as a missing entry
/// when the chain is verified, except when the stream refused it for lack of room: then the chain is taken
/// back to its last stored entry once nothing else is in flight, and goes on from there.
async fn write(
    jetstream: jetstream::Context,
    mut head: ChainHead,
    mut submissions: mpsc::Receiver<Submission>,
    signer: Option<CheckpointSigner>,
    mut keeper: Keeper,
    capacity: Arc<AuditCapacity>,
    finished: tokio_util::sync::CancellationToken,
) {
    let _finished = finished.drop_guard();
    let mut in_flight = FuturesUnordered::new();
    // Entries known stored without a gap, for checkpoints: completions arrive in any order.
    let mut checkpoints = Checkpoints::new(&head, signer);
    let mut ticker = tokio::time::interval(checkpoints.interval());
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The stream refused an entry for lack of room: nothing new is sealed until what is in flight is done,
    // then the chain goes on from its last stored entry, so a full audit leaves no gap in it.
    let mut full = false;
    loop {
        let next = tokio::select! {
            submission = submissions.recv(), if !full && in_flight.len() < IN_FLIGHT => submission,
            Some(outcome) = in_flight.next(), if !in_flight.is_empty() => {
                let Stored { stored, refused_full } = outcome;
                checkpoints.stored(stored);
                full |= refused_full;
                if full && in_flight.is_empty() {
                    checkpoints.rewind(&mut head);
                    full = false;
                }
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
            while let Some(outcome) = in_flight.next().await {
                checkpoints.stored(outcome.stored);
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
        let parts: Vec<EncodedRecords> =
            batch.iter_mut().map(|submission| std::mem::take(&mut submission.records)).collect();
        let entry = head.seal_encoded(&at, &parts);
        drop(parts);
        let (jetstream, capacity, chain) = (jetstream.clone(), capacity.clone(), head.chain.clone());
        in_flight.push(async move {
            let result = store(&jetstream, &chain, &entry, &capacity).await;
            if let Err(error) = &result {
                tracing::error!(chain = %chain, seq = entry.seq, %error, "audit entry not stored; its records are refused");
            }
            let outcome = Stored {
                stored: result.is_ok().then(|| (entry.seq, entry.hash.clone())),
                refused_full: matches!(result, Err(StoreError::Full(_))),
            };
            for submission in batch {
                let _ = submission.done.send(result.clone().map_err(StoreError::into_bus));
            }
            outcome
        });
    }
}

/// What became of one entry sent to the stream.
struct Stored {
    /// Its sequence and hash, if stored.
    stored: Option<(u64, String)>,
    /// The stream refused it for lack of room.
    refused_full: bool,
}

/// Why an entry was not stored.
#[derive(Debug, Clone, thiserror::Error)]
enum StoreError {
    #[error("{0}")]
    /// The stream has no room (its byte limit, or the server's storage): tried once, not again.
    Full(String),
    #[error("{0}")]
    Failed(String),
}

impl StoreError {
    fn into_bus(self) -> BusError {
        match self {
            StoreError::Full(error) => BusError::AuditFull(error),
            StoreError::Failed(error) => BusError::Unavailable(error),
        }
    }
}

/// Stores `entry`, retrying failures under one de-duplication id: the chain, sequence and the start of the
/// hash, so a retry of the entry is recognised, and an entry sealed again at the same sequence after a
/// refusal (see `write`) is not mistaken for it.
async fn store(
    jetstream: &jetstream::Context,
    chain: &str,
    entry: &SealedEntry,
    capacity: &AuditCapacity,
) -> Result<(), StoreError> {
    let payload = entry.json.clone();
    let id = format!("{chain}:{}:{}", entry.seq, entry.hash.get(..16).unwrap_or_default());
    let mut delay = std::time::Duration::from_millis(100);
    let mut last_error = String::new();
    for _ in 0..STORE_ATTEMPTS {
        let publish = jetstream::message::PublishMessage::build().message_id(id.as_str()).payload(payload.clone());
        match jetstream.send_publish(audit_subject(chain), publish).await {
            Ok(ack) => match ack.await {
                Ok(_) => {
                    capacity.stored();
                    return Ok(());
                }
                Err(error) if audit_capacity::is_full(&error) => {
                    capacity.refused(payload.len());
                    return Err(StoreError::Full(format!("audit not stored: {error}")));
                }
                Err(error) => last_error = format!("audit not stored: {error}"),
            },
            Err(error) => last_error = format!("audit not sent: {error}"),
        }
        tokio::time::sleep(delay).await;
        delay *= 2;
    }
    Err(StoreError::Failed(last_error))
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
        let capacity = Arc::new(AuditCapacity::default());
        tokio::spawn(write(self.jetstream.clone(), head, queued, signer, keeper, capacity.clone(), finished.clone()));
        let log = AuditLog { submissions, finished, capacity };
        if let (Some(loss), Some(by)) = (loss, keeping.accept_loss_by) {
            log.append(vec![loss.record(&by)]).await?.stored().await?;
        }
        Ok(log)
    }

    /// Whether the audit stream exists at all (it is gone if someone deleted it).
    pub async fn audit_stream_exists(&self) -> Result<bool, BusError> {
        self.stream_exists(AUDIT_STREAM).await
    }

    pub(super) async fn audit_stream(&self) -> Result<jetstream::stream::Stream, BusError> {
        self.jetstream.get_stream(AUDIT_STREAM).await.map_err(|error| BusError::Unavailable(format!("audit: {error}")))
    }
}
