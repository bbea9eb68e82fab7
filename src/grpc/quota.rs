//! Per-credential abuse limits: rates (token buckets, governor) for publishes and for consumer creation,
//! and caps on the long-running calls a credential holds open at once (Subscribe, PublishStream,
//! QueryAudit, WatchTraffic). A credential is a token's (party, subject). Over a limit ->
//! RESOURCE_EXHAUSTED naming the limit and its flag.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;
use governor::{DefaultKeyedRateLimiter, Quota};

use super::GatewayError;
use super::server::Limits;
use crate::identity::Caller;

/// A long-running call a credential may hold only so many of at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Call {
    Subscribe,
    PublishStream,
    QueryAudit,
    WatchTraffic,
}

impl Call {
    const ALL: [Call; 4] = [Call::Subscribe, Call::PublishStream, Call::QueryAudit, Call::WatchTraffic];

    /// What the refusal calls it, and the flag that sets its cap.
    fn names(self) -> (&'static str, &'static str) {
        match self {
            Call::Subscribe => ("subscriptions", "--max-subscriptions"),
            Call::PublishStream => ("publish streams", "--max-publish-streams"),
            Call::QueryAudit => ("audit reads (QueryAudit, ListReviewDue and SimulatePolicy)", "--max-audit-queries"),
            Call::WatchTraffic => ("traffic watches", "--max-traffic-watches"),
        }
    }

    fn cap(self, limits: &Limits) -> usize {
        match self {
            Call::Subscribe => limits.max_subscriptions,
            Call::PublishStream => limits.max_publish_streams,
            Call::QueryAudit => limits.max_audit_queries,
            Call::WatchTraffic => limits.max_traffic_watches,
        }
    }
}

/// The limits in force and the state that enforces them.
pub struct Quotas {
    /// `None` when publishing is unlimited.
    publish: Option<DefaultKeyedRateLimiter<String>>,
    publish_rate: u32,
    /// Consumers created (Subscribe opens, Seeks); `None` when unlimited.
    consumers: Option<DefaultKeyedRateLimiter<String>>,
    consumer_rate: u32,
    /// Rate checks made; every `PRUNE_EVERY`th prunes the limiters of credentials with a full allowance.
    rate_checks: AtomicU64,
    /// The cap per call, indexed by `Call as usize` (`Call::ALL` is in that order); zero is unlimited.
    caps: [usize; 4],
    /// Open calls per credential and kind.
    open: DashMap<(String, Call), usize>,
}

/// How many rate checks pass between two prunes of the rate limiters' per-credential state.
const PRUNE_EVERY: u64 = 4096;

/// One open call counted against its credential; released on drop.
pub struct CallSlot {
    quotas: Arc<Quotas>,
    key: (String, Call),
}

fn credential(caller: &Caller) -> String {
    format!("{}/{}", caller.party, caller.subject)
}

fn limiter(rate: u32) -> Option<DefaultKeyedRateLimiter<String>> {
    NonZeroU32::new(rate).map(|rate| DefaultKeyedRateLimiter::keyed(Quota::per_second(rate)))
}

impl Quotas {
    /// The rates (per second, with a burst of the same size) and caps of `limits`; zero means unlimited.
    pub fn new(limits: &Limits) -> Quotas {
        Quotas {
            publish: limiter(limits.publish_rate),
            publish_rate: limits.publish_rate,
            consumers: limiter(limits.consumer_rate),
            consumer_rate: limits.consumer_rate,
            rate_checks: AtomicU64::new(0),
            caps: Call::ALL.map(|call| call.cap(limits)),
            open: DashMap::new(),
        }
    }

    /// Takes one publish from the caller's allowance.
    pub fn check_publish(&self, caller: &Caller) -> Result<(), GatewayError> {
        let Some(limiter) = &self.publish else { return Ok(()) };
        self.count_check();
        limiter.check_key(&credential(caller)).map_err(|_| {
            GatewayError::TooLarge(format!(
                "publish rate: {} may publish at most {} messages per second (--publish-rate)",
                credential(caller),
                self.publish_rate
            ))
        })
    }

    /// Takes one consumer creation (a Subscribe open or a Seek) from the caller's allowance: each costs
    /// JetStream a consumer create, replicated in a cluster.
    pub fn check_consumer(&self, caller: &Caller) -> Result<(), GatewayError> {
        let Some(limiter) = &self.consumers else { return Ok(()) };
        self.count_check();
        limiter.check_key(&credential(caller)).map_err(|_| {
            GatewayError::TooLarge(format!(
                "consumer rate: {} may open or move at most {} subscriptions per second (--consumer-rate)",
                credential(caller),
                self.consumer_rate
            ))
        })
    }

    fn count_check(&self) {
        if self.rate_checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            self.prune();
        }
    }

    /// Forgets the rate state of credentials whose allowance is full again (it is what a new key gets), so
    /// the limiters hold only recently active credentials rather than every one ever seen.
    fn prune(&self) {
        for limiter in [&self.publish, &self.consumers].into_iter().flatten() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// Credentials whose publish rate state is held.
    #[cfg(test)]
    fn rate_states(&self) -> usize {
        self.publish.as_ref().map_or(0, |limiter| limiter.len())
    }

    /// Counts a new call of the caller, refusing it past its cap.
    pub fn open_call(self: &Arc<Self>, caller: &Caller, call: Call) -> Result<CallSlot, GatewayError> {
        let key = (credential(caller), call);
        let cap = self.caps[call as usize];
        let mut open = self.open.entry(key.clone()).or_insert(0);
        if cap != 0 && *open >= cap {
            let (name, flag) = call.names();
            return Err(GatewayError::TooLarge(format!(
                "{name}: {} already has {} open; at most {cap} ({flag})",
                key.0, *open
            )));
        }
        *open += 1;
        drop(open);
        Ok(CallSlot { quotas: Arc::clone(self), key })
    }
}

impl Drop for CallSlot {
    fn drop(&mut self) {
        self.quotas.open.remove_if_mut(&self.key, |_, open| {
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
        Caller {
            party,
            role: Role::AgencySystem,
            subject,
            clearance: None,
            nationality: None,
            law_enforcement: None,
            accesses: None,
        }
    }

    #[test]
    fn rate_state_of_idle_credentials_is_pruned_and_active_ones_keep_their_limit() {
        let quotas = Quotas::new(&Limits { publish_rate: 5, ..Limits::default() });
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
        let quotas = Quotas::new(&Limits { publish_rate: 5, ..Limits::default() });
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

    #[test]
    fn each_kind_of_call_has_its_own_cap_per_credential_and_a_closed_call_frees_its_slot() {
        let limits =
            Limits { max_publish_streams: 2, max_audit_queries: 1, max_traffic_watches: 0, ..Limits::default() };
        let quotas = Arc::new(Quotas::new(&limits));
        let (alice, bob) = (caller("alice"), caller("bob"));
        let first = quotas.open_call(&alice, Call::PublishStream).unwrap();
        let _second = quotas.open_call(&alice, Call::PublishStream).unwrap();
        let refused = quotas.open_call(&alice, Call::PublishStream).err().expect("a third stream is refused");
        let GatewayError::TooLarge(message) = refused else { panic!("not RESOURCE_EXHAUSTED: {refused:?}") };
        assert_eq!(message, "publish streams: cbp/alice already has 2 open; at most 2 (--max-publish-streams)");
        quotas.open_call(&bob, Call::PublishStream).expect("another credential has its own cap");
        let _query = quotas.open_call(&alice, Call::QueryAudit).expect("another kind of call has its own cap");
        assert!(quotas.open_call(&alice, Call::QueryAudit).is_err());
        let watches: Vec<_> = (0..100).map(|_| quotas.open_call(&alice, Call::WatchTraffic).unwrap()).collect();
        assert_eq!(watches.len(), 100, "zero is unlimited");
        drop(first);
        quotas.open_call(&alice, Call::PublishStream).expect("the closed stream's slot is free again");
        drop(watches);
        assert!(!quotas.open.contains_key(&("cbp/alice".to_string(), Call::WatchTraffic)), "no empty entries kept");
    }

    #[test]
    fn consumer_creation_is_rate_limited_per_credential() {
        let quotas = Quotas::new(&Limits { consumer_rate: 3, ..Limits::default() });
        let busy = caller("busy");
        let allowed = (0..10).filter(|_| quotas.check_consumer(&busy).is_ok()).count();
        assert_eq!(allowed, 3, "a burst of the rate, then refusals");
        let refused = quotas.check_consumer(&busy).expect_err("still refused");
        assert!(format!("{refused:?}").contains("--consumer-rate"), "{refused:?}");
        quotas.check_consumer(&caller("other")).expect("another credential has its own allowance");
        assert!(Quotas::new(&Limits { consumer_rate: 0, ..Limits::default() }).check_consumer(&busy).is_ok());
    }
}
