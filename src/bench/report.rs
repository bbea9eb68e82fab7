//! What a run found: the figures, the gateway/raw ratios, the published targets, as a table or JSON.
//!
//! The report is written as JSON (`--json`, `--report DIR`) and read back (`--from FILE`): fields added
//! after the first reports were saved are `#[serde(default)]`, so an older report still reads, with the
//! figures it lacks at their defaults. `targets.rs` judges a report against the published targets,
//! `table.rs` prints it.

mod table;
mod targets;

use serde::{Deserialize, Serialize};

use super::Load;
use super::measure::LatencySummary;
use crate::embedded::SyncPolicy;
pub use table::table;
pub use targets::targets;

#[derive(Debug, Serialize, Deserialize)]
pub struct Report {
    pub environment: Environment,
    pub settings: Settings,
    pub throughput: Vec<Throughput>,
    pub unary: Vec<Unary>,
    pub latency: Latency,
    pub fanout: Fanout,
    /// Absent when skipped (`--overtake-backlog 0`) and in reports from before it existed.
    #[serde(default)]
    pub overtake: Option<Overtake>,
    pub memory: Memory,
    pub targets: Vec<Target>,
    /// With `--sync both`: the load phases under `always` (above) beside nats-server's default.
    pub sync_comparison: Option<SyncComparison>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Environment {
    pub cores: usize,
    pub nats_server: String,
    pub liaison: String,
    /// `release` or `debug`: figures from a debug build say little.
    pub build: String,
    pub date: String,
    pub command: String,
    /// A 4 KiB write + fdatasync on the bench's store directory, 200 times: what `sync_interval: always`
    /// waits for on each (batched) write.
    pub disk_write_sync: Option<LatencySummary>,
}

impl Environment {
    /// This machine and build, now.
    pub fn now(nats_server: String, command: String, disk_write_sync: Option<LatencySummary>) -> Environment {
        Environment {
            cores: std::thread::available_parallelism().map(usize::from).unwrap_or(1),
            nats_server,
            liaison: env!("CARGO_PKG_VERSION").to_string(),
            build: if cfg!(debug_assertions) { "debug" } else { "release" }.to_string(),
            date: time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            command,
            disk_write_sync,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Settings {
    pub seconds_per_phase: f64,
    pub warmup_seconds: f64,
    pub publish_window: usize,
    pub replicas: usize,
    pub external_nats: bool,
    /// The started nats-server's `jetstream { sync_interval }`: `always` fsyncs before each ack.
    pub sync: String,
    /// nats-servers the bench started: 1, or a loopback cluster for `--replicas` above 1; 0 with
    /// `--nats-url` (and in reports from before this was recorded).
    #[serde(default)]
    pub nats_nodes: usize,
    /// `--pin`: nats-server and the gateway each on a CPU of its own.
    #[serde(default)]
    pub pinned: bool,
    /// With `--pin`, the CPUs each process was allowed, as the kernel reported them once pinned.
    #[serde(default)]
    pub pinning: Option<Pinning>,
}

/// Where `--pin` put each process: Cpus_allowed_list of /proc/PID/status, read back after pinning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pinning {
    /// One entry per nats-server node.
    pub nats: Vec<String>,
    pub gateway: String,
    /// The bench's own publishers and subscribers (not pinned: they use every CPU they are allowed).
    pub bench: String,
}

/// Publish and consume running concurrently, in messages per second.
#[derive(Debug, Serialize, Deserialize)]
pub struct Throughput {
    pub payload_bytes: usize,
    pub raw_published_per_s: f64,
    pub raw_delivered_per_s: f64,
    pub gateway_published_per_s: f64,
    pub gateway_delivered_per_s: f64,
    /// gateway delivered / raw delivered.
    pub ratio: f64,
    pub raw_cpu: CpuPerMessage,
    pub gateway_cpu: CpuPerMessage,
    /// nats-server's CPU per delivered message behind the gateway / raw (`None` when not measured).
    #[serde(default)]
    pub nats_cpu_ratio: Option<f64>,
    /// Published but not yet delivered, raw and through the gateway, at the start and the end of the
    /// measured interval: a backlog that grows is a consumer that does not keep up.
    #[serde(default)]
    pub raw_backlog: Backlog,
    #[serde(default)]
    pub gateway_backlog: Backlog,
}

/// Messages published (acknowledged) but not yet delivered, sampled at the start and the end of a
/// measured interval. Negative when deliveries overtake the publish acknowledgements in flight.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backlog {
    pub at_start: i64,
    pub at_end: i64,
}

/// What one side (raw or gateway) of a throughput phase measured.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rates {
    pub published_per_s: f64,
    pub delivered_per_s: f64,
    pub cpu: CpuPerMessage,
    pub backlog: Backlog,
}

/// CPU microseconds each process spent per delivered message (publish and consume together): where the
/// machine's cores went. `None` for a process not measured (an external nats-server).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuPerMessage {
    pub gateway_us: Option<f64>,
    pub nats_us: Option<f64>,
    pub bench_us: Option<f64>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Unary {
    pub payload_bytes: usize,
    pub clients: usize,
    pub published_per_s: f64,
    /// This rate / the PublishStream publish rate of the same payload.
    pub ratio_to_stream: f64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Latency {
    pub payload_bytes: usize,
    pub offered_per_s: u32,
    pub raw: LatencySummary,
    pub gateway: LatencySummary,
    /// gateway p99 / raw p99.
    pub p99_ratio: f64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Fanout {
    pub subscribers: usize,
    pub payload_bytes: usize,
    pub published_per_s: u32,
    /// published_per_s x subscribers.
    pub offered_deliveries_per_s: f64,
    pub raw_deliveries_per_s: f64,
    pub gateway_deliveries_per_s: f64,
    pub ratio: f64,
    pub raw: LatencySummary,
    pub gateway: LatencySummary,
}

/// A FLASH published while a subscriber reads a ROUTINE backlog ([`super::overtake`]): from publish to
/// receipt, and how many backlog messages were read in between; raw JetStream reads in stream order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Overtake {
    pub backlog: usize,
    pub payload_bytes: usize,
    pub raw_ms: f64,
    pub raw_read_between: usize,
    pub gateway_ms: f64,
    pub gateway_read_between: usize,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Memory {
    pub gateway_idle_mib: f64,
    /// Before the idle subscriptions open, after the load phases.
    pub gateway_after_load_mib: f64,
    pub nats_idle_mib: Option<f64>,
    pub subscriptions: Vec<IdleSubscriptions>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct IdleSubscriptions {
    pub count: usize,
    pub gateway_mib: f64,
    /// The growth over the previous count (or over the gateway after the load phases) per added
    /// subscription, in KiB.
    pub gateway_kib_per_subscription: f64,
    pub nats_mib: Option<f64>,
    pub open_seconds: f64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Target {
    pub name: String,
    pub goal: String,
    pub measured: String,
    pub met: bool,
}

/// The same load phases with fsync before every acknowledgement and with nats-server's default interval.
#[derive(Debug, Serialize, Deserialize)]
pub struct SyncComparison {
    /// The default interval, e.g. `2m`.
    pub default_interval: String,
    pub throughput: Vec<SyncThroughput>,
    pub unary: Vec<SyncUnary>,
    pub latency: SyncLatency,
}

/// Delivered per second under each setting; `*_cost` is always / default (1.0: fsync costs nothing).
#[derive(Debug, Serialize, Deserialize)]
pub struct SyncThroughput {
    pub payload_bytes: usize,
    pub raw_always_per_s: f64,
    pub raw_default_per_s: f64,
    pub raw_cost: f64,
    pub gateway_always_per_s: f64,
    pub gateway_default_per_s: f64,
    pub gateway_cost: f64,
    /// gateway / raw under each setting.
    pub ratio_always: f64,
    pub ratio_default: f64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct SyncUnary {
    pub payload_bytes: usize,
    pub clients: usize,
    pub always_per_s: f64,
    pub default_per_s: f64,
    pub cost: f64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct SyncLatency {
    pub payload_bytes: usize,
    pub offered_per_s: u32,
    pub raw_always: LatencySummary,
    pub raw_default: LatencySummary,
    pub gateway_always: LatencySummary,
    pub gateway_default: LatencySummary,
}

/// Pairs the report's load phases (under `always`) with the same phases under `default`.
pub fn sync_comparison(report: &Report, default: SyncPolicy, load: Load) -> SyncComparison {
    let throughput = report
        .throughput
        .iter()
        .zip(&load.throughput)
        .map(|(always, default)| SyncThroughput {
            payload_bytes: always.payload_bytes,
            raw_always_per_s: always.raw_delivered_per_s,
            raw_default_per_s: default.raw_delivered_per_s,
            raw_cost: ratio(always.raw_delivered_per_s, default.raw_delivered_per_s),
            gateway_always_per_s: always.gateway_delivered_per_s,
            gateway_default_per_s: default.gateway_delivered_per_s,
            gateway_cost: ratio(always.gateway_delivered_per_s, default.gateway_delivered_per_s),
            ratio_always: always.ratio,
            ratio_default: default.ratio,
        })
        .collect();
    let unary = report
        .unary
        .iter()
        .zip(&load.unary)
        .map(|(always, default)| SyncUnary {
            payload_bytes: always.payload_bytes,
            clients: always.clients,
            always_per_s: always.published_per_s,
            default_per_s: default.published_per_s,
            cost: ratio(always.published_per_s, default.published_per_s),
        })
        .collect();
    let latency = SyncLatency {
        payload_bytes: report.latency.payload_bytes,
        offered_per_s: report.latency.offered_per_s,
        raw_always: report.latency.raw,
        raw_default: load.latency.raw,
        gateway_always: report.latency.gateway,
        gateway_default: load.latency.gateway,
    };
    SyncComparison { default_interval: default.to_string(), throughput, unary, latency }
}

pub fn mib(bytes: Option<u64>) -> f64 {
    bytes.unwrap_or(0) as f64 / (1024.0 * 1024.0)
}

fn ratio(numerator: f64, denominator: f64) -> f64 {
    if denominator > 0.0 { numerator / denominator } else { 0.0 }
}

pub fn throughput(payload_bytes: usize, raw: Rates, gateway: Rates) -> Throughput {
    let nats_cpu_ratio = match (gateway.cpu.nats_us, raw.cpu.nats_us) {
        (Some(gateway), Some(raw)) if raw > 0.0 => Some(gateway / raw),
        _ => None,
    };
    Throughput {
        payload_bytes,
        raw_published_per_s: raw.published_per_s,
        raw_delivered_per_s: raw.delivered_per_s,
        gateway_published_per_s: gateway.published_per_s,
        gateway_delivered_per_s: gateway.delivered_per_s,
        ratio: ratio(gateway.delivered_per_s, raw.delivered_per_s),
        raw_cpu: raw.cpu,
        gateway_cpu: gateway.cpu,
        nats_cpu_ratio,
        raw_backlog: raw.backlog,
        gateway_backlog: gateway.backlog,
    }
}

pub fn unary(payload_bytes: usize, clients: usize, published_per_s: f64, stream_per_s: f64) -> Unary {
    Unary { payload_bytes, clients, published_per_s, ratio_to_stream: ratio(published_per_s, stream_per_s) }
}

pub fn latency(payload_bytes: usize, offered_per_s: u32, raw: LatencySummary, gateway: LatencySummary) -> Latency {
    Latency { payload_bytes, offered_per_s, raw, gateway, p99_ratio: ratio(gateway.p99_ms, raw.p99_ms) }
}

#[cfg(test)]
mod tests;
