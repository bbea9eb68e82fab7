//! Moving a durable subscription ([`Bus::seek`]): JetStream cannot move a consumer in place, so it is
//! deleted and recreated at the new position with the same settings; if the new one cannot be created the
//! old one is put back where it stood, so a failed seek never loses a subscription or its position.

use async_nats::jetstream::consumer::{self, DeliverPolicy};

use super::{FEED_STREAM, deliver_policy, is_not_found, lane_consumer};
use crate::bus::{Bus, BusError, Start};
use crate::model::{PartyId, Precedence, Token};

// === impl Bus ===

impl Bus {
    /// Moves an existing durable subscription to `start`: each lane's consumer is recreated with the same
    /// settings at the new position. Returns the subscription's name and the messages now pending in all
    /// its lanes. A lane that cannot be moved is put back where it stood and the seek fails, naming it
    /// (lanes moved before it stay moved).
    pub async fn seek(&self, recipient: &PartyId, durable: &Token, start: Start) -> Result<(String, u64), BusError> {
        let name = format!("{recipient}_{durable}");
        let mut pending = 0;
        for lane in Precedence::LANES {
            let consumer = lane_consumer(&name, lane);
            match self.move_consumer(&consumer, start).await {
                Ok(moved) => pending += moved,
                // A durable made before lanes existed has only its routine lane until it is opened again.
                Err(BusError::NotFound(_)) if lane != Precedence::Routine => {}
                Err(error) => return Err(error),
            }
        }
        tracing::info!(consumer = %name, ?start, pending, "durable subscription moved");
        Ok((name, pending))
    }

    /// Moves one consumer to `start`; returns the messages now pending on it.
    async fn move_consumer(&self, name: &str, start: Start) -> Result<u64, BusError> {
        let existing = match self.jetstream.get_consumer_from_stream::<consumer::Config, _, _>(name, FEED_STREAM).await
        {
            Ok(existing) => existing,
            Err(error) if is_not_found(&error) => return Err(BusError::NotFound(name.to_string())),
            Err(error) => return Err(BusError::Subscription(error.to_string())),
        };
        let info = existing.cached_info();
        let restore = restored_config(&info.config, info.ack_floor.stream_sequence);
        let mut config = info.config.clone();
        config.deliver_policy = deliver_policy(start);
        self.jetstream
            .delete_consumer_from_stream(name, FEED_STREAM)
            .await
            .map_err(|error| BusError::Subscription(error.to_string()))?;
        match self.jetstream.create_consumer_on_stream(config, FEED_STREAM).await {
            // Counted at creation, before any re-attached feed can pull from it.
            Ok(created) => Ok(created.cached_info().num_pending),
            Err(error) => Err(self.restore_durable(name, restore, error.to_string()).await),
        }
    }

    /// After a seek deleted a durable and could not create it at the new position: puts it back where it
    /// was. Returns the error the seek answers with.
    async fn restore_durable(&self, name: &str, restore: consumer::Config, why: String) -> BusError {
        match self.jetstream.create_consumer_on_stream(restore, FEED_STREAM).await {
            Ok(_) => {
                tracing::warn!(consumer = name, error = why, "seek failed; durable restored at its position");
                BusError::Subscription(format!("seek failed ({why}); {name} is unchanged"))
            }
            Err(error) => {
                tracing::error!(consumer = name, seek_error = why, %error, "seek failed and the durable was not restored");
                BusError::Subscription(format!("seek failed ({why}) and {name} could not be restored: {error}"))
            }
        }
    }
}

/// The configuration that recreates a durable where it stood: after its acknowledged floor. Messages it had
/// handed out but not yet had acknowledged are delivered again, as after any redelivery.
fn restored_config(current: &consumer::Config, ack_floor: u64) -> consumer::Config {
    let mut config = current.clone();
    config.deliver_policy = DeliverPolicy::ByStartSequence { start_sequence: ack_floor.saturating_add(1) };
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restored_durable_starts_after_its_acknowledged_floor_with_its_settings() {
        let current = consumer::Config {
            durable_name: Some("ia_desk".into()),
            deliver_policy: DeliverPolicy::ByStartTime { start_time: time::OffsetDateTime::UNIX_EPOCH },
            max_deliver: 7,
            filter_subjects: vec!["liaison.feed.ia.>".into()],
            ..Default::default()
        };
        let restored = restored_config(&current, 41);
        assert_eq!(restored.deliver_policy, DeliverPolicy::ByStartSequence { start_sequence: 42 });
        assert_eq!((restored.durable_name, restored.max_deliver), (current.durable_name.clone(), 7));
        assert_eq!(restored.filter_subjects, current.filter_subjects);
        let fresh = restored_config(&current, 0);
        assert_eq!(fresh.deliver_policy, DeliverPolicy::ByStartSequence { start_sequence: 1 }, "nothing acked yet");
        let last = restored_config(&current, u64::MAX);
        assert_eq!(last.deliver_policy, DeliverPolicy::ByStartSequence { start_sequence: u64::MAX });
    }
}
