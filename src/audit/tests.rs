//! Hash chains: sealing links entries; altering, removing or inserting one is named by `verify`.

use super::*;

fn record(message_id: &str) -> AuditRecord<'static> {
    let message = MessageRef { message_id, origin: "cbp", policy_version: "v1" };
    AuditRecord::approved(&message, "ia", "cbp-to-hub", "border threat reporting", "").into_owned()
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

/// The hash as documented, computed the plain way: SHA-256 of the previous hash and the JSON of the whole
/// entry with `hash` empty.
fn reference_hash(entry: &AuditEntry) -> String {
    let unsealed = AuditEntry { hash: String::new(), ..entry.clone() };
    let mut hasher = Sha256::new();
    hasher.update(entry.prev_hash.as_bytes());
    hasher.update(serde_json::to_vec(&unsealed).unwrap());
    hasher.finalize().iter().map(|byte| format!("{byte:02x}")).collect()
}

#[test]
fn an_entry_sealed_encoded_is_byte_for_byte_the_sealed_entry_and_verifies() {
    let mut encoded = ChainHead::new("gw-a");
    let mut plain = ChainHead::new("gw-a");
    let mut odd = record("m-\"quoted\"\n");
    odd.reason = "line\nbreak and \\ backslash, ünïcode".into();
    for records in [vec![record("1"), odd], Vec::new(), vec![record("3")]] {
        let sealed = encoded.seal_encoded("2026-11-23T00:00:00Z", &[EncodedRecords::from(&records[..])]);
        let entry = plain.seal("2026-11-23T00:00:00Z".into(), records);
        assert_eq!(sealed.json, serde_json::to_vec(&entry).unwrap(), "what is stored is the sealed entry's JSON");
        assert_eq!((sealed.seq, &sealed.hash, &sealed.prev_hash), (entry.seq, &entry.hash, &entry.prev_hash));
        assert_eq!(entry_hash(&serde_json::from_slice(&sealed.json).unwrap()), sealed.hash);
        assert_eq!(reference_hash(&entry), sealed.hash, "the hash is the documented one");
    }
    assert_eq!((encoded.seq, &encoded.hash), (plain.seq, &plain.hash));
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

fn checkpoint_of(entry: &AuditEntry, kid: &str, signature: &str) -> Checkpoint {
    Checkpoint {
        chain: entry.chain.clone(),
        seq: entry.seq,
        hash: entry.hash.clone(),
        at: "2026-11-23T00:00:00Z".into(),
        kid: kid.into(),
        signature: signature.into(),
    }
}

/// Signatures are "good" or anything else; key "unknown" is not known.
fn fake_verify(kid: &str, _message: &str, signature: &str) -> Option<bool> {
    (kid != "unknown").then_some(signature == "good")
}

fn report(stored: &[(u64, AuditEntry)], checkpoints: &[(u64, Checkpoint)]) -> ChainReport {
    let stored = stored.iter().map(|(sequence, entry)| (*sequence, entry.chain.clone(), Some(entry.clone()))).collect();
    verify_all(stored, checkpoints, &fake_verify).remove(0)
}

#[test]
fn signed_checkpoints_are_verified_or_counted_as_unchecked() {
    let entries = chain(4);
    let checkpoints =
        [(41, checkpoint_of(&entries[1].1, "k1", "good")), (42, checkpoint_of(&entries[3].1, "unknown", "whatever"))];
    let report = report(&entries, &checkpoints);
    assert!(report.result.is_ok(), "{report:?}");
    assert_eq!((report.checkpoints_verified, report.checkpoints_unchecked), (1, 1));
}

#[test]
fn a_rebuilt_chain_or_a_forged_checkpoint_is_named() {
    // The chain was rebuilt from entry 2 on: every hash recomputed, so the chain itself verifies, but the
    // signed checkpoint of entry 3 names the old hash.
    let original = chain(4);
    let mut rebuilt = original.clone();
    let mut head = ChainHead { chain: "gw-a".into(), seq: 1, hash: rebuilt[0].1.hash.clone() };
    for (_, entry) in rebuilt.iter_mut().skip(1) {
        let mut records = entry.records.clone();
        records[0].recipient = "fbi".into();
        *entry = head.seal(entry.at.clone(), records);
    }
    let checkpoint = [(50, checkpoint_of(&original[2].1, "k1", "good"))];
    let broken = report(&rebuilt, &checkpoint).result.unwrap_err();
    assert_eq!((broken.seq, broken.stream_sequence), (3, 50));
    assert!(broken.why.contains("rebuilt"), "{broken}");

    let forged = [(51, checkpoint_of(&original[2].1, "k1", "forged"))];
    let broken = report(&original, &forged).result.unwrap_err();
    assert!(broken.why.contains("bad signature"), "{broken}");

    let beyond = [(52, checkpoint_of(&chain(6)[5].1, "k1", "good"))];
    let broken = report(&original, &beyond).result.unwrap_err();
    assert!(broken.why.contains("ends at entry 4"), "{broken}");
}

#[test]
fn a_long_chain_verifies_in_one_pass_with_entries_and_checkpoints_interleaved_as_stored() {
    // Three windows' worth of entries, each pair stored swapped, a checkpoint after every 100th entry.
    let length = 3 * WINDOW;
    let mut entries = chain(length);
    for pair in entries.chunks_mut(2) {
        pair.swap(0, 1);
    }
    let mut verifier = Verifier::new(&fake_verify);
    for (index, (stream_sequence, entry)) in entries.iter().enumerate() {
        verifier.entry(*stream_sequence, "gw-a", Some(entry.clone()));
        if index % 100 == 1 {
            verifier.checkpoint(stream_sequence + 1, checkpoint_of(entry, "k1", "good"));
        }
    }
    let report = verifier.finish().remove(0);
    assert_eq!(report.result.unwrap().seq, length as u64);
    assert_eq!((report.entries, report.checkpoints_verified), (length, length.div_ceil(100)));
}

#[test]
fn a_gap_wider_than_the_window_is_named_at_the_first_missing_entry() {
    let mut entries = chain(WINDOW + 10);
    entries.remove(1);
    let broken = verify("gw-a", entries).unwrap_err();
    assert_eq!(broken.seq, 3);
    assert!(broken.why.contains("follows entry 1: entries are missing"), "{broken}");
}

#[test]
fn a_checkpoint_is_checked_when_its_entry_arrives_but_not_long_after() {
    let entries = chain(WINDOW + 10);
    // Stored ahead of its entry (not what a gateway does, but the hash still decides).
    let mut verifier = Verifier::new(&fake_verify);
    verifier.checkpoint(1, checkpoint_of(&entries[2].1, "k1", "good"));
    verifier.entry(10, "gw-a", Some(entries[0].1.clone()));
    verifier.checkpoint(11, checkpoint_of(&entries[2].1, "k1", "good"));
    for (stream_sequence, entry) in &entries[1..] {
        verifier.entry(*stream_sequence, "gw-a", Some(entry.clone()));
    }
    let report = verifier.finish().remove(0);
    assert!(report.result.is_ok(), "{report:?}");
    assert_eq!(report.checkpoints_verified, 1, "counted for a chain with entries only");

    // A checkpoint of entry 1 stored after more than a window of later entries is not where a gateway
    // writes one.
    let stored: Vec<_> =
        entries.iter().map(|(sequence, entry)| (*sequence, "gw-a".to_string(), Some(entry.clone()))).collect();
    let late = [(u64::MAX, checkpoint_of(&entries[0].1, "k1", "good"))];
    let broken = verify_all(stored, &late, &fake_verify).remove(0).result.unwrap_err();
    assert_eq!((broken.seq, broken.stream_sequence), (1, u64::MAX));
    assert!(broken.why.contains("not among"), "{broken}");
}

/// Entries 1-3 of a chain, then the audit-loss entry 10 recording 4-9 lost, then entry 11.
fn chain_with_loss(lost: (u64, u64)) -> Vec<(u64, AuditEntry)> {
    let mut entries = chain(3);
    let mut head = ChainHead { chain: "gw-a".into(), seq: 9, hash: "f".repeat(64) };
    let loss = AuditRecord::audit_loss("gw-a", "ops", lost, "entries 4-9 are missing");
    entries.push((100, head.seal("2026-11-24T00:00:00Z".into(), vec![loss])));
    entries.push((110, head.seal("2026-11-24T00:00:01Z".into(), vec![record("after")])));
    entries
}

#[test]
fn an_accepted_loss_is_reported_and_only_its_exact_gap_is_accepted() {
    let report = report(&chain_with_loss((4, 9)), &[]);
    assert_eq!(report.result.as_ref().map(|head| head.seq), Ok(11), "{report:?}");
    assert_eq!(report.losses, [(4, 9)]);

    let broken = verify("gw-a", chain_with_loss((5, 9))).unwrap_err();
    assert!(broken.why.contains("entries are missing"), "{broken}");
}

#[test]
fn a_chain_begun_again_at_one_after_higher_entries_is_named() {
    let mut entries = chain(4);
    let again = chain(1).remove(0).1;
    entries.push((99, again));
    let broken = verify("gw-a", entries).unwrap_err();
    assert_eq!((broken.seq, broken.stream_sequence), (1, 99));
    assert!(broken.why.contains("restarts the chain at 1 after entry 4"), "{broken}");
}

#[test]
fn an_expected_chain_without_entries_is_missing_and_one_shorter_than_known_is_named() {
    let no_keys = |_: &str, _: &str, _: &str| None;
    let mut verifier = Verifier::new(&no_keys);
    for (sequence, entry) in chain(3) {
        verifier.entry(sequence, "gw-a", Some(entry));
    }
    verifier.expect("gw-a", 5, "the registry".into());
    verifier.expect("gw-b", 7, "the registry".into());
    verifier.expect("gw-empty", 0, "the registry".into());
    let checkpoint = checkpoint_of(&chain(2)[1].1, "k1", "good");
    verifier.checkpoint(200, Checkpoint { chain: "gw-c".into(), ..checkpoint });
    let reports = verifier.finish();
    let names: Vec<_> = reports.iter().map(|report| (report.chain.as_str(), report.missing)).collect();
    assert_eq!(names, [("gw-a", false), ("gw-b", true), ("gw-c", true)]);
    let short = reports[0].result.as_ref().unwrap_err();
    assert!(short.why.contains("knows 5 entries but the chain ends at entry 3"), "{short}");
    let missing = reports[1].result.as_ref().unwrap_err();
    assert!(missing.why.contains("the registry knows 7 entries but LIAISON_AUDIT holds none"), "{missing}");
    assert!(reports[2].result.as_ref().unwrap_err().why.contains("a signed checkpoint"));
}

#[test]
fn a_loss_range_or_sequence_at_the_end_of_u64_is_named_without_overflowing() {
    // Found by fuzzing (fuzz/corpus/audit): `last + 1` overflowed on a loss ending at u64::MAX, and
    // `head + 1` after an entry at u64::MAX.
    let broken = verify("gw-a", chain_with_loss((4, u64::MAX))).unwrap_err();
    assert!(broken.why.contains("entries are missing"), "{broken}");

    let mut head = ChainHead { chain: "gw-a".into(), seq: u64::MAX - 1, hash: "f".repeat(64) };
    let loss = AuditRecord::audit_loss("gw-a", "ops", (1, u64::MAX - 1), "all lost");
    let last = head.seal("2026-11-24T00:00:00Z".into(), vec![loss]);
    assert_eq!(verify("gw-a", [(1, last.clone())]).map(|head| head.seq), Ok(u64::MAX));
    let broken = verify("gw-a", [(1, last.clone()), (2, last)]).unwrap_err();
    assert!(broken.why.contains("repeats entry"), "{broken}");
}

#[test]
fn a_loss_of_no_entries_does_not_excuse_a_broken_link() {
    // An audit-loss record naming an empty range (4-3) on entry 4 accepts no gap and skips no link check.
    let mut entries = chain(3);
    let mut head = ChainHead { chain: "gw-a".into(), seq: 3, hash: "f".repeat(64) };
    let loss = AuditRecord::audit_loss("gw-a", "ops", (4, 3), "nothing");
    entries.push((40, head.seal("2026-11-24T00:00:00Z".into(), vec![loss])));
    let broken = verify("gw-a", entries).unwrap_err();
    assert_eq!(broken.seq, 4);
    assert!(broken.why.contains("prev_hash"), "{broken}");
}
