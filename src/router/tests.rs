//! Router decisions over the seed topology, as a table through one `check` helper, plus policy-language
//! and file-error cases.

use super::*;
use crate::model::{Classification, DisseminationControl, Markings, Precedence, RouteRequest, Tlp, Token};

fn party(id: &str) -> PartyId {
    Token::parse(id).unwrap()
}

/// Markings from a compact spec: classification letter (U, C, S, TS), then `//`-separated controls:
/// `NF`, `LES`, `FOUO`, `OC`, `OC-USGOV`, `REL USA CAN`, `TLP:RED`, `TLP:AMBER+STRICT`, `TLP:AMBER`, `TLP:GREEN`, `TLP:CLEAR`.
fn markings(spec: &str) -> Markings {
    let mut parts = spec.split("//");
    let classification = match parts.next().unwrap() {
        "U" => Classification::Unclassified,
        "C" => Classification::Confidential,
        "S" => Classification::Secret,
        "TS" => Classification::TopSecret,
        other => panic!("bad classification {other}"),
    };
    let mut markings = Markings { classification, ..Markings::unclassified() };
    for part in parts {
        match part {
            "NF" => markings.controls.push(DisseminationControl::Noforn),
            "LES" => markings.controls.push(DisseminationControl::Les),
            "FOUO" => markings.controls.push(DisseminationControl::Fouo),
            "OC" => markings.controls.push(DisseminationControl::Orcon),
            "RELIDO" => markings.controls.push(DisseminationControl::Relido),
            "OC-USGOV" => markings.controls.push(DisseminationControl::OrconUsgov),
            "TLP:RED" => markings.tlp = Some(Tlp::Red),
            "TLP:AMBER+STRICT" => markings.tlp = Some(Tlp::AmberStrict),
            "TLP:AMBER" => markings.tlp = Some(Tlp::Amber),
            "TLP:GREEN" => markings.tlp = Some(Tlp::Green),
            "TLP:CLEAR" => markings.tlp = Some(Tlp::Clear),
            rel if rel.starts_with("REL ") => {
                markings.rel_to = rel[4..].split(' ').map(str::to_string).collect();
            }
            other => panic!("bad marking {other}"),
        }
    }
    markings.validate().expect("test markings are well-formed");
    markings
}

fn request(origin: &str, recipients: &[&str], topic: &str, spec: &str) -> RouteRequest {
    RouteRequest {
        origin: party(origin),
        recipients: recipients.iter().map(|id| party(id)).collect(),
        kind: Kind::Report,
        topic: party(topic),
        markings: markings(spec),
        precedence: Precedence::Routine,
    }
}

/// Outcomes as `party` (delivered) or `party:REASON` (denied).
fn summary(routing: &Routing) -> Vec<String> {
    routing
        .outcomes
        .iter()
        .map(|outcome| match outcome {
            Outcome::Deliver(approval) => approval.recipient().to_string(),
            Outcome::Deny(denial) => format!("{}:{}", denial.recipient, denial.reason.code()),
            Outcome::Hold(hold) => format!("{}:HELD", hold.recipient),
        })
        .collect()
}

/// Routes with the shipped default directory and policy and compares the outcomes.
fn check(origin: &str, recipients: &[&str], topic: &str, spec: &str, expected: &[&str]) {
    let router = Router::embedded_default().unwrap();
    let routing = router.route(&request(origin, recipients, topic, spec)).unwrap();
    assert_eq!(summary(&routing), expected, "{origin} -> {recipients:?} on {topic} marked {spec}");
}

#[test]
fn host_agencies_and_the_hub() {
    check("cbp", &["ia"], "border-security", "U", &["ia"]);
    check("ia", &["cbp", "fbi", "nsa"], "counter-terrorism", "TS", &["cbp", "fbi", "nsa"]);
    check("jsoc", &["ia"], "counter-terrorism", "S", &["ia"]);
    check("cbp", &["fbi"], "border-security", "U", &["fbi:NO_ROUTE"]);
    check("cbp", &["ia", "nobody"], "border-security", "U", &["ia", "nobody:UNKNOWN_PARTY"]);
    check("cbp", &["cbp"], "border-security", "U", &["cbp:SELF_ADDRESSED"]);
    check("cbp", &["ia", "ia"], "border-security", "U", &["ia"]);
}

#[test]
fn mission_centers_only_through_ia() {
    check("ia", &["ia-mc-ct"], "counter-terrorism", "TS", &["ia-mc-ct"]);
    check("ia-mc-ct", &["ia"], "counter-terrorism", "TS", &["ia"]);
    check("ia-mc-ct", &["fbi"], "counter-terrorism", "S", &["fbi:NO_ROUTE"]);
    check("cbp", &["ia-mc-toc"], "narcotics", "U", &["ia-mc-toc:NO_ROUTE"]);
}

#[test]
fn host_to_host_only_through_the_ia_relay() {
    check("cbp", &["ice"], "money-laundering", "U", &["ice:RELAY_REQUIRED"]);
    check("cbp", &["ice", "ia"], "money-laundering", "U", &["ice", "ia"]);
    check("cbp", &["ia", "ice"], "cyber-crime", "U", &["ia", "ice:RULE_LIMITS"]);
    check("fbi", &["nctc", "ia"], "counter-terrorism", "S", &["nctc", "ia"]);
    check("ia", &["ice"], "money-laundering", "U", &["ice"]);
}

#[test]
fn field_agencies_their_fusion_center_and_ia() {
    check("nypd", &["fc-ny"], "narcotics", "U//LES", &["fc-ny"]);
    check("nypd", &["fc-tx", "ia"], "narcotics", "U", &["fc-tx:NO_ROUTE", "ia:NO_ROUTE"]);
    check("fc-ny", &["ia", "nypd"], "narcotics", "U//LES", &["ia", "nypd"]);
    check("fc-ny", &["nypd"], "narcotics", "S", &["nypd:CLASSIFICATION"]);
    check("ia", &["fc-tx"], "human-smuggling", "S", &["fc-tx"]);
    check("ia", &["fc-tx"], "human-smuggling", "TS", &["fc-tx:CLASSIFICATION"]);
}

#[test]
fn foreign_partners_only_for_material_released_to_them() {
    // Uncaveated classified material is RELIDO by default: held for a disclosure officer, not denied.
    check("ia", &["can"], "border-security", "S", &["can:HELD"]);
    check("ia", &["gbr"], "counter-terrorism", "S//REL USA CAN//RELIDO", &["gbr:HELD"]);
    check("ia", &["can"], "border-security", "S//REL USA CAN", &["can"]);
    check("ia", &["gbr"], "counter-terrorism", "S//REL USA CAN", &["gbr:NOT_RELEASABLE"]);
    check("ia", &["can"], "border-security", "S//NF", &["can:NOFORN"]);
    check("ia", &["mex"], "narcotics", "S//REL USA MEX", &["mex:CLASSIFICATION"]);
    check("ia", &["mex"], "narcotics", "C//REL USA MEX", &["mex"]);
    check("ia", &["can"], "border-security", "U", &["can:NOT_RELEASABLE"]);
    check("ia", &["can"], "border-security", "U//TLP:GREEN", &["can"]);
    check("ia", &["can"], "border-security", "U//NF//TLP:GREEN", &["can:NOFORN"]);
    check("can", &["ia"], "border-security", "S//REL USA CAN", &["ia"]);
    check("can", &["cbp"], "border-security", "U", &["cbp:NO_ROUTE"]);
}

#[test]
fn a_tetragraph_in_rel_to_releases_to_its_member_countries_only() {
    check("ia", &["can"], "border-security", "S//REL USA FVEY", &["can"]);
    check("ia", &["gbr"], "counter-terrorism", "S//REL USA FVEY", &["gbr"]);
    check("ia", &["mex"], "narcotics", "C//REL USA FVEY", &["mex:NOT_RELEASABLE"]);
    check("ia", &["mex"], "narcotics", "C//REL USA FVEY MEX", &["mex"]);
    let router = Router::embedded_default().unwrap();
    let undefined = router.route(&request("ia", &["can"], "border-security", "S//REL USA FIVE")).unwrap_err();
    assert!(matches!(&undefined, RouteError::UnknownTetragraph(code) if code == "FIVE"), "{undefined:?}");
    assert_eq!(
        undefined.to_string(),
        "envelope.markings.rel_to: FIVE is not a tetragraph of the ISM vocabulary nor one the directory defines \
         (see its [tetragraphs])"
    );
    // The vocabulary's NATO: CAN is a member, MEX is not.
    check("ia", &["can"], "border-security", "S//REL USA NATO", &["can"]);
    check("ia", &["mex"], "narcotics", "C//REL USA NATO", &["mex:NOT_RELEASABLE"]);
}

#[test]
fn the_directory_refuses_a_tetragraph_that_is_not_four_capitals_standing_for_countries() {
    let party =
        "[[party]]\nid = \"ia\"\nname = \"I&A\"\nkind = \"hub\"\nnationality = \"USA\"\nclearance = \"secret\"\n";
    for (table, message) in [
        ("FVEY = [\"USA\", \"XXX\"]", "FVEY: member \"XXX\" is not a country of the ISM REL TO vocabulary"),
        ("Fvey = [\"USA\"]", "\"Fvey\": a tetragraph is four capital letters"),
        ("EMPT = []", "EMPT: a tetragraph needs at least one member country"),
    ] {
        let directory = format!("{party}\n[tetragraphs]\n{table}\n");
        let error = Router::load(("directory.toml", &directory), ("policy.toml", "")).unwrap_err();
        assert_eq!(error.to_string(), format!("directory.toml:8: tetragraphs: {message}"), "{table}");
    }
}

#[test]
fn les_and_accreditation() {
    check("cbp", &["ia"], "border-security", "U//LES", &["ia"]);
    check("ia", &["cisa", "fbi"], "cyber-crime", "U//LES", &["cisa:LES", "fbi"]);
    check("ia", &["fema"], "emergency-management", "TS", &["fema:CLASSIFICATION"]);
    check("ia", &["fema"], "emergency-management", "S", &["fema"]);
}

#[test]
fn tlp() {
    check("cbp", &["ia"], "border-security", "U//TLP:RED", &["ia"]);
    check("hsi-tfcu", &["ice", "ia"], "money-laundering", "U//TLP:AMBER+STRICT", &["ice", "ia:TLP"]);
    check("ia", &["ia-mc-toc", "cbp"], "narcotics", "U//TLP:AMBER+STRICT", &["ia-mc-toc", "cbp:TLP"]);
    check("ia", &[], "emergency-management", "U//TLP:RED", &["fema:TLP", "hsi-jioc:TLP"]);
}

#[test]
fn route_by_policy_follows_rules_and_topics_of_interest() {
    check("cbp", &[], "border-security", "U", &["ia"]);
    check(
        "ia",
        &[],
        "human-smuggling",
        "U//TLP:GREEN",
        &["ia-mc-toc", "cbp", "ice", "uscg", "southcom", "hsi-iiu", "hsi-jioc", "fc-tx", "fc-ca", "mex"],
    );
    // Markings still apply to parties the rules select; they are reported, not dropped.
    check(
        "ia",
        &[],
        "narcotics",
        "TS",
        &[
            "ia-mc-toc",
            "cbp",
            "ice",
            "uscg",
            "southcom",
            "hsi-jioc",
            "fc-ny:CLASSIFICATION",
            "fc-tx:CLASSIFICATION",
            "can:CLASSIFICATION",
            "mex:CLASSIFICATION",
        ],
    );
    // A relay rule selects its recipients only when the relay receives the message: cbp's fan-out on
    // money-laundering reaches ia and, through it, ice.
    check("cbp", &[], "money-laundering", "U", &["ia", "ice"]);
}

#[test]
fn every_decision_carries_the_policy_version_and_rule() {
    let router = Router::embedded_default().unwrap();
    let routing = router.route(&request("cbp", &["ia", "fbi"], "border-security", "U")).unwrap();
    assert_eq!(&*routing.policy_version, router.version());
    assert_eq!(router.version().len(), 12);
    let Outcome::Deliver(approval) = &routing.outcomes[0] else { panic!("ia delivered") };
    assert_eq!(approval.rule(), "host-reporting-to-ia");
    assert!(approval.basis().contains("liaison officers"));
    let Outcome::Deny(denial) = &routing.outcomes[1] else { panic!("fbi denied") };
    assert!(denial.explanation.contains(router.version()), "{}", denial.explanation);
}

/// A change to a request.
type Change = fn(&mut RouteRequest);

fn custom(policy: &str) -> Router {
    Router::load(("directory.toml", DEFAULT_DIRECTORY), ("policy.toml", policy)).unwrap()
}

#[test]
fn rule_limits_kind_topic_classification_precedence() {
    let router = custom(
        r#"
        [[rule]]
        name = "flash-alerts"
        basis = "test"
        from = ["cbp"]
        to = ["ia"]
        kinds = ["alert"]
        topics = ["border-security"]
        max-classification = "confidential"
        precedences = ["flash"]
        "#,
    );
    let mut request = request("cbp", &["ia"], "border-security", "C");
    request.kind = Kind::Alert;
    request.precedence = Precedence::Flash;
    assert_eq!(summary(&router.route(&request).unwrap()), ["ia"]);
    let cases: [(&str, Change); 4] = [
        ("kinds other than report", |request| request.kind = Kind::Report),
        ("topics other than narcotics", |request| request.topic = party("narcotics")),
        ("material above CONFIDENTIAL", |request| request.markings.classification = Classification::Secret),
        ("ROUTINE precedence", |request| request.precedence = Precedence::Routine),
    ];
    for (phrase, change) in cases {
        let mut limited = request.clone();
        change(&mut limited);
        let routing = router.route(&limited).unwrap();
        let Outcome::Deny(denial) = &routing.outcomes[0] else { panic!("{phrase}: expected a denial") };
        assert_eq!(denial.reason, DenialReason::RuleLimits, "{phrase}");
        assert!(denial.explanation.contains(phrase), "{phrase}: {}", denial.explanation);
        assert_eq!(denial.rule.as_deref(), Some("flash-alerts"));
    }
}

#[test]
fn selectors_kind_tag_members_and_any() {
    let router = custom(
        r#"
        [[rule]]
        name = "a"
        from = ["tag:resident-lno-home"]
        to = ["members:fc-tx"]
        [[rule]]
        name = "b"
        from = ["*"]
        to = ["kind:foreign-partner"]
        "#,
    );
    let routing =
        router.route(&request("uscg", &["txdps", "houston-pd", "nypd", "gbr"], "narcotics", "U//TLP:CLEAR")).unwrap();
    assert_eq!(summary(&routing), ["txdps", "houston-pd", "nypd:NO_ROUTE", "gbr"]);
}

#[test]
fn unknown_origin_and_too_many_recipients_are_refused() {
    let router = Router::embedded_default().unwrap();
    let unknown = request("ia", &["cbp"], "narcotics", "U");
    let unknown = RouteRequest { origin: party("nobody"), ..unknown };
    assert_eq!(router.route(&unknown).unwrap_err(), RouteError::UnknownOrigin(party("nobody")));
    let mut big = request("cbp", &[], "narcotics", "U");
    big.recipients = vec![party("ia"); MAX_RECIPIENTS + 1];
    assert_eq!(router.route(&big).unwrap_err(), RouteError::TooManyRecipients(MAX_RECIPIENTS + 1));
}

/// Bad files are refused with file, line and field.
#[test]
fn load_errors_name_file_line_and_field() {
    let cases = [
        (
            "[[rule]]\nname = \"a\"\nfrom = [\"ia\"]\nto = [\"nobody\"]\n",
            "policy.toml:4: rule[0].to[0]: unknown party nobody",
        ),
        (
            "[[rule]]\nname = \"a\"\nfrom = [\"kind:spies\"]\nto = [\"ia\"]\n",
            "policy.toml:3: rule[0].from[0]: unknown party kind \"spies\"",
        ),
        (
            "[[rule]]\nname = \"a\"\nfrom = [\"ia\"]\nto = [\"cbp\"]\n[[rule]]\nname = \"a\"\nfrom = [\"ia\"]\nto = [\"cbp\"]\n",
            "policy.toml:6: rule[1].name: \"a\" is used by an earlier rule",
        ),
        (
            "[[rule]]\nname = \"a\"\nfrom = [\"ia\"]\nto = [\"cbp\"]\nmax-classification = \"cosmic\"\n",
            "policy.toml:5: rule[0].max-classification: one of unclassified, confidential, secret, top-secret",
        ),
        ("[[rule]]\nname = \"a\"\nfrom = [\"ia\"]\nto = [\"cbp\"]\nwhen = 1\n", "policy.toml:5: toml:"),
        (
            "[[rule]]\nname = \"a\"\nfrom = [\"ia\"]\nto = [\"cbp\"]\nrelay = \"nobody\"\n",
            "policy.toml:5: rule[0].relay: unknown party \"nobody\"",
        ),
    ];
    for (policy, expected) in cases {
        let error = Router::load(("directory.toml", DEFAULT_DIRECTORY), ("policy.toml", policy)).unwrap_err();
        assert!(error.to_string().starts_with(expected), "got {error}, expected {expected}");
    }
    let directory =
        "[[party]]\nid = \"ia\"\nname = \"I&A\"\nkind = \"hub\"\nnationality = \"usa\"\nclearance = \"secret\"\n";
    let error = Router::load(("directory.toml", directory), ("policy.toml", "")).unwrap_err();
    assert_eq!(
        error.to_string(),
        "directory.toml:5: party[0].nationality: a country of the ISM REL TO vocabulary (an ISO 3166 alpha-3 trigraph such as \"USA\")"
    );
}

#[test]
fn the_shipped_files_model_the_seed_organisations() {
    let router = Router::embedded_default().unwrap();
    let directory = router.directory();
    for id in [
        "ia",
        "cwmd",
        "cbp",
        "cisa",
        "fema",
        "ice",
        "tsa",
        "dia",
        "dos",
        "fbi",
        "nctc",
        "nsa",
        "norad-northcom",
        "oga",
        "uscis",
        "uscg",
        "jsoc",
        "nga",
        "socom",
        "southcom",
        "hsi-tfcu",
        "hsi-nsps",
        "hsi-iiu",
        "hsi-jioc",
        "hsi-tlu",
        "can",
        "mex",
        "gbr",
    ] {
        assert!(directory.get(&party(id)).is_some(), "{id} missing from the default directory");
    }
    let kinds: Vec<PartyKind> = directory.parties().iter().map(|party| party.kind).collect();
    for kind in PartyKind::ALL {
        assert!(kinds.contains(&kind), "no {kind:?} in the default directory");
    }
    let field = directory.get(&party("nypd")).unwrap();
    assert_eq!(field.fusion_center, Some(party("fc-ny")));
}

#[test]
fn the_least_strict_admitting_rule_decides() {
    let router = custom(
        r#"
        [[rule]]
        name = "released-only"
        from = ["ia"]
        to = ["can"]
        release-required = true
        [[rule]]
        name = "relayed"
        from = ["ia"]
        to = ["can"]
        relay = "cbp"
        [[rule]]
        name = "plain"
        from = ["ia"]
        to = ["can"]
        "#,
    );
    for recipients in [&["can"][..], &[][..]] {
        let routing = router.route(&request("ia", recipients, "border-security", "U")).unwrap();
        let Outcome::Deliver(approval) = &routing.outcomes[0] else { panic!("can denied: {routing:?}") };
        assert_eq!(approval.rule(), "plain");
    }
}

/// Retention is five years unless a party sets less; more than five years, or nothing, is refused.
#[test]
fn retention_defaults_to_five_years_and_may_not_exceed_it() {
    let party_with = |retention: &str| {
        format!(
            "[[party]]\nid = \"ia\"\nname = \"I&A\"\nkind = \"hub\"\nnationality = \"USA\"\nclearance = \"secret\"\n{retention}"
        )
    };
    let load = |text: &str| Router::load(("directory.toml", text), ("policy.toml", ""));
    let default = load(&party_with("")).unwrap();
    assert_eq!(default.directory().get(&party("ia")).unwrap().retention, crate::router::MAX_RETENTION);
    let short = load(&party_with("retention = \"180d\"\n")).unwrap();
    assert_eq!(short.directory().get(&party("ia")).unwrap().retention.as_secs(), 180 * 24 * 3600);
    assert!(load(&party_with("retention = \"5y\"\n")).is_ok(), "five years is the limit itself");
    for (retention, expected) in [
        ("retention = \"6y\"\n", "directory.toml:7: party[0].retention: between 1s and 5y (28 CFR 23.20(h)"),
        ("retention = \"0s\"\n", "directory.toml:7: party[0].retention: between 1s and 5y"),
        ("retention = \"soon\"\n", "directory.toml:7: party[0].retention: "),
    ] {
        let error = load(&party_with(retention)).unwrap_err().to_string();
        assert!(error.starts_with(expected), "got {error}, expected {expected}");
    }
}

/// Oversight: the hub always has it; another party only when the directory says `oversight = true`.
#[test]
fn oversight_comes_from_the_hub_kind_or_the_directory() {
    let shipped = Router::load(("directory.toml", DEFAULT_DIRECTORY), ("policy.toml", "")).unwrap();
    let has = |router: &Router, id: &str| router.directory().get(&party(id)).unwrap().has_oversight();
    assert!(has(&shipped, "ia"));
    assert!(!has(&shipped, "ia-mc-ct") && !has(&shipped, "cbp") && !has(&shipped, "can"));
    let granted = DEFAULT_DIRECTORY.replacen("id = \"fbi\"\n", "id = \"fbi\"\noversight = true\n", 1);
    assert_ne!(granted, DEFAULT_DIRECTORY);
    let granted = Router::load(("directory.toml", granted.as_str()), ("policy.toml", "")).unwrap();
    assert!(has(&granted, "fbi") && !has(&granted, "cbp"));
    let bad = DEFAULT_DIRECTORY.replacen("id = \"fbi\"\n", "id = \"fbi\"\noversight = \"yes\"\n", 1);
    let error = Router::load(("directory.toml", bad.as_str()), ("policy.toml", "")).unwrap_err().to_string();
    assert!(error.starts_with("directory.toml:") && error.contains("expected a boolean"), "{error}");
}

mod dissemination;
