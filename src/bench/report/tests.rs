//! The table of a hand-made report (`sample` is shared with the targets' tests).

use super::{
    Backlog, CpuPerMessage, Environment, Fanout, IdleSubscriptions, Latency, Memory, Overtake, Pinning, Rates, Report,
    Settings, Unary, table, targets, throughput,
};
use crate::bench::measure::LatencySummary;

pub fn latency(count: u64, p50_ms: f64, p99_ms: f64) -> LatencySummary {
    LatencySummary { count, p50_ms, p90_ms: p99_ms, p99_ms, p999_ms: p99_ms, max_ms: p99_ms }
}

fn rates(published_per_s: f64, delivered_per_s: f64, nats_us: f64, gateway_us: Option<f64>) -> Rates {
    Rates {
        published_per_s,
        delivered_per_s,
        cpu: CpuPerMessage { gateway_us, nats_us: Some(nats_us), bench_us: Some(3.0) },
        backlog: Backlog { at_start: 100, at_end: 120 },
    }
}

/// A report meeting every target, with 256 B and 1 KiB throughput rows.
pub fn report() -> Report {
    let row =
        |size| throughput(size, rates(50_000.0, 50_000.0, 10.0, None), rates(45_000.0, 44_500.0, 12.0, Some(7.0)));
    Report {
        environment: Environment::now("2.15.1".into(), "liaison bench".into(), None),
        settings: Settings {
            seconds_per_phase: 6.0,
            warmup_seconds: 1.5,
            publish_window: 256,
            replicas: 1,
            external_nats: false,
            sync: "always".into(),
            nats_nodes: 1,
            pinned: false,
            pinning: None,
        },
        throughput: vec![row(256), row(1024)],
        unary: vec![
            Unary { payload_bytes: 256, clients: 16, published_per_s: 10_000.0, ratio_to_stream: 0.2 },
            Unary { payload_bytes: 256, clients: 64, published_per_s: 30_000.0, ratio_to_stream: 0.6 },
        ],
        latency: Latency {
            payload_bytes: 1024,
            offered_per_s: 2000,
            raw: latency(12_000, 1.0, 2.0),
            gateway: latency(12_000, 1.4, 3.5),
            p99_ratio: 1.75,
        },
        fanout: Fanout {
            subscribers: 1000,
            payload_bytes: 1024,
            published_per_s: 5,
            offered_deliveries_per_s: 5000.0,
            raw_deliveries_per_s: 5000.0,
            gateway_deliveries_per_s: 5000.0,
            ratio: 1.0,
            raw: latency(30_000, 40.0, 150.0),
            gateway: latency(30_000, 79.0, 500.0),
        },
        overtake: Some(Overtake {
            backlog: 100_000,
            payload_bytes: 1024,
            raw_ms: 9_500.0,
            raw_read_between: 99_000,
            gateway_ms: 4.2,
            gateway_read_between: 0,
        }),
        memory: Memory {
            gateway_idle_mib: 24.0,
            gateway_after_load_mib: 90.0,
            nats_idle_mib: Some(30.0),
            subscriptions: vec![idle(1000, 100.0, 10.0), idle(10_000, 250.0, 16.7)],
        },
        targets: Vec::new(),
        sync_comparison: None,
    }
}

fn idle(count: usize, gateway_mib: f64, kib_each: f64) -> IdleSubscriptions {
    IdleSubscriptions { count, gateway_mib, gateway_kib_per_subscription: kib_each, nats_mib: None, open_seconds: 1.0 }
}

#[test]
fn the_table_shows_every_target_met_or_missed_and_how_the_processes_ran() {
    let mut report = report();
    report.throughput[0].ratio = 0.5;
    report.targets = targets(&report);
    let text = table(&report);
    assert!(text.contains("not pinned: every process may use every CPU"), "{text}");
    assert!(text.contains(&format!("Targets: 11 of {} met", report.targets.len())), "{text}");
    let lines: Vec<&str> = text.lines().filter(|line| line.contains("end-to-end throughput")).collect();
    assert!(lines[0].trim_start().starts_with("MISSED") && lines[0].contains("0.50 x raw"), "{lines:?}");
    assert!(lines[1].trim_start().starts_with("met"), "{lines:?}");
    assert!(text.contains("256 B  raw 100 -> 120, gateway 100 -> 120"), "the backlog is shown: {text}");
    assert!(text.contains("1.20"), "nats-server's CPU behind the gateway over raw's: {text}");
    assert!(text.contains("FLASH behind a backlog: a subscriber reading 100000 messages of 1024 B"), "{text}");
    assert!(text.contains("     raw       9500.0 ms                99000"), "{text}");
    assert!(text.contains(" gateway          4.2 ms                    0"), "{text}");

    report.settings.nats_nodes = 3;
    report.settings.replicas = 3;
    report.settings.pinned = true;
    report.settings.pinning = Some(Pinning { nats: vec!["0".into(); 3], gateway: "1".into(), bench: "0-1".into() });
    let text = table(&report);
    assert!(text.contains("replicas 3 on a 3-node loopback cluster"), "{text}");
    assert!(
        text.contains("pinned: nats-server on CPU 0 / 0 / 0, gateway on CPU 1, bench clients unpinned (CPUs 0-1)"),
        "{text}"
    );
}
