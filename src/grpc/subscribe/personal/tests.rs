//! The personal check, rule by rule: what the token states, and what it leaves to the party.

use super::*;
use crate::identity::Role;
use crate::model::{Classification, Token};
use crate::router::Router;

/// The attributes a token states; `None` leaves them to the party.
#[derive(Default, Clone, Copy)]
struct Claims {
    clearance: Option<Classification>,
    nationality: Option<&'static str>,
    law_enforcement: Option<bool>,
}

fn caller(party: &str, claims: Claims) -> Caller {
    Caller {
        party: Token::parse(party).unwrap(),
        role: Role::Analyst,
        subject: format!("{party}-analyst"),
        clearance: claims.clearance,
        nationality: claims.nationality.map(str::to_string),
        law_enforcement: claims.law_enforcement,
        accesses: None,
    }
}

fn envelope(
    classification: pb::Classification,
    controls: &[pb::DisseminationControl],
    rel_to: &[&str],
) -> pb::Envelope {
    pb::Envelope {
        markings: Some(pb::Markings {
            classification: classification as i32,
            controls: controls.iter().map(|control| *control as i32).collect(),
            rel_to: rel_to.iter().map(|country| country.to_string()).collect(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Checks a caller of `party` with `claims` (party looked up in the shipped directory) against an
/// envelope: withheld with a sentence containing `needle`, or delivered when `needle` is `None`.
fn check(party: &str, claims: Claims, envelope: &pb::Envelope, needle: Option<&str>) {
    let router = Router::embedded_default().unwrap();
    let caller = caller(party, claims);
    let directory_party = router.directory().get(&caller.party);
    let reason = withhold_reason(&caller, directory_party, router.directory().tetragraphs(), envelope);
    match (needle, &reason) {
        (None, None) => {}
        (Some(needle), Some(why)) if why.contains(needle) => {}
        _ => panic!("{party} with {:?}: expected {needle:?}, got {reason:?}", caller),
    }
}

use pb::Classification::{Confidential, Secret, TopSecret, Unclassified};
use pb::DisseminationControl::{Les, Noforn};

const GBR: Claims = Claims { clearance: None, nationality: Some("GBR"), law_enforcement: None };
const USA: Claims = Claims { clearance: None, nationality: Some("USA"), law_enforcement: None };

#[test]
fn a_foreign_national_gets_no_classified_material_without_rel_to() {
    check("ia", GBR, &envelope(Secret, &[], &[]), Some("only when marked REL TO"));
    check("ia", GBR, &envelope(Confidential, &[], &[]), Some("GBR"));
    check("ia", GBR, &envelope(Secret, &[], &["USA", "GBR"]), None);
    check("ia", GBR, &envelope(Unclassified, &[], &[]), None);
    check("ia", USA, &envelope(Secret, &[], &[]), None);
}

#[test]
fn noforn_is_withheld_from_a_foreign_national() {
    check("ia", GBR, &envelope(Secret, &[Noforn], &[]), Some("NOFORN: ia-analyst is a GBR national"));
    check("ia", GBR, &envelope(Unclassified, &[Noforn], &[]), Some("NOFORN"));
    check("ia", USA, &envelope(Secret, &[Noforn], &[]), None);
}

#[test]
fn a_rel_to_list_must_name_the_persons_nationality() {
    check("ia", GBR, &envelope(Secret, &[], &["USA", "CAN"]), Some("REL TO USA, CAN does not include GBR"));
    let can = Claims { nationality: Some("CAN"), ..Claims::default() };
    check("ia", can, &envelope(Secret, &[], &["USA", "CAN"]), None);
}

#[test]
fn clearance_must_dominate_the_classification() {
    let confidential = Claims { clearance: Some(Classification::Confidential), ..Claims::default() };
    check("ia", confidential, &envelope(Secret, &[], &[]), Some("personal clearance of ia-analyst"));
    check("ia", confidential, &envelope(Confidential, &[], &[]), None);
}

#[test]
fn les_needs_the_person_to_be_law_enforcement_eligible() {
    let not_eligible = Claims { law_enforcement: Some(false), ..Claims::default() };
    check("ia", not_eligible, &envelope(Unclassified, &[Les], &[]), Some("LES: ia-analyst"));
    check("ia", not_eligible, &envelope(Unclassified, &[], &[]), None);
    // The token's word counts over the party's: cisa is not eligible, this person is.
    let eligible = Claims { law_enforcement: Some(true), ..Claims::default() };
    check("cisa", eligible, &envelope(Unclassified, &[Les], &[]), None);
}

#[test]
fn a_token_without_claims_is_held_to_its_partys_attributes() {
    // ia: USA, top-secret, law-enforcement eligible.
    for envelope in [envelope(TopSecret, &[Noforn, Les], &[]), envelope(Secret, &[], &[])] {
        check("ia", Claims::default(), &envelope, None);
    }
    // can: a foreign party accredited to SECRET.
    check("can", Claims::default(), &envelope(Secret, &[], &[]), Some("CAN"));
    check("can", Claims::default(), &envelope(Secret, &[], &["USA", "CAN"]), None);
    check("can", Claims::default(), &envelope(TopSecret, &[], &["USA", "CAN"]), Some("TOP SECRET exceeds"));
    // cisa: not law-enforcement eligible.
    check("cisa", Claims::default(), &envelope(Unclassified, &[Les], &[]), Some("LES"));
    // A token attribute left unstated takes the party's; a stated one replaces it.
    check("can", USA, &envelope(Secret, &[Noforn], &[]), None);
}

#[test]
fn a_party_gone_from_the_directory_withholds_unless_the_token_states_everything() {
    let caller = caller("gone", Claims::default());
    let why = withhold_reason(&caller, None, &Tetragraphs::default(), &envelope(Unclassified, &[], &[])).unwrap();
    assert!(why.contains("not in the directory"), "{why}");
    let everything =
        Claims { clearance: Some(Classification::Secret), nationality: Some("USA"), law_enforcement: Some(false) };
    let mut caller = self::caller("gone", everything);
    let why = withhold_reason(&caller, None, &Tetragraphs::default(), &envelope(Secret, &[], &[])).unwrap();
    assert!(why.contains("states no accesses"), "{why}");
    caller.accesses = Some(crate::model::Accesses::default());
    assert_eq!(withhold_reason(&caller, None, &Tetragraphs::default(), &envelope(Secret, &[], &[])), None);
}

#[test]
fn unreadable_markings_are_withheld() {
    let router = Router::embedded_default().unwrap();
    let caller = caller("ia", Claims::default());
    let why = withhold_reason(
        &caller,
        router.directory().get(&caller.party),
        &Tetragraphs::default(),
        &pb::Envelope::default(),
    );
    assert_eq!(why.as_deref(), Some("its markings cannot be read"));
}

#[test]
fn a_tetragraph_releases_to_a_person_of_a_member_country_and_no_other() {
    let fvey = envelope(Secret, &[], &["USA", "FVEY"]);
    check("ia", GBR, &fvey, None);
    let mex = Claims { nationality: Some("MEX"), ..GBR };
    check("ia", mex, &fvey, Some("REL TO USA, FVEY does not include MEX"));
}
