//! Tetragraphs: four-letter codes that stand for a group of countries in a REL TO list (`FVEY`, `NATO`,
//! ...), with their members. ODNI's ISMCAT taxonomy gives them (generated at build time from the
//! `ism-ismcat` crate); the directory's `[tetragraphs]` add a deployment's own and replace a vocabulary
//! entry with a newer membership (NATO's list of 2022 lacks Finland and Sweden). A REL TO entry that is
//! neither a country of the ISM vocabulary nor a tetragraph in force is refused.

use std::collections::{BTreeMap, BTreeSet};

use super::countries;

include!(concat!(env!("OUT_DIR"), "/tetragraphs.rs"));

/// The tetragraphs in force and the countries each stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tetragraphs(BTreeMap<String, BTreeSet<String>>);

/// Why a tetragraph definition is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TetragraphError {
    #[error("{0:?}: a tetragraph is four capital letters")]
    BadCode(String),
    #[error("{0:?} is a country of the ISM vocabulary, not a tetragraph")]
    IsCountry(String),
    #[error("{0}: a tetragraph needs at least one member country")]
    NoMembers(String),
    #[error("{code}: member {member:?} is not a country of the ISM REL TO vocabulary")]
    UnknownMember { code: String, member: String },
    #[error("{code}: member {member} is listed twice")]
    RepeatedMember { code: String, member: String },
}

// === impl Tetragraphs ===

impl Default for Tetragraphs {
    /// The ISMCAT vocabulary's tetragraphs; one whose membership ODNI does not publish has no members.
    fn default() -> Tetragraphs {
        let vocabulary = TETRAGRAPHS.iter().map(|(code, members)| {
            (code.to_string(), members.iter().map(|member| member.to_string()).collect::<BTreeSet<_>>())
        });
        Tetragraphs(vocabulary.collect())
    }
}

impl Tetragraphs {
    /// The vocabulary's tetragraphs, with each definition added or replacing the vocabulary's. Validates
    /// each definition: a four-letter code that is not a country, and its member countries, each once.
    pub fn new(definitions: impl IntoIterator<Item = (String, Vec<String>)>) -> Result<Tetragraphs, TetragraphError> {
        let Tetragraphs(mut tetragraphs) = Tetragraphs::default();
        for (code, members) in definitions {
            if !Tetragraphs::is_code(&code) {
                return Err(TetragraphError::BadCode(code));
            }
            if countries::is_country(&code) {
                return Err(TetragraphError::IsCountry(code));
            }
            if members.is_empty() {
                return Err(TetragraphError::NoMembers(code));
            }
            let mut set = BTreeSet::new();
            for member in members {
                if !countries::is_country(&member) {
                    return Err(TetragraphError::UnknownMember { code, member });
                }
                if !set.insert(member.clone()) {
                    return Err(TetragraphError::RepeatedMember { code, member });
                }
            }
            tetragraphs.insert(code, set);
        }
        Ok(Tetragraphs(tetragraphs))
    }

    /// Shaped like a tetragraph: four ASCII capital letters.
    pub fn is_code(code: &str) -> bool {
        code.len() == 4 && code.bytes().all(|byte| byte.is_ascii_uppercase())
    }

    /// The member countries of `code`, if it is a tetragraph in force.
    pub fn members(&self, code: &str) -> Option<&BTreeSet<String>> {
        self.0.get(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn define(code: &str, members: &[&str]) -> Result<Tetragraphs, TetragraphError> {
        Tetragraphs::new([(code.to_string(), members.iter().map(|member| member.to_string()).collect())])
    }

    #[test]
    fn a_tetragraph_is_four_letters_that_are_not_a_country_standing_for_countries_each_once() {
        let local = define("LCLX", &["CAN", "MEX", "USA"]).unwrap();
        assert!(local.members("LCLX").unwrap().contains("MEX"));
        assert_eq!(local.members("ZZZZ"), None);
        assert_eq!(define("FVE", &["USA"]), Err(TetragraphError::BadCode("FVE".into())));
        assert_eq!(define("fvey", &["USA"]), Err(TetragraphError::BadCode("fvey".into())));
        assert_eq!(define("FVEY", &[]), Err(TetragraphError::NoMembers("FVEY".into())));
        let unknown = define("FVEY", &["USA", "XXX"]);
        assert_eq!(unknown, Err(TetragraphError::UnknownMember { code: "FVEY".into(), member: "XXX".into() }));
        let twice = define("FVEY", &["USA", "USA"]);
        assert_eq!(twice, Err(TetragraphError::RepeatedMember { code: "FVEY".into(), member: "USA".into() }));
    }

    #[test]
    fn the_vocabulary_gives_fvey_and_nato_their_members_and_the_directory_may_replace_them() {
        let vocabulary = Tetragraphs::default();
        let fvey: Vec<&str> = vocabulary.members("FVEY").unwrap().iter().map(String::as_str).collect();
        assert_eq!(fvey, ["AUS", "CAN", "GBR", "NZL", "USA"]);
        let nato = vocabulary.members("NATO").unwrap();
        assert!(nato.contains("DEU") && nato.contains("TUR") && !nato.contains("FIN") && !nato.contains("MEX"));
        assert!(TETRAGRAPHS.len() > 40, "{}", TETRAGRAPHS.len());
        let mut members: Vec<String> = nato.iter().cloned().collect();
        members.extend(["FIN".to_string(), "SWE".to_string()]);
        let versioned = Tetragraphs::new([("NATO".to_string(), members)]).unwrap();
        assert!(versioned.members("NATO").unwrap().contains("FIN"));
        assert_eq!(versioned.members("FVEY"), vocabulary.members("FVEY"), "the rest of the vocabulary stays");
    }
}
