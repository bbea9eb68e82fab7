//! Bearer tokens: claims, roles, minting and verification.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dashmap::DashMap;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::SigningKey;
use crate::model::{Classification, PartyId, Token};

/// Issuer name written into and required in every token.
const ISSUER: &str = "liaison";

/// What a caller may do. Each RPC checks the role.
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
}

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token: send `authorization: Bearer <token>` metadata")]
    Missing,
    #[error("malformed authorization header: expected `Bearer <token>`")]
    Malformed,
    #[error("token signed with unknown key id {0:?}")]
    UnknownKey(String),
    #[error("token expired")]
    Expired,
    #[error("invalid token: {0}")]
    Invalid(String),
}

/// Mints tokens with the gateway's signing key.
pub struct Issuer {
    kid: String,
    key: EncodingKey,
}

/// Verifies tokens against known keys.
#[derive(Clone)]
pub struct Verifier {
    keys: HashMap<String, DecodingKey>,
    validation: Validation,
    /// Tokens whose signature was checked, with their expiry: a client sends the same token on every
    /// request, and an Ed25519 check took ~40% of the gateway's CPU under unary load. Shared by clones.
    verified: Arc<DashMap<String, (Caller, u64)>>,
}

/// Most verified tokens remembered; beyond it, expired ones are dropped and new ones checked every time.
const MAX_VERIFIED_TOKENS: usize = 10_000;
/// Seconds of clock skew allowed on expiry.
const LEEWAY: u64 = 5;

// === impl Role ===

impl Role {
    pub fn may_publish(self) -> bool {
        matches!(self, Role::AgencySystem)
    }

    pub fn may_subscribe(self) -> bool {
        matches!(self, Role::AgencySystem | Role::Analyst)
    }

    /// May use the operator services (metadata only).
    pub fn may_operate(self) -> bool {
        matches!(self, Role::Operator | Role::Admin)
    }

    pub fn name(self) -> &'static str {
        match self {
            Role::AgencySystem => "agency-system",
            Role::Analyst => "analyst",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

// === impl Issuer ===

impl Issuer {
    pub fn new(signing_key: &SigningKey) -> Result<Issuer, AuthError> {
        let key = EncodingKey::from_ed_pem(signing_key.private_pem().as_bytes())
            .map_err(|error| AuthError::Invalid(error.to_string()))?;
        Ok(Issuer { kid: signing_key.kid().to_string(), key })
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
            ttl,
        };
        self.grant(&grant)
    }

    /// Mints a token for a grant, including personal clearance and nationality.
    pub fn grant(&self, grant: &Grant) -> Result<String, AuthError> {
        let now = unix_now();
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
        };
        self.issue_claims(&claims)
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
    /// A verifier that trusts the given keys.
    pub fn new(keys: &[&SigningKey]) -> Result<Verifier, AuthError> {
        let mut decoding = HashMap::new();
        for key in keys {
            let public = DecodingKey::from_ed_pem(key.public_pem().as_bytes())
                .map_err(|error| AuthError::Invalid(error.to_string()))?;
            decoding.insert(key.kid().to_string(), public);
        }
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = LEEWAY;
        Ok(Verifier { keys: decoding, validation, verified: Arc::default() })
    }

    /// Also trusts public keys (SPKI PEM) by key id: earlier signing keys kept after a rotation, or other
    /// gateways' keys.
    pub fn trust(mut self, public_keys: &[(String, String)]) -> Result<Verifier, AuthError> {
        for (kid, pem) in public_keys {
            let public =
                DecodingKey::from_ed_pem(pem.as_bytes()).map_err(|error| AuthError::Invalid(error.to_string()))?;
            self.keys.insert(kid.clone(), public);
        }
        Ok(self)
    }

    /// Checks an `authorization` header value and returns the caller.
    pub fn verify_header(&self, header: Option<&str>) -> Result<Caller, AuthError> {
        let header = header.ok_or(AuthError::Missing)?;
        let token =
            header.strip_prefix("Bearer ").or_else(|| header.strip_prefix("bearer ")).ok_or(AuthError::Malformed)?;
        self.verify(token.trim())
    }

    /// Checks a token's signature, issuer and expiry, and that its party is a valid token. A token checked
    /// before is only checked for expiry again.
    pub fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let now = unix_now();
        if let Some(entry) = self.verified.get(token) {
            let (caller, exp) = entry.value();
            return match now.saturating_sub(LEEWAY) <= *exp {
                true => Ok(caller.clone()),
                false => Err(AuthError::Expired),
            };
        }
        let (caller, exp) = self.verify_signed(token)?;
        if self.verified.len() >= MAX_VERIFIED_TOKENS {
            self.verified.retain(|_, (_, exp)| now.saturating_sub(LEEWAY) <= *exp);
        }
        if self.verified.len() < MAX_VERIFIED_TOKENS {
            self.verified.insert(token.to_string(), (caller.clone(), exp));
        }
        Ok(caller)
    }

    fn verify_signed(&self, token: &str) -> Result<(Caller, u64), AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|error| AuthError::Invalid(error.to_string()))?;
        let kid = header.kid.unwrap_or_default();
        let key = self.keys.get(&kid).ok_or_else(|| AuthError::UnknownKey(kid.clone()))?;
        let data =
            jsonwebtoken::decode::<Claims>(token, key, &self.validation).map_err(|error| match error.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
                _ => AuthError::Invalid(error.to_string()),
            })?;
        let claims = data.claims;
        let party = Token::parse(&claims.party).map_err(|error| AuthError::Invalid(format!("party: {error}")))?;
        let clearance = claims
            .clearance
            .map(|name| {
                Classification::from_name(&name)
                    .ok_or_else(|| AuthError::Invalid(format!("clearance: unknown level {name:?}")))
            })
            .transpose()?;
        if let Some(nationality) = &claims.nationality
            && (nationality.len() != 3 || !nationality.bytes().all(|b| b.is_ascii_uppercase()))
        {
            return Err(AuthError::Invalid(format!("nationality: {nationality:?} is not an ISO 3166 alpha-3 code")));
        }
        let caller = Caller {
            party,
            role: claims.role,
            subject: claims.sub,
            clearance,
            nationality: claims.nationality,
            law_enforcement: claims.law_enforcement,
        };
        Ok((caller, claims.exp))
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|elapsed| elapsed.as_secs()).unwrap_or(0)
}

#[cfg(test)]
mod tests;
