//! Hash chains: sealing links entries; altering, removing or inserting one is named by `verify`.

use super::*;

fn record(message_id: &str) -> AuditRecord {
    AuditRecord {
        event: Event::Approved,
        message_id: message_id.into(),
        origin: "cbp".into(),
        recipient: "ia".into(),
        subscriber: String::new(),
        decided_by: "cbp-to-hub".into(),
        basis: "border threat reporting".into(),
        policy_version: "v1".into(),
    }
}

fn chain(length: usize) -> Vec<(u64, AuditEntry)> {
    let mut head = ChainHead::new("gw-a");
    (1..=length as u64)
        .map(|seq| (seq * 10, head.seal("2026-11-23T00:00:00Z".into(), vec![record(&seq.to_string())])))
        .collect()
}

#[test]
fn a_sealed_chain_verifies_and_its_head_is_the_last_entry() {
    let entries = chain(5);
    let head = verify("gw-a", entries.clone()).unwrap();
    assert_eq!((head.seq, head.hash.as_str()), (5, entries[4].1.hash.as_str()));
    assert_eq!(entries[0].1.prev_hash, GENESIS);
    assert_eq!(entries[1].1.prev_hash, entries[0].1.hash);
}

#[test]
fn an_altered_entry_is_named() {
    let mut entries = chain(5);
    entries[2].1.records[0].recipient = "fbi".into();
    let broken = verify("gw-a", entries).unwrap_err();
    assert_eq!((broken.seq, broken.stream_sequence), (3, 30));
    assert!(broken.why.contains("altered"), "{broken}");
}

#[test]
fn a_resealed_alteration_breaks_the_next_link() {
    // Someone alters entry 3 and recomputes its hash: entry 4 no longer links to it.
    let mut entries = chain(5);
    entries[2].1.records[0].recipient = "fbi".into();
    entries[2].1.hash = entry_hash(&entries[2].1);
    let broken = verify("gw-a", entries).unwrap_err();
    assert_eq!(broken.seq, 4);
    assert!(broken.why.contains("prev_hash"), "{broken}");
}

#[test]
fn a_removed_or_inserted_entry_is_named() {
    let mut removed = chain(5);
    removed.remove(1);
    let broken = verify("gw-a", removed).unwrap_err();
    assert_eq!(broken.seq, 3);
    assert!(broken.why.contains("missing"), "{broken}");

    let mut inserted = chain(5);
    let forged = inserted[1].1.clone();
    inserted.insert(2, (25, forged));
    let broken = verify("gw-a", inserted).unwrap_err();
    assert_eq!((broken.seq, broken.stream_sequence), (2, 25));
    assert!(broken.why.contains("repeats"), "{broken}");
}

#[test]
fn entries_stored_out_of_order_still_verify() {
    // Entries 2 and 3 were in flight together and 3 was stored first.
    let mut entries = chain(4);
    entries.swap(1, 2);
    assert_eq!(verify("gw-a", entries).unwrap().seq, 4);
}

#[test]
fn another_chains_entry_is_refused() {
    let entries = chain(2);
    let broken = verify("gw-b", entries).unwrap_err();
    assert!(broken.why.contains("gw-a"), "{broken}");
}
