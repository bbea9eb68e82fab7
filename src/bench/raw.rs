//! The floor: the same workloads straight on async-nats and JetStream, with no gateway in between. The
//! stream is configured like the gateway's feed stream (file storage, same replicas), on its own subjects.

use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, stream};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio_util::sync::CancellationToken;

use super::measure::{Clock, Counter, Latencies, Pacer};

pub(super) const STREAM: &str = "LIAISON_BENCH_RAW";
pub(super) const SUBJECT: &str = "liaison.bench.raw";

/// Raw JetStream on one connection.
pub struct Raw {
    jetstream: jetstream::Context,
    replicas: usize,
}

impl Raw {
    /// Recreates the bench stream, empty.
    pub async fn new(client: async_nats::Client, replicas: usize) -> anyhow::Result<Raw> {
        let raw = Raw { jetstream: jetstream::new(client), replicas };
        raw.reset().await?;
        Ok(raw)
    }

    /// Deletes and recreates the stream (and so its consumers), so that each scenario starts alike.
    pub async fn reset(&self) -> anyhow::Result<()> {
        let _ = self.jetstream.delete_stream(STREAM).await;
        self.jetstream
            .create_stream(stream::Config {
                name: STREAM.to_string(),
                subjects: vec![format!("{SUBJECT}.>")],
                storage: stream::StorageType::File,
                num_replicas: self.replicas,
                max_age: Duration::from_secs(3600),
                // Like the gateway's feed stream: nats-server 2.15 otherwise allows 1,000 consumers.
                max_consumers: 100_000,
                ..Default::default()
            })
            .await?;
        Ok(())
    }

    /// The JetStream context, for scenarios of their own.
    pub fn jetstream(&self) -> &jetstream::Context {
        &self.jetstream
    }

    /// Deletes the bench stream.
    pub async fn remove(&self) {
        let _ = self.jetstream.delete_stream(STREAM).await;
    }

    /// Publishes `payload`-sized messages with `window` acks outstanding until `stop`; counts stored ones.
    pub fn publish_flat_out(&self, size: usize, window: usize, stored: Counter, stop: CancellationToken) {
        let jetstream = self.jetstream.clone();
        let clock = Clock::new();
        tokio::spawn(async move {
            let payload = clock.payload(size, tokio::time::Instant::now());
            let mut acks = FuturesUnordered::new();
            while !stop.is_cancelled() {
                while acks.len() < window {
                    match jetstream.publish(format!("{SUBJECT}.flat"), payload.clone()).await {
                        Ok(ack) => acks.push(ack.into_future()),
                        Err(error) => {
                            tracing::warn!(%error, "raw publish failed");
                            break;
                        }
                    }
                }
                if let Some(result) = acks.next().await
                    && result.is_ok()
                {
                    stored.add(1);
                }
            }
        });
    }

    /// Publishes at `rate` messages per second, each stamped with its due time, until `stop`.
    pub fn publish_paced(&self, size: usize, rate: u32, clock: Clock, stop: CancellationToken) {
        let jetstream = self.jetstream.clone();
        tokio::spawn(async move {
            let mut pacer = Pacer::new(rate);
            let mut acks = FuturesUnordered::new();
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    Some(_) = acks.next(), if !acks.is_empty() => {}
                    due = pacer.next() => {
                        if let Ok(ack) = jetstream.publish(format!("{SUBJECT}.paced"), clock.payload(size, due)).await {
                            acks.push(ack.into_future());
                        }
                    }
                }
            }
        });
    }

    /// A pull consumer reading from now on, acking every message and counting it (and, with a clock, its
    /// latency), until `stop`. `name` makes it durable.
    pub async fn consume(
        &self,
        name: Option<&str>,
        delivered: Counter,
        latency: Option<(Clock, Latencies)>,
        stop: CancellationToken,
    ) -> anyhow::Result<()> {
        let stream = self.jetstream.get_stream(STREAM).await?;
        let consumer = stream
            .create_consumer(pull::Config {
                durable_name: name.map(str::to_string),
                deliver_policy: jetstream::consumer::DeliverPolicy::New,
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                max_ack_pending: 1000,
                inactive_threshold: Duration::from_secs(60),
                ..Default::default()
            })
            .await?;
        let mut messages = consumer.stream().max_messages_per_batch(256).messages().await?;
        tokio::spawn(async move {
            loop {
                let message = tokio::select! {
                    () = stop.cancelled() => break,
                    message = messages.next() => message,
                };
                let Some(Ok(message)) = message else { break };
                if let Some((clock, latencies)) = &latency
                    && let Some(age) = clock.age(&message.payload)
                {
                    latencies.record(age);
                }
                delivered.add(1);
                if message.ack().await.is_err() {
                    break;
                }
            }
        });
        Ok(())
    }
}
