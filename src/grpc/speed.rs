//! Speed of service at the gateway ([`crate::speed`] decides, `bus::speed` keeps the state):
//!
//! - sessions hand the stream sequences their subscribers acknowledged to [`SpeedMarks`], and one task
//!   per gateway writes them as marks, a few hundred milliseconds of acks at a time;
//! - [`Gateway::sweep_speed_of_service`] judges, for every party and lane, the copies whose objective has
//!   passed: one without a mark is a miss, counted (`liaison_speed_of_service_missed_total`, WatchTraffic)
//!   and, for FLASH and IMMEDIATE, reported to the originator in a notice. Every gateway sweeps; the
//!   judging cursor moves by revision, so each copy is judged by one.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prost::Message;
use time::OffsetDateTime;
use tokio::sync::mpsc;

use super::publish;
use super::server::Gateway;
use super::{GatewayError, convert};
use crate::api as pb;
use crate::audit::{AuditRecord, MessageRef};
use crate::bus::{CopyOptions, StoredCopy};
use crate::grpc::notice::Notice;
use crate::model::{PartyId, Precedence, Topic};
use crate::router::Router;
use crate::speed::{self, Objectives};

/// Acks waiting for the writer, at most; past it marks are dropped (and counted) rather than held.
const MARK_QUEUE: usize = 4096;
/// How long the writer gathers acks before it writes them.
const MARK_EVERY: Duration = Duration::from_millis(200);
/// Time given to marks still on their way when a copy's objective passes.
pub const MARK_GRACE: Duration = Duration::from_secs(2);
/// Most copies judged per lane and party in one sweep; the rest wait for the next.
const JUDGED_PER_SWEEP: usize = 10_000;

/// Stream sequences a subscriber of the party acknowledged.
type Acked = (PartyId, Vec<u64>);

/// The acknowledgements on their way to becoming marks.
pub struct SpeedMarks {
    sender: mpsc::Sender<Acked>,
    /// Taken by the one task that writes the marks.
    receiver: Mutex<Option<mpsc::Receiver<Acked>>>,
    dropped: AtomicU64,
}

impl Default for SpeedMarks {
    fn default() -> SpeedMarks {
        let (sender, receiver) = mpsc::channel(MARK_QUEUE);
        SpeedMarks { sender, receiver: Mutex::new(Some(receiver)), dropped: AtomicU64::new(0) }
    }
}

impl SpeedMarks {
    /// Notes that a subscriber of `recipient` acknowledged `sequences`. Never waits: when the writer is
    /// behind, the marks are dropped and counted, and their copies may be reported as misses.
    pub fn acked(&self, recipient: &PartyId, sequences: Vec<u64>) {
        if sequences.is_empty() {
            return;
        }
        if self.sender.try_send((recipient.clone(), sequences)).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Acknowledgement batches dropped because the writer was behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// A copy no subscriber acknowledged in time.
struct Miss {
    precedence: Precedence,
    copy: StoredCopy,
}

impl Gateway {
    /// Acknowledgement batches not marked because the writer was behind.
    pub fn speed_marks_dropped(&self) -> u64 {
        self.speed_marks.dropped()
    }

    /// Notes acknowledgements by a subscriber of `recipient`, for speed of service.
    pub(super) fn note_acked(&self, recipient: &PartyId, sequences: Vec<u64>) {
        self.speed_marks.acked(recipient, sequences);
    }

    /// Writes acknowledgement marks until `stop`; returns at once if another task already does.
    pub async fn write_speed_marks(&self, stop: tokio_util::sync::CancellationToken) {
        let receiver = self.speed_marks.receiver.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        let Some(mut receiver) = receiver else { return };
        let mut gathered: HashMap<PartyId, Vec<u64>> = HashMap::new();
        loop {
            let deadline = tokio::time::sleep(MARK_EVERY);
            tokio::pin!(deadline);
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = &mut deadline => break,
                    received = receiver.recv() => match received {
                        Some((party, sequences)) => gathered.entry(party).or_default().extend(sequences),
                        None => break,
                    },
                }
            }
            for (party, sequences) in gathered.drain() {
                if let Err(error) = self.bus.mark_acked(&party, &sequences).await {
                    tracing::warn!(%party, %error, "could not mark acknowledgements for speed of service");
                }
            }
            if stop.is_cancelled() {
                return;
            }
        }
    }

    /// Judges every party's lanes once; returns the misses found. `first_after` is where a lane never
    /// judged starts (the feed's last sequence when this gateway started).
    pub async fn sweep_speed_of_service(&self, first_after: u64) -> Result<usize, GatewayError> {
        let router = self.policy.current();
        let objectives = self.limits.speed_of_service;
        let mut misses = 0;
        for party in router.directory().parties() {
            for lane in Precedence::LANES {
                if let Some(objective) = objectives.of(lane) {
                    misses += self.judge_lane(&router, &party.id, lane, objective, first_after).await?;
                }
            }
        }
        Ok(misses)
    }

    /// Judges the copies of one lane whose objective has passed and moves its cursor past them; counts
    /// and reports the misses only if this gateway moved the cursor.
    async fn judge_lane(
        &self,
        router: &Router,
        party: &PartyId,
        lane: Precedence,
        objective: Duration,
        first_after: u64,
    ) -> Result<usize, GatewayError> {
        let cursor = self.bus.speed_cursor(party, lane, first_after).await?;
        let now = OffsetDateTime::now_utc();
        let (mut last, mut misses) = (cursor.sequence, Vec::new());
        let mut chunk: Option<(u64, Vec<u8>)> = None;
        for _ in 0..JUDGED_PER_SWEEP {
            let Some(copy) = self.bus.next_copy(party, lane, last).await? else { break };
            if !speed::is_due(copy.stored_at, objective, MARK_GRACE, now) {
                break;
            }
            let wanted = speed::chunk_of(copy.sequence).0;
            if chunk.as_ref().is_none_or(|(index, _)| *index != wanted) {
                chunk = Some((wanted, self.bus.acked_chunk(party, wanted).await?));
            }
            let marked = chunk.as_ref().is_some_and(|(_, bitmap)| speed::is_marked(bitmap, copy.sequence));
            last = copy.sequence;
            if !marked {
                misses.push(Miss { precedence: lane, copy });
            }
        }
        if last == cursor.sequence && cursor.revision.is_some() {
            return Ok(0);
        }
        if !self.bus.move_speed_cursor(party, lane, cursor, last).await? {
            return Ok(0); // another gateway judged these copies
        }
        let count = misses.len();
        for miss in misses {
            self.report_miss(router, party, miss, objective).await;
        }
        Ok(count)
    }

    /// Counts a miss and, for FLASH and IMMEDIATE, sends the originator a notice.
    async fn report_miss(&self, router: &Router, recipient: &PartyId, miss: Miss, objective: Duration) {
        self.traffic.speed_of_service_missed(recipient, miss.precedence);
        let Ok(envelope) = pb::Envelope::decode(miss.copy.payload.clone()) else { return };
        tracing::info!(message_id = %envelope.id, %recipient, precedence = miss.precedence.name(), "speed of service missed");
        // A notice is the gateway's own: a late one is counted, and never the subject of another notice.
        if !speed::notifies_originator(miss.precedence) || envelope.kind == pb::Kind::Notice as i32 {
            return;
        }
        if let Err(error) = self.notify_miss(router, recipient, &envelope, miss.precedence, objective).await {
            tracing::warn!(message_id = %envelope.id, %error, "could not send the speed-of-service notice");
        }
    }

    async fn notify_miss(
        &self,
        router: &Router,
        recipient: &PartyId,
        envelope: &pb::Envelope,
        precedence: Precedence,
        objective: Duration,
    ) -> Result<(), GatewayError> {
        let origin = convert::token("origin", &envelope.origin)?;
        let topic = Topic::parse(&envelope.topic).map_err(|error| GatewayError::InvalidArgument(error.to_string()))?;
        let Some(approval) = router.notice(&origin, &origin, &topic, Precedence::Immediate) else {
            return Ok(()); // the originator left the directory
        };
        let notice_id = ulid::Ulid::new().to_string();
        let message = MessageRef { message_id: &notice_id, origin: &envelope.origin, policy_version: router.version() };
        let subject = crate::bus::delivery_subject(&approval);
        let record = AuditRecord::approved(&message, &envelope.origin, approval.rule(), approval.basis(), &subject);
        self.audit.append(vec![record]).await?.stored().await?;
        let notice = miss_notice(envelope, recipient, precedence, objective, &notice_id).encode_to_vec();
        let payload = publish::copy_for(&notice, &origin);
        let options = CopyOptions { dedup_id: Some(format!("speed:{}:{recipient}", envelope.id)), expires_in: None };
        self.bus.publish(&approval, payload, options).await?.stored().await?;
        Ok(())
    }
}

/// The notice to the originator of a FLASH or IMMEDIATE copy no subscriber acknowledged in time:
/// unclassified, IMMEDIATE, with the message id and the recipient, nothing of its content.
fn miss_notice(
    envelope: &pb::Envelope,
    recipient: &PartyId,
    precedence: Precedence,
    objective: Duration,
    notice_id: &str,
) -> pb::Envelope {
    let (title, body) = speed::notice_text(precedence, &envelope.id, recipient.as_str(), objective);
    Notice {
        id: notice_id,
        origin: &envelope.origin,
        topic: &envelope.topic,
        in_reply_to: &envelope.id,
        precedence: pb::Precedence::Immediate,
        title,
        body,
        attributes: vec![
            ("liaison.notice", "speed-of-service".to_string()),
            ("liaison.message_id", envelope.id.clone()),
            ("liaison.recipient", recipient.to_string()),
            ("liaison.precedence", precedence.name().to_string()),
        ],
    }
    .envelope()
}

/// How often the sweep runs for these objectives: a tenth of the shortest, between 1 and 10 seconds.
pub fn speed_sweep_interval(objectives: &Objectives) -> Duration {
    let shortest = objectives.shortest().unwrap_or(Duration::from_secs(10));
    (shortest / 10).clamp(Duration::from_secs(1), Duration::from_secs(10))
}
