//! The audit entry decoder and the chain verifier (`audit.rs`, `audit/verifier.rs`, `audit/continuity.rs`).
//!
//! Input: one byte choosing the mode, then
//! - even: stored messages, one per line, as `liaison audit verify` reads them from the stream: a line
//!   starting with `C` is a checkpoint, with `b` an entry of chain `b`, anything else an entry of chain `a`
//!   (the rest of the line is the JSON payload; what does not decode is an unreadable message);
//! - odd: a chain sealed by `ChainHead::seal` from structured records (audit-loss ranges at the edges, a
//!   start after a lost head), with signed checkpoints, then reordered, tampered with or cut: an intact or
//!   only reordered chain verifies to its head, any change to an entry's content breaks it.
#![no_main]

use std::borrow::Cow;
use std::sync::OnceLock;

use liaison::audit::continuity::{self, KnownChain};
use liaison::audit::{
    AuditEntry, AuditRecord, ChainHead, ChainReport, Checkpoint, Event, entry_hash, verify, verify_all, written_at,
};
use liaison::identity::{SigningKey, verify_signature};
use liaison_fuzz::word;
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

struct Key {
    key: SigningKey,
    public_pem: String,
    _dir: tempfile::TempDir,
}

fn key() -> &'static Key {
    static KEY: OnceLock<Key> = OnceLock::new();
    KEY.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let key = SigningKey::create_file(&dir.path().join("signing-key.pem")).expect("a new key");
        Key { public_pem: key.public_pem(), key, _dir: dir }
    })
}

fn check_signature(kid: &str, message: &str, signature: &str) -> Option<bool> {
    (kid == key().key.kid()).then(|| verify_signature(&key().public_pem, message.as_bytes(), signature))
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    match mode % 2 {
        0 => stored(rest),
        _ => {
            let _ = sealed(&mut Unstructured::new(rest));
        }
    }
});

type Stored = Vec<(u64, String, Option<AuditEntry>)>;

fn stored(rest: &[u8]) {
    let mut entries: Stored = Vec::new();
    let mut checkpoints = Vec::new();
    for (index, line) in rest.split(|&byte| byte == b'\n').enumerate() {
        let stream_sequence = index as u64 + 1;
        let Some((&kind, payload)) = line.split_first() else { continue };
        if kind == b'C' {
            if let Ok(checkpoint) = serde_json::from_slice::<Checkpoint>(payload) {
                checkpoints.push((stream_sequence, checkpoint));
            }
            continue;
        }
        let chain = if kind == b'b' { "b" } else { "a" };
        let entry = serde_json::from_slice::<AuditEntry>(payload).ok();
        if let Some(entry) = &entry {
            let _ = written_at(entry);
            let _ = entry_hash(entry);
        }
        if let Ok(known) = serde_json::from_slice::<KnownChain>(payload) {
            let head = ChainHead { chain: known.chain.clone(), seq: known.entries / 2, hash: known.hash.clone() };
            if let Some(loss) = continuity::check(&head, &[("data dir", Some(known))]) {
                let _ = (loss.range(), loss.explanation(), loss.refusal(), loss.continue_from(), loss.record("fuzz"));
            }
        }
        entries.push((stream_sequence, chain.to_string(), entry));
    }
    let reports = verify_all(entries.clone(), &checkpoints, &check_signature);
    check_reports(&reports);
    // Without checkpoints, one chain alone verifies as `verify` says.
    let alone: Vec<_> = entries.into_iter().filter(|(_, chain, _)| chain == "a").collect();
    if alone.iter().all(|(_, _, entry)| entry.is_some()) && !alone.is_empty() {
        let simple = verify("a", alone.iter().map(|(at, _, entry)| (*at, entry.clone().expect("decoded"))));
        let full = verify_all(alone, &[], &check_signature);
        assert_eq!(full.len(), 1);
        assert_eq!(simple, full[0].result);
    }
}

/// One report per chain, in name order; a broken chain names the entry and why.
fn check_reports(reports: &[ChainReport]) {
    assert!(reports.windows(2).all(|pair| pair[0].chain < pair[1].chain), "reports out of order or repeated");
    for report in reports {
        if let Err(broken) = &report.result {
            assert_eq!(broken.chain, report.chain);
            assert!(!broken.why.is_empty());
        }
    }
}

fn record(u: &mut Unstructured<'_>, head: u64) -> Result<AuditRecord<'static>> {
    let events = [Event::Approved, Event::Denied, Event::Delivered, Event::Purged, Event::AuditLoss];
    let event = *u.choose(&events)?;
    let edges = [0, 1, head, head.saturating_add(1), u64::MAX - 1, u64::MAX];
    let lost = match event {
        Event::AuditLoss => Some((*u.choose(&edges)?, *u.choose(&edges)?)),
        _ => None,
    };
    Ok(AuditRecord {
        event,
        message_id: word(u)?.into(),
        origin: word(u)?.into(),
        recipient: word(u)?.into(),
        subscriber: "".into(),
        decided_by: word(u)?.into(),
        basis: "".into(),
        policy_version: "fuzz".into(),
        reason: "".into(),
        subject: "".into(),
        markings: match u.arbitrary()? {
            true => Cow::Borrowed(*u.choose(&["SECRET//REL TO USA, FVEY", "TOP SECRET//SI-G/TK//ORCON/NOFORN", ""])?),
            false => word(u)?.into(),
        },
        criminal_intelligence: u.arbitrary()?,
        lost,
        unknown_recipients: match event {
            Event::Denied if u.arbitrary()? => {
                (0..u.int_in_range(1..=3)?).map(|_| word(u)).collect::<Result<Vec<_>>>()?.into()
            }
            _ => Vec::new().into(),
        },
        kind: match u.arbitrary()? {
            true => Cow::Borrowed(*u.choose(&["report", "alert", ""])?),
            false => word(u)?.into(),
        },
        topic: word(u)?.into(),
        precedence: Cow::Borrowed(*u.choose(&["", "flash", "immediate"])?),
        tlp: Cow::Borrowed(*u.choose(&["", "amber", "amber+strict"])?),
        by_policy: u.arbitrary()?,
    })
}

fn sealed(u: &mut Unstructured<'_>) -> Result<()> {
    // A chain from its start, or continued after an accepted loss of entries 1..=lost.
    let lost: u64 = match u.int_in_range(0..=3)? {
        0 => *u.choose(&[1, 2, 4095, 4096, 4097, u64::MAX / 2, u64::MAX - 64])?,
        _ => 0,
    };
    let mut head = match lost {
        0 => ChainHead::new("a"),
        lost => ChainHead { chain: "a".into(), seq: lost, hash: "f".repeat(64) },
    };
    let mut chain = Vec::new();
    for index in 0..u.int_in_range(0..=12)? {
        let mut records = (0..u.int_in_range(0..=3)?).map(|_| record(u, head.seq)).collect::<Result<Vec<_>>>()?;
        if index == 0 && lost > 0 {
            // What `--accept-audit-loss` writes; the verifier reads the first loss record of an entry.
            records.insert(0, AuditRecord::audit_loss("a", "fuzz", (1, lost), "accepted"));
        }
        let at = u.choose(&["2026-01-01T00:00:00Z", "1970-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "", "x"])?;
        chain.push(head.seal(at.to_string(), records));
    }
    let checkpoints: Vec<(u64, Checkpoint)> = chain
        .iter()
        .enumerate()
        .filter(|(index, _)| index % 3 == 2)
        .map(|(index, entry)| {
            let message = Checkpoint::message(&entry.chain, entry.seq, &entry.hash, &entry.at);
            let checkpoint = Checkpoint {
                chain: entry.chain.clone(),
                seq: entry.seq,
                hash: entry.hash.clone(),
                at: entry.at.clone(),
                kid: key().key.kid().to_string(),
                signature: key().key.sign(message.as_bytes()),
            };
            (2 * index as u64 + 2, checkpoint)
        })
        .collect();
    let stored = |entries: &[AuditEntry]| -> Stored {
        entries
            .iter()
            .enumerate()
            .map(|(index, entry)| (2 * index as u64 + 1, "a".into(), Some(entry.clone())))
            .collect()
    };
    if chain.is_empty() {
        return Ok(());
    }
    let intact = verify_all(stored(&chain), &checkpoints, &check_signature);
    assert_eq!(intact.len(), 1);
    assert_eq!(intact[0].result, Ok(head.clone()), "an intact chain does not verify");
    assert_eq!(intact[0].checkpoints_verified, checkpoints.len());

    // Reordered within the window: still intact.
    let mut reordered = chain.clone();
    for _ in 0..u.int_in_range(0..=4)? {
        let (i, j) = (u.choose_index(reordered.len())?, u.choose_index(reordered.len())?);
        reordered.swap(i, j);
    }
    let report = verify_all(stored(&reordered), &checkpoints, &check_signature);
    assert_eq!(report[0].result, Ok(head.clone()), "a reordered chain does not verify");

    // Tampered with: any change to an entry's content breaks the chain.
    let mut tampered = chain.clone();
    let victim = u.choose_index(tampered.len())?;
    let entry = &mut tampered[victim];
    match u.int_in_range(0..=3)? {
        0 => entry.at.push('!'),
        1 => entry.records.push(record(u, entry.seq)?),
        2 => entry.prev_hash = "0".repeat(64),
        _ => {
            if let Some(record) = entry.records.first_mut() {
                record.recipient.to_mut().push('x');
            } else {
                entry.chain = "b".into();
            }
        }
    }
    let report = verify_all(stored(&tampered), &checkpoints, &check_signature);
    check_reports(&report);
    if tampered[victim] != chain[victim] {
        assert!(report.iter().any(|report| report.result.is_err()), "entry {victim} changed, chain still intact");
    }

    // Cut: an entry gone from the middle breaks the chain.
    if chain.len() >= 3 {
        let mut cut = chain.clone();
        let removed = u.int_in_range(1..=chain.len() - 2)?;
        cut.remove(removed);
        let report = verify_all(stored(&cut), &[], &check_signature);
        // Unless the entry after it says the entry is lost (an audit-loss record naming it).
        let declared = cut[removed].records.iter().any(|record| record.event == Event::AuditLoss);
        assert!(declared || report[0].result.is_err(), "an entry removed, chain still intact");
    }
    Ok(())
}
