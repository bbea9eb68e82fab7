//! What each of Liaison's two NATS identities may do, in one place: the embedded server's configuration
//! is generated from these lists, the shipped configurations (`deploy/nats/`, compose, k8s) carry the same
//! lists, and a test compares the shipped `deploy/nats/nats-server.conf` with them.
//!
//! - The **runtime** identity is the gateway's (and `liaison audit verify`'s) everyday credential. It
//!   publishes copies, dead letters and audit entries, reads and consumes the Liaison streams, and
//!   reads and writes keys of the Liaison KV buckets. It can neither create, reconfigure, purge nor delete
//!   a stream or bucket, nor delete an audit entry: whoever holds it cannot make the audit disappear.
//! - The **provisioning** identity creates and updates the streams and buckets (`Bus::connect` at start-up
//!   on a connection of its own, or `liaison provision`). Whoever can reconfigure a stream can make it
//!   republish or mirror anything, so it is the account's administrator and is not restricted inside the
//!   account; keep it off the gateway hosts where you can.
//!
//! nats-server applies a deny before an allow; the runtime denies are redundant with its allow list and
//! are there so that a later, wider allow cannot silently re-open them.

use super::held::HELD_BUCKET;
use super::messages::STATE_BUCKET;
use super::policy::POLICY_BUCKET;
use super::rfi::RFI_BUCKET;
use super::speed::SPEED_BUCKET;
use super::subjects::{
    AUDIT_STREAM, DEAD_LETTER_STREAM, FEED_STREAM, audit_wildcard, dead_letter_wildcard, feed_wildcard,
};

/// The NATS account holding every Liaison subject, stream and bucket.
pub const ACCOUNT: &str = "LIAISON";

/// Token revocations (branch `tokens`), watched by every gateway.
pub const REVOCATIONS_BUCKET: &str = "LIAISON_REVOCATIONS";
/// Registry of audit chains (branch `audit`).
pub const AUDIT_CHAINS_BUCKET: &str = "LIAISON_AUDIT_CHAINS";

/// Publish and subscribe allow and deny lists of one NATS user.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Permissions {
    pub publish_allow: Vec<String>,
    pub publish_deny: Vec<String>,
    pub subscribe_allow: Vec<String>,
    pub subscribe_deny: Vec<String>,
}

/// How a user of a generated server configuration authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerUser {
    /// An NKEY user, by public key.
    Nkey(String),
    Password {
        user: String,
        password: String,
    },
}

/// The `accounts { LIAISON { ... } }` block of a nats-server configuration with exactly these users.
pub fn account_config(users: &[(ServerUser, Permissions)]) -> String {
    let mut text = format!("accounts {{\n  {ACCOUNT} {{\n    jetstream: enabled\n    users: [\n");
    for (user, permissions) in users {
        text.push_str("      {\n");
        match user {
            ServerUser::Nkey(public) => text.push_str(&format!("        nkey: {public:?}\n")),
            ServerUser::Password { user, password } => {
                text.push_str(&format!("        user: {user:?}\n        password: {password:?}\n"))
            }
        }
        text.push_str(&permissions.to_server_config(8));
        text.push_str("      }\n");
    }
    text.push_str("    ]\n  }\n}\n");
    text
}

/// Every KV bucket of Liaison.
pub fn buckets() -> [&'static str; 7] {
    [POLICY_BUCKET, STATE_BUCKET, REVOCATIONS_BUCKET, AUDIT_CHAINS_BUCKET, HELD_BUCKET, SPEED_BUCKET, RFI_BUCKET]
}

/// Every stream the runtime identity uses: the three Liaison streams and the streams behind the buckets.
pub fn streams() -> Vec<String> {
    let mut streams: Vec<String> = [FEED_STREAM, DEAD_LETTER_STREAM, AUDIT_STREAM].map(String::from).to_vec();
    streams.extend(buckets().map(|bucket| format!("KV_{bucket}")));
    streams
}

/// The gateway's everyday identity.
pub fn runtime() -> Permissions {
    let mut publish = vec![
        // Stored copies, dead letters and audit entries, and nothing else of the subject space: a subject
        // a later version or another tool adds under `liaison.` is not the gateway's until listed here.
        feed_wildcard(),
        dead_letter_wildcard(),
        audit_wildcard(),
        // Account information (JetStream enabled, limits).
        "$JS.API.INFO".to_string(),
    ];
    for stream in streams() {
        publish.extend([
            // Stream information: opening a stream or bucket, its state, consumer lag.
            format!("$JS.API.STREAM.INFO.{stream}"),
            // Consumers of the stream: create (`CREATE.<stream>[.<name>[.<filter>]]`), info, delete,
            // names and list ...
            format!("$JS.API.CONSUMER.*.{stream}"),
            format!("$JS.API.CONSUMER.*.{stream}.>"),
            // ... durable create and pull requests.
            format!("$JS.API.CONSUMER.DURABLE.CREATE.{stream}.>"),
            format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.>"),
            // Reading one message by sequence or last by subject (dead letters, audit heads, KV gets).
            format!("$JS.API.STREAM.MSG.GET.{stream}"),
            format!("$JS.API.DIRECT.GET.{stream}"),
            format!("$JS.API.DIRECT.GET.{stream}.>"),
            // Acknowledgements of its consumers, and flow-control replies of ordered (KV watch) consumers.
            format!("$JS.ACK.{stream}.>"),
            format!("$JS.FC.{stream}.>"),
        ]);
    }
    publish.extend([
        // Removing one message: the copies of a purged message, a redriven dead letter. Never the audit.
        format!("$JS.API.STREAM.MSG.DELETE.{FEED_STREAM}"),
        format!("$JS.API.STREAM.MSG.DELETE.{DEAD_LETTER_STREAM}"),
    ]);
    // Keys of the buckets: put, create, update, delete of one key.
    publish.extend(buckets().map(|bucket| format!("$KV.{bucket}.>")));
    Permissions {
        publish_allow: publish,
        publish_deny: vec![
            // Creating, reconfiguring, deleting or purging any stream (and so any KV bucket).
            "$JS.API.STREAM.CREATE.>".to_string(),
            "$JS.API.STREAM.UPDATE.>".to_string(),
            "$JS.API.STREAM.DELETE.>".to_string(),
            "$JS.API.STREAM.PURGE.>".to_string(),
            // Restoring a stream from a snapshot, which replaces it; snapshots (copies of everything).
            "$JS.API.STREAM.RESTORE.>".to_string(),
            "$JS.API.STREAM.SNAPSHOT.>".to_string(),
            // Removing an audit entry (the stream also has deny_delete, which nats-server applies to this
            // request but not to STREAM.DELETE).
            format!("$JS.API.STREAM.MSG.DELETE.{AUDIT_STREAM}"),
            // Removing the whole account's JetStream data.
            "$JS.API.ACCOUNT.PURGE.>".to_string(),
        ],
        // Replies to its own requests (JetStream API answers, pulled messages, KV watches).
        subscribe_allow: vec!["_INBOX.>".to_string()],
        subscribe_deny: Vec::new(),
    }
}

/// The identity that sets up streams and buckets: everything inside the account.
pub fn provisioning() -> Permissions {
    Permissions {
        publish_allow: vec![">".to_string()],
        publish_deny: Vec::new(),
        subscribe_allow: vec![">".to_string()],
        subscribe_deny: Vec::new(),
    }
}

// === impl Permissions ===

impl Permissions {
    /// The `permissions { ... }` block of a nats-server user, indented by `indent` spaces.
    pub fn to_server_config(&self, indent: usize) -> String {
        let pad = " ".repeat(indent);
        let mut text = format!("{pad}permissions: {{\n");
        for (direction, allow, deny) in [
            ("publish", &self.publish_allow, &self.publish_deny),
            ("subscribe", &self.subscribe_allow, &self.subscribe_deny),
        ] {
            text.push_str(&format!("{pad}  {direction}: {{\n"));
            text.push_str(&format!("{pad}    allow: {}\n", list(allow, indent + 4)));
            if !deny.is_empty() {
                text.push_str(&format!("{pad}    deny: {}\n", list(deny, indent + 4)));
            }
            text.push_str(&format!("{pad}  }}\n"));
        }
        text.push_str(&format!("{pad}}}\n"));
        text
    }

    /// Whether nats-server would let this user publish on `subject` (deny first, then allow).
    pub fn may_publish(&self, subject: &str) -> bool {
        !self.publish_deny.iter().any(|pattern| subject_matches(pattern, subject))
            && self.publish_allow.iter().any(|pattern| subject_matches(pattern, subject))
    }
}

/// A one-line list when short, else one subject per line.
fn list(subjects: &[String], indent: usize) -> String {
    let quoted: Vec<String> = subjects.iter().map(|subject| format!("{subject:?}")).collect();
    if quoted.len() <= 2 {
        return format!("[{}]", quoted.join(", "));
    }
    let pad = " ".repeat(indent);
    let lines: Vec<String> = quoted.iter().map(|subject| format!("{pad}  {subject}\n")).collect();
    format!("[\n{}{pad}]", lines.concat())
}

/// NATS subject matching: `*` is one token, a final `>` one or more.
pub(crate) fn subject_matches(pattern: &str, subject: &str) -> bool {
    let mut subject_tokens = subject.split('.');
    for token in pattern.split('.') {
        match (token, subject_tokens.next()) {
            (">", Some(_)) => return true,
            ("*", Some(_)) => {}
            (literal, Some(actual)) if literal == actual => {}
            _ => return false,
        }
    }
    subject_tokens.next().is_none()
}

#[cfg(test)]
mod tests;
