//! The requests hostile clients send: envelopes with bad fields, lists far longer than anyone needs, and
//! settlements naming ack ids that were never handed out.

use bytes::Bytes;

use super::QUIET_TOPIC;
use crate::api as pb;
use crate::bench::through_gateway::envelope;

/// Entries of each huge list.
const HUGE: usize = 10_000;
/// Ack ids of each huge settlement.
const HUGE_SETTLEMENT: usize = 100_000;

/// A publish the gateway accepts from any agency system.
pub fn valid_publish() -> pb::PublishRequest {
    pb::PublishRequest { envelope: Some(envelope(Bytes::from_static(b"soak: a valid publish from a hostile client"))) }
}

fn with(change: impl FnOnce(&mut pb::Envelope)) -> Option<pb::Envelope> {
    let mut envelope = envelope(Bytes::from_static(b"soak: malformed"));
    change(&mut envelope);
    Some(envelope)
}

fn timestamp(seconds: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds, nanos: 0 })
}

/// Envelopes each of which breaks one rule of a publish.
pub fn malformed_envelopes() -> Vec<Option<pb::Envelope>> {
    vec![
        None,
        with(|envelope| envelope.kind = pb::Kind::Unspecified as i32),
        with(|envelope| envelope.kind = 999),
        with(|envelope| envelope.topic.clear()),
        with(|envelope| envelope.topic = "no spaces.or.dots >".into()),
        with(|envelope| envelope.markings = None),
        with(|envelope| envelope.markings.as_mut().into_iter().for_each(|markings| markings.classification = 99)),
        with(|envelope| envelope.recipients = vec!["no-such-party".into()]),
        with(|envelope| envelope.origin = "cbp".into()),
        with(|envelope| envelope.id = "chosen-by-the-client".into()),
        with(|envelope| envelope.title = "t".repeat(100 * 1024)),
        with(|envelope| envelope.body = Bytes::from(vec![b'x'; 1024 * 1024 + 1])),
        with(|envelope| envelope.expires_at = timestamp(i64::MAX)),
        with(|envelope| envelope.created_at = timestamp(i64::MIN)),
        with(|envelope| envelope.supersedes = "not-a-ulid".into()),
        with(|envelope| envelope.attributes = (0..HUGE).map(|n| (format!("k{n}"), "v".into())).collect()),
    ]
}

/// Envelopes with a huge recipient, REL TO or control list.
pub fn huge_list_envelopes() -> Vec<pb::Envelope> {
    let trigraphs: Vec<String> =
        (0..HUGE).map(|n| format!("{}{}{}", letter(n / 676), letter(n / 26), letter(n))).collect();
    let mut rel_to = envelope(Bytes::from_static(b"soak: huge REL TO"));
    if let Some(markings) = rel_to.markings.as_mut() {
        markings.classification = pb::Classification::Secret as i32;
        markings.rel_to = std::iter::once("USA".to_string()).chain(trigraphs).collect();
    }
    let mut recipients = envelope(Bytes::from_static(b"soak: huge recipients"));
    recipients.recipients = (0..HUGE).map(|n| format!("party-{n}")).collect();
    let mut controls = envelope(Bytes::from_static(b"soak: huge controls"));
    if let Some(markings) = controls.markings.as_mut() {
        markings.controls = vec![pb::DisseminationControl::Les as i32; HUGE];
    }
    vec![recipients, rel_to, controls]
}

fn letter(n: usize) -> char {
    char::from(b'A' + (n % 26) as u8)
}

/// A feed filter with huge lists of origins and topics.
pub fn huge_filter() -> pb::OpenSubscription {
    let filter = pb::FeedFilter {
        origins: (0..HUGE).map(|n| format!("party-{n}")).collect(),
        kinds: vec![pb::Kind::Report as i32; HUGE],
        topics: (0..HUGE).map(|n| format!("topic-{n}")).collect(),
    };
    pb::OpenSubscription { filter: Some(filter), ..Default::default() }
}

/// A filter that matches nothing the soak publishes.
pub fn quiet_filter() -> pb::FeedFilter {
    pb::FeedFilter { topics: vec![QUIET_TOPIC.to_string()], ..Default::default() }
}

/// An ack, nack or extend (by round) of 100,000 ack ids the gateway never handed out.
pub fn huge_settlement(round: u64) -> pb::SubscribeRequest {
    use pb::subscribe_request::Request;
    let ack_ids: Vec<String> = (0..HUGE_SETTLEMENT).map(|n| format!("{round}.{n}")).collect();
    let request = match round % 9 / 3 {
        0 => Request::Ack(pb::Acknowledge { ack_ids }),
        1 => Request::Nack(pb::NegativeAcknowledge { ack_ids, redelivery_delay: None }),
        _ => Request::Extend(pb::ExtendDeadline { ack_ids }),
    };
    pb::SubscribeRequest { request: Some(request) }
}
