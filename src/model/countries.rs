//! The countries a REL TO marking (and a person's nationality) may name: the trigraphs of ODNI's ISMCAT
//! REL TO vocabulary, generated at build time from the `ism` crate (ISO 3166-1 alpha-3 codes plus the
//! few the IC adds, such as `AX2`), not typed by hand.

include!(concat!(env!("OUT_DIR"), "/rel_to_countries.rs"));

/// True if `code` is a country of the vocabulary (exact, upper case).
pub fn is_country(code: &str) -> bool {
    COUNTRIES.binary_search(&code).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vocabulary_holds_the_countries_liaison_traffic_names() {
        for code in ["USA", "CAN", "GBR", "AUS", "NZL", "MEX", "DEU", "FRA", "JPN", "UKR"] {
            assert!(is_country(code), "{code}");
        }
        assert!(COUNTRIES.len() > 250 && COUNTRIES.len() < 400, "{}", COUNTRIES.len());
        assert!(COUNTRIES.windows(2).all(|pair| pair[0] < pair[1]), "sorted, each once");
    }

    #[test]
    fn made_up_codes_lowercase_and_tetragraphs_are_not_countries() {
        for code in ["AAA", "AAB", "ZZZ", "usa", "Usa", "FVEY", "US", "", "USA "] {
            assert!(!is_country(code), "{code:?}");
        }
    }
}
