//! The last check before a delivery leaves the gateway: the router's holder checks
//! ([`crate::router::check_holder`]) applied to the person. Every rule that stops a message at a party —
//! clearance, NOFORN, REL TO, classified material without REL TO for a foreign national, LES, SCI and SAP
//! accesses — also stops
//! it at a person whose token says so, and a policy mistake cannot leak past the person's own limits.
//!
//! Each attribute comes from the token (`clearance`, `nationality`, `law_enforcement`, `accesses`); one the token does
//! not state is taken from the caller's party in the directory in force. A token without personal claims
//! is so held to its party's attributes, which the router already checked when it stored the copy.

use crate::api as pb;
use crate::grpc::convert;
use crate::identity::Caller;
use crate::model::Tetragraphs;
use crate::router::{Holder, HolderKind, Party, check_holder};

/// Why this caller may not see this envelope, or `None` if they may. `party` is the caller's party in the
/// directory in force (`None` if it is no longer there).
pub fn withhold_reason(
    caller: &Caller,
    party: Option<&Party>,
    tetragraphs: &Tetragraphs,
    envelope: &pb::Envelope,
) -> Option<String> {
    let holder = match person(caller, party) {
        Ok(holder) => holder,
        Err(why) => return Some(why),
    };
    let Ok(markings) = convert::stored_markings(envelope.markings.as_ref()) else {
        return Some("its markings cannot be read".to_string());
    };
    check_holder(&markings, &holder, tetragraphs).map(|(_, why)| why)
}

/// The person as the holder checks see them: the token's attributes, the party's where it states none.
/// Fails closed when an attribute is needed from a party the directory no longer has.
fn person<'a>(caller: &'a Caller, party: Option<&'a Party>) -> Result<Holder<'a>, String> {
    let missing = |attribute: &str| {
        format!(
            "the token of {} states no {attribute} and its party {} is not in the directory",
            caller.subject, caller.party
        )
    };
    let clearance = match (caller.clearance, party) {
        (Some(clearance), _) => clearance,
        (None, Some(party)) => party.clearance,
        (None, None) => return Err(missing("clearance")),
    };
    let nationality = match (&caller.nationality, party) {
        (Some(nationality), _) => nationality.as_str(),
        (None, Some(party)) => party.nationality.as_str(),
        (None, None) => return Err(missing("nationality")),
    };
    let law_enforcement = match (caller.law_enforcement, party) {
        (Some(eligible), _) => eligible,
        (None, Some(party)) => party.law_enforcement,
        (None, None) => return Err(missing("law-enforcement eligibility")),
    };
    let accesses = match (&caller.accesses, party) {
        (Some(accesses), _) => accesses,
        (None, Some(party)) => &party.accesses,
        (None, None) => return Err(missing("accesses")),
    };
    Ok(Holder { name: &caller.subject, kind: HolderKind::Person, clearance, nationality, law_enforcement, accesses })
}

#[cfg(test)]
mod tests;
