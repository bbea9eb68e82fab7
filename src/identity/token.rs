//! Bearer tokens: claims, roles, minting and verification.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dashmap::DashMap;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::{Revocations, SigningKey, TrustedKey};
use crate::model::{Accesses, Classification, PartyId, Token};

/// Issuer name written into and required in every token.
const ISSUER: &str = "liaison";

/// What a caller is. What each role may do, and for whose party, is `identity::authorization`'s table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// A system of a party: publishes as its party and reads its party's feeds.
    AgencySystem,
    /// A person reading the feeds delivered to their party.
    Analyst,
    /// Watches traffic metadata, never content.
    Operator,
    /// Manages policy, directory and tokens.
    Admin,
    /// A foreign disclosure and release officer: decides the RELIDO material held for review.
    DisclosureOfficer,
    /// A liaison officer of a party (an I&A LNO at a host agency, a resident LNO at I&A, a fusion liaison
    /// officer): works the party's RFIs and transfers one to the party that can answer it.
    LiaisonOfficer,
    /// A monitoring system (Prometheus): scrapes the admin port's `/metrics`, its party's series only
    /// unless its party has oversight, and nothing else.
    Monitor,
}

/// The claims of a Liaison token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The person or system the token was issued to.
    pub sub: String,
    pub party: String,
    pub role: Role,
    pub iss: String,
    pub iat: u64,
    pub exp: u64,
    /// The person's own clearance (`unclassified` ... `top-secret`), which may be below the party's
    /// accreditation; deliveries above it are withheld.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clearance: Option<String>,
    /// The person's nationality (ISO 3166 alpha-3), checked against NOFORN and REL TO at delivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nationality: Option<String>,
    /// Whether the person may receive law-enforcement-sensitive (LES) material; unset takes the party's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub law_enforcement: Option<bool>,
    /// The SCI controls and special access programs the person is read into (`SI`, `SI-G`, `SAR-BP`);
    /// unset takes the party's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accesses: Option<Vec<String>>,
    /// The token's id (a ULID), by which `liaison token revoke --id` revokes it. Tokens minted before
    /// token ids existed have none and can be revoked by subject only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

/// What a new token grants.
#[derive(Debug, Clone)]
pub struct Grant {
    pub party: PartyId,
    pub role: Role,
    pub subject: String,
    pub clearance: Option<Classification>,
    pub nationality: Option<String>,
    pub law_enforcement: Option<bool>,
    /// The person's SCI and SAP accesses; `None` takes the party's.
    pub accesses: Option<Accesses>,
    pub ttl: Duration,
}

/// A verified caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub party: PartyId,
    pub role: Role,
    pub subject: String,
    /// Personal clearance, if the token limits it.
    pub clearance: Option<Classification>,
    /// Personal nationality, if the token states it.
    pub nationality: Option<String>,
    /// Personal law-enforcement eligibility (for LES), if the token states it.
    pub law_enforcement: Option<bool>,
    /// Personal SCI and SAP accesses, if the token states them.
    pub accesses: Option<Accesses>,
}

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token: send an `authorization: Bearer <token>` header (gRPC metadata)")]
    Missing,
    #[error("malformed authorization header: expected `Bearer <token>`")]
    Malformed,
    #[error("token signed with unknown key id {0:?}")]
    UnknownKey(String),
    #[error("token expired")]
    Expired,
    #[error("invalid token: {0}")]
    Invalid(String),
    #[error("token lifetime {lifetime} exceeds the longest allowed, {cap} (--max-token-ttl)")]
    TooLong { lifetime: String, cap: String },
    #[error("token revoked: {0}")]
    Revoked(String),
    #[error(
        "token signed with key id {kid:?}, which was retired at {retired_at}; a retired key is trusted for {grace} (--retired-key-grace)"
    )]
    RetiredKey { kid: String, retired_at: String, grace: String },
}

/// Mints tokens with the gateway's signing key.
pub struct Issuer {
    kid: String,
    key: EncodingKey,
    /// Longest lifetime a grant may ask for; gateways refuse longer tokens anyway.
    max_ttl: Duration,
}

/// Verifies tokens against known keys.
#[derive(Clone)]
pub struct Verifier {
    keys: HashMap<String, KnownKey>,
    validation: Validation,
    /// Longest lifetime (`exp - iat`) accepted, whatever the signature: a leaked token ends within it.
    max_ttl: Duration,
    /// How long after its retirement a rotated-out key still verifies.
    retired_key_grace: Duration,
    /// Revoked token ids and subjects, consulted on every verification (cached tokens too).
    revocations: Revocations,
    /// Tokens whose signature was checked, with what is re-checked on every use: a client sends the same
    /// token on every request, and an Ed25519 check took ~40% of the gateway's CPU under unary load.
    /// Shared by clones.
    verified: Arc<DashMap<String, Verified>>,
}

/// A public key tokens verify against.
#[derive(Clone)]
struct KnownKey {
    decoding: DecodingKey,
    /// Set for a key retired by a rotation (Unix seconds): trusted only for the grace after it.
    retired_at: Option<u64>,
}

/// A token whose signature and claims were checked once.
#[derive(Debug, Clone)]
struct Verified {
    caller: Caller,
    exp: u64,
    iat: u64,
    jti: Option<String>,
    /// The retired key that signed it, and when it was retired.
    retired: Option<(String, u64)>,
}

/// Default of `--max-token-ttl`: the longest token lifetime issued and accepted.
pub const DEFAULT_MAX_TOKEN_TTL: Duration = Duration::from_secs(30 * 86_400);

/// Most verified tokens remembered; beyond it, expired ones are dropped and new ones checked every time.
const MAX_VERIFIED_TOKENS: usize = 10_000;
/// Seconds of clock skew allowed on expiry.
pub const LEEWAY: u64 = 5;

// === impl Role ===

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::AgencySystem => "agency-system",
            Role::Analyst => "analyst",
            Role::Operator => "operator",
            Role::Admin => "admin",
            Role::DisclosureOfficer => "disclosure-officer",
            Role::LiaisonOfficer => "liaison-officer",
            Role::Monitor => "monitor",
        }
    }
}

// === impl Issuer ===

impl Issuer {
    pub fn new(signing_key: &SigningKey) -> Result<Issuer, AuthError> {
        let key = EncodingKey::from_ed_pem(signing_key.private_pem().as_bytes())
            .map_err(|error| AuthError::Invalid(error.to_string()))?;
        Ok(Issuer { kid: signing_key.kid().to_string(), key, max_ttl: DEFAULT_MAX_TOKEN_TTL })
    }

    /// Refuses grants longer than `max_ttl` (the gateways' `--max-token-ttl`).
    pub fn with_max_ttl(mut self, max_ttl: Duration) -> Issuer {
        self.max_ttl = max_ttl;
        self
    }

    /// Mints a token for `subject` acting for `party` in `role`, valid for `ttl`.
    pub fn issue(&self, party: &PartyId, role: Role, subject: &str, ttl: Duration) -> Result<String, AuthError> {
        let grant = Grant {
            party: party.clone(),
            role,
            subject: subject.to_string(),
            clearance: None,
            nationality: None,
            law_enforcement: None,
            accesses: None,
            ttl,
        };
        self.grant(&grant)
    }

    /// Mints a token for a grant, including personal clearance and nationality, with a new token id.
    /// Refuses a lifetime above the cap.
    pub fn grant(&self, grant: &Grant) -> Result<String, AuthError> {
        self.grant_with_id(grant).map(|(token, _)| token)
    }

    /// Like [`Issuer::grant`], also returning the token's id (`jti`), by which it can be revoked.
    pub fn grant_with_id(&self, grant: &Grant) -> Result<(String, String), AuthError> {
        check_lifetime(grant.ttl.as_secs(), self.max_ttl)?;
        let now = unix_now();
        let jti = ulid::Ulid::new().to_string();
        let claims = Claims {
            sub: grant.subject.clone(),
            party: grant.party.to_string(),
            role: grant.role,
            iss: ISSUER.to_string(),
            iat: now,
            exp: now + grant.ttl.as_secs().max(1),
            clearance: grant.clearance.map(|level| level.name().to_string()),
            nationality: grant.nationality.clone(),
            law_enforcement: grant.law_enforcement,
            accesses: grant.accesses.as_ref().map(|accesses| accesses.iter().map(str::to_string).collect()),
            jti: Some(jti.clone()),
        };
        Ok((self.issue_claims(&claims)?, jti))
    }

    /// Signs arbitrary claims; tests use it for expired and malformed tokens.
    pub fn issue_claims(&self, claims: &Claims) -> Result<String, AuthError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key).map_err(|error| AuthError::Invalid(error.to_string()))
    }
}

// === impl Verifier ===

impl Verifier {
    /// A verifier that trusts the given keys, with the default lifetime cap and grace and no revocations.
    pub fn new(keys: &[&SigningKey]) -> Result<Verifier, AuthError> {
        let mut verifier = Verifier {
            keys: HashMap::new(),
            validation: Validation::new(Algorithm::EdDSA),
            max_ttl: DEFAULT_MAX_TOKEN_TTL,
            retired_key_grace: DEFAULT_MAX_TOKEN_TTL,
            revocations: Revocations::default(),
            verified: Arc::default(),
        };
        for key in keys {
            verifier.insert_key(key.kid(), &key.public_pem(), None)?;
        }
        verifier.validation.set_issuer(&[ISSUER]);
        verifier.validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        verifier.validation.leeway = LEEWAY;
        Ok(verifier)
    }

    /// Also trusts public keys (SPKI PEM) by key id: other gateways' keys, trusted until removed.
    pub fn trust(mut self, public_keys: &[(String, String)]) -> Result<Verifier, AuthError> {
        for (kid, pem) in public_keys {
            self.insert_key(kid, pem, None)?;
        }
        Ok(self)
    }

    /// Also trusts a data directory's trusted keys: a key retired by a rotation only for the retired-key
    /// grace after its retirement, others until removed.
    pub fn trust_keys(mut self, keys: &[TrustedKey]) -> Result<Verifier, AuthError> {
        for key in keys {
            self.insert_key(&key.kid, &key.public_pem, key.retired_at)?;
        }
        Ok(self)
    }

    /// Refuses tokens whose lifetime (`exp - iat`) exceeds `max_ttl`.
    pub fn with_max_ttl(mut self, max_ttl: Duration) -> Verifier {
        self.max_ttl = max_ttl;
        self
    }

    /// Trusts a retired key for `grace` after its retirement.
    pub fn with_retired_key_grace(mut self, grace: Duration) -> Verifier {
        self.retired_key_grace = grace;
        self
    }

    /// Consults `revocations` on every verification.
    pub fn with_revocations(mut self, revocations: Revocations) -> Verifier {
        self.revocations = revocations;
        self
    }

    fn insert_key(&mut self, kid: &str, pem: &str, retired_at: Option<u64>) -> Result<(), AuthError> {
        let decoding =
            DecodingKey::from_ed_pem(pem.as_bytes()).map_err(|error| AuthError::Invalid(error.to_string()))?;
        self.keys.insert(kid.to_string(), KnownKey { decoding, retired_at });
        Ok(())
    }

    /// Checks an `authorization` header value and returns the caller.
    pub fn verify_header(&self, header: Option<&str>) -> Result<Caller, AuthError> {
        let header = header.ok_or(AuthError::Missing)?;
        let token =
            header.strip_prefix("Bearer ").or_else(|| header.strip_prefix("bearer ")).ok_or(AuthError::Malformed)?;
        self.verify(token.trim())
    }

    /// Checks a token's signature, issuer, expiry and lifetime, its key's retirement, that its party is a
    /// valid token, and that it is not revoked. A token checked before skips the signature; expiry, key
    /// retirement and revocation are checked again on every call.
    pub fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let now = unix_now();
        if let Some(entry) = self.verified.get(token) {
            self.still_valid(entry.value(), now)?;
            return Ok(entry.value().caller.clone());
        }
        let verified = self.verify_signed(token)?;
        self.still_valid(&verified, now)?;
        if self.verified.len() >= MAX_VERIFIED_TOKENS {
            self.verified.retain(|_, verified| now.saturating_sub(LEEWAY) <= verified.exp);
        }
        let caller = verified.caller.clone();
        if self.verified.len() < MAX_VERIFIED_TOKENS {
            self.verified.insert(token.to_string(), verified);
        }
        Ok(caller)
    }

    /// What can change after a token's signature was checked: the clock, and revocations.
    fn still_valid(&self, verified: &Verified, now: u64) -> Result<(), AuthError> {
        if now.saturating_sub(LEEWAY) > verified.exp {
            return Err(AuthError::Expired);
        }
        if let Some((kid, retired_at)) = &verified.retired {
            check_retired_key(kid, *retired_at, self.retired_key_grace, now)?;
        }
        let caller = &verified.caller;
        self.revocations.check(verified.jti.as_deref(), &caller.party, &caller.subject, verified.iat)
    }

    fn verify_signed(&self, token: &str) -> Result<Verified, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|error| AuthError::Invalid(error.to_string()))?;
        let kid = header.kid.unwrap_or_default();
        let key = self.keys.get(&kid).ok_or_else(|| AuthError::UnknownKey(kid.clone()))?;
        let data =
            jsonwebtoken::decode::<Claims>(token, &key.decoding, &self.validation).map_err(|error| {
                match error.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
                    _ => AuthError::Invalid(error.to_string()),
                }
            })?;
        let claims = data.claims;
        check_lifetime(claims.exp.saturating_sub(claims.iat), self.max_ttl)?;
        // A subject revocation covers tokens issued until it; an `iat` in the future would escape it.
        if claims.iat > unix_now() + LEEWAY {
            return Err(AuthError::Invalid("iat: issued in the future".into()));
        }
        let party = Token::parse(&claims.party).map_err(|error| AuthError::Invalid(format!("party: {error}")))?;
        let clearance = claims
            .clearance
            .map(|name| {
                Classification::from_name(&name)
                    .ok_or_else(|| AuthError::Invalid(format!("clearance: unknown level {name:?}")))
            })
            .transpose()?;
        if let Some(nationality) = &claims.nationality
            && !crate::model::countries::is_country(nationality)
        {
            return Err(AuthError::Invalid(format!(
                "nationality: {nationality:?} is not a country of the ISM REL TO vocabulary (ISO 3166 alpha-3)"
            )));
        }
        let accesses = claims
            .accesses
            .map(|accesses| Accesses::parse(accesses).map_err(|why| AuthError::Invalid(format!("accesses: {why}"))))
            .transpose()?;
        let caller = Caller {
            party,
            role: claims.role,
            subject: claims.sub,
            clearance,
            nationality: claims.nationality,
            law_enforcement: claims.law_enforcement,
            accesses,
        };
        let retired = key.retired_at.map(|retired_at| (kid, retired_at));
        Ok(Verified { caller, exp: claims.exp, iat: claims.iat, jti: claims.jti, retired })
    }
}

/// Refuses a token lifetime (seconds) above the cap.
fn check_lifetime(lifetime: u64, cap: Duration) -> Result<(), AuthError> {
    match lifetime <= cap.as_secs() {
        true => Ok(()),
        false => Err(AuthError::TooLong { lifetime: in_days(Duration::from_secs(lifetime)), cap: in_days(cap) }),
    }
}

/// Refuses a token of a key retired at `retired_at` once the grace after it has passed. No token of that
/// key can rightly outlive it: the newest was issued before the retirement and lived at most the cap.
fn check_retired_key(kid: &str, retired_at: u64, grace: Duration, now: u64) -> Result<(), AuthError> {
    match now.saturating_sub(LEEWAY) <= retired_at.saturating_add(grace.as_secs()) {
        true => Ok(()),
        false => {
            Err(AuthError::RetiredKey { kid: kid.to_string(), retired_at: rfc3339(retired_at), grace: in_days(grace) })
        }
    }
}

/// A duration for messages, counted in days (not humantime's 30.44-day months) as `--max-token-ttl` is.
fn in_days(duration: Duration) -> String {
    let (days, rest) = (duration.as_secs() / 86_400, Duration::from_secs(duration.as_secs() % 86_400));
    match (days, rest.is_zero()) {
        (0, _) => humantime::format_duration(rest).to_string(),
        (days, true) => format!("{days}days"),
        (days, false) => format!("{days}days {}", humantime::format_duration(rest)),
    }
}

/// Unix seconds as RFC 3339, for messages.
pub(super) fn rfc3339(seconds: u64) -> String {
    i64::try_from(seconds)
        .ok()
        .and_then(|seconds| time::OffsetDateTime::from_unix_timestamp(seconds).ok())
        .and_then(|at| at.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| seconds.to_string())
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|elapsed| elapsed.as_secs()).unwrap_or(0)
}

#[cfg(test)]
mod tests;
