//! Tokens end: a revocation (through `liaison token revoke`, or the library) is honoured within a second
//! by every gateway sharing the NATS server, for tokens they had already verified and cached too, while
//! other tokens keep working; a token living longer than the cap is refused whatever its signature.

use std::time::{Duration, Instant};

use liaison::api as pb;
use liaison::identity::{Claims, Grant, Revocation, RevocationTarget, Role};
use liaison::model::Token;
use tokio::process::Command;

use crate::common::{
    NatsServer, TestGateway, check_ia_to_cbp, client_with_header, envelope, operator_with_token, publish, runtime_auth,
    subscribe, test_identities,
};

const LIAISON: &str = env!("CARGO_BIN_EXE_liaison");

/// An operator token of `ia` for `subject`, with its id.
fn operator_token(gateway: &TestGateway, subject: &str) -> (String, String) {
    let grant = Grant {
        party: Token::parse("ia").unwrap(),
        role: Role::Operator,
        subject: subject.into(),
        clearance: None,
        nationality: None,
        law_enforcement: None,
        accesses: None,
        ttl: Duration::from_secs(600),
    };
    gateway.issuer().grant_with_id(&grant).unwrap()
}

/// One authenticated call (a routing dry-run) on `gateway` with `token`.
async fn call(gateway: &TestGateway, token: &str) -> Result<(), tonic::Status> {
    let mut operator = operator_with_token(&gateway.url(), token).await;
    check_ia_to_cbp(&mut operator).await.map(drop)
}

async fn cli(args: &[&str]) -> String {
    let mut command = Command::new(LIAISON);
    command.args(args);
    if args.contains(&"--nats-url") {
        // The CLI reaches the test server as the runtime identity, as it would a gateway's embedded server.
        command.arg("--nats-nkey").arg(&test_identities().runtime_seed);
    }
    let output = command.output().await.unwrap();
    assert!(output.status.success(), "liaison {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn a_revoked_token_is_refused_within_a_second_on_every_gateway_even_when_cached() {
    let nats = NatsServer::start().await;
    let first = TestGateway::start(&nats).await;
    let key = first.data_dir.path().join("signing-key.pem");
    let second = TestGateway::start_with(Some(nats.url()), |config| config.signing_key = Some(key)).await;
    let (by_id, id) = operator_token(&first, "ia-ops-1");
    let (by_subject, _) = operator_token(&first, "ia-ops-2");
    let (untouched, _) = operator_token(&first, "ia-ops-3");
    for gateway in [&first, &second] {
        for token in [&by_id, &by_subject, &untouched] {
            call(gateway, token).await.expect("a valid token works (and is now cached)");
        }
    }

    cli(&["token", "revoke", "--id", &id, "--reason", "lost laptop", "--nats-url", &nats.url()]).await;
    let bus = liaison::bus::Bus::connect_read_only(&liaison::bus::BusConfig {
        url: nats.url(),
        auth: runtime_auth(),
        provision: None,
        tls: Default::default(),
        stream: Default::default(),
        max_payload: 0,
        connect_timeout: Duration::from_secs(5),
        ack_timeout: Duration::from_secs(5),
    })
    .await
    .unwrap();
    let revoked_at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let target = RevocationTarget::Subject { party: Some(Token::parse("ia").unwrap()), subject: "ia-ops-2".into() };
    let revocation = Revocation { target, revoked_at, reason: "left".into(), revoked_by: "test".into() };
    bus.revocation_bucket().await.unwrap().revoke(&revocation).await.unwrap();
    let revoked = Instant::now();

    for gateway in [&first, &second] {
        for token in [&by_id, &by_subject] {
            loop {
                match call(gateway, token).await {
                    Err(status) => {
                        assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
                        assert!(status.message().starts_with("token revoked"), "{status:?}");
                        break;
                    }
                    Ok(()) => assert!(revoked.elapsed() < Duration::from_secs(1), "still accepted after a second"),
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        call(gateway, &untouched).await.expect("other tokens still work");
    }
    assert!(revoked.elapsed() < Duration::from_secs(1), "refused everywhere within a second: {:?}", revoked.elapsed());

    let listed = cli(&["token", "revocations", "--nats-url", &nats.url()]).await;
    let rows: Vec<serde_json::Value> = listed.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(rows.len(), 2, "{listed}");
    assert!(rows.iter().any(|row| row["id"] == id.as_str() && row["reason"] == "lost laptop"), "{listed}");
    assert!(rows.iter().any(|row| row["subject"] == "ia-ops-2" && row["party"] == "ia"), "{listed}");

    // Deleting a revocation's key lifts it on every gateway.
    let jetstream = async_nats::jetstream::new(nats.client().await);
    let bucket = jetstream.get_key_value(liaison::bus::REVOCATIONS_BUCKET).await.unwrap();
    bucket.delete(format!("jti.{id}")).await.unwrap();
    let lifted = Instant::now();
    for gateway in [&first, &second] {
        while call(gateway, &by_id).await.is_err() {
            assert!(lifted.elapsed() < Duration::from_secs(1), "still refused a second after the key was deleted");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let again = Revocation { target: RevocationTarget::Token(id.clone()), ..revocation };
    bus.revocation_bucket().await.unwrap().revoke(&again).await.unwrap();

    // A gateway started now reads the revocations before it serves.
    let key = first.data_dir.path().join("signing-key.pem");
    let third = TestGateway::start_with(Some(nats.url()), |config| config.signing_key = Some(key)).await;
    assert_eq!(call(&third, &by_id).await.unwrap_err().code(), tonic::Code::Unauthenticated);
    call(&third, &untouched).await.expect("other tokens work on a new gateway");
}

#[tokio::test]
async fn a_token_living_longer_than_the_cap_is_refused_at_issue_and_at_verify() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start_with(Some(nats.url()), |config| {
        config.max_token_ttl = Duration::from_secs(3600);
    })
    .await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let claims = |lifetime: u64| Claims {
        sub: "ia-ops".into(),
        party: "ia".into(),
        role: Role::Operator,
        iss: "liaison".into(),
        iat: now,
        exp: now + lifetime,
        clearance: None,
        nationality: None,
        law_enforcement: None,
        accesses: None,
        jti: None,
    };
    let within = gateway.issuer().issue_claims(&claims(3600)).unwrap();
    call(&gateway, &within).await.expect("a token at the cap works");
    let too_long = gateway.issuer().issue_claims(&claims(7200)).unwrap();
    let status = call(&gateway, &too_long).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    assert!(status.message().contains("exceeds the longest allowed, 1h (--max-token-ttl)"), "{status:?}");

    // Revocations are kept as long as a token they match can live (plus the clock leeway), no longer.
    let jetstream = async_nats::jetstream::new(nats.client().await);
    let bucket = jetstream.get_key_value(liaison::bus::REVOCATIONS_BUCKET).await.unwrap();
    assert_eq!(bucket.status().await.unwrap().info.config.max_age, Duration::from_secs(3600 + 5));

    let data_dir = gateway.data_dir.path().display().to_string();
    let issue = ["token", "issue", "--party", "ia", "--role", "operator", "--data-dir", &data_dir];
    let refused =
        Command::new(LIAISON).args(issue).args(["--ttl", "2h", "--max-token-ttl", "1h"]).output().await.unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--max-token-ttl"), "{refused:?}");
    let month = Command::new(LIAISON).args(issue).args(["--ttl", "31days"]).output().await.unwrap();
    assert!(!month.status.success(), "the default cap is 30 days");
    let issued = cli(&[&issue[..], &["--ttl", "1h", "--max-token-ttl", "1h"]].concat()).await;
    call(&gateway, issued.trim()).await.expect("a token issued at the cap works");
}

#[tokio::test]
async fn a_token_revoked_while_its_subscription_is_open_gets_nothing_more() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let grant = Grant {
        party: Token::parse("ia").unwrap(),
        role: Role::Analyst,
        subject: "ia-analyst-leaving".into(),
        clearance: None,
        nationality: None,
        law_enforcement: None,
        accesses: None,
        ttl: Duration::from_secs(600),
    };
    let (token, id) = gateway.issuer().grant_with_id(&grant).unwrap();
    let mut analyst = client_with_header(&gateway.url(), Some(format!("Bearer {token}"))).await;
    let durable = || pb::OpenSubscription { durable_name: "desk".into(), ..Default::default() };
    let mut feed = subscribe(&mut analyst, durable()).await.expect("subscribe");
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    publish(&mut cbp, envelope(&["ia"], "money-laundering", b"before")).await;
    let before = feed.take(1, Duration::from_secs(10)).await;
    assert_eq!(&before[0].envelope.as_ref().unwrap().body[..], b"before");
    feed.ack(&before).await;

    cli(&["token", "revoke", "--id", &id, "--reason", "left", "--nats-url", &nats.url()]).await;
    // The gateway follows the revocation within a second; a publish after that must not reach the stream.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    publish(&mut cbp, envelope(&["ia"], "money-laundering", b"after")).await;
    let end = tokio::time::timeout(Duration::from_secs(10), feed.responses.message()).await.expect("the stream ends");
    let status = end.expect_err("the stream ends with a status, not a delivery");
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    assert!(status.message().starts_with("token revoked"), "{status:?}");

    // What the revoked stream held went back to the durable: another analyst on it reads it at once.
    let mut other = gateway.client("ia", Role::Analyst).await;
    let mut feed = subscribe(&mut other, durable()).await.expect("subscribe");
    let after = feed.take(1, Duration::from_secs(10)).await;
    assert_eq!(&after[0].envelope.as_ref().unwrap().body[..], b"after");
}
