//! The decision procedure: named recipients, route-by-policy fan-out, and the relay pass.

use std::sync::Arc;

use fixedbitset::FixedBitSet;

use super::directory::Party;
use super::{
    Approval, Denial, DenialReason, Dissemination, Hold, MAX_RECIPIENTS, Outcome, RouteError, Router, Routing, markings,
};
use crate::model::{PartyId, RouteRequest, Tetragraphs, countries};
use markings::Verdict;

/// Outcomes that stand only if their relay party also receives the message: (position, relay party).
type Relays = Vec<(usize, u32)>;

/// No rule chosen yet for a fan-out candidate.
const NONE: u32 = u32::MAX;

impl Router {
    /// Decides every recipient of one message as its originator publishes it: the recipients it names are
    /// its choice (for ORCON).
    pub fn route(&self, request: &RouteRequest) -> Result<Routing, RouteError> {
        self.route_as(request, Dissemination::PUBLISH)
    }

    /// Decides a dissemination that is not the originator's publish (a redrive, a correction reaching
    /// earlier recipients): for ORCON material only the parties in `approved` count as the originator's
    /// choice.
    pub fn route_later(&self, request: &RouteRequest, approved: &[PartyId]) -> Result<Routing, RouteError> {
        self.route_as(request, Dissemination::later(approved))
    }

    fn route_as(&self, request: &RouteRequest, dissemination: Dissemination<'_>) -> Result<Routing, RouteError> {
        let (mut outcomes, relays) = self.decide_all(request, dissemination)?;
        self.settle_relays(request, &mut outcomes, &relays)?;
        Ok(Routing { policy_version: self.version.clone(), outcomes })
    }

    /// Routes a correction: the message's own recipients as [`Router::route`] decides them, then every
    /// earlier recipient of the message it supersedes that is not among them, each decided under the
    /// policy in force now (a party the policy no longer allows is denied, with its reason). Reaching an
    /// earlier recipient is a later dissemination: for ORCON material only those in `approved` (the
    /// originator's approvals for the earlier message) may be reached. Relays are settled over both.
    pub fn route_correction(
        &self,
        request: &RouteRequest,
        earlier: &[PartyId],
        approved: &[PartyId],
    ) -> Result<Routing, RouteError> {
        let (mut outcomes, mut relays) = self.decide_all(request, Dissemination::PUBLISH)?;
        let missing: Vec<PartyId> = earlier
            .iter()
            .filter(|party| **party != request.origin)
            .filter(|party| !outcomes.iter().any(|outcome| outcome.recipient() == *party))
            .cloned()
            .collect();
        if !missing.is_empty() {
            let again = RouteRequest { recipients: missing, ..request.clone() };
            let (more, more_relays) = self.decide_all(&again, Dissemination::later(approved))?;
            let offset = outcomes.len();
            relays.extend(more_relays.into_iter().map(|(position, relay)| (position + offset, relay)));
            outcomes.extend(more);
        }
        self.settle_relays(request, &mut outcomes, &relays)?;
        Ok(Routing { policy_version: self.version.clone(), outcomes })
    }

    fn settle_relays(
        &self,
        request: &RouteRequest,
        outcomes: &mut [Outcome],
        relays: &[(usize, u32)],
    ) -> Result<(), RouteError> {
        if !relays.is_empty() {
            let origin = self.origin_index(request)?;
            self.apply_relays(outcomes, relays, origin, request.markings.originator_controlled());
        }
        Ok(())
    }

    fn origin_index(&self, request: &RouteRequest) -> Result<u32, RouteError> {
        self.directory.index_of(&request.origin).ok_or_else(|| RouteError::UnknownOrigin(request.origin.clone()))
    }

    /// Every recipient's outcome, and the relays some of them depend on.
    fn decide_all(
        &self,
        request: &RouteRequest,
        dissemination: Dissemination<'_>,
    ) -> Result<(Vec<Outcome>, Relays), RouteError> {
        let origin = self.origin_index(request)?;
        if request.recipients.len() > MAX_RECIPIENTS {
            return Err(RouteError::TooManyRecipients(request.recipients.len()));
        }
        let tetragraphs = self.directory.tetragraphs();
        let unknown = request.markings.rel_to.iter().find(|code| {
            Tetragraphs::is_code(code) && !countries::is_country(code) && tetragraphs.members(code).is_none()
        });
        if let Some(code) = unknown {
            return Err(RouteError::UnknownTetragraph(code.clone()));
        }
        let mut relays = Vec::new();
        if request.recipients.is_empty() {
            let outcomes = self.fan_out(request, origin, dissemination, &mut relays);
            return Ok((outcomes, relays));
        }
        let mut outcomes = Vec::with_capacity(request.recipients.len());
        for (position, recipient) in request.recipients.iter().enumerate() {
            if request.recipients[..position].contains(recipient) {
                continue;
            }
            let (outcome, relay) = self.decide_named(request, origin, recipient, dissemination);
            if let Some(relay) = relay {
                relays.push((outcomes.len(), relay));
            }
            outcomes.push(outcome);
        }
        Ok((outcomes, relays))
    }

    /// One named recipient: the relay party returned, if the delivery depends on one.
    fn decide_named(
        &self,
        request: &RouteRequest,
        origin: u32,
        recipient: &PartyId,
        dissemination: Dissemination<'_>,
    ) -> (Outcome, Option<u32>) {
        let deny = |reason, explanation, rule| {
            Outcome::Deny(Denial { recipient: recipient.clone(), reason, explanation, rule })
        };
        let Some(index) = self.directory.index_of(recipient) else {
            let why = format!("{recipient} is not a party in the directory");
            return (deny(DenialReason::UnknownParty, why, None), None);
        };
        if index == origin {
            let why = format!("{recipient} is the origin of the message");
            return (deny(DenialReason::SelfAddressed, why, None), None);
        }
        let mut chosen = None;
        let mut limited = None;
        for &rule_index in self.policy.rules_from(origin) {
            let rule = self.policy.rule(rule_index);
            if !rule.to.contains(index as usize) {
                continue;
            }
            if !rule.admits(request) {
                limited.get_or_insert(rule_index);
            } else if rule.relay.is_none() {
                chosen = Some(rule_index);
                break;
            } else {
                chosen.get_or_insert(rule_index);
            }
        }
        let Some(rule_index) = chosen else {
            return (self.no_rule(request, recipient, limited), None);
        };
        let rule = self.policy.rule(rule_index);
        let origin_party = self.directory.party(origin);
        let party = self.directory.party(index);
        let chosen = dissemination.originator_chose(recipient, true);
        let (reason, why) =
            match markings::check(request, origin_party, party, (true, chosen), rule, self.directory.tetragraphs()) {
                Verdict::Allow => return (Outcome::Deliver(self.approve(request, party, rule_index)), rule.relay),
                Verdict::Hold(why) => return (Outcome::Hold(self.hold(recipient, rule_index, why)), None),
                Verdict::Deny(reason, why) => (reason, why),
            };
        // The rule's own requirements (release) may be what failed: another admitting rule may allow it.
        if let Some(other) = self.alternative_rule(request, (origin, index), rule_index, chosen) {
            let relay = self.policy.rule(other).relay;
            return (Outcome::Deliver(self.approve(request, party, other)), relay);
        }
        (deny(reason, why, Some(rule.name.clone())), None)
    }

    /// After `refused` failed the marking checks, the least strict other rule covering the edge that
    /// admits the message and passes them (off the hot path: only on denials).
    fn alternative_rule(
        &self,
        request: &RouteRequest,
        (origin, recipient): (u32, u32),
        refused: u32,
        chosen: bool,
    ) -> Option<u32> {
        let origin_party = self.directory.party(origin);
        let party = self.directory.party(recipient);
        let mut candidates: Vec<u32> = self
            .policy
            .rules_from(origin)
            .iter()
            .copied()
            .filter(|&index| index != refused)
            .filter(|&index| {
                let rule = self.policy.rule(index);
                rule.to.contains(recipient as usize) && rule.admits(request)
            })
            .collect();
        candidates.sort_by_key(|&index| self.strictness(index));
        candidates.into_iter().find(|&index| {
            let rule = self.policy.rule(index);
            let verdict =
                markings::check(request, origin_party, party, (true, chosen), rule, self.directory.tetragraphs());
            verdict == Verdict::Allow
        })
    }

    fn no_rule(&self, request: &RouteRequest, recipient: &PartyId, limited: Option<u32>) -> Outcome {
        let origin = &request.origin;
        let (reason, explanation, rule) = match limited {
            None => (
                DenialReason::NoRoute,
                format!("no rule of policy {} lets {origin} send to {recipient}", self.version),
                None,
            ),
            Some(rule_index) => {
                let rule = self.policy.rule(rule_index);
                let limit = rule.limit_failed(request).unwrap_or_default();
                let why = format!("rule {} lets {origin} send to {recipient}, but not {limit}", rule.name);
                (DenialReason::RuleLimits, why, Some(rule.name.clone()))
            }
        };
        Outcome::Deny(Denial { recipient: recipient.clone(), reason, explanation, rule })
    }

    /// Route by policy: every party a rule reaches for this message and whose topics include its topic.
    fn fan_out(
        &self,
        request: &RouteRequest,
        origin: u32,
        dissemination: Dissemination<'_>,
        relays: &mut Vec<(usize, u32)>,
    ) -> Vec<Outcome> {
        let mut best = vec![NONE; self.directory.len()];
        for &rule_index in self.policy.rules_from(origin) {
            let rule = self.policy.rule(rule_index);
            if !rule.admits(request) {
                continue;
            }
            for recipient in rule.to.ones() {
                let current = best[recipient];
                if current == NONE || self.strictness(rule_index) < self.strictness(current) {
                    best[recipient] = rule_index;
                }
            }
        }
        let origin_party = self.directory.party(origin);
        let mut outcomes = Vec::new();
        for (index, &rule_index) in best.iter().enumerate() {
            let party = self.directory.party(index as u32);
            if rule_index == NONE || index as u32 == origin || !party.interested_in(&request.topic) {
                continue;
            }
            let rule = self.policy.rule(rule_index);
            let named = (false, dissemination.originator_chose(&party.id, false));
            match markings::check(request, origin_party, party, named, rule, self.directory.tetragraphs()) {
                Verdict::Deny(reason, explanation) => outcomes.push(Outcome::Deny(Denial {
                    recipient: party.id.clone(),
                    reason,
                    explanation,
                    rule: Some(rule.name.clone()),
                })),
                Verdict::Hold(why) => outcomes.push(Outcome::Hold(self.hold(&party.id, rule_index, why))),
                Verdict::Allow => {
                    if let Some(relay) = rule.relay {
                        relays.push((outcomes.len(), relay));
                    }
                    outcomes.push(Outcome::Deliver(self.approve(request, party, rule_index)));
                }
            }
        }
        outcomes
    }

    /// Denies deliveries whose rule needs a relay party that is not receiving the message: for ORCON
    /// material one the originator did not send it to, with the reason ORCON.
    fn apply_relays(&self, outcomes: &mut [Outcome], relays: &[(usize, u32)], origin: u32, orcon: bool) {
        // A denial can take away the relay another delivery depends on, so repeat until nothing changes
        // (at most once per relayed delivery).
        loop {
            let mut delivered = FixedBitSet::with_capacity(self.directory.len());
            for outcome in outcomes.iter() {
                if let Outcome::Deliver(approval) = outcome
                    && let Some(index) = self.directory.index_of(approval.recipient())
                {
                    delivered.insert(index as usize);
                }
            }
            let mut changed = false;
            for &(position, relay) in relays {
                if relay == origin || delivered.contains(relay as usize) {
                    continue;
                }
                let Outcome::Deliver(approval) = &outcomes[position] else {
                    continue;
                };
                let relay_party = &self.directory.party(relay).id;
                let (reason, explanation) = match orcon && !originator_sent(outcomes, relay_party) {
                    true => (
                        DenialReason::Orcon,
                        format!(
                            "ORCON: rule {} lets {} send to {} only through {relay_party}, and the originator did not \
                             send the message to {relay_party}",
                            approval.rule, approval.origin, approval.recipient
                        ),
                    ),
                    false => (
                        DenialReason::RelayRequired,
                        format!(
                            "rule {} lets {} send to {} only through {relay_party}: {relay_party} must receive the message too",
                            approval.rule, approval.origin, approval.recipient
                        ),
                    ),
                };
                outcomes[position] = Outcome::Deny(Denial {
                    recipient: approval.recipient.clone(),
                    reason,
                    explanation,
                    rule: Some(approval.rule.clone()),
                });
                changed = true;
            }
            if !changed {
                return;
            }
        }
    }

    /// Among rules admitting a message, the least strict decides: no relay before relay, then no release
    /// requirement before one; ties go to the earlier rule.
    fn strictness(&self, rule_index: u32) -> (bool, bool) {
        let rule = self.policy.rule(rule_index);
        (rule.relay.is_some(), rule.release_required)
    }

    fn hold(&self, recipient: &PartyId, rule_index: u32, explanation: String) -> Hold {
        let rule = self.policy.rule(rule_index);
        Hold { recipient: recipient.clone(), rule: Arc::clone(&rule.name), basis: Arc::clone(&rule.basis), explanation }
    }

    /// The approval of `party` under `rule_index`; for a foreign party, with the REL TO entry that released
    /// the message to it (the party is the one already looked up, not found again per copy).
    fn approve(&self, request: &RouteRequest, party: &Party, rule_index: u32) -> Approval {
        let rule = self.policy.rule(rule_index);
        let released_by = (party.nationality != "USA")
            .then(|| request.markings.released_by(&party.nationality, self.directory.tetragraphs()))
            .flatten()
            .map(Arc::from);
        Approval {
            recipient: party.id.clone(),
            origin: request.origin.clone(),
            kind: request.kind,
            topic: request.topic.clone(),
            precedence: request.precedence,
            rule: Arc::clone(&rule.name),
            basis: Arc::clone(&rule.basis),
            released_by,
        }
    }
}

/// Did the originator send the message to `party` (it has an outcome, and not an ORCON denial)?
fn originator_sent(outcomes: &[Outcome], party: &PartyId) -> bool {
    outcomes.iter().any(|outcome| match outcome {
        Outcome::Deliver(approval) => approval.recipient() == party,
        Outcome::Deny(denial) => denial.recipient == *party && denial.reason != DenialReason::Orcon,
        Outcome::Hold(hold) => hold.recipient == *party,
    })
}
