//! Unit tests of the feed's consumer configuration.

use super::*;

fn spec(ack_wait: Duration) -> FeedSpec {
    FeedSpec {
        recipient: PartyId::parse("ia").unwrap(),
        durable: None,
        origins: Vec::new(),
        kinds: Vec::new(),
        topics: Vec::new(),
        start: Start::New,
        max_ack_pending: 10,
        ack_wait,
        retry: None,
        durable_expiry: Duration::from_secs(30 * 86_400),
        max_durables: 0,
        prefetch_messages: 10,
        prefetch_bytes: 1 << 20,
    }
}

#[test]
fn an_ephemeral_consumer_outlives_its_last_pull_by_the_ack_deadline_and_a_minute() {
    let subjects = || vec!["liaison.feed.ia.>".to_string()];
    for deadline in [Duration::from_secs(1), Duration::from_secs(300), Duration::from_secs(600)] {
        let config = consumer_config(&spec(deadline), "ia_eph_x", true, subjects());
        assert_eq!(config.inactive_threshold, deadline + Duration::from_secs(60));
        assert_eq!(config.durable_name, None);
    }
    let durable = consumer_config(&spec(Duration::from_secs(300)), "ia_d", false, subjects());
    assert_eq!(durable.inactive_threshold, Duration::from_secs(30 * 86_400));
    assert_eq!(durable.durable_name.as_deref(), Some("ia_d"));
}
