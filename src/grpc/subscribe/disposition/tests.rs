//! Every branch of the delivery decision, and the order in which they apply.

use super::*;
use crate::bus::Retry;

fn window(max_attempts: u32) -> Window {
    Window {
        max_messages: 100,
        max_bytes: 1 << 20,
        ack_deadline: Duration::from_secs(30),
        max_attempts,
        retry: None,
        confirm_acks: false,
    }
}

/// A readable, unexpired first delivery that the person may see.
fn fresh() -> Arrival<'static> {
    Arrival { readable: true, attempt: 1, ..Arrival::default() }
}

const NOFORN: &str = "NOFORN: gbr-officer is a GBR national, not USA";

#[test]
fn a_readable_unexpired_message_the_person_may_see_is_delivered() {
    for audience in [Audience::Shared, Audience::Own] {
        assert_eq!(disposition(&fresh(), &window(10), audience), Disposition::Deliver);
        let last = Arrival { attempt: 10, ..fresh() };
        assert_eq!(disposition(&last, &window(10), audience), Disposition::Deliver);
    }
}

#[test]
fn acknowledged_copies_and_redrives_for_another_subscription_are_skipped_with_an_ack() {
    let skip = Disposition::Skip { settle: Settle::Ack };
    let acknowledged = Arrival { acknowledged: true, ..fresh() };
    let redrive = Arrival { redrive_for_other: true, ..fresh() };
    for arrival in [acknowledged, redrive] {
        assert_eq!(disposition(&arrival, &window(10), Audience::Shared), skip);
        // Before anything else: even unreadable, expired, withheld or past its attempts.
        let everything = Arrival { readable: false, expired: true, attempt: 99, withheld: Some(NOFORN), ..arrival };
        assert_eq!(disposition(&everything, &window(10), Audience::Own), skip);
    }
}

#[test]
fn an_unreadable_payload_is_discarded_before_any_other_check() {
    let unreadable = Arrival { readable: false, expired: true, attempt: 99, ..fresh() };
    assert_eq!(disposition(&unreadable, &window(10), Audience::Shared), Disposition::Discard);
}

#[test]
fn an_expired_message_expires_even_past_its_attempts_or_withheld() {
    let expired = Arrival { expired: true, attempt: 11, withheld: Some(NOFORN), ..fresh() };
    for audience in [Audience::Shared, Audience::Own] {
        assert_eq!(disposition(&expired, &window(10), audience), Disposition::Expire);
    }
}

#[test]
fn past_the_last_attempt_a_message_is_dead_lettered_naming_the_attempts() {
    let late = Arrival { attempt: 11, ..fresh() };
    let expected = Disposition::DeadLetter {
        attempts: 10,
        reason: "10 delivery attempts made, none acknowledged".into(),
        withheld: None,
    };
    assert_eq!(disposition(&late, &window(10), Audience::Own), expected);
    // Left unacknowledged by whoever had it last: the reason is the attempts, even if withheld here.
    let withheld = Arrival { withheld: Some(NOFORN), ..late };
    assert_eq!(disposition(&withheld, &window(10), Audience::Shared), expected);
}

#[test]
fn withheld_on_an_ephemeral_subscription_is_final() {
    for attempt in [1, 5, 10] {
        let arrival = Arrival { attempt, withheld: Some(NOFORN), ..fresh() };
        let expected = Disposition::Withhold { why: NOFORN.into(), settle: Settle::Reject };
        assert_eq!(disposition(&arrival, &window(10), Audience::Own), expected);
    }
}

#[test]
fn withheld_on_a_durable_is_handed_back_spaced_out_for_an_eligible_member() {
    let delay = |attempt| {
        let arrival = Arrival { attempt, withheld: Some(NOFORN), ..fresh() };
        match disposition(&arrival, &window(20), Audience::Shared) {
            Disposition::Withhold { why, settle: Settle::Nack(Some(delay)) } => {
                assert_eq!(why, NOFORN);
                delay
            }
            other => panic!("attempt {attempt}: {other:?}"),
        }
    };
    assert_eq!(delay(1), Duration::from_millis(250));
    assert_eq!(delay(2), Duration::from_millis(500));
    assert_eq!(delay(4), Duration::from_secs(2));
    // Capped at the ack deadline.
    assert_eq!(delay(8), Duration::from_secs(30));
    assert_eq!(delay(19), Duration::from_secs(30));
}

#[test]
fn withheld_hand_backs_follow_the_subscriptions_retry_policy_when_it_has_one() {
    let retry = Retry { minimum: Duration::from_millis(100), maximum: Duration::from_secs(1) };
    let window = Window { retry: Some(retry), ..window(10) };
    for (attempt, expected) in [(1, 100), (2, 200), (5, 1000)] {
        let arrival = Arrival { attempt, withheld: Some(NOFORN), ..fresh() };
        let settle = Settle::Nack(Some(Duration::from_millis(expected)));
        assert_eq!(
            disposition(&arrival, &window, Audience::Shared),
            Disposition::Withhold { why: NOFORN.into(), settle }
        );
    }
}

#[test]
fn withheld_at_the_last_attempt_on_a_durable_is_dead_lettered_as_withheld() {
    let arrival = Arrival { attempt: 3, withheld: Some(NOFORN), ..fresh() };
    let Disposition::DeadLetter { attempts, reason, withheld } = disposition(&arrival, &window(3), Audience::Shared)
    else {
        panic!("dead-lettered");
    };
    assert_eq!(attempts, 3);
    assert!(reason.starts_with("withheld from every session that received it"), "{reason}");
    assert!(reason.contains(NOFORN), "{reason}");
    assert_eq!(withheld.as_deref(), Some(NOFORN));
    // A subscription allowing one attempt dead-letters a withheld message at once.
    let first = Arrival { withheld: Some(NOFORN), ..fresh() };
    assert!(matches!(disposition(&first, &window(1), Audience::Shared), Disposition::DeadLetter { attempts: 1, .. }));
}
