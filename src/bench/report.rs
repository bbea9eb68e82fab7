//! What a run found: the figures, the gateway/raw ratios, the published targets, as a table or JSON.

use std::fmt::Write;

use serde::Serialize;

use super::measure::LatencySummary;

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
}

#[derive(Debug, Serialize)]
pub struct Settings {
    pub seconds_per_phase: f64,
    pub warmup_seconds: f64,
    pub publish_window: usize,
    pub replicas: usize,
    pub external_nats: bool,
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
    let _ = writeln!(
        out,
        "{:.0} s measured per phase after {:.1} s warm-up; publish window {}; replicas {}\n",
        report.settings.seconds_per_phase,
        report.settings.warmup_seconds,
        report.settings.publish_window,
        report.settings.replicas
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
