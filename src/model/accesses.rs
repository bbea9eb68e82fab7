//! Accesses: the SCI control systems, compartments and special access programs a party or a person is
//! read into (`SI`, `SI-G`, `TK`, `SAR-BP`). A message carrying SCI or SAP markings reaches only a holder
//! whose accesses include every one of them; being read into a compartment includes its control system.

use std::borrow::Cow;

use super::Markings;
use super::markings::sci_token_error;

/// The most accesses one holder may list.
pub const MAX_ACCESSES: usize = 256;

/// A holder's accesses, sorted, each SCI compartment with its control system.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accesses(Vec<String>);

// === impl Accesses ===

impl Accesses {
    /// Validates each entry (a published SCI token such as `SI-G` or `SI-G-ABCD`, or `SAR-` and a program
    /// identifier) and adds the control system and compartment each SCI entry belongs to.
    pub fn parse<S: AsRef<str>>(entries: impl IntoIterator<Item = S>) -> Result<Accesses, String> {
        let mut accesses = Vec::new();
        for entry in entries {
            let entry = entry.as_ref();
            if accesses.len() >= MAX_ACCESSES {
                return Err(format!("more than {MAX_ACCESSES} accesses"));
            }
            if let Some(program) = entry.strip_prefix("SAR-") {
                let words_ok = program.split(' ').all(|word| {
                    !word.is_empty() && word.bytes().all(|byte| byte.is_ascii_uppercase() || byte.is_ascii_digit())
                });
                if !words_ok || program.len() > 64 {
                    return Err(format!("{entry:?} is not SAR- and a special access program identifier"));
                }
                accesses.push(entry.to_string());
                continue;
            }
            if sci_token_error(entry).is_some() {
                return Err(format!(
                    "{entry:?} is neither a published SCI control system or compartment (SI, SI-G, TK ...) nor \
                     SAR- and a program identifier"
                ));
            }
            let mut prefix = 0;
            for part in entry.split('-') {
                prefix += part.len();
                accesses.push(entry[..prefix].to_string());
                prefix += 1;
            }
        }
        accesses.sort_unstable();
        accesses.dedup();
        Ok(Accesses(accesses))
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The accesses `markings` need that these do not include, in the markings' order.
    pub fn missing<'m>(&self, markings: &'m Markings) -> Vec<Cow<'m, str>> {
        markings
            .accesses()
            .filter(|needed| self.0.binary_search_by(|held| held.as_str().cmp(needed)).is_err())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_compartment_brings_its_control_system_and_programs_are_named_with_sar() {
        let accesses = Accesses::parse(["SI-G-ABCD", "TK", "SAR-BP"]).unwrap();
        assert_eq!(accesses.iter().collect::<Vec<_>>(), ["SAR-BP", "SI", "SI-G", "SI-G-ABCD", "TK"]);
        for bad in ["XX", "SI-ZZ", "si", "SAR-", "SAR-bp", "SI-G-TOOLONG7", ""] {
            assert!(Accesses::parse([bad]).is_err(), "{bad:?}");
        }
        assert!(Accesses::parse((0..=MAX_ACCESSES).map(|n| format!("SAR-P{n}"))).is_err());
    }

    #[test]
    fn a_holder_misses_every_compartment_and_program_it_is_not_read_into() {
        let markings = Markings::from_banner("TOP SECRET//SI-G ABCD/TK//SAR-BP//ORCON/NOFORN").unwrap();
        let analyst = Accesses::parse(["SI-G", "TK"]).unwrap();
        assert_eq!(analyst.missing(&markings), ["SI-G-ABCD", "SAR-BP"]);
        let read_in = Accesses::parse(["SI-G-ABCD", "TK", "SAR-BP"]).unwrap();
        assert!(read_in.missing(&markings).is_empty());
        assert!(Accesses::default().missing(&Markings::from_banner("SECRET//NOFORN").unwrap()).is_empty());
    }
}
