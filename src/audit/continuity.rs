//! A vanished audit fails closed: what a gateway knows of its own chain outside the stream, and the
//! decision, at start, whether the stream still holds it.
//!
//! A gateway keeps its chain's length and head hash in its data directory (`audit-chain-length.json`) and
//! in the KV bucket `LIAISON_AUDIT_CHAINS` (key: the chain id). Both are written at start, at every
//! checkpoint interval and at shutdown, and only with entries JetStream has acknowledged with no gap
//! below them, so the value is a lower bound of what the stream must hold: after a crash it lags by at
//! most one checkpoint interval, and a start never mistakes a crash for a loss (the entries of that last
//! interval, should they vanish, are not detected at start; signed checkpoints and `liaison audit verify`
//! still see them).
//!
//! When the stream holds fewer entries than the larger of the two, the gateway refuses to start. With
//! `--accept-audit-loss` it records the loss instead and the chain continues from N+1: the `audit-loss`
//! entry is entry N+1, linked to the lost head's hash (N, as last known), and names the missing range, so
//! verification accepts exactly that gap and nothing else.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{AuditRecord, ChainHead, GENESIS};

/// The file in the data directory.
pub const LENGTH_FILE: &str = "audit-chain-length.json";

/// A chain's length (its highest entry stored with no gap below) and that entry's hash, as last known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownChain {
    pub chain: String,
    pub entries: u64,
    pub hash: String,
    /// RFC 3339.
    pub at: String,
}

/// Entries the stream no longer holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loss {
    pub chain: String,
    /// Who knew how many: "data dir" or the registry.
    pub source: String,
    pub known: KnownChain,
    /// The highest entry the stream holds.
    pub held: u64,
}

impl KnownChain {
    pub fn of(head: &ChainHead, at: String) -> KnownChain {
        KnownChain { chain: head.chain.clone(), entries: head.seq, hash: head.hash.clone(), at }
    }
}

/// Whether `stored` (the chain's head as the stream holds it) has every entry each source knew of; the
/// loss against the source that knew the most if not.
pub fn check(stored: &ChainHead, known: &[(&str, Option<KnownChain>)]) -> Option<Loss> {
    let (source, known) = known
        .iter()
        .filter_map(|(source, known)| known.as_ref().map(|known| (*source, known)))
        .filter(|(_, known)| known.chain == stored.chain)
        // Of equals, the first source named (the data directory): max_by_key keeps the last.
        .rev()
        .max_by_key(|(_, known)| known.entries)?;
    (known.entries > stored.seq).then(|| Loss {
        chain: stored.chain.clone(),
        source: source.to_string(),
        known: known.clone(),
        held: stored.seq,
    })
}

impl Loss {
    /// The missing entries, first to last.
    pub fn range(&self) -> (u64, u64) {
        (self.held + 1, self.known.entries)
    }

    /// What the stream was expected to hold and what it holds.
    pub fn explanation(&self) -> String {
        let (first, last) = self.range();
        format!(
            "audit chain {} had {} entries ({}, {}) but LIAISON_AUDIT holds {}; entries {first}-{last} are missing",
            self.chain,
            thousands(self.known.entries),
            self.source,
            self.known.at,
            thousands(self.held),
        )
    }

    /// Why a gateway refuses to start.
    pub fn refusal(&self) -> String {
        format!(
            "{}. Start with --accept-audit-loss to record the loss and continue (run liaison audit verify first)",
            self.explanation()
        )
    }

    /// Where the chain continues: at the lost head, so the next entry (the `audit-loss` one) is N+1.
    pub fn continue_from(&self) -> ChainHead {
        let hash = if self.known.hash.is_empty() { GENESIS.to_string() } else { self.known.hash.clone() };
        ChainHead { chain: self.chain.clone(), seq: self.known.entries, hash }
    }

    /// The record of the loss, accepted by `by`.
    pub fn record<'a>(&self, by: &'a str) -> AuditRecord<'a> {
        AuditRecord::audit_loss(&self.chain, by, self.range(), format!("{}; loss accepted", self.explanation()))
    }
}

/// What the data directory knows of its chain; `None` if it has never written it (a new gateway, or one
/// from before this file existed).
pub fn load(data_dir: &Path) -> anyhow::Result<Option<KnownChain>> {
    let path = data_dir.join(LENGTH_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes).map_err(|error| {
            anyhow::anyhow!("{}: unreadable ({error}); it says how long this gateway's audit chain was", path.display())
        })?)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(anyhow::anyhow!("reading {}: {error}", path.display())),
    }
}

/// Writes `known` to the data directory, replacing the file whole ([`crate::files`]: a crash leaves the
/// old or the new).
pub fn save(data_dir: &Path, known: &KnownChain) -> std::io::Result<()> {
    crate::files::write_whole(&data_dir.join(LENGTH_FILE), &serde_json::to_vec(known).unwrap_or_default(), 0o644)
}

/// 1234567 as "1,234,567".
fn thousands(number: u64) -> String {
    let digits = number.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(entries: u64) -> Option<KnownChain> {
        Some(KnownChain { chain: "gw-a".into(), entries, hash: "h".repeat(64), at: "2026-12-01T10:00:00Z".into() })
    }

    fn head(seq: u64) -> ChainHead {
        ChainHead { chain: "gw-a".into(), seq, hash: "x".into() }
    }

    #[test]
    fn a_stream_holding_at_least_what_was_known_is_intact() {
        assert_eq!(check(&head(10), &[("data dir", known(10)), ("registry", known(7))]), None);
        assert_eq!(check(&head(12), &[("data dir", known(10))]), None);
        assert_eq!(check(&head(0), &[("data dir", None)]), None);
    }

    #[test]
    fn a_stream_holding_fewer_is_a_loss_against_the_source_that_knew_most() {
        let loss = check(&head(0), &[("data dir", known(1234)), ("registry", known(1000))]).unwrap();
        assert_eq!(loss.range(), (1, 1234));
        assert_eq!(
            loss.refusal(),
            "audit chain gw-a had 1,234 entries (data dir, 2026-12-01T10:00:00Z) but LIAISON_AUDIT holds 0; \
             entries 1-1234 are missing. Start with --accept-audit-loss to record the loss and continue \
             (run liaison audit verify first)"
        );
        let loss = check(&head(500), &[("data dir", known(900)), ("registry", known(1000))]).unwrap();
        assert_eq!((loss.source.as_str(), loss.range()), ("registry", (501, 1000)));
        let loss = check(&head(0), &[("data dir", known(7)), ("registry", known(7))]).unwrap();
        assert_eq!(loss.source, "data dir");
    }

    #[test]
    fn an_accepted_loss_continues_the_chain_at_the_lost_head() {
        let loss = check(&head(3), &[("data dir", known(9))]).unwrap();
        let mut head = loss.continue_from();
        assert_eq!((head.seq, head.hash.as_str()), (9, "h".repeat(64).as_str()));
        let entry = head.seal("2026-12-01T11:00:00Z".into(), vec![loss.record("ops")]);
        assert_eq!(entry.seq, 10);
        assert_eq!(entry.records[0].lost, Some((4, 9)));
        assert_eq!(entry.records[0].event, super::super::Event::AuditLoss);
    }

    #[test]
    fn another_chain_known_to_the_registry_is_not_this_ones() {
        let other = Some(KnownChain { chain: "gw-b".into(), ..known(50).unwrap() });
        assert_eq!(check(&head(0), &[("registry", other)]), None);
    }

    #[test]
    fn thousands_are_separated() {
        assert_eq!(
            (thousands(0), thousands(999), thousands(1000), thousands(1234567)),
            ("0".into(), "999".into(), "1,000".into(), "1,234,567".into())
        );
    }
}
