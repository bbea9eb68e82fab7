//! Where `liaison bench` runs its processes: `--pin` (nats-server and the gateway on a CPU each, as the
//! kernel reports once they run), its refusals, and `--replicas 3` on a loopback cluster it starts itself.

use crate::common;

use std::process::{Command, Output};

const LIAISON: &str = env!("CARGO_BIN_EXE_liaison");

/// The smallest run of every scenario, with `extra` flags; its JSON report.
fn short_bench(extra: &[&str]) -> serde_json::Value {
    let output = Command::new(LIAISON)
        .args(["bench", "--json", "--seconds", "1s", "--sizes", "256", "--clients", "1"])
        .args([
            "--latency-rate",
            "100",
            "--fanout",
            "2",
            "--fanout-rate",
            "5",
            "--idle",
            "2",
            "--overtake-backlog",
            "0",
        ])
        .args(extra)
        .arg("--nats-server-bin")
        .arg(common::nats_server_bin())
        .output()
        .expect("run liaison bench");
    assert!(output.status.success(), "liaison bench {extra:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("JSON report on stdout")
}

fn bench(args: &[&str]) -> Output {
    Command::new(LIAISON).arg("bench").args(args).output().expect("run liaison bench")
}

/// A single CPU of a kernel CPU list (`3`, not `0-1` or `0,2`).
fn one_cpu(list: &serde_json::Value) -> &str {
    let list = list.as_str().unwrap_or_default();
    assert!(!list.is_empty() && list.chars().all(|c| c.is_ascii_digit()), "one CPU, got {list:?}");
    list
}

#[test]
fn a_pinned_run_puts_nats_server_and_the_gateway_on_a_cpu_each() {
    let cpus = std::thread::available_parallelism().map(usize::from).unwrap_or(1);
    if cpus < 2 {
        eprintln!("SKIPPED the pinned run: this test may use {cpus} CPU, --pin needs 2; checking the refusal only");
        let output = bench(&["--pin", "--seconds", "1s"]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success() && stderr.contains("needs at least 2"), "{stderr}");
        return;
    }
    let report = short_bench(&["--pin"]);
    let settings = &report["settings"];
    assert_eq!(settings["pinned"], true, "{settings}");
    let pinning = &settings["pinning"];
    let nats = pinning["nats"].as_array().expect("one entry per nats-server");
    assert_eq!(nats.len(), 1, "{pinning}");
    let (nats, gateway) = (one_cpu(&nats[0]), one_cpu(&pinning["gateway"]));
    assert_ne!(nats, gateway, "{pinning}");
    let bench_cpus = pinning["bench"].as_str().unwrap();
    assert!(bench_cpus.contains('-') || bench_cpus.contains(','), "the bench's clients stay unpinned: {pinning}");
    assert!(report["throughput"][0]["gateway_delivered_per_s"].as_f64() > Some(0.0), "{report:#}");
    assert!(report["throughput"][0]["gateway_cpu"]["nats_us"].as_f64() > Some(0.0), "{report:#}");
}

#[test]
fn pin_is_refused_for_a_nats_server_the_bench_does_not_start() {
    let output = bench(&["--pin", "--nats-url", "nats://127.0.0.1:1"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("--pin") && stderr.contains("--nats-url"), "{stderr}");
    let output = bench(&["--replicas", "6"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.contains("--replicas"), "{stderr}");
}

#[test]
fn replicas_3_runs_every_scenario_on_a_three_node_loopback_cluster() {
    let report = short_bench(&["--replicas", "3"]);
    let settings = &report["settings"];
    assert_eq!((settings["replicas"].as_u64(), settings["nats_nodes"].as_u64()), (Some(3), Some(3)), "{settings}");
    let row = &report["throughput"][0];
    assert!(row["raw_delivered_per_s"].as_f64() > Some(0.0) && row["gateway_delivered_per_s"].as_f64() > Some(0.0));
    assert!(row["raw_cpu"]["nats_us"].as_f64() > Some(0.0), "every node's CPU is counted: {row}");
    assert!(report["latency"]["gateway"]["count"].as_u64() > Some(0), "{report:#}");
    assert!(report["memory"]["subscriptions"][0]["nats_mib"].as_f64() > Some(0.0), "{report:#}");
}
