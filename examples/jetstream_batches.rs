//! Probe: what JetStream atomic batches (nats-server 2.12+) would save against one acknowledged publish per
//! copy, the way `bus::publisher` stores copies today. Raw async-nats against a nats-server the caller
//! starts; prints throughput and CPU per message of this process and of nats-server.
//!
//! `cargo run --release --example jetstream_batches -- <nats-url> <nats-server-pid> <mode> <messages> <size>`
//! where mode is `acked:<window>` (copies in flight, each with its own reply) or `atomic:<k>:<batches>` (batches
//! of k copies, the last one committing and carrying the only reply; `batches` in flight). See
//! BENCHMARKS.md, "JetStream atomic batches, measured".

use std::sync::Arc;
use std::time::Instant;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, stream};
use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::Semaphore;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, pid, mode, messages, size] = args.as_slice() else {
        anyhow::bail!("usage: jetstream_batches <nats-url> <nats-server-pid> <mode> <messages> <size>");
    };
    let (messages, size): (u64, usize) = (messages.parse()?, size.parse()?);
    let client = async_nats::connect(url.as_str()).await?;
    let context = jetstream::new(client.clone());
    let _ = context.delete_stream("PROBE").await;
    context
        .create_stream(stream::Config {
            name: "PROBE".into(),
            subjects: vec!["probe.>".into()],
            allow_atomic_publish: true,
            ..Default::default()
        })
        .await?;
    let payload = Bytes::from(vec![b'x'; size]);
    let (server_before, own_before, started) = (server_cpu(pid)?, own_cpu(), Instant::now());
    let last = match mode.split(':').collect::<Vec<_>>().as_slice() {
        ["acked", window] => acked(&client, messages, payload, window.parse()?).await?,
        ["atomic", k, batches] => atomic(&client, messages, payload, k.parse()?, batches.parse()?).await?,
        _ => anyhow::bail!("mode is acked:<window> or atomic:<k>:<batches>"),
    };
    let seconds = started.elapsed().as_secs_f64();
    let (server, own) = (server_cpu(pid)? - server_before, own_cpu() - own_before);
    let stored = context.get_stream("PROBE").await?.info().await?.state.messages;
    let per = |cpu: f64| cpu * 1e6 / messages as f64;
    println!(
        "{mode} {size} B: {:.0} msg/s, client {:.2} µs/msg, nats-server {:.2} µs/msg (stored {stored}, last seq {last})",
        messages as f64 / seconds,
        per(own),
        per(server)
    );
    Ok(())
}

/// One reply subject per copy, `window` copies in flight: what `bus::publisher` does.
async fn acked(client: &async_nats::Client, messages: u64, payload: Bytes, window: usize) -> anyhow::Result<u64> {
    let inbox = client.new_inbox();
    let replies = client.subscribe(format!("{inbox}.*")).await?;
    let room = Arc::new(Semaphore::new(window));
    let sender = {
        let (client, room, inbox) = (client.clone(), room.clone(), inbox.clone());
        tokio::spawn(async move {
            for n in 0..messages {
                room.acquire().await?.forget();
                client.publish_with_reply(format!("probe.{}", n % 64), format!("{inbox}.{n}"), payload.clone()).await?;
            }
            anyhow::Ok(())
        })
    };
    collect(replies, messages, &room, sender).await
}

/// Batches of `k`: the first k-1 copies without a reply, the last one commits and is answered.
async fn atomic(
    client: &async_nats::Client,
    messages: u64,
    payload: Bytes,
    k: u64,
    batches: usize,
) -> anyhow::Result<u64> {
    let inbox = client.new_inbox();
    let replies = client.subscribe(format!("{inbox}.*")).await?;
    let room = Arc::new(Semaphore::new(batches));
    let count = messages.div_ceil(k);
    let sender = {
        let (client, room, inbox) = (client.clone(), room.clone(), inbox.clone());
        tokio::spawn(async move {
            for batch in 0..count {
                room.acquire().await?.forget();
                let id = format!("b{batch}");
                let size = k.min(messages - batch * k);
                for n in 1..=size {
                    let mut headers = HeaderMap::new();
                    headers.insert("Nats-Batch-Id", id.as_str());
                    headers.insert("Nats-Batch-Sequence", n.to_string().as_str());
                    let subject = format!("probe.{}", (batch * k + n) % 64);
                    if n == size {
                        headers.insert("Nats-Batch-Commit", "1");
                        let reply = format!("{inbox}.{batch}");
                        client.publish_with_reply_and_headers(subject, reply, headers, payload.clone()).await?;
                    } else {
                        client.publish_with_headers(subject, headers, payload.clone()).await?;
                    }
                }
            }
            anyhow::Ok(())
        })
    };
    collect(replies, count, &room, sender).await
}

/// Reads `count` acks, giving back one unit of `room` for each, then waits for the sender: the highest
/// stream sequence acknowledged.
async fn collect(
    mut replies: async_nats::Subscriber,
    count: u64,
    room: &Semaphore,
    sender: tokio::task::JoinHandle<anyhow::Result<()>>,
) -> anyhow::Result<u64> {
    let mut last = 0;
    for _ in 0..count {
        let reply = replies.next().await.ok_or_else(|| anyhow::anyhow!("replies ended"))?;
        last = last.max(sequence(&reply.payload)?);
        room.add_permits(1);
    }
    sender.await??;
    Ok(last)
}

fn sequence(payload: &[u8]) -> anyhow::Result<u64> {
    let ack: serde_json::Value = serde_json::from_slice(payload)?;
    ack["seq"].as_u64().ok_or_else(|| anyhow::anyhow!("not an ack: {ack}"))
}

/// CPU seconds of this process so far.
fn own_cpu() -> f64 {
    server_cpu("self").unwrap_or(0.0)
}

/// CPU seconds of process `pid` so far, from /proc.
fn server_cpu(pid: &str) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let fields: Vec<&str> = stat.rsplit_once(") ").map(|(_, rest)| rest).unwrap_or("").split(' ').collect();
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    Ok(ticks / 100.0)
}
