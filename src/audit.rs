//! Dissemination audit (28 CFR 23.20(g)): what was decided and delivered, by whom, why and when, in
//! tamper-evident hash chains. Pure data and hashing; `bus::audit` stores and reads the entries.
//!
//! Each gateway writes its own chain (named in its data directory), so gateways never serialise on one
//! another. An entry holds the records of one publish (one per routing decision) or of one delivery batch
//! (one per delivery), its sequence in the chain, the hash of the previous entry, and its own hash:
//! SHA-256 over the previous hash and the entry's JSON with `hash` empty. Changing, removing or inserting
//! an entry breaks the chain at that entry, which [`verify`] names.
//!
//! Records of concurrent publishes share an entry (group commit), and a gateway stores a few entries at
//! once, so verification takes a chain in sequence order, not stream order.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The hash before a chain's first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened to a message for one recipient or subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// The router approved the recipient and the copy was sent for storage.
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
}

/// One audited fact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub event: Event,
    pub message_id: String,
    pub origin: String,
    pub recipient: String,
    /// The person or system that received it (deliveries only).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subscriber: String,
    /// The rule or marking that decided (a denial's reason code and rule; a delivery's check).
    pub decided_by: String,
    /// The need-to-know basis of the rule that released it (approvals).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub basis: String,
    pub policy_version: String,
    /// Why, as the reviewer or operator gave it (revalidations and purges).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// The feed subject an approved copy was stored on: where a purge finds it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subject: String,
    /// The message is criminal intelligence (28 CFR Part 23); on approvals.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub criminal_intelligence: bool,
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
    pub records: Vec<AuditRecord>,
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
    pub fn seal(&mut self, at: String, records: Vec<AuditRecord>) -> AuditEntry {
        let mut entry = AuditEntry {
            chain: self.chain.clone(),
            seq: self.seq + 1,
            prev_hash: self.hash.clone(),
            at,
            records,
            hash: String::new(),
        };
        entry.hash = entry_hash(&entry);
        self.seq = entry.seq;
        self.hash = entry.hash.clone();
        entry
    }
}

/// The hash an entry must carry: SHA-256 of its previous hash and its JSON with `hash` empty, in hex.
pub fn entry_hash(entry: &AuditEntry) -> String {
    let unsealed = AuditEntry { hash: String::new(), ..entry.clone() };
    let mut hasher = Sha256::new();
    hasher.update(entry.prev_hash.as_bytes());
    hasher.update(serde_json::to_vec(&unsealed).unwrap_or_default());
    hasher.finalize().iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Checks the entries of one chain, each with its stream sequence, and returns the head. Entries are taken
/// in chain order (a gateway stores several at once, so the stream may hold them slightly out of order);
/// of two entries with one sequence, the later stored is the one named.
pub fn verify(chain: &str, entries: impl IntoIterator<Item = (u64, AuditEntry)>) -> Result<ChainHead, Broken> {
    let mut entries: Vec<(u64, AuditEntry)> = entries.into_iter().collect();
    entries.sort_by_key(|(stream_sequence, entry)| (entry.seq, *stream_sequence));
    let mut head = ChainHead::new(chain);
    for (stream_sequence, entry) in entries {
        let broken = |why: String| Broken { chain: chain.to_string(), seq: entry.seq, stream_sequence, why };
        if entry.chain != chain {
            return Err(broken(format!("names chain {:?}", entry.chain)));
        }
        if entry.seq == head.seq {
            return Err(broken(format!("repeats entry {}: a second entry with its sequence", head.seq)));
        }
        if entry.seq != head.seq + 1 {
            return Err(broken(format!("follows entry {}: entries are missing", head.seq)));
        }
        if entry.prev_hash != head.hash {
            return Err(broken("does not link to the entry before it (prev_hash differs)".to_string()));
        }
        if entry_hash(&entry) != entry.hash {
            return Err(broken("was altered: its content does not match its hash".to_string()));
        }
        head = ChainHead { chain: chain.to_string(), seq: entry.seq, hash: entry.hash };
    }
    Ok(head)
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
    pub fn matches(&self, at: time::OffsetDateTime, record: &AuditRecord) -> bool {
        let is = |filter: &Option<String>, value: &str| filter.as_deref().is_none_or(|wanted| wanted == value);
        is(&self.message_id, &record.message_id)
            && is(&self.origin, &record.origin)
            && self.party.as_deref().is_none_or(|party| record.origin == party || record.recipient == party)
            && self.since.is_none_or(|since| at >= since)
            && self.until.is_none_or(|until| at < until)
            && self.event.is_none_or(|event| event == record.event)
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
}

/// Checks each checkpoint of a verified chain: the entry it names must have the hash it signed, and the
/// signature must verify under a known key (`verify(kid, message, signature)` is `None` for an unknown key).
pub fn check_checkpoints(
    report: &mut ChainReport,
    hashes: &std::collections::HashMap<u64, String>,
    checkpoints: &[(u64, Checkpoint)],
    verify: &dyn Fn(&str, &str, &str) -> Option<bool>,
) {
    let Ok(head) = &report.result else { return };
    let head_seq = head.seq;
    for (stream_sequence, checkpoint) in checkpoints {
        let broken = |why: String| Broken {
            chain: report.chain.clone(),
            seq: checkpoint.seq,
            stream_sequence: *stream_sequence,
            why,
        };
        let message = Checkpoint::message(&checkpoint.chain, checkpoint.seq, &checkpoint.hash, &checkpoint.at);
        match verify(&checkpoint.kid, &message, &checkpoint.signature) {
            Some(false) => {
                report.result = Err(broken(format!("has a checkpoint with a bad signature (key {})", checkpoint.kid)));
                return;
            }
            None => {
                report.checkpoints_unchecked += 1;
                continue;
            }
            Some(true) => {}
        }
        if checkpoint.seq > head_seq {
            report.result = Err(broken(format!("was signed in a checkpoint but the chain ends at entry {head_seq}")));
            return;
        }
        if hashes.get(&checkpoint.seq) != Some(&checkpoint.hash) {
            report.result = Err(broken("differs from the signed checkpoint of it (the chain was rebuilt)".into()));
            return;
        }
        report.checkpoints_verified += 1;
    }
}

/// Verifies every chain among `stored` (stream sequence, chain from the subject, the entry if it parses),
/// in stream order, then its signed checkpoints (see [`check_checkpoints`]). A stored message that is not
/// an entry breaks its chain there.
pub fn verify_all(
    stored: Vec<(u64, String, Option<AuditEntry>)>,
    checkpoints: &[(u64, Checkpoint)],
    verify_signature: &dyn Fn(&str, &str, &str) -> Option<bool>,
) -> Vec<ChainReport> {
    let mut chains: std::collections::BTreeMap<String, Vec<(u64, Option<AuditEntry>)>> = Default::default();
    for (stream_sequence, chain, entry) in stored {
        chains.entry(chain).or_default().push((stream_sequence, entry));
    }
    chains
        .into_iter()
        .map(|(chain, stored)| {
            let entries = stored.len();
            let unreadable = stored.iter().position(|(_, entry)| entry.is_none());
            let readable = stored.iter().take(unreadable.unwrap_or(entries));
            let mut result = verify(&chain, readable.filter_map(|(sequence, entry)| Some((*sequence, entry.clone()?))));
            if let (Ok(head), Some(index)) = (&result, unreadable) {
                result = Err(Broken {
                    chain: chain.clone(),
                    seq: head.seq + 1,
                    stream_sequence: stored[index].0,
                    why: "is not an audit entry (unreadable JSON)".to_string(),
                });
            }
            let hashes =
                stored.iter().filter_map(|(_, entry)| entry.as_ref().map(|e| (e.seq, e.hash.clone()))).collect();
            let mut report = ChainReport { chain, entries, result, checkpoints_verified: 0, checkpoints_unchecked: 0 };
            let own: Vec<(u64, Checkpoint)> =
                checkpoints.iter().filter(|(_, checkpoint)| checkpoint.chain == report.chain).cloned().collect();
            check_checkpoints(&mut report, &hashes, &own, verify_signature);
            report
        })
        .collect()
}

#[cfg(test)]
mod tests;
