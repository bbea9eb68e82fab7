//! Handling markings: classification, dissemination controls, REL TO and TLP.
//!
//! This issue carries markings end to end; the router's marking enforcement builds on these types.

use super::Tetragraphs;

/// US classification levels, ordered so that `a >= b` means "a dominates b".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Classification {
    Unclassified,
    Confidential,
    Secret,
    TopSecret,
}

/// Dissemination controls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DisseminationControl {
    Noforn,
    Les,
    Fouo,
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
    /// Each control at most once, sorted.
    pub controls: Vec<DisseminationControl>,
    /// ISO 3166 alpha-3 trigraphs, uppercase, USA first.
    pub rel_to: Vec<String>,
    pub tlp: Option<Tlp>,
}

impl Markings {
    /// Unclassified with no controls: the markings of an example or test message.
    pub fn unclassified() -> Markings {
        Markings { classification: Classification::Unclassified, controls: Vec::new(), rel_to: Vec::new(), tlp: None }
    }
}

/// A combination of markings that is not allowed, named by its rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MarkingError {
    #[error("envelope.markings: NOFORN cannot be combined with REL TO")]
    NofornWithRelTo,
    #[error("envelope.markings.rel_to: REL TO requires CONFIDENTIAL or above")]
    RelToBelowConfidential,
    #[error("envelope.markings.rel_to: REL TO lists USA first")]
    RelToWithoutUsaFirst,
    #[error("envelope.markings.rel_to: REL TO needs at least one country besides USA")]
    RelToUsaOnly,
    #[error("envelope.markings.rel_to: {0} is listed twice")]
    RelToRepeated(String),
    #[error("envelope.markings.controls: FOUO is only valid on UNCLASSIFIED material")]
    FouoOnClassified,
}

impl Markings {
    pub fn has(&self, control: DisseminationControl) -> bool {
        self.controls.contains(&control)
    }

    /// Checks the combination rules: NOFORN excludes REL TO; REL TO only on CONFIDENTIAL and above, USA
    /// first and at least one other country; FOUO only on UNCLASSIFIED.
    pub fn validate(&self) -> Result<(), MarkingError> {
        if !self.rel_to.is_empty() {
            if self.has(DisseminationControl::Noforn) {
                return Err(MarkingError::NofornWithRelTo);
            }
            if self.classification < Classification::Confidential {
                return Err(MarkingError::RelToBelowConfidential);
            }
            if self.rel_to[0] != "USA" {
                return Err(MarkingError::RelToWithoutUsaFirst);
            }
            if self.rel_to.len() == 1 {
                return Err(MarkingError::RelToUsaOnly);
            }
            for (index, country) in self.rel_to.iter().enumerate() {
                if self.rel_to[..index].contains(country) {
                    return Err(MarkingError::RelToRepeated(country.clone()));
                }
            }
        }
        if self.has(DisseminationControl::Fouo) && self.classification > Classification::Unclassified {
            return Err(MarkingError::FouoOnClassified);
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn markings(classification: Classification, controls: &[DisseminationControl], rel_to: &[&str]) -> Markings {
        Markings {
            classification,
            controls: controls.to_vec(),
            rel_to: rel_to.iter().map(|country| country.to_string()).collect(),
            tlp: None,
        }
    }

    /// One row per combination rule of DOMAIN.md.
    #[test]
    fn combination_rules() {
        use Classification::*;
        use DisseminationControl::*;
        let cases: &[(Markings, Result<(), MarkingError>)] = &[
            (markings(Secret, &[], &["USA", "CAN"]), Ok(())),
            (markings(Secret, &[Noforn], &[]), Ok(())),
            (markings(Unclassified, &[Fouo, Les], &[]), Ok(())),
            (markings(Secret, &[Noforn], &["USA", "CAN"]), Err(MarkingError::NofornWithRelTo)),
            (markings(Unclassified, &[], &["USA", "CAN"]), Err(MarkingError::RelToBelowConfidential)),
            (markings(Secret, &[], &["USA"]), Err(MarkingError::RelToUsaOnly)),
            (markings(Secret, &[], &["CAN", "USA"]), Err(MarkingError::RelToWithoutUsaFirst)),
            (markings(Secret, &[], &["USA", "CAN", "CAN"]), Err(MarkingError::RelToRepeated("CAN".into()))),
            (markings(Confidential, &[Fouo], &[]), Err(MarkingError::FouoOnClassified)),
        ];
        for (markings, expected) in cases {
            assert_eq!(&markings.validate(), expected, "{markings:?}");
        }
    }
}
