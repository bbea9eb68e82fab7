//! Tokens end: the lifetime cap at issue and at verify, revocation by id and by subject (cached tokens
//! too), and retired keys inside and after their grace.
use super::*;
use crate::identity::{Revocation, RevocationTarget, Revocations, trusted_keys};

const HOUR: Duration = Duration::from_secs(3600);

fn grant(subject: &str, ttl: Duration) -> Grant {
    Grant {
        party: Token::parse("cbp").unwrap(),
        role: Role::AgencySystem,
        subject: subject.into(),
        clearance: None,
        nationality: None,
        law_enforcement: None,
        accesses: None,
        ttl,
    }
}

fn revoke(target: RevocationTarget, revoked_at: u64) -> Revocation {
    Revocation { target, revoked_at, reason: "test".into(), revoked_by: "tester".into() }
}

#[test]
fn a_lifetime_over_the_cap_is_refused_at_issue() {
    let (_dir, key) = new_key();
    let issuer = Issuer::new(&key).unwrap().with_max_ttl(HOUR);
    assert!(issuer.grant(&grant("x", HOUR)).is_ok(), "the cap itself is allowed");
    let error = issuer.grant(&grant("x", HOUR + Duration::from_secs(1))).unwrap_err();
    assert_eq!(error, AuthError::TooLong { lifetime: "1h 1s".into(), cap: "1h".into() });
    assert!(error.to_string().contains("--max-token-ttl"), "{error}");
    // The default cap is a month.
    let default = Issuer::new(&key).unwrap();
    assert!(default.grant(&grant("x", DEFAULT_MAX_TOKEN_TTL)).is_ok());
    assert!(matches!(default.grant(&grant("x", DEFAULT_MAX_TOKEN_TTL * 2)), Err(AuthError::TooLong { .. })));
}

#[test]
fn a_lifetime_over_the_cap_is_refused_at_verify_whatever_the_signature() {
    let (_dir, key) = new_key();
    let issuer = Issuer::new(&key).unwrap();
    let now = unix_now();
    let month_and_a_day = Claims { iat: now, exp: now + 31 * 86_400, ..issuer_claims() };
    let token = issuer.issue_claims(&month_and_a_day).unwrap();
    let verifier = Verifier::new(&[&key]).unwrap();
    let error = verifier.verify(&token).unwrap_err();
    assert_eq!(error, AuthError::TooLong { lifetime: "31days".into(), cap: "30days".into() });
    // A lower cap refuses what the default accepts.
    let two_hours = issuer.grant(&grant("x", 2 * HOUR)).unwrap();
    assert!(verifier.verify(&two_hours).is_ok());
    let strict = Verifier::new(&[&key]).unwrap().with_max_ttl(HOUR);
    assert!(matches!(strict.verify(&two_hours), Err(AuthError::TooLong { .. })));
    // A token without `iat` has no lifetime to check and is refused.
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(key.kid().to_string());
    let claims = serde_json::json!({"sub": "x", "party": "cbp", "role": "analyst", "iss": ISSUER, "exp": now + 60});
    let without_iat = jsonwebtoken::encode(&header, &claims, &issuer.key).unwrap();
    assert!(matches!(verifier.verify(&without_iat), Err(AuthError::Invalid(_))));
    // Nor is one issued in the future, which a subject revocation would not cover.
    let future = issuer.issue_claims(&Claims { iat: now + 600, exp: now + 700, ..issuer_claims() }).unwrap();
    assert_eq!(verifier.verify(&future), Err(AuthError::Invalid("iat: issued in the future".into())));
}

#[test]
fn every_granted_token_has_its_own_id() {
    let (_dir, key) = new_key();
    let issuer = Issuer::new(&key).unwrap();
    let (first, first_id) = issuer.grant_with_id(&grant("x", HOUR)).unwrap();
    let (_, second_id) = issuer.grant_with_id(&grant("x", HOUR)).unwrap();
    assert_ne!(first_id, second_id);
    assert!(ulid::Ulid::from_string(&first_id).is_ok());
    let verifier = Verifier::new(&[&key]).unwrap();
    let header = jsonwebtoken::decode_header(&first).unwrap();
    assert_eq!(header.kid.as_deref(), Some(key.kid()));
    let claims = jsonwebtoken::decode::<Claims>(&first, &verifier.keys[key.kid()].decoding, &verifier.validation);
    assert_eq!(claims.unwrap().claims.jti, Some(first_id));
}

#[test]
fn a_token_revoked_by_id_is_refused_even_when_remembered() {
    let (_dir, key) = new_key();
    let issuer = Issuer::new(&key).unwrap();
    let revocations = Revocations::default();
    let verifier = Verifier::new(&[&key]).unwrap().with_revocations(revocations.clone());
    let (token, id) = issuer.grant_with_id(&grant("cbp-ingest", HOUR)).unwrap();
    let other = issuer.grant(&grant("cbp-ingest", HOUR)).unwrap();
    assert!(verifier.verify(&token).is_ok());
    assert!(verifier.verify(&other).is_ok());
    assert_eq!(verifier.verified.len(), 2, "both remembered: the next checks are cache hits");
    revocations.apply(&revoke(RevocationTarget::Token(id.clone()), unix_now()));
    let error = verifier.verify(&token).unwrap_err();
    assert_eq!(error, AuthError::Revoked(format!("token id {id} is revoked")));
    assert!(verifier.verified.contains_key(&token), "refused on a cache hit, not because it was forgotten");
    assert!(verifier.verify(&other).is_ok(), "the same subject's other token is not revoked by id");
    assert!(verifier.clone().verify(&token).is_err(), "clones share the revocations");
}

#[test]
fn a_subject_revocation_refuses_its_tokens_issued_until_then_and_not_later_ones() {
    let (_dir, key) = new_key();
    let issuer = Issuer::new(&key).unwrap();
    let revocations = Revocations::default();
    let verifier = Verifier::new(&[&key]).unwrap().with_revocations(revocations.clone());
    let now = unix_now();
    let token_at = |subject: &str, party: &str, iat: u64| {
        let claims = Claims { sub: subject.into(), party: party.into(), iat, exp: now + 600, ..issuer_claims() };
        issuer.issue_claims(&claims).unwrap()
    };
    let before = token_at("alice", "cbp", now - 100);
    let at = token_at("alice", "cbp", now - 50);
    let after = token_at("alice", "cbp", now);
    let other_party = token_at("alice", "fbi", now - 100);
    let other_subject = token_at("bob", "cbp", now - 100);
    for token in [&before, &at, &after, &other_party, &other_subject] {
        assert!(verifier.verify(token).is_ok());
    }
    let cbp = Some(Token::parse("cbp").unwrap());
    revocations.apply(&revoke(RevocationTarget::Subject { party: cbp, subject: "alice".into() }, now - 50));
    for token in [&before, &at] {
        let error = verifier.verify(token).unwrap_err();
        assert!(matches!(&error, AuthError::Revoked(why) if why.contains("\"alice\" issued at or before")), "{error}");
    }
    for token in [&after, &other_party, &other_subject] {
        assert!(verifier.verify(token).is_ok(), "issued later, or another party's or subject's");
    }
    revocations.apply(&revoke(RevocationTarget::Subject { party: None, subject: "alice".into() }, now - 50));
    assert!(verifier.verify(&other_party).is_err(), "a revocation of any party's alice");
}

#[test]
fn a_rotated_out_key_is_trusted_for_the_grace_after_its_retirement_only() {
    let (dir, old_key) = new_key();
    let party = Token::parse("cbp").unwrap();
    let old_token = Issuer::new(&old_key).unwrap().issue(&party, Role::AgencySystem, "x", HOUR).unwrap();
    let new_key = SigningKey::rotate(dir.path()).unwrap();
    let trusted = trusted_keys(dir.path()).unwrap();
    assert_eq!(trusted.len(), 1);
    let retired_at = trusted[0].retired_at.expect("rotation records when the key was retired");
    assert!(retired_at.abs_diff(unix_now()) <= 5, "{retired_at}");
    let verifier = Verifier::new(&[&new_key]).unwrap().trust_keys(&trusted).unwrap().with_retired_key_grace(HOUR);
    assert!(verifier.verify(&old_token).is_ok(), "inside the grace");

    // Retired two hours ago with a grace of one: refused, cached or not.
    let record =
        dir.path().join(crate::identity::keys::TRUSTED_KEYS_DIR).join(format!("{}.retired.toml", old_key.kid()));
    let two_hours_ago = time::OffsetDateTime::now_utc() - time::Duration::hours(2);
    let text =
        format!("retired-at = {:?}\n", two_hours_ago.format(&time::format_description::well_known::Rfc3339).unwrap());
    std::fs::write(&record, text).unwrap();
    let trusted = trusted_keys(dir.path()).unwrap();
    let expired = Verifier::new(&[&new_key]).unwrap().trust_keys(&trusted).unwrap().with_retired_key_grace(HOUR);
    let error = expired.verify(&old_token).unwrap_err();
    assert!(matches!(&error, AuthError::RetiredKey { kid, .. } if kid == old_key.kid()), "{error}");
    assert!(error.to_string().contains("was retired at"), "{error}");
    verifier.verified.get_mut(&old_token).unwrap().retired = Some((old_key.kid().to_string(), retired_at - 2 * 3600));
    assert!(matches!(verifier.verify(&old_token), Err(AuthError::RetiredKey { .. })), "a remembered token too");

    // A key without a retirement record (another gateway's, added by an operator) stays trusted.
    std::fs::remove_file(&record).unwrap();
    let added = trusted_keys(dir.path()).unwrap();
    assert_eq!(added[0].retired_at, None);
    let forever = Verifier::new(&[&new_key]).unwrap().trust_keys(&added).unwrap().with_retired_key_grace(HOUR);
    assert!(forever.verify(&old_token).is_ok());
}

#[test]
fn the_retired_key_grace_ends_exactly_after_grace_and_leeway() {
    let grace = HOUR;
    assert!(check_retired_key("k", 1_000, grace, 1_000 + 3600 + LEEWAY).is_ok());
    let error = check_retired_key("k", 1_000, grace, 1_000 + 3600 + LEEWAY + 1).unwrap_err();
    assert_eq!(
        error,
        AuthError::RetiredKey { kid: "k".into(), retired_at: "1970-01-01T00:16:40Z".into(), grace: "1h".into() }
    );
}
