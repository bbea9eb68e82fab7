//! The independent reading of what the markings allow, written from the rules in DOMAIN.md and
//! docs/markings.md rather than from the router's code: which rule a delivery to a party would break, and
//! when a copy may be held for foreign-disclosure review instead.

use liaison::model::{Classification, DisseminationControl, Markings, Tlp};

use super::world::{FVEY, PartyDesc};

/// What `release-required` asks for: REL TO the recipient's country when classified, a sharing TLP
/// (CLEAR, GREEN, AMBER) and no NOFORN when unclassified.
pub fn released(markings: &Markings, recipient: &PartyDesc) -> bool {
    if markings.classification > Classification::Unclassified {
        recipient.nationality == "USA" || listed(markings, recipient.nationality)
    } else {
        matches!(markings.tlp, Some(Tlp::Clear | Tlp::Green | Tlp::Amber)) && !noforn(markings)
    }
}

/// NOFORN, or a non-IC control that includes it.
fn noforn(markings: &Markings) -> bool {
    use DisseminationControl::*;
    [Noforn, LesNoforn, SbuNoforn].iter().any(|control| markings.has(*control))
}

/// The REL TO list names the country, or FVEY and the country is a member.
fn listed(markings: &Markings, nationality: &str) -> bool {
    markings.rel_to.iter().any(|code| code == nationality || (code == "FVEY" && FVEY.contains(&nationality)))
}

/// The marking rule a delivery to `recipient` would break, if any.
pub fn marking_breach(
    markings: &Markings,
    origin: &PartyDesc,
    recipient: &PartyDesc,
    named: bool,
) -> Option<&'static str> {
    breach(markings, origin, recipient, named, false)
}

/// The marking rule a delivery would break once a disclosure official released it to the recipient's
/// country.
pub fn marking_breach_after_release(
    markings: &Markings,
    origin: &PartyDesc,
    recipient: &PartyDesc,
    named: bool,
) -> Option<&'static str> {
    breach(markings, origin, recipient, named, true)
}

const REL_TO_BREACH: &str = "REL TO does not list the recipient's nationality";
const NO_REL_TO_BREACH: &str = "classified material to a foreign party without REL TO its country";

/// Whether a breach is one a disclosure official's release settles.
pub fn is_release_breach(breach: &str) -> bool {
    breach == REL_TO_BREACH || breach == NO_REL_TO_BREACH
}

/// RELIDO, or classified with no SCI, SAP, control, REL TO or DISPLAY ONLY.
pub fn relido(markings: &Markings) -> bool {
    markings.has(DisseminationControl::Relido)
        || (markings.classification > Classification::Unclassified
            && markings.controls.is_empty()
            && markings.sci.is_empty()
            && markings.sap.is_empty()
            && markings.rel_to.is_empty()
            && markings.display_only.is_empty())
}

fn breach(
    markings: &Markings,
    origin: &PartyDesc,
    recipient: &PartyDesc,
    named: bool,
    released: bool,
) -> Option<&'static str> {
    let listed = listed(markings, recipient.nationality);
    let sap = markings.sap.iter().map(|program| format!("SAR-{program}"));
    let unread = markings.sci.iter().cloned().chain(sap).any(|token| !recipient.holds(&token));
    let les = markings.has(DisseminationControl::Les) || markings.has(DisseminationControl::LesNoforn);
    if recipient.clearance < markings.classification {
        Some("dominance: clearance below the classification")
    } else if recipient.foreign() && noforn(markings) {
        Some("NOFORN to a non-USA party")
    } else if !released && !markings.rel_to.is_empty() && recipient.foreign() && !listed {
        Some(REL_TO_BREACH)
    } else if !released && markings.classification > Classification::Unclassified && recipient.foreign() && !listed {
        Some(NO_REL_TO_BREACH)
    } else if les && !recipient.law_enforcement {
        Some("LES to a party that is not law-enforcement eligible")
    } else if unread {
        Some("SCI or SAP the recipient is not read into")
    } else if markings.has(DisseminationControl::Orcon) && !named {
        Some("ORCON to a party the originator did not name")
    } else if markings.has(DisseminationControl::OrconUsgov)
        && !named
        && (recipient.foreign() || !recipient.executive_branch)
    {
        Some("ORCON-USGOV outside the USA executive branch to a party the originator did not name")
    } else if markings.tlp == Some(Tlp::Red) && !named {
        Some("TLP:RED to a recipient the publisher did not name")
    } else if markings.tlp == Some(Tlp::AmberStrict) && recipient.organisation() != origin.organisation() {
        Some("TLP:AMBER+STRICT outside the origin's organisation")
    } else {
        None
    }
}
