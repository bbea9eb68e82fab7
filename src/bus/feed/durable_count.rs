//! The cap on durable subscriptions per party (`--max-durables-per-party`), checked before a new durable
//! is created: durables live on the server until they expire, so without it one party could fill the
//! feed stream's consumer limit for everyone.

use async_nats::jetstream;
use futures::StreamExt;

use super::FEED_STREAM;
use crate::bus::BusError;
use crate::model::PartyId;

/// Refuses a new durable for `party` when it already has `max` on the feed stream (counted by name, over
/// every gateway's consumers; two gateways creating at the same instant may each pass).
pub(super) async fn check(jetstream: &jetstream::Context, party: &PartyId, max: usize) -> Result<(), BusError> {
    if max == 0 {
        return Ok(());
    }
    let stream = jetstream.get_stream(FEED_STREAM).await.map_err(|error| BusError::Subscription(error.to_string()))?;
    let mut names = stream.consumer_names();
    let mut count = 0;
    while let Some(name) = names.next().await {
        let name = name.map_err(|error| BusError::Subscription(error.to_string()))?;
        count += usize::from(is_durable_of(&name, party));
    }
    match count >= max {
        true => Err(BusError::DurableLimit { party: party.to_string(), count, max }),
        false => Ok(()),
    }
}

/// True for the name of one of `party`'s durables: `<party>_<durable>`, not an ephemeral `<party>_eph_<id>`
/// (tokens have no `_`, so the party is exactly the part before the first one).
fn is_durable_of(name: &str, party: &PartyId) -> bool {
    match name.split_once('_') {
        Some((owner, rest)) => owner == party.as_str() && !rest.contains('_'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partys_durables_are_counted_by_name_and_its_ephemerals_and_other_parties_are_not() {
        let ia = PartyId::parse("ia").unwrap();
        assert!(is_durable_of("ia_desk", &ia));
        assert!(is_durable_of("ia_eph", &ia), "a durable may be called eph");
        assert!(!is_durable_of("ia_eph_01JDXXXXXXXXXXXXXXXXXXXXXX", &ia), "ephemeral");
        assert!(!is_durable_of("iac_desk", &ia), "another party sharing a prefix");
        assert!(!is_durable_of("cbp_desk", &ia));
        assert!(!is_durable_of("ia", &ia));
    }
}
