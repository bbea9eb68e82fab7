//! Handling markings as the IC and DHS write them: classification, SCI controls, special access programs,
//! dissemination controls (IC and non-IC), REL TO and DISPLAY ONLY lists, and TLP.
//!
//! [`Markings`] is always canonical: each list sorted in the Register's order, each entry once, so two
//! messages marked alike compare equal and render the same banner. [`banner`] parses and renders the
//! banner line (`TOP SECRET//SI-G ABCD/TK//ORCON/NOFORN`), [`rules`] holds the combination rules of the
//! Register and of ODNI's ISM Schematron, each error naming its rule. The vocabularies (countries, SCI
//! controls, tetragraphs) are generated at build time from ODNI's ISM package.

mod banner;
mod rules;

pub use banner::{BannerError, MAX_BANNER_LEN, sci_token_error};
pub use rules::MarkingError;

use super::Tetragraphs;

/// US classification levels, ordered so that `a >= b` means "a dominates b".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Classification {
    Unclassified,
    Confidential,
    Secret,
    TopSecret,
}

/// Dissemination controls without a country list, IC ones first, each category in the Register's banner
/// order (the order of the variants). REL TO and DISPLAY ONLY carry lists and are fields of [`Markings`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DisseminationControl {
    // IC dissemination controls.
    Fouo,
    Orcon,
    OrconUsgov,
    Imcon,
    Noforn,
    Propin,
    Relido,
    Fisa,
    // Non-IC dissemination controls.
    Limdis,
    Exdis,
    Nodis,
    Sbu,
    SbuNoforn,
    Les,
    LesNoforn,
    Ssi,
}

/// Traffic Light Protocol 2.0 colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tlp {
    Clear,
    Green,
    Amber,
    AmberStrict,
    Red,
}

/// The markings on one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Markings {
    pub classification: Classification,
    /// SCI controls as ISM tokens, sorted, each with its parents: `SI`, `SI-G`, `SI-G-ABCD`, `TK`.
    pub sci: Vec<String>,
    /// Special access program identifiers (without `SAR-`), sorted.
    pub sap: Vec<String>,
    /// Each control at most once, sorted (the Register's order).
    pub controls: Vec<DisseminationControl>,
    /// REL TO: `USA` first, then ISO 3166 alpha-3 trigraphs, then tetragraphs, each group alphabetical.
    pub rel_to: Vec<String>,
    /// DISPLAY ONLY: trigraphs, then tetragraphs, each alphabetical.
    pub display_only: Vec<String>,
    pub tlp: Option<Tlp>,
}

impl Tlp {
    /// The name in files and the audit: `clear`, `green`, `amber`, `amber+strict`, `red`.
    pub fn name(self) -> &'static str {
        match self {
            Tlp::Clear => "clear",
            Tlp::Green => "green",
            Tlp::Amber => "amber",
            Tlp::AmberStrict => "amber+strict",
            Tlp::Red => "red",
        }
    }

    /// The colour of a [`Tlp::name`] (any case; `white`, TLP 1.0's name for clear, too).
    pub fn from_name(name: &str) -> Option<Tlp> {
        Some(match name.to_ascii_lowercase().as_str() {
            "clear" | "white" => Tlp::Clear,
            "green" => Tlp::Green,
            "amber" => Tlp::Amber,
            "amber+strict" => Tlp::AmberStrict,
            "red" => Tlp::Red,
            _ => return None,
        })
    }
}

impl Markings {
    /// Unclassified with no controls: the markings of an example or test message.
    pub fn unclassified() -> Markings {
        Markings {
            classification: Classification::Unclassified,
            sci: Vec::new(),
            sap: Vec::new(),
            controls: Vec::new(),
            rel_to: Vec::new(),
            display_only: Vec::new(),
            tlp: None,
        }
    }

    /// Parses a banner line into canonical, validated markings (TLP is not part of a banner).
    pub fn from_banner(line: &str) -> Result<Markings, BannerError> {
        let markings = banner::parse(line)?;
        markings.validate().map_err(BannerError::Rule)?;
        Ok(markings)
    }

    /// The canonical banner line: `SECRET//REL TO USA, FVEY`.
    pub fn banner(&self) -> String {
        banner::render(self)
    }

    pub fn has(&self, control: DisseminationControl) -> bool {
        self.controls.contains(&control)
    }

    /// Not releasable to foreign nationals: NOFORN, or a non-IC control that includes it.
    pub fn noforn(&self) -> bool {
        use DisseminationControl::*;
        self.controls.iter().any(|control| matches!(control, Noforn | LesNoforn | SbuNoforn | Exdis | Nodis))
    }

    /// Releasable by an information disclosure official: marked RELIDO, or classified and uncaveated (no
    /// SCI, SAP, dissemination control, REL TO or DISPLAY ONLY), which the Register treats alike.
    pub fn releasable_by_disclosure_official(&self) -> bool {
        let uncaveated = self.classification > Classification::Unclassified
            && self.controls.is_empty()
            && self.sci.is_empty()
            && self.sap.is_empty()
            && self.rel_to.is_empty()
            && self.display_only.is_empty();
        self.has(DisseminationControl::Relido) || uncaveated
    }

    /// Originator controlled: ORCON or ORCON-USGOV.
    pub fn originator_controlled(&self) -> bool {
        self.has(DisseminationControl::Orcon) || self.has(DisseminationControl::OrconUsgov)
    }

    /// Law-enforcement sensitive: LES or LES NOFORN.
    pub fn law_enforcement_sensitive(&self) -> bool {
        self.has(DisseminationControl::Les) || self.has(DisseminationControl::LesNoforn)
    }

    /// The accesses a holder needs: every SCI token and `SAR-<id>` for every program.
    pub fn accesses(&self) -> impl Iterator<Item = std::borrow::Cow<'_, str>> {
        let sci = self.sci.iter().map(|token| std::borrow::Cow::Borrowed(token.as_str()));
        sci.chain(self.sap.iter().map(|program| std::borrow::Cow::Owned(format!("SAR-{program}"))))
    }

    /// Puts every list in canonical order and drops repeats of a REL TO or DISPLAY ONLY entry already
    /// refused by the rules.
    pub(crate) fn canonicalize(&mut self) {
        self.sci.sort_unstable();
        self.sci.dedup();
        self.sap.sort_unstable();
        self.sap.dedup();
        self.controls.sort_unstable();
        self.controls.dedup();
        if let Some((first, rest)) = self.rel_to.split_first_mut()
            && first == "USA"
        {
            rest.sort_unstable_by(|a, b| (a.len(), a).cmp(&(b.len(), b)));
        }
        // Countries before tetragraphs, as in REL TO (Register p.163).
        self.display_only.sort_unstable_by(|a, b| (a.len(), a).cmp(&(b.len(), b)));
    }

    /// Is the material released to a country (ISO 3166 alpha-3)? USA always; others only through REL TO,
    /// naming the country or a tetragraph in force that has it as a member.
    pub fn released_to(&self, nationality: &str, tetragraphs: &Tetragraphs) -> bool {
        nationality == "USA" || self.released_by(nationality, tetragraphs).is_some()
    }

    /// The REL TO entry that releases the material to `nationality`: the country itself, or the first
    /// tetragraph in force that has it as a member.
    pub fn released_by(&self, nationality: &str, tetragraphs: &Tetragraphs) -> Option<&str> {
        let member = |code: &str| tetragraphs.members(code).is_some_and(|members| members.contains(nationality));
        let code = self.rel_to.iter().find(|code| *code == nationality || member(code))?;
        Some(code.as_str())
    }
}

// === impl Classification ===

impl Classification {
    pub const ALL: [Classification; 4] =
        [Classification::Unclassified, Classification::Confidential, Classification::Secret, Classification::TopSecret];

    /// The configuration-file name (`unclassified`, `confidential`, `secret`, `top-secret`).
    pub fn name(self) -> &'static str {
        match self {
            Classification::Unclassified => "unclassified",
            Classification::Confidential => "confidential",
            Classification::Secret => "secret",
            Classification::TopSecret => "top-secret",
        }
    }

    /// The banner form (`UNCLASSIFIED`, `TOP SECRET` ...).
    pub fn banner(self) -> &'static str {
        match self {
            Classification::Unclassified => "UNCLASSIFIED",
            Classification::Confidential => "CONFIDENTIAL",
            Classification::Secret => "SECRET",
            Classification::TopSecret => "TOP SECRET",
        }
    }

    /// The accepted names, for error messages.
    pub const NAMES: &'static str = "one of unclassified, confidential, secret, top-secret";

    pub fn from_name(name: &str) -> Option<Classification> {
        Classification::ALL.into_iter().find(|level| level.name() == name)
    }
}

// === impl DisseminationControl ===

impl DisseminationControl {
    pub const ALL: [DisseminationControl; 16] = {
        use DisseminationControl::*;
        [
            Fouo, Orcon, OrconUsgov, Imcon, Noforn, Propin, Relido, Fisa, Limdis, Exdis, Nodis, Sbu, SbuNoforn, Les,
            LesNoforn, Ssi,
        ]
    };

    /// The banner form (`ORCON`, `LES NOFORN` ...).
    pub fn banner(self) -> &'static str {
        use DisseminationControl::*;
        match self {
            Fouo => "FOUO",
            Orcon => "ORCON",
            OrconUsgov => "ORCON-USGOV",
            Imcon => "IMCON",
            Noforn => "NOFORN",
            Propin => "PROPIN",
            Relido => "RELIDO",
            Fisa => "FISA",
            Limdis => "LIMDIS",
            Exdis => "EXDIS",
            Nodis => "NODIS",
            Sbu => "SBU",
            SbuNoforn => "SBU NOFORN",
            Les => "LES",
            LesNoforn => "LES NOFORN",
            Ssi => "SSI",
        }
    }

    /// The portion-mark abbreviation where it differs from the banner form (`OC`, `NF`, `DS` ...).
    fn abbreviation(self) -> Option<&'static str> {
        use DisseminationControl::*;
        Some(match self {
            Orcon => "OC",
            OrconUsgov => "OC-USGOV",
            Imcon => "IMC",
            Noforn => "NF",
            Propin => "PR",
            Limdis => "DS",
            Exdis => "XD",
            Nodis => "ND",
            SbuNoforn => "SBU-NF",
            LesNoforn => "LES-NF",
            _ => return None,
        })
    }

    /// A control by its banner form or abbreviation.
    pub fn from_banner(word: &str) -> Option<DisseminationControl> {
        DisseminationControl::ALL
            .into_iter()
            .find(|control| control.banner() == word || control.abbreviation() == Some(word))
    }

    /// A non-IC dissemination control (LES, SBU, LIMDIS ...), written in the banner's last category.
    pub fn is_non_ic(self) -> bool {
        self >= DisseminationControl::Limdis
    }
}

#[cfg(test)]
mod tests;
