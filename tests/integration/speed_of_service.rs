//! Speed of service: a copy no subscriber acknowledges within its precedence's objective is counted by
//! precedence and recipient, shown to operators, and for FLASH and IMMEDIATE reported to the originator;
//! an acknowledged one is not, and neither is a precedence whose objective is switched off.

use crate::common;

use std::time::Duration;

use common::*;
use liaison::api as pb;
use liaison::identity::Role;
use liaison::speed::Objectives;

const WAIT: Duration = Duration::from_secs(30);

fn message(precedence: pb::Precedence, body: &str) -> pb::Envelope {
    let mut envelope = envelope(&["ia"], "cyber-crime", body.as_bytes());
    envelope.precedence = precedence as i32;
    envelope
}

/// The value of `liaison_speed_of_service_missed_total` for `precedence` and `recipient` (0 if absent).
async fn missed(gateway: &TestGateway, precedence: &str, recipient: &str) -> u64 {
    let (status, body) = scrape(gateway).await;
    assert_eq!(status, 200);
    let labels =
        format!("liaison_speed_of_service_missed_total{{precedence=\"{precedence}\",recipient=\"{recipient}\"}} ");
    body.lines().find_map(|line| line.strip_prefix(&labels)?.trim().parse().ok()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unacknowledged_flash_is_a_miss_reported_to_its_originator_and_an_acknowledged_one_is_not() {
    let nats = NatsServer::start().await;
    let objectives = Objectives::parse("flash=2s,immediate=2s,priority=0,routine=0").unwrap();
    let gateway = TestGateway::start_with(Some(nats.url()), |config| config.limits.speed_of_service = objectives).await;
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    let mut ia = gateway.client("ia", Role::Analyst).await;
    let mut desk = subscribe(&mut ia, pb::OpenSubscription::default()).await.unwrap();

    let handled = publish(&mut cbp, message(pb::Precedence::Flash, "handled")).await;
    let ignored = publish(&mut cbp, message(pb::Precedence::Flash, "ignored")).await;
    let unjudged = publish(&mut cbp, message(pb::Precedence::Priority, "priority, not judged")).await;
    let deliveries = desk.take(3, WAIT).await;
    let acked: Vec<pb::Delivery> = deliveries.iter().filter(|delivery| body(delivery) == "handled").cloned().collect();
    desk.ack(&acked).await;

    // cbp hears about the one nobody acknowledged, and only that one.
    let mut cbp_feed = subscribe(&mut cbp, pb::OpenSubscription::default()).await.unwrap();
    let notices = cbp_feed.take(1, WAIT).await;
    let notice = notices[0].envelope.as_ref().unwrap();
    assert_eq!(notice.kind, pb::Kind::Notice as i32);
    assert_eq!(notice.in_reply_to, ignored.message_id);
    assert_eq!(notice.precedence, pb::Precedence::Immediate as i32);
    assert_eq!(notice.attributes.get("liaison.notice").map(String::as_str), Some("speed-of-service"));
    assert_eq!(notice.attributes.get("liaison.recipient").map(String::as_str), Some("ia"));
    assert!(notice.title.contains("FLASH"), "{}", notice.title);
    assert!(!notice.body.windows(b"ignored".len()).any(|window| window == b"ignored"), "no content in the notice");
    assert_quiet(&mut cbp_feed, Duration::from_secs(5), "one notice, for the unacknowledged FLASH only").await;
    // The notice (IMMEDIATE) went unacknowledged past its objective too: counted, and no notice about it.
    assert_eq!(missed(&gateway, "immediate", "cbp").await, 1);
    cbp_feed.ack(&notices).await;

    assert_eq!(missed(&gateway, "flash", "ia").await, 1);
    assert_eq!(missed(&gateway, "priority", "ia").await, 0, "PRIORITY is not judged here");
    // Operators see it in WatchTraffic: ia's operator its own party's, not another's.
    let mut operator = gateway.operator("ia", Role::Operator).await;
    let request = pb::WatchTrafficRequest { interval_ms: 100, party: "ia".into() };
    let snapshot = operator.watch_traffic(request).await.unwrap().into_inner().message().await.unwrap().unwrap();
    let flash =
        pb::SpeedOfServiceMisses { recipient: "ia".into(), precedence: pb::Precedence::Flash as i32, missed: 1 };
    assert_eq!(snapshot.speed_of_service_missed, [flash], "{snapshot:?}");
    assert!(!handled.message_id.is_empty() && !unjudged.message_id.is_empty());
}

#[tokio::test]
async fn a_flash_for_a_party_with_no_subscriber_is_a_miss_once_across_two_gateways() {
    let nats = NatsServer::start().await;
    let objectives = Objectives::parse("flash=1s").unwrap();
    let first = TestGateway::start_with(Some(nats.url()), |config| config.limits.speed_of_service = objectives).await;
    let second = TestGateway::start_with(Some(nats.url()), |config| config.limits.speed_of_service = objectives).await;
    let mut cbp = first.client("cbp", Role::AgencySystem).await;
    publish(&mut cbp, message(pb::Precedence::Flash, "nobody reads ia")).await;

    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let total = missed(&first, "flash", "ia").await + missed(&second, "flash", "ia").await;
        if total > 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the miss was not counted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Several sweeps later, still one: each copy is judged by one gateway.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(missed(&first, "flash", "ia").await + missed(&second, "flash", "ia").await, 1);
    let mut cbp_feed =
        subscribe(&mut cbp, pb::OpenSubscription { start: from_beginning(), ..Default::default() }).await.unwrap();
    assert_eq!(cbp_feed.take(1, WAIT).await.len(), 1);
    assert_quiet(&mut cbp_feed, Duration::from_secs(2), "one notice").await;
}
