//! The hand-written [`Delivery`] against a twin derived by prost from the same fields, as
//! `proto/liaison/v1/gateway.proto` declares them.

use bytes::Bytes;
use proptest::prelude::*;
use prost::Message;

use super::Delivery;
use crate::api::{Envelope, Markings};

/// What prost-build generated for `liaison.v1.Delivery` before it was mapped to [`Delivery`].
#[derive(Clone, PartialEq, prost::Message)]
struct Derived {
    #[prost(string, tag = "1")]
    ack_id: String,
    #[prost(uint64, tag = "2")]
    stream_sequence: u64,
    #[prost(uint32, tag = "3")]
    delivery_attempt: u32,
    #[prost(message, optional, tag = "4")]
    stored_at: Option<prost_types::Timestamp>,
    #[prost(message, optional, tag = "5")]
    envelope: Option<Envelope>,
}

fn envelope(id: String, title: String, body: Vec<u8>) -> Envelope {
    Envelope {
        id,
        origin: "cbp".into(),
        recipients: vec!["ia".into(), "fbi".into()],
        kind: 2,
        topic: "border".into(),
        markings: Some(Markings { banner: "SECRET//REL TO USA, FVEY".into(), ..Default::default() }),
        precedence: 3,
        title,
        body: Bytes::from(body),
        attributes: [("case".to_string(), "7".to_string())].into(),
        ..Default::default()
    }
}

fn pair(sequence: u64, attempt: u32, envelope: Option<Envelope>) -> (Delivery, Derived) {
    let stored_at = Some(prost_types::Timestamp { seconds: 1_764_000_000, nanos: 5 });
    let ours = Delivery {
        ack_id: sequence.to_string(),
        stream_sequence: sequence,
        delivery_attempt: attempt,
        stored_at,
        envelope: None,
        stored_envelope: envelope.as_ref().map(|envelope| Bytes::from(envelope.encode_to_vec())),
    };
    let derived = Derived {
        ack_id: sequence.to_string(),
        stream_sequence: sequence,
        delivery_attempt: attempt,
        stored_at,
        envelope,
    };
    (ours, derived)
}

proptest! {
    #[test]
    fn a_delivery_of_stored_bytes_is_the_derived_delivery_byte_for_byte(
        sequence in any::<u64>(),
        attempt in any::<u32>(),
        id in "[a-z0-9-]{0,40}",
        title in "\\PC{0,60}",
        body in proptest::collection::vec(any::<u8>(), 0..2048),
        with_envelope in any::<bool>(),
    ) {
        let (ours, derived) = pair(sequence, attempt, with_envelope.then(|| envelope(id, title, body)));
        prop_assert_eq!(ours.encoded_len(), derived.encoded_len());
        prop_assert_eq!(ours.encode_to_vec(), derived.encode_to_vec());
    }

    #[test]
    fn decoding_fills_the_envelope_as_the_derived_type_does(
        sequence in any::<u64>(),
        title in "\\PC{0,60}",
        body in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let (_, derived) = pair(sequence, 1, Some(envelope("m-1".into(), title, body)));
        let decoded = Delivery::decode(derived.encode_to_vec().as_slice()).unwrap();
        prop_assert_eq!(decoded.stored_envelope.clone(), None);
        prop_assert_eq!(&decoded.envelope, &derived.envelope);
        prop_assert_eq!((decoded.ack_id.as_str(), decoded.stream_sequence, decoded.stored_at), (derived.ack_id.as_str(), derived.stream_sequence, derived.stored_at));
        // And what a client decoded encodes as the derived type does.
        prop_assert_eq!(decoded.encode_to_vec(), derived.encode_to_vec());
    }

    #[test]
    fn any_bytes_decode_or_fail_alike(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let ours = Delivery::decode(bytes.as_slice());
        let derived = Derived::decode(bytes.as_slice());
        prop_assert_eq!(ours.is_ok(), derived.is_ok());
        if let (Ok(ours), Ok(derived)) = (ours, derived) {
            prop_assert_eq!(ours.envelope, derived.envelope);
            prop_assert_eq!(ours.stream_sequence, derived.stream_sequence);
        }
    }
}

#[test]
fn stored_bytes_win_over_a_decoded_envelope_and_a_broken_envelope_is_named() {
    let stored = envelope("stored".into(), "t".into(), vec![1, 2, 3]);
    let delivery = Delivery {
        envelope: Some(envelope("decoded".into(), "t".into(), vec![])),
        stored_envelope: Some(Bytes::from(stored.encode_to_vec())),
        ..Default::default()
    };
    let decoded = Delivery::decode(delivery.encode_to_vec().as_slice()).unwrap();
    assert_eq!(decoded.envelope, Some(stored));

    // Field 5 announcing 10 bytes and holding 2.
    let error = Delivery::decode(&[0x2a, 10, 0x0a, 0][..]).unwrap_err();
    assert!(error.to_string().contains("Delivery.envelope"), "{error}");
}
