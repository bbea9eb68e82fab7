//! The combination rules: which markings may stand together. Each error names its rule: the ISM
//! Schematron rule id where ODNI's ISM package has one (`ISM-ID-00049`), otherwise the Register's rule in a
//! short key (`noforn-rel`). The rules are checked in a fixed order and the first broken one is reported.

use super::{Classification, DisseminationControl, Markings};

/// A combination of markings that is not allowed, named by its rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MarkingError {
    #[error("envelope.markings: NOFORN cannot be combined with REL TO, RELIDO or DISPLAY ONLY (rule noforn-rel)")]
    NofornWithRelTo,
    #[error("envelope.markings: ORCON cannot be combined with RELIDO (rule orcon-relido)")]
    OrconWithRelido,
    #[error("envelope.markings: ORCON and ORCON-USGOV exclude each other (rule orcon-usgov)")]
    OrconWithOrconUsgov,
    #[error("envelope.markings: RELIDO cannot be combined with DISPLAY ONLY (rule relido-display-only)")]
    RelidoWithDisplayOnly,
    #[error("envelope.markings: EXDIS and NODIS exclude each other (rule exdis-nodis)")]
    ExdisWithNodis,
    #[error("envelope.markings.rel_to: REL TO requires CONFIDENTIAL or above (rule rel-to-classified)")]
    RelToBelowConfidential,
    #[error("envelope.markings.rel_to: REL TO lists USA first (rule rel-to-usa-first)")]
    RelToWithoutUsaFirst,
    #[error("envelope.markings.rel_to: REL TO needs at least one country besides USA (rule rel-to-usa-only)")]
    RelToUsaOnly,
    #[error("envelope.markings.rel_to: {0} is listed twice (rule repeated)")]
    RelToRepeated(String),
    #[error("envelope.markings.display_only: {0} is listed twice (rule repeated)")]
    DisplayOnlyRepeated(String),
    #[error("envelope.markings.sci: SCI and SAP markings require CONFIDENTIAL or above (rule sci-classified)")]
    SciOnUnclassified,
    #[error("envelope.markings.sci: {0} needs its control system or compartment {1} too (ISM-ID-00388)")]
    SciWithoutParent(String, String),
    /// A rule of ODNI's ISM Schematron: its id and what it requires.
    #[error("envelope.markings: {1} ({0})")]
    Ism(&'static str, &'static str),
}

impl MarkingError {
    /// The rule's key: the ISM rule id, or Liaison's short name for a Register rule.
    pub fn rule(&self) -> &'static str {
        match self {
            MarkingError::NofornWithRelTo => "noforn-rel",
            MarkingError::OrconWithRelido => "orcon-relido",
            MarkingError::OrconWithOrconUsgov => "orcon-usgov",
            MarkingError::RelidoWithDisplayOnly => "relido-display-only",
            MarkingError::ExdisWithNodis => "exdis-nodis",
            MarkingError::RelToBelowConfidential => "rel-to-classified",
            MarkingError::RelToWithoutUsaFirst => "rel-to-usa-first",
            MarkingError::RelToUsaOnly => "rel-to-usa-only",
            MarkingError::RelToRepeated(_) | MarkingError::DisplayOnlyRepeated(_) => "repeated",
            MarkingError::SciOnUnclassified => "sci-classified",
            MarkingError::SciWithoutParent(..) => "ISM-ID-00388",
            MarkingError::Ism(id, _) => id,
        }
    }
}

/// One ISM rule: its id, what it requires, and the test that the markings break it.
type IsmRule = (&'static str, &'static str, fn(&Markings) -> bool);

/// The ISM Schematron rules Liaison enforces, in the order they are checked. ISM-ID-00341 and 00363 (SI-G,
/// HCS-O with ORCON-USGOV) follow from 00045 and 00335 together with `orcon-usgov` and are not repeated.
const ISM_RULES: &[IsmRule] = &[
    ("ISM-ID-00028", "ORCON and ORCON-USGOV require CONFIDENTIAL or above", |m| {
        unclassified(m) && (m.has(Orcon) || m.has(OrconUsgov))
    }),
    ("ISM-ID-00030", "FOUO is only valid on UNCLASSIFIED material", |m| classified(m) && m.has(Fouo)),
    ("ISM-ID-00037", "SBU and SBU NOFORN are only valid on UNCLASSIFIED material", |m| {
        classified(m) && (m.has(Sbu) || m.has(SbuNoforn))
    }),
    ("ISM-ID-00346", "LIMDIS is only valid on UNCLASSIFIED material", |m| classified(m) && m.has(Limdis)),
    ("ISM-ID-00044", "SI-G requires TOP SECRET", |m| sci(m, "SI-G") && below(m, Classification::TopSecret)),
    ("ISM-ID-00045", "SI-G requires ORCON", |m| sci(m, "SI-G") && !m.has(Orcon)),
    ("ISM-ID-00048", "HCS requires SECRET or above", |m| sci(m, "HCS") && below(m, Classification::Secret)),
    ("ISM-ID-00049", "HCS requires NOFORN", |m| sci(m, "HCS") && !m.has(Noforn)),
    ("ISM-ID-00243", "RSV needs a compartment (RSV-XXX)", |m| {
        sci(m, "RSV") && !m.sci.iter().any(|t| t.starts_with("RSV-"))
    }),
    ("ISM-ID-00335", "HCS-O requires ORCON", |m| sci(m, "HCS-O") && !m.has(Orcon)),
    ("ISM-ID-00368", "TK-BLFH requires TOP SECRET", |m| sci(m, "TK-BLFH") && below(m, Classification::TopSecret)),
    ("ISM-ID-00369", "TK-BLFH requires NOFORN", |m| sci(m, "TK-BLFH") && !m.has(Noforn)),
    ("ISM-ID-00370", "TK-IDIT requires NOFORN", |m| sci(m, "TK-IDIT") && !m.has(Noforn)),
    ("ISM-ID-00371", "TK-KAND requires NOFORN", |m| sci(m, "TK-KAND") && !m.has(Noforn)),
    ("ISM-ID-00372", "LES NOFORN and SBU NOFORN cannot be combined with NOFORN, REL TO, RELIDO or DISPLAY ONLY", |m| {
        (m.has(LesNoforn) || m.has(SbuNoforn)) && foreign_disclosure(m)
    }),
    ("ISM-ID-00313", "NODIS requires NOFORN", |m| m.has(Nodis) && !m.has(Noforn)),
    ("ISM-ID-00314", "EXDIS requires NOFORN", |m| m.has(Exdis) && !m.has(Noforn)),
    ("ISM-ID-00463", "BUR requires NOFORN", |m| sci(m, "BUR") && !m.has(Noforn)),
    ("ISM-ID-00464", "RSV requires NOFORN", |m| sci(m, "RSV") && !m.has(Noforn)),
    ("ISM-ID-00468", "KLM-R requires TOP SECRET", |m| sci(m, "KLM-R") && below(m, Classification::TopSecret)),
    ("ISM-ID-00469", "KLM-R requires NOFORN", |m| sci(m, "KLM-R") && !m.has(Noforn)),
    ("ISM-ID-00473", "PROPIN requires NOFORN, REL TO, RELIDO or DISPLAY ONLY", |m| {
        m.has(Propin) && !foreign_disclosure(m)
    }),
];

use DisseminationControl::*;

fn classified(markings: &Markings) -> bool {
    markings.classification > Classification::Unclassified
}

fn unclassified(markings: &Markings) -> bool {
    !classified(markings)
}

fn below(markings: &Markings, level: Classification) -> bool {
    markings.classification < level
}

/// The markings carry the SCI token (a control system or compartment).
fn sci(markings: &Markings, token: &str) -> bool {
    markings.sci.binary_search_by(|held| held.as_str().cmp(token)).is_ok()
}

/// A foreign disclosure and release marking: NOFORN, REL TO, RELIDO or DISPLAY ONLY.
fn foreign_disclosure(markings: &Markings) -> bool {
    markings.has(Noforn) || markings.has(Relido) || !markings.rel_to.is_empty() || !markings.display_only.is_empty()
}

impl Markings {
    /// Checks the combination rules; the first one broken is the error.
    pub fn validate(&self) -> Result<(), MarkingError> {
        let released = !self.rel_to.is_empty() || !self.display_only.is_empty() || self.has(Relido);
        if self.has(Noforn) && released {
            return Err(MarkingError::NofornWithRelTo);
        }
        if self.has(Orcon) && self.has(Relido) {
            return Err(MarkingError::OrconWithRelido);
        }
        if self.has(Orcon) && self.has(OrconUsgov) {
            return Err(MarkingError::OrconWithOrconUsgov);
        }
        if self.has(Relido) && !self.display_only.is_empty() {
            return Err(MarkingError::RelidoWithDisplayOnly);
        }
        if self.has(Exdis) && self.has(Nodis) {
            return Err(MarkingError::ExdisWithNodis);
        }
        self.validate_lists()?;
        if unclassified(self) && (!self.sci.is_empty() || !self.sap.is_empty()) {
            return Err(MarkingError::SciOnUnclassified);
        }
        for token in &self.sci {
            if let Some((parent, _)) = token.rsplit_once('-')
                && !sci(self, parent)
            {
                return Err(MarkingError::SciWithoutParent(token.clone(), parent.to_string()));
            }
        }
        match ISM_RULES.iter().find(|(_, _, broken)| broken(self)) {
            Some((id, requirement, _)) => Err(MarkingError::Ism(id, requirement)),
            None => Ok(()),
        }
    }

    /// REL TO's own rules (only on classified material, USA first, at least one other country) and each
    /// REL TO or DISPLAY ONLY entry once.
    fn validate_lists(&self) -> Result<(), MarkingError> {
        if !self.rel_to.is_empty() {
            if unclassified(self) {
                return Err(MarkingError::RelToBelowConfidential);
            }
            if self.rel_to[0] != "USA" {
                return Err(MarkingError::RelToWithoutUsaFirst);
            }
            if self.rel_to.len() == 1 {
                return Err(MarkingError::RelToUsaOnly);
            }
            if let Some(code) = repeated(&self.rel_to) {
                return Err(MarkingError::RelToRepeated(code.to_string()));
            }
        }
        if let Some(code) = repeated(&self.display_only) {
            return Err(MarkingError::DisplayOnlyRepeated(code.to_string()));
        }
        Ok(())
    }
}

/// The first entry listed twice.
fn repeated(codes: &[String]) -> Option<&str> {
    codes.iter().enumerate().find(|(index, code)| codes[..*index].contains(code)).map(|(_, code)| code.as_str())
}
