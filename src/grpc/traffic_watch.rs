//! `OperatorService.WatchTraffic` and `ListSubjects`: the gateway's traffic accounting as protobuf. Only
//! counters, subjects and party, kind and topic tokens are ever put in these messages: never a body,
//! title or attribute (a test checks the encoded stream).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use crate::api as pb;
use crate::identity::Caller;
use crate::identity::authorization::Action;
use crate::model::PartyId;
use crate::router::DenialReason;
use crate::traffic::{Counts, FlowSnapshot};

use super::quota::Call;
use super::server::Gateway;
use super::{GatewayError, convert};

const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
const INTERVAL_RANGE: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(60));
/// Most consumers listed by lag in one snapshot.
const MAX_LAG_ROWS: usize = 100;

type Snapshots = Result<pb::WatchTrafficResponse, Status>;

// === impl Gateway ===

impl Gateway {
    /// Streams a snapshot every interval until the client goes away or the gateway shuts down.
    pub(super) fn watch_traffic(
        &self,
        caller: &Caller,
        request: pb::WatchTrafficRequest,
    ) -> Result<impl Stream<Item = Snapshots> + use<>, GatewayError> {
        let interval = match request.interval_ms {
            0 => DEFAULT_INTERVAL,
            millis => Duration::from_millis(u64::from(millis)),
        };
        let (shortest, longest) = INTERVAL_RANGE;
        if interval < shortest || interval > longest {
            return Err(GatewayError::InvalidArgument(format!(
                "interval_ms: must be between {} and {}",
                shortest.as_millis(),
                longest.as_millis()
            )));
        }
        let party = self.authorize_listing(caller, Action::WatchTraffic, party_filter(&request.party)?)?;
        let party = party.map(|party| party.to_string());
        let slot = self.quotas.open_call(caller, Call::WatchTraffic)?;
        let (sender, receiver) = mpsc::channel(2);
        let gateway = self.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut previous: HashMap<Arc<str>, Counts> = HashMap::new();
            let mut previous_at = tokio::time::Instant::now();
            loop {
                tokio::select! {
                    () = sender.closed() => break,
                    () = gateway.shutdown.cancelled() => break,
                    _ = ticker.tick() => {}
                }
                let now = tokio::time::Instant::now();
                let seconds = (now - previous_at).as_secs_f64();
                let flows = gateway.flows(party.as_deref());
                let snapshot = gateway.snapshot(&flows, &previous, seconds, party.as_deref());
                previous = flows.into_iter().map(|flow| (flow.subject, flow.counts)).collect();
                previous_at = now;
                if sender.send(Ok(snapshot)).await.is_err() {
                    break;
                }
            }
        });
        Ok(ReceiverStream::new(receiver))
    }

    /// Every subject with traffic since start, with totals.
    pub(super) fn list_subjects(
        &self,
        caller: &Caller,
        request: pb::ListSubjectsRequest,
    ) -> Result<pb::ListSubjectsResponse, GatewayError> {
        let party = self.authorize_listing(caller, Action::ListSubjects, party_filter(&request.party)?)?;
        let party = party.map(|party| party.to_string());
        let subjects = self.flows(party.as_deref()).iter().map(|flow| subject_traffic(flow, None, 0.0)).collect();
        Ok(pb::ListSubjectsResponse { subjects })
    }

    /// Denials by reason and deliveries withheld, summed over every subject (of `party`, if given).
    pub(super) fn denial_totals(&self, party: Option<&str>) -> (Vec<pb::DenialCount>, u64) {
        let mut totals = Counts::default();
        for flow in self.flows(party) {
            totals.add(&flow.counts);
        }
        totals.denied[DenialReason::UnknownParty.index()] += self.unknown_recipients(party);
        (denial_counts(&totals), totals.withheld)
    }

    /// Recipients denied for not being in the directory, which have no flow: named by `party` (as origin),
    /// or by anyone.
    fn unknown_recipients(&self, party: Option<&str>) -> u64 {
        let counts = self.traffic.unknown_recipients().into_iter();
        counts.filter(|(origin, _)| party.is_none_or(|party| origin.as_str() == party)).map(|(_, count)| count).sum()
    }

    fn flows(&self, party: Option<&str>) -> Vec<FlowSnapshot> {
        let mut flows = self.traffic.snapshot();
        if let Some(party) = party {
            flows.retain(|flow| {
                flow.labels
                    .as_ref()
                    .is_some_and(|labels| labels.recipient.as_str() == party || labels.origin.as_str() == party)
            });
        }
        flows
    }

    fn snapshot(
        &self,
        flows: &[FlowSnapshot],
        previous: &HashMap<Arc<str>, Counts>,
        seconds: f64,
        party: Option<&str>,
    ) -> pb::WatchTrafficResponse {
        let mut totals = Counts::default();
        let mut subjects: Vec<pb::SubjectTraffic> = flows
            .iter()
            .map(|flow| {
                totals.add(&flow.counts);
                subject_traffic(flow, previous.get(&flow.subject), seconds)
            })
            .collect();
        totals.denied[DenialReason::UnknownParty.index()] += self.unknown_recipients(party);
        // Busiest first: by current rate, then by total.
        subjects.sort_by(|a, b| {
            let rate = |subject: &pb::SubjectTraffic| {
                subject.rates.as_ref().map(|rates| rates.published_messages + rates.delivered_messages).unwrap_or(0.0)
            };
            let total = |subject: &pb::SubjectTraffic| {
                subject.totals.as_ref().map(|totals| totals.published_messages + totals.delivered_messages).unwrap_or(0)
            };
            rate(b).total_cmp(&rate(a)).then(total(b).cmp(&total(a)))
        });
        let active_subscriptions = self
            .traffic
            .active_subscriptions()
            .into_iter()
            .filter(|(active_party, _)| party.is_none_or(|party| active_party.as_str() == party))
            .map(|(party, count)| pb::ActiveSubscriptions { party: party.to_string(), count })
            .collect();
        let mut lag: Vec<pb::SubscriptionLag> = self
            .traffic
            .lag()
            .into_iter()
            .filter(|lag| party.is_none_or(|party| lag.party == party))
            .map(|lag| pb::SubscriptionLag {
                subscription_id: lag.consumer,
                party: lag.party,
                pending: lag.pending,
                ack_pending: lag.ack_pending,
                redelivered: lag.redelivered,
            })
            .collect();
        lag.sort_by_key(|lag| std::cmp::Reverse(lag.pending + lag.ack_pending));
        lag.truncate(MAX_LAG_ROWS);
        let speed_of_service_missed = self
            .traffic
            .speed_of_service_misses()
            .into_iter()
            .filter(|(recipient, _, _)| party.is_none_or(|party| recipient.as_str() == party))
            .map(|(recipient, precedence, missed)| pb::SpeedOfServiceMisses {
                recipient: recipient.to_string(),
                precedence: pb::Precedence::from(precedence) as i32,
                missed,
            })
            .collect();
        pb::WatchTrafficResponse {
            taken_at: Some(convert::timestamp(time::OffsetDateTime::now_utc())),
            interval_seconds: seconds,
            subjects,
            active_subscriptions,
            lag,
            totals: Some(counts(&totals)),
            speed_of_service_missed,
        }
    }
}

fn party_filter(party: &str) -> Result<Option<PartyId>, GatewayError> {
    match party {
        "" => Ok(None),
        party => Ok(Some(convert::token("party", party)?)),
    }
}

fn subject_traffic(flow: &FlowSnapshot, previous: Option<&Counts>, seconds: f64) -> pb::SubjectTraffic {
    let labels = flow.labels.as_ref();
    let rates = (seconds > 0.0).then(|| {
        let before = previous.copied().unwrap_or_default();
        let now = &flow.counts;
        let rate = |now: u64, before: u64| now.saturating_sub(before) as f64 / seconds;
        pb::TrafficRates {
            published_messages: rate(now.published, before.published),
            published_bytes: rate(now.published_bytes, before.published_bytes),
            delivered_messages: rate(now.delivered, before.delivered),
            delivered_bytes: rate(now.delivered_bytes, before.delivered_bytes),
            denied: rate(now.denied_total(), before.denied_total()),
            withheld: rate(now.withheld, before.withheld),
        }
    });
    pb::SubjectTraffic {
        subject: flow.subject.to_string(),
        recipient: labels.map(|labels| labels.recipient.to_string()).unwrap_or_default(),
        origin: labels.map(|labels| labels.origin.to_string()).unwrap_or_default(),
        kind: labels.map(|labels| pb::Kind::from(labels.kind) as i32).unwrap_or_default(),
        topic: labels.map(|labels| labels.topic.to_string()).unwrap_or_default(),
        totals: Some(counts(&flow.counts)),
        rates: Some(rates.unwrap_or_default()),
    }
}

fn counts(counts: &Counts) -> pb::TrafficCounts {
    pb::TrafficCounts {
        published_messages: counts.published,
        published_bytes: counts.published_bytes,
        delivered_messages: counts.delivered,
        delivered_bytes: counts.delivered_bytes,
        denied: counts.denied_total(),
        denied_by_reason: denial_counts(counts),
        withheld: counts.withheld,
        redelivered: counts.redelivered,
        dead_lettered: counts.dead_lettered,
    }
}

/// The reasons that occurred, in the API's order.
fn denial_counts(counts: &Counts) -> Vec<pb::DenialCount> {
    DenialReason::ALL
        .into_iter()
        .zip(counts.denied)
        .filter(|(_, count)| *count > 0)
        .map(|(reason, count)| pb::DenialCount { reason: convert::denial_reason(reason) as i32, count })
        .collect()
}
