//! Marking enforcement: the checks no routing rule can override.
//!
//! Holder checks, the same for a party and for a person ([`check_holder`]): accreditation or clearance
//! must dominate the classification; NOFORN only to USA holders; a REL TO list must name the holder's
//! country; classified material reaches a foreign holder only when marked REL TO its country; LES only
//! to law-enforcement-eligible holders; SCI compartments and special access programs only to holders read
//! into every one of them. The router applies them to each recipient party, and the
//! subscribe session to each person (`grpc/subscribe/personal.rs`), so the two cannot drift apart.
//!
//! Party-only checks follow them in [`check`]: ORCON only to recipients the originator chose (named in its
//! publish, or approved later), ORCON-USGOV also to USA executive-branch parties; TLP:RED only to
//! recipients the publisher named;
//! TLP:AMBER+STRICT only within the origin's organisation; a rule with `release-required` also needs
//! unclassified material to carry a sharing TLP (CLEAR, GREEN or AMBER).

use super::DenialReason;
use super::directory::Party;
use super::policy::Rule;
use crate::model::{Accesses, Classification, DisseminationControl, Markings, RouteRequest, Tetragraphs, Tlp};

/// Whoever is to hold a message, as the holder checks see them: a party or a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holder<'a> {
    /// Named in the sentences of a denial.
    pub name: &'a str,
    pub kind: HolderKind,
    /// The party's accreditation or the person's clearance.
    pub clearance: Classification,
    /// ISO 3166 alpha-3.
    pub nationality: &'a str,
    /// May hold LES material.
    pub law_enforcement: bool,
    /// The SCI controls and special access programs the holder is read into.
    pub accesses: &'a Accesses,
}

/// Whether a holder is a party or a person; only the wording of a denial depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HolderKind {
    Party,
    Person,
}

// === impl Holder ===

impl<'a> Holder<'a> {
    /// A party, with its attributes from the directory.
    pub fn party(party: &'a Party) -> Holder<'a> {
        Holder {
            name: party.id.as_str(),
            kind: HolderKind::Party,
            clearance: party.clearance,
            nationality: &party.nationality,
            law_enforcement: party.law_enforcement,
            accesses: &party.accesses,
        }
    }

    fn foreign(&self) -> bool {
        self.nationality != "USA"
    }

    /// "the accreditation" of a party, "the clearance" of a person.
    fn clearance_noun(&self) -> &'static str {
        match self.kind {
            HolderKind::Party => "accreditation",
            HolderKind::Person => "personal clearance",
        }
    }

    /// "a CAN party", "a CAN national".
    fn nationality_noun(&self) -> &'static str {
        match self.kind {
            HolderKind::Party => "party",
            HolderKind::Person => "national",
        }
    }
}

/// What the markings decide for one recipient party.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Verdict {
    Allow,
    Deny(DenialReason, String),
    /// Not released to the party's country, but RELIDO: held for a foreign disclosure officer's review.
    Hold(String),
}

type Refusal = Option<(DenialReason, String)>;

/// Why the markings forbid `holder` to hold the message, or `None` if they allow it.
pub fn check_holder(markings: &Markings, holder: &Holder, tetragraphs: &Tetragraphs) -> Refusal {
    before_release(markings, holder)
        .or_else(|| release(markings, holder, tetragraphs))
        .or_else(|| after_release(markings, holder))
}

/// Clearance, then NOFORN.
fn before_release(markings: &Markings, holder: &Holder) -> Refusal {
    let classification = markings.classification;
    let who = holder.name;
    if holder.clearance < classification {
        let why = format!(
            "{} exceeds the {} of {who} ({})",
            classification.banner(),
            holder.clearance_noun(),
            holder.clearance.banner()
        );
        return Some((DenialReason::Classification, why));
    }
    if holder.foreign() && markings.noforn() {
        let why = format!("NOFORN: {who} is a {} {}, not USA", holder.nationality, holder.nationality_noun());
        return Some((DenialReason::Noforn, why));
    }
    None
}

/// REL TO must cover the holder's country; classified material reaches a foreign holder only with REL TO.
fn release(markings: &Markings, holder: &Holder, tetragraphs: &Tetragraphs) -> Refusal {
    let (who, nationality) = (holder.name, holder.nationality);
    if !markings.rel_to.is_empty() && !markings.released_to(nationality, tetragraphs) {
        let why = format!("REL TO {} does not include {nationality} ({who})", markings.rel_to.join(", "));
        return Some((DenialReason::NotReleasable, why));
    }
    if holder.foreign() && markings.classification > Classification::Unclassified && markings.rel_to.is_empty() {
        let why = format!(
            "{} material reaches a foreign {} only when marked REL TO its country ({nationality}, {who})",
            markings.classification.banner(),
            holder.nationality_noun(),
        );
        return Some((DenialReason::NotReleasable, why));
    }
    None
}

/// LES, then SCI and SAP accesses.
fn after_release(markings: &Markings, holder: &Holder) -> Refusal {
    let who = holder.name;
    if markings.law_enforcement_sensitive() && !holder.law_enforcement {
        let why = format!("LES: {who} is not law-enforcement eligible");
        return Some((DenialReason::Les, why));
    }
    let missing = holder.accesses.missing(markings);
    if !missing.is_empty() {
        let why = format!("{who} is not read into {} ({})", missing.join(", "), markings.banner());
        return Some((DenialReason::Access, why));
    }
    None
}

/// What the markings decide for `recipient`: the holder checks, then ORCON, TLP and the rule's release
/// requirement. Material not released to the recipient's country but RELIDO (explicitly, or uncaveated
/// classified material) is held for review when every other check passes. `(named, chosen)`: the
/// publisher named the recipient; the originator chose it (named in its own publish, or approved).
pub(super) fn check(
    request: &RouteRequest,
    origin: &Party,
    recipient: &Party,
    (named, chosen): (bool, bool),
    rule: &Rule,
    tetragraphs: &Tetragraphs,
) -> Verdict {
    let markings = &request.markings;
    let holder = Holder::party(recipient);
    if let Some((reason, why)) = before_release(markings, &holder) {
        return Verdict::Deny(reason, why);
    }
    let held = match release(markings, &holder, tetragraphs) {
        Some((_, why)) if markings.releasable_by_disclosure_official() => Some(why),
        Some((reason, why)) => return Verdict::Deny(reason, why),
        None => None,
    };
    if let Some((reason, why)) = after_release(markings, &holder) {
        return Verdict::Deny(reason, why);
    }
    if let Some(why) = orcon(markings, origin, recipient, chosen) {
        return Verdict::Deny(DenialReason::Orcon, why);
    }
    if let Some((reason, why)) = tlp(markings, origin, recipient, named) {
        return Verdict::Deny(reason, why);
    }
    if let Some(why) = held {
        return Verdict::Hold(format!("{why}; RELIDO: held for a foreign disclosure officer's review"));
    }
    if rule.release_required && !released(request, recipient, tetragraphs) {
        let why = format!(
            "rule {} needs material released to {}: REL TO {} when classified, TLP:CLEAR, GREEN or AMBER when unclassified",
            rule.name, recipient.id, recipient.nationality
        );
        return Verdict::Deny(DenialReason::NotReleasable, why);
    }
    Verdict::Allow
}

/// TLP:RED only to named recipients; TLP:AMBER+STRICT only within the origin's organisation.
fn tlp(markings: &Markings, origin: &Party, recipient: &Party, named: bool) -> Refusal {
    let who = &recipient.id;
    match markings.tlp {
        Some(Tlp::Red) if !named => {
            let why = format!("TLP:RED goes only to recipients the publisher names; {who} was selected by policy");
            Some((DenialReason::Tlp, why))
        }
        Some(Tlp::AmberStrict) if recipient.organisation != origin.organisation => {
            let why = format!(
                "TLP:AMBER+STRICT stays within {} ({who} belongs to {})",
                origin.organisation, recipient.organisation
            );
            Some((DenialReason::Tlp, why))
        }
        _ => None,
    }
}

/// Why ORCON forbids `recipient`, if it does: ORCON material goes only to parties the originator chose;
/// ORCON-USGOV also to any USA executive-branch party (pre-approved).
fn orcon(markings: &Markings, origin: &Party, recipient: &Party, chosen: bool) -> Option<String> {
    let who = &recipient.id;
    let approve = format!("the originator {} may approve it (liaison orcon approve)", origin.id);
    if markings.has(DisseminationControl::Orcon) && !chosen {
        return Some(format!("ORCON: the originator did not send the message to {who}; {approve}"));
    }
    let executive = recipient.executive_branch && recipient.nationality == "USA";
    if markings.has(DisseminationControl::OrconUsgov) && !chosen && !executive {
        return Some(format!(
            "ORCON-USGOV: {who} is not a USA executive-branch party and the originator did not send the message to it; \
             {approve}"
        ));
    }
    None
}

fn released(request: &RouteRequest, recipient: &Party, tetragraphs: &Tetragraphs) -> bool {
    let markings = &request.markings;
    if markings.classification > Classification::Unclassified {
        markings.released_to(&recipient.nationality, tetragraphs)
    } else {
        matches!(markings.tlp, Some(Tlp::Clear | Tlp::Green | Tlp::Amber)) && !markings.noforn()
    }
}

#[cfg(test)]
mod tests;
