//! What a soak found: the well-behaved pair alone and beside the hostile clients, the gateway's memory,
//! every hostile outcome, and the verdict; as a table or JSON.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use super::SoakOptions;
use super::hostile::ATTEMPTS_PER_SECOND;
use super::pair::Verification;
use super::tally::KindCounts;
use crate::bench::measure::LatencySummary;
use crate::bench::report::Environment;
pub use crate::bench::report::mib;

#[derive(Debug, Serialize)]
pub struct SoakReport {
    pub environment: Environment,
    pub settings: Settings,
    /// The pair alone.
    pub baseline: PairFigures,
    /// The pair beside the hostile clients.
    pub soak: PairFigures,
    /// soak / baseline delivered rate, and soak / baseline p99.
    pub delivered_ratio: f64,
    pub p99_ratio: f64,
    /// Per kind of hostile client.
    pub hostile: BTreeMap<String, KindCounts>,
    pub memory: Memory,
    pub health: Health,
    pub verdict: Verdict,
}

#[derive(Debug, Serialize)]
pub struct Settings {
    pub soak_seconds: f64,
    pub baseline_seconds: f64,
    pub pair_offered_per_s: u32,
    pub body_bytes: usize,
    pub hostile_clients: usize,
    pub hostile_attempts_per_s_per_client: u64,
    /// The gateway runs with its default limits.
    pub gateway_limits: String,
    pub sync: String,
    pub replicas: usize,
}

#[derive(Debug, Serialize)]
pub struct PairFigures {
    pub seconds: f64,
    pub offered_per_s: u32,
    pub acknowledged_per_s: f64,
    pub delivered_per_s: f64,
    /// Publish-to-delivery, from each message's due time, over the measured seconds (not the drain).
    pub latency: LatencySummary,
    pub drain_seconds: f64,
    pub verification: Verification,
}

#[derive(Debug, Serialize)]
pub struct Memory {
    pub gateway_start_mib: f64,
    /// VmHWM after the baseline, and after the soak: the process's peak since it started.
    pub gateway_peak_baseline_mib: f64,
    pub gateway_peak_mib: f64,
    pub gateway_peak_sampled_during_soak_mib: f64,
    /// VmRSS two seconds after the hostile clients left.
    pub gateway_after_mib: f64,
    pub nats_peak_mib: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct Health {
    pub gateway_alive: bool,
    /// Lines of the gateway's log that report a panic.
    pub panics_logged: u64,
}

#[derive(Debug, Serialize)]
pub struct Verdict {
    /// In both phases every acknowledged publish was delivered exactly as sent.
    pub all_acknowledged_delivered_as_sent: bool,
    pub hostile_attempts: u64,
    pub hostile_refusals: u64,
    /// The gateway is still running and logged no panic.
    pub gateway_survived: bool,
}

fn ratio(numerator: f64, denominator: f64) -> f64 {
    if denominator > 0.0 { numerator / denominator } else { 0.0 }
}

pub fn assemble(
    options: &SoakOptions,
    environment: Environment,
    baseline: PairFigures,
    soak: PairFigures,
    hostile: BTreeMap<String, KindCounts>,
    memory: Memory,
    health: Health,
) -> SoakReport {
    let verdict = Verdict {
        all_acknowledged_delivered_as_sent: baseline.verification.all_acknowledged_delivered_as_sent
            && soak.verification.all_acknowledged_delivered_as_sent,
        hostile_attempts: hostile.values().map(|counts| counts.attempts).sum(),
        hostile_refusals: hostile.values().map(KindCounts::refusals).sum(),
        gateway_survived: health.gateway_alive && health.panics_logged == 0,
    };
    SoakReport {
        environment,
        settings: Settings {
            soak_seconds: soak.seconds,
            baseline_seconds: baseline.seconds,
            pair_offered_per_s: options.rate,
            body_bytes: super::BODY_BYTES,
            hostile_clients: options.hostile_clients,
            hostile_attempts_per_s_per_client: ATTEMPTS_PER_SECOND,
            gateway_limits: "defaults".into(),
            sync: match options.nats_url {
                Some(_) => "set by the external server".into(),
                None => options.sync.to_string(),
            },
            replicas: options.replicas,
        },
        delivered_ratio: ratio(soak.delivered_per_s, baseline.delivered_per_s),
        p99_ratio: ratio(soak.latency.p99_ms, baseline.latency.p99_ms),
        baseline,
        soak,
        hostile,
        memory,
        health,
        verdict,
    }
}

/// The report as a human-readable table.
pub fn table(report: &SoakReport) -> String {
    let mut out = String::new();
    let (env, settings) = (&report.environment, &report.settings);
    let _ = writeln!(
        out,
        "Liaison soak: {} cores, nats-server {}, liaison {} ({} build), {}",
        env.cores, env.nats_server, env.liaison, env.build, env.date
    );
    if let Some(sync) = &env.disk_write_sync {
        let _ = writeln!(out, "disk: 4 KiB write + fdatasync p50 {:.2} ms, p99 {:.2} ms", sync.p50_ms, sync.p99_ms);
    }
    let _ = writeln!(
        out,
        "pair: {} msg/s of {} B; {} hostile clients at {}/s each; gateway limits {}; sync_interval {}\n",
        settings.pair_offered_per_s,
        settings.body_bytes,
        settings.hostile_clients,
        settings.hostile_attempts_per_s_per_client,
        settings.gateway_limits,
        settings.sync
    );
    let _ = writeln!(out, "Well-behaved pair");
    let _ = writeln!(
        out,
        "  {:>9}  {:>6}  {:>10} {:>10}  {:>7} {:>7} {:>7}  {:>8} {:>8} {:>7} {:>6} {:>6}",
        "", "secs", "acked/s", "deliv/s", "p50 ms", "p99 ms", "max ms", "acked", "as sent", "missing", "alter", "dups"
    );
    for (name, figures) in [("alone", &report.baseline), ("beside", &report.soak)] {
        let check = &figures.verification;
        let _ = writeln!(
            out,
            "  {name:>9}  {:>6.1}  {:>10.0} {:>10.0}  {:>7.2} {:>7.2} {:>7.2}  {:>8} {:>8} {:>7} {:>6} {:>6}",
            figures.seconds,
            figures.acknowledged_per_s,
            figures.delivered_per_s,
            figures.latency.p50_ms,
            figures.latency.p99_ms,
            figures.latency.max_ms,
            check.acknowledged,
            check.delivered_as_sent,
            check.missing,
            check.altered,
            check.duplicates
        );
    }
    let _ = writeln!(out, "  beside / alone: delivered {:.2}, p99 {:.2}", report.delivered_ratio, report.p99_ratio);
    let _ = writeln!(out, "\nHostile clients (outcomes by gRPC code)");
    for (kind, counts) in &report.hostile {
        let refused: Vec<String> = counts.refused.iter().map(|(code, count)| format!("{code} {count}")).collect();
        let _ = writeln!(
            out,
            "  {kind:<19} {:>3} clients {:>7} attempts  accepted {:>6}  denied {:>5}  transport {:>5}  refused: {}",
            counts.clients,
            counts.attempts,
            counts.accepted,
            counts.denied,
            counts.transport_errors,
            if refused.is_empty() { "none".to_string() } else { refused.join(", ") }
        );
    }
    let memory = &report.memory;
    let _ = writeln!(
        out,
        "\nGateway memory: {:.1} MiB at start, peak {:.1} MiB alone, peak {:.1} MiB overall (sampled {:.1}), {:.1} MiB after{}",
        memory.gateway_start_mib,
        memory.gateway_peak_baseline_mib,
        memory.gateway_peak_mib,
        memory.gateway_peak_sampled_during_soak_mib,
        memory.gateway_after_mib,
        memory.nats_peak_mib.map(|mib| format!("; nats-server peak {mib:.0} MiB")).unwrap_or_default()
    );
    let verdict = &report.verdict;
    let _ = writeln!(
        out,
        "\nVerdict: every acknowledged publish delivered exactly as sent: {}; {} of {} hostile attempts refused; gateway survived: {}",
        if verdict.all_acknowledged_delivered_as_sent { "yes" } else { "NO" },
        verdict.hostile_refusals,
        verdict.hostile_attempts,
        if verdict.gateway_survived { "yes" } else { "NO" }
    );
    out
}
