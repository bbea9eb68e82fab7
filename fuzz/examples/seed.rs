//! Writes the seed corpus, `fuzz/corpus/<target>/seed-*`, from the inputs the tests use: the envelope of
//! `tests/integration/common` and the spoilt ones of `bad_input.rs`, the request times and durations of
//! the conversion tests at the edges of their ranges, the token claims of the token tests, the shipped
//! directory and policy and the router tests' policies, and audit chains as the audit tests seal them.
//!
//! Run from the repository: `cargo run --manifest-path fuzz/Cargo.toml --example seed` (a plain build;
//! tests/fuzz.sh does not need it, the seeds are committed).

use std::path::{Path, PathBuf};

use liaison::api as pb;
use liaison::audit::continuity::KnownChain;
use liaison::audit::{AuditRecord, ChainHead, Checkpoint, MessageRef};
use liaison::identity::SigningKey;
use liaison::router::{DEFAULT_DIRECTORY, DEFAULT_POLICY, Router};
use prost::Message;

fn main() {
    let root = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "fuzz/corpus".into()));
    envelope(&root.join("envelope"));
    requests(&root.join("requests"));
    token(&root.join("token"));
    policy(&root.join("policy"));
    audit(&root.join("audit"));
    structured(&root.join("route"));
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).expect("corpus directory");
    std::fs::write(dir.join(format!("seed-{name}")), bytes).expect("seed file");
}

/// The index byte that makes the envelope target call as `party`.
fn caller(party: &str) -> u8 {
    let router = Router::embedded_default().expect("the shipped files load");
    let index = router.directory().parties().iter().position(|p| p.id.as_str() == party).expect("a party");
    u8::try_from(index).expect("under 256 parties")
}

fn ts(seconds: i64, nanos: i32) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds, nanos }
}

fn dur(seconds: i64, nanos: i32) -> prost_types::Duration {
    prost_types::Duration { seconds, nanos }
}

/// The times at the edges the conversion tests name: the epoch, the end of 9999, year 2262, the limits.
const EDGE_SECONDS: [i64; 9] =
    [0, -1, 253_402_300_799, 253_402_300_800, -62_135_596_800, 9_223_372_037, i64::MAX, i64::MIN, 1_790_000_000];

/// `tests/integration/common::envelope`.
fn good(recipients: &[&str], topic: &str) -> pb::Envelope {
    pb::Envelope {
        recipients: recipients.iter().map(|recipient| recipient.to_string()).collect(),
        kind: pb::Kind::Report as i32,
        topic: topic.to_string(),
        markings: Some(pb::Markings {
            classification: pb::Classification::Unclassified as i32,
            controls: vec![pb::DisseminationControl::Les as i32],
            rel_to: vec![],
            tlp: pb::Tlp::Amber as i32,
            ..Default::default()
        }),
        precedence: pb::Precedence::Priority as i32,
        created_at: Some(ts(1_790_000_000, 123_000_000)),
        title: "Structured deposits".to_string(),
        body: b"hello".to_vec().into(),
        content_type: "text/plain".to_string(),
        attributes: [("case".to_string(), "2026-0042".to_string())].into_iter().collect(),
        ..Default::default()
    }
}

fn envelope(dir: &Path) {
    let id = ulid::Ulid::from_parts(1_790_000_000_000, 7).to_string();
    let markings = |classification: pb::Classification, controls: &[pb::DisseminationControl], rel: &[&str], tlp| {
        Some(pb::Markings {
            classification: classification as i32,
            controls: controls.iter().map(|control| *control as i32).collect(),
            rel_to: rel.iter().map(|country| country.to_string()).collect(),
            tlp: tlp as i32,
            ..Default::default()
        })
    };
    use pb::{Classification as C, DisseminationControl as D, Tlp};
    let cases: Vec<(&str, &str, pb::Envelope)> = vec![
        ("cbp-to-ia", "cbp", good(&["ia"], "money-laundering")),
        ("by-policy", "cbp", good(&[], "narcotics")),
        (
            "secret-rel-can",
            "ia",
            pb::Envelope {
                markings: markings(C::Secret, &[], &["USA", "CAN"], Tlp::Amber),
                ..good(&["can"], "narcotics")
            },
        ),
        (
            "tlp-red-named",
            "ia",
            pb::Envelope { markings: markings(C::Unclassified, &[], &[], Tlp::Red), ..good(&["fbi", "nctc"], "x") },
        ),
        (
            "noforn-les",
            "fbi",
            pb::Envelope {
                markings: markings(C::TopSecret, &[D::Noforn, D::Les], &[], Tlp::Unspecified),
                ..good(&["ia", "can"], "counter-terrorism")
            },
        ),
        (
            "criminal-intelligence",
            "nypd",
            pb::Envelope {
                criminal_intelligence: Some(pb::CriminalIntelligence {
                    reasonable_suspicion: "a pattern of structured deposits".into(),
                    control_official: "Lt. Example".into(),
                }),
                ..good(&["fc-ny"], "narcotics")
            },
        ),
        (
            "reply-correction-expiry",
            "cbp",
            pb::Envelope {
                idempotency_key: "cbp:2026-0042".into(),
                in_reply_to: id.clone(),
                supersedes: id.clone(),
                expires_at: Some(ts(253_402_300_799, 999_999_999)),
                ..good(&["ia"], "narcotics")
            },
        ),
        ("spoilt-id", "cbp", pb::Envelope { id: "x".into(), ..good(&["ia"], "narcotics") }),
        ("spoilt-origin", "cbp", pb::Envelope { origin: "fbi".into(), ..good(&["ia"], "narcotics") }),
        ("spoilt-notice", "cbp", pb::Envelope { kind: pb::Kind::Notice as i32, ..good(&["ia"], "narcotics") }),
        ("spoilt-markings", "cbp", pb::Envelope { markings: None, ..good(&["ia"], "narcotics") }),
        (
            "spoilt-reserved-attribute",
            "cbp",
            pb::Envelope {
                attributes: [("Liaison.Notice".to_string(), "purge".to_string())].into(),
                ..good(&["ia"], "narcotics")
            },
        ),
        (
            "spoilt-rel-to",
            "ia",
            pb::Envelope {
                markings: markings(C::Secret, &[], &["USA", "AAA", "AAB", "CAN", "CAN"], Tlp::Unspecified),
                ..good(&["can"], "narcotics")
            },
        ),
        ("spoilt-recipients", "cbp", good(&["nobody", "IA", "ia", "ia"], "Narcotics")),
    ];
    for (name, party, envelope) in cases {
        write(dir, name, &[&[caller(party)][..], &envelope.encode_to_vec()].concat());
    }
    for (index, seconds) in EDGE_SECONDS.into_iter().enumerate() {
        let timed = pb::Envelope {
            created_at: Some(ts(seconds, 0)),
            expires_at: Some(ts(seconds, -1)),
            ..good(&["ia"], "narcotics")
        };
        write(dir, &format!("times-{index}"), &[&[caller("cbp")][..], &timed.encode_to_vec()].concat());
    }
}

fn requests(dir: &Path) {
    use pb::seek_request::Target;
    use pb::start_position::Position;
    let mut index = 0;
    let mut put = |mode: u8, bytes: Vec<u8>| {
        index += 1;
        write(dir, &format!("{index:02}"), &[&[mode][..], &bytes].concat());
    };
    let durations = [
        dur(0, 0),
        dur(1, 0),
        dur(600, 0),
        dur(601, 0),
        dur(0, 10_000_000),
        dur(3600, 1),
        dur(i64::MAX, 0),
        dur(i64::MIN, 0),
        dur(-1, 0),
    ];
    for (seconds, duration) in EDGE_SECONDS.into_iter().zip(durations.iter().cycle()) {
        let open = pb::OpenSubscription {
            filter: Some(pb::FeedFilter {
                origins: vec!["cbp".into(), "ice".into()],
                kinds: vec![pb::Kind::Report as i32],
                topics: vec!["narcotics".into()],
            }),
            start: Some(pb::StartPosition { position: Some(Position::FromTime(ts(seconds, 0))) }),
            durable_name: "watch".into(),
            ack_deadline: Some(*duration),
            retry_policy: Some(pb::RetryPolicy {
                minimum_backoff: Some(dur(0, 10_000_000)),
                maximum_backoff: Some(*duration),
            }),
            ..Default::default()
        };
        put(0, open.encode_to_vec());
        let seek = pb::SeekRequest { durable_name: "watch".into(), target: Some(Target::Time(ts(seconds, 0))) };
        put(1, seek.encode_to_vec());
        // The QueryAudit that panicked the handler: `until` at the end of 9999.
        let query = pb::QueryAuditRequest {
            message_id: ulid::Ulid::from_parts(u64::MAX, 0).to_string(),
            since: Some(ts(0, 0)),
            until: Some(ts(seconds, 0)),
            limit: 100_001,
            ..Default::default()
        };
        put(2, query.encode_to_vec());
        let review = pb::ListReviewDueRequest { within: Some(*duration), party: "cbp".into(), limit: 1000 };
        put(3, review.encode_to_vec());
    }
    put(
        0,
        pb::OpenSubscription {
            start: Some(pb::StartPosition { position: Some(Position::FromSequence(0)) }),
            max_delivery_attempts: 1001,
            ..Default::default()
        }
        .encode_to_vec(),
    );
    put(1, pb::SeekRequest { durable_name: "watch".into(), target: Some(Target::Sequence(u64::MAX)) }.encode_to_vec());
    put(1, pb::SeekRequest { durable_name: "watch".into(), target: Some(Target::Beginning(())) }.encode_to_vec());
    for mode in 4..8 {
        put(mode, (0..64).map(|byte: u8| byte.wrapping_mul(37)).collect());
    }
}

fn token(dir: &Path) {
    let now = 1_790_000_000u64;
    let claims = |extra: &str| {
        format!(
            r#"{{"sub":"analyst@cbp","party":"cbp","role":"analyst","iss":"liaison","iat":{now},"exp":{}{extra}}}"#,
            now + 3600
        )
    };
    let payloads = [
        claims(""),
        claims(
            r#","clearance":"secret","nationality":"CAN","law_enforcement":false,"jti":"01KB000000000000000000000A""#,
        ),
        claims(r#","clearance":"cosmic""#),
        claims(r#","nationality":"XXX""#),
        r#"{"sub":"x","party":"CBP","role":"admin","iss":"liaison","iat":0,"exp":18446744073709551615}"#.to_string(),
        r#"{"sub":"x","party":"cbp","role":"operator","iss":"other","iat":1,"exp":2}"#.to_string(),
        r#"{"sub":"x","party":"cbp","role":"spy","iss":"liaison","exp":9999999999}"#.to_string(),
    ];
    for (index, payload) in payloads.iter().enumerate() {
        write(dir, &format!("claims-{index}"), &[&[1u8][..], payload.as_bytes()].concat());
    }
    let header = r#"{"typ":"JWT","alg":"HS256","kid":"unknown"}"#;
    write(dir, "header-hs256", &[&[2u8][..], header.as_bytes(), b"\n", payloads[0].as_bytes()].concat());
    for (index, text) in
        ["Bearer eyJ0eXAiOiJKV1QifQ.e30.", "bearer  x.y.z", "Basic abc", "", "Bearer "].iter().enumerate()
    {
        write(dir, &format!("header-{index}"), &[&[0u8][..], text.as_bytes()].concat());
    }
    write(dir, "structured", &[3u8; 48]);
    let dir_for_key = tempfile::tempdir().expect("a temporary directory");
    let key = SigningKey::create_file(&dir_for_key.path().join("k.pem")).expect("a key");
    let retired = "retired-at = 2026-11-01T00:00:00Z\n";
    write(dir, "trusted-key", &[&[4u8][..], key.public_pem().as_bytes(), b"\0", retired.as_bytes()].concat());
}

fn policy(dir: &Path) {
    write(dir, "shipped-policy", &[&[0u8][..], DEFAULT_POLICY.as_bytes()].concat());
    write(dir, "shipped-directory", &[&[1u8][..], DEFAULT_DIRECTORY.as_bytes()].concat());
    // The router tests' policies and the refusals they expect.
    let policies = [
        "[[rule]]\nname = \"flash-alerts\"\nbasis = \"test\"\nfrom = [\"cbp\"]\nto = [\"ia\"]\nkinds = [\"alert\"]\ntopics = [\"border-security\"]\nmax-classification = \"confidential\"\nprecedences = [\"flash\"]\n",
        "[[rule]]\nname = \"a\"\nfrom = [\"tag:resident-lno-home\"]\nto = [\"members:fc-tx\"]\n[[rule]]\nname = \"b\"\nfrom = [\"*\"]\nto = [\"kind:foreign-partner\"]\n",
        "[[rule]]\nname = \"released-only\"\nfrom = [\"ia\"]\nto = [\"can\"]\nrelease-required = true\n[[rule]]\nname = \"relayed\"\nfrom = [\"ia\"]\nto = [\"can\"]\nrelay = \"cbp\"\n",
        "[[rule]]\nname = \"a\"\nfrom = [\"ia\"]\nto = [\"nobody\"]\n",
        "[[rule]]\nname = \"a\"\nfrom = [\"ia\"]\nto = [\"cbp\"]\n[[rule]]\nname = \"a\"\nfrom = [\"ia\"]\nto = [\"cbp\"]\n",
        "[[rule]]\nname = \"a\"\nfrom = [\"ia\"]\nto = [\"cbp\"]\nmax-classification = \"cosmic\"\nwhen = 1\n",
    ];
    for (index, policy) in policies.iter().enumerate() {
        write(dir, &format!("policy-{index}"), &[&[0u8][..], policy.as_bytes()].concat());
    }
    let party =
        "[[party]]\nid = \"ia\"\nname = \"I&A\"\nkind = \"hub\"\nnationality = \"USA\"\nclearance = \"secret\"\n";
    for (index, retention) in
        ["", "retention = \"2y\"\n", "retention = \"6y\"\n", "retention = \"99999999999999y\"\n"].iter().enumerate()
    {
        let both = format!("{party}{retention}\0[[rule]]\nname = \"self\"\nfrom = [\"ia\"]\nto = [\"*\"]\n");
        write(dir, &format!("directory-{index}"), &[&[2u8][..], both.as_bytes()].concat());
    }
    write(dir, "directory-lowercase", &[&[2u8][..], party.replace("USA", "usa").as_bytes(), b"\0"].concat());
}

fn audit(dir: &Path) {
    let message = MessageRef { message_id: "01KB000000000000000000000A", origin: "cbp", policy_version: "v1" };
    let record = AuditRecord::approved(
        &message,
        "ia",
        "cbp-to-hub",
        "border threat reporting",
        "liaison.feed.ia.cbp.report.narcotics",
    );
    let mut head = ChainHead::new("a");
    let mut lines = Vec::new();
    for seq in 1..=5 {
        let entry = head.seal("2026-11-23T00:00:00Z".into(), vec![record.clone()]);
        lines.push(format!("a{}", serde_json::to_string(&entry).expect("json")));
        if seq == 3 {
            let checkpoint = Checkpoint {
                chain: "a".into(),
                seq,
                hash: entry.hash.clone(),
                at: entry.at.clone(),
                kid: "0011223344556677".into(),
                signature: "00".repeat(64),
            };
            lines.push(format!("C{}", serde_json::to_string(&checkpoint).expect("json")));
        }
    }
    write(dir, "chain", &[&[0u8][..], lines.join("\n").as_bytes()].concat());
    // After an accepted loss of entries 6-9, and a chain begun again at 1.
    let mut lost = ChainHead { chain: "a".into(), seq: 9, hash: "f".repeat(64) };
    let loss = lost.seal("2026-11-24T00:00:00Z".into(), vec![AuditRecord::audit_loss("a", "ops", (6, 9), "gone")]);
    let again = ChainHead::new("b").seal("x".into(), vec![record]);
    let more = [
        format!("a{}", serde_json::to_string(&loss).expect("json")),
        format!("b{}", serde_json::to_string(&again).expect("json")),
    ];
    write(dir, "loss", &[&[0u8][..], [lines, more.to_vec()].concat().join("\n").as_bytes()].concat());
    let known =
        KnownChain { chain: "a".into(), entries: 12, hash: head.hash.clone(), at: "2026-11-23T00:00:00Z".into() };
    write(
        dir,
        "known",
        &[&[0u8][..], b"a", serde_json::to_string(&known).expect("json").as_bytes(), b"\nanot json"].concat(),
    );
    write(dir, "sealed", &(0..96).map(|byte: u8| byte.wrapping_mul(29) | 1).collect::<Vec<_>>());
}

/// Structured targets take bytes as choices: a few patterns to start from.
fn structured(dir: &Path) {
    write(dir, "zeros", &[0; 64]);
    write(dir, "ones", &[0xff; 64]);
    write(dir, "ramp", &(0..=255).collect::<Vec<u8>>());
}
