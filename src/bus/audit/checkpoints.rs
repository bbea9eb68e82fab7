//! Signed checkpoints of a gateway's audit chain, and where the chain stands: the highest entry stored with
//! no gap below it, which a checkpoint signs and a full stream takes the chain back to.

use async_nats::jetstream;

use super::CheckpointSigner;
use crate::audit::{ChainHead, Checkpoint};
use crate::bus::audit_subject;

/// Signed checkpoints of one chain: the highest entry stored with no gap below it, signed every interval
/// when it has moved.
pub(super) struct Checkpoints {
    signer: Option<CheckpointSigner>,
    chain: String,
    /// Stored contiguously up to here.
    pub(super) stored: (u64, String),
    /// Stored above a gap, waiting for it to fill.
    ahead: std::collections::BTreeMap<u64, String>,
    signed: u64,
}

impl Checkpoints {
    pub(super) fn new(head: &ChainHead, signer: Option<CheckpointSigner>) -> Checkpoints {
        let stored = (head.seq, head.hash.clone());
        Checkpoints { signer, chain: head.chain.clone(), stored, ahead: Default::default(), signed: head.seq }
    }

    pub(super) fn interval(&self) -> std::time::Duration {
        self.signer.as_ref().map(|signer| signer.interval).unwrap_or(std::time::Duration::from_secs(3600))
    }

    pub(super) fn stored(&mut self, stored: Option<(u64, String)>) {
        let Some((seq, hash)) = stored else { return };
        self.ahead.insert(seq, hash);
        while let Some(hash) = self.ahead.remove(&(self.stored.0 + 1)) {
            self.stored = (self.stored.0 + 1, hash);
        }
    }

    /// After the stream refused entries for lack of room, with nothing in flight: takes `head` back to the
    /// last entry stored, so the chain goes on with no gap where the refused entries were. If an entry above
    /// a refused one was stored meanwhile (a smaller one fitted), the gap cannot be closed: it is logged and
    /// left for `liaison audit verify` to name.
    pub(super) fn rewind(&mut self, head: &mut ChainHead) {
        if !self.ahead.is_empty() {
            let stored_above: Vec<u64> = self.ahead.keys().copied().collect();
            tracing::error!(chain = %head.chain, stored = self.stored.0, ?stored_above, "the audit stream refused an entry for lack of room and stored later ones: the chain has a gap");
            return;
        }
        if head.seq != self.stored.0 {
            tracing::warn!(chain = %head.chain, from = head.seq, to = self.stored.0, "the audit stream is full: the chain goes on from its last stored entry");
        }
        head.seq = self.stored.0;
        head.hash = self.stored.1.clone();
    }

    pub(super) async fn write(&mut self, jetstream: &jetstream::Context) {
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
