//! Per-credential abuse limits: a publish rate (token bucket, governor) and a cap on concurrent
//! subscriptions. A credential is a token's (party, subject). Over a limit -> RESOURCE_EXHAUSTED.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;
use governor::{DefaultKeyedRateLimiter, Quota};

use super::GatewayError;
use crate::identity::Caller;

/// The limits in force and the state that enforces them.
pub struct Quotas {
    /// `None` when publishing is unlimited.
    publish: Option<DefaultKeyedRateLimiter<String>>,
    publish_rate: u32,
    /// Publishes checked; every `PRUNE_EVERY`th prunes the limiter of credentials with a full allowance.
    publish_checks: AtomicU64,
    max_subscriptions: usize,
    /// Open subscriptions per credential.
    subscriptions: DashMap<String, usize>,
}

/// How many publish checks pass between two prunes of the rate limiter's per-credential state.
const PRUNE_EVERY: u64 = 4096;

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
        Quotas {
            publish,
            publish_rate,
            publish_checks: AtomicU64::new(0),
            max_subscriptions,
            subscriptions: DashMap::new(),
        }
    }

    /// Takes one publish from the caller's allowance.
    pub fn check_publish(&self, caller: &Caller) -> Result<(), GatewayError> {
        let Some(limiter) = &self.publish else { return Ok(()) };
        if self.publish_checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            self.prune();
        }
        limiter.check_key(&credential(caller)).map_err(|_| {
            GatewayError::TooLarge(format!(
                "publish rate: {} may publish at most {} messages per second",
                credential(caller),
                self.publish_rate
            ))
        })
    }

    /// Forgets the rate state of credentials whose allowance is full again (it is what a new key gets), so
    /// the limiter holds only recently active credentials rather than every one ever seen.
    fn prune(&self) {
        if let Some(limiter) = &self.publish {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// Credentials whose publish rate state is held.
    #[cfg(test)]
    fn rate_states(&self) -> usize {
        self.publish.as_ref().map_or(0, |limiter| limiter.len())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Role;

    fn caller(subject: &str) -> Caller {
        let party = crate::model::Token::parse("cbp").unwrap();
        let subject = subject.into();
        Caller { party, role: Role::AgencySystem, subject, clearance: None, nationality: None, law_enforcement: None }
    }

    #[test]
    fn rate_state_of_idle_credentials_is_pruned_and_active_ones_keep_their_limit() {
        let quotas = Quotas::new(5, 0);
        for n in 0..100 {
            quotas.check_publish(&caller(&format!("system-{n}"))).unwrap();
        }
        assert_eq!(quotas.rate_states(), 100);
        // At 5 per second one used cell is back after 200 ms.
        std::thread::sleep(std::time::Duration::from_millis(500));
        quotas.prune();
        assert_eq!(quotas.rate_states(), 0, "idle credentials are forgotten");

        // A credential that has spent its allowance is kept, and still refused.
        let busy = caller("busy");
        let refused = (0..10).filter(|_| quotas.check_publish(&busy).is_err()).count();
        assert!(refused >= 4, "the limit held: {refused} refused");
        quotas.prune();
        assert_eq!(quotas.rate_states(), 1);
        assert!(quotas.check_publish(&busy).is_err(), "pruning does not reset a spent allowance");
    }

    #[test]
    fn publishing_prunes_the_rate_state_as_it_goes() {
        let quotas = Quotas::new(5, 0);
        for n in 0..100 {
            quotas.check_publish(&caller(&format!("system-{n}"))).unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
        let busy = caller("busy");
        for _ in 0..PRUNE_EVERY {
            let _ = quotas.check_publish(&busy);
        }
        assert_eq!(quotas.rate_states(), 1, "only the active credential is left");
    }
}
