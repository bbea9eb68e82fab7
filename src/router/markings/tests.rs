//! The holder checks, rule by rule, for a person and for a party: one table through one `check` helper.

use super::*;

/// A holder from a compact spec: clearance letter, nationality, `LE` when law-enforcement eligible.
fn holder(kind: HolderKind, spec: &str) -> Holder<'_> {
    let mut parts = spec.split(' ');
    let clearance = classification(parts.next().unwrap());
    let nationality = parts.next().unwrap();
    let law_enforcement = parts.next() == Some("LE");
    Holder { name: "someone", kind, clearance, nationality, law_enforcement }
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

/// Markings from a compact spec: classification letter, then `//`-separated `NF`, `LES`, `REL USA CAN`.
fn markings(spec: &str) -> Markings {
    let mut parts = spec.split("//");
    let mut markings = Markings { classification: classification(parts.next().unwrap()), ..Markings::unclassified() };
    for part in parts {
        match part {
            "NF" => markings.controls.push(DisseminationControl::Noforn),
            "LES" => markings.controls.push(DisseminationControl::Les),
            rel if rel.starts_with("REL ") => markings.rel_to = rel[4..].split(' ').map(str::to_string).collect(),
            other => panic!("bad marking {other}"),
        }
    }
    markings.controls.sort();
    markings.validate().expect("test markings are well-formed");
    markings
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
    check("S USA LE", "TS//REL USA CAN", "CLASSIFICATION");
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
    check("TS GBR LE", "S//REL USA CAN", "NOT_RELEASABLE");
    check("TS CAN", "S//REL USA CAN", "");
    check("TS USA", "S//REL USA CAN", "");
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
fn the_first_failing_rule_is_reported() {
    // Clearance before nationality, nationality before LES.
    check("C GBR", "S//NF//LES", "CLASSIFICATION");
    check("TS GBR", "S//NF//LES", "NOFORN");
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
