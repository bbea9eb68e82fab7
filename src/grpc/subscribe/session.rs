//! One subscription's session: deliveries out, acks in, within the window, until either side ends.

use futures::FutureExt;
use prost::Message;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tonic::{Status, Streaming};

use crate::api as pb;
use crate::bus::{Feed, FeedMessage, Settle};

use super::Window;
use super::outstanding::Outstanding;
use crate::grpc::quota::SubscriptionSlot;
use crate::grpc::server::Gateway;
use crate::grpc::{GatewayError, convert};
use crate::identity::Caller;

/// Most deliveries per response message.
const MAX_BATCH: usize = 128;
/// Most payload bytes per response message, below tonic's default 4 MiB client decoding limit.
const MAX_BATCH_BYTES: usize = 3 * 1024 * 1024;

type Responses = mpsc::Sender<Result<pb::SubscribeResponse, Status>>;

pub struct Session {
    feed: Feed,
    window: Window,
    outstanding: Outstanding,
    /// Whose session this is: every delivery is re-checked against their personal clearance.
    caller: Caller,
    gateway: Gateway,
    shutdown: CancellationToken,
    /// Counts this subscription against its credential's cap until the session ends.
    _slot: SubscriptionSlot,
}

impl Session {
    pub fn new(feed: Feed, window: Window, caller: Caller, gateway: Gateway, slot: SubscriptionSlot) -> Session {
        let shutdown = gateway.shutdown.clone();
        Session { feed, window, outstanding: Outstanding::default(), caller, gateway, shutdown, _slot: slot }
    }

    /// Runs until the client half-closes or goes away, the feed ends, or the gateway shuts down.
    pub async fn run(mut self, mut requests: Streaming<pb::SubscribeRequest>, responses: Responses) {
        let end = loop {
            self.outstanding.expire(tokio::time::Instant::now());
            let room = self.outstanding.has_room(self.window.max_messages, self.window.max_bytes);
            let next_deadline = self.outstanding.next_deadline();
            tokio::select! {
                biased;
                () = self.shutdown.cancelled() => break Some(GatewayError::ShuttingDown.into()),
                () = responses.closed() => break None,
                request = requests.message() => match request {
                    Ok(Some(request)) => {
                        if let Err(status) = self.handle(request).await {
                            break Some(status);
                        }
                    }
                    Ok(None) => break None,
                    Err(status) => {
                        tracing::debug!(%status, "subscribe stream broke");
                        break Some(status);
                    }
                },
                message = self.feed.next(), if room => match message {
                    Some(Ok(message)) => {
                        let batch = self.batch(message).await;
                        if batch.is_empty() {
                            continue;
                        }
                        let response = pb::subscribe_response::Response::Deliveries(pb::DeliveryBatch { deliveries: batch });
                        if responses.send(Ok(pb::SubscribeResponse { response: Some(response) })).await.is_err() {
                            break None;
                        }
                    }
                    Some(Err(error)) => break Some(GatewayError::from(error).into()),
                    None => break Some(Status::unavailable("the subscription's consumer ended")),
                },
                () = sleep_until(next_deadline), if next_deadline.is_some() => {}
            }
        };
        if let Some(status) = end {
            let _ = responses.send(Err(status)).await;
        }
        tracing::info!(consumer = self.feed.name(), "subscription closed");
        self.feed.close().await;
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
            let full = batch.len() >= MAX_BATCH || batch_bytes >= MAX_BATCH_BYTES;
            if full || !self.outstanding.has_room(self.window.max_messages, self.window.max_bytes) {
                break;
            }
            next = match self.feed.next().now_or_never() {
                Some(Some(Ok(message))) => Some(message),
                _ => None,
            };
        }
        batch
    }

    /// Decodes one message and records it as outstanding. An undecodable payload (something other than
    /// Liaison wrote to the subject) is terminated so it is never redelivered.
    async fn deliver(&mut self, message: FeedMessage) -> Option<pb::Delivery> {
        let envelope = match pb::Envelope::decode(message.payload.clone()) {
            Ok(envelope) => envelope,
            Err(error) => {
                tracing::warn!(sequence = message.stream_sequence, %error, "undecodable message terminated");
                let _ = self.feed.settle(&message.ack, Settle::Reject).await;
                return None;
            }
        };
        let sequence = message.stream_sequence;
        if let Some(why) = super::personal::withhold_reason(&self.caller, &envelope) {
            // Settled for this subscriber so it does not come back; the person never sees it.
            tracing::warn!(
                party = %self.caller.party,
                subject = %self.caller.subject,
                message_id = %envelope.id,
                sequence,
                "delivery withheld: {why}"
            );
            self.gateway.count_withheld();
            let _ = self.feed.settle(&message.ack, Settle::Reject).await;
            return None;
        }
        self.outstanding.insert(sequence, message.ack, message.payload.len(), self.window.ack_deadline);
        Some(pb::Delivery {
            ack_id: sequence.to_string(),
            stream_sequence: sequence,
            delivery_attempt: u32::try_from(message.attempt).unwrap_or(u32::MAX),
            stored_at: Some(convert::timestamp(message.stored_at)),
            envelope: Some(envelope),
        })
    }

    /// Applies one client request after `open`.
    async fn handle(&mut self, request: pb::SubscribeRequest) -> Result<(), Status> {
        use pb::subscribe_request::Request;
        match request.request {
            Some(Request::Open(_)) => {
                Err(GatewayError::InvalidArgument("open: may only be sent once, as the first request".into()).into())
            }
            Some(Request::Ack(ack)) => self.settle_removed(&ack.ack_ids, Settle::Ack).await,
            Some(Request::Nack(nack)) => {
                let delay = match &nack.redelivery_delay {
                    None => None,
                    Some(delay) => Some(convert::duration("nack.redelivery_delay", delay)?),
                };
                self.settle_removed(&nack.ack_ids, Settle::Nack(delay)).await
            }
            Some(Request::Extend(extend)) => {
                for sequence in extend.ack_ids.iter().filter_map(|id| id.parse::<u64>().ok()) {
                    if let Some(handle) = self.outstanding.extend(sequence, self.window.ack_deadline) {
                        self.feed.settle(&handle, Settle::Extend).await.map_err(GatewayError::from)?;
                    }
                }
                Ok(())
            }
            None => {
                Err(GatewayError::InvalidArgument("request: one of open, ack, nack or extend is required".into())
                    .into())
            }
        }
    }

    /// Settles and forgets deliveries; unknown or expired ack ids are ignored.
    async fn settle_removed(&mut self, ack_ids: &[String], settle: Settle) -> Result<(), Status> {
        for sequence in ack_ids.iter().filter_map(|id| id.parse::<u64>().ok()) {
            if let Some(handle) = self.outstanding.remove(sequence) {
                self.feed.settle(&handle, settle).await.map_err(GatewayError::from)?;
            }
        }
        Ok(())
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
