//! The RFI clocks: RFIs past due, time to acknowledge and time to answer, each per action party (a party
//! of the directory: an RFI is recorded only once the router approved its action party, so the label set
//! stays bounded). Counted by the gateway that made the transition (a transition is written by compare
//! and set, so once across all gateways); Prometheus sums the gateways.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// One label, the action party.
type PartyLabel = Vec<(&'static str, String)>;
type Histograms = Family<PartyLabel, Histogram, fn() -> Histogram>;

/// Bucket bounds in seconds: 10 s to about 12 hours, covering FLASH's 10 minutes to ROUTINE's 6 hours.
fn clock() -> Histogram {
    Histogram::new([10.0, 30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0, 3.0 * 3600.0, 6.0 * 3600.0, 12.0 * 3600.0])
}

/// The families, shared by the gateway (which records) and the admin port (which exports).
#[derive(Debug, Clone)]
pub struct RfiMetrics {
    overdue: Family<PartyLabel, Counter>,
    to_acknowledge: Histograms,
    to_answer: Histograms,
}

impl Default for RfiMetrics {
    fn default() -> Self {
        RfiMetrics {
            overdue: Family::default(),
            to_acknowledge: Family::new_with_constructor(clock as fn() -> Histogram),
            to_answer: Family::new_with_constructor(clock as fn() -> Histogram),
        }
    }
}

fn label(action_party: &str) -> PartyLabel {
    vec![("action_party", action_party.to_string())]
}

impl RfiMetrics {
    /// An RFI of `action_party` went past its due time.
    pub fn overdue(&self, action_party: &str) {
        self.overdue.get_or_create(&label(action_party)).inc();
    }

    pub fn acknowledged(&self, action_party: &str, after: std::time::Duration) {
        self.to_acknowledge.get_or_create(&label(action_party)).observe(after.as_secs_f64());
    }

    pub fn answered(&self, action_party: &str, after: std::time::Duration) {
        self.to_answer.get_or_create(&label(action_party)).observe(after.as_secs_f64());
    }

    /// Adds the families to the admin port's registry.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "liaison_rfi_overdue",
            "RFIs past their due time unanswered, by action party.",
            self.overdue.clone(),
        );
        registry.register(
            "liaison_rfi_time_to_acknowledge_seconds",
            "Time from an RFI reaching its action party (opened, transferred, reopened) to its acknowledgement.",
            self.to_acknowledge.clone(),
        );
        registry.register(
            "liaison_rfi_time_to_answer_seconds",
            "Time from an RFI reaching its action party (opened, transferred, reopened) to its answer.",
            self.to_answer.clone(),
        );
    }
}
