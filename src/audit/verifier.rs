//! Verifying audit chains in one pass over the stream, holding only a window of each chain.
//!
//! A gateway stores a few entries at once, so the stream may hold a chain's entries slightly out of
//! sequence order; each chain keeps the entries that arrived early (up to [`WINDOW`]) until the ones before
//! them come. A checkpoint is stored after the entry it signs, so each chain also remembers the hashes of
//! its last [`WINDOW`] entries to check checkpoints against. Memory is bounded by the number of chains,
//! not by the size of the audit.

use std::collections::{BTreeMap, VecDeque};

use super::{AuditEntry, Broken, ChainHead, ChainReport, Checkpoint, entry_hash};

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
}

impl Digest {
    fn of(entry: &AuditEntry) -> Digest {
        Digest {
            chain: entry.chain.clone(),
            prev_hash: entry.prev_hash.clone(),
            hash: entry.hash.clone(),
            intact: entry_hash(entry) == entry.hash,
        }
    }
}

/// Every chain met so far, fed in stream order; [`Verifier::finish`] reports on each.
pub struct Verifier<'a> {
    chains: BTreeMap<String, ChainState>,
    verify_signature: VerifySignature<'a>,
}

impl<'a> Verifier<'a> {
    pub fn new(verify_signature: VerifySignature<'a>) -> Verifier<'a> {
        Verifier { chains: BTreeMap::new(), verify_signature }
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
        if let Some(state) = self.chains.get_mut(&checkpoint.chain) {
            state.checkpoint(stream_sequence, checkpoint, self.verify_signature);
        }
    }

    /// One report per chain, in chain name order.
    pub fn finish(self) -> Vec<ChainReport> {
        self.chains.into_values().map(ChainState::finish).collect()
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
        }
    }

    fn accept(&mut self, seq: u64, stream_sequence: u64, digest: Digest) {
        if self.broken.is_some() {
            return;
        }
        self.early.insert((seq, stream_sequence), digest);
        while let Some(&(seq, _)) = self.early.keys().next() {
            if seq > self.head.seq + 1 && self.early.len() <= WINDOW {
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

    /// Links the next entry in sequence order to the head.
    fn advance(&mut self, seq: u64, stream_sequence: u64, digest: Digest) -> Result<(), Broken> {
        let chain = &self.head.chain;
        let broken = |why: String| Broken { chain: chain.clone(), seq, stream_sequence, why };
        if digest.chain != *chain {
            return Err(broken(format!("names chain {:?}", digest.chain)));
        }
        if seq <= self.head.seq {
            return Err(broken(format!("repeats entry {seq}: a second entry with its sequence")));
        }
        if seq != self.head.seq + 1 {
            return Err(broken(format!("follows entry {}: entries are missing", self.head.seq)));
        }
        if digest.prev_hash != self.head.hash {
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
                seq: self.head.seq + 1,
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
        ChainReport { chain, entries: self.entries, result, checkpoints_verified, checkpoints_unchecked }
    }
}
