//! The allow-list: which origin may send to which recipient, and the default liaison directory.
//!
//! Configured in the `[router]` table of the TOML configuration file; the default is the hub-and-spoke
//! shape of the liaison structure: every party may send to I&A (`ia`) and I&A may send to every party.

use std::collections::{BTreeSet, HashSet};

use serde::Deserialize;

use crate::model::{PartyId, Token};

/// Router configuration: the party directory and the allowed edges.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouterConfig {
    /// Party ids of the directory.
    #[serde(default = "default_parties")]
    pub parties: Vec<String>,
    /// Allowed edges; `*` on either side means any party.
    #[serde(default = "default_rules")]
    pub allow: Vec<AllowRule>,
}

/// One allowed edge.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AllowRule {
    pub from: String,
    pub to: String,
}

/// The compiled edges.
#[derive(Debug, Clone)]
pub struct AllowList {
    edges: HashSet<(Endpoint, Endpoint)>,
    /// The party most edges go through, named in "no route" explanations.
    hub: Option<PartyId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Endpoint {
    Any,
    Party(PartyId),
}

/// The hub of the default liaison structure: DHS Office of Intelligence and Analysis.
pub const HUB: &str = "ia";

/// The default directory: I&A, its Mission Centers, host agencies, resident liaison home agencies, HSI
/// Intelligence units, example fusion centers and foreign partners (see ../shared/DOMAIN.md).
const DEFAULT_PARTIES: &[&str] = &[
    "ia",
    "ia-mc-ct",
    "ia-mc-cyber",
    "ia-mc-ci",
    "ia-mc-toc", // I&A and Mission Centers
    "cwmd",
    "cbp",
    "cisa",
    "fema",
    "ice",
    "tsa", // DHS components hosting I&A LNOs
    "dia",
    "dos",
    "fbi",
    "nctc",
    "nsa",
    "norad-northcom",
    "oga", // external host agencies
    "uscis",
    "uscg",
    "jsoc",
    "nga",
    "socom",
    "southcom", // resident liaison officers' home agencies
    "hsi-tfcu",
    "hsi-nsps",
    "hsi-iiu",
    "hsi-jioc",
    "hsi-tlu", // HSI Intelligence units
    "fc-ny",
    "fc-tx",
    "fc-ca", // example fusion centers
    "can",
    "mex",
    "gbr", // foreign partners
];

fn default_parties() -> Vec<String> {
    DEFAULT_PARTIES
        .iter()
        .map(|party| party.to_string())
        .collect()
}

fn default_rules() -> Vec<AllowRule> {
    vec![
        AllowRule {
            from: "*".into(),
            to: HUB.into(),
        },
        AllowRule {
            from: HUB.into(),
            to: "*".into(),
        },
    ]
}

// === impl RouterConfig ===

impl Default for RouterConfig {
    fn default() -> Self {
        RouterConfig {
            parties: default_parties(),
            allow: default_rules(),
        }
    }
}

impl RouterConfig {
    /// The directory as validated party ids.
    pub fn parties(&self) -> Result<BTreeSet<PartyId>, String> {
        self.parties
            .iter()
            .map(|party| Token::parse(party).map_err(|error| format!("router.parties: {error}")))
            .collect()
    }
}

// === impl AllowList ===

impl AllowList {
    /// Compiles rules, rejecting any that name a party outside the directory.
    pub fn new(rules: &[AllowRule], parties: &BTreeSet<PartyId>) -> Result<AllowList, String> {
        let endpoint = |side: &str, value: &str| -> Result<Endpoint, String> {
            if value == "*" {
                return Ok(Endpoint::Any);
            }
            let party =
                Token::parse(value).map_err(|error| format!("router.allow.{side}: {error}"))?;
            if !parties.contains(&party) {
                return Err(format!(
                    "router.allow.{side}: {party} is not in router.parties"
                ));
            }
            Ok(Endpoint::Party(party))
        };
        let mut edges = HashSet::new();
        for rule in rules {
            edges.insert((endpoint("from", &rule.from)?, endpoint("to", &rule.to)?));
        }
        let hub = Token::parse(HUB).ok().filter(|hub| parties.contains(hub));
        Ok(AllowList { edges, hub })
    }

    /// May `origin` send to `recipient`?
    pub fn allows(&self, origin: &PartyId, recipient: &PartyId) -> bool {
        let from = [Endpoint::Party(origin.clone()), Endpoint::Any];
        let to = [Endpoint::Party(recipient.clone()), Endpoint::Any];
        from.iter().any(|from| {
            to.iter()
                .any(|to| self.edges.contains(&(from.clone(), to.clone())))
        })
    }

    pub(super) fn hub_hint(&self) -> String {
        match &self.hub {
            Some(hub) => format!("the hub ({hub})"),
            None => "an explicitly allowed relay".to_string(),
        }
    }
}
