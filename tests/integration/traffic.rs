//! Operators see traffic: counters exact under concurrent publishing, `/metrics` that a Prometheus
//! text-format parser reads with the same figures, `/healthz` and `/readyz`, and a WatchTraffic stream with
//! rates, active subscriptions and lag that never carries content (checked on the encoded stream).

use crate::common;

use std::time::Duration;

use common::*;
use liaison::api as pb;
use liaison::identity::Role;
use prost::Message;
use tonic::Code;

const MARKER: &str = "okapi-41d9-content-marker";
const SUBJECT: &str = "liaison.feed.ia.cbp.report.border-security";

async fn operator(gateway: &TestGateway, role: Role) -> Operator {
    gateway.operator("ia", role).await
}

/// A report from cbp to ia whose body, title and attributes carry the marker.
fn marked(recipients: &[&str]) -> pb::Envelope {
    let mut envelope = envelope(recipients, "border-security", MARKER.as_bytes());
    envelope.title = MARKER.into();
    envelope.attributes.insert(MARKER.into(), MARKER.into());
    envelope
}

/// The value of `name` with exactly these labels in a parsed scrape.
fn sample(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|sample| {
            sample.metric == name && labels.iter().all(|(key, value)| sample.labels.get(key) == Some(*value))
        })
        .map(|sample| match sample.value {
            prometheus_parse::Value::Counter(value)
            | prometheus_parse::Value::Gauge(value)
            | prometheus_parse::Value::Untyped(value) => value,
            _ => f64::NAN,
        })
}

#[tokio::test]
async fn counters_are_exact_under_concurrent_publishing_and_metrics_agree() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start_with(Some(nats.url()), |config| config.limits.publish_rate = 0).await;
    const TASKS: usize = 16;
    const EACH: usize = 25;
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
        tasks.push(tokio::spawn(async move {
            for _ in 0..EACH {
                // ia receives it; "nobody" is not in the directory and is denied.
                publish(&mut cbp, marked(&["ia", "nobody"])).await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let total = (TASKS * EACH) as u64;
    let mut operator = operator(&gateway, Role::Operator).await;
    let subjects = operator.list_subjects(pb::ListSubjectsRequest::default()).await.unwrap().into_inner().subjects;
    let ia = subjects.iter().find(|subject| subject.subject == SUBJECT).expect("the ia subject is listed");
    assert_eq!((ia.recipient.as_str(), ia.origin.as_str(), ia.topic.as_str()), ("ia", "cbp", "border-security"));
    assert_eq!(ia.kind, pb::Kind::Report as i32);
    let totals = ia.totals.as_ref().unwrap();
    assert_eq!(totals.published_messages, total, "every stored copy counted once");
    assert!(totals.published_bytes > total * MARKER.len() as u64);
    // A party not in the directory gets no flow; its denials are counted per origin.
    assert!(!subjects.iter().any(|subject| subject.recipient == "nobody"), "{subjects:?}");
    let counts = operator.list_denial_counts(pb::ListDenialCountsRequest {}).await.unwrap().into_inner();
    assert_eq!(counts.counts, [pb::DenialCount { reason: pb::DenialReason::UnknownParty as i32, count: total }]);

    let (status, body) = scrape(&gateway).await;
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains(MARKER), "metrics carry no content");
    let scrape = prometheus_parse::Scrape::parse(body.lines().map(|line| Ok(line.to_string()))).expect("parses");
    let flow = [("recipient", "ia"), ("origin", "cbp"), ("kind", "report"), ("topic", "border-security")];
    assert_eq!(sample(&scrape, "liaison_published_messages_total", &flow), Some(total as f64), "{body}");
    let unknown = [("origin", "cbp")];
    assert_eq!(sample(&scrape, "liaison_unknown_recipients_total", &unknown), Some(total as f64), "{body}");
    assert!(!body.contains("recipient=\"nobody\""), "{body}");
    assert_eq!(sample(&scrape, "liaison_traffic_flows", &[]), Some(1.0), "{body}");
    assert_eq!(sample(&scrape, "liaison_unauthenticated_requests_total", &[]), Some(0.0), "{body}");
    // Exported; its count is the process's, which other tests of this binary share (a failing test's panic
    // counts too), so only its presence is checked here and the counting in `telemetry::panics`.
    assert!(sample(&scrape, "liaison_panics_total", &[]).is_some(), "{body}");
    let types: Vec<&str> = scrape.docs.keys().map(String::as_str).collect();
    assert!(types.contains(&"liaison_published_messages"), "HELP lines present: {types:?}");
}

#[tokio::test]
async fn watch_traffic_streams_rates_subscriptions_and_lag_without_content() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    let mut analyst = gateway.client("ia", Role::Analyst).await;
    // A subscriber that takes deliveries and never acks: it shows as active, with messages ack-pending.
    let open = pb::OpenSubscription { durable_name: "desk".into(), start: from_beginning(), ..Default::default() };
    let mut subscription = subscribe(&mut analyst, open).await.unwrap();
    for _ in 0..5 {
        publish(&mut cbp, marked(&["ia"])).await;
    }
    subscription.take(5, Duration::from_secs(10)).await;

    let mut operator = operator(&gateway, Role::Operator).await;
    let request = pb::WatchTrafficRequest { interval_ms: 200, party: "ia".into() };
    let mut stream = operator.watch_traffic(request).await.unwrap().into_inner();
    let mut encoded = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let last = loop {
        let snapshot = tokio::time::timeout(Duration::from_secs(5), stream.message()).await.unwrap().unwrap().unwrap();
        encoded.extend(snapshot.encode_to_vec());
        // Lag is read from JetStream every few seconds: wait for it.
        if snapshot.lag.iter().any(|lag| lag.subscription_id == "ia_desk" && lag.ack_pending == 5) {
            break snapshot;
        }
        assert!(tokio::time::Instant::now() < deadline, "no lag for ia_desk in time: {snapshot:?}");
    };
    let subject = last.subjects.iter().find(|subject| subject.subject == SUBJECT).expect("subject in snapshot");
    let totals = subject.totals.as_ref().unwrap();
    assert_eq!((totals.published_messages, totals.delivered_messages), (5, 5));
    assert!(last.interval_seconds > 0.1 && last.interval_seconds < 5.0, "{}", last.interval_seconds);
    assert_eq!(last.active_subscriptions, [pb::ActiveSubscriptions { party: "ia".into(), count: 1 }]);
    assert_eq!(last.totals.as_ref().unwrap().published_messages, 5);

    // Publishing while watching shows up as a rate.
    for _ in 0..3 {
        publish(&mut cbp, marked(&["ia"])).await;
    }
    let mut saw_rate = false;
    for _ in 0..10 {
        let snapshot = stream.message().await.unwrap().unwrap();
        encoded.extend(snapshot.encode_to_vec());
        let rates = snapshot.subjects.iter().find(|subject| subject.subject == SUBJECT).and_then(|s| s.rates);
        if rates.is_some_and(|rates| rates.published_messages > 0.0) {
            saw_rate = true;
            break;
        }
    }
    assert!(saw_rate, "a publish rate appeared");
    assert!(!String::from_utf8_lossy(&encoded).contains(MARKER), "WatchTraffic carried content");
    assert!(String::from_utf8_lossy(&encoded).contains(SUBJECT), "the check above looks at real snapshots");

    // Another party's filter shows none of ia's traffic; analysts may not watch at all.
    let other = pb::WatchTrafficRequest { interval_ms: 100, party: "tsa".into() };
    let snapshot = operator.watch_traffic(other).await.unwrap().into_inner().message().await.unwrap().unwrap();
    assert!(snapshot.subjects.is_empty() && snapshot.active_subscriptions.is_empty(), "{snapshot:?}");
    let mut as_analyst = self::operator(&gateway, Role::Analyst).await;
    let refused = as_analyst.watch_traffic(pb::WatchTrafficRequest::default()).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let bad = pb::WatchTrafficRequest { interval_ms: 5, party: String::new() };
    let refused = operator.watch_traffic(bad).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(refused.message().contains("interval_ms"), "{}", refused.message());
}

#[tokio::test]
async fn health_and_readiness_follow_the_nats_connection() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    assert_eq!(http_get(&gateway, "/healthz").await.0, 200);
    assert_eq!(http_get(&gateway, "/readyz").await.0, 200);
    assert_eq!(http_get(&gateway, "/nothing").await.0, 404);
    drop(nats);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (status, body) = http_get(&gateway, "/readyz").await;
        if status == 503 {
            assert!(body.contains("not ready"), "{body}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "still ready with NATS gone");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(http_get(&gateway, "/healthz").await.0, 200, "alive even when not ready");
}
