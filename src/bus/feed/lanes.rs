//! A feed's lanes on the server: the consumer of each lane, named after the feed, and the way back from a
//! consumer's name to its feed (for consumer lag, which counts a feed's lanes as one).

use async_nats::jetstream;

use super::FEED_STREAM;
use crate::model::Precedence;

/// The consumer of one lane of the feed `name`: the feed's own name for the routine lane (the consumer
/// every feed had before lanes existed), `<name>_<lane>` for the others.
pub(super) fn lane_consumer(name: &str, lane: Precedence) -> String {
    match lane {
        Precedence::Routine => name.to_string(),
        lane => format!("{name}_{}", lane.name()),
    }
}

/// The feed a consumer reads a lane of: `<feed>_<lane>` names the lane of a feed named with at least one
/// `_` (`<party>_<durable>`, `<party>_eph_<id>`); anything else is a feed's routine lane, named as the feed.
pub(crate) fn feed_of_consumer(consumer: &str) -> &str {
    match consumer.rsplit_once('_') {
        Some((feed, lane))
            if feed.contains('_') && Precedence::from_name(lane).is_some_and(|lane| lane != Precedence::Routine) =>
        {
            feed
        }
        _ => consumer,
    }
}

/// Consumer deletes in flight at once in this process. When thousands of subscriptions end together (a
/// fleet of clients disconnecting), their deletes wait here rather than going out as tens of thousands of
/// JetStream API requests at once: each one in flight held about 1.3 KiB (2,000 ephemeral subscriptions
/// closing together took 12 MiB, `benches/heap.sh`), and nats-server drops API requests past its queue.
const MAX_DELETES_IN_FLIGHT: usize = 64;
static DELETES: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(MAX_DELETES_IN_FLIGHT);

/// Deletes ephemeral consumers one after another, each once one of [`MAX_DELETES_IN_FLIGHT`] is free; one
/// already gone is no error. One after another, not joined: a joined set of deletes holds every request's
/// state at once (about 1.2 KiB each) for as long as the slowest.
pub(super) async fn delete_consumers(jetstream: &jetstream::Context, consumers: &[String]) {
    for consumer in consumers {
        // Never closed, so a permit always comes.
        let _permit = DELETES.acquire().await;
        if let Err(error) = jetstream.delete_consumer_from_stream(consumer, FEED_STREAM).await {
            tracing::debug!(%consumer, %error, "could not delete ephemeral consumer");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_feeds_lane_consumers_are_named_after_it_and_lead_back_to_it() {
        for feed in ["ia_desk", "ia_eph_01JDXXXXXXXXXXXXXXXXXXXXXX", "ia_flash", "ia_eph"] {
            for lane in Precedence::LANES {
                let consumer = lane_consumer(feed, lane);
                assert_eq!(feed_of_consumer(&consumer), feed, "{consumer}");
            }
        }
        assert_eq!(lane_consumer("ia_desk", Precedence::Routine), "ia_desk", "the routine lane keeps the name");
        assert_eq!(lane_consumer("ia_desk", Precedence::Flash), "ia_desk_flash");
    }
}
