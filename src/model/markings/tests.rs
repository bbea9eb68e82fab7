//! The markings model: the Register's banner table (`banners.tsv`), the combination rules, and the
//! property that a rendered banner parses back to the same markings.

use proptest::prelude::*;

use super::*;
use crate::model::countries::COUNTRIES;

/// Every row of `banners.tsv`: valid banners render canonically and parse back the same; invalid ones are
/// refused naming their rule. All failures are reported together.
#[test]
fn the_banner_table_parses_renders_and_refuses_by_rule() {
    let table = include_str!("banners.tsv");
    let (mut valid, mut invalid, mut failures) = (0, 0, Vec::new());
    for (number, line) in table.lines().enumerate().map(|(index, line)| (index + 1, line)) {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (input, expected) = line.split_once('\t').unwrap_or_else(|| panic!("banners.tsv:{number}: no tab"));
        let parsed = Markings::from_banner(input);
        if let Some(canonical) = expected.strip_prefix("= ") {
            valid += 1;
            match &parsed {
                Ok(markings) if markings.banner() == canonical => {
                    let again = Markings::from_banner(canonical);
                    if again.as_ref() != Ok(markings) {
                        failures.push(format!("{number}: {canonical:?} parses to {again:?}, not {markings:?}"));
                    }
                }
                Ok(markings) => failures.push(format!("{number}: {input:?} renders {:?}", markings.banner())),
                Err(error) => failures.push(format!("{number}: {input:?} refused: {error}")),
            }
        } else if let Some(rule) = expected.strip_prefix("! ") {
            invalid += 1;
            match &parsed {
                Err(error) if error.rule() == rule => {
                    assert!(error.to_string().contains(rule), "{number}: the message names the rule: {error}");
                }
                Err(error) => {
                    failures.push(format!("{number}: {input:?} refused by {} not {rule}: {error}", error.rule()))
                }
                Ok(markings) => failures.push(format!("{number}: {input:?} accepted as {:?}", markings.banner())),
            }
        } else {
            panic!("banners.tsv:{number}: expected \"= CANONICAL\" or \"! RULE\"");
        }
    }
    assert!(failures.is_empty(), "{} of {} rows fail:\n{}", failures.len(), valid + invalid, failures.join("\n"));
    assert!(valid >= 55 && invalid >= 45, "{valid} valid and {invalid} invalid rows");
}

#[test]
fn structured_markings_keep_todays_rules() {
    use Classification::*;
    use DisseminationControl::*;
    let markings = |classification, controls: &[DisseminationControl], rel_to: &[&str]| {
        let mut markings = Markings { classification, controls: controls.to_vec(), ..Markings::unclassified() };
        markings.rel_to = rel_to.iter().map(|country| country.to_string()).collect();
        markings.canonicalize();
        markings.validate().map_err(|error| error.rule())
    };
    assert_eq!(markings(Secret, &[], &["USA", "CAN"]), Ok(()));
    assert_eq!(markings(Secret, &[Noforn], &[]), Ok(()));
    assert_eq!(markings(Unclassified, &[Fouo, Les], &[]), Ok(()));
    assert_eq!(markings(Secret, &[Noforn], &["USA", "CAN"]), Err("noforn-rel"));
    assert_eq!(markings(Unclassified, &[], &["USA", "CAN"]), Err("rel-to-classified"));
    assert_eq!(markings(Secret, &[], &["USA"]), Err("rel-to-usa-only"));
    assert_eq!(markings(Secret, &[], &["CAN", "USA"]), Err("rel-to-usa-first"));
    assert_eq!(markings(Secret, &[], &["USA", "CAN", "CAN"]), Err("repeated"));
    assert_eq!(markings(Confidential, &[Fouo], &[]), Err("ISM-ID-00030"));
    assert_eq!(markings(Secret, &[Orcon, Relido], &[]), Err("orcon-relido"));
}

#[test]
fn a_compartment_needs_its_control_system_in_the_structured_form() {
    let mut markings = Markings { classification: Classification::TopSecret, ..Markings::unclassified() };
    markings.sci = vec!["SI-G".into()];
    markings.controls = vec![DisseminationControl::Orcon];
    assert_eq!(markings.validate().map_err(|error| error.rule()), Err("ISM-ID-00388"));
    markings.sci = vec!["SI".into(), "SI-G".into()];
    assert_eq!(markings.validate(), Ok(()));
    assert_eq!(markings.banner(), "TOP SECRET//SI-G//ORCON");
}

#[test]
fn canonical_rel_to_is_usa_then_trigraphs_then_tetragraphs() {
    let markings = Markings::from_banner("SECRET//REL TO USA, NATO, GBR, FVEY, CAN").unwrap();
    assert_eq!(markings.rel_to, ["USA", "CAN", "GBR", "FVEY", "NATO"]);
    assert_eq!(markings.banner(), "SECRET//REL TO USA, CAN, GBR, FVEY, NATO");
}

#[test]
fn the_controls_that_include_noforn_and_les_say_so() {
    let les_noforn = Markings::from_banner("SECRET//LES NOFORN").unwrap();
    assert!(les_noforn.noforn() && les_noforn.law_enforcement_sensitive());
    let sbu_noforn = Markings::from_banner("UNCLASSIFIED//SBU NOFORN").unwrap();
    assert!(sbu_noforn.noforn() && !sbu_noforn.law_enforcement_sensitive());
    let fvey = Markings::from_banner("SECRET//REL TO USA, FVEY//LES").unwrap();
    assert!(!fvey.noforn() && fvey.law_enforcement_sensitive());
}

#[test]
fn a_banner_longer_than_the_limit_is_refused_without_parsing() {
    let long = format!("SECRET//REL TO USA{}", ", CAN".repeat(MAX_BANNER_LEN));
    assert_eq!(Markings::from_banner(&long).map_err(|error| error.rule()), Err("syntax"));
}

/// Markings built field by field from the vocabularies; most break a rule and are skipped.
fn any_markings() -> impl Strategy<Value = Markings> {
    let sci = prop::sample::subsequence(banner::SCI_CONTROLS.to_vec(), 0..4);
    let controls = prop::sample::subsequence(DisseminationControl::ALL.to_vec(), 0..4);
    let countries = prop::sample::subsequence(COUNTRIES.to_vec(), 0..4);
    let tetragraphs = prop::sample::subsequence(vec!["FVEY", "NATO", "ACGU", "TEYE"], 0..3);
    let display = prop::sample::subsequence(COUNTRIES.to_vec(), 0..3);
    let sap = prop::sample::subsequence(vec!["BP", "GB", "BUTTERED POPCORN", "X1"], 0..3);
    let sub = prop::option::of("[A-Z0-9]{1,6}");
    (0..4usize, sci, sub, sap, controls, countries, tetragraphs, display).prop_map(
        |(level, sci, sub, sap, controls, countries, tetragraphs, display)| {
            let mut sci: Vec<String> = sci.into_iter().map(str::to_string).collect();
            let with_parents: Vec<String> =
                sci.iter().filter_map(|token| Some(token.split_once('-')?.0.to_string())).collect();
            sci.extend(with_parents);
            if let (Some(sub), Some(compartment)) = (sub, sci.iter().find(|token| token.contains('-')).cloned()) {
                sci.push(format!("{compartment}-{sub}"));
            }
            let mut rel_to: Vec<String> = Vec::new();
            if !countries.is_empty() || !tetragraphs.is_empty() {
                rel_to.push("USA".into());
                rel_to.extend(countries.into_iter().filter(|country| *country != "USA").map(str::to_string));
                rel_to.extend(tetragraphs.into_iter().map(str::to_string));
            }
            let mut markings = Markings {
                classification: Classification::ALL[level],
                sci,
                sap: sap.into_iter().map(str::to_string).collect(),
                controls,
                rel_to,
                display_only: display.into_iter().map(str::to_string).collect(),
                tlp: None,
            };
            markings.canonicalize();
            markings
        },
    )
}

proptest! {
    // Most generated combinations break a rule and are skipped.
    #![proptest_config(ProptestConfig { cases: 400, max_global_rejects: 100_000, ..ProptestConfig::default() })]

    /// Rendering parsed markings gives their canonical banner, and parsing that gives the same markings.
    #[test]
    fn a_rendered_banner_parses_back_to_the_same_markings(markings in any_markings()) {
        prop_assume!(markings.validate().is_ok());
        let banner = markings.banner();
        let parsed = Markings::from_banner(&banner);
        prop_assert_eq!(parsed.as_ref(), Ok(&markings), "{}", banner);
        prop_assert_eq!(parsed.unwrap().banner(), banner);
    }

    /// Whatever the text, parsing answers (markings or a rule) and never panics.
    #[test]
    fn any_text_is_parsed_or_refused_by_rule(line in "[A-Z0-9 /,-]{0,80}|(TOP SECRET|SECRET|S|U)//[A-Z /,-]{0,60}") {
        match Markings::from_banner(&line) {
            Ok(markings) => prop_assert_eq!(Markings::from_banner(&markings.banner()), Ok(markings)),
            Err(error) => prop_assert!(!error.rule().is_empty()),
        }
    }
}
