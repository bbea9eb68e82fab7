//! Identity: who is calling. Signed bearer tokens (Ed25519 JWT) carry the caller's party, role and subject.
//!
//! `liaison serve` creates a signing key in its data directory on first start; `liaison token issue` mints
//! tokens with it. Verification keys are looked up by key id (`kid`), so keys can be rotated later.
//! `authorization` is the one table of who may call which RPC for whose party.
//!
//! Tokens end: every token carries `iat` and a lifetime no longer than `--max-token-ttl`, a rotated-out
//! key verifies only for `--retired-key-grace` after its retirement, and a token can be revoked by id
//! (`jti`) or by subject (`Revocations`, filled from NATS by `bus/revocations.rs`).

pub mod authorization;
mod keys;
mod revocation;
mod token;

pub use keys::{KeyError, SigningKey, TrustedKey, trusted_keys, trusted_public_keys, verify_signature};
pub use revocation::{Revocation, RevocationTarget, Revocations};
pub use token::{AuthError, Caller, Claims, DEFAULT_MAX_TOKEN_TTL, Grant, Issuer, LEEWAY, Role, Verifier};
