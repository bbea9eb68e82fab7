//! Revoked tokens: by token id (`jti`) or by subject (every token of a person or system issued at or
//! before the revocation). A plain in-memory set that `Verifier::verify` consults on every call, cached
//! tokens included; `bus/revocations.rs` fills it from the KV bucket `LIAISON_REVOCATIONS` that every
//! gateway watches.

use std::sync::Arc;
use std::time::Duration;

use super::AuthError;
use crate::model::PartyId;
use dashmap::DashMap;

/// What a revocation applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevocationTarget {
    /// One token, by its `jti` (a ULID, in its canonical upper-case form).
    Token(String),
    /// Every token of `subject` issued at or before the revocation; of one party, or of any party.
    Subject { party: Option<PartyId>, subject: String },
}

/// One revocation, as stored and as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub target: RevocationTarget,
    /// Unix seconds. A subject's tokens with `iat` at or before it are refused.
    pub revoked_at: u64,
    /// Why, for the operators who list revocations; never sent to the refused client.
    pub reason: String,
    /// Who revoked (the local user of `liaison token revoke`).
    pub revoked_by: String,
}

/// The revocations a gateway knows. Cheap to clone; clones share the set.
#[derive(Debug, Clone, Default)]
pub struct Revocations {
    /// Token id -> when it was revoked.
    by_token: Arc<DashMap<String, u64>>,
    /// Subject -> (party, or any party; when its tokens were revoked). Keyed by subject alone so a check
    /// looks up a `&str` without building a key.
    by_subject: Arc<DashMap<String, Vec<SubjectRevoked>>>,
}

/// A subject's revocation: of one party or of any (`None`), and when (Unix seconds).
type SubjectRevoked = (Option<PartyId>, u64);

// === impl Revocation ===

impl Revocation {
    /// Whether a token of `party` and `subject`, with id `jti` and issued at `iat`, is revoked by this.
    pub fn applies_to(&self, jti: Option<&str>, party: &PartyId, subject: &str, iat: u64) -> bool {
        match &self.target {
            RevocationTarget::Token(id) => jti == Some(id.as_str()),
            RevocationTarget::Subject { party: revoked_party, subject: revoked_subject } => {
                revoked_subject == subject
                    && revoked_party.as_ref().is_none_or(|revoked| revoked == party)
                    && iat <= self.revoked_at
            }
        }
    }
}

// === impl Revocations ===

impl Revocations {
    /// Records a revocation. A later revocation of the same subject covers more tokens and replaces the
    /// earlier one; an earlier one arriving late changes nothing.
    pub fn apply(&self, revocation: &Revocation) {
        match &revocation.target {
            RevocationTarget::Token(id) => {
                let mut at = self.by_token.entry(id.clone()).or_insert(revocation.revoked_at);
                *at = (*at).max(revocation.revoked_at);
            }
            RevocationTarget::Subject { party, subject } => {
                let mut entries = self.by_subject.entry(subject.clone()).or_default();
                match entries.iter_mut().find(|(revoked_party, _)| revoked_party == party) {
                    Some((_, at)) => *at = (*at).max(revocation.revoked_at),
                    None => entries.push((party.clone(), revocation.revoked_at)),
                }
            }
        }
    }

    /// Forgets a revocation (its key was deleted from the bucket by an operator).
    pub fn remove(&self, target: &RevocationTarget) {
        match target {
            RevocationTarget::Token(id) => {
                self.by_token.remove(id);
            }
            RevocationTarget::Subject { party, subject } => {
                if let Some(mut entries) = self.by_subject.get_mut(subject) {
                    entries.retain(|(revoked_party, _)| revoked_party != party);
                }
                self.by_subject.remove_if(subject, |_, entries| entries.is_empty());
            }
        }
    }

    /// Refuses a revoked token: by its id, or by its subject when it was issued at or before the
    /// subject's revocation. Two map lookups; no allocation.
    pub fn check(&self, jti: Option<&str>, party: &PartyId, subject: &str, iat: u64) -> Result<(), AuthError> {
        if let Some(jti) = jti
            && self.by_token.contains_key(jti)
        {
            return Err(AuthError::Revoked(format!("token id {jti} is revoked")));
        }
        let Some(entries) = self.by_subject.get(subject) else { return Ok(()) };
        let revoked = entries
            .iter()
            .find(|(revoked_party, at)| revoked_party.as_ref().is_none_or(|revoked| revoked == party) && iat <= *at);
        match revoked {
            Some((_, at)) => Err(AuthError::Revoked(format!(
                "tokens of subject {subject:?} issued at or before {} are revoked",
                super::token::rfc3339(*at)
            ))),
            None => Ok(()),
        }
    }

    /// Drops revocations that no token still in force can match: a token revoked at `revoked_at` was
    /// issued at or before it, so it expired by `revoked_at + horizon` (the longest token lifetime a
    /// gateway accepts, plus the clock leeway).
    pub fn prune(&self, now: u64, horizon: Duration) {
        let live = |at: &u64| at.saturating_add(horizon.as_secs()) >= now;
        self.by_token.retain(|_, at| live(at));
        self.by_subject.retain(|_, entries| {
            entries.retain(|(_, at)| live(at));
            !entries.is_empty()
        });
    }

    /// How many revocations are held.
    pub fn len(&self) -> usize {
        self.by_token.len() + self.by_subject.iter().map(|entry| entry.value().len()).sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Token;

    fn subject(party: Option<&str>, subject: &str, at: u64) -> Revocation {
        let party = party.map(|party| Token::parse(party).unwrap());
        Revocation {
            target: RevocationTarget::Subject { party, subject: subject.into() },
            revoked_at: at,
            reason: String::new(),
            revoked_by: String::new(),
        }
    }

    #[test]
    fn a_subject_revocation_covers_tokens_issued_at_or_before_it_of_its_party_only() {
        let revocations = Revocations::default();
        let cbp = Token::parse("cbp").unwrap();
        let fbi = Token::parse("fbi").unwrap();
        revocations.apply(&subject(Some("cbp"), "alice", 1_000));
        assert!(revocations.check(None, &cbp, "alice", 999).is_err());
        assert!(revocations.check(Some("01J"), &cbp, "alice", 1_000).is_err());
        assert_eq!(revocations.check(None, &cbp, "alice", 1_001), Ok(()), "issued after the revocation");
        assert_eq!(revocations.check(None, &fbi, "alice", 999), Ok(()), "another party's alice");
        assert_eq!(revocations.check(None, &cbp, "bob", 999), Ok(()));
        revocations.apply(&subject(None, "alice", 2_000));
        assert!(revocations.check(None, &fbi, "alice", 1_500).is_err(), "any party");
        // A late, earlier revocation does not shorten a later one.
        revocations.apply(&subject(Some("cbp"), "alice", 500));
        assert!(revocations.check(None, &cbp, "alice", 900).is_err());
        assert!(subject(Some("cbp"), "alice", 1_000).applies_to(None, &cbp, "alice", 1_000));
        assert!(!subject(Some("cbp"), "alice", 1_000).applies_to(None, &fbi, "alice", 1_000));
    }

    #[test]
    fn removal_and_pruning_forget_revocations() {
        let revocations = Revocations::default();
        let cbp = Token::parse("cbp").unwrap();
        let by_id = Revocation {
            target: RevocationTarget::Token("01ID".into()),
            revoked_at: 1_000,
            reason: "lost laptop".into(),
            revoked_by: "ops".into(),
        };
        revocations.apply(&by_id);
        revocations.apply(&subject(Some("cbp"), "alice", 5_000));
        assert_eq!(revocations.len(), 2);
        assert!(revocations.check(Some("01ID"), &cbp, "x", 0).is_err());
        assert_eq!(revocations.check(Some("01OTHER"), &cbp, "x", 0), Ok(()));
        revocations.prune(1_000 + 60, Duration::from_secs(60));
        assert_eq!(revocations.len(), 2, "still within the horizon");
        revocations.prune(1_000 + 61, Duration::from_secs(60));
        assert_eq!(revocations.check(Some("01ID"), &cbp, "x", 0), Ok(()), "no token it could match is in force");
        assert_eq!(revocations.len(), 1);
        revocations.remove(&RevocationTarget::Subject { party: Some(cbp.clone()), subject: "alice".into() });
        assert!(revocations.is_empty());
        assert_eq!(revocations.check(None, &cbp, "alice", 0), Ok(()));
    }
}
