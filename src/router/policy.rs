//! The policy language: default deny; rules allow edges between parties, limited by message kind, topic,
//! highest classification and precedence, and name the need-to-know basis that justifies them.
//!
//! ```toml
//! [[rule]]
//! name = "host-reporting"                         # unique, shown in every decision it makes
//! basis = "I&A liaison program: host agency reporting to I&A"
//! from = ["kind:dhs-component", "kind:host-agency"]
//! to = ["ia"]
//! kinds = ["report", "tip"]                       # optional: message kinds
//! topics = ["money-laundering"]                   # optional: topics
//! max-classification = "secret"                   # optional: highest classification
//! precedences = ["immediate", "flash"]            # optional: precedences
//! relay = "ia"                                    # optional: only when this party also receives it
//! release-required = true                         # optional: only material released to the recipient
//! ```
//!
//! Selectors in `from` and `to`: a party id, `*` (every party), `kind:<party kind>`, `tag:<tag>`, or
//! `members:<fusion center>` (the field agencies whose FLOs feed that fusion center).

use std::sync::Arc;

use fixedbitset::FixedBitSet;
use rustc_hash::FxHashSet;
use serde::Deserialize;
use toml::Spanned;

use super::directory::{Directory, PartyKind};
use super::load_error::{LoadError, Source};
use crate::model::{Classification, Kind, Precedence, RouteRequest, Token, Topic};

/// A compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: Arc<str>,
    pub basis: Arc<str>,
    /// Recipients this rule reaches, as directory indices.
    pub to: FixedBitSet,
    /// Bit per `Kind`; zero means any kind.
    kinds: u8,
    topics: Option<FxHashSet<Topic>>,
    pub max_classification: Option<Classification>,
    /// Bit per `Precedence`; zero means any precedence.
    precedences: u8,
    /// Directory index of the party that must also receive the message.
    pub relay: Option<u32>,
    pub release_required: bool,
}

/// The compiled rule set, indexed by origin.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    rules: Vec<Rule>,
    /// For each origin (directory index), the rules whose `from` selects it, in file order.
    by_origin: Vec<Vec<u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default, rename = "rule")]
    rules: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawRule {
    name: Spanned<String>,
    #[serde(default)]
    basis: String,
    from: Vec<Spanned<String>>,
    to: Vec<Spanned<String>>,
    #[serde(default)]
    kinds: Vec<Spanned<String>>,
    #[serde(default)]
    topics: Vec<Spanned<String>>,
    max_classification: Option<Spanned<String>>,
    #[serde(default)]
    precedences: Vec<Spanned<String>>,
    relay: Option<Spanned<String>>,
    #[serde(default)]
    release_required: bool,
}

// === impl Rule ===

impl Rule {
    /// Does the message fall within the rule's limits? Allocation-free: this is on the hot path.
    pub fn admits(&self, request: &RouteRequest) -> bool {
        self.failed_limit(request).is_none()
    }

    /// The first limit the message falls outside of, as a phrase for explanations.
    pub fn limit_failed(&self, request: &RouteRequest) -> Option<String> {
        Some(match self.failed_limit(request)? {
            Limit::Kind => format!("kinds other than {}", request.kind),
            Limit::Topic => format!("topics other than {}", request.topic),
            Limit::Classification(max) => format!("material above {}", max.banner()),
            Limit::Precedence => format!("{} precedence", request.precedence.name().to_uppercase()),
        })
    }

    fn failed_limit(&self, request: &RouteRequest) -> Option<Limit> {
        if self.kinds != 0 && self.kinds & kind_bit(request.kind) == 0 {
            return Some(Limit::Kind);
        }
        if let Some(topics) = &self.topics
            && !topics.contains(&request.topic)
        {
            return Some(Limit::Topic);
        }
        if let Some(max) = self.max_classification
            && request.markings.classification > max
        {
            return Some(Limit::Classification(max));
        }
        if self.precedences != 0 && self.precedences & precedence_bit(request.precedence) == 0 {
            return Some(Limit::Precedence);
        }
        None
    }
}

/// Which limit of a rule a message falls outside of.
enum Limit {
    Kind,
    Topic,
    Classification(Classification),
    Precedence,
}

fn kind_bit(kind: Kind) -> u8 {
    1 << Kind::ALL.iter().position(|candidate| *candidate == kind).unwrap_or(0)
}

fn precedence_bit(precedence: Precedence) -> u8 {
    1 << (precedence as u8)
}

// === impl Policy ===

impl Policy {
    /// Parses a policy file and compiles it against a directory.
    pub fn parse(file: &str, text: &str, directory: &Directory) -> Result<Policy, LoadError> {
        let source = Source { file, text };
        let raw: RawPolicy = toml::from_str(text).map_err(|error| source.toml_error(error))?;
        let mut rules = Vec::with_capacity(raw.rules.len());
        let mut names = FxHashSet::default();
        let mut froms = Vec::with_capacity(raw.rules.len());
        for (position, raw_rule) in raw.rules.iter().enumerate() {
            if !names.insert(raw_rule.name.get_ref().clone()) {
                let message = format!("{:?} is used by an earlier rule", raw_rule.name.get_ref());
                return Err(source.error(raw_rule.name.span(), format!("rule[{position}].name"), message));
            }
            let (rule, from) = compile(&source, position, raw_rule, directory)?;
            rules.push(rule);
            froms.push(from);
        }
        Ok(Policy::new(rules, froms, directory.len()))
    }

    /// Indexes compiled rules by the origins their `from` selects.
    pub fn new(rules: Vec<Rule>, froms: Vec<FixedBitSet>, parties: usize) -> Policy {
        let mut by_origin = vec![Vec::new(); parties];
        for (rule_index, from) in froms.iter().enumerate() {
            for origin in from.ones() {
                by_origin[origin].push(rule_index as u32);
            }
        }
        Policy { rules, by_origin }
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn rule(&self, index: u32) -> &Rule {
        &self.rules[index as usize]
    }

    /// Rules that apply to messages from `origin`, in file order.
    pub fn rules_from(&self, origin: u32) -> &[u32] {
        self.by_origin.get(origin as usize).map(Vec::as_slice).unwrap_or(&[])
    }
}

fn compile(
    source: &Source<'_>,
    position: usize,
    raw: &RawRule,
    directory: &Directory,
) -> Result<(Rule, FixedBitSet), LoadError> {
    let field = |name: &str| format!("rule[{position}].{name}");
    if raw.from.is_empty() || raw.to.is_empty() {
        return Err(source.error(raw.name.span(), field("from/to"), "a rule needs at least one `from` and one `to`"));
    }
    let from = selectors(source, &raw.from, &field("from"), directory)?;
    let to = selectors(source, &raw.to, &field("to"), directory)?;
    let mut kinds = 0u8;
    for (index, kind) in raw.kinds.iter().enumerate() {
        let parsed = Kind::from_token(kind.get_ref()).ok_or_else(|| {
            let message = "one of report, alert, tip, rfi, rfi-response, product";
            source.error(kind.span(), format!("{}[{index}]", field("kinds")), message)
        })?;
        kinds |= kind_bit(parsed);
    }
    let topics = if raw.topics.is_empty() {
        None
    } else {
        let mut topics = FxHashSet::default();
        for (index, topic) in raw.topics.iter().enumerate() {
            let parsed = Token::parse(topic.get_ref()).map_err(|error| {
                source.error(topic.span(), format!("{}[{index}]", field("topics")), error.to_string())
            })?;
            topics.insert(parsed);
        }
        Some(topics)
    };
    let max_classification = raw
        .max_classification
        .as_ref()
        .map(|level| {
            Classification::from_name(level.get_ref())
                .ok_or_else(|| source.error(level.span(), field("max-classification"), Classification::NAMES))
        })
        .transpose()?;
    let mut precedences = 0u8;
    for (index, precedence) in raw.precedences.iter().enumerate() {
        let parsed = Precedence::from_name(precedence.get_ref()).ok_or_else(|| {
            let message = "one of routine, priority, immediate, flash";
            source.error(precedence.span(), format!("{}[{index}]", field("precedences")), message)
        })?;
        precedences |= precedence_bit(parsed);
    }
    let relay = raw
        .relay
        .as_ref()
        .map(|relay| {
            Token::parse(relay.get_ref()).ok().and_then(|party| directory.index_of(&party)).ok_or_else(|| {
                source.error(relay.span(), field("relay"), format!("unknown party {:?}", relay.get_ref()))
            })
        })
        .transpose()?;
    let rule = Rule {
        name: Arc::from(raw.name.get_ref().as_str()),
        basis: Arc::from(raw.basis.as_str()),
        to,
        kinds,
        topics,
        max_classification,
        precedences,
        relay,
        release_required: raw.release_required,
    };
    Ok((rule, from))
}

/// Resolves selectors to the set of directory indices they name.
fn selectors(
    source: &Source<'_>,
    selectors: &[Spanned<String>],
    field: &str,
    directory: &Directory,
) -> Result<FixedBitSet, LoadError> {
    let mut set = FixedBitSet::with_capacity(directory.len());
    for (index, selector) in selectors.iter().enumerate() {
        let error = |message: String| source.error(selector.span(), format!("{field}[{index}]"), message);
        let value = selector.get_ref().as_str();
        let matches: Box<dyn Fn(&super::directory::Party) -> bool> = if value == "*" {
            Box::new(|_| true)
        } else if let Some(kind) = value.strip_prefix("kind:") {
            let kind = PartyKind::from_name(kind).ok_or_else(|| error(format!("unknown party kind {kind:?}")))?;
            Box::new(move |party| party.kind == kind)
        } else if let Some(tag) = value.strip_prefix("tag:") {
            let tag = Token::parse(tag).map_err(|problem| error(problem.to_string()))?;
            Box::new(move |party| party.tags.contains(&tag))
        } else if let Some(center) = value.strip_prefix("members:") {
            let center = Token::parse(center).map_err(|problem| error(problem.to_string()))?;
            match directory.get(&center) {
                Some(party) if party.kind == PartyKind::FusionCenter => {}
                _ => return Err(error(format!("{center} is not a fusion-center party"))),
            }
            Box::new(move |party| party.fusion_center.as_ref() == Some(&center))
        } else {
            let party = Token::parse(value).map_err(|problem| error(problem.to_string()))?;
            if directory.get(&party).is_none() {
                return Err(error(format!("unknown party {party}")));
            }
            Box::new(move |candidate| candidate.id == party)
        };
        for (position, party) in directory.parties().iter().enumerate() {
            if matches(party) {
                set.insert(position);
            }
        }
    }
    Ok(set)
}
