//! The well-behaved pair of the soak: a publisher that keeps every receipt and a subscriber that acks
//! every delivery, and the check that each acknowledged publish was delivered exactly as sent.
//!
//! The publisher (party `cbp`) sends paced PublishStream requests to `ia`; each body carries its due time
//! (for latency) and a sequence number (so no two are alike). A receipt that says `delivered` for `ia`
//! makes the message *acknowledged*, recorded by id with a digest of what was sent. The subscriber reads a
//! durable subscription of `ia` filtered to origin `cbp` (hostile clients publish as other parties), acks
//! every batch and records each delivery's id and digest. Both reconnect if their stream ends; the durable
//! resumes where it was, so a reconnect loses nothing.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use futures::StreamExt;
use prost::Message;
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use tokio::sync::{Notify, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

use super::super::measure::{Clock, Counter, Latencies, Pacer};
use super::super::rig::Rig;
use super::super::through_gateway::{PUBLISHER, RECIPIENT, envelope};
use crate::api as pb;
use crate::identity::Role;

/// What identifies a message's content: the fields the publisher set.
pub type Digest = [u8; 16];

/// Publishes in flight on the pair's PublishStream.
const WINDOW: usize = 256;
/// Pause before a stream that ended is opened again.
const RECONNECT_PAUSE: Duration = Duration::from_millis(200);

/// The digest of an envelope's content: kind, topic, title, content type, markings, precedence, body. The
/// markings count by their meaning (canonical banner and TLP): the gateway stores them canonical, with the
/// banner beside the fields.
pub fn digest(envelope: &pb::Envelope) -> Digest {
    let content = pb::Envelope {
        kind: envelope.kind,
        topic: envelope.topic.clone(),
        title: envelope.title.clone(),
        content_type: envelope.content_type.clone(),
        markings: envelope.markings.as_ref().map(|markings| pb::Markings {
            banner: crate::grpc::convert::markings(Some(markings)).map(|parsed| parsed.banner()).unwrap_or_default(),
            tlp: markings.tlp,
            ..Default::default()
        }),
        precedence: envelope.precedence,
        body: envelope.body.clone(),
        ..Default::default()
    };
    let hash = Sha256::digest(content.encode_to_vec());
    hash[..16].try_into().expect("a SHA-256 hash is 32 bytes")
}

/// What the pair saw, shared by its tasks.
#[derive(Default)]
pub struct Ledger {
    /// Acknowledged publishes: message id -> digest of what was sent.
    acknowledged: HashMap<String, Digest>,
    /// Deliveries: message id -> digest of the first copy, and how many copies came.
    delivered: HashMap<String, (Digest, u32)>,
    /// Delivered copies whose digest differed from the first copy of the same id.
    changed_copies: u64,
    /// Publishes answered with an error, and streams that ended and were opened again.
    publish_errors: u64,
    reconnects: u64,
    /// Why a stream of the pair last ended, for a run that cannot start.
    last_error: Option<String>,
}

#[derive(Clone, Default)]
pub struct SharedLedger(Arc<Mutex<Ledger>>);

impl SharedLedger {
    fn lock(&self) -> MutexGuard<'_, Ledger> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn acknowledged(&self) -> usize {
        self.lock().acknowledged.len()
    }

    /// Acknowledged publishes not delivered yet.
    pub fn outstanding(&self) -> usize {
        let ledger = self.lock();
        ledger.acknowledged.keys().filter(|id| !ledger.delivered.contains_key(*id)).count()
    }

    pub fn last_error(&self) -> Option<String> {
        self.lock().last_error.clone()
    }

    pub fn verify(&self) -> Verification {
        verify(&self.lock())
    }
}

/// The check of a run: every acknowledged publish delivered, exactly as sent.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Verification {
    pub acknowledged: u64,
    /// Acknowledged and delivered with the content sent.
    pub delivered_as_sent: u64,
    /// Acknowledged but never delivered.
    pub missing: u64,
    /// Delivered with content other than what was sent (or a copy differing from the first).
    pub altered: u64,
    /// Copies beyond the first of a message: at-least-once allows them, the report counts them.
    pub duplicates: u64,
    /// Delivered without a receipt: a publish whose receipt was lost (stream ended), or not the pair's.
    pub delivered_unacknowledged: u64,
    pub publish_errors: u64,
    pub reconnects: u64,
    /// missing == 0 and altered == 0 and something was acknowledged.
    pub all_acknowledged_delivered_as_sent: bool,
}

/// Compares what was acknowledged with what was delivered.
fn verify(ledger: &Ledger) -> Verification {
    let (mut as_sent, mut missing, mut altered) = (0, 0, ledger.changed_copies);
    for (id, sent) in &ledger.acknowledged {
        match ledger.delivered.get(id) {
            Some((received, _)) if received == sent => as_sent += 1,
            Some(_) => altered += 1,
            None => missing += 1,
        }
    }
    let duplicates = ledger.delivered.values().map(|(_, copies)| u64::from(copies.saturating_sub(1))).sum();
    let unacknowledged = ledger.delivered.keys().filter(|id| !ledger.acknowledged.contains_key(*id)).count();
    Verification {
        acknowledged: ledger.acknowledged.len() as u64,
        delivered_as_sent: as_sent,
        missing,
        altered,
        duplicates,
        delivered_unacknowledged: unacknowledged as u64,
        publish_errors: ledger.publish_errors,
        reconnects: ledger.reconnects,
        all_acknowledged_delivered_as_sent: missing == 0 && altered == 0 && !ledger.acknowledged.is_empty(),
    }
}

/// A body of `size` bytes (at least 16): the due-time stamp, then the sequence number.
fn body(clock: &Clock, size: usize, due: tokio::time::Instant, sequence: u64) -> Bytes {
    let stamped = clock.payload(size.max(16), due);
    let mut body = BytesMut::from(&stamped[..8]);
    body.put_u64(sequence);
    body.extend_from_slice(&stamped[16..]);
    body.freeze()
}

/// Publishes at `rate` until `stop`, reopening the stream if it ends; records receipts in `ledger`.
pub fn publish(rig: Arc<Rig>, rate: u32, size: usize, clock: Clock, ledger: SharedLedger, stop: CancellationToken) {
    tokio::spawn(async move {
        let mut pacer = Pacer::new(rate);
        let mut sequence = 0;
        while !stop.is_cancelled() {
            if let Err(error) = publish_stream(&rig, &mut pacer, &mut sequence, size, clock, &ledger, &stop).await {
                ledger.lock().last_error = Some(format!("publisher: {error:#}"));
            }
            if stop.is_cancelled() {
                break;
            }
            ledger.lock().reconnects += 1;
            tokio::time::sleep(RECONNECT_PAUSE).await;
        }
    });
}

async fn publish_stream(
    rig: &Rig,
    pacer: &mut Pacer,
    sequence: &mut u64,
    size: usize,
    clock: Clock,
    ledger: &SharedLedger,
    stop: &CancellationToken,
) -> anyhow::Result<()> {
    let mut client = rig.client(PUBLISHER, Role::AgencySystem).await?;
    let (requests, outgoing) = mpsc::channel::<pb::PublishStreamRequest>(WINDOW);
    let mut responses = client.publish_stream(ReceiverStream::new(outgoing)).await?.into_inner();
    // Digests of the requests sent and not answered yet, in request order (responses come in that order).
    let mut in_flight: VecDeque<Digest> = VecDeque::new();
    loop {
        tokio::select! {
            () = stop.cancelled(), if in_flight.is_empty() => return Ok(()),
            due = pacer.next(), if in_flight.len() < WINDOW && !stop.is_cancelled() => {
                *sequence += 1;
                let envelope = envelope(body(&clock, size, due, *sequence));
                in_flight.push_back(digest(&envelope));
                requests.send(pb::PublishStreamRequest { envelope: Some(envelope) }).await?;
            }
            response = responses.message() => {
                let Some(response) = response? else { anyhow::bail!("the publish stream ended") };
                let sent = in_flight.pop_front().ok_or_else(|| anyhow::anyhow!("a response to no request"))?;
                record_receipt(ledger, response.result, sent);
            }
        }
    }
}

fn record_receipt(ledger: &SharedLedger, result: Option<pb::publish_stream_response::Result>, sent: Digest) {
    use pb::recipient_outcome::Outcome;
    let mut ledger = ledger.lock();
    match result {
        Some(pb::publish_stream_response::Result::Receipt(receipt)) => {
            let delivered = receipt
                .outcomes
                .iter()
                .any(|outcome| outcome.party == RECIPIENT && matches!(outcome.outcome, Some(Outcome::Delivered(_))));
            match delivered {
                true => drop(ledger.acknowledged.insert(receipt.message_id, sent)),
                false => ledger.publish_errors += 1,
            }
        }
        _ => ledger.publish_errors += 1,
    }
}

/// Reads a durable subscription of the recipient (origin: the publisher only), acking every batch and
/// recording each delivery, until `stop`; reopens it if it ends. The notification fires at each open.
pub fn subscribe(
    rig: Arc<Rig>,
    durable: String,
    clock: Clock,
    (delivered, latencies): (Counter, Latencies),
    ledger: SharedLedger,
    stop: CancellationToken,
) -> Arc<Notify> {
    let opened = Arc::new(Notify::new());
    let notify = opened.clone();
    tokio::spawn(async move {
        while !stop.is_cancelled() {
            let counters = (&delivered, &latencies);
            let result = read_durable(&rig, &durable, clock, counters, &ledger, &notify, &stop).await;
            if let Err(error) = result {
                ledger.lock().last_error = Some(format!("subscriber: {error:#}"));
            }
            if stop.is_cancelled() {
                break;
            }
            ledger.lock().reconnects += 1;
            tokio::time::sleep(RECONNECT_PAUSE).await;
        }
    });
    opened
}

async fn read_durable(
    rig: &Rig,
    durable: &str,
    clock: Clock,
    (delivered, latencies): (&Counter, &Latencies),
    ledger: &SharedLedger,
    opened: &Notify,
    stop: &CancellationToken,
) -> anyhow::Result<()> {
    use pb::subscribe_request::Request;
    let mut client = rig.client(RECIPIENT, Role::Analyst).await?;
    let (requests, outgoing) = mpsc::channel(64);
    let open = pb::OpenSubscription {
        durable_name: durable.to_string(),
        filter: Some(pb::FeedFilter { origins: vec![PUBLISHER.to_string()], ..Default::default() }),
        max_outstanding_messages: 1000,
        ..Default::default()
    };
    requests.send(pb::SubscribeRequest { request: Some(Request::Open(open)) }).await?;
    let mut responses = client.subscribe(ReceiverStream::new(outgoing)).await?.into_inner();
    loop {
        let response = tokio::select! {
            () = stop.cancelled() => return Ok(()),
            response = responses.next() => response,
        };
        let Some(response) = response.transpose()?.and_then(|response| response.response) else {
            anyhow::bail!("the subscription ended");
        };
        let batch = match response {
            pb::subscribe_response::Response::Deliveries(batch) => batch,
            pb::subscribe_response::Response::Opened(_) => {
                opened.notify_one();
                continue;
            }
            _ => continue,
        };
        delivered.add(batch.deliveries.len() as u64);
        let mut ack_ids = Vec::with_capacity(batch.deliveries.len());
        for delivery in batch.deliveries {
            if let Some(envelope) = &delivery.envelope {
                if let Some(age) = clock.age(&envelope.body) {
                    latencies.record(age);
                }
                record_delivery(ledger, envelope);
            }
            ack_ids.push(delivery.ack_id);
        }
        requests.send(pb::SubscribeRequest { request: Some(Request::Ack(pb::Acknowledge { ack_ids })) }).await?;
    }
}

fn record_delivery(ledger: &SharedLedger, envelope: &pb::Envelope) {
    let received = digest(envelope);
    let mut ledger = ledger.lock();
    let mut changed = false;
    ledger
        .delivered
        .entry(envelope.id.clone())
        .and_modify(|(first, copies)| {
            *copies += 1;
            changed = *first != received;
        })
        .or_insert((received, 1));
    if changed {
        ledger.changed_copies += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ledger(acknowledged: &[(&str, u8)], delivered: &[(&str, u8, u32)]) -> Ledger {
        Ledger {
            acknowledged: acknowledged.iter().map(|(id, content)| (id.to_string(), [*content; 16])).collect(),
            delivered: delivered
                .iter()
                .map(|(id, content, copies)| (id.to_string(), ([*content; 16], *copies)))
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn every_acknowledged_publish_must_arrive_with_its_content() {
        let all = verify(&ledger(&[("a", 1), ("b", 2)], &[("a", 1, 1), ("b", 2, 3), ("x", 9, 1)]));
        assert!(all.all_acknowledged_delivered_as_sent, "{all:?}");
        assert_eq!((all.delivered_as_sent, all.duplicates, all.delivered_unacknowledged), (2, 2, 1));

        let lost = verify(&ledger(&[("a", 1), ("b", 2)], &[("a", 1, 1)]));
        assert!(!lost.all_acknowledged_delivered_as_sent);
        assert_eq!(lost.missing, 1);

        let altered = verify(&ledger(&[("a", 1)], &[("a", 7, 1)]));
        assert!(!altered.all_acknowledged_delivered_as_sent);
        assert_eq!(altered.altered, 1);

        let nothing = verify(&ledger(&[], &[]));
        assert!(!nothing.all_acknowledged_delivered_as_sent, "an empty run proves nothing");
    }

    #[test]
    fn bodies_are_stamped_numbered_and_digests_see_the_content() {
        let clock = Clock::new();
        let now = tokio::time::Instant::now();
        let (first, second) = (body(&clock, 64, now, 1), body(&clock, 64, now, 2));
        assert_eq!(first.len(), 64);
        assert_ne!(first, second);
        assert!(clock.age(&first).is_some());
        let (mut sent, received) = (envelope(first.clone()), envelope(first));
        assert_eq!(digest(&sent), digest(&received));
        sent.id = "assigned by the gateway".into();
        assert_eq!(digest(&sent), digest(&received), "fields the gateway sets are not content");
        sent.title.push('!');
        assert_ne!(digest(&sent), digest(&received));
    }
}
