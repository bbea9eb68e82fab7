//! The admin HTTP port: `/metrics` in Prometheus (OpenMetrics) text format, `/healthz` and `/readyz`.
//!
//! A scrape carries a bearer token like any RPC and is authorized by the same table (`GET /metrics`):
//! a `monitor`, `operator` or `admin` token of a party with oversight sees every series; of any other
//! party, only the series that name its party (as recipient, origin, `party` or `action_party`), and none
//! of the gateway-wide ones. The probes answer without a token and say only whether the gateway is up.
//!
//! Metrics are read from the gateway's traffic accounting at scrape time (a `prometheus-client` collector),
//! so the hot path pays only for its atomic counters. Label cardinality is bounded: flows (recipient,
//! origin, kind, topic) are capped by the traffic accounting (see [`crate::traffic`]), party labels come
//! from the directory, and per-consumer lag is summed per party rather than exported per consumer.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::grpc::{Gateway, GatewayError};
use crate::identity::Verifier;
use crate::model::PartyId;
use crate::router::DenialReason;
use crate::traffic::{Counts, FlowSnapshot, OVERFLOW_SUBJECT};

pub mod rfi;

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serves the admin endpoints on `listener` until `shutdown` is cancelled; `verifier` checks the tokens
/// of scrapes as the gRPC port's does.
pub async fn serve(
    listener: TcpListener,
    gateway: Gateway,
    verifier: Verifier,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let state = Arc::new(AdminState { gateway, verifier });
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .with_state(state);
    tracing::info!(listen = %listener.local_addr()?, "admin endpoints serving (/metrics, /healthz, /readyz)");
    axum::serve(listener, app).with_graceful_shutdown(async move { shutdown.cancelled().await }).await
}

/// Binds the admin address, naming it in the error.
pub async fn bind(address: SocketAddr) -> anyhow::Result<TcpListener> {
    use anyhow::Context;
    TcpListener::bind(address).await.with_context(|| format!("binding the admin address {address}"))
}

struct AdminState {
    gateway: Gateway,
    verifier: Verifier,
}

async fn metrics(State(state): State<Arc<AdminState>>, headers: HeaderMap) -> axum::response::Response {
    let authorization = headers.get(header::AUTHORIZATION).map(|value| value.to_str().unwrap_or(""));
    let only = match state.gateway.authorize_scrape(&state.verifier, authorization) {
        Ok(only) => only,
        Err(refused) => return refusal(&refused),
    };
    let mut registry = Registry::default();
    registry.register_collector(Box::new(GatewayCollector { gateway: state.gateway.clone(), only }));
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &registry) {
        Ok(()) => (StatusCode::OK, [(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, format!("encoding metrics: {error}\n")).into_response(),
    }
}

/// A refused scrape: 401 with a bearer challenge when the token is missing or bad, else 403; the body
/// names the rule, as the gRPC status would.
fn refusal(refused: &GatewayError) -> axum::response::Response {
    let body = format!("{refused}\n");
    match refused {
        GatewayError::Unauthenticated(_) => {
            (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer realm=\"liaison\"")], body).into_response()
        }
        _ => (StatusCode::FORBIDDEN, body).into_response(),
    }
}

/// Ready while connected to NATS, not shutting down and with room in the audit stream.
async fn ready(State(state): State<Arc<AdminState>>) -> impl IntoResponse {
    match state.gateway.ready() {
        Ok(()) => (StatusCode::OK, "ready\n".to_string()),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}\n")),
    }
}

/// Reads everything at scrape time: every series, or (`only`) those naming one party.
struct GatewayCollector {
    gateway: Gateway,
    only: Option<PartyId>,
}

impl std::fmt::Debug for GatewayCollector {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("GatewayCollector")
    }
}

/// One flow counter family: metric name (without `_total`), help, and how to read it from a flow.
type FlowCounter = (&'static str, &'static str, fn(&Counts) -> u64);

const FLOW_COUNTERS: [FlowCounter; 7] = [
    ("liaison_published_messages", "Copies stored for a recipient.", |counts| counts.published),
    ("liaison_published_bytes", "Bytes of copies stored for a recipient.", |counts| counts.published_bytes),
    ("liaison_delivered_messages", "Deliveries to subscribers, redeliveries included.", |counts| counts.delivered),
    ("liaison_delivered_bytes", "Bytes delivered to subscribers.", |counts| counts.delivered_bytes),
    ("liaison_withheld_messages", "Deliveries withheld for a person's own clearance or nationality.", |counts| {
        counts.withheld
    }),
    ("liaison_redelivered_messages", "Deliveries that were a second or later attempt.", |counts| counts.redelivered),
    ("liaison_dead_lettered_messages", "Messages moved to a dead-letter subject.", |counts| counts.dead_lettered),
];

impl prometheus_client::collector::Collector for GatewayCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let only = self.only.as_ref();
        self.encode_flows(&mut encoder, only)?;
        self.encode_parties(&mut encoder, only)?;
        self.gateway.rfi_metrics().encode(&mut encoder, only)?;
        if only.is_none() {
            self.encode_gateway_wide(&mut encoder)?;
        }
        Ok(())
    }
}

/// May a scrape limited to `only` (`None`: every series) see a series that names `parties`? A party's
/// scrape sees a series that names it in any label; the `_other` overflow names no party.
fn visible(only: Option<&PartyId>, parties: &[&str]) -> bool {
    only.is_none_or(|party| parties.contains(&party.as_str()))
}

impl GatewayCollector {
    /// The flow counters and denials (recipient, origin, kind, topic), and unknown recipients by origin.
    fn encode_flows(&self, encoder: &mut DescriptorEncoder, only: Option<&PartyId>) -> Result<(), std::fmt::Error> {
        let traffic = self.gateway.traffic();
        let flows = traffic.snapshot();
        let shown: Vec<(&FlowSnapshot, [(&str, &str); 4])> = flows
            .iter()
            .map(|flow| (flow, flow_labels(flow)))
            .filter(|(_, [recipient, origin, ..])| visible(only, &[recipient.1, origin.1]))
            .collect();
        for (name, help, read) in FLOW_COUNTERS {
            let mut family =
                encoder.encode_descriptor(name, help, None, prometheus_client::metrics::MetricType::Counter)?;
            for (flow, labels) in &shown {
                ConstCounter::new(read(&flow.counts)).encode(family.encode_family(labels)?)?;
            }
        }
        let mut denied = encoder.encode_descriptor(
            "liaison_denied_messages",
            "Recipients the router denied, by reason.",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (flow, labels) in &shown {
            for (reason, count) in DenialReason::ALL.into_iter().zip(flow.counts.denied) {
                if count == 0 {
                    continue;
                }
                let [recipient, origin, kind, topic] = *labels;
                // The router's stable code, in Prometheus' lower case: `NO_ROUTE` -> `no_route`.
                let reason = reason.code().to_ascii_lowercase();
                let with_reason = [recipient, origin, kind, topic, ("reason", reason.as_str())];
                ConstCounter::new(count).encode(denied.encode_family(&with_reason)?)?;
            }
        }
        let mut unknown = encoder.encode_descriptor(
            "liaison_unknown_recipients",
            "Named recipients denied for not being in the directory, by the origin that named them (no flow is made for them).",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (origin, count) in traffic.unknown_recipients() {
            if visible(only, &[origin.as_str()]) {
                ConstCounter::new(count).encode(unknown.encode_family(&[("origin", origin.as_str())])?)?;
            }
        }
        Ok(())
    }

    /// Per-party series: speed-of-service misses, open subscriptions and consumer lag.
    fn encode_parties(&self, encoder: &mut DescriptorEncoder, only: Option<&PartyId>) -> Result<(), std::fmt::Error> {
        let traffic = self.gateway.traffic();
        let mut missed = encoder.encode_descriptor(
            "liaison_speed_of_service_missed",
            "Copies no subscriber of the recipient acknowledged within their precedence's objective (judged by this gateway).",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (recipient, precedence, count) in traffic.speed_of_service_misses() {
            if visible(only, &[recipient.as_str()]) {
                let labels = [("precedence", precedence.name()), ("recipient", recipient.as_str())];
                ConstCounter::new(count).encode(missed.encode_family(&labels)?)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "liaison_active_subscriptions",
            "Open Subscribe streams on this gateway.",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for (party, count) in &traffic.active_subscriptions() {
            if visible(only, &[party.as_str()]) {
                gauge(count_i64(*count), &mut family, &[("party", party.as_str())])?;
            }
        }
        let mut lag_by_party: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
        for lag in traffic.lag().into_iter().filter(|lag| visible(only, &[lag.party.as_str()])) {
            let entry = lag_by_party.entry(lag.party).or_default();
            entry.0 += lag.pending;
            entry.1 += lag.ack_pending;
        }
        for (name, help, pick) in [
            (
                "liaison_consumer_pending_messages",
                "Messages stored and not yet delivered, summed over the party's consumers (all gateways).",
                0,
            ),
            (
                "liaison_consumer_ack_pending_messages",
                "Messages delivered and not yet acknowledged, summed over the party's consumers (all gateways).",
                1,
            ),
        ] {
            let mut family =
                encoder.encode_descriptor(name, help, None, prometheus_client::metrics::MetricType::Gauge)?;
            for (party, (pending, ack_pending)) in &lag_by_party {
                let value = if pick == 0 { *pending } else { *ack_pending };
                gauge(count_i64(value), &mut family, &[("party", party.as_str())])?;
            }
        }
        Ok(())
    }

    /// What belongs to no one party: the gateway's limits, queues, audit, refusals and panics, and the
    /// held copies of every party. A full scrape only.
    fn encode_gateway_wide(&self, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let traffic = self.gateway.traffic();
        let (flow_count, flow_limit) = (traffic.flow_count() as u64, traffic.max_flows() as u64);
        let (audit_bytes, audit_max_bytes) = self.gateway.audit().capacity().usage();
        let (held, held_oldest) = traffic.held();
        let (audit_reads, audit_scanned) = self.gateway.audit_reads();
        for (name, help, value) in [
            ("liaison_traffic_flows", "Distinct (recipient, origin, kind, topic) flows tracked.", flow_count),
            ("liaison_traffic_flows_limit", "Most flows tracked; beyond it traffic is labelled _other.", flow_limit),
            (
                "liaison_disclosure_held",
                "Copies held for foreign-disclosure review (RELIDO), every party's (read by the hold sweep).",
                held,
            ),
            (
                "liaison_disclosure_oldest_seconds",
                "How long the oldest copy held for foreign-disclosure review has waited, in seconds.",
                held_oldest,
            ),
            (
                "liaison_audit_bytes",
                "Bytes the audit stream LIAISON_AUDIT holds (read every few seconds).",
                audit_bytes,
            ),
            (
                "liaison_audit_max_bytes",
                "The audit stream's byte limit (--audit-max-bytes; 0: none): at it, publishes fail UNAVAILABLE and /readyz says why.",
                audit_max_bytes,
            ),
            ("liaison_audit_queries", "QueryAudit calls reading the audit now.", audit_reads),
        ] {
            let gauge_value = ConstGauge::new(count_i64(value));
            gauge_value.encode(encoder.encode_descriptor(name, help, None, gauge_value.metric_type())?)?;
        }
        let (unauthenticated, permission_denied) = self.gateway.auth_refusals();
        for (name, help, value) in [
            (
                "liaison_speed_of_service_marks_dropped",
                "Acknowledgement batches not marked for speed of service because the mark writer was behind.",
                self.gateway.speed_marks_dropped(),
            ),
            (
                "liaison_audit_query_scanned_records",
                "Audit records QueryAudit calls examined (each call at most --audit-query-scan-budget).",
                audit_scanned,
            ),
            ("liaison_unauthenticated_requests", "Calls refused for a missing, bad or expired token.", unauthenticated),
            ("liaison_permission_denied_requests", "Calls refused for role, party or certificate.", permission_denied),
            (
                "liaison_panics",
                "Panics in this process (each is also logged); no input should reach one.",
                crate::telemetry::panics::count(),
            ),
        ] {
            let counter = ConstCounter::new(value);
            counter.encode(encoder.encode_descriptor(name, help, None, counter.metric_type())?)?;
        }
        Ok(())
    }
}

fn gauge(
    value: i64,
    family: &mut prometheus_client::encoding::MetricEncoder,
    labels: &[(&str, &str)],
) -> Result<(), std::fmt::Error> {
    ConstGauge::new(value).encode(family.encode_family(&labels)?)
}

fn count_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// recipient, origin, kind, topic; `_other` for the overflow flow.
fn flow_labels(flow: &FlowSnapshot) -> [(&'static str, &str); 4] {
    match &flow.labels {
        Some(labels) => [
            ("recipient", labels.recipient.as_str()),
            ("origin", labels.origin.as_str()),
            ("kind", labels.kind.token()),
            ("topic", labels.topic.as_str()),
        ],
        None => [
            ("recipient", OVERFLOW_SUBJECT),
            ("origin", OVERFLOW_SUBJECT),
            ("kind", OVERFLOW_SUBJECT),
            ("topic", OVERFLOW_SUBJECT),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partys_scrape_sees_the_series_that_name_it_and_a_full_scrape_all() {
        let cbp = PartyId::parse("cbp").unwrap();
        assert!(visible(None, &["ia", "fbi"]));
        assert!(visible(None, &[]), "a full scrape sees gateway-wide series");
        assert!(visible(Some(&cbp), &["ia", "cbp"]), "as origin");
        assert!(visible(Some(&cbp), &["cbp", "ia"]), "as recipient");
        assert!(!visible(Some(&cbp), &["ia", "fbi"]));
        assert!(!visible(Some(&cbp), &[OVERFLOW_SUBJECT, OVERFLOW_SUBJECT]), "the overflow flow names no party");
        assert!(!visible(Some(&cbp), &[]), "nor does a gateway-wide series");
    }
}
