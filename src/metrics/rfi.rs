//! The RFI clocks: RFIs past due, time to acknowledge and time to answer, each per action party (a party
//! of the directory: an RFI is recorded only once the router approved its action party, so the label set
//! stays bounded). Counted by the gateway that made the transition (a transition is written by compare
//! and set, so once across all gateways); Prometheus sums the gateways.
//!
//! Kept per action party rather than as `prometheus-client` families, because a scrape limited to one
//! party's series ([`super`]) must be able to leave the others out.

use dashmap::DashMap;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;

use crate::model::PartyId;

/// Bucket bounds in seconds: 10 s to about 12 hours, covering FLASH's 10 minutes to ROUTINE's 6 hours.
fn clock() -> Histogram {
    Histogram::new([10.0, 30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0, 3.0 * 3600.0, 6.0 * 3600.0, 12.0 * 3600.0])
}

/// The clocks, shared by the gateway (which records) and the admin port (which exports).
#[derive(Debug, Default)]
pub struct RfiMetrics {
    parties: DashMap<String, PartyClocks>,
}

/// One action party's series.
#[derive(Debug)]
struct PartyClocks {
    overdue: Counter,
    to_acknowledge: Histogram,
    to_answer: Histogram,
}

/// Name, help and type of each family, and how to read it from one party's clocks.
type Family = (&'static str, &'static str, MetricType, fn(&PartyClocks) -> &dyn EncodeMetric);

const FAMILIES: [Family; 3] = [
    ("liaison_rfi_overdue", "RFIs past their due time unanswered, by action party.", MetricType::Counter, |clocks| {
        &clocks.overdue
    }),
    (
        "liaison_rfi_time_to_acknowledge_seconds",
        "Time from an RFI reaching its action party (opened, transferred, reopened) to its acknowledgement.",
        MetricType::Histogram,
        |clocks| &clocks.to_acknowledge,
    ),
    (
        "liaison_rfi_time_to_answer_seconds",
        "Time from an RFI reaching its action party (opened, transferred, reopened) to its answer.",
        MetricType::Histogram,
        |clocks| &clocks.to_answer,
    ),
];

impl RfiMetrics {
    /// An RFI of `action_party` went past its due time.
    pub fn overdue(&self, action_party: &str) {
        self.clocks(action_party, |clocks| {
            clocks.overdue.inc();
        });
    }

    pub fn acknowledged(&self, action_party: &str, after: std::time::Duration) {
        self.clocks(action_party, |clocks| clocks.to_acknowledge.observe(after.as_secs_f64()));
    }

    pub fn answered(&self, action_party: &str, after: std::time::Duration) {
        self.clocks(action_party, |clocks| clocks.to_answer.observe(after.as_secs_f64()));
    }

    fn clocks(&self, action_party: &str, record: impl FnOnce(&PartyClocks)) {
        match self.parties.get(action_party) {
            Some(clocks) => record(&clocks),
            None => record(&self.parties.entry(action_party.to_string()).or_insert_with(PartyClocks::new)),
        }
    }

    /// Writes the three families, with only `only`'s series when given (by name, for a stable output).
    pub fn encode(&self, encoder: &mut DescriptorEncoder, only: Option<&PartyId>) -> Result<(), std::fmt::Error> {
        let mut parties: Vec<String> = self
            .parties
            .iter()
            .map(|entry| entry.key().clone())
            .filter(|party| only.is_none_or(|only| only.as_str() == party))
            .collect();
        parties.sort();
        for (name, help, metric_type, read) in FAMILIES {
            let mut family = encoder.encode_descriptor(name, help, None, metric_type)?;
            for party in &parties {
                let Some(clocks) = self.parties.get(party) else { continue };
                read(&clocks).encode(family.encode_family(&[("action_party", party.as_str())])?)?;
            }
        }
        Ok(())
    }
}

impl PartyClocks {
    fn new() -> PartyClocks {
        PartyClocks { overdue: Counter::default(), to_acknowledge: clock(), to_answer: clock() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The clocks' text as a scrape limited to `only` would have it.
    fn scraped(metrics: std::sync::Arc<RfiMetrics>, only: Option<&str>) -> String {
        #[derive(Debug)]
        struct Clocks(std::sync::Arc<RfiMetrics>, Option<PartyId>);
        impl prometheus_client::collector::Collector for Clocks {
            fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
                self.0.encode(&mut encoder, self.1.as_ref())
            }
        }
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(Clocks(metrics, only.map(|party| PartyId::parse(party).unwrap()))));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        text
    }

    #[test]
    fn each_action_partys_clocks_are_its_own_series_and_a_partys_scrape_sees_only_its_own() {
        let metrics = std::sync::Arc::new(RfiMetrics::default());
        metrics.overdue("ia");
        metrics.overdue("ia");
        metrics.acknowledged("cbp", std::time::Duration::from_secs(20));
        metrics.answered("cbp", std::time::Duration::from_secs(400));

        let all = scraped(metrics.clone(), None);
        assert!(all.contains("liaison_rfi_overdue_total{action_party=\"ia\"} 2\n"), "{all}");
        assert!(all.contains("liaison_rfi_overdue_total{action_party=\"cbp\"} 0\n"), "{all}");
        assert!(
            all.contains("liaison_rfi_time_to_acknowledge_seconds_bucket{le=\"30.0\",action_party=\"cbp\"} 1\n"),
            "{all}"
        );
        assert!(all.contains("liaison_rfi_time_to_answer_seconds_count{action_party=\"cbp\"} 1\n"), "{all}");
        assert!(all.contains("# TYPE liaison_rfi_time_to_answer_seconds histogram"), "{all}");

        let cbp = scraped(metrics, Some("cbp"));
        assert!(cbp.contains("liaison_rfi_time_to_answer_seconds_count{action_party=\"cbp\"} 1\n"), "{cbp}");
        assert!(!cbp.contains("action_party=\"ia\""), "{cbp}");
    }
}
