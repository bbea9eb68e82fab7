//! Token parsing and verification (`identity/token.rs`, `identity/keys.rs`) with a key the target creates.
//!
//! Input: one byte choosing the mode, then
//! - 0: an `authorization` header value, verified; also a hex signature checked against the key;
//! - 1: a JWT payload (any bytes) under a well-formed header, correctly signed: reaches claim validation;
//! - 2: header and payload (split at the first newline), correctly signed: reaches header handling;
//! - 3: structured claims at the edges (lifetimes, times, parties, clearances, nationalities), signed;
//! - 4: a trusted key's PEM and its retirement record (split at the first NUL byte), loaded from files.
#![no_main]

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use liaison::identity::{
    AuthError, Caller, Claims, DEFAULT_MAX_TOKEN_TTL, Issuer, LEEWAY, Role, SigningKey, Verifier, trusted_keys,
    verify_signature,
};
use liaison_fuzz::{COUNTRIES, word};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

struct Keys {
    key: SigningKey,
    issuer: Issuer,
    _dir: tempfile::TempDir,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let key = SigningKey::create_file(&dir.path().join("signing-key.pem")).expect("a new key");
        let issuer = Issuer::new(&key).expect("an issuer");
        Keys { key, issuer, _dir: dir }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    match mode % 5 {
        0 => header(rest),
        1 => {
            let _ = verify(&signed(&default_header(), rest));
        }
        2 => {
            let (header, payload) = split(rest, b'\n');
            let _ = verify(&signed(header, payload));
        }
        3 => {
            let _ = claims(&mut Unstructured::new(rest));
        }
        _ => trusted(rest),
    }
});

fn header(rest: &[u8]) {
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let verifier = Verifier::new(&[&keys().key]).expect("a verifier");
    let first = verifier.verify_header(Some(text));
    assert_eq!(first, verifier.verify_header(Some(text)), "a second look decides differently");
    assert!(!verify_signature(&keys().key.public_pem(), b"liaison-audit-checkpoint", text) || text.len() == 128);
}

/// Verifies twice: the second answer (from the verifier's cache when the first succeeded) must agree,
/// unless the clock's second turned between the two looks (a token at the edge of its lifetime may then
/// legitimately expire or come into force; an unoptimised build takes tens of milliseconds per look).
fn verify(token: &str) -> Result<Caller, AuthError> {
    let verifier = Verifier::new(&[&keys().key]).expect("a verifier");
    let before = unix_now();
    let first = verifier.verify(token);
    let second = verifier.verify(token);
    if unix_now() == before {
        assert_eq!(first, second, "a second look decides differently");
    }
    if let Ok(caller) = &first {
        assert!(caller.nationality.as_deref().is_none_or(liaison::model::countries::is_country));
    }
    first
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs())
}

fn default_header() -> Vec<u8> {
    format!(r#"{{"typ":"JWT","alg":"EdDSA","kid":"{}"}}"#, keys().key.kid()).into_bytes()
}

fn split(bytes: &[u8], at: u8) -> (&[u8], &[u8]) {
    match bytes.iter().position(|&byte| byte == at) {
        Some(at) => (&bytes[..at], &bytes[at + 1..]),
        None => (bytes, &[]),
    }
}

/// A compact JWS of `header` and `payload`, signed with the key (EdDSA over `header.payload`).
fn signed(header: &[u8], payload: &[u8]) -> String {
    let input = format!("{}.{}", base64url(header), base64url(payload));
    let hex = keys().key.sign(input.as_bytes());
    let signature: Vec<u8> =
        (0..hex.len()).step_by(2).map(|at| u8::from_str_radix(&hex[at..at + 2], 16).expect("hex")).collect();
    format!("{input}.{}", base64url(&signature))
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &byte)| n | u32::from(byte) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

fn claims(u: &mut Unstructured<'_>) -> Result<()> {
    let now = unix_now();
    let ttl = DEFAULT_MAX_TOKEN_TTL.as_secs();
    let edges = [
        0,
        1,
        now,
        now - LEEWAY - 1,
        now - LEEWAY,
        now + LEEWAY,
        now + LEEWAY + 1,
        now + ttl,
        now + ttl + 1,
        now - ttl,
        i64::MAX as u64,
        u64::MAX,
    ];
    let time = |u: &mut Unstructured<'_>| -> Result<u64> {
        match u.ratio(7, 8)? {
            true => Ok(*u.choose(&edges)?),
            false => u.arbitrary(),
        }
    };
    let claims = Claims {
        sub: word(u)?,
        party: word(u)?,
        role: *u.choose(&[Role::AgencySystem, Role::Analyst, Role::Operator, Role::Admin])?,
        iss: u.choose(&["liaison", "Liaison", ""])?.to_string(),
        iat: time(u)?,
        exp: time(u)?,
        clearance: match u.int_in_range(0..=2)? {
            0 => None,
            1 => Some(u.choose(&["unclassified", "confidential", "secret", "top-secret"])?.to_string()),
            _ => Some(word(u)?),
        },
        nationality: match u.arbitrary()? {
            true => Some(u.choose(COUNTRIES)?.to_string()),
            false => None,
        },
        law_enforcement: u.arbitrary()?,
        accesses: match u.int_in_range(0..=2)? {
            0 => None,
            1 => Some(vec![u.choose(&["SI", "SI-G", "TK", "SAR-BP"])?.to_string()]),
            _ => Some(vec![word(u)?]),
        },
        jti: match u.arbitrary()? {
            true => Some(ulid::Ulid::new().to_string()),
            false => None,
        },
    };
    let Ok(token) = keys().issuer.issue_claims(&claims) else { return Ok(()) };
    let Ok(caller) = verify(&token) else { return Ok(()) };
    // Accepted: issued by us, not expired, not from the future, within the lifetime cap, as claimed. The
    // verifier read the clock between `now` and `verified_by`.
    let verified_by = unix_now();
    assert_eq!(claims.iss, "liaison");
    assert!(claims.exp + LEEWAY >= now && claims.iat <= verified_by + LEEWAY, "{claims:?}");
    assert!(claims.exp.saturating_sub(claims.iat) <= ttl, "{claims:?}");
    assert_eq!(
        (caller.party.as_str(), caller.role, caller.subject.as_str()),
        (&*claims.party, claims.role, &*claims.sub)
    );
    assert_eq!(caller.nationality, claims.nationality);
    Ok(())
}

/// A trusted key and its retirement record, as `liaison serve` reads them from the data directory.
fn trusted(rest: &[u8]) {
    let (pem, retired) = split(rest, 0);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let keys_dir = dir.path().join("trusted-keys");
    std::fs::create_dir(&keys_dir).expect("trusted-keys");
    std::fs::write(keys_dir.join("other.pem"), pem).expect("the key file");
    if !retired.is_empty() {
        std::fs::write(keys_dir.join("other.retired.toml"), retired).expect("the retirement record");
    }
    if let Ok(keys) = trusted_keys(dir.path()) {
        let _ = Verifier::new(&[]).and_then(|verifier| verifier.trust_keys(&keys));
    }
}
