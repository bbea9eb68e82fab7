//! Dissemination audit (28 CFR 23.20(g)): what was decided and delivered, by whom, why and when, in
//! tamper-evident hash chains. Pure data and hashing; `bus::audit` stores and reads the entries.
//!
//! Each gateway writes its own chain (named in its data directory), so gateways never serialise on one
//! another. An entry holds the records of one publish (one per routing decision, except that the named
//! recipients not in the directory share one) or of one delivery batch (one per delivery), its sequence in
//! the chain, the hash of the previous entry, and its own hash:
//! SHA-256 over the previous hash and the entry's JSON with `hash` empty. Changing, removing or inserting
//! an entry breaks the chain at that entry, which [`verify`] names.
//!
//! Records of concurrent publishes share an entry (group commit), and a gateway stores a few entries at
//! once, so verification takes a chain in sequence order, not stream order.

pub mod continuity;
mod encoded;
mod records;
mod verifier;

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use encoded::EncodedRecords;
pub use records::MessageRef;
pub use verifier::{Verifier, VerifySignature, WINDOW};

/// The hash before a chain's first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened to a message for one recipient or subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// The router approved the recipient. Stored before the copy is sent, so no copy exists without it; if
    /// the copy then fails to be stored the record stays and the publish's receipt says so.
    Approved,
    /// The router denied the recipient.
    Denied,
    /// A subscriber of the recipient party received the message.
    Delivered,
    /// A subscriber's own clearance or nationality kept it from them.
    Withheld,
    /// A reviewer found the message still meets the submission criteria (28 CFR 23.20(h)).
    Revalidated,
    /// Every stored copy was removed; the recipient was sent a purge notice.
    Purged,
    /// A correction superseded the message.
    Superseded,
    /// An admin put a dead letter back on its feed, approved again by the router.
    Redriven,
    /// Entries of this gateway's chain were missing from the stream at start and an operator accepted the
    /// loss (`--accept-audit-loss`); the record names the missing range.
    AuditLoss,
    /// The originator approved a later dissemination of ORCON material to the recipient.
    OrconApproved,
    /// The router held the recipient's copy for foreign-disclosure review.
    Held,
    /// A disclosure officer released a held copy.
    DisclosureApproved,
    /// A disclosure officer refused a held copy.
    DisclosureDenied,
    /// A held copy's hold ended undecided.
    DisclosureExpired,
    /// An RFI was opened by its publish (recipient: its action party).
    RfiOpened,
    /// The action party acknowledged an RFI.
    RfiAcknowledged,
    /// The action party started work on an RFI.
    RfiInWork,
    /// The action party answered an RFI (decided_by names the response).
    RfiAnswered,
    /// The requester closed an RFI.
    RfiClosed,
    /// The action party rejected an RFI.
    RfiRejected,
    /// A liaison officer transferred an RFI to a new action party (the recipient).
    RfiTransferred,
    /// An RFI's due time passed before it was answered.
    RfiExpired,
    /// The requester reopened an RFI.
    RfiReopened,
}

/// One audited fact. Borrowed where it is made (every field a `Cow`, so the gateway's hot paths
/// serialise it without a copy of what it is about: see [`EncodedRecords`]) and owned where it is read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord<'a> {
    pub event: Event,
    pub message_id: Cow<'a, str>,
    pub origin: Cow<'a, str>,
    pub recipient: Cow<'a, str>,
    /// The person or system that received it (deliveries only).
    #[serde(default, skip_serializing_if = "is_empty")]
    pub subscriber: Cow<'a, str>,
    /// The rule or marking that decided (a denial's reason code and rule; a delivery's check).
    pub decided_by: Cow<'a, str>,
    /// The need-to-know basis of the rule that released it (approvals).
    #[serde(default, skip_serializing_if = "is_empty")]
    pub basis: Cow<'a, str>,
    pub policy_version: Cow<'a, str>,
    /// Why, as the reviewer or operator gave it (revalidations and purges).
    #[serde(default, skip_serializing_if = "is_empty")]
    pub reason: Cow<'a, str>,
    /// The feed subject an approved copy was stored on: where a purge finds it.
    #[serde(default, skip_serializing_if = "is_empty")]
    pub subject: Cow<'a, str>,
    /// The message's markings as the canonical banner line (the router's decisions: approvals, denials).
    #[serde(default, skip_serializing_if = "is_empty")]
    pub markings: Cow<'a, str>,
    /// The message is criminal intelligence (28 CFR Part 23); on approvals.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub criminal_intelligence: bool,
    /// The chain entries found missing, first to last (audit-loss records only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost: Option<(u64, u64)>,
    /// The named recipients of one publish that are not in the directory: one `denied` record for all of
    /// them (its `recipient` empty), at most `--max-unknown-recipients`, so made-up names cannot fill the
    /// audit one record each.
    #[serde(default, skip_serializing_if = "is_none")]
    pub unknown_recipients: Cow<'a, [String]>,
    /// The message's kind and topic (denials and holds; an approval's subject has them).
    #[serde(default, skip_serializing_if = "is_empty")]
    pub kind: Cow<'a, str>,
    #[serde(default, skip_serializing_if = "is_empty")]
    pub topic: Cow<'a, str>,
    /// The message's precedence when not routine, and its TLP when it has one (the router's decisions).
    #[serde(default, skip_serializing_if = "is_empty")]
    pub precedence: Cow<'a, str>,
    #[serde(default, skip_serializing_if = "is_empty")]
    pub tlp: Cow<'a, str>,
    /// The message named no recipients: the policy chose them (the router's decisions).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub by_policy: bool,
}

fn is_empty(value: &impl AsRef<str>) -> bool {
    value.as_ref().is_empty()
}

fn is_none(value: &impl AsRef<[String]>) -> bool {
    value.as_ref().is_empty()
}

/// One link of a chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub chain: String,
    /// 1 for the chain's first entry.
    pub seq: u64,
    pub prev_hash: String,
    /// RFC 3339.
    pub at: String,
    pub records: Vec<AuditRecord<'static>>,
    pub hash: String,
}

/// The end of a chain: where the next entry links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    pub chain: String,
    pub seq: u64,
    pub hash: String,
}

/// Where and why a chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("chain {chain}: entry {seq} (stream sequence {stream_sequence}) {why}")]
pub struct Broken {
    pub chain: String,
    pub seq: u64,
    pub stream_sequence: u64,
    pub why: String,
}

impl ChainHead {
    /// A chain with no entries yet.
    pub fn new(chain: &str) -> ChainHead {
        ChainHead { chain: chain.to_string(), seq: 0, hash: GENESIS.to_string() }
    }

    /// Seals `records` as the next entry and advances the head.
    pub fn seal(&mut self, at: String, records: Vec<AuditRecord<'static>>) -> AuditEntry {
        let sealed = self.seal_encoded(&at, &[EncodedRecords::from(&records[..])]);
        AuditEntry {
            chain: self.chain.clone(),
            seq: sealed.seq,
            prev_hash: sealed.prev_hash,
            at,
            records,
            hash: sealed.hash,
        }
    }

    /// Seals the records of `parts`, in order, as the next entry, advances the head and returns the entry as
    /// stored: its JSON (byte for byte what serialising the sealed [`AuditEntry`] gives), put together from
    /// the records' JSON as encoded where they were made. How the gateway's writer seals.
    pub fn seal_encoded(&mut self, at: &str, parts: &[EncodedRecords]) -> SealedEntry {
        let seq = self.seq + 1;
        let records: usize = parts.iter().map(EncodedRecords::json_len).sum();
        let mut json = Vec::with_capacity(256 + records);
        json.extend_from_slice(b"{\"chain\":");
        encoded::push_str(&mut json, &self.chain);
        json.extend_from_slice(b",\"seq\":");
        json.extend_from_slice(seq.to_string().as_bytes());
        json.extend_from_slice(b",\"prev_hash\":");
        encoded::push_str(&mut json, &self.hash);
        json.extend_from_slice(b",\"at\":");
        encoded::push_str(&mut json, at);
        json.extend_from_slice(b",\"records\":[");
        encoded::join(&mut json, parts);
        json.extend_from_slice(b"],\"hash\":\"\"}");
        let hash = hash_of(&self.hash, &json);
        // The unsealed JSON ends with its empty hash, `"hash":""}`: put the hash in (hex needs no escaping).
        json.truncate(json.len() - 2);
        json.extend_from_slice(hash.as_bytes());
        json.extend_from_slice(b"\"}");
        let prev_hash = std::mem::replace(&mut self.hash, hash.clone());
        self.seq = seq;
        SealedEntry { seq, prev_hash, hash, json: json.into() }
    }
}

/// An entry sealed for storing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedEntry {
    pub seq: u64,
    pub prev_hash: String,
    pub hash: String,
    /// The entry's JSON as stored.
    pub json: bytes::Bytes,
}

/// [`AuditEntry`] borrowed, serialised field for field alike: what is hashed and stored without copying
/// the records.
#[derive(Serialize)]
struct EntryView<'a> {
    chain: &'a str,
    seq: u64,
    prev_hash: &'a str,
    at: &'a str,
    records: &'a [AuditRecord<'static>],
    hash: &'a str,
}

/// The hash an entry must carry: SHA-256 of its previous hash and its JSON with `hash` empty, in hex.
pub fn entry_hash(entry: &AuditEntry) -> String {
    let unsealed = EntryView {
        chain: &entry.chain,
        seq: entry.seq,
        prev_hash: &entry.prev_hash,
        at: &entry.at,
        records: &entry.records,
        hash: "",
    };
    hash_of(&entry.prev_hash, &serde_json::to_vec(&unsealed).unwrap_or_default())
}

/// SHA-256 of the previous hash and the unsealed JSON, in lower-case hex.
fn hash_of(prev_hash: &str, unsealed: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(unsealed);
    let digest = hasher.finalize();
    let mut hex = String::with_capacity(64);
    for byte in digest {
        hex.push(HEX[usize::from(byte >> 4)] as char);
        hex.push(HEX[usize::from(byte & 0xf)] as char);
    }
    hex
}

/// Checks the entries of one chain, each with its stream sequence, and returns the head. Entries are taken
/// in chain order (a gateway stores several at once, so the stream may hold them slightly out of order);
/// of two entries with one sequence, the later stored is the one named.
pub fn verify(chain: &str, entries: impl IntoIterator<Item = (u64, AuditEntry)>) -> Result<ChainHead, Broken> {
    let no_keys = |_: &str, _: &str, _: &str| None;
    let mut verifier = Verifier::new(&no_keys);
    for (stream_sequence, entry) in entries {
        verifier.entry(stream_sequence, chain, Some(entry));
    }
    verifier.finish().pop().map_or_else(|| Ok(ChainHead::new(chain)), |report| report.result)
}

/// A signed statement of a chain's head at one moment, by the gateway's signing key. Someone who rebuilt a
/// chain from an earlier entry on, re-hashing every later one, cannot produce it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub chain: String,
    pub seq: u64,
    pub hash: String,
    pub at: String,
    /// The signing key's id.
    pub kid: String,
    /// Ed25519 over [`Checkpoint::message`], in hex.
    pub signature: String,
}

impl Checkpoint {
    /// What is signed.
    pub fn message(chain: &str, seq: u64, hash: &str, at: &str) -> String {
        format!("liaison-audit-checkpoint\n{chain}\n{seq}\n{hash}\n{at}")
    }
}

/// Which records a query wants; `None` filters match everything.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub message_id: Option<String>,
    /// Origin or recipient.
    pub party: Option<String>,
    /// Only records of messages this party originated (what a non-operator caller may see).
    pub origin: Option<String>,
    pub since: Option<time::OffsetDateTime>,
    pub until: Option<time::OffsetDateTime>,
    pub event: Option<Event>,
}

impl AuditQuery {
    /// Whether `record`, in an entry written at `at`, matches.
    pub fn matches(&self, at: time::OffsetDateTime, record: &AuditRecord<'_>) -> bool {
        let is = |filter: &Option<String>, value: &str| filter.as_deref().is_none_or(|wanted| wanted == value);
        is(&self.message_id, &record.message_id)
            && is(&self.origin, &record.origin)
            && self.party.as_deref().is_none_or(|party| {
                record.origin == party
                    || record.recipient == party
                    || record.unknown_recipients.iter().any(|p| p == party)
            })
            && self.in_time(at)
            && self.event.is_none_or(|event| event == record.event)
    }

    /// Whether records of an entry written at `at` fall within `since` and `until`.
    pub fn in_time(&self, at: time::OffsetDateTime) -> bool {
        self.since.is_none_or(|since| at >= since) && self.until.is_none_or(|until| at < until)
    }
}

/// When an entry was written; an unparseable time (never written by the gateway) counts as the epoch.
pub fn written_at(entry: &AuditEntry) -> time::OffsetDateTime {
    time::OffsetDateTime::parse(&entry.at, &time::format_description::well_known::Rfc3339)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// The outcome of verifying one chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    pub chain: String,
    pub entries: usize,
    pub result: Result<ChainHead, Broken>,
    /// Checkpoints whose signature was checked against a known key and matched the chain.
    pub checkpoints_verified: usize,
    /// Checkpoints signed by a key the verifier does not know.
    pub checkpoints_unchecked: usize,
    /// Ranges of entries recorded lost by an `audit-loss` entry (accepted with `--accept-audit-loss`).
    pub losses: Vec<(u64, u64)>,
    /// The chain was expected (by the registry or a checkpoint) but the stream holds none of its entries.
    pub missing: bool,
}

/// Verifies every chain among `stored` (stream sequence, chain from the subject, the entry if it parses)
/// and `checkpoints`, taken together in stream order (see [`Verifier`]). A stored message that is not an
/// entry breaks its chain there.
pub fn verify_all(
    stored: Vec<(u64, String, Option<AuditEntry>)>,
    checkpoints: &[(u64, Checkpoint)],
    verify_signature: VerifySignature<'_>,
) -> Vec<ChainReport> {
    let mut verifier = Verifier::new(verify_signature);
    let mut checkpoints = checkpoints.iter().cloned().peekable();
    for (stream_sequence, chain, entry) in stored {
        while let Some((checkpoint_sequence, checkpoint)) = checkpoints.next_if(|(at, _)| *at < stream_sequence) {
            verifier.checkpoint(checkpoint_sequence, checkpoint);
        }
        verifier.entry(stream_sequence, &chain, entry);
    }
    for (checkpoint_sequence, checkpoint) in checkpoints {
        verifier.checkpoint(checkpoint_sequence, checkpoint);
    }
    verifier.finish()
}

#[cfg(test)]
mod tests;
