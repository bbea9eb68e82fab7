//! The generated worlds of the router property tests: a description of parties, rules and a request,
//! the proptest strategies that build them, and the independent reading of what the rules and markings
//! allow.

use super::model::released;
use liaison::model::{Classification, DisseminationControl, Kind, Markings, Precedence, RouteRequest, Tlp, Token};
use liaison::router::{PartyKind, Router};
use proptest::prelude::*;
use proptest::sample::{select, subsequence};
use std::collections::HashSet;
use std::fmt;

/// Most parties in a generated directory. Positions are drawn from `0..MAX_PARTIES` and taken modulo
/// the directory's size, so they stay put while shrinking drops parties.
pub const MAX_PARTIES: usize = 12;

/// Cases per property: the whole file runs in a few seconds in a debug build.
pub const CASES: u32 = 512;

pub static NATIONALITIES: [&str; 4] = ["USA", "CAN", "GBR", "MEX"];
/// Countries a REL TO may list besides USA; AUS has no party in any directory.
pub static FOREIGN: [&str; 4] = ["CAN", "GBR", "MEX", "AUS"];
/// Topics parties and rules name; messages may also carry `t3`, which only `*` parties want.
pub static TOPICS: [&str; 3] = ["t0", "t1", "t2"];
pub static MESSAGE_TOPICS: [&str; 4] = ["t0", "t1", "t2", "t3"];
pub static TAGS: [&str; 3] = ["ta", "tb", "tc"];
pub static ORGANISATIONS: [&str; 2] = ["org-a", "org-b"];
/// Named recipients that are not in any directory.
pub static STRANGERS: [&str; 2] = ["ghost", "nobody"];
pub static PRECEDENCES: [Precedence; 4] =
    [Precedence::Routine, Precedence::Priority, Precedence::Immediate, Precedence::Flash];
pub static TLPS: [Tlp; 5] = [Tlp::Clear, Tlp::Green, Tlp::Amber, Tlp::AmberStrict, Tlp::Red];
/// Accesses a party may list; a compartment stands for its control system too.
pub static ACCESSES: [&str; 5] = ["SI", "SI-G", "TK", "HCS-P", "SAR-BP"];
/// FIVE EYES, as the model knows it (not read from the ISM vocabulary).
pub static FVEY: [&str; 5] = ["AUS", "CAN", "GBR", "NZL", "USA"];

// === The description of a generated world ===

/// One generated party; its id is `p<position>`.
#[derive(Debug, Clone)]
pub struct PartyDesc {
    pub id: String,
    pub kind: PartyKind,
    pub nationality: &'static str,
    pub clearance: Classification,
    pub law_enforcement: bool,
    pub accesses: Vec<&'static str>,
    pub executive_branch: bool,
    /// `None` is `["*"]`: every topic.
    pub topics: Option<Vec<&'static str>>,
    pub organisation: Option<&'static str>,
    /// Position of a fusion-center party.
    pub fusion_center: Option<usize>,
    pub tags: Vec<&'static str>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Selector {
    Party(usize),
    Any,
    Kind(PartyKind),
    Tag(&'static str),
    /// Position of a fusion-center party.
    Members(usize),
}

/// One generated rule; its name is `r<position>`.
#[derive(Debug, Clone)]
pub struct RuleDesc {
    pub from: Vec<Selector>,
    pub to: Vec<Selector>,
    pub kinds: Vec<Kind>,
    pub topics: Vec<&'static str>,
    pub max_classification: Option<Classification>,
    pub precedences: Vec<Precedence>,
    pub relay: Option<usize>,
    pub release_required: bool,
}

#[derive(Clone)]
pub struct World {
    pub parties: Vec<PartyDesc>,
    pub rules: Vec<RuleDesc>,
}

/// A world and one message routed in it.
#[derive(Clone)]
pub struct Case {
    pub world: World,
    pub request: RouteRequest,
}

impl PartyDesc {
    pub fn organisation(&self) -> &str {
        self.organisation.unwrap_or(&self.id)
    }

    pub fn interested_in(&self, topic: &str) -> bool {
        self.topics.as_ref().is_none_or(|topics| topics.contains(&topic))
    }

    pub fn foreign(&self) -> bool {
        self.nationality != "USA"
    }

    /// Read into `token`: listed, or a compartment of it (`SI-G` includes `SI`) is.
    pub fn holds(&self, token: &str) -> bool {
        self.accesses
            .iter()
            .any(|held| *held == token || held.strip_prefix(token).is_some_and(|rest| rest.starts_with('-')))
    }
}

impl World {
    pub fn position(&self, id: &str) -> Option<usize> {
        self.parties.iter().position(|party| party.id == id)
    }

    pub fn selects(&self, selectors: &[Selector], party: usize) -> bool {
        let desc = &self.parties[party];
        selectors.iter().any(|selector| match *selector {
            Selector::Party(position) => position == party,
            Selector::Any => true,
            Selector::Kind(kind) => desc.kind == kind,
            Selector::Tag(tag) => desc.tags.contains(&tag),
            Selector::Members(center) => desc.fusion_center == Some(center),
        })
    }

    /// Rules whose `from` selects the origin, whose `to` selects the recipient and whose limits admit
    /// the message.
    pub fn covering(&self, request: &RouteRequest, origin: usize, recipient: usize) -> Vec<usize> {
        (0..self.rules.len())
            .filter(|&rule| {
                let desc = &self.rules[rule];
                self.selects(&desc.from, origin) && self.selects(&desc.to, recipient) && admits(desc, request)
            })
            .collect()
    }

    /// Does covering rule `rule` justify a delivery to `recipient`, given who else received the message?
    pub fn justifies(
        &self,
        rule: usize,
        request: &RouteRequest,
        origin: usize,
        recipient: usize,
        delivered: &HashSet<String>,
    ) -> bool {
        let desc = &self.rules[rule];
        let release_ok = !desc.release_required || released(&request.markings, &self.parties[recipient]);
        let relay_ok = desc.relay.is_none_or(|relay| relay == origin || delivered.contains(&self.parties[relay].id));
        release_ok && relay_ok
    }

    pub fn selector_text(&self, selector: Selector) -> String {
        match selector {
            Selector::Party(position) => self.parties[position].id.clone(),
            Selector::Any => "*".to_string(),
            Selector::Kind(kind) => format!("kind:{}", kind.name()),
            Selector::Tag(tag) => format!("tag:{tag}"),
            Selector::Members(center) => format!("members:{}", self.parties[center].id),
        }
    }

    pub fn directory_toml(&self) -> String {
        let mut text = String::new();
        for party in &self.parties {
            text += "[[party]]\n";
            text += &format!("id = {:?}\nname = \"Party {}\"\n", party.id, party.id);
            text += &format!("kind = {:?}\n", party.kind.name());
            text += &format!("nationality = {:?}\n", party.nationality);
            text += &format!("clearance = {:?}\n", party.clearance.name());
            text += &format!("law-enforcement = {}\n", party.law_enforcement);
            text += &format!("accesses = {:?}\n", party.accesses);
            text += &format!("executive-branch = {}\n", party.executive_branch);
            match &party.topics {
                None => text += "topics = [\"*\"]\n",
                Some(topics) => text += &format!("topics = {topics:?}\n"),
            }
            if let Some(organisation) = party.organisation {
                text += &format!("organisation = {organisation:?}\n");
            }
            if let Some(center) = party.fusion_center {
                text += &format!("fusion-center = {:?}\n", self.parties[center].id);
            }
            text += &format!("tags = {:?}\n\n", party.tags);
        }
        text
    }

    pub fn policy_toml(&self) -> String {
        let mut text = String::new();
        for (position, rule) in self.rules.iter().enumerate() {
            let selectors =
                |list: &[Selector]| -> Vec<String> { list.iter().map(|s| self.selector_text(*s)).collect() };
            text += "[[rule]]\n";
            text += &format!("name = \"r{position}\"\nbasis = \"basis of r{position}\"\n");
            text += &format!("from = {:?}\n", selectors(&rule.from));
            text += &format!("to = {:?}\n", selectors(&rule.to));
            if !rule.kinds.is_empty() {
                let kinds: Vec<&str> = rule.kinds.iter().map(|kind| kind.token()).collect();
                text += &format!("kinds = {kinds:?}\n");
            }
            if !rule.topics.is_empty() {
                text += &format!("topics = {:?}\n", rule.topics);
            }
            if let Some(max) = rule.max_classification {
                text += &format!("max-classification = {:?}\n", max.name());
            }
            if !rule.precedences.is_empty() {
                let names: Vec<&str> = rule.precedences.iter().map(|p| precedence_name(*p)).collect();
                text += &format!("precedences = {names:?}\n");
            }
            if let Some(relay) = rule.relay {
                text += &format!("relay = {:?}\n", self.parties[relay].id);
            }
            if rule.release_required {
                text += "release-required = true\n";
            }
            text += "\n";
        }
        text
    }

    /// Loads the world through the public API and checks the directory came back as described.
    pub fn load(&self) -> Result<Router, TestCaseError> {
        let router = Router::load(("directory.toml", &self.directory_toml()), ("policy.toml", &self.policy_toml()))
            .map_err(|error| TestCaseError::fail(format!("generated files do not load: {error}")))?;
        let loaded = router.directory().parties();
        prop_assert_eq!(loaded.len(), self.parties.len());
        for (party, desc) in loaded.iter().zip(&self.parties) {
            prop_assert_eq!(party.id.as_str(), desc.id.as_str());
            prop_assert_eq!(party.kind, desc.kind);
            prop_assert_eq!(party.nationality.as_str(), desc.nationality);
            prop_assert_eq!(party.clearance, desc.clearance);
            prop_assert_eq!(party.law_enforcement, desc.law_enforcement);
            let topics = party.topics.as_ref().map(|topics| {
                let mut topics: Vec<&str> = topics.iter().map(Token::as_str).collect();
                topics.sort_unstable();
                topics
            });
            prop_assert_eq!(topics, desc.topics.clone());
            prop_assert_eq!(party.organisation.as_str(), desc.organisation());
            let center = desc.fusion_center.map(|c| self.parties[c].id.as_str());
            prop_assert_eq!(party.fusion_center.as_ref().map(Token::as_str), center);
            let tags: Vec<&str> = party.tags.iter().map(Token::as_str).collect();
            prop_assert_eq!(tags, desc.tags.clone());
        }
        Ok(router)
    }
}

/// Shows a failing case as the files and the request, ready to paste into a table test.
impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "\n--- directory.toml\n{}", self.world.directory_toml())?;
        writeln!(f, "--- policy.toml\n{}", self.world.policy_toml())?;
        write!(f, "--- request\n{:#?}", self.request)
    }
}

pub fn precedence_name(precedence: Precedence) -> &'static str {
    match precedence {
        Precedence::Routine => "routine",
        Precedence::Priority => "priority",
        Precedence::Immediate => "immediate",
        Precedence::Flash => "flash",
    }
}

pub fn admits(rule: &RuleDesc, request: &RouteRequest) -> bool {
    (rule.kinds.is_empty() || rule.kinds.contains(&request.kind))
        && (rule.topics.is_empty() || rule.topics.contains(&request.topic.as_str()))
        && rule.max_classification.is_none_or(|max| request.markings.classification <= max)
        && (rule.precedences.is_empty() || rule.precedences.contains(&request.precedence))
}

// === Strategies ===

/// Any valid markings.
pub fn any_markings() -> BoxedStrategy<Markings> {
    markings_strategy().boxed()
}

/// UNCLASSIFIED with a sharing TLP: no marking stands in the way, so only rules and relays decide.
pub fn plain_markings() -> BoxedStrategy<Markings> {
    select(vec![Tlp::Clear, Tlp::Green, Tlp::Amber])
        .prop_map(|tlp| Markings { tlp: Some(tlp), ..Markings::unclassified() })
        .boxed()
}

#[derive(Debug, Clone)]
pub struct RawParty {
    pub kind: PartyKind,
    pub nationality: &'static str,
    pub clearance: Classification,
    pub law_enforcement: bool,
    pub accesses: Vec<&'static str>,
    pub executive_branch: bool,
    pub topics: Option<Vec<&'static str>>,
    pub organisation: Option<&'static str>,
    pub fusion_center: Option<usize>,
    pub tags: Vec<&'static str>,
}

#[derive(Debug, Clone)]
pub enum RawSelector {
    Party(usize),
    Any,
    Kind(PartyKind),
    Tag(&'static str),
    Members(usize),
}

#[derive(Debug, Clone)]
pub struct RawRule {
    pub from: Vec<RawSelector>,
    pub to: Vec<RawSelector>,
    pub kinds: Vec<Kind>,
    pub topics: Vec<&'static str>,
    pub max_classification: Option<Classification>,
    pub precedences: Vec<Precedence>,
    pub relay: Option<usize>,
    pub release_required: bool,
}

#[derive(Debug, Clone)]
pub enum RawRecipient {
    Known(usize),
    Stranger(&'static str),
}

#[derive(Debug, Clone)]
pub struct RawRequest {
    pub origin: usize,
    pub recipients: Vec<RawRecipient>,
    pub kind: Kind,
    pub topic: &'static str,
    pub precedence: Precedence,
    pub markings: Markings,
}

pub fn party_strategy() -> impl Strategy<Value = RawParty> {
    let kind = prop_oneof![
        6 => select(PartyKind::ALL.to_vec()),
        2 => Just(PartyKind::FusionCenter),
        2 => Just(PartyKind::FieldAgency),
    ];
    let nationality = prop_oneof![3 => Just(NATIONALITIES[0]), 3 => select(NATIONALITIES[1..].to_vec())];
    let topics = prop_oneof![
        1 => Just(None),
        3 => subsequence(TOPICS.to_vec(), 0..=3).prop_map(Some),
    ];
    (
        kind,
        nationality,
        select(Classification::ALL.to_vec()),
        any::<bool>(),
        topics,
        proptest::option::of(select(ORGANISATIONS.to_vec())),
        proptest::option::of(0..MAX_PARTIES),
        (subsequence(TAGS.to_vec(), 0..=2), subsequence(ACCESSES.to_vec(), 0..=3), any::<bool>()),
    )
        .prop_map(
            |(
                kind,
                nationality,
                clearance,
                law_enforcement,
                topics,
                organisation,
                center,
                (tags, accesses, executive),
            )| {
                RawParty {
                    kind,
                    nationality,
                    clearance,
                    law_enforcement,
                    accesses,
                    executive_branch: executive,
                    topics,
                    organisation,
                    fusion_center: center,
                    tags,
                }
            },
        )
}

pub fn selector_strategy() -> impl Strategy<Value = RawSelector> {
    prop_oneof![
        4 => (0..MAX_PARTIES).prop_map(RawSelector::Party),
        1 => Just(RawSelector::Any),
        2 => select(PartyKind::ALL.to_vec()).prop_map(RawSelector::Kind),
        1 => select(TAGS.to_vec()).prop_map(RawSelector::Tag),
        1 => (0..MAX_PARTIES).prop_map(RawSelector::Members),
    ]
}

/// Rules; `relays` is the share of rules with a relay party.
pub fn rule_strategy(relays: f64) -> impl Strategy<Value = RawRule> {
    let kinds = prop_oneof![3 => Just(Vec::new()), 1 => subsequence(Kind::ALL.to_vec(), 1..=3)];
    let topics = prop_oneof![
        2 => Just(Vec::new()),
        1 => subsequence(MESSAGE_TOPICS.to_vec(), 1..=3),
    ];
    let precedences = prop_oneof![
        3 => Just(Vec::new()),
        1 => subsequence(PRECEDENCES.to_vec(), 1..=3),
    ];
    (
        proptest::collection::vec(selector_strategy(), 1..=3),
        proptest::collection::vec(selector_strategy(), 1..=3),
        kinds,
        topics,
        proptest::option::weighted(0.3, select(Classification::ALL.to_vec())),
        precedences,
        proptest::option::weighted(relays, 0..MAX_PARTIES),
        proptest::bool::weighted(0.3),
    )
        .prop_map(|(from, to, kinds, topics, max_classification, precedences, relay, release_required)| RawRule {
            from,
            to,
            kinds,
            topics,
            max_classification,
            precedences,
            relay,
            release_required,
        })
}

/// Markings that pass `Markings::validate()`: REL TO only on CONFIDENTIAL and above without NOFORN,
/// USA first and at least one other country (or FVEY); FOUO and SBU NOFORN only on UNCLASSIFIED; LES NOFORN
/// without NOFORN or REL TO; SCI only when classified, SI-G with TOP SECRET and ORCON, HCS-P with SECRET
/// and NOFORN; SAP when classified.
pub fn markings_strategy() -> impl Strategy<Value = Markings> {
    (
        select(Classification::ALL.to_vec()),
        (proptest::bool::weighted(0.3), proptest::bool::weighted(0.3), proptest::bool::weighted(0.2)),
        (proptest::bool::weighted(0.15), proptest::bool::weighted(0.2)),
        subsequence(FOREIGN.to_vec(), 0..=3).prop_shuffle(),
        proptest::bool::weighted(0.25),
        subsequence(ACCESSES.to_vec(), 0..=2),
        proptest::option::of(select(TLPS.to_vec())),
    )
        .prop_map(|(classification, (noforn, les, fouo), (other_noforn, fvey), countries, orcon, needs, tlp)| {
            let unclassified = classification == Classification::Unclassified;
            let mut sci: Vec<String> = Vec::new();
            let mut sap = Vec::new();
            let mut controls = Vec::new();
            let mut noforn = noforn;
            for need in needs.iter().filter(|_| !unclassified) {
                match *need {
                    "SAR-BP" => sap.push("BP".to_string()),
                    "SI-G" if classification == Classification::TopSecret => sci.extend(["SI".into(), "SI-G".into()]),
                    "HCS-P" if classification >= Classification::Secret => {
                        sci.extend(["HCS".into(), "HCS-P".into()]);
                        noforn = true;
                    }
                    "SI" | "TK" => sci.push(need.to_string()),
                    _ => {}
                }
            }
            let les_noforn = other_noforn && !noforn && !unclassified;
            let sbu_noforn = other_noforn && !noforn && unclassified;
            if noforn {
                controls.push(DisseminationControl::Noforn);
            }
            let si_g = sci.iter().any(|token| token == "SI-G");
            match (orcon, les && !si_g) {
                _ if unclassified => {}
                (true, false) => controls.push(DisseminationControl::Orcon),
                // LES is drawn a second time to pick ORCON-USGOV now and then.
                (true, true) => controls.push(DisseminationControl::OrconUsgov),
                (false, _) if si_g => controls.push(DisseminationControl::Orcon),
                _ => {}
            }
            match (les, les_noforn) {
                (_, true) => controls.push(DisseminationControl::LesNoforn),
                (true, false) => controls.push(DisseminationControl::Les),
                _ => {}
            }
            if sbu_noforn {
                controls.push(DisseminationControl::SbuNoforn);
            }
            if fouo && unclassified {
                controls.push(DisseminationControl::Fouo);
            }
            // The FOUO draw marks classified material RELIDO where nothing excludes it.
            let excludes_relido = noforn || les_noforn || controls.contains(&DisseminationControl::Orcon);
            if fouo && !unclassified && !excludes_relido {
                controls.push(DisseminationControl::Relido);
            }
            let mut rel_to: Vec<String> = if unclassified || noforn || les_noforn || countries.is_empty() {
                Vec::new()
            } else {
                std::iter::once("USA").chain(countries).map(str::to_string).collect()
            };
            if fvey && !unclassified && !noforn && !les_noforn {
                if rel_to.is_empty() {
                    rel_to.push("USA".into());
                }
                rel_to.push("FVEY".into());
            }
            sci.sort();
            sci.dedup();
            controls.sort();
            let markings = Markings { classification, sci, sap, controls, rel_to, display_only: Vec::new(), tlp };
            // The router sees what a publish stores: the canonical markings.
            let canonical = Markings::from_banner(&markings.banner()).map(|parsed| Markings { tlp, ..parsed });
            assert_eq!(canonical.as_ref().map(|_| ()), Ok(()), "{markings:?}");
            canonical.unwrap()
        })
}

/// A request naming recipients (`named`) or routed by policy.
pub fn request_strategy(named: bool, markings: BoxedStrategy<Markings>) -> impl Strategy<Value = RawRequest> {
    let recipient = prop_oneof![
        6 => (0..MAX_PARTIES).prop_map(RawRecipient::Known),
        1 => select(STRANGERS.to_vec()).prop_map(RawRecipient::Stranger),
    ];
    let recipients = if named { proptest::collection::vec(recipient, 1..=6).boxed() } else { Just(Vec::new()).boxed() };
    (
        0..MAX_PARTIES,
        recipients,
        select(Kind::ALL.to_vec()),
        select(MESSAGE_TOPICS.to_vec()),
        select(PRECEDENCES.to_vec()),
        markings,
    )
        .prop_map(|(origin, recipients, kind, topic, precedence, markings)| RawRequest {
            origin,
            recipients,
            kind,
            topic,
            precedence,
            markings,
        })
}

/// A world and a request naming recipients (`named`) or routed by policy; `relays` is the share of rules
/// with a relay party.
pub fn case_strategy(named: bool, relays: f64, markings: BoxedStrategy<Markings>) -> impl Strategy<Value = Case> {
    (
        proptest::collection::vec(party_strategy(), 3..=MAX_PARTIES),
        proptest::collection::vec(rule_strategy(relays), 0..=20),
        request_strategy(named, markings),
    )
        .prop_map(|(parties, rules, request)| build(parties, rules, request))
}

/// Resolves indices against the generated directory: fusion-center references and `members:` selectors
/// pick among the fusion-center parties (a `members:` selector becomes a party id when there are none).
pub fn build(parties: Vec<RawParty>, rules: Vec<RawRule>, request: RawRequest) -> Case {
    let count = parties.len();
    let centers: Vec<usize> =
        (0..count).filter(|&position| parties[position].kind == PartyKind::FusionCenter).collect();
    let center = |index: &usize| (!centers.is_empty()).then(|| centers[index % centers.len()]);
    let parties = parties
        .iter()
        .enumerate()
        .map(|(position, raw)| PartyDesc {
            id: format!("p{position}"),
            kind: raw.kind,
            nationality: raw.nationality,
            clearance: raw.clearance,
            law_enforcement: raw.law_enforcement,
            accesses: raw.accesses.clone(),
            executive_branch: raw.executive_branch,
            topics: raw.topics.clone(),
            organisation: raw.organisation,
            fusion_center: raw.fusion_center.as_ref().and_then(center),
            tags: raw.tags.clone(),
        })
        .collect();
    let selector = |raw: &RawSelector| match raw {
        RawSelector::Party(index) => Selector::Party(index % count),
        RawSelector::Any => Selector::Any,
        RawSelector::Kind(kind) => Selector::Kind(*kind),
        RawSelector::Tag(tag) => Selector::Tag(tag),
        RawSelector::Members(index) => center(index).map_or(Selector::Party(index % count), Selector::Members),
    };
    let rules = rules
        .iter()
        .map(|raw| RuleDesc {
            from: raw.from.iter().map(selector).collect(),
            to: raw.to.iter().map(selector).collect(),
            kinds: raw.kinds.clone(),
            topics: raw.topics.clone(),
            max_classification: raw.max_classification,
            precedences: raw.precedences.clone(),
            relay: raw.relay.map(|index| index % count),
            release_required: raw.release_required,
        })
        .collect();
    let id = |position: usize| Token::parse(&format!("p{position}")).unwrap();
    let recipients = request
        .recipients
        .iter()
        .map(|recipient| match recipient {
            RawRecipient::Known(index) => id(index % count),
            RawRecipient::Stranger(name) => Token::parse(name).unwrap(),
        })
        .collect();
    Case {
        world: World { parties, rules },
        request: RouteRequest {
            origin: id(request.origin % count),
            recipients,
            kind: request.kind,
            topic: Token::parse(request.topic).unwrap(),
            markings: request.markings,
            precedence: request.precedence,
        },
    }
}
