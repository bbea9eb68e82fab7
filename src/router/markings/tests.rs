//! The holder checks, rule by rule, for a person and for a party: one table through one `check` helper.

use super::*;

/// A holder from a compact spec: clearance letter, nationality, then `LE` when law-enforcement eligible
/// and the accesses, comma-separated (`TS USA LE SI-G,TK`).
fn holder(kind: HolderKind, spec: &str) -> Holder<'static> {
    let mut parts = spec.split(' ');
    let clearance = classification(parts.next().unwrap());
    let nationality: &'static str = Box::leak(parts.next().unwrap().to_string().into_boxed_str());
    let (mut law_enforcement, mut accesses) = (false, Accesses::default());
    for part in parts {
        match part {
            "LE" => law_enforcement = true,
            list => accesses = Accesses::parse(list.split(',')).unwrap(),
        }
    }
    let accesses = Box::leak(Box::new(accesses));
    Holder { name: "someone", kind, clearance, nationality, law_enforcement, accesses }
}

fn classification(letter: &str) -> Classification {
    match letter {
        "U" => Classification::Unclassified,
        "C" => Classification::Confidential,
        "S" => Classification::Secret,
        "TS" => Classification::TopSecret,
        other => panic!("bad classification {other}"),
    }
}

/// Markings from a banner line.
fn markings(banner: &str) -> Markings {
    Markings::from_banner(banner).expect("test markings are well-formed")
}

/// Checks `holder_spec` against `markings_spec` as a person and as a party: both must come to `expected`
/// (a reason code, or "" when allowed).
fn check(holder_spec: &str, markings_spec: &str, expected: &str) {
    for kind in [HolderKind::Person, HolderKind::Party] {
        let outcome = check_holder(&markings(markings_spec), &holder(kind, holder_spec), &Tetragraphs::default());
        let code = outcome.as_ref().map(|(reason, _)| reason.code()).unwrap_or_default();
        assert_eq!(code, expected, "{kind:?} {holder_spec} holding {markings_spec}: {outcome:?}");
        if let Some((_, why)) = outcome {
            assert!(why.contains("someone"), "the sentence names the holder: {why}");
        }
    }
}

#[test]
fn clearance_must_dominate_the_classification() {
    check("C USA LE", "S", "CLASSIFICATION");
    check("S USA LE", "TS//REL TO USA, CAN", "CLASSIFICATION");
    check("S USA", "S", "");
    check("U USA", "U", "");
}

#[test]
fn noforn_only_to_usa() {
    check("TS GBR LE", "S//NF", "NOFORN");
    check("TS GBR LE", "U//NF", "NOFORN");
    check("TS USA", "S//NF", "");
}

#[test]
fn a_rel_to_list_must_name_the_nationality() {
    check("TS GBR LE", "S//REL TO USA, CAN", "NOT_RELEASABLE");
    check("TS CAN", "S//REL TO USA, CAN", "");
    check("TS USA", "S//REL TO USA, CAN", "");
}

#[test]
fn classified_material_without_rel_to_stays_with_usa() {
    check("TS GBR LE", "C", "NOT_RELEASABLE");
    check("TS GBR LE", "S", "NOT_RELEASABLE");
    check("TS GBR", "U", "");
    check("TS USA", "S", "");
}

#[test]
fn les_needs_law_enforcement_eligibility() {
    check("TS USA", "U//LES", "LES");
    check("TS USA LE", "U//LES", "");
    check("TS USA", "U", "");
}

#[test]
fn a_tetragraph_releases_to_its_members_only() {
    check("TS CAN", "S//REL TO USA, FVEY", "");
    check("TS GBR", "S//REL TO USA, FVEY", "");
    check("TS MEX", "S//REL TO USA, FVEY", "NOT_RELEASABLE");
    check("TS MEX", "S//REL TO USA, MEX, FVEY", "");
}

#[test]
fn the_non_ic_controls_that_include_noforn_or_les_stop_as_those_do() {
    check("TS GBR LE", "S//REL TO USA, GBR//LES", "");
    check("TS GBR LE", "U//LES NOFORN", "NOFORN");
    check("TS USA", "U//LES NOFORN", "LES");
    check("TS GBR", "U//SBU NOFORN", "NOFORN");
    check("TS USA", "U//SBU NOFORN", "");
}

#[test]
fn compartments_and_programs_need_every_access() {
    check("TS USA SI,TK", "TS//SI-G/TK//ORCON/NOFORN", "ACCESS");
    check("TS USA SI-G,TK", "TS//SI-G/TK//ORCON/NOFORN", "");
    check("TS USA SI-G", "TS//SI-G/TK//ORCON/NOFORN", "ACCESS");
    check("TS USA SI-G-ABCD,TK", "TS//SI-G ABCD/TK//ORCON/NOFORN", "");
    check("TS USA SI-G,TK", "TS//SI-G ABCD/TK//ORCON/NOFORN", "ACCESS");
    check("S USA", "S//SAR-BP//NOFORN", "ACCESS");
    check("S USA SAR-BP", "S//SAR-BP//NOFORN", "");
    check("TS USA", "TS//NOFORN", "");
}

#[test]
fn a_missing_access_is_named_with_the_banner() {
    let (reason, why) = check_holder(
        &markings("TOP SECRET//SI-G ABCD/TK//SAR-BP//ORCON/NOFORN"),
        &holder(HolderKind::Person, "TS USA SI-G,TK"),
        &Tetragraphs::default(),
    )
    .unwrap();
    assert_eq!(reason, DenialReason::Access);
    assert_eq!(why, "someone is not read into SI-G-ABCD, SAR-BP (TOP SECRET//SI-G ABCD/TK//SAR-BP//ORCON/NOFORN)");
}

#[test]
fn the_first_failing_rule_is_reported() {
    // Clearance before nationality, nationality before LES.
    check("C GBR", "S//NF//LES", "CLASSIFICATION");
    check("TS GBR", "S//NF//LES", "NOFORN");
    // LES before accesses.
    check("TS USA", "TS//SI//NF//LES", "LES");
}

#[test]
fn a_person_is_worded_as_a_person() {
    let person = holder(HolderKind::Person, "TS GBR");
    let (_, why) = check_holder(&markings("S//NF"), &person, &Tetragraphs::default()).unwrap();
    assert_eq!(why, "NOFORN: someone is a GBR national, not USA");
    let (_, why) =
        check_holder(&markings("TS"), &holder(HolderKind::Person, "S USA"), &Tetragraphs::default()).unwrap();
    assert_eq!(why, "TOP SECRET exceeds the personal clearance of someone (SECRET)");
    let (_, why) = check_holder(&markings("TS"), &holder(HolderKind::Party, "S USA"), &Tetragraphs::default()).unwrap();
    assert_eq!(why, "TOP SECRET exceeds the accreditation of someone (SECRET)");
}
