//! The permission lists: what they allow and refuse, and that the shipped configurations carry them.

use super::*;

#[test]
fn the_runtime_identity_cannot_reconfigure_delete_or_purge() {
    let runtime = runtime();
    for refused in [
        "$JS.API.STREAM.DELETE.LIAISON_AUDIT",
        "$JS.API.STREAM.PURGE.LIAISON_FEED",
        "$JS.API.STREAM.UPDATE.LIAISON_FEED",
        "$JS.API.STREAM.CREATE.LIAISON_FEED",
        "$JS.API.STREAM.DELETE.KV_LIAISON_POLICY",
        "$JS.API.STREAM.MSG.DELETE.LIAISON_AUDIT",
        "$JS.API.STREAM.RESTORE.LIAISON_AUDIT",
        "$JS.API.ACCOUNT.PURGE.LIAISON",
        "$JS.API.STREAM.INFO.OTHER",
        "$JS.API.CONSUMER.CREATE.OTHER.x",
        "other.subject",
        // The subject space beyond the three streams' subjects.
        "liaison.bench.raw",
        "liaison.feedx.ia",
        "liaison",
    ] {
        assert!(!runtime.may_publish(refused), "{refused}");
    }
    for allowed in [
        "liaison.feed.ia.cbp.report.border-security",
        "liaison.audit.gw1",
        "liaison.dead.ia.cbp.report.border-security",
        "$JS.API.INFO",
        "$JS.API.STREAM.INFO.LIAISON_AUDIT",
        "$JS.API.STREAM.INFO.KV_LIAISON_REVOCATIONS",
        "$JS.API.CONSUMER.CREATE.LIAISON_FEED.ia_desk.liaison.feed.ia.>",
        "$JS.API.CONSUMER.CREATE.LIAISON_FEED",
        "$JS.API.CONSUMER.DURABLE.CREATE.LIAISON_FEED.ia_desk",
        "$JS.API.CONSUMER.MSG.NEXT.LIAISON_FEED.ia_desk",
        "$JS.API.CONSUMER.DELETE.LIAISON_DEAD.x",
        "$JS.API.DIRECT.GET.KV_LIAISON_POLICY.$KV.LIAISON_POLICY.current",
        "$JS.API.STREAM.MSG.GET.LIAISON_AUDIT",
        "$JS.API.STREAM.MSG.DELETE.LIAISON_FEED",
        "$JS.API.STREAM.MSG.DELETE.LIAISON_DEAD",
        "$JS.ACK.LIAISON_FEED.ia_desk.1.2.3.4.5",
        "$KV.LIAISON_AUDIT_CHAINS.gw1",
    ] {
        assert!(runtime.may_publish(allowed), "{allowed}");
    }
}

#[test]
fn subject_matching_follows_nats() {
    assert!(subject_matches("a.*", "a.b"));
    assert!(!subject_matches("a.*", "a.b.c"));
    assert!(subject_matches("a.>", "a.b.c"));
    assert!(!subject_matches("a.>", "a"));
    assert!(!subject_matches("a.b", "a.b.c"));
}

#[test]
fn the_provisioning_identity_may_do_everything_in_the_account() {
    assert!(provisioning().may_publish("$JS.API.STREAM.DELETE.LIAISON_AUDIT"));
}

/// The runtime user's block as the shipped files carry it (indented under `users: [ { ... } ]`).
fn shipped_runtime_block() -> String {
    runtime().to_server_config(8)
}

#[test]
fn the_shipped_configurations_carry_the_runtime_lists() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = ["deploy/nats/nats-server.conf", "deploy/k8s/nats.conf", "deploy/nats/cluster/accounts.conf"];
    for file in files {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        assert!(
            text.contains(&shipped_runtime_block()),
            "{file} must carry the runtime permissions of src/bus/permissions.rs, exactly:\n{}",
            shipped_runtime_block()
        );
    }
}
