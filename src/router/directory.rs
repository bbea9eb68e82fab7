//! The party directory: who exists, what kind of party each is, and what each may hold.
//!
//! Loaded from TOML (`deploy/policy/directory.toml` is the shipped default, embedded in the binary):
//!
//! ```toml
//! [[party]]
//! id = "cbp"                       # subject token
//! name = "U.S. Customs and Border Protection"
//! kind = "dhs-component"           # see PartyKind
//! nationality = "USA"              # ISO 3166 alpha-3
//! clearance = "top-secret"         # accreditation: highest classification it may hold
//! law-enforcement = true           # may receive LES material
//! accesses = ["SI", "TK"]          # SCI controls and special access programs (SAR-...) it is read into
//! executive-branch = true          # US executive branch: ORCON-USGOV reaches it without being named
//! topics = ["border-security"]     # topics of interest; ["*"] for everything
//! organisation = "dhs-cbp"         # for TLP:AMBER+STRICT; defaults to the id
//! fusion-center = "fc-tx"          # field agencies: the fusion center their FLO feeds
//! tags = ["resident-lno-home"]     # free labels usable in rule selectors
//! retention = "2y"                 # how long its messages are kept before review; at most and by default 5y
//! oversight = true                 # its operators and admins act for every party (the hub always has it)
//!
//! [tetragraphs]                    # added to or replacing the ISM vocabulary's (FVEY, NATO ...)
//! NATO = ["ALB", "BEL", ..., "FIN", "SWE", "USA"]
//! ```

use std::time::Duration;

use rustc_hash::{FxHashMap, FxHashSet};
use serde::Deserialize;
use toml::Spanned;

use super::load_error::{LoadError, Source};
use crate::model::{Accesses, Classification, PartyId, Tetragraphs, Token, Topic};

/// The kinds of party in the liaison structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PartyKind {
    /// DHS I&A, the hub.
    Hub,
    /// An I&A Mission Center.
    MissionCenter,
    /// A DHS component hosting an I&A liaison officer.
    DhsComponent,
    /// An agency outside DHS hosting an I&A liaison officer.
    HostAgency,
    /// The home agency of a resident liaison officer assigned to I&A.
    LiaisonHomeAgency,
    /// An HSI Intelligence unit.
    HsiUnit,
    /// A state or major-urban-area fusion center.
    FusionCenter,
    /// A field agency whose Fusion Liaison Officer feeds a fusion center.
    FieldAgency,
    /// A foreign partner government.
    ForeignPartner,
}

/// One party.
#[derive(Debug, Clone)]
pub struct Party {
    pub id: PartyId,
    pub name: String,
    pub kind: PartyKind,
    pub nationality: String,
    /// Highest classification the party is accredited to hold.
    pub clearance: Classification,
    /// May receive law-enforcement-sensitive material.
    pub law_enforcement: bool,
    /// The SCI controls and special access programs the party is read into.
    pub accesses: Accesses,
    /// Part of the US Government's executive branch: ORCON-USGOV material may reach it without the
    /// originator naming it.
    pub executive_branch: bool,
    /// Topics of interest for route-by-policy; `None` means every topic.
    pub topics: Option<FxHashSet<Topic>>,
    /// The organisation for TLP:AMBER+STRICT.
    pub organisation: Token,
    pub fusion_center: Option<PartyId>,
    pub tags: Vec<Token>,
    /// How long the party's messages are kept before they must be reviewed and revalidated or purged
    /// (28 CFR 23.20(h)).
    pub retention: Duration,
    /// Granted oversight by the directory: its operators and admins may act for every party (see
    /// `identity::authorization`). The hub has oversight whether or not this is set; no token can grant it.
    pub oversight: bool,
}

/// The longest retention period, and the default: five years (28 CFR 23.20(h)), as `5y` reads (a year of
/// 365.25 days).
pub const MAX_RETENTION: Duration = Duration::from_secs(5 * 31_557_600);

/// All parties, indexed.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    parties: Vec<Party>,
    index: FxHashMap<PartyId, u32>,
    tetragraphs: Tetragraphs,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDirectory {
    #[serde(default, rename = "party")]
    parties: Vec<RawParty>,
    tetragraphs: Option<Spanned<std::collections::BTreeMap<String, Vec<String>>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawParty {
    id: Spanned<String>,
    name: String,
    kind: Spanned<String>,
    nationality: Spanned<String>,
    clearance: Spanned<String>,
    #[serde(default)]
    law_enforcement: bool,
    accesses: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    executive_branch: bool,
    #[serde(default)]
    topics: Vec<Spanned<String>>,
    organisation: Option<Spanned<String>>,
    fusion_center: Option<Spanned<String>>,
    #[serde(default)]
    tags: Vec<Spanned<String>>,
    retention: Option<Spanned<String>>,
    #[serde(default)]
    oversight: bool,
}

// === impl PartyKind ===

impl PartyKind {
    pub const ALL: [PartyKind; 9] = [
        PartyKind::Hub,
        PartyKind::MissionCenter,
        PartyKind::DhsComponent,
        PartyKind::HostAgency,
        PartyKind::LiaisonHomeAgency,
        PartyKind::HsiUnit,
        PartyKind::FusionCenter,
        PartyKind::FieldAgency,
        PartyKind::ForeignPartner,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PartyKind::Hub => "hub",
            PartyKind::MissionCenter => "mission-center",
            PartyKind::DhsComponent => "dhs-component",
            PartyKind::HostAgency => "host-agency",
            PartyKind::LiaisonHomeAgency => "liaison-home-agency",
            PartyKind::HsiUnit => "hsi-unit",
            PartyKind::FusionCenter => "fusion-center",
            PartyKind::FieldAgency => "field-agency",
            PartyKind::ForeignPartner => "foreign-partner",
        }
    }

    pub fn from_name(name: &str) -> Option<PartyKind> {
        PartyKind::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

// === impl Party ===

impl Party {
    /// Does the party want messages on `topic` when routing by policy?
    pub fn interested_in(&self, topic: &Topic) -> bool {
        self.topics.as_ref().is_none_or(|topics| topics.contains(topic))
    }

    /// May its operators and admins act for every party? The hub always; others if the directory says so.
    pub fn has_oversight(&self) -> bool {
        self.kind == PartyKind::Hub || self.oversight
    }
}

// === impl Directory ===

impl Directory {
    /// Builds a directory from parties, refusing duplicate ids.
    pub fn new(parties: Vec<Party>) -> Result<Directory, String> {
        let mut index = FxHashMap::default();
        for (position, party) in parties.iter().enumerate() {
            if index.insert(party.id.clone(), position as u32).is_some() {
                return Err(format!("party {} is listed twice", party.id));
            }
        }
        Ok(Directory { parties, index, tetragraphs: Tetragraphs::default() })
    }

    /// The same directory with these tetragraphs in force.
    pub fn with_tetragraphs(mut self, tetragraphs: Tetragraphs) -> Directory {
        self.tetragraphs = tetragraphs;
        self
    }

    /// The tetragraphs a REL TO list may name, with their members.
    pub fn tetragraphs(&self) -> &Tetragraphs {
        &self.tetragraphs
    }

    /// Parses and validates a directory file.
    pub fn parse(file: &str, text: &str) -> Result<Directory, LoadError> {
        let source = Source { file, text };
        let raw: RawDirectory = toml::from_str(text).map_err(|error| source.toml_error(error))?;
        let mut parties = Vec::with_capacity(raw.parties.len());
        let mut seen = FxHashMap::default();
        for (position, raw_party) in raw.parties.iter().enumerate() {
            let party = party(&source, position, raw_party)?;
            if let Some(first) = seen.insert(party.id.clone(), position) {
                let message = format!("{} is already party[{first}]", party.id);
                return Err(source.error(raw_party.id.span(), format!("party[{position}].id"), message));
            }
            parties.push(party);
        }
        for (position, raw_party) in raw.parties.iter().enumerate() {
            if let Some(center) = &raw_party.fusion_center {
                let known = seen.get(center.get_ref().as_str()).map(|&index| parties[index].kind);
                if known != Some(PartyKind::FusionCenter) {
                    let message = format!("{:?} is not a fusion-center party", center.get_ref());
                    return Err(source.error(center.span(), format!("party[{position}].fusion-center"), message));
                }
            }
        }
        let tetragraphs = match &raw.tetragraphs {
            None => Tetragraphs::default(),
            Some(table) => Tetragraphs::new(table.get_ref().clone())
                .map_err(|error| source.error(table.span(), "tetragraphs", error.to_string()))?,
        };
        let directory = Directory::new(parties).map_err(|message| source.error(0..0, "party", message))?;
        Ok(directory.with_tetragraphs(tetragraphs))
    }

    pub fn len(&self) -> usize {
        self.parties.len()
    }

    pub fn is_empty(&self) -> bool {
        self.parties.is_empty()
    }

    pub fn index_of(&self, id: &PartyId) -> Option<u32> {
        self.index.get(id).copied()
    }

    pub fn get(&self, id: &PartyId) -> Option<&Party> {
        self.index_of(id).map(|index| &self.parties[index as usize])
    }

    pub fn party(&self, index: u32) -> &Party {
        &self.parties[index as usize]
    }

    pub fn parties(&self) -> &[Party] {
        &self.parties
    }
}

fn party(source: &Source<'_>, position: usize, raw: &RawParty) -> Result<Party, LoadError> {
    let field = |name: &str| format!("party[{position}].{name}");
    let token = |value: &Spanned<String>, name: &str| {
        Token::parse(value.get_ref()).map_err(|error| source.error(value.span(), field(name), error.to_string()))
    };
    let id = token(&raw.id, "id")?;
    let kind = PartyKind::from_name(raw.kind.get_ref()).ok_or_else(|| {
        let kinds: Vec<&str> = PartyKind::ALL.iter().map(|kind| kind.name()).collect();
        source.error(raw.kind.span(), field("kind"), format!("unknown kind; one of {}", kinds.join(", ")))
    })?;
    let nationality = raw.nationality.get_ref();
    if !crate::model::countries::is_country(nationality) {
        let message = "a country of the ISM REL TO vocabulary (an ISO 3166 alpha-3 trigraph such as \"USA\")";
        return Err(source.error(raw.nationality.span(), field("nationality"), message));
    }
    let clearance = Classification::from_name(raw.clearance.get_ref())
        .ok_or_else(|| source.error(raw.clearance.span(), field("clearance"), Classification::NAMES))?;
    let accesses = match &raw.accesses {
        None => Accesses::default(),
        Some(list) => {
            Accesses::parse(list.get_ref()).map_err(|why| source.error(list.span(), field("accesses"), why))?
        }
    };
    let topics = if raw.topics.iter().any(|topic| topic.get_ref() == "*") {
        None
    } else {
        let mut topics = FxHashSet::default();
        for (index, topic) in raw.topics.iter().enumerate() {
            topics.insert(token(topic, &format!("topics[{index}]"))?);
        }
        Some(topics)
    };
    let organisation = match &raw.organisation {
        Some(organisation) => token(organisation, "organisation")?,
        None => id.clone(),
    };
    let fusion_center = raw.fusion_center.as_ref().map(|center| token(center, "fusion-center")).transpose()?;
    let tags = raw
        .tags
        .iter()
        .enumerate()
        .map(|(index, tag)| token(tag, &format!("tags[{index}]")))
        .collect::<Result<_, _>>()?;
    let retention = match &raw.retention {
        None => MAX_RETENTION,
        Some(value) => {
            let error = |message: String| source.error(value.span(), field("retention"), message);
            let retention = humantime::parse_duration(value.get_ref())
                .map_err(|error_| error(format!("{error_}; a duration such as \"2y\" or \"180d\"")))?;
            if retention.is_zero() || retention > MAX_RETENTION {
                return Err(error("between 1s and 5y (28 CFR 23.20(h): review within five years)".into()));
            }
            retention
        }
    };
    Ok(Party {
        id,
        name: raw.name.clone(),
        kind,
        nationality: nationality.clone(),
        clearance,
        law_enforcement: raw.law_enforcement,
        accesses,
        executive_branch: raw.executive_branch,
        topics,
        organisation,
        fusion_center,
        tags,
        retention,
        oversight: raw.oversight,
    })
}
