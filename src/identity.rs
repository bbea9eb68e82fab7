//! Identity: who is calling. Signed bearer tokens (Ed25519 JWT) carry the caller's party, role and subject.
//!
//! `liaison serve` creates a signing key in its data directory on first start; `liaison token issue` mints
//! tokens with it. Verification keys are looked up by key id (`kid`), so keys can be rotated later.
//! `authorization` is the one table of who may call which RPC for whose party.

pub mod authorization;
mod keys;
mod token;

pub use keys::{KeyError, SigningKey, trusted_public_keys, verify_signature};
pub use token::{AuthError, Caller, Claims, Grant, Issuer, Role, Verifier};
