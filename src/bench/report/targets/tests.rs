//! The targets judged on hand-made reports: a report that meets every one, then one figure at a time
//! moved across its target's line.

use super::super::tests::{latency, report};
use super::super::{Backlog, Report, Target};
use super::targets;

/// The one target named `name`.
fn target(report: &Report, name: &str) -> Target {
    let mut found = targets(report).into_iter().filter(|target| target.name == name);
    let target = found.next().unwrap_or_else(|| panic!("no target {name:?} in {:#?}", targets(report)));
    assert!(found.next().is_none(), "{name:?} twice");
    target
}

fn check(report: &Report, name: &str, met: bool, measured: &str) {
    let target = target(report, name);
    assert_eq!(target.met, met, "{target:?}");
    assert!(target.measured.contains(measured), "{target:?} should show {measured:?}");
}

#[test]
fn a_report_within_every_target_meets_each_one_side_by_side() {
    let names: Vec<String> =
        targets(&report()).into_iter().map(|target| format!("{} {}", target.met, target.name)).collect();
    assert_eq!(
        names,
        [
            "true end-to-end throughput, 256 B",
            "true end-to-end throughput, 1024 B",
            "true delivers as fast as it accepts, 256 B",
            "true delivers as fast as it accepts, 1024 B",
            "true p99 latency at 2000 msg/s",
            "true unary Publish, 64 clients, 256 B",
            "true fan-out p50, 1000 subscriptions",
            "true 10,000 idle subscriptions",
            "true nats-server CPU per message, 256 B",
            "true nats-server CPU per message, 1024 B",
            "true gateway CPU per message, 256 B",
            "true gateway CPU per message, 1024 B",
        ]
    );
}

#[test]
fn end_to_end_throughput_is_judged_at_every_size() {
    let mut report = report();
    report.throughput[1].ratio = 0.79;
    check(&report, "end-to-end throughput, 256 B", true, "0.89 x raw");
    check(&report, "end-to-end throughput, 1024 B", false, "0.79 x raw");
    report.throughput[1].ratio = 0.80;
    check(&report, "end-to-end throughput, 1024 B", true, "0.80 x raw");
}

#[test]
fn a_gateway_that_delivers_less_than_it_accepts_misses_with_its_backlog_shown() {
    let mut report = report();
    check(&report, "delivers as fast as it accepts, 256 B", true, "0.989 x published; backlog 100 -> 120");
    report.throughput[0].gateway_delivered_per_s = 0.97 * 45_000.0;
    report.throughput[0].gateway_backlog = Backlog { at_start: 500, at_end: 8600 };
    check(&report, "delivers as fast as it accepts, 256 B", false, "0.970 x published; backlog 500 -> 8600");
    check(&report, "delivers as fast as it accepts, 1024 B", true, "0.989");
    report.throughput[0].gateway_delivered_per_s = 0.98 * 45_000.0;
    check(&report, "delivers as fast as it accepts, 256 B", true, "0.980");
    // Nothing published is nothing kept up with.
    report.throughput[0].gateway_published_per_s = 0.0;
    report.throughput[0].gateway_delivered_per_s = 0.0;
    check(&report, "delivers as fast as it accepts, 256 B", false, "0.000");
}

#[test]
fn p99_latency_is_bounded_by_raw_p99_plus_a_millisecond() {
    let mut report = report();
    check(&report, "p99 latency at 2000 msg/s", true, "3.50 ms");
    report.latency.gateway.p99_ms = 4.01;
    check(&report, "p99 latency at 2000 msg/s", false, "4.01 ms");
    assert!(target(&report, "p99 latency at 2000 msg/s").goal.contains("= 4.00 ms"));
    report.latency.gateway = latency(0, 0.0, 0.0);
    check(&report, "p99 latency at 2000 msg/s", false, "0.00 ms");
}

#[test]
fn unary_publish_is_judged_at_64_clients_only() {
    let mut report = report();
    report.unary[1].ratio_to_stream = 0.49;
    check(&report, "unary Publish, 64 clients, 256 B", false, "0.49 x PublishStream");
    report.unary.pop();
    assert!(targets(&report).iter().all(|target| !target.name.starts_with("unary")), "16 clients is no target");
}

#[test]
fn the_fanout_p50_is_within_twice_raw() {
    let mut report = report();
    check(&report, "fan-out p50, 1000 subscriptions", true, "79.00 ms");
    assert!(target(&report, "fan-out p50, 1000 subscriptions").goal.contains("= 80.00 ms"));
    report.fanout.gateway.p50_ms = 80.5;
    check(&report, "fan-out p50, 1000 subscriptions", false, "80.50 ms");
    report.fanout.gateway.p50_ms = 10.0;
    report.fanout.raw.count = 0;
    check(&report, "fan-out p50, 1000 subscriptions", false, "10.00 ms");
}

#[test]
fn ten_thousand_idle_subscriptions_fit_in_256_mib_measured_or_projected() {
    let mut report = report();
    check(&report, "10,000 idle subscriptions", true, "250 MiB (10000 subscriptions)");
    report.memory.subscriptions[1].gateway_mib = 257.0;
    check(&report, "10,000 idle subscriptions", false, "257 MiB (10000 subscriptions)");
    // Only 1,000 measured: 100 MiB there + 9,000 more x 10 KiB = 188 MiB, and says so.
    report.memory.subscriptions.pop();
    check(&report, "10,000 idle subscriptions", true, "188 MiB (projected from 1000)");
    report.memory.subscriptions[0].gateway_kib_per_subscription = 20.0;
    check(&report, "10,000 idle subscriptions", false, "276 MiB (projected from 1000)");
    // A gateway that shrank while the first subscriptions opened projects no less than it measured.
    report.memory.subscriptions[0].gateway_kib_per_subscription = -7.5;
    check(&report, "10,000 idle subscriptions", true, "100 MiB (projected from 1000)");
    report.memory.subscriptions.clear();
    assert!(targets(&report).iter().all(|target| !target.name.contains("idle")), "not measured, not judged");
}

#[test]
fn nats_server_cpu_behind_the_gateway_is_within_1_3_times_raw() {
    let mut report = report();
    check(&report, "nats-server CPU per message, 256 B", true, "12.0 µs = 1.20 x raw's 10.0 µs");
    report.throughput[0].gateway_cpu.nats_us = Some(13.1);
    check(&report, "nats-server CPU per message, 256 B", false, "13.1 µs = 1.31 x raw's 10.0 µs");
    // An external nats-server's CPU is not measured: no target rather than a missed one.
    report.throughput[0].raw_cpu.nats_us = None;
    assert!(targets(&report).iter().all(|target| target.name != "nats-server CPU per message, 256 B"));
}

#[test]
fn the_gateways_cpu_per_delivered_message_is_at_most_8_us() {
    let mut report = report();
    check(&report, "gateway CPU per message, 1024 B", true, "7.0 µs");
    report.throughput[1].gateway_cpu.gateway_us = Some(8.2);
    check(&report, "gateway CPU per message, 1024 B", false, "8.2 µs");
    report.throughput[1].gateway_cpu.gateway_us = None;
    assert!(targets(&report).iter().all(|target| target.name != "gateway CPU per message, 1024 B"));
}

#[test]
fn a_report_saved_before_the_newer_figures_reads_and_is_judged_again() {
    let mut json = serde_json::to_value(report()).unwrap();
    for field in ["nats_nodes", "pinned", "pinning"] {
        json["settings"].as_object_mut().unwrap().remove(field).unwrap();
    }
    for row in json["throughput"].as_array_mut().unwrap() {
        for field in ["nats_cpu_ratio", "raw_backlog", "gateway_backlog"] {
            row.as_object_mut().unwrap().remove(field).unwrap();
        }
    }
    let old: Report = serde_json::from_value(json).expect("an older report reads");
    assert_eq!((old.settings.nats_nodes, old.settings.pinned, &old.settings.pinning), (0, false, &None));
    assert_eq!((old.throughput[0].nats_cpu_ratio, old.throughput[0].gateway_backlog), (None, Backlog::default()));
    check(&old, "nats-server CPU per message, 256 B", true, "1.20 x raw's");
    check(&old, "delivers as fast as it accepts, 256 B", true, "backlog 0 -> 0");
    assert_eq!(targets(&old).len(), targets(&report()).len());
}
