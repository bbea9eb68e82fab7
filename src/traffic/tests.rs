//! Traffic accounting: exact under concurrency, bounded, metadata only.

use super::*;

fn labels(topic: &str) -> FlowLabels {
    FlowLabels {
        recipient: PartyId::parse("ia").unwrap(),
        origin: PartyId::parse("cbp").unwrap(),
        kind: Kind::Report,
        topic: Topic::parse(topic).unwrap(),
    }
}

#[test]
fn denial_reason_indexes_match_all() {
    for (index, reason) in DenialReason::ALL.into_iter().enumerate() {
        assert_eq!(reason.index(), index, "{reason:?}");
    }
}

#[test]
fn counters_are_exact_under_concurrent_recording() {
    let traffic = Arc::new(Traffic::default());
    const THREADS: usize = 8;
    const EACH: u64 = 20_000;
    let threads: Vec<_> = (0..THREADS)
        .map(|thread| {
            let traffic = traffic.clone();
            std::thread::spawn(move || {
                for index in 0..EACH {
                    // Two subjects, both created concurrently by every thread.
                    let topic = if index % 2 == 0 { "even" } else { "odd" };
                    let flow = traffic.flow(&format!("liaison.feed.ia.cbp.report.{topic}"), || Some(labels(topic)));
                    flow.published(100);
                    flow.delivered(10, if thread == 0 { 2 } else { 1 });
                    flow.denied(DenialReason::Tlp);
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|thread| thread.join().unwrap());
    let snapshot = traffic.snapshot();
    assert_eq!(snapshot.len(), 2);
    for flow in &snapshot {
        let counts = flow.counts;
        let per_subject = THREADS as u64 * EACH / 2;
        assert_eq!(counts.published, per_subject, "{}", flow.subject);
        assert_eq!(counts.published_bytes, per_subject * 100);
        assert_eq!(counts.delivered, per_subject);
        assert_eq!(counts.delivered_bytes, per_subject * 10);
        assert_eq!(counts.redelivered, EACH / 2, "only thread 0 redelivered");
        assert_eq!(counts.denied[DenialReason::Tlp.index()], per_subject);
        assert_eq!(counts.denied_total(), per_subject);
    }
    assert_eq!(snapshot[0].labels.as_ref().unwrap().topic.as_str(), "even");
}

#[test]
fn flows_beyond_the_bound_are_counted_on_the_overflow_flow() {
    let traffic = Traffic::new(2);
    for topic in ["a", "b", "c", "d"] {
        traffic.flow(&format!("liaison.feed.ia.cbp.report.{topic}"), || Some(labels(topic))).published(1);
    }
    // An existing flow keeps counting on its own entry.
    traffic.flow("liaison.feed.ia.cbp.report.a", || Some(labels("a"))).published(1);
    let snapshot = traffic.snapshot();
    let subjects: Vec<&str> = snapshot.iter().map(|flow| &*flow.subject).collect();
    assert_eq!(subjects, ["liaison.feed.ia.cbp.report.a", "liaison.feed.ia.cbp.report.b", OVERFLOW_SUBJECT]);
    assert_eq!(snapshot[0].counts.published, 2);
    assert_eq!(snapshot[2].counts.published, 2, "c and d");
    assert!(snapshot[2].labels.is_none());
}

#[test]
fn active_subscriptions_count_until_dropped() {
    let traffic = Arc::new(Traffic::default());
    let ia = PartyId::parse("ia").unwrap();
    let first = traffic.subscription_opened(&ia);
    let second = traffic.subscription_opened(&ia);
    assert_eq!(traffic.active_subscriptions(), [(ia.clone(), 2)]);
    drop(first);
    assert_eq!(traffic.active_subscriptions(), [(ia.clone(), 1)]);
    drop(second);
    assert!(traffic.active_subscriptions().is_empty());
}

#[test]
fn unknown_recipients_are_counted_per_origin_without_a_flow() {
    let traffic = Traffic::default();
    let (cbp, tsa) = (PartyId::parse("cbp").unwrap(), PartyId::parse("tsa").unwrap());
    for _ in 0..3 {
        traffic.unknown_recipient(&cbp);
    }
    traffic.unknown_recipient(&tsa);
    assert_eq!(traffic.unknown_recipients(), [(cbp, 3), (tsa, 1)]);
    assert_eq!(traffic.flow_count(), 0);
    assert!(traffic.snapshot().is_empty());
}
