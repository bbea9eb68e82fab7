//! The ack ids of one Acknowledge, NegativeAcknowledge or ExtendDeadline, and the wait a nack may ask for:
//! pure checks, applied by the session.
//!
//! An ack id is the delivery's stream sequence in decimal. A request may name at most `--max-ack-ids` of
//! them (more is refused, naming the flag); each is acted on once however often it is repeated, and ids
//! that are not sequences are ignored like unknown or expired ones.

use std::collections::HashSet;
use std::time::Duration;

use crate::bus::Retry;
use crate::grpc::GatewayError;

/// The distinct sequences among `ids`, in the order first named.
pub fn sequences(field: &str, ids: &[String], max: usize) -> Result<Vec<u64>, GatewayError> {
    if ids.len() > max {
        return Err(GatewayError::TooLarge(format!(
            "{field}: {} ack ids in one request; at most {max} (--max-ack-ids)",
            ids.len()
        )));
    }
    let mut seen = HashSet::with_capacity(ids.len());
    Ok(ids.iter().filter_map(|id| id.parse::<u64>().ok()).filter(|sequence| seen.insert(*sequence)).collect())
}

/// The wait before a nacked delivery comes back: what the client asked, or the retry policy's backoff
/// for this attempt, never longer than the policy's maximum backoff (without a policy, the longest any
/// policy may have). The last attempt comes back at once, to be dead-lettered without waiting.
pub fn nack_delay(
    requested: Option<Duration>,
    retry: Option<Retry>,
    attempt: u32,
    max_attempts: u32,
    longest: Duration,
) -> Option<Duration> {
    if attempt >= max_attempts {
        return None;
    }
    let ceiling = retry.map_or(longest, |retry| retry.maximum);
    requested.or_else(|| retry.map(|retry| retry.delay(attempt))).map(|delay| delay.min(ceiling))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(values: &[&str]) -> Vec<String> {
        values.iter().map(|value| value.to_string()).collect()
    }

    #[test]
    fn ack_ids_are_acted_on_once_each_in_order_and_not_numbers_are_ignored() {
        let given = ids(&["7", "3", "7", "x", "3", "", "-1", "18446744073709551615", "007"]);
        assert_eq!(sequences("ack.ack_ids", &given, 100).unwrap(), vec![7, 3, u64::MAX]);
    }

    #[test]
    fn more_ack_ids_than_the_cap_are_refused_naming_the_flag() {
        let given: Vec<String> = (0..11).map(|n| n.to_string()).collect();
        assert_eq!(sequences("nack.ack_ids", &given[..10], 10).unwrap().len(), 10);
        let Err(GatewayError::TooLarge(message)) = sequences("nack.ack_ids", &given, 10) else {
            panic!("not refused as too large");
        };
        assert_eq!(message, "nack.ack_ids: 11 ack ids in one request; at most 10 (--max-ack-ids)");
    }

    #[test]
    fn a_nack_never_waits_longer_than_the_maximum_backoff() {
        let hour = Duration::from_secs(3600);
        let retry = Retry { minimum: Duration::from_secs(1), maximum: Duration::from_secs(60) };
        let week = Some(Duration::from_secs(7 * 24 * 3600));
        assert_eq!(nack_delay(week, Some(retry), 1, 5, hour), Some(Duration::from_secs(60)), "the policy's maximum");
        assert_eq!(nack_delay(week, None, 1, 5, hour), Some(hour), "without a policy, the longest allowed");
        let short = Some(Duration::from_millis(250));
        assert_eq!(nack_delay(short, Some(retry), 1, 5, hour), short, "a shorter request is kept");
        assert_eq!(nack_delay(None, Some(retry), 3, 5, hour), Some(Duration::from_secs(4)), "the policy's backoff");
        assert_eq!(nack_delay(None, None, 3, 5, hour), None, "no policy, no delay: at once");
        assert_eq!(nack_delay(week, Some(retry), 5, 5, hour), None, "the last attempt comes back at once");
    }
}
