//! Marking enforcement: the checks no routing rule can override.
//!
//! Accreditation must dominate the classification; NOFORN only to USA parties; classified material reaches
//! a foreign party only when marked REL TO its country; LES only to law-enforcement-eligible parties;
//! TLP:RED only to recipients the publisher named; TLP:AMBER+STRICT only within the origin's organisation.
//! A rule with `release-required` also needs unclassified material to carry a sharing TLP
//! (CLEAR, GREEN or AMBER).

use super::DenialReason;
use super::directory::Party;
use super::policy::Rule;
use crate::model::{Classification, DisseminationControl, RouteRequest, Tlp};

/// Why the markings forbid `recipient`, or `None` if they allow it.
pub(super) fn check(
    request: &RouteRequest,
    origin: &Party,
    recipient: &Party,
    named: bool,
    rule: &Rule,
) -> Option<(DenialReason, String)> {
    let markings = &request.markings;
    let classification = markings.classification;
    let who = &recipient.id;
    if recipient.clearance < classification {
        let why = format!(
            "{} exceeds the accreditation of {who} ({})",
            classification.banner(),
            recipient.clearance.banner()
        );
        return Some((DenialReason::Classification, why));
    }
    let foreign = recipient.nationality != "USA";
    if foreign && markings.has(DisseminationControl::Noforn) {
        let why = format!("NOFORN: {who} is a {} party, not USA", recipient.nationality);
        return Some((DenialReason::Noforn, why));
    }
    if !markings.rel_to.is_empty() && !markings.released_to(&recipient.nationality) {
        let why = format!("REL TO {} does not include {} ({who})", markings.rel_to.join(", "), recipient.nationality);
        return Some((DenialReason::NotReleasable, why));
    }
    if foreign && classification > Classification::Unclassified && markings.rel_to.is_empty() {
        let why = format!(
            "{} material reaches a foreign party only when marked REL TO its country ({})",
            classification.banner(),
            recipient.nationality
        );
        return Some((DenialReason::NotReleasable, why));
    }
    if markings.has(DisseminationControl::Les) && !recipient.law_enforcement {
        let why = format!("LES: {who} is not law-enforcement eligible");
        return Some((DenialReason::Les, why));
    }
    match markings.tlp {
        Some(Tlp::Red) if !named => {
            let why = format!("TLP:RED goes only to recipients the publisher names; {who} was selected by policy");
            return Some((DenialReason::Tlp, why));
        }
        Some(Tlp::AmberStrict) if recipient.organisation != origin.organisation => {
            let why = format!(
                "TLP:AMBER+STRICT stays within {} ({who} belongs to {})",
                origin.organisation, recipient.organisation
            );
            return Some((DenialReason::Tlp, why));
        }
        _ => {}
    }
    if rule.release_required && !released(request, recipient) {
        let why = format!(
            "rule {} needs material released to {who}: REL TO {} when classified, TLP:CLEAR, GREEN or AMBER when unclassified",
            rule.name, recipient.nationality
        );
        return Some((DenialReason::NotReleasable, why));
    }
    None
}

fn released(request: &RouteRequest, recipient: &Party) -> bool {
    let markings = &request.markings;
    if markings.classification > Classification::Unclassified {
        markings.released_to(&recipient.nationality)
    } else {
        matches!(markings.tlp, Some(Tlp::Clear | Tlp::Green | Tlp::Amber))
            && !markings.has(DisseminationControl::Noforn)
    }
}
