//! Per-credential abuse limits: a publish rate (token bucket, governor) and a cap on concurrent
//! subscriptions. A credential is a token's (party, subject). Over a limit -> RESOURCE_EXHAUSTED.

use std::num::NonZeroU32;
use std::sync::Arc;

use dashmap::DashMap;
use governor::{DefaultKeyedRateLimiter, Quota};

use super::GatewayError;
use crate::identity::Caller;

/// The limits in force and the state that enforces them.
pub struct Quotas {
    /// `None` when publishing is unlimited.
    publish: Option<DefaultKeyedRateLimiter<String>>,
    publish_rate: u32,
    max_subscriptions: usize,
    /// Open subscriptions per credential.
    subscriptions: DashMap<String, usize>,
}

/// One open subscription counted against its credential; released on drop.
pub struct SubscriptionSlot {
    quotas: Arc<Quotas>,
    credential: String,
}

fn credential(caller: &Caller) -> String {
    format!("{}/{}", caller.party, caller.subject)
}

impl Quotas {
    /// `publish_rate` per second (burst of the same size) and `max_subscriptions` per credential; zero
    /// means unlimited.
    pub fn new(publish_rate: u32, max_subscriptions: usize) -> Quotas {
        let publish = NonZeroU32::new(publish_rate).map(|rate| DefaultKeyedRateLimiter::keyed(Quota::per_second(rate)));
        Quotas { publish, publish_rate, max_subscriptions, subscriptions: DashMap::new() }
    }

    /// Takes one publish from the caller's allowance.
    pub fn check_publish(&self, caller: &Caller) -> Result<(), GatewayError> {
        let Some(limiter) = &self.publish else { return Ok(()) };
        limiter.check_key(&credential(caller)).map_err(|_| {
            GatewayError::TooLarge(format!(
                "publish rate: {} may publish at most {} messages per second",
                credential(caller),
                self.publish_rate
            ))
        })
    }

    /// Counts a new subscription of the caller, refusing it past the cap.
    pub fn open_subscription(self: &Arc<Self>, caller: &Caller) -> Result<SubscriptionSlot, GatewayError> {
        let credential = credential(caller);
        let mut open = self.subscriptions.entry(credential.clone()).or_insert(0);
        if self.max_subscriptions != 0 && *open >= self.max_subscriptions {
            return Err(GatewayError::TooLarge(format!(
                "subscriptions: {credential} already has {} open; at most {}",
                *open, self.max_subscriptions
            )));
        }
        *open += 1;
        Ok(SubscriptionSlot { quotas: Arc::clone(self), credential })
    }
}

impl Drop for SubscriptionSlot {
    fn drop(&mut self) {
        self.quotas.subscriptions.remove_if_mut(&self.credential, |_, open| {
            *open -= 1;
            *open == 0
        });
    }
}
