//! Measuring tools shared by every scenario: counters sampled over a measured interval, latency
//! histograms, time-stamped payloads and a pacer for fixed offered rates.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use hdrhistogram::Histogram;
use tokio::time::Instant;

/// A clock shared by publishers and subscribers of one run: payloads carry the nanoseconds since `epoch`
/// at which they were meant to be sent.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    epoch: Instant,
}

impl Clock {
    pub fn new() -> Clock {
        Clock { epoch: Instant::now() }
    }

    /// A payload of `size` bytes (at least 8) stamped with `at`.
    pub fn payload(&self, size: usize, at: Instant) -> Bytes {
        let mut payload = BytesMut::with_capacity(size.max(8));
        payload.put_u64(at.saturating_duration_since(self.epoch).as_nanos() as u64);
        payload.resize(size.max(8), b'x');
        payload.freeze()
    }

    /// How long ago the payload was stamped; `None` for a payload too short to carry a stamp.
    pub fn age(&self, payload: &[u8]) -> Option<Duration> {
        let stamp = u64::from_be_bytes(payload.get(..8)?.try_into().ok()?);
        Some((Instant::now() - self.epoch).saturating_sub(Duration::from_nanos(stamp)))
    }
}

/// A count that every task of a scenario adds to, read at the start and end of the measured interval.
#[derive(Debug, Clone, Default)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Latencies in microseconds, from 1 µs to 100 s at three significant digits.
#[derive(Clone)]
pub struct Latencies(Arc<Mutex<Histogram<u64>>>);

impl Latencies {
    pub fn new() -> Latencies {
        let histogram = Histogram::new_with_bounds(1, 100_000_000, 3).expect("valid histogram bounds");
        Latencies(Arc::new(Mutex::new(histogram)))
    }

    pub fn record(&self, latency: Duration) {
        let micros = (latency.as_micros() as u64).clamp(1, 100_000_000);
        self.lock().saturating_record(micros);
    }

    fn lock(&self) -> MutexGuard<'_, Histogram<u64>> {
        // A panic while recording cannot leave a histogram half-updated in a way that matters here.
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn reset(&self) {
        self.lock().reset();
    }

    pub fn summary(&self) -> LatencySummary {
        let histogram = self.lock();
        let millis = |quantile: f64| histogram.value_at_quantile(quantile) as f64 / 1000.0;
        LatencySummary {
            count: histogram.len(),
            p50_ms: millis(0.5),
            p90_ms: millis(0.9),
            p99_ms: millis(0.99),
            p999_ms: millis(0.999),
            max_ms: histogram.max() as f64 / 1000.0,
        }
    }
}

/// Percentiles of one latency measurement, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LatencySummary {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

/// The schedule of a fixed offered rate: message `n` is due at `start + n / rate`. Latency is measured from
/// the due time, so a sender that falls behind shows up as latency instead of hiding it.
pub struct Pacer {
    start: Instant,
    interval: Duration,
    sent: u64,
}

impl Pacer {
    pub fn new(rate: u32) -> Pacer {
        Pacer { start: Instant::now(), interval: Duration::from_secs(1) / rate.max(1), sent: 0 }
    }

    /// Waits until the next message is due and returns its due time. Cancel-safe: a wait that is
    /// dropped does not use up its slot.
    pub async fn next(&mut self) -> Instant {
        let due = self.start + self.interval * u32::try_from(self.sent).unwrap_or(u32::MAX);
        tokio::time::sleep_until(due).await;
        self.sent += 1;
        due
    }
}

/// Runs for `warmup + measure`, returning the increase of `counter` per second over the measured part.
pub async fn rate_over(counter: &Counter, warmup: Duration, measure: Duration) -> f64 {
    tokio::time::sleep(warmup).await;
    let (start, before) = (Instant::now(), counter.get());
    tokio::time::sleep(measure).await;
    (counter.get() - before) as f64 / start.elapsed().as_secs_f64()
}

/// How long this disk takes to make a small write durable: `count` 4 KiB appends to a file in `dir`, each
/// followed by fdatasync, as nats-server's `sync_interval: always` does per write (it may batch several).
/// `None` if the file cannot be written.
pub fn write_sync_latency(dir: &std::path::Path, count: usize) -> Option<LatencySummary> {
    use std::io::Write;
    let path = dir.join("write-sync-probe");
    let mut file = std::fs::File::create(&path).ok()?;
    let latencies = Latencies::new();
    for _ in 0..count {
        let started = std::time::Instant::now();
        file.write_all(&[b'x'; 4096]).ok()?;
        file.sync_data().ok()?;
        latencies.record(started.elapsed());
    }
    let _ = std::fs::remove_file(&path);
    Some(latencies.summary())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_carry_their_stamp_and_size() {
        let clock = Clock::new();
        let at = Instant::now();
        let payload = clock.payload(256, at);
        assert_eq!(payload.len(), 256);
        let age = clock.age(&payload).unwrap();
        assert!(age < Duration::from_secs(5), "{age:?}");
        assert_eq!(clock.payload(3, at).len(), 8, "room for the stamp");
        assert_eq!(clock.age(b"short"), None);
    }

    #[test]
    fn latency_percentiles_come_from_the_recorded_values() {
        let latencies = Latencies::new();
        for millis in 1..=1000 {
            latencies.record(Duration::from_millis(millis));
        }
        let summary = latencies.summary();
        assert_eq!(summary.count, 1000);
        assert!((summary.p50_ms - 500.0).abs() < 1.0, "{summary:?}");
        assert!((summary.p90_ms - 900.0).abs() < 1.0, "{summary:?}");
        assert!((summary.p99_ms - 990.0).abs() < 1.0, "{summary:?}");
        latencies.reset();
        assert_eq!(latencies.summary().count, 0);
    }

    #[test]
    fn the_write_sync_probe_times_every_write() {
        let dir = tempfile::tempdir().unwrap();
        let summary = write_sync_latency(dir.path(), 5).unwrap();
        assert_eq!(summary.count, 5);
        assert!(summary.max_ms > 0.0 && summary.max_ms >= summary.p50_ms, "{summary:?}");
        assert!(!dir.path().join("write-sync-probe").exists(), "the probe cleans up");
        assert!(write_sync_latency(&dir.path().join("missing"), 5).is_none());
    }
}
