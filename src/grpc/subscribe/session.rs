//! One subscription's session: deliveries out, acks in, within the window, until either side ends.

use std::ops::ControlFlow;

use futures::future::BoxFuture;
use futures::stream::{FuturesOrdered, FuturesUnordered};
use futures::{FutureExt, StreamExt};
use prost::Message;
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tonic::{Status, Streaming};

use crate::api as pb;
use crate::bus::{BusError, DeadLetterInfo, Feed, FeedMessage, Settle};

use super::Window;
use super::disposition::{Arrival, Audience, Disposition, disposition};
use super::outgoing::Outgoing;
use super::outstanding::Outstanding;
use crate::audit::{AuditRecord, EncodedRecords, Event, MessageRef};
use crate::grpc::auth::Credential;
use crate::grpc::quota::CallSlot;
use crate::grpc::server::Gateway;
use crate::grpc::{GatewayError, convert};
use crate::identity::Caller;
use crate::traffic::{ActiveSubscription, FlowRef};

/// Most deliveries per response message.
const MAX_BATCH: usize = 128;
/// Most payload bytes per response message, below tonic's default 4 MiB client decoding limit.
const MAX_BATCH_BYTES: usize = 3 * 1024 * 1024;
/// Most batches whose audit records are being stored at once: the next batch is put together while the
/// audit stores the last one's, and each is sent, in order, once its records are stored.
const MAX_STORING: usize = 4;

type Responses = mpsc::Sender<Outgoing>;
/// How a session ends: `None` when the client has gone or half-closed, else the status it is sent.
type End = Option<Status>;

pub struct Session {
    feed: Feed,
    window: Window,
    outstanding: Outstanding,
    /// A message that arrived while the window was full (a redelivery, or the first one after a seek):
    /// delivered as soon as there is room. Polling on while full is how a seek is noticed at once.
    stash: Option<FeedMessage>,
    /// Audit records of the batch being put together, stored before it is sent: its deliveries, and what
    /// was withheld (kept apart, as a seek voids the deliveries but not what was withheld).
    delivered: EncodedRecords,
    withheld: EncodedRecords,
    /// Batches put together and waiting for the audit to store their records, oldest first.
    storing: FuturesOrdered<BoxFuture<'static, Result<Vec<pb::Delivery>, BusError>>>,
    /// Ack confirmations being awaited, each resolving to the ack ids the stream recorded.
    confirmations: FuturesUnordered<BoxFuture<'static, Vec<String>>>,
    /// Whose session this is: every delivery is re-checked against their personal clearance.
    caller: Caller,
    /// The token the stream was opened with, checked again before every batch.
    credential: Credential,
    gateway: Gateway,
    shutdown: CancellationToken,
    /// Counts this subscription against its credential's cap until the session ends.
    _slot: CallSlot,
    /// Counts it among the party's active subscriptions until the session ends.
    _active: ActiveSubscription,
}

impl Session {
    pub fn new(
        feed: Feed,
        window: Window,
        (caller, credential): (Caller, Credential),
        gateway: Gateway,
        slot: CallSlot,
    ) -> Session {
        let shutdown = gateway.shutdown.clone();
        let active = gateway.traffic.subscription_opened(&caller.party);
        Session {
            feed,
            window,
            outstanding: Outstanding::default(),
            stash: None,
            delivered: EncodedRecords::default(),
            withheld: EncodedRecords::default(),
            storing: FuturesOrdered::new(),
            confirmations: FuturesUnordered::new(),
            caller,
            credential,
            gateway,
            shutdown,
            _slot: slot,
            _active: active,
        }
    }

    /// Runs until the client half-closes or goes away, the feed ends, or the gateway shuts down.
    ///
    /// This future lives as long as the subscription, so what it awaits once per batch or request
    /// (putting a batch together, applying a request) is boxed: an idle session stays small.
    #[allow(clippy::manual_async_fn)] // see the comment in the body
    pub fn run(
        mut self,
        mut requests: Streaming<pb::SubscribeRequest>,
        responses: Responses,
    ) -> impl Future<Output = ()> + Send + 'static {
        // An `async` block rather than an `async fn`: an async fn keeps its arguments twice in its future
        // (rust-lang/rust#62958), which doubled what every open subscription holds.
        async move {
            let end = loop {
                if let ControlFlow::Break(end) = self.turn(&mut requests, &responses).await {
                    break end;
                }
            };
            if let Some(status) = end {
                let _ = responses.send(Outgoing::Failed(status)).await;
            }
            tracing::info!(consumer = self.feed.name(), "subscription closed");
            let mut unacked = self.outstanding.take_all();
            unacked.extend(self.stash.take().map(|message| message.ack));
            // Boxed: closing (deleting an ephemeral consumer) is a JetStream request, a large future that
            // would otherwise be part of every idle session's.
            Box::pin(self.feed.close(unacked)).await;
        }
    }

    /// One turn of the session: the stashed message if there is now room for it, else whichever comes
    /// first of shutdown, the client (a request, or gone), an ack confirmation, a stored batch, the feed
    /// and the next ack deadline.
    async fn turn(
        &mut self,
        requests: &mut Streaming<pb::SubscribeRequest>,
        responses: &Responses,
    ) -> ControlFlow<End> {
        self.outstanding.expire(tokio::time::Instant::now());
        if self.has_room()
            && self.storing.len() < MAX_STORING
            && let Some(message) = self.stash.take()
        {
            // A higher lane's message may have come in while the window was full: it goes first.
            self.feed.unread(message);
            // Boxed: rare, and this future is part of every idle session's.
            let next = Box::pin(self.feed.next()).await;
            return self.on_message(next).await;
        }
        let next_deadline = self.outstanding.next_deadline();
        tokio::select! {
            biased;
            () = self.shutdown.cancelled() => ControlFlow::Break(Some(GatewayError::ShuttingDown.into())),
            () = responses.closed() => ControlFlow::Break(None),
            request = requests.message() => self.on_request(request).await,
            Some(ack_ids) = self.confirmations.next(), if !self.confirmations.is_empty() => {
                send(responses, Outgoing::Acknowledged(ack_ids)).await
            }
            Some(stored) = self.storing.next(), if !self.storing.is_empty() => match stored {
                Ok(deliveries) if deliveries.is_empty() => ControlFlow::Continue(()),
                Ok(deliveries) => send(responses, Outgoing::Deliveries(deliveries)).await,
                // The audit could not store them: none goes out, and they are delivered again later.
                Err(error) => ControlFlow::Break(Some(GatewayError::from(error).into())),
            },
            message = self.feed.next(), if self.stash.is_none() && self.storing.len() < MAX_STORING => {
                self.on_message(message).await
            }
            () = sleep_until(next_deadline), if next_deadline.is_some() => ControlFlow::Continue(()),
        }
    }

    async fn on_request(&mut self, request: Result<Option<pb::SubscribeRequest>, Status>) -> ControlFlow<End> {
        match request {
            Ok(Some(request)) => match Box::pin(self.handle(request)).await {
                Ok(()) => ControlFlow::Continue(()),
                Err(status) => ControlFlow::Break(Some(status)),
            },
            Ok(None) => ControlFlow::Break(None),
            Err(status) => {
                tracing::debug!(%status, "subscribe stream broke");
                ControlFlow::Break(Some(status))
            }
        }
    }

    async fn on_message(&mut self, message: Option<Result<FeedMessage, BusError>>) -> ControlFlow<End> {
        match message {
            Some(Ok(message)) => {
                self.notice_reset();
                if self.has_room() {
                    return self.prepare(message).await;
                }
                self.stash = Some(message);
                ControlFlow::Continue(())
            }
            Some(Err(error)) => ControlFlow::Break(Some(GatewayError::from(error).into())),
            None => ControlFlow::Break(Some(Status::unavailable("the subscription's consumer ended"))),
        }
    }

    async fn prepare(&mut self, first: FeedMessage) -> ControlFlow<End> {
        match Box::pin(self.prepare_batch(first)).await {
            Ok(()) => ControlFlow::Continue(()),
            Err(status) => ControlFlow::Break(Some(status)),
        }
    }

    fn has_room(&self) -> bool {
        self.outstanding.has_room(self.window.max_messages, self.window.max_bytes)
    }

    /// After the durable was moved (a seek), what this session held belongs to the old consumer.
    fn notice_reset(&mut self) -> bool {
        let reset = self.feed.take_reset();
        if reset {
            self.outstanding.clear();
        }
        reset
    }

    /// Puts `first` and whatever else is ready into one batch and hands the audit a record of each delivery
    /// (and of each withheld one); the batch joins `storing` and is sent once they are stored. A batch put
    /// together before a seek was noticed still goes out: it was read before the durable moved, like one
    /// sent just before (its acks then find nothing outstanding and are ignored).
    async fn prepare_batch(&mut self, first: FeedMessage) -> Result<(), Status> {
        if let Err(error) = self.credential.check() {
            // Revoked or expired while the stream was open: nothing more goes out, and the message is
            // handed back with what the session holds.
            tracing::info!(party = %self.caller.party, subject = %self.caller.subject, %error, "subscription ended");
            self.stash = Some(first);
            return Err(error.into());
        }
        let deliveries = self.batch(first).await;
        let mut records = std::mem::take(&mut self.withheld);
        match records.is_empty() {
            true => records = std::mem::take(&mut self.delivered),
            false => records.append(&std::mem::take(&mut self.delivered)),
        }
        if records.is_empty() {
            // Nothing delivered or withheld (every message was skipped): nothing to store or send.
            return Ok(());
        }
        let pending = self.gateway.audit.append(records).await.map_err(GatewayError::from)?;
        self.storing.push_back(async move { pending.stored().await.map(|()| deliveries) }.boxed());
        Ok(())
    }

    /// Notes an audit record of what happened to `envelope` for this subscriber.
    fn audit(&mut self, event: Event, envelope: &pb::Envelope, decided_by: &str) {
        let policy = self.gateway.policy.current();
        let message =
            MessageRef { message_id: &envelope.id, origin: &envelope.origin, policy_version: policy.version() };
        let (party, subject) = (self.caller.party.as_str(), self.caller.subject.as_str());
        match event {
            Event::Withheld => self.withheld.push(&AuditRecord::withheld(&message, party, subject, decided_by)),
            _ => self.delivered.push(&AuditRecord::delivered(&message, party, subject, decided_by)),
        }
    }

    /// Turns the first message and whatever else is ready (within the window) into one batch.
    async fn batch(&mut self, first: FeedMessage) -> Vec<pb::Delivery> {
        let mut batch = Vec::new();
        let mut batch_bytes = 0;
        let mut next = Some(first);
        while let Some(message) = next.take() {
            batch_bytes += message.payload.len();
            if let Some(delivery) = self.deliver(message).await {
                batch.push(delivery);
            }
            if batch.len() >= MAX_BATCH || batch_bytes >= MAX_BATCH_BYTES || !self.has_room() {
                break;
            }
            next = match self.feed.next().now_or_never() {
                Some(Some(Ok(message))) => Some(message),
                _ => None,
            };
            if self.notice_reset() {
                batch.clear();
                batch_bytes = 0;
                // Those deliveries are void and never sent; what was withheld stays recorded.
                self.delivered.clear();
            }
        }
        batch
    }

    /// Decides what to do with one message ([`disposition`]) and applies it: a delivery is recorded as
    /// outstanding and returned; anything else is settled on the consumer and audited where it concerns
    /// the person (withheld).
    async fn deliver(&mut self, message: FeedMessage) -> Option<pb::Delivery> {
        let envelope = pb::Envelope::decode(message.payload.clone()).ok();
        let withheld = envelope.as_ref().and_then(|envelope| self.withhold_reason(envelope));
        let audience = if self.feed.is_ephemeral() { Audience::Own } else { Audience::Shared };
        let arrival = self.arrival(&message, envelope.as_ref(), withheld.as_deref());
        let decided = disposition(&arrival, &self.window, audience);
        let sequence = message.stream_sequence;
        let envelope = match (decided, envelope) {
            (Disposition::Deliver, Some(envelope)) => envelope,
            (Disposition::Skip { settle }, _) => {
                tracing::debug!(sequence, attempt = message.attempt, "skipped: acknowledged already, or not ours");
                let _ = self.feed.settle(&message.ack, settle).await;
                return None;
            }
            (Disposition::Withhold { why, settle }, Some(envelope)) => {
                self.withheld(&message, &envelope, &why);
                let _ = self.feed.settle(&message.ack, settle).await;
                return None;
            }
            (Disposition::DeadLetter { attempts, reason, withheld }, Some(envelope)) => {
                if let Some(why) = withheld {
                    self.withheld(&message, &envelope, &why);
                }
                let info = DeadLetterInfo { message_id: envelope.id.clone(), attempts, reason };
                Box::pin(self.dead_letter(&message, &envelope, &info)).await;
                return None;
            }
            (Disposition::Discard, _) => {
                tracing::warn!(sequence, "undecodable message terminated");
                let _ = self.feed.settle(&message.ack, Settle::Reject).await;
                return None;
            }
            (decided, _) => {
                // Expired (nothing else is decided without an envelope): never delivered.
                tracing::debug!(sequence, ?decided, "terminated undelivered");
                let _ = self.feed.settle(&message.ack, Settle::Reject).await;
                return None;
            }
        };
        self.flow(&message.subject, &envelope).delivered(message.payload.len(), message.attempt);
        self.audit(Event::Delivered, &envelope, "personal clearance, nationality and law-enforcement eligibility");
        let attempt = u32::try_from(message.attempt).unwrap_or(u32::MAX);
        self.outstanding.insert(sequence, message.ack, message.payload.len(), attempt, self.window.ack_deadline);
        Some(pb::Delivery {
            ack_id: itoa::Buffer::new().format(sequence).to_owned(),
            stream_sequence: sequence,
            delivery_attempt: attempt,
            stored_at: Some(convert::timestamp(message.stored_at)),
            // Sent as stored: the checks above read the decoded copy, the client gets the same bytes.
            envelope: None,
            stored_envelope: Some(message.payload),
        })
    }

    /// What the disposition needs to know of a message that reached this session.
    fn arrival<'a>(
        &self,
        message: &FeedMessage,
        envelope: Option<&pb::Envelope>,
        withheld: Option<&'a str>,
    ) -> Arrival<'a> {
        Arrival {
            acknowledged: self.outstanding.was_acked(message.stream_sequence),
            redrive_for_other: message.redrive_for.as_deref().is_some_and(|target| target != self.feed.name()),
            readable: envelope.is_some(),
            expired: envelope.is_some_and(|envelope| convert::expired(envelope, OffsetDateTime::now_utc())),
            attempt: message.attempt,
            withheld,
        }
    }

    /// Why the personal check withholds `envelope` from this session's person, under the directory in force.
    fn withhold_reason(&self, envelope: &pb::Envelope) -> Option<String> {
        let router = self.gateway.policy.current();
        let directory = router.directory();
        super::personal::withhold_reason(
            &self.caller,
            directory.get(&self.caller.party),
            directory.tetragraphs(),
            envelope,
        )
    }

    /// Logs, counts and audits a delivery withheld from this session's person.
    fn withheld(&mut self, message: &FeedMessage, envelope: &pb::Envelope, why: &str) {
        tracing::warn!(
            party = %self.caller.party,
            subject = %self.caller.subject,
            message_id = %envelope.id,
            sequence = message.stream_sequence,
            attempt = message.attempt,
            "delivery withheld: {why}"
        );
        self.flow(&message.subject, envelope).withheld();
        self.audit(Event::Withheld, envelope, &format!("personal check: {why}"));
    }

    /// Moves a message to its dead-letter subject; left unacknowledged if that fails, so JetStream hands it
    /// out again and the move is retried.
    async fn dead_letter(&mut self, message: &FeedMessage, envelope: &pb::Envelope, info: &DeadLetterInfo) {
        let sequence = message.stream_sequence;
        match self.feed.dead_letter(message, info).await {
            Ok(()) => {
                self.flow(&message.subject, envelope).dead_lettered();
                tracing::warn!(sequence, message_id = %envelope.id, attempts = info.attempts, reason = %info.reason, "dead-lettered");
            }
            Err(error) => tracing::warn!(sequence, %error, "could not dead-letter; will retry"),
        }
    }

    /// The traffic counters of the subject a message came on.
    fn flow(&self, subject: &str, envelope: &pb::Envelope) -> FlowRef {
        self.gateway.traffic.flow(subject, || convert::flow_labels(&self.caller.party, envelope))
    }
}

/// Hands `outgoing` to the response stream; the session ends if the client has gone.
async fn send(responses: &Responses, outgoing: Outgoing) -> ControlFlow<End> {
    match responses.send(outgoing).await {
        Ok(()) => ControlFlow::Continue(()),
        Err(_) => ControlFlow::Break(None),
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

mod requests;
#[cfg(test)]
mod tests;
