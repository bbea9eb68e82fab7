//! FLASH behind a ROUTINE backlog. A subscriber is reading a backlog of `backlog` messages when one more
//! is published: raw JetStream hands it out after everything before it, in stream order; through the
//! gateway it is a FLASH and its lane overtakes the ROUTINE ones. Reported: how long the last message
//! took from publish to receipt, and how many backlog messages the subscriber read in between.

use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream::{self, consumer::pull};
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;

use super::raw::{Raw, SUBJECT};
use super::report::Overtake;
use super::rig::{Client, Rig};
use super::through_gateway::{PUBLISHER, RECIPIENT, envelope};
use crate::api as pb;
use crate::identity::Role;

/// Backlog messages read before the urgent one is published.
const READ_FIRST: usize = 1_000;
/// Publish acks in flight while the backlog is written.
const WINDOW: usize = 256;
/// Longest the whole scenario may take on either side.
const LIMIT: Duration = Duration::from_secs(600);

/// Runs both sides with `backlog` messages of `size` bytes.
pub async fn run(rig: &Rig, raw: &Raw, backlog: usize, size: usize) -> anyhow::Result<Overtake> {
    let body = Bytes::from(vec![b'x'; size]);
    raw.reset().await?;
    let (raw_after, raw_read) = tokio::time::timeout(LIMIT, raw_side(raw.jetstream(), backlog, body.clone()))
        .await
        .context("raw FLASH-behind-backlog timed out")??;
    raw.reset().await?;
    let (gateway_after, gateway_read) = tokio::time::timeout(LIMIT, gateway_side(rig, backlog, body))
        .await
        .context("gateway FLASH-behind-backlog timed out")??;
    Ok(Overtake {
        backlog,
        payload_bytes: size,
        raw_ms: raw_after.as_secs_f64() * 1e3,
        raw_read_between: raw_read,
        gateway_ms: gateway_after.as_secs_f64() * 1e3,
        gateway_read_between: gateway_read,
    })
}

/// Raw: the backlog, a consumer reading it in order, and after [`READ_FIRST`] one more message.
async fn raw_side(jetstream: &jetstream::Context, backlog: usize, body: Bytes) -> anyhow::Result<(Duration, usize)> {
    let mut acks = FuturesUnordered::new();
    for _ in 0..backlog {
        if acks.len() >= WINDOW {
            acks.next().await.transpose()?;
        }
        acks.push(jetstream.publish(format!("{SUBJECT}.backlog"), body.clone()).await?.into_future());
    }
    while acks.next().await.transpose()?.is_some() {}
    let stream = jetstream.get_stream(super::raw::STREAM).await?;
    let consumer = stream
        .create_consumer(pull::Config {
            deliver_policy: jetstream::consumer::DeliverPolicy::All,
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            max_ack_pending: 1000,
            inactive_threshold: Duration::from_secs(60),
            ..Default::default()
        })
        .await?;
    let mut messages = consumer.stream().max_messages_per_batch(256).messages().await?;
    let (mut read, mut published) = (0, None);
    while let Some(message) = messages.next().await {
        let message = message.map_err(|error| anyhow::anyhow!("raw read: {error}"))?;
        message.ack().await.map_err(|error| anyhow::anyhow!("raw ack: {error}"))?;
        if message.subject.as_str().ends_with(".urgent") {
            let (at, read_before) = published.context("the urgent message came before it was sent")?;
            return Ok((Instant::now().duration_since(at), read - read_before));
        }
        read += 1;
        if read == READ_FIRST.min(backlog) && published.is_none() {
            let at = Instant::now();
            jetstream.publish(format!("{SUBJECT}.urgent"), body.clone()).await?.await?;
            published = Some((at, read));
        }
    }
    anyhow::bail!("the raw consumer ended before the urgent message")
}

/// The gateway: the backlog as ROUTINE on one PublishStream, a subscription reading it from the start,
/// and after [`READ_FIRST`] one FLASH.
async fn gateway_side(rig: &Rig, backlog: usize, body: Bytes) -> anyhow::Result<(Duration, usize)> {
    let first = publish_backlog(rig.client(PUBLISHER, Role::AgencySystem).await?, backlog, body.clone()).await?;
    let mut publisher = rig.client(PUBLISHER, Role::AgencySystem).await?;
    let mut reader = rig.client(RECIPIENT, Role::Analyst).await?;
    use pb::subscribe_request::Request;
    let (requests, outgoing) = mpsc::channel(64);
    // From the backlog's first copy: the feed still holds the earlier scenarios' messages.
    let start = pb::StartPosition { position: Some(pb::start_position::Position::FromSequence(first)) };
    let open = pb::OpenSubscription { max_outstanding_messages: 1000, start: Some(start), ..Default::default() };
    requests.send(pb::SubscribeRequest { request: Some(Request::Open(open)) }).await?;
    let mut responses = reader.subscribe(ReceiverStream::new(outgoing)).await?.into_inner();
    let (mut read, mut published) = (0, None);
    while let Some(response) = responses.message().await? {
        let Some(pb::subscribe_response::Response::Deliveries(batch)) = response.response else { continue };
        for delivery in &batch.deliveries {
            let flash =
                delivery.envelope.as_ref().is_some_and(|envelope| envelope.precedence == pb::Precedence::Flash as i32);
            if flash {
                let (at, read_before): (Instant, usize) = published.context("the FLASH came before it was sent")?;
                return Ok((Instant::now().duration_since(at), read - read_before));
            }
            read += 1;
        }
        let ack_ids = batch.deliveries.into_iter().map(|delivery| delivery.ack_id).collect();
        requests.send(pb::SubscribeRequest { request: Some(Request::Ack(pb::Acknowledge { ack_ids })) }).await?;
        if read >= READ_FIRST.min(backlog) && published.is_none() {
            let mut flash = envelope(body.clone());
            flash.precedence = pb::Precedence::Flash as i32;
            let at = Instant::now();
            publisher.publish(pb::PublishRequest { envelope: Some(flash) }).await?;
            published = Some((at, read));
        }
    }
    anyhow::bail!("the subscription ended before the FLASH")
}

/// Publishes `backlog` ROUTINE messages on one PublishStream and waits for every receipt; returns the
/// stream sequence of the first copy.
async fn publish_backlog(mut client: Client, backlog: usize, body: Bytes) -> anyhow::Result<u64> {
    let (requests, outgoing) = mpsc::channel::<pb::PublishStreamRequest>(WINDOW);
    let mut responses = client.publish_stream(ReceiverStream::new(outgoing)).await?.into_inner();
    let sender = tokio::spawn(async move {
        for _ in 0..backlog {
            let request = pb::PublishStreamRequest { envelope: Some(envelope(body.clone())) };
            if requests.send(request).await.is_err() {
                break;
            }
        }
    });
    let mut first = None;
    for received in 0..backlog {
        let receipt = match responses.message().await? {
            Some(pb::PublishStreamResponse {
                result: Some(pb::publish_stream_response::Result::Receipt(receipt)),
                ..
            }) => receipt,
            other => anyhow::bail!("backlog publish {received} not stored: {other:?}"),
        };
        if first.is_none() {
            first = receipt.outcomes.iter().find_map(|outcome| match &outcome.outcome {
                Some(pb::recipient_outcome::Outcome::Delivered(delivered)) => Some(delivered.stream_sequence),
                _ => None,
            });
        }
    }
    sender.await?;
    first.context("the backlog's first copy was not stored")
}
