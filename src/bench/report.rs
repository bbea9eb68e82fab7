//! What a run found: the figures, the gateway/raw ratios, the published targets, as a table or JSON.

use std::fmt::Write;

use serde::Serialize;

use super::Load;
use super::measure::LatencySummary;
use crate::embedded::SyncPolicy;

#[derive(Debug, Serialize)]
pub struct Report {
    pub environment: Environment,
    pub settings: Settings,
    pub throughput: Vec<Throughput>,
    pub unary: Vec<Unary>,
    pub latency: Latency,
    pub fanout: Fanout,
    pub memory: Memory,
    pub targets: Vec<Target>,
    /// With `--sync both`: the load phases under `always` (above) beside nats-server's default.
    pub sync_comparison: Option<SyncComparison>,
}

#[derive(Debug, Serialize)]
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

#[derive(Debug, Serialize)]
pub struct Settings {
    pub seconds_per_phase: f64,
    pub warmup_seconds: f64,
    pub publish_window: usize,
    pub replicas: usize,
    pub external_nats: bool,
    /// The started nats-server's `jetstream { sync_interval }`: `always` fsyncs before each ack.
    pub sync: String,
}

/// Publish and consume running concurrently, in messages per second.
#[derive(Debug, Serialize)]
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
}

/// CPU microseconds each process spent per delivered message (publish and consume together): where the
/// machine's cores went. `None` for a process not measured (an external nats-server).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct CpuPerMessage {
    pub gateway_us: Option<f64>,
    pub nats_us: Option<f64>,
    pub bench_us: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct Unary {
    pub payload_bytes: usize,
    pub clients: usize,
    pub published_per_s: f64,
    /// This rate / the PublishStream publish rate of the same payload.
    pub ratio_to_stream: f64,
}

#[derive(Debug, Serialize)]
pub struct Latency {
    pub payload_bytes: usize,
    pub offered_per_s: u32,
    pub raw: LatencySummary,
    pub gateway: LatencySummary,
    /// gateway p99 / raw p99.
    pub p99_ratio: f64,
}

#[derive(Debug, Serialize)]
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

#[derive(Debug, Serialize)]
pub struct Memory {
    pub gateway_idle_mib: f64,
    /// Before the idle subscriptions open, after the load phases.
    pub gateway_after_load_mib: f64,
    pub nats_idle_mib: Option<f64>,
    pub subscriptions: Vec<IdleSubscriptions>,
}

#[derive(Debug, Serialize)]
pub struct IdleSubscriptions {
    pub count: usize,
    pub gateway_mib: f64,
    /// The growth over the previous count (or over the gateway after the load phases) per added
    /// subscription, in KiB.
    pub gateway_kib_per_subscription: f64,
    pub nats_mib: Option<f64>,
    pub open_seconds: f64,
}

#[derive(Debug, Serialize)]
pub struct Target {
    pub name: String,
    pub goal: String,
    pub measured: String,
    pub met: bool,
}

/// The same load phases with fsync before every acknowledgement and with nats-server's default interval.
#[derive(Debug, Serialize)]
pub struct SyncComparison {
    /// The default interval, e.g. `2m`.
    pub default_interval: String,
    pub throughput: Vec<SyncThroughput>,
    pub unary: Vec<SyncUnary>,
    pub latency: SyncLatency,
}

/// Delivered per second under each setting; `*_cost` is always / default (1.0: fsync costs nothing).
#[derive(Debug, Serialize)]
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

#[derive(Debug, Serialize)]
pub struct SyncUnary {
    pub payload_bytes: usize,
    pub clients: usize,
    pub always_per_s: f64,
    pub default_per_s: f64,
    pub cost: f64,
}

#[derive(Debug, Serialize)]
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

pub fn throughput(
    payload_bytes: usize,
    raw: (f64, f64, CpuPerMessage),
    gateway: (f64, f64, CpuPerMessage),
) -> Throughput {
    Throughput {
        payload_bytes,
        raw_published_per_s: raw.0,
        raw_delivered_per_s: raw.1,
        gateway_published_per_s: gateway.0,
        gateway_delivered_per_s: gateway.1,
        ratio: ratio(gateway.1, raw.1),
        raw_cpu: raw.2,
        gateway_cpu: gateway.2,
    }
}

pub fn unary(payload_bytes: usize, clients: usize, published_per_s: f64, stream_per_s: f64) -> Unary {
    Unary { payload_bytes, clients, published_per_s, ratio_to_stream: ratio(published_per_s, stream_per_s) }
}

pub fn latency(payload_bytes: usize, offered_per_s: u32, raw: LatencySummary, gateway: LatencySummary) -> Latency {
    Latency { payload_bytes, offered_per_s, raw, gateway, p99_ratio: ratio(gateway.p99_ms, raw.p99_ms) }
}

/// Checks the published targets against the figures.
pub fn targets(report: &Report) -> Vec<Target> {
    let mut targets = Vec::new();
    for row in &report.throughput {
        targets.push(Target {
            name: format!("end-to-end throughput, {} B", row.payload_bytes),
            goal: ">= 0.80 x raw".into(),
            measured: format!("{:.2} x raw", row.ratio),
            met: row.ratio >= 0.8,
        });
    }
    let latency = &report.latency;
    let bound = 1.5 * latency.raw.p99_ms + 1.0;
    targets.push(Target {
        name: format!("p99 latency at {} msg/s", latency.offered_per_s),
        goal: format!("<= 1.5 x raw p99 + 1 ms = {bound:.2} ms"),
        measured: format!("{:.2} ms", latency.gateway.p99_ms),
        met: latency.gateway.count > 0 && latency.gateway.p99_ms <= bound,
    });
    if let Some(largest) = report.memory.subscriptions.iter().max_by_key(|idle| idle.count) {
        // Below 10,000 the figure is projected from the per-subscription cost of the largest count run.
        let (measured, how) = match largest.count >= 10_000 {
            true => (largest.gateway_mib, format!("{} subscriptions", largest.count)),
            false => (
                report.memory.gateway_after_load_mib + largest.gateway_kib_per_subscription * 10_000.0 / 1024.0,
                format!("projected from {}", largest.count),
            ),
        };
        targets.push(Target {
            name: "10,000 idle subscriptions".into(),
            goal: "<= 512 MiB gateway memory".into(),
            measured: format!("{measured:.0} MiB ({how})"),
            met: measured <= 512.0,
        });
    }
    for row in report.unary.iter().filter(|row| row.clients == 64) {
        targets.push(Target {
            name: format!("unary Publish, 64 clients, {} B", row.payload_bytes),
            goal: ">= 0.50 x PublishStream".into(),
            measured: format!("{:.2} x PublishStream", row.ratio_to_stream),
            met: row.ratio_to_stream >= 0.5,
        });
    }
    targets
}

/// The report as a human-readable table.
pub fn table(report: &Report) -> String {
    let mut out = String::new();
    let env = &report.environment;
    let _ = writeln!(
        out,
        "Liaison bench: {} cores, nats-server {}, liaison {} ({} build), {}",
        env.cores, env.nats_server, env.liaison, env.build, env.date
    );
    if let Some(sync) = &env.disk_write_sync {
        let _ = writeln!(
            out,
            "disk: 4 KiB write + fdatasync p50 {:.2} ms, p99 {:.2} ms ({} writes)",
            sync.p50_ms, sync.p99_ms, sync.count
        );
    }
    let _ = writeln!(
        out,
        "{:.0} s measured per phase after {:.1} s warm-up; publish window {}; replicas {}; sync_interval {}\n",
        report.settings.seconds_per_phase,
        report.settings.warmup_seconds,
        report.settings.publish_window,
        report.settings.replicas,
        report.settings.sync
    );
    let _ = writeln!(out, "Throughput, publish and consume concurrently (msg/s)");
    let _ = writeln!(
        out,
        "  {:>8}  {:>12} {:>12}  {:>12} {:>12}  {:>8}",
        "payload", "raw pub", "raw sub", "gateway pub", "gateway sub", "gw/raw"
    );
    for row in &report.throughput {
        let _ = writeln!(
            out,
            "  {:>6} B  {:>12.0} {:>12.0}  {:>12.0} {:>12.0}  {:>8.2}",
            row.payload_bytes,
            row.raw_published_per_s,
            row.raw_delivered_per_s,
            row.gateway_published_per_s,
            row.gateway_delivered_per_s,
            row.ratio
        );
    }
    let _ = writeln!(out, "\nCPU per delivered message (µs): where the cores went");
    let _ = writeln!(out, "  {:>8}  {:>8}  {:>10} {:>10} {:>10}", "payload", "", "nats", "gateway", "clients");
    let micros = |value: Option<f64>| value.map(|us| format!("{us:.1}")).unwrap_or_else(|| "-".into());
    for row in &report.throughput {
        for (name, cpu) in [("raw", &row.raw_cpu), ("gateway", &row.gateway_cpu)] {
            let _ = writeln!(
                out,
                "  {:>6} B  {name:>8}  {:>10} {:>10} {:>10}",
                row.payload_bytes,
                micros(cpu.nats_us),
                micros(cpu.gateway_us.filter(|_| name == "gateway")),
                micros(cpu.bench_us)
            );
        }
    }
    let _ = writeln!(out, "\nUnary Publish with C concurrent clients (msg/s)");
    let _ = writeln!(out, "  {:>8}  {:>7}  {:>12}  {:>14}", "payload", "clients", "published", "/PublishStream");
    for row in &report.unary {
        let _ = writeln!(
            out,
            "  {:>6} B  {:>7}  {:>12.0}  {:>14.2}",
            row.payload_bytes, row.clients, row.published_per_s, row.ratio_to_stream
        );
    }
    let latency = &report.latency;
    let _ = writeln!(
        out,
        "\nPublish-to-delivery latency at {} msg/s, {} B (ms)",
        latency.offered_per_s, latency.payload_bytes
    );
    let _ = writeln!(out, "  {:>8}  {:>8} {:>8} {:>8} {:>8} {:>9}", "", "p50", "p99", "p99.9", "max", "samples");
    for (name, summary) in [("raw", &latency.raw), ("gateway", &latency.gateway)] {
        let _ = writeln!(
            out,
            "  {:>8}  {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>9}",
            name, summary.p50_ms, summary.p99_ms, summary.p999_ms, summary.max_ms, summary.count
        );
    }
    let fanout = &report.fanout;
    let _ = writeln!(
        out,
        "\nFan-out: 1 publisher at {} msg/s to {} subscriptions, {} B ({:.0} deliveries/s offered)",
        fanout.published_per_s, fanout.subscribers, fanout.payload_bytes, fanout.offered_deliveries_per_s
    );
    let _ = writeln!(out, "  {:>8}  {:>12} {:>8} {:>8}", "", "delivered/s", "p50 ms", "p99 ms");
    for (name, rate, summary) in [
        ("raw", fanout.raw_deliveries_per_s, &fanout.raw),
        ("gateway", fanout.gateway_deliveries_per_s, &fanout.gateway),
    ] {
        let _ = writeln!(out, "  {:>8}  {:>12.0} {:>8.2} {:>8.2}", name, rate, summary.p50_ms, summary.p99_ms);
    }
    let memory = &report.memory;
    let _ = writeln!(out, "\nGateway resident memory");
    let _ = writeln!(
        out,
        "  idle: {:.1} MiB at start, {:.1} MiB after the load phases",
        memory.gateway_idle_mib, memory.gateway_after_load_mib
    );
    for idle in &memory.subscriptions {
        let _ = writeln!(
            out,
            "  {} idle subscriptions: {:.1} MiB ({:.1} KiB each; opened in {:.1} s{})",
            idle.count,
            idle.gateway_mib,
            idle.gateway_kib_per_subscription,
            idle.open_seconds,
            idle.nats_mib.map(|mib| format!("; nats-server {mib:.0} MiB")).unwrap_or_default()
        );
    }
    if let Some(comparison) = &report.sync_comparison {
        sync_table(&mut out, comparison);
    }
    let _ = writeln!(out, "\nTargets");
    for target in &report.targets {
        let _ = writeln!(
            out,
            "  {:<6}  {:<38} {:<44} {}",
            if target.met { "met" } else { "MISSED" },
            target.name,
            target.goal,
            target.measured
        );
    }
    out
}

/// The `--sync both` comparison: each figure under `always` beside nats-server's default interval.
fn sync_table(out: &mut String, comparison: &SyncComparison) {
    let default = &comparison.default_interval;
    let _ = writeln!(out, "\nsync_interval always vs {default} (nats-server's default): delivered msg/s");
    let _ = writeln!(
        out,
        "  {:>8}  {:>10} {:>10} {:>6}  {:>10} {:>10} {:>6}  {:>13}",
        "payload", "raw always", "raw dflt", "cost", "gw always", "gw dflt", "cost", "gw/raw a / d"
    );
    for row in &comparison.throughput {
        let _ = writeln!(
            out,
            "  {:>6} B  {:>10.0} {:>10.0} {:>6.2}  {:>10.0} {:>10.0} {:>6.2}  {:>6.2} / {:<4.2}",
            row.payload_bytes,
            row.raw_always_per_s,
            row.raw_default_per_s,
            row.raw_cost,
            row.gateway_always_per_s,
            row.gateway_default_per_s,
            row.gateway_cost,
            row.ratio_always,
            row.ratio_default
        );
    }
    for row in &comparison.unary {
        let _ = writeln!(
            out,
            "  unary Publish, {} clients, {} B: {:.0} always, {:.0} {default} ({:.2})",
            row.clients, row.payload_bytes, row.always_per_s, row.default_per_s, row.cost
        );
    }
    let latency = &comparison.latency;
    let _ = writeln!(out, "  latency at {} msg/s, {} B (ms):", latency.offered_per_s, latency.payload_bytes);
    for (name, summary) in [
        ("raw always", &latency.raw_always),
        ("raw dflt", &latency.raw_default),
        ("gw always", &latency.gateway_always),
        ("gw dflt", &latency.gateway_default),
    ] {
        let _ = writeln!(
            out,
            "    {name:>10}  p50 {:>6.2}  p99 {:>6.2}  p99.9 {:>6.2}  max {:>6.2}",
            summary.p50_ms, summary.p99_ms, summary.p999_ms, summary.max_ms
        );
    }
}
