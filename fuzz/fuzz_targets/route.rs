//! Markings validation and the router's decision, from structured input: markings as the API carries them
//! (unknown enum values, repeats, REL TO of real and made-up codes, SCI tokens, banner lines put together
//! from real and broken fragments), recipients and topics the shipped
//! directory knows and does not, every kind and precedence. Checks what no policy can change
//! (`check_routing`) and that the person-level holder checks agree with the party-level ones.
#![no_main]

use liaison::api as pb;
use liaison::grpc::fuzzing;
use liaison::model::{Accesses, Classification, Kind, Precedence, RouteRequest, Token};
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
    let mut held = Vec::new();
    for _ in 0..u.int_in_range(0..=3)? {
        held.push(*u.choose(SCI)?);
    }
    let accesses = Accesses::parse(held.iter().filter(|token| **token != "XX")).unwrap_or_default();
    let holder = Holder {
        name: "fuzz",
        kind: HolderKind::Person,
        clearance: *u.choose(&Classification::ALL)?,
        nationality: &holder_nationality,
        law_enforcement: u.arbitrary()?,
        accesses: &accesses,
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
    if u.ratio(1, 3)? {
        return Ok(pb::Markings { banner: banner(u)?, tlp: enumeration(u, 5)?, ..Default::default() });
    }
    let classification = enumeration(u, 4)?;
    let mut controls = Vec::new();
    for _ in 0..u.int_in_range(0..=4)? {
        controls.push(enumeration(u, 16)?);
    }
    let mut sci = Vec::new();
    for _ in 0..u.int_in_range(0..=3)? {
        sci.push(u.choose(SCI)?.to_string());
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
    Ok(pb::Markings { classification, controls, rel_to, tlp: enumeration(u, 5)?, sci, ..Default::default() })
}

/// SCI tokens, published and not.
const SCI: &[&str] = &["SI", "SI-G", "SI-G-ABCD", "TK", "TK-BLFH", "HCS", "HCS-P", "RSV", "RSV-XYZ", "XX"];

/// A banner line of real fragments, separators and now and then arbitrary text.
fn banner(u: &mut Unstructured<'_>) -> Result<String> {
    const FRAGMENTS: &[&str] = &[
        "TOP SECRET",
        "SECRET",
        "CONFIDENTIAL",
        "UNCLASSIFIED",
        "TS",
        "S",
        "//",
        "//",
        "/",
        "-",
        " ",
        ", ",
        "SI",
        "G",
        "ABCD",
        "TK",
        "HCS-P",
        "SAR-BP",
        "ORCON",
        "OC",
        "NOFORN",
        "NF",
        "RELIDO",
        "REL TO USA, FVEY",
        "REL TO ",
        "USA",
        "CAN",
        "DISPLAY ONLY AFG",
        "EYES ONLY",
        "FISA",
        "PROPIN",
        "LES",
        "LES NOFORN",
        "SBU",
        "FOUO",
        "LIMDIS",
        "EXDIS",
        "NODIS",
    ];
    let mut line = String::new();
    for _ in 0..u.int_in_range(0..=12)? {
        match u.ratio(1, 16)? {
            true => line.push_str(u.arbitrary()?),
            false => line.push_str(u.choose(FRAGMENTS)?),
        }
    }
    Ok(line)
}
