//! Markings validation and the router's decision, from structured input: markings as the API carries them
//! (unknown enum values, repeats, REL TO of real and made-up codes), recipients and topics the shipped
//! directory knows and does not, every kind and precedence. Checks what no policy can change
//! (`check_routing`) and that the person-level holder checks agree with the party-level ones.
#![no_main]

use liaison::api as pb;
use liaison::grpc::fuzzing;
use liaison::model::{Classification, Kind, Precedence, RouteRequest, Token};
use liaison::router::{Holder, HolderKind, check_holder};
use liaison_fuzz::{COUNTRIES, assert_client_error, check_routing, party, router, word};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let markings = markings(u)?;
    let converted = fuzzing::markings(Some(&markings));
    // Person checks: any clearance, nationality and eligibility, on whatever markings were accepted.
    let holder_nationality = u.choose(COUNTRIES)?.to_string();
    let holder = Holder {
        name: "fuzz",
        kind: HolderKind::Person,
        clearance: *u.choose(&Classification::ALL)?,
        nationality: &holder_nationality,
        law_enforcement: u.arbitrary()?,
    };
    let markings = match converted {
        Err(error) => {
            assert_client_error(&error);
            return Ok(());
        }
        Ok(markings) => markings,
    };
    let router = router();
    let tetragraphs = router.directory().tetragraphs();
    let _ = check_holder(&markings, &holder, tetragraphs);
    let origin = party(u, router)?;
    // A party's own checks and the same attributes held by a person decide alike.
    let as_person = Holder { kind: HolderKind::Person, ..Holder::party(origin) };
    assert_eq!(
        check_holder(&markings, &Holder::party(origin), tetragraphs).map(|(reason, _)| reason),
        check_holder(&markings, &as_person, tetragraphs).map(|(reason, _)| reason)
    );
    let mut recipients = Vec::new();
    for _ in 0..u.int_in_range(0..=6)? {
        let recipient = match u.ratio(4, 5)? {
            true => party(u, router)?.id.clone(),
            false => match Token::parse(&word(u)?) {
                Ok(token) => token,
                Err(_) => continue,
            },
        };
        recipients.push(recipient);
    }
    let Ok(topic) = Token::parse(&word(u)?) else { return Ok(()) };
    let request = RouteRequest {
        origin: origin.id.clone(),
        recipients,
        kind: *u.choose(&Kind::ALL)?,
        topic,
        markings,
        precedence: *u.choose(&Precedence::ALL)?,
    };
    let earlier = vec![party(u, router)?.id.clone(), party(u, router)?.id.clone()];
    check_routing(router, &request, &earlier);
    Ok(())
}

/// Markings as a client may send them: enum values in and out of range, repeated controls, REL TO lists.
fn markings(u: &mut Unstructured<'_>) -> Result<pb::Markings> {
    let enumeration = |u: &mut Unstructured<'_>, known: i32| -> Result<i32> {
        match u.ratio(7, 8)? {
            true => u.int_in_range(0..=known),
            false => u.arbitrary(),
        }
    };
    let classification = enumeration(u, 4)?;
    let mut controls = Vec::new();
    for _ in 0..u.int_in_range(0..=4)? {
        controls.push(enumeration(u, 3)?);
    }
    let mut rel_to = Vec::new();
    for _ in 0..u.int_in_range(0..=5)? {
        rel_to.push(match u.int_in_range(0..=15)? {
            0 => u.arbitrary()?,
            // A tetragraph the shipped directory defines, and one it does not.
            1 => u.choose(&["FVEY", "NATO"])?.to_string(),
            _ => u.choose(COUNTRIES)?.to_string(),
        });
    }
    if u.ratio(1, 64)? {
        // Longer than the country list.
        rel_to = vec!["CAN".to_string(); 1000];
    }
    Ok(pb::Markings { classification, controls, rel_to, tlp: enumeration(u, 5)? })
}
