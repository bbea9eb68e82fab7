//! Traffic accounting: what went through this gateway, per feed subject, for operators. Metadata only.
//!
//! One entry per flow, a (recipient, origin, kind, topic): the same four tokens that make the feed subject.
//! Each entry holds atomic counters, so recording is a map lookup by the subject string and a few relaxed
//! atomic adds, with no allocation once a flow exists. The number of flows is bounded; traffic on flows beyond
//! the bound is counted on one overflow flow, so memory and metric label sets stay bounded however many
//! topics clients invent. No flow is made for a recipient that is not in the directory: such denials are
//! counted per origin party only, so names a client makes up never become flows or metric labels. Active
//! subscriptions per party and consumer lag (read from JetStream by the application) are kept here too. Pure data, no I/O: `grpc` records, `metrics` and `grpc::traffic` read.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;

use crate::model::{Kind, PartyId, Precedence, Topic};
use crate::router::DenialReason;

/// Default bound on distinct flows.
pub const DEFAULT_MAX_FLOWS: usize = 10_000;
/// The subject under which traffic beyond the flow bound is counted.
pub const OVERFLOW_SUBJECT: &str = "_other";

/// What identifies a flow, beside its subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowLabels {
    pub recipient: PartyId,
    pub origin: PartyId,
    pub kind: Kind,
    pub topic: Topic,
}

/// The counters of one flow.
#[derive(Debug, Default)]
pub struct FlowCounters {
    published: AtomicU64,
    published_bytes: AtomicU64,
    delivered: AtomicU64,
    delivered_bytes: AtomicU64,
    withheld: AtomicU64,
    redelivered: AtomicU64,
    dead_lettered: AtomicU64,
    denied: [AtomicU64; DenialReason::ALL.len()],
}

/// A copy of a flow's counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub published: u64,
    pub published_bytes: u64,
    pub delivered: u64,
    pub delivered_bytes: u64,
    pub withheld: u64,
    pub redelivered: u64,
    pub dead_lettered: u64,
    /// Indexed like [`DenialReason::ALL`].
    pub denied: [u64; DenialReason::ALL.len()],
}

/// One flow in a snapshot. `labels` is `None` for the overflow flow (and a subject whose tokens could not
/// be told, which does not happen for copies the gateway stored).
#[derive(Debug, Clone)]
pub struct FlowSnapshot {
    pub subject: Arc<str>,
    pub labels: Option<FlowLabels>,
    pub counts: Counts,
}

/// How far one feed (its lanes' consumers together) is behind, as last read from JetStream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsumerLag {
    pub consumer: String,
    pub party: String,
    pub pending: u64,
    pub ack_pending: u64,
    pub redelivered: u64,
}

struct Flow {
    labels: Option<FlowLabels>,
    counters: FlowCounters,
}

/// All traffic accounting of one gateway. Cheap to share (`Arc`).
pub struct Traffic {
    flows: DashMap<Arc<str>, Arc<Flow>>,
    overflow: Arc<Flow>,
    max_flows: usize,
    active: DashMap<PartyId, AtomicU64>,
    /// Recipients denied for not being in the directory, by origin party (always one in the directory).
    unknown_recipients: DashMap<PartyId, AtomicU64>,
    lag: std::sync::RwLock<Vec<ConsumerLag>>,
    /// Copies held for disclosure review, and the oldest's age in seconds (read by the hold sweep).
    held: (AtomicU64, AtomicU64),
    /// Copies no subscriber acknowledged within their precedence's objective, by recipient and
    /// precedence (judged by this gateway's speed-of-service sweep).
    speed_missed: DashMap<(PartyId, Precedence), AtomicU64>,
}

/// Counts one open subscription until dropped.
pub struct ActiveSubscription {
    traffic: Arc<Traffic>,
    party: PartyId,
}

// === impl Traffic ===

impl Traffic {
    pub fn new(max_flows: usize) -> Traffic {
        Traffic {
            flows: DashMap::new(),
            overflow: Arc::new(Flow { labels: None, counters: FlowCounters::default() }),
            max_flows,
            active: DashMap::new(),
            unknown_recipients: DashMap::new(),
            lag: std::sync::RwLock::new(Vec::new()),
            held: (AtomicU64::new(0), AtomicU64::new(0)),
            speed_missed: DashMap::new(),
        }
    }

    /// Counts a copy for `recipient` that no subscriber acknowledged within its objective.
    pub fn speed_of_service_missed(&self, recipient: &PartyId, precedence: Precedence) {
        self.speed_missed.entry((recipient.clone(), precedence)).or_default().fetch_add(1, Ordering::Relaxed);
    }

    /// Speed-of-service misses so far, by recipient and precedence, sorted.
    pub fn speed_of_service_misses(&self) -> Vec<(PartyId, Precedence, u64)> {
        let mut misses: Vec<_> = self
            .speed_missed
            .iter()
            .map(|entry| (entry.key().0.clone(), entry.key().1, entry.value().load(Ordering::Relaxed)))
            .collect();
        misses.sort();
        misses
    }

    /// Replaces the figures of the copies held for disclosure review.
    pub fn set_held(&self, waiting: u64, oldest: std::time::Duration) {
        self.held.0.store(waiting, Ordering::Relaxed);
        self.held.1.store(oldest.as_secs(), Ordering::Relaxed);
    }

    /// Copies held for disclosure review, and the oldest's age in seconds.
    pub fn held(&self) -> (u64, u64) {
        (self.held.0.load(Ordering::Relaxed), self.held.1.load(Ordering::Relaxed))
    }

    /// The counters of the flow on `subject`, created (with `labels`, `None` if they cannot be told) on
    /// first use, or the overflow flow's when the bound is reached.
    pub fn flow(&self, subject: &str, labels: impl FnOnce() -> Option<FlowLabels>) -> FlowRef {
        if let Some(flow) = self.flows.get(subject) {
            return FlowRef(flow.clone());
        }
        if self.flows.len() >= self.max_flows {
            return FlowRef(self.overflow.clone());
        }
        let flow = self
            .flows
            .entry(Arc::from(subject))
            .or_insert_with(|| Arc::new(Flow { labels: labels(), counters: FlowCounters::default() }));
        FlowRef(flow.clone())
    }

    /// Every flow with its counters, sorted by subject; the overflow flow last, if it was used.
    pub fn snapshot(&self) -> Vec<FlowSnapshot> {
        let mut flows: Vec<FlowSnapshot> = self
            .flows
            .iter()
            .map(|entry| FlowSnapshot {
                subject: entry.key().clone(),
                labels: entry.value().labels.clone(),
                counts: entry.value().counters.read(),
            })
            .collect();
        flows.sort_by(|a, b| a.subject.cmp(&b.subject));
        let overflow = self.overflow.counters.read();
        if overflow != Counts::default() {
            flows.push(FlowSnapshot { subject: Arc::from(OVERFLOW_SUBJECT), labels: None, counts: overflow });
        }
        flows
    }

    /// Distinct flows tracked (the overflow flow not counted).
    pub fn flow_count(&self) -> usize {
        self.flows.len()
    }

    /// The bound on distinct flows.
    pub fn max_flows(&self) -> usize {
        self.max_flows
    }

    /// Counts a recipient denied because it is not in the directory, under the origin that named it: no
    /// flow is made for it.
    pub fn unknown_recipient(&self, origin: &PartyId) {
        if let Some(count) = self.unknown_recipients.get(origin) {
            count.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.unknown_recipients.entry(origin.clone()).or_default().fetch_add(1, Ordering::Relaxed);
    }

    /// Recipients denied for not being in the directory, per origin party, sorted by party.
    pub fn unknown_recipients(&self) -> Vec<(PartyId, u64)> {
        let mut counts: Vec<(PartyId, u64)> = self
            .unknown_recipients
            .iter()
            .map(|entry| (entry.key().clone(), entry.value().load(Ordering::Relaxed)))
            .collect();
        counts.sort();
        counts
    }

    /// Counts an open subscription of `party` until the returned guard is dropped.
    pub fn subscription_opened(self: &Arc<Self>, party: &PartyId) -> ActiveSubscription {
        self.active.entry(party.clone()).or_default().fetch_add(1, Ordering::Relaxed);
        ActiveSubscription { traffic: self.clone(), party: party.clone() }
    }

    /// Open subscriptions per party (parties with none left out), sorted by party.
    pub fn active_subscriptions(&self) -> Vec<(PartyId, u64)> {
        let mut active: Vec<(PartyId, u64)> = self
            .active
            .iter()
            .map(|entry| (entry.key().clone(), entry.value().load(Ordering::Relaxed)))
            .filter(|(_, count)| *count > 0)
            .collect();
        active.sort();
        active
    }

    /// Replaces the consumer lag figures (read from JetStream).
    pub fn set_lag(&self, lag: Vec<ConsumerLag>) {
        *self.lag.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = lag;
    }

    /// The last consumer lag figures read.
    pub fn lag(&self) -> Vec<ConsumerLag> {
        self.lag.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }
}

impl Default for Traffic {
    fn default() -> Self {
        Traffic::new(DEFAULT_MAX_FLOWS)
    }
}

impl Drop for ActiveSubscription {
    fn drop(&mut self) {
        if let Some(count) = self.traffic.active.get(&self.party) {
            count.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// A handle on one flow's counters.
#[derive(Clone)]
pub struct FlowRef(Arc<Flow>);

impl FlowRef {
    pub fn published(&self, bytes: usize) {
        let counters = &self.0.counters;
        counters.published.fetch_add(1, Ordering::Relaxed);
        counters.published_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// A delivery to a subscriber; `attempt` above 1 also counts as a redelivery.
    pub fn delivered(&self, bytes: usize, attempt: u64) {
        let counters = &self.0.counters;
        counters.delivered.fetch_add(1, Ordering::Relaxed);
        counters.delivered_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        if attempt > 1 {
            counters.redelivered.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn denied(&self, reason: DenialReason) {
        self.0.counters.denied[reason.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub fn withheld(&self) {
        self.0.counters.withheld.fetch_add(1, Ordering::Relaxed);
    }

    pub fn dead_lettered(&self) {
        self.0.counters.dead_lettered.fetch_add(1, Ordering::Relaxed);
    }
}

impl FlowCounters {
    fn read(&self) -> Counts {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Counts {
            published: load(&self.published),
            published_bytes: load(&self.published_bytes),
            delivered: load(&self.delivered),
            delivered_bytes: load(&self.delivered_bytes),
            withheld: load(&self.withheld),
            redelivered: load(&self.redelivered),
            dead_lettered: load(&self.dead_lettered),
            denied: std::array::from_fn(|index| load(&self.denied[index])),
        }
    }
}

impl Counts {
    /// All denials, whatever the reason.
    pub fn denied_total(&self) -> u64 {
        self.denied.iter().sum()
    }

    /// Adds another flow's counts.
    pub fn add(&mut self, other: &Counts) {
        self.published += other.published;
        self.published_bytes += other.published_bytes;
        self.delivered += other.delivered;
        self.delivered_bytes += other.delivered_bytes;
        self.withheld += other.withheld;
        self.redelivered += other.redelivered;
        self.dead_lettered += other.dead_lettered;
        for (total, count) in self.denied.iter_mut().zip(other.denied) {
            *total += count;
        }
    }
}

#[cfg(test)]
mod tests;
