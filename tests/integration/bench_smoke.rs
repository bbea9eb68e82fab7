//! A smoke-sized run of `liaison bench` (a few seconds, debug build) so the harness never rots: every
//! scenario runs against a real nats-server and gateway and reports figures in its JSON, the load phases
//! under both sync settings, with every target judged (and judged again from the saved report); and a
//! three-second soak, whose checks must hold. `bench_rig.rs` runs it pinned and on a loopback cluster.

use crate::common;

use std::process::Command;

const LIAISON: &str = env!("CARGO_BIN_EXE_liaison");

#[test]
fn a_short_bench_run_reports_every_scenario() {
    let output = Command::new(LIAISON)
        .args(["bench", "--json", "--seconds", "1s", "--sizes", "256", "--clients", "1,2"])
        .args(["--latency-rate", "100", "--fanout", "3", "--fanout-rate", "5", "--idle", "5,10", "--sync", "both"])
        .args(["--overtake-backlog", "3000"])
        .arg("--nats-server-bin")
        .arg(common::nats_server_bin())
        .output()
        .expect("run liaison bench");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "liaison bench failed: {stderr}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON report on stdout");

    assert!(stderr.contains("gateway PublishStream + Subscribe"), "progress is shown: {stderr}");
    let number = |pointer: &str| report.pointer(pointer).and_then(|value| value.as_f64()).unwrap_or(-1.0);
    assert!(number("/environment/cores") >= 1.0);
    assert!(report.pointer("/environment/nats_server").and_then(|v| v.as_str()).is_some_and(|v| !v.is_empty()));
    assert_eq!(number("/environment/disk_write_sync/count"), 200.0, "the disk's write+sync latency is probed");

    let throughput = report["throughput"].as_array().expect("throughput rows");
    assert_eq!(throughput.len(), 1);
    for field in ["raw_published_per_s", "raw_delivered_per_s", "gateway_published_per_s", "gateway_delivered_per_s"] {
        assert!(number(&format!("/throughput/0/{field}")) > 0.0, "{field} in {report:#}");
    }
    assert!(number("/throughput/0/ratio") > 0.0);
    assert!(number("/throughput/0/gateway_cpu/gateway_us") > 0.0, "the gateway's CPU per message is measured");

    let unary = report["unary"].as_array().expect("unary rows");
    let clients: Vec<f64> = unary.iter().map(|row| row["clients"].as_f64().unwrap()).collect();
    assert_eq!(clients, [1.0, 2.0]);
    assert!(unary.iter().all(|row| row["published_per_s"].as_f64().unwrap() > 0.0), "{unary:?}");

    assert!(number("/latency/raw/count") > 0.0 && number("/latency/gateway/count") > 0.0, "{report:#}");
    assert!(number("/latency/gateway/p99_ms") >= number("/latency/gateway/p50_ms"));
    assert!(number("/fanout/raw_deliveries_per_s") > 0.0 && number("/fanout/gateway_deliveries_per_s") > 0.0);
    // A FLASH published after 1,000 of 3,000 backlog messages: raw reads the other 2,000 first; the
    // gateway's FLASH lane overtakes them, after what was already on its way (at most the window, 1,000).
    assert_eq!(number("/overtake/raw_read_between"), 2000.0, "{report:#}");
    assert!(number("/overtake/gateway_read_between") <= 1000.0, "{report:#}");
    assert!(number("/overtake/gateway_ms") > 0.0 && number("/overtake/raw_ms") > 0.0);

    assert!(number("/memory/gateway_idle_mib") > 1.0, "the gateway's memory is read");
    let idle: Vec<f64> = report["memory"]["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["count"].as_f64().unwrap())
        .collect();
    assert_eq!(idle, [5.0, 10.0]);

    // The backlog (published, not yet delivered) is sampled at the start and end of the measured interval.
    for side in ["raw_backlog", "gateway_backlog"] {
        for end in ["at_start", "at_end"] {
            assert!(report["throughput"][0][side][end].is_i64(), "{side}.{end} in {report:#}");
        }
    }
    assert!(number("/throughput/0/nats_cpu_ratio") > 0.0, "nats-server's CPU behind the gateway over raw's");
    assert_eq!(report.pointer("/settings/pinned").and_then(|v| v.as_bool()), Some(false));
    assert_eq!(number("/settings/nats_nodes"), 1.0);

    // Every target of issue 16 this run measured, each judged met or missed (unary is judged at 64 clients).
    let targets = report["targets"].as_array().unwrap();
    let names: Vec<&str> = targets.iter().map(|target| target["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "end-to-end throughput, 256 B",
            "delivers as fast as it accepts, 256 B",
            "p99 latency at 100 msg/s",
            "fan-out p50, 3 subscriptions",
            "10,000 idle subscriptions",
            "nats-server CPU per message, 256 B",
            "gateway CPU per message, 256 B",
        ]
    );
    for target in targets {
        assert!(target["met"].is_boolean(), "{target}");
        assert!(!target["goal"].as_str().unwrap().is_empty() && !target["measured"].as_str().unwrap().is_empty());
    }
    let idle_goal = targets.iter().find(|target| target["name"] == "10,000 idle subscriptions").unwrap();
    assert_eq!(idle_goal["goal"], "<= 256 MiB gateway memory");
    assert!(idle_goal["measured"].as_str().unwrap().ends_with("(projected from 10)"), "{idle_goal}");

    // The figures above ran with fsync before every ack; the load phases ran again under the default.
    assert_eq!(report.pointer("/settings/sync").and_then(|v| v.as_str()), Some("always"));
    assert_eq!(report.pointer("/sync_comparison/default_interval").and_then(|v| v.as_str()), Some("2m"));
    for field in ["raw_always_per_s", "raw_default_per_s", "gateway_always_per_s", "gateway_default_per_s"] {
        assert!(number(&format!("/sync_comparison/throughput/0/{field}")) > 0.0, "{field} in {report:#}");
    }
    assert_eq!(report["sync_comparison"]["unary"].as_array().map(Vec::len), Some(2));
    assert!(number("/sync_comparison/latency/gateway_default/count") > 0.0, "{report:#}");

    // The saved report reads back and prints as the table, every target met or missed.
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("bench.json");
    std::fs::write(&saved, &output.stdout).unwrap();
    let table = Command::new(LIAISON).arg("bench").arg("--from").arg(&saved).output().expect("liaison bench --from");
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(table.status.success(), "{}", String::from_utf8_lossy(&table.stderr));
    let met = targets.iter().filter(|target| target["met"] == true).count();
    assert!(text.contains(&format!("Targets: {met} of 7 met")), "{text}");
    for target in targets {
        let verdict = if target["met"] == true { "met" } else { "MISSED" };
        let line = text.lines().find(|line| line.contains(target["name"].as_str().unwrap())).unwrap_or_default();
        assert!(line.trim_start().starts_with(verdict), "{target} as {line:?} in {text}");
    }
    assert!(text.contains("not pinned"), "{text}");
}

#[test]
fn a_short_soak_delivers_every_acknowledged_publish_and_refuses_the_hostile_clients() {
    let output = Command::new(LIAISON)
        .args(["bench", "--json", "--soak", "3", "--soak-rate", "100", "--soak-clients", "27"])
        .arg("--nats-server-bin")
        .arg(common::nats_server_bin())
        .output()
        .expect("run liaison bench --soak");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "liaison bench --soak failed: {stderr}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON report on stdout");
    let number = |pointer: &str| report.pointer(pointer).and_then(|value| value.as_f64()).unwrap_or(-1.0);
    let flag = |pointer: &str| report.pointer(pointer).and_then(|value| value.as_bool());

    for phase in ["baseline", "soak"] {
        assert!(number(&format!("/{phase}/verification/acknowledged")) > 100.0, "{phase} in {report:#}");
        assert_eq!(number(&format!("/{phase}/verification/missing")), 0.0, "{phase} in {report:#}");
        assert_eq!(number(&format!("/{phase}/verification/altered")), 0.0, "{phase} in {report:#}");
        assert!(number(&format!("/{phase}/delivered_per_s")) > 0.0, "{phase} in {report:#}");
        assert!(number(&format!("/{phase}/latency/p99_ms")) > 0.0, "{phase} in {report:#}");
    }
    assert_eq!(flag("/verdict/all_acknowledged_delivered_as_sent"), Some(true), "{report:#}");
    assert_eq!(flag("/verdict/gateway_survived"), Some(true), "{report:#}");
    assert!(number("/memory/gateway_peak_mib") >= number("/memory/gateway_start_mib"), "{report:#}");
    assert!(number("/memory/gateway_start_mib") > 1.0, "{report:#}");

    // Three clients of each kind; forged, expired and malformed requests are refused every time.
    let hostile = &report["hostile"];
    for kind in ["bad-token", "malformed"] {
        assert_eq!(hostile[kind]["clients"].as_u64(), Some(3), "{kind} in {hostile:#}");
        assert!(hostile[kind]["attempts"].as_u64() > Some(10), "{kind} in {hostile:#}");
        assert_eq!(hostile[kind]["accepted"].as_u64(), Some(0), "{kind} was accepted: {hostile:#}");
    }
    assert!(hostile["bad-token"]["refused"]["Unauthenticated"].as_u64() > Some(0), "{hostile:#}");
    assert!(hostile["malformed"]["refused"]["InvalidArgument"].as_u64() > Some(0), "{hostile:#}");
    assert!(hostile["not-http2"]["refused"]["ConnectionClosed"].as_u64() > Some(0), "{hostile:#}");
    assert!(hostile["valid-publisher"]["accepted"].as_u64() > Some(0), "valid traffic went through: {hostile:#}");
    assert!(number("/verdict/hostile_refusals") > 0.0, "{report:#}");
}
