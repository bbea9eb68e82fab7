//! The same workloads through the gateway: `PublishStream` and unary `Publish` in, `Subscribe` out, as
//! an agency system and an analyst would use them.

use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::{Semaphore, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

use super::measure::{Clock, Counter, Latencies, Pacer};
use super::rig::Client;
use crate::api as pb;

/// The publishing party, the receiving party and a topic the default policy routes between them.
pub const PUBLISHER: &str = "cbp";
pub const RECIPIENT: &str = "ia";
const TOPIC: &str = "cyber-crime";

/// An unclassified report from the publisher to the recipient carrying `body`.
pub fn envelope(body: Bytes) -> pb::Envelope {
    pb::Envelope {
        recipients: vec![RECIPIENT.to_string()],
        kind: pb::Kind::Report as i32,
        topic: TOPIC.to_string(),
        markings: Some(pb::Markings {
            classification: pb::Classification::Unclassified as i32,
            controls: vec![],
            rel_to: vec![],
            tlp: pb::Tlp::Green as i32,
            ..Default::default()
        }),
        precedence: pb::Precedence::Routine as i32,
        title: "bench".to_string(),
        content_type: "application/octet-stream".to_string(),
        body,
        ..Default::default()
    }
}

/// What a PublishStream sends: as fast as the window allows, or at a fixed rate stamped with due times.
pub enum Offered {
    FlatOut { window: usize },
    Paced { rate: u32, clock: Clock },
}

/// Publishes `size`-byte bodies on one PublishStream until `stop`, counting stored receipts.
pub async fn publish_stream(
    mut client: Client,
    size: usize,
    offered: Offered,
    stored: Counter,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let (requests, outgoing) = mpsc::channel::<pb::PublishStreamRequest>(1024);
    let mut responses = client.publish_stream(ReceiverStream::new(outgoing)).await?.into_inner();
    let window = Arc::new(Semaphore::new(match offered {
        Offered::FlatOut { window } => window,
        Offered::Paced { .. } => Semaphore::MAX_PERMITS,
    }));
    let returned = window.clone();
    tokio::spawn(async move {
        while let Ok(Some(response)) = responses.message().await {
            if let Some(pb::publish_stream_response::Result::Receipt(_)) = response.result {
                stored.add(1);
            }
            returned.add_permits(1);
        }
    });
    tokio::spawn(async move {
        let flat_body = Clock::new().payload(size, tokio::time::Instant::now());
        let mut pacer = match &offered {
            Offered::Paced { rate, .. } => Some(Pacer::new(*rate)),
            Offered::FlatOut { .. } => None,
        };
        loop {
            let body = match (&mut pacer, &offered) {
                (Some(pacer), Offered::Paced { clock, .. }) => tokio::select! {
                    () = stop.cancelled() => break,
                    due = pacer.next() => clock.payload(size, due),
                },
                _ => flat_body.clone(),
            };
            let permit = tokio::select! {
                () = stop.cancelled() => break,
                permit = window.acquire() => permit,
            };
            let Ok(permit) = permit else { break };
            permit.forget();
            let request = pb::PublishStreamRequest { envelope: Some(envelope(body)) };
            if requests.send(request).await.is_err() {
                break;
            }
        }
    });
    Ok(())
}

/// Unary publishes, one at a time on `client`, until `stop`.
pub fn publish_unary(mut client: Client, size: usize, stored: Counter, stop: CancellationToken) {
    tokio::spawn(async move {
        let body = Clock::new().payload(size, tokio::time::Instant::now());
        while !stop.is_cancelled() {
            let request = pb::PublishRequest { envelope: Some(envelope(body.clone())) };
            match client.publish(request).await {
                Ok(_) => stored.add(1),
                Err(status) => {
                    tracing::warn!(%status, "unary publish failed");
                    break;
                }
            }
        }
    });
}

/// An open Subscribe stream; dropping it ends the subscription.
pub struct Subscription {
    requests: mpsc::Sender<pb::SubscribeRequest>,
    responses: tonic::Streaming<pb::SubscribeResponse>,
}

/// Opens a subscription of the recipient's feed (new messages only) and waits until it is open.
pub async fn open(client: &mut Client) -> anyhow::Result<Subscription> {
    use pb::subscribe_request::Request;
    let (requests, outgoing) = mpsc::channel(64);
    let open = pb::OpenSubscription { max_outstanding_messages: 1000, ..Default::default() };
    requests.send(pb::SubscribeRequest { request: Some(Request::Open(open)) }).await?;
    let mut responses = client.subscribe(ReceiverStream::new(outgoing)).await?.into_inner();
    match responses.message().await?.and_then(|response| response.response) {
        Some(pb::subscribe_response::Response::Opened(_)) => Ok(Subscription { requests, responses }),
        other => anyhow::bail!("expected the subscription to open, got {other:?}"),
    }
}

impl Subscription {
    /// Reads deliveries until `stop`, counting them (and their latency, with a clock) and acking each batch.
    pub fn consume(mut self, delivered: Counter, latency: Option<(Clock, Latencies)>, stop: CancellationToken) {
        use pb::subscribe_request::Request;
        tokio::spawn(async move {
            loop {
                let response = tokio::select! {
                    () = stop.cancelled() => break,
                    response = self.responses.next() => response,
                };
                let Some(Ok(pb::SubscribeResponse { response: Some(response) })) = response else { break };
                let pb::subscribe_response::Response::Deliveries(batch) = response else { continue };
                delivered.add(batch.deliveries.len() as u64);
                if let Some((clock, latencies)) = &latency {
                    for delivery in &batch.deliveries {
                        if let Some(age) = delivery.envelope.as_ref().and_then(|envelope| clock.age(&envelope.body)) {
                            latencies.record(age);
                        }
                    }
                }
                let ack_ids = batch.deliveries.into_iter().map(|delivery| delivery.ack_id).collect();
                let ack = pb::SubscribeRequest { request: Some(Request::Ack(pb::Acknowledge { ack_ids })) };
                if self.requests.send(ack).await.is_err() {
                    break;
                }
            }
        });
    }
}

/// Opens `count` subscriptions, `per_connection` to a connection, `parallel` opens at a time.
pub async fn open_many<F, Fut>(
    count: usize,
    per_connection: usize,
    parallel: usize,
    connect: F,
    progress: impl Fn(usize),
) -> anyhow::Result<Vec<Subscription>>
where
    F: Fn() -> Fut,
    Fut: Future<Output = anyhow::Result<Client>>,
{
    let mut clients = Vec::new();
    for _ in 0..count.div_ceil(per_connection.max(1)) {
        clients.push(connect().await?);
    }
    let opens = (0..count).map(|index| {
        let mut client = clients[index / per_connection.max(1)].clone();
        async move { open(&mut client).await.with_context(|| format!("opening subscription {index}")) }
    });
    let mut opened = futures::stream::iter(opens).buffer_unordered(parallel.max(1));
    let mut subscriptions = Vec::with_capacity(count);
    while let Some(subscription) = opened.next().await {
        subscriptions.push(subscription?);
        progress(subscriptions.len());
    }
    Ok(subscriptions)
}
