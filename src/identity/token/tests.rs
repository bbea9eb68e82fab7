//! Token minting and verification: round trip and every rejection.
use super::*;

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
    assert_eq!(caller, Caller { party, role: Role::AgencySystem, subject: "cbp-ingest".into() });
}

#[test]
fn rejections() {
    let (_dir, key) = new_key();
    let (_other_dir, other) = new_key();
    let issuer = Issuer::new(&key).unwrap();
    let verifier = Verifier::new(&[&key]).unwrap();
    let expired =
        Claims { sub: "x".into(), party: "cbp".into(), role: Role::Analyst, iss: ISSUER.into(), iat: 1, exp: 2 };
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
    Claims { sub: "x".into(), party: "cbp".into(), role: Role::Analyst, iss: ISSUER.into(), iat: 0, exp: 0 }
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
