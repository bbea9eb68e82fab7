//! Records encoded where they are made seal into exactly the entry, bytes and hash, that serialising the
//! whole [`AuditEntry`] gives, however a group commit splits them; and a record's JSON is the format that
//! chains already stored hold.

use std::borrow::Cow;

use proptest::prelude::*;

use super::EncodedRecords;
use crate::audit::{AuditEntry, AuditRecord, ChainHead, Event, MessageRef, entry_hash};

/// A record of `event` with every optional field set or left empty by `fill`.
fn record(event: Event, text: &str, fill: [bool; 4], lost: Option<(u64, u64)>) -> AuditRecord<'static> {
    let message = MessageRef { message_id: text, origin: "cbp", policy_version: "v1" };
    let set = |on: bool| if on { Cow::Owned(text.to_string()) } else { Cow::Borrowed("") };
    AuditRecord {
        subscriber: set(fill[0]),
        basis: set(fill[1]),
        reason: set(fill[2]),
        markings: set(fill[3]),
        kind: set(fill[0]),
        topic: set(fill[1]),
        precedence: set(fill[2]),
        tlp: set(fill[3]),
        criminal_intelligence: fill[0],
        by_policy: fill[1],
        lost,
        unknown_recipients: if fill[2] { Cow::Owned(vec![text.to_string()]) } else { Cow::Borrowed(&[]) },
        ..AuditRecord::approved(&message, "ia", "rule", "", "").into_owned()
    }
    .with_event(event)
}

impl AuditRecord<'static> {
    fn with_event(self, event: Event) -> AuditRecord<'static> {
        AuditRecord { event, ..self }
    }
}

#[test]
fn a_record_is_encoded_as_stored_chains_hold_it() {
    let message = MessageRef { message_id: "01J0", origin: "cbp", policy_version: "v7" };
    let delivered = AuditRecord::delivered(&message, "ia", "ia-analyst", "personal check");
    let mut encoded = EncodedRecords::from(delivered);
    let denied = AuditRecord::denied_unknown(&message, vec!["nobody".into()], "UNKNOWN_PARTY");
    encoded.push(&AuditRecord { criminal_intelligence: true, by_policy: true, lost: Some((4, 9)), ..denied });
    assert_eq!(encoded.len(), 2);
    assert_eq!(
        String::from_utf8(encoded.json.clone()).unwrap(),
        concat!(
            r#"{"event":"delivered","message_id":"01J0","origin":"cbp","recipient":"ia","subscriber":"ia-analyst","#,
            r#""decided_by":"personal check","policy_version":"v7"},"#,
            r#"{"event":"denied","message_id":"01J0","origin":"cbp","recipient":"","decided_by":"UNKNOWN_PARTY","#,
            r#""policy_version":"v7","criminal_intelligence":true,"lost":[4,9],"unknown_recipients":["nobody"],"#,
            r#""by_policy":true}"#
        )
    );
}

#[test]
fn appending_an_empty_run_or_to_one_adds_no_separator() {
    let message = MessageRef { message_id: "m", origin: "cbp", policy_version: "v" };
    let one = EncodedRecords::from(AuditRecord::denied(&message, "fbi", "NO_ROUTE"));
    let mut all = EncodedRecords::default();
    all.append(&EncodedRecords::default());
    all.append(&one);
    all.append(&EncodedRecords::default());
    assert_eq!(all, one);
    all.clear();
    assert!(all.is_empty() && all.json_len() == 0);
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        Just(Event::Approved),
        Just(Event::Denied),
        Just(Event::Delivered),
        Just(Event::Withheld),
        Just(Event::AuditLoss),
        Just(Event::RfiAnswered),
    ]
}

fn records() -> impl Strategy<Value = Vec<AuditRecord<'static>>> {
    let one = (event(), "\\PC{0,24}", any::<[bool; 4]>(), proptest::option::of(any::<(u64, u64)>()))
        .prop_map(|(event, text, fill, lost)| record(event, &text, fill, lost));
    proptest::collection::vec(one, 0..12)
}

proptest! {
    #[test]
    fn records_encoded_in_any_runs_seal_into_the_serialised_entry(
        entries in proptest::collection::vec((records(), proptest::collection::vec(0usize..12, 0..4)), 1..4),
        chain in "[a-z0-9-]{1,12}",
        at in "\\PC{0,30}",
    ) {
        let (mut encoded, mut plain) = (ChainHead::new(&chain), ChainHead::new(&chain));
        for (records, cuts) in entries {
            // Split the records into runs where `cuts` says, as submissions of one group commit would be.
            let mut cuts: Vec<usize> = cuts.into_iter().map(|cut| cut.min(records.len())).collect();
            cuts.sort_unstable();
            let mut parts = Vec::new();
            let mut start = 0;
            for cut in cuts.into_iter().chain([records.len()]) {
                parts.push(EncodedRecords::from(&records[start..cut]));
                start = cut;
            }
            let sealed = encoded.seal_encoded(&at, &parts);
            let entry = plain.seal(at.clone(), records);
            prop_assert_eq!(&sealed.json, &serde_json::to_vec(&entry).unwrap());
            prop_assert_eq!((sealed.seq, &sealed.hash, &sealed.prev_hash), (entry.seq, &entry.hash, &entry.prev_hash));
            let stored: AuditEntry = serde_json::from_slice(&sealed.json).unwrap();
            prop_assert_eq!(entry_hash(&stored), sealed.hash.clone());
            prop_assert_eq!(stored, entry);
        }
    }
}
