//! Handling markings: classification, dissemination controls, REL TO and TLP.
//!
//! This issue carries markings end to end; the router's marking enforcement builds on these types.

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
        Markings {
            classification: Classification::Unclassified,
            controls: Vec::new(),
            rel_to: Vec::new(),
            tlp: None,
        }
    }
}
