//! Verifying audit chains in one pass over the stream, holding only a window of each chain.
//!
//! A gateway stores a few entries at once, so the stream may hold a chain's entries slightly out of
//! sequence order; each chain keeps the entries that arrived early (up to [`WINDOW`]) until the ones before
//! them come. A checkpoint is stored after the entry it signs, so each chain also remembers the hashes of
//! its last [`WINDOW`] entries to check checkpoints against. Memory is bounded by the number of chains,
//! not by the size of the audit.
//!
//! A chain may skip entries only where an `audit-loss` entry says exactly which are missing (the loss an
//! operator accepted at start; that entry links to the lost head, which cannot be checked). A chain that
//! starts again at entry 1 after higher entries is broken. Chains the verifier is told to expect
//! ([`Verifier::expect`]: from the chain registry) or that have signed checkpoints but no entries are
//! reported missing, and one that ends below the length the registry knew of is reported short.

use std::collections::{BTreeMap, VecDeque};

use super::{AuditEntry, Broken, ChainHead, ChainReport, Checkpoint, Event, GENESIS, entry_hash};

/// How far out of order entries may be stored, and how far behind its entry a checkpoint may be. A gateway
/// has at most a few dozen entries in flight.
pub const WINDOW: usize = 4096;

/// Checks `signature` over `message` with the key `kid`: `None` for a key the verifier does not know.
pub type VerifySignature<'a> = &'a dyn Fn(&str, &str, &str) -> Option<bool>;

/// What verification needs of an entry once it has been read: its links, and whether its content still
/// matches its hash.
struct Digest {
    chain: String,
    prev_hash: String,
    hash: String,
    intact: bool,
    /// The entries an `audit-loss` record in it says are missing.
    lost: Option<(u64, u64)>,
}

impl Digest {
    fn of(entry: &AuditEntry) -> Digest {
        Digest {
            chain: entry.chain.clone(),
            prev_hash: entry.prev_hash.clone(),
            hash: entry.hash.clone(),
            intact: entry_hash(entry) == entry.hash,
            lost: entry.records.iter().find(|record| record.event == Event::AuditLoss).and_then(|record| record.lost),
        }
    }
}

/// Every chain met so far, fed in stream order; [`Verifier::finish`] reports on each.
pub struct Verifier<'a> {
    chains: BTreeMap<String, ChainState>,
    verify_signature: VerifySignature<'a>,
    /// Chains expected to be there: the length known, and who knew it.
    expected: BTreeMap<String, (u64, String)>,
}

impl<'a> Verifier<'a> {
    pub fn new(verify_signature: VerifySignature<'a>) -> Verifier<'a> {
        Verifier { chains: BTreeMap::new(), verify_signature, expected: BTreeMap::new() }
    }

    /// `chain` should be there with at least `entries` entries, as `source` says (e.g. the registry).
    /// A chain known with no entries (a gateway that never audited anything) is expected to hold none.
    pub fn expect(&mut self, chain: &str, entries: u64, source: String) {
        if entries == 0 {
            return;
        }
        let expected = self.expected.entry(chain.to_string()).or_insert((0, String::new()));
        if entries >= expected.0 {
            *expected = (entries, source);
        }
    }

    /// A stored message on `chain`'s subject: the entry, or `None` if it is not an audit entry at all
    /// (which breaks the chain there).
    pub fn entry(&mut self, stream_sequence: u64, chain: &str, entry: Option<AuditEntry>) {
        let state = self.chains.entry(chain.to_string()).or_insert_with(|| ChainState::new(chain));
        state.entries += 1;
        match entry {
            Some(entry) => state.accept(entry.seq, stream_sequence, Digest::of(&entry)),
            None => state.unreadable(stream_sequence),
        }
    }

    /// A signed checkpoint; it counts for the chain it names, if that chain has entries.
    pub fn checkpoint(&mut self, stream_sequence: u64, checkpoint: Checkpoint) {
        match self.chains.get_mut(&checkpoint.chain) {
            Some(state) => state.checkpoint(stream_sequence, checkpoint, self.verify_signature),
            // A checkpoint follows the entry it signs: with no entry before it, the chain has vanished.
            None => self.expect(&checkpoint.chain, checkpoint.seq, format!("a signed checkpoint at {}", checkpoint.at)),
        }
    }

    /// One report per chain, in chain name order, expected chains included.
    pub fn finish(self) -> Vec<ChainReport> {
        let mut reports: BTreeMap<String, ChainReport> =
            self.chains.into_values().map(|state| (state.head.chain.clone(), state.finish())).collect();
        for (chain, (entries, source)) in self.expected {
            match reports.get_mut(&chain) {
                Some(report) => short(report, entries, &source),
                None => {
                    reports.insert(chain.clone(), missing(&chain, entries, &source));
                }
            }
        }
        reports.into_values().collect()
    }
}

/// One chain as verified so far.
struct ChainState {
    head: ChainHead,
    entries: usize,
    /// Entries that came before the ones preceding them, by (sequence, stream sequence).
    early: BTreeMap<(u64, u64), Digest>,
    /// The first break in the chain itself; nothing after it is checked.
    broken: Option<Broken>,
    /// Hashes of the last [`WINDOW`] entries verified, by sequence.
    recent: VecDeque<(u64, String)>,
    /// Checkpoints of entries not verified yet, by stream sequence.
    waiting: Vec<(u64, Checkpoint)>,
    /// The first checkpoint that failed; reported if the chain itself is intact.
    checkpoint_broken: Option<Broken>,
    checkpoints_verified: usize,
    checkpoints_unchecked: usize,
    /// Entries recorded lost by `audit-loss` entries, first to last.
    losses: Vec<(u64, u64)>,
}

impl ChainState {
    fn new(chain: &str) -> ChainState {
        ChainState {
            head: ChainHead::new(chain),
            entries: 0,
            early: BTreeMap::new(),
            broken: None,
            recent: VecDeque::new(),
            waiting: Vec::new(),
            checkpoint_broken: None,
            checkpoints_verified: 0,
            checkpoints_unchecked: 0,
            losses: Vec::new(),
        }
    }

    fn accept(&mut self, seq: u64, stream_sequence: u64, digest: Digest) {
        if self.broken.is_some() {
            return;
        }
        self.early.insert((seq, stream_sequence), digest);
        while let Some(&(seq, _)) = self.early.keys().next() {
            if self.next().is_some_and(|next| seq > next) && self.early.len() <= WINDOW {
                return;
            }
            let Some(((seq, stream_sequence), digest)) = self.early.pop_first() else { return };
            if let Err(broken) = self.advance(seq, stream_sequence, digest) {
                self.broken = Some(broken);
                self.early.clear();
                return;
            }
        }
    }

    /// The sequence the next entry must have; none after an entry at u64::MAX.
    fn next(&self) -> Option<u64> {
        self.head.seq.checked_add(1)
    }

    /// Links the next entry in sequence order to the head.
    fn advance(&mut self, seq: u64, stream_sequence: u64, digest: Digest) -> Result<(), Broken> {
        let chain = &self.head.chain;
        let broken = |why: String| Broken { chain: chain.clone(), seq, stream_sequence, why };
        if digest.chain != *chain {
            return Err(broken(format!("names chain {:?}", digest.chain)));
        }
        if seq <= self.head.seq && (seq == 1 || digest.prev_hash == GENESIS) {
            return Err(broken(format!(
                "restarts the chain at 1 after entry {}: the chain was begun again (its entries lost or replaced)",
                self.head.seq
            )));
        }
        if seq <= self.head.seq {
            return Err(broken(format!("repeats entry {seq}: a second entry with its sequence")));
        }
        // An accepted loss: this entry names exactly the entries missing before it (one at least) and links
        // to the lost head, which cannot be checked. Sequences come from the stream: nothing here may
        // overflow on one near u64::MAX.
        let next = self.next();
        let loss = digest
            .lost
            .filter(|&(first, last)| Some(first) == next && first <= last && last.checked_add(1) == Some(seq));
        if Some(seq) != next && loss.is_none() {
            return Err(broken(format!("follows entry {}: entries are missing", self.head.seq)));
        }
        if let Some(range) = loss {
            self.losses.push(range);
        } else if digest.prev_hash != self.head.hash {
            return Err(broken("does not link to the entry before it (prev_hash differs)".to_string()));
        }
        if !digest.intact {
            return Err(broken("was altered: its content does not match its hash".to_string()));
        }
        self.head.seq = seq;
        self.head.hash = digest.hash;
        self.recent.push_back((seq, self.head.hash.clone()));
        if self.recent.len() > WINDOW {
            self.recent.pop_front();
        }
        let (ready, waiting): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.waiting).into_iter().partition(|(_, checkpoint)| checkpoint.seq <= seq);
        self.waiting = waiting;
        for (stream_sequence, checkpoint) in ready {
            self.compare(stream_sequence, &checkpoint);
        }
        Ok(())
    }

    /// A stored message that is not an entry: the chain breaks just after what came before it.
    fn unreadable(&mut self, stream_sequence: u64) {
        if self.broken.is_some() {
            return;
        }
        self.drain();
        if self.broken.is_none() {
            self.broken = Some(Broken {
                chain: self.head.chain.clone(),
                seq: self.head.seq.saturating_add(1),
                stream_sequence,
                why: "is not an audit entry (unreadable JSON)".to_string(),
            });
        }
    }

    /// Takes every entry still held early, in sequence order: any gap now is a break.
    fn drain(&mut self) {
        while let Some(((seq, stream_sequence), digest)) = self.early.pop_first() {
            if let Err(broken) = self.advance(seq, stream_sequence, digest) {
                self.broken = Some(broken);
                self.early.clear();
            }
        }
    }

    fn checkpoint(&mut self, stream_sequence: u64, checkpoint: Checkpoint, verify_signature: VerifySignature<'_>) {
        if self.checkpoint_broken.is_some() {
            return;
        }
        let message = Checkpoint::message(&checkpoint.chain, checkpoint.seq, &checkpoint.hash, &checkpoint.at);
        match verify_signature(&checkpoint.kid, &message, &checkpoint.signature) {
            Some(false) => {
                let why = format!("has a checkpoint with a bad signature (key {})", checkpoint.kid);
                self.checkpoint_broken = Some(self.checkpoint_break(stream_sequence, &checkpoint, why));
            }
            None => self.checkpoints_unchecked += 1,
            Some(true) if checkpoint.seq > self.head.seq => self.waiting.push((stream_sequence, checkpoint)),
            Some(true) => self.compare(stream_sequence, &checkpoint),
        }
    }

    /// Compares a checkpoint with the verified entry it names.
    fn compare(&mut self, stream_sequence: u64, checkpoint: &Checkpoint) {
        if self.checkpoint_broken.is_some() {
            return;
        }
        let hash = self.recent.iter().rev().find(|(seq, _)| *seq == checkpoint.seq).map(|(_, hash)| hash);
        let why = match hash {
            Some(hash) if *hash == checkpoint.hash => {
                self.checkpoints_verified += 1;
                return;
            }
            Some(_) => "differs from the signed checkpoint of it (the chain was rebuilt)".to_string(),
            None => format!("is named by a checkpoint but is not among the {WINDOW} entries verified before it"),
        };
        self.checkpoint_broken = Some(self.checkpoint_break(stream_sequence, checkpoint, why));
    }

    fn checkpoint_break(&self, stream_sequence: u64, checkpoint: &Checkpoint, why: String) -> Broken {
        Broken { chain: self.head.chain.clone(), seq: checkpoint.seq, stream_sequence, why }
    }

    fn finish(mut self) -> ChainReport {
        self.drain();
        if let Some((stream_sequence, checkpoint)) = self.waiting.first().cloned()
            && self.checkpoint_broken.is_none()
        {
            let why = format!("was signed in a checkpoint but the chain ends at entry {}", self.head.seq);
            self.checkpoint_broken = Some(self.checkpoint_break(stream_sequence, &checkpoint, why));
        }
        let chain = self.head.chain.clone();
        let (result, checkpoints_verified, checkpoints_unchecked) = match (self.broken, self.checkpoint_broken) {
            (Some(broken), _) => (Err(broken), 0, 0),
            (None, Some(broken)) => (Err(broken), self.checkpoints_verified, self.checkpoints_unchecked),
            (None, None) => (Ok(self.head), self.checkpoints_verified, self.checkpoints_unchecked),
        };
        ChainReport {
            chain,
            entries: self.entries,
            result,
            checkpoints_verified,
            checkpoints_unchecked,
            losses: self.losses,
            missing: false,
        }
    }
}

/// The report of a chain expected (with `entries` entries, as `source` says) of which no entry is stored.
fn missing(chain: &str, entries: u64, source: &str) -> ChainReport {
    let why = format!(
        "is missing: {source} knows {entries} entries but LIAISON_AUDIT holds none of them (entries 1-{entries} are gone)"
    );
    ChainReport {
        chain: chain.to_string(),
        entries: 0,
        result: Err(Broken { chain: chain.to_string(), seq: 1, stream_sequence: 0, why }),
        checkpoints_verified: 0,
        checkpoints_unchecked: 0,
        losses: Vec::new(),
        missing: true,
    }
}

/// Breaks an intact `report` whose chain ends below the `entries` that `source` knew of.
fn short(report: &mut ChainReport, entries: u64, source: &str) {
    let Ok(head) = &report.result else { return };
    if head.seq >= entries {
        return;
    }
    let why = format!(
        "is missing: {source} knows {entries} entries but the chain ends at entry {} (entries {}-{entries} are gone, or the chain was begun again)",
        head.seq,
        head.seq.saturating_add(1)
    );
    report.result =
        Err(Broken { chain: report.chain.clone(), seq: head.seq.saturating_add(1), stream_sequence: 0, why });
}
