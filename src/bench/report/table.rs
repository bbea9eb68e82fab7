//! The report as the human-readable table `liaison bench` prints: one section per scenario, then every
//! target met or missed.

use std::fmt::Write;

use super::{Report, Settings, SyncComparison};

/// The report as a human-readable table.
pub fn table(report: &Report) -> String {
    let mut out = String::new();
    header(&mut out, report);
    throughput(&mut out, report);
    cpu(&mut out, report);
    unary(&mut out, report);
    latency(&mut out, report);
    fanout(&mut out, report);
    overtake(&mut out, report);
    memory(&mut out, report);
    if let Some(comparison) = &report.sync_comparison {
        sync_table(&mut out, comparison);
    }
    targets(&mut out, report);
    out
}

fn header(out: &mut String, report: &Report) {
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
    let settings = &report.settings;
    let _ = writeln!(
        out,
        "{:.0} s measured per phase after {:.1} s warm-up; publish window {}; replicas {}{}; sync_interval {}",
        settings.seconds_per_phase,
        settings.warmup_seconds,
        settings.publish_window,
        settings.replicas,
        match settings.nats_nodes {
            nodes if nodes > 1 => format!(" on a {nodes}-node loopback cluster"),
            _ => String::new(),
        },
        settings.sync
    );
    let _ = writeln!(out, "{}\n", pinning(settings));
}

fn pinning(settings: &Settings) -> String {
    match (&settings.pinning, settings.pinned) {
        (Some(pinning), _) => format!(
            "pinned: nats-server on CPU {}, gateway on CPU {}, bench clients unpinned (CPUs {})",
            pinning.nats.join(" / "),
            pinning.gateway,
            pinning.bench
        ),
        (None, true) => "pinned".to_string(),
        (None, false) => "not pinned: every process may use every CPU".to_string(),
    }
}

fn throughput(out: &mut String, report: &Report) {
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
    let _ = writeln!(out, "  backlog (published, not yet delivered) at the start -> end of the measured interval:");
    for row in &report.throughput {
        let (raw, gateway) = (row.raw_backlog, row.gateway_backlog);
        let _ = writeln!(
            out,
            "  {:>6} B  raw {} -> {}, gateway {} -> {}",
            row.payload_bytes, raw.at_start, raw.at_end, gateway.at_start, gateway.at_end
        );
    }
}

fn cpu(out: &mut String, report: &Report) {
    let _ = writeln!(out, "\nCPU per delivered message (µs): where the cores went");
    let _ = writeln!(
        out,
        "  {:>8}  {:>8}  {:>10} {:>10} {:>10}  {:>10}",
        "payload", "", "nats", "gateway", "clients", "nats gw/raw"
    );
    let micros = |value: Option<f64>| value.map(|us| format!("{us:.1}")).unwrap_or_else(|| "-".into());
    for row in &report.throughput {
        for (name, cpu) in [("raw", &row.raw_cpu), ("gateway", &row.gateway_cpu)] {
            let nats_ratio = row.nats_cpu_ratio.filter(|_| name == "gateway").map(|ratio| format!("{ratio:.2}"));
            let _ = writeln!(
                out,
                "  {:>6} B  {name:>8}  {:>10} {:>10} {:>10}  {:>10}",
                row.payload_bytes,
                micros(cpu.nats_us),
                micros(cpu.gateway_us.filter(|_| name == "gateway")),
                micros(cpu.bench_us),
                nats_ratio.unwrap_or_default()
            );
        }
    }
}

fn unary(out: &mut String, report: &Report) {
    let _ = writeln!(out, "\nUnary Publish with C concurrent clients (msg/s)");
    let _ = writeln!(out, "  {:>8}  {:>7}  {:>12}  {:>14}", "payload", "clients", "published", "/PublishStream");
    for row in &report.unary {
        let _ = writeln!(
            out,
            "  {:>6} B  {:>7}  {:>12.0}  {:>14.2}",
            row.payload_bytes, row.clients, row.published_per_s, row.ratio_to_stream
        );
    }
}

fn latency(out: &mut String, report: &Report) {
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
}

fn fanout(out: &mut String, report: &Report) {
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
}

fn overtake(out: &mut String, report: &Report) {
    let Some(overtake) = &report.overtake else { return };
    let _ = writeln!(
        out,
        "\nFLASH behind a backlog: a subscriber reading {} messages of {} B gets one more (a FLASH through the gateway)",
        overtake.backlog, overtake.payload_bytes
    );
    let _ = writeln!(out, "  {:>8}  {:>14} {:>20}", "", "publish->read", "backlog read between");
    for (name, ms, between) in [
        ("raw", overtake.raw_ms, overtake.raw_read_between),
        ("gateway", overtake.gateway_ms, overtake.gateway_read_between),
    ] {
        let _ = writeln!(out, "  {:>8}  {:>11.1} ms {:>20}", name, ms, between);
    }
}

fn memory(out: &mut String, report: &Report) {
    let memory = &report.memory;
    let _ = writeln!(out, "\nGateway resident memory");
    let _ = writeln!(
        out,
        "  idle: {:.1} MiB at start, {:.1} MiB after the load phases",
        memory.gateway_idle_mib, memory.gateway_after_load_mib
    );
    let nodes = match report.settings.nats_nodes {
        nodes if nodes > 1 => format!(" ({nodes} nodes)"),
        _ => String::new(),
    };
    for idle in &memory.subscriptions {
        let _ = writeln!(
            out,
            "  {} idle subscriptions: {:.1} MiB ({:.1} KiB each; opened in {:.1} s{})",
            idle.count,
            idle.gateway_mib,
            idle.gateway_kib_per_subscription,
            idle.open_seconds,
            idle.nats_mib.map(|mib| format!("; nats-server {mib:.0} MiB{nodes}")).unwrap_or_default()
        );
    }
}

fn targets(out: &mut String, report: &Report) {
    let met = report.targets.iter().filter(|target| target.met).count();
    let _ = writeln!(out, "\nTargets: {met} of {} met", report.targets.len());
    for target in &report.targets {
        let _ = writeln!(
            out,
            "  {:<6}  {:<38} {:<50} {}",
            if target.met { "met" } else { "MISSED" },
            target.name,
            target.goal,
            target.measured
        );
    }
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
