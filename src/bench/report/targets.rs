//! The published performance targets, judged against one report: each is met or missed, side by side.
//!
//! Pure: a report in, the targets out, so a report saved by an earlier run can be judged again
//! (`liaison bench --from FILE`). A target whose figure the run did not measure (nats-server's CPU with
//! `--nats-url`, the unary 64-client rate without `--clients 64`, the idle subscriptions without `--idle`)
//! is left out rather than reported as missed.

use super::{Report, Target, Throughput};

/// End to end through the gateway, as a share of raw JetStream's delivered rate.
const THROUGHPUT_SHARE: f64 = 0.8;
/// Delivered as a share of published in the throughput phase: below it the backlog grows.
const KEEPS_UP_SHARE: f64 = 0.98;
/// Unary Publish with 64 clients as a share of one PublishStream.
const UNARY_SHARE: f64 = 0.5;
/// The fan-out's p50 as a multiple of raw's.
const FANOUT_P50_FACTOR: f64 = 2.0;
/// The gateway's memory with 10,000 idle subscriptions.
const IDLE_MIB: f64 = 256.0;
const IDLE_COUNT: usize = 10_000;
/// nats-server's CPU per delivered message behind the gateway as a multiple of raw's.
const NATS_CPU_FACTOR: f64 = 1.3;
/// The gateway's own CPU per delivered message.
const GATEWAY_CPU_US: f64 = 8.0;

/// Every target the report has the figures for, in the order of issue 16.
pub fn targets(report: &Report) -> Vec<Target> {
    let mut targets = Vec::new();
    targets.extend(report.throughput.iter().map(end_to_end));
    targets.extend(report.throughput.iter().map(keeps_up));
    targets.push(p99_latency(report));
    targets.extend(unary(report));
    targets.push(fanout_p50(report));
    targets.extend(idle_memory(report));
    targets.extend(report.throughput.iter().filter_map(nats_cpu));
    targets.extend(report.throughput.iter().filter_map(gateway_cpu));
    targets
}

fn end_to_end(row: &Throughput) -> Target {
    Target {
        name: format!("end-to-end throughput, {} B", row.payload_bytes),
        goal: format!(">= {THROUGHPUT_SHARE:.2} x raw"),
        measured: format!("{:.2} x raw", row.ratio),
        met: row.ratio >= THROUGHPUT_SHARE,
    }
}

/// "The gateway delivers as fast as it accepts": over the measured interval the backlog (published, not
/// yet delivered) grows by what was published minus what was delivered, so delivered >= 0.98 x published
/// is the same as a backlog that grows by at most 2 % of what was published. Both are shown.
fn keeps_up(row: &Throughput) -> Target {
    let share = super::ratio(row.gateway_delivered_per_s, row.gateway_published_per_s);
    let backlog = row.gateway_backlog;
    Target {
        name: format!("delivers as fast as it accepts, {} B", row.payload_bytes),
        goal: format!(">= {KEEPS_UP_SHARE:.2} x published; backlog not growing"),
        measured: format!("{share:.3} x published; backlog {} -> {}", backlog.at_start, backlog.at_end),
        met: row.gateway_published_per_s > 0.0 && share >= KEEPS_UP_SHARE,
    }
}

fn p99_latency(report: &Report) -> Target {
    let latency = &report.latency;
    let bound = 1.5 * latency.raw.p99_ms + 1.0;
    Target {
        name: format!("p99 latency at {} msg/s", latency.offered_per_s),
        goal: format!("<= 1.5 x raw p99 + 1 ms = {bound:.2} ms"),
        measured: format!("{:.2} ms", latency.gateway.p99_ms),
        met: latency.raw.count > 0 && latency.gateway.count > 0 && latency.gateway.p99_ms <= bound,
    }
}

fn unary(report: &Report) -> impl Iterator<Item = Target> + '_ {
    report.unary.iter().filter(|row| row.clients == 64).map(|row| Target {
        name: format!("unary Publish, 64 clients, {} B", row.payload_bytes),
        goal: format!(">= {UNARY_SHARE:.2} x PublishStream"),
        measured: format!("{:.2} x PublishStream", row.ratio_to_stream),
        met: row.ratio_to_stream >= UNARY_SHARE,
    })
}

fn fanout_p50(report: &Report) -> Target {
    let fanout = &report.fanout;
    let bound = FANOUT_P50_FACTOR * fanout.raw.p50_ms;
    Target {
        name: format!("fan-out p50, {} subscriptions", fanout.subscribers),
        goal: format!("<= {FANOUT_P50_FACTOR:.0} x raw p50 = {bound:.2} ms"),
        measured: format!("{:.2} ms", fanout.gateway.p50_ms),
        met: fanout.raw.count > 0 && fanout.gateway.count > 0 && fanout.gateway.p50_ms <= bound,
    }
}

/// Below 10,000 the figure is projected: the memory measured at the largest count, plus the rest at that
/// count's cost per added subscription (none when the gateway shrank meanwhile, as it may when the
/// allocator returns what the load phases used).
fn idle_memory(report: &Report) -> Option<Target> {
    let largest = report.memory.subscriptions.iter().max_by_key(|idle| idle.count)?;
    let (measured, how) = match largest.count >= IDLE_COUNT {
        true => (largest.gateway_mib, format!("{} subscriptions", largest.count)),
        false => (
            largest.gateway_mib
                + largest.gateway_kib_per_subscription.max(0.0) * (IDLE_COUNT - largest.count) as f64 / 1024.0,
            format!("projected from {}", largest.count),
        ),
    };
    Some(Target {
        name: "10,000 idle subscriptions".into(),
        goal: format!("<= {IDLE_MIB:.0} MiB gateway memory"),
        measured: format!("{measured:.0} MiB ({how})"),
        met: measured <= IDLE_MIB,
    })
}

fn nats_cpu(row: &Throughput) -> Option<Target> {
    // From the two figures rather than `nats_cpu_ratio`, which reports from before it was recorded lack.
    let (gateway, raw) = (row.gateway_cpu.nats_us?, row.raw_cpu.nats_us.filter(|raw| *raw > 0.0)?);
    let factor = gateway / raw;
    Some(Target {
        name: format!("nats-server CPU per message, {} B", row.payload_bytes),
        goal: format!("<= {NATS_CPU_FACTOR:.2} x raw's"),
        measured: format!("{gateway:.1} µs = {factor:.2} x raw's {raw:.1} µs"),
        met: factor <= NATS_CPU_FACTOR,
    })
}

fn gateway_cpu(row: &Throughput) -> Option<Target> {
    let micros = row.gateway_cpu.gateway_us?;
    Some(Target {
        name: format!("gateway CPU per message, {} B", row.payload_bytes),
        goal: format!("<= {GATEWAY_CPU_US:.0} µs per delivered message"),
        measured: format!("{micros:.1} µs"),
        met: micros <= GATEWAY_CPU_US,
    })
}

#[cfg(test)]
mod tests;
