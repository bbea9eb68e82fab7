//! The audit fails closed: no copy reaches a feed unless its `approved` record is stored first, and a
//! gateway whose chain has vanished from LIAISON_AUDIT refuses to start until an operator accepts the loss,
//! which is then an audit entry of its own; `liaison audit verify` names the missing chain.

use crate::audit::verify;
use crate::common;

use std::time::Duration;

use common::*;
use liaison::bus::{AUDIT_STREAM, FEED_STREAM};
use liaison::config::{ServeArgs, ServeConfig};
use liaison::identity::Role;

async fn feed_messages(nats: &NatsServer) -> u64 {
    let jetstream = async_nats::jetstream::new(nats.client().await);
    jetstream.get_stream(FEED_STREAM).await.unwrap().info().await.unwrap().state.messages
}

#[tokio::test]
async fn when_the_audit_refuses_writes_no_copy_is_stored_and_the_publisher_hears_unavailable() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    publish(&mut cbp, envelope(&["ia", "fbi"], "money-laundering", b"recorded")).await;
    let before = feed_messages(&nats).await;
    assert!(before >= 1);

    // The audit stream stops taking writes: full, and new messages are discarded (refused).
    let jetstream = async_nats::jetstream::new(nats.client().await);
    let mut audit = jetstream.get_stream(AUDIT_STREAM).await.unwrap();
    let mut config = audit.info().await.unwrap().config.clone();
    config.max_messages = audit.info().await.unwrap().state.messages as i64;
    config.discard = async_nats::jetstream::stream::DiscardPolicy::New;
    jetstream.update_stream(config).await.expect("make the audit refuse writes");

    let refused = cbp
        .publish(pb_request(envelope(&["ia", "fbi"], "money-laundering", b"unrecorded")))
        .await
        .expect_err("a publish whose record cannot be stored fails");
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
    assert!(refused.message().contains("audit record"), "{refused:?}");
    assert!(refused.message().contains("no copy was sent"), "{refused:?}");
    assert_eq!(feed_messages(&nats).await, before, "a copy reached the feed without its record");

    // The audit takes writes again: publishing works again and records first.
    let mut config = audit.info().await.unwrap().config.clone();
    config.max_messages = -1;
    jetstream.update_stream(config).await.unwrap();
    publish(&mut cbp, envelope(&["ia"], "money-laundering", b"recorded again")).await;
    assert_eq!(feed_messages(&nats).await, before + 1);
}

fn pb_request(envelope: liaison::api::Envelope) -> liaison::api::PublishRequest {
    liaison::api::PublishRequest { envelope: Some(envelope) }
}

/// Starts a gateway on `data_dir` expecting it to refuse; returns its error.
async fn refused_start(data_dir: &std::path::Path, nats: &NatsServer) -> String {
    let args = ServeArgs {
        data_dir: Some(data_dir.to_path_buf()),
        nats: liaison::config::NatsFlags { nats_url: Some(nats.url()), ..Default::default() },
        nats_server_bin: Some(nats_server_bin()),
        insecure: true,
        admin_listen: Some(std::net::SocketAddr::from(([127, 0, 0, 1], free_port()))),
        ..Default::default()
    };
    let mut config = ServeConfig::load(&args).unwrap();
    config.nats_auth = runtime_auth();
    config.nats_provision_auth = Some(provisioning_auth());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let run = liaison::app::run(config, listener, std::future::pending());
    let error = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("the gateway neither started nor refused")
        .expect_err("a gateway whose audit vanished started");
    format!("{error:#}")
}

#[tokio::test]
async fn a_vanished_audit_stops_the_gateway_until_the_loss_is_accepted_and_recorded() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    for body in ["one", "two", "three"] {
        publish(&mut cbp, envelope(&["ia"], "money-laundering", body.as_bytes())).await;
    }
    let data_dir = gateway.stop().await;
    let chain = std::fs::read_to_string(data_dir.path().join("audit-chain")).unwrap().trim().to_string();
    let known = liaison::audit::continuity::load(data_dir.path()).unwrap().expect("the chain's length is kept");
    assert_eq!(known.chain, chain);
    assert!(known.entries >= 3, "{known:?}");
    let entries = known.entries;
    let (intact, report) = verify(&nats).await;
    assert!(intact, "{report}");

    // Someone with the provisioning credential deletes the whole audit.
    let jetstream = async_nats::jetstream::new(nats.client().await);
    jetstream.delete_stream(AUDIT_STREAM).await.expect("delete the audit stream");

    let error = refused_start(data_dir.path(), &nats).await;
    assert!(
        error.contains(&format!("audit chain {chain} had {entries} entries (data dir")),
        "the refusal names the chain: {error}"
    );
    assert!(error.contains(&format!("LIAISON_AUDIT holds 0; entries 1-{entries} are missing")), "{error}");
    assert!(error.contains("--accept-audit-loss"), "{error}");

    let (intact, report) = verify(&nats).await;
    assert!(!intact, "verify passed a vanished chain: {report}");
    assert!(report.contains(&format!("chain {chain}: MISSING: the registry LIAISON_AUDIT_CHAINS")), "{report}");
    assert!(report.contains(&format!("knows {entries} entries but LIAISON_AUDIT holds none")), "{report}");

    // The operator accepts the loss: it is recorded as the chain's next entry, and the gateway serves.
    let gateway = TestGateway::start_in(data_dir, Some(nats.url()), |config| config.accept_audit_loss = true).await;
    let operator = gateway.token("ia", Role::Operator);
    let losses = liaison_cli(&gateway, &operator, &["audit", "query", "--event", "audit-loss"]).await;
    let rows: Vec<serde_json::Value> = losses.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(rows.len(), 1, "{losses}");
    let row = &rows[0];
    assert_eq!(row["event"].as_str(), Some("AUDIT_LOSS"));
    assert_eq!((row["chain"].as_str(), row["entry"].as_u64()), (Some(chain.as_str()), Some(entries + 1)));
    assert!(row["reason"].as_str().unwrap().contains(&format!("entries 1-{entries} are missing")), "{row}");
    assert!(row["subscriber"].as_str().unwrap().contains("--accept-audit-loss"), "{row}");
    publish(&mut gateway.client("cbp", Role::AgencySystem).await, envelope(&["ia"], "money-laundering", b"four")).await;

    let (intact, report) = verify(&nats).await;
    assert!(intact, "{report}");
    assert!(report.contains(&format!("chain {chain}: LOSS RECORDED: entries 1-{entries} are gone")), "{report}");
}
