//! Token minting and verification: round trip and every rejection; lifetime cap, revocation and retired
//! keys in `tests/ending.rs`.
use super::*;

mod ending;

fn new_key() -> (tempfile::TempDir, SigningKey) {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::load_or_create(dir.path()).unwrap();
    (dir, key)
}

#[test]
fn round_trip() {
    let (_dir, key) = new_key();
    let issuer = Issuer::new(&key).unwrap();
    let verifier = Verifier::new(&[&key]).unwrap();
    let party = Token::parse("cbp").unwrap();
    let token = issuer.issue(&party, Role::AgencySystem, "cbp-ingest", Duration::from_secs(60)).unwrap();
    let caller = verifier.verify_header(Some(&format!("Bearer {token}"))).unwrap();
    assert_eq!(
        caller,
        Caller {
            party,
            role: Role::AgencySystem,
            subject: "cbp-ingest".into(),
            clearance: None,
            nationality: None,
            law_enforcement: None,
            accesses: None,
        }
    );
}

#[test]
fn rejections() {
    let (_dir, key) = new_key();
    let (_other_dir, other) = new_key();
    let issuer = Issuer::new(&key).unwrap();
    let verifier = Verifier::new(&[&key]).unwrap();
    let expired = Claims { exp: 2, iat: 1, ..issuer_claims() };
    let expired = issuer.issue_claims(&expired).unwrap();
    assert_eq!(verifier.verify(&expired), Err(AuthError::Expired));
    let foreign =
        Issuer::new(&other).unwrap().issue(&Token::parse("cbp").unwrap(), Role::Admin, "x", Duration::from_secs(60));
    assert!(matches!(verifier.verify(&foreign.unwrap()), Err(AuthError::UnknownKey(_))));
    assert_eq!(verifier.verify_header(None), Err(AuthError::Missing));
    assert_eq!(verifier.verify_header(Some("Basic abc")), Err(AuthError::Malformed));
    assert!(matches!(verifier.verify("not.a.jwt"), Err(AuthError::Invalid(_))));
    let bad_party = Claims { party: "CBP.>".into(), exp: unix_now() + 60, ..issuer_claims() };
    assert!(matches!(verifier.verify(&issuer.issue_claims(&bad_party).unwrap()), Err(AuthError::Invalid(_))));
}

fn issuer_claims() -> Claims {
    Claims {
        sub: "x".into(),
        party: "cbp".into(),
        role: Role::Analyst,
        iss: ISSUER.into(),
        // Issued now: a token's lifetime (`exp - iat`) is checked against the cap.
        iat: unix_now(),
        exp: 0,
        clearance: None,
        nationality: None,
        law_enforcement: None,
        accesses: None,
        jti: None,
    }
}

#[test]
fn key_is_persistent_and_private() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, key) = new_key();
    let again = SigningKey::load(dir.path()).unwrap();
    assert_eq!(key.kid(), again.kid());
    let mode =
        std::fs::metadata(dir.path().join(crate::identity::keys::SIGNING_KEY_FILE)).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn personal_clearance_and_nationality_travel_in_the_token() {
    let (_dir, key) = new_key();
    let issuer = Issuer::new(&key).unwrap();
    let verifier = Verifier::new(&[&key]).unwrap();
    let grant = Grant {
        party: Token::parse("ia").unwrap(),
        role: Role::Analyst,
        subject: "analyst-7".into(),
        clearance: Some(crate::model::Classification::Confidential),
        nationality: Some("USA".into()),
        law_enforcement: Some(false),
        accesses: None,
        ttl: Duration::from_secs(60),
    };
    let caller = verifier.verify(&issuer.grant(&grant).unwrap()).unwrap();
    assert_eq!(caller.clearance, Some(crate::model::Classification::Confidential));
    assert_eq!(caller.nationality.as_deref(), Some("USA"));
    assert_eq!(caller.law_enforcement, Some(false));
    // A token that does not state it leaves it to the party.
    let unstated = verifier.verify(&issuer.issue_claims(&Claims { exp: unix_now() + 60, ..issuer_claims() }).unwrap());
    assert_eq!(unstated.unwrap().law_enforcement, None);
    let bad = Claims { clearance: Some("cosmic".into()), exp: unix_now() + 60, ..issuer_claims() };
    assert!(matches!(verifier.verify(&issuer.issue_claims(&bad).unwrap()), Err(AuthError::Invalid(_))));
    let bad = Claims { nationality: Some("us".into()), exp: unix_now() + 60, ..issuer_claims() };
    assert!(matches!(verifier.verify(&issuer.issue_claims(&bad).unwrap()), Err(AuthError::Invalid(_))));
}

#[test]
fn rotation_keeps_tokens_of_the_previous_key_valid() {
    let (dir, old_key) = new_key();
    let party = Token::parse("cbp").unwrap();
    let old_token =
        Issuer::new(&old_key).unwrap().issue(&party, Role::AgencySystem, "x", Duration::from_secs(60)).unwrap();
    let new_key = SigningKey::rotate(dir.path()).unwrap();
    assert_ne!(new_key.kid(), old_key.kid());
    assert_eq!(SigningKey::load(dir.path()).unwrap().kid(), new_key.kid());
    let trusted = crate::identity::trusted_public_keys(dir.path()).unwrap();
    assert_eq!(trusted.iter().map(|(kid, _)| kid.as_str()).collect::<Vec<_>>(), [old_key.kid()]);
    let verifier = Verifier::new(&[&new_key]).unwrap().trust(&trusted).unwrap();
    assert_eq!(verifier.verify(&old_token).unwrap().party, party);
    let new_token =
        Issuer::new(&new_key).unwrap().issue(&party, Role::AgencySystem, "x", Duration::from_secs(60)).unwrap();
    assert_eq!(verifier.verify(&new_token).unwrap().party, party);
    // Without the trusted key the old token is refused.
    let strict = Verifier::new(&[&new_key]).unwrap();
    assert!(matches!(strict.verify(&old_token), Err(AuthError::UnknownKey(_))));
}

#[test]
fn a_tampered_token_with_a_known_key_id_is_refused() {
    let (_dir, key) = new_key();
    let issuer = Issuer::new(&key).unwrap();
    let verifier = Verifier::new(&[&key]).unwrap();
    let token = issuer.issue(&Token::parse("cbp").unwrap(), Role::AgencySystem, "x", Duration::from_secs(60)).unwrap();
    // Swap the payload for one claiming another party, keeping header (and key id) and signature.
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    let forged = Claims { party: "fbi".into(), role: Role::Admin, exp: unix_now() + 60, ..issuer_claims() };
    let forged_token = issuer.issue_claims(&forged).unwrap();
    parts[1] = forged_token.split('.').nth(1).unwrap().to_string();
    let tampered = parts.join(".");
    assert!(matches!(verifier.verify(&tampered), Err(AuthError::Invalid(_))), "{:?}", verifier.verify(&tampered));
    assert!(verifier.verify(&token).is_ok());
}

#[test]
fn a_remembered_token_is_still_refused_once_it_expires() {
    let (_dir, key) = new_key();
    let issuer = Issuer::new(&key).unwrap();
    let verifier = Verifier::new(&[&key]).unwrap();
    // Valid now, expired (past the leeway) when the clock moves: simulated by planting the cache entry's
    // expiry in the past after a first, real verification.
    let token = issuer.issue_claims(&Claims { exp: unix_now() + 60, ..issuer_claims() }).unwrap();
    let caller = verifier.verify(&token).unwrap();
    let clone = verifier.clone();
    assert_eq!(clone.verified.len(), 1, "clones share what was verified");
    assert_eq!(clone.verify(&token), Ok(caller.clone()));
    clone.verified.get_mut(&token).unwrap().exp = unix_now() - LEEWAY - 1;
    assert_eq!(verifier.verify(&token), Err(AuthError::Expired));
    // A token differing in one character is never taken for a remembered one.
    let mut tampered = token.clone();
    tampered.pop();
    assert!(verifier.verify(&tampered).is_err());
}

#[test]
fn the_remembered_tokens_are_bounded() {
    let (_dir, key) = new_key();
    let issuer = Issuer::new(&key).unwrap();
    let verifier = Verifier::new(&[&key]).unwrap();
    let caller = verifier.verify(&issuer.issue_claims(&Claims { exp: unix_now() + 60, ..issuer_claims() }).unwrap());
    let caller = caller.unwrap();
    for index in 1..MAX_VERIFIED_TOKENS {
        let planted = Verified { caller: caller.clone(), exp: unix_now() + 60, iat: 0, jti: None, retired: None };
        verifier.verified.insert(format!("planted-{index}"), planted);
    }
    let fresh = issuer.issue_claims(&Claims { exp: unix_now() + 120, ..issuer_claims() }).unwrap();
    assert_eq!(verifier.verify(&fresh), Ok(caller), "still verified when the memory is full");
    assert_eq!(verifier.verified.len(), MAX_VERIFIED_TOKENS);
    assert!(!verifier.verified.contains_key(&fresh), "not remembered while full of live tokens");
}
