//! The banner line: `CLASSIFICATION//SCI//SAP//DISSEMINATION//NON-IC DISSEMINATION`, categories separated
//! by `//` in the Register's order, entries within a category by `/`.
//!
//! Parsing accepts the portion-mark abbreviations (`TS`, `NF`, `OC` ...), entries in any order within a
//! category and the retired `USA/GBR EYES ONLY` (read as `REL TO USA, GBR`); rendering writes the canonical
//! form: full words, the Register's order, `REL TO USA` first, then trigraphs, then tetragraphs, each
//! alphabetical. SCI is written system, `-compartment`, ` sub-compartment` (`SI-G ABCD-NK/TK`) and held as
//! ISM tokens (`SI`, `SI-G`, `SI-G-ABCD`, `SI-NK`, `TK`).

use std::collections::BTreeMap;

use super::{Classification, DisseminationControl, MarkingError, Markings};
use crate::model::{Tetragraphs, countries};

include!(concat!(env!("OUT_DIR"), "/sci_controls.rs"));

/// The longest banner accepted, in bytes.
pub const MAX_BANNER_LEN: usize = 1024;

/// Why a banner line is refused, each naming its rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BannerError {
    #[error("envelope.markings.banner: {0} (rule syntax)")]
    Syntax(String),
    #[error(
        "envelope.markings.banner: {0:?} is not a classification (UNCLASSIFIED, CONFIDENTIAL, SECRET, TOP SECRET) \
         (rule classification)"
    )]
    Classification(String),
    #[error(
        "envelope.markings.banner: {0:?} is out of the Register's order (classification//SCI//SAP//dissemination \
         controls//non-IC controls, each category once) (rule category-order)"
    )]
    CategoryOrder(String),
    #[error("envelope.markings.banner: {0:?} is not a published SCI control system or compartment (rule unknown-sci)")]
    UnknownSci(String),
    #[error("envelope.markings.banner: {0:?} is not a dissemination control (rule unknown-control)")]
    UnknownControl(String),
    #[error(
        "envelope.markings.banner: {0:?} is not a country of the ISM REL TO vocabulary nor a tetragraph \
         (rule unknown-country)"
    )]
    UnknownCountry(String),
    #[error("envelope.markings.banner: {0} is marked twice (rule repeated)")]
    Repeated(String),
    #[error("envelope.markings.banner: EYES ONLY names only USA, AUS, CAN, GBR and NZL; {0} is not one (ISM-ID-00345)")]
    EyesOnlyCountry(String),
    #[error("envelope.markings.banner: REL TO and EYES ONLY exclude each other (ISM-ID-00090)")]
    RelToWithEyesOnly,
    #[error("{0}")]
    Rule(MarkingError),
}

impl BannerError {
    /// The rule's key, as in [`MarkingError::rule`].
    pub fn rule(&self) -> &'static str {
        match self {
            BannerError::Syntax(_) => "syntax",
            BannerError::Classification(_) => "classification",
            BannerError::CategoryOrder(_) => "category-order",
            BannerError::UnknownSci(_) => "unknown-sci",
            BannerError::UnknownControl(_) => "unknown-control",
            BannerError::UnknownCountry(_) => "unknown-country",
            BannerError::Repeated(_) => "repeated",
            BannerError::EyesOnlyCountry(_) => "ISM-ID-00345",
            BannerError::RelToWithEyesOnly => "ISM-ID-00090",
            BannerError::Rule(error) => error.rule(),
        }
    }
}

/// The banner's categories after the classification, in the Register's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Category {
    Sci,
    Sap,
    Dissemination,
    NonIc,
}

/// Parses a banner line into canonical markings; the combination rules are the caller's.
pub(super) fn parse(line: &str) -> Result<Markings, BannerError> {
    if line.len() > MAX_BANNER_LEN {
        return Err(BannerError::Syntax(format!(
            "{} bytes, more than the {MAX_BANNER_LEN} a banner may have",
            line.len()
        )));
    }
    if let Some(bad) = line.chars().find(|c| !(c.is_ascii_uppercase() || c.is_ascii_digit() || " /-,".contains(*c))) {
        return Err(BannerError::Syntax(format!("{bad:?} is not allowed: capitals, digits, space, '/', '-' and ','")));
    }
    if line.contains("  ")
        || line.contains(",,")
        || line.split("//").any(|segment| {
            segment.is_empty() || segment.starts_with(['/', ' ', ',', '-']) || segment.ends_with(['/', ' ', ',', '-'])
        })
    {
        return Err(BannerError::Syntax(format!("empty or malformed category in {line:?}")));
    }
    let mut segments = line.split("//");
    let first = segments.next().unwrap_or_default();
    let classification = classification(first).ok_or_else(|| BannerError::Classification(first.to_string()))?;
    let mut markings = Markings { classification, ..Markings::unclassified() };
    let mut last = None;
    for segment in segments {
        let category = category(segment);
        if last.is_some_and(|last| category <= last) {
            return Err(BannerError::CategoryOrder(segment.to_string()));
        }
        last = Some(category);
        match category {
            Category::Sci => parse_sci(segment, &mut markings.sci)?,
            Category::Sap => parse_sap(segment, &mut markings.sap)?,
            Category::Dissemination => parse_dissemination(segment, &mut markings)?,
            Category::NonIc => parse_non_ic(segment, &mut markings.controls)?,
        }
    }
    markings.canonicalize();
    Ok(markings)
}

fn classification(word: &str) -> Option<Classification> {
    Some(match word {
        "UNCLASSIFIED" | "U" => Classification::Unclassified,
        "CONFIDENTIAL" | "C" => Classification::Confidential,
        "SECRET" | "S" => Classification::Secret,
        "TOP SECRET" | "TS" => Classification::TopSecret,
        _ => return None,
    })
}

/// Which category a segment is: SAP by its first entry's prefix, SCI when any entry names a published
/// control system, non-IC by its first entry.
fn category(segment: &str) -> Category {
    let first = segment.split('/').next().unwrap_or_default();
    let system = |item: &str| is_system(item.split(['-', ' ']).next().unwrap_or_default());
    if first.starts_with("SAR-") || first.starts_with("SPECIAL ACCESS REQUIRED-") {
        Category::Sap
    } else if segment.split('/').any(system) {
        Category::Sci
    } else if DisseminationControl::from_banner(first).is_some_and(DisseminationControl::is_non_ic) {
        Category::NonIc
    } else {
        Category::Dissemination
    }
}

/// A published SCI control system (`SI`, `TK` ...).
fn is_system(word: &str) -> bool {
    !word.contains('-') && SCI_CONTROLS.binary_search(&word).is_ok()
}

/// Why an SCI token (`SI`, `SI-G`, `SI-G-ABCD`, `RSV-XYZ`) is not one Liaison knows, if it is not: a
/// published control system, then a published compartment (any three capitals or digits for RSV, whose
/// compartments are not published), then a sub-compartment of one to six capitals or digits.
pub fn sci_token_error(token: &str) -> Option<BannerError> {
    let unknown = || Some(BannerError::UnknownSci(token.to_string()));
    let mut parts = token.split('-');
    let system = parts.next().unwrap_or_default();
    if !is_system(system) {
        return unknown();
    }
    if let Some(compartment) = parts.next() {
        let name = &token[..system.len() + 1 + compartment.len()];
        let published = SCI_CONTROLS.binary_search(&name).is_ok();
        let reserve = system == "RSV" && compartment.len() == 3 && alphanumeric(compartment);
        if !(published || reserve) {
            return unknown();
        }
    }
    if let Some(sub) = parts.next()
        && (!(1..=6).contains(&sub.len()) || !alphanumeric(sub))
    {
        return unknown();
    }
    if parts.next().is_some() { unknown() } else { None }
}

fn alphanumeric(word: &str) -> bool {
    !word.is_empty() && word.bytes().all(|byte| byte.is_ascii_uppercase() || byte.is_ascii_digit())
}

/// `SI-G ABCD-NK/TK`: each system with its compartments and their sub-compartments.
fn parse_sci(segment: &str, sci: &mut Vec<String>) -> Result<(), BannerError> {
    for item in segment.split('/') {
        if item.is_empty() || item.contains("--") || item.contains("- ") || item.contains(" -") || item.ends_with('-') {
            return Err(BannerError::Syntax(format!("{item:?} is not SYSTEM-COMPARTMENT SUB")));
        }
        let mut compartments = item.split('-');
        let system = compartments.next().unwrap_or_default();
        push_sci(sci, system.to_string())?;
        for compartment in compartments {
            let mut words = compartment.split(' ');
            let name = format!("{system}-{}", words.next().unwrap_or_default());
            push_sci(sci, name.clone())?;
            for sub in words {
                push_sci(sci, format!("{name}-{sub}"))?;
            }
        }
    }
    Ok(())
}

fn push_sci(sci: &mut Vec<String>, token: String) -> Result<(), BannerError> {
    if let Some(error) = sci_token_error(&token) {
        return Err(error);
    }
    if sci.contains(&token) {
        return Err(BannerError::Repeated(token));
    }
    sci.push(token);
    Ok(())
}

/// `SAR-BP/GB` (the Register's form since 2011: one `SAR-` for all programs; `SAR-BP/SAR-GB` is read too):
/// program identifiers, words of capitals and digits.
fn parse_sap(segment: &str, sap: &mut Vec<String>) -> Result<(), BannerError> {
    for item in segment.split('/') {
        let program =
            item.strip_prefix("SAR-").or_else(|| item.strip_prefix("SPECIAL ACCESS REQUIRED-")).unwrap_or(item);
        if program.len() > 64 || !program.split(' ').all(alphanumeric) {
            return Err(BannerError::Syntax(format!("{item:?} is not a special access program identifier")));
        }
        if sap.iter().any(|held| held == program) {
            return Err(BannerError::Repeated(format!("SAR-{program}")));
        }
        sap.push(program.to_string());
    }
    Ok(())
}

/// The IC dissemination controls, with REL TO, DISPLAY ONLY and the retired EYES ONLY.
fn parse_dissemination(segment: &str, markings: &mut Markings) -> Result<(), BannerError> {
    let mut eyes: Vec<String> = Vec::new();
    let mut rel_to = false;
    for item in segment.split('/') {
        if let Some(list) = item.strip_prefix("REL TO ") {
            if rel_to || !markings.rel_to.is_empty() {
                return Err(if rel_to {
                    BannerError::Repeated("REL TO".into())
                } else {
                    BannerError::RelToWithEyesOnly
                });
            }
            rel_to = true;
            markings.rel_to = country_list(list)?;
        } else if let Some(list) = item.strip_prefix("DISPLAY ONLY ") {
            if !markings.display_only.is_empty() {
                return Err(BannerError::Repeated("DISPLAY ONLY".into()));
            }
            markings.display_only = country_list(list)?;
        } else if countries::is_country(item) {
            eyes.push(item.to_string());
        } else if let Some(last) = item.strip_suffix(" EYES ONLY") {
            eyes.push(last.to_string());
            markings.rel_to = eyes_only(std::mem::take(&mut eyes), rel_to)?;
        } else {
            match DisseminationControl::from_banner(item) {
                Some(control) if control.is_non_ic() => return Err(BannerError::CategoryOrder(item.to_string())),
                Some(control) => push_control(&mut markings.controls, control)?,
                None => return Err(BannerError::UnknownControl(item.to_string())),
            }
        }
    }
    match eyes.first() {
        Some(country) => Err(BannerError::UnknownControl(country.clone())),
        None => Ok(()),
    }
}

/// `USA/GBR EYES ONLY` as the REL TO it stands for.
fn eyes_only(countries: Vec<String>, rel_to: bool) -> Result<Vec<String>, BannerError> {
    if rel_to {
        return Err(BannerError::RelToWithEyesOnly);
    }
    const EYES: [&str; 5] = ["USA", "AUS", "CAN", "GBR", "NZL"];
    if let Some(other) = countries.iter().find(|country| !EYES.contains(&country.as_str())) {
        return Err(BannerError::EyesOnlyCountry(other.clone()));
    }
    Ok(countries)
}

/// `USA, CAN, FVEY`: countries of the vocabulary and codes shaped like a tetragraph (the router checks
/// those against the ones in force).
fn country_list(list: &str) -> Result<Vec<String>, BannerError> {
    list.split(", ")
        .map(|code| {
            if code.contains([',', ' ']) {
                Err(BannerError::Syntax(format!("{list:?}: countries are separated by \", \"")))
            } else if countries::is_country(code) || Tetragraphs::is_code(code) {
                Ok(code.to_string())
            } else {
                Err(BannerError::UnknownCountry(code.to_string()))
            }
        })
        .collect()
}

fn parse_non_ic(segment: &str, controls: &mut Vec<DisseminationControl>) -> Result<(), BannerError> {
    for item in segment.split('/') {
        match DisseminationControl::from_banner(item) {
            Some(control) if control.is_non_ic() => push_control(controls, control)?,
            Some(_) => return Err(BannerError::CategoryOrder(item.to_string())),
            None => return Err(BannerError::UnknownControl(item.to_string())),
        }
    }
    Ok(())
}

fn push_control(controls: &mut Vec<DisseminationControl>, control: DisseminationControl) -> Result<(), BannerError> {
    if controls.contains(&control) {
        return Err(BannerError::Repeated(control.banner().to_string()));
    }
    controls.push(control);
    Ok(())
}

/// The canonical banner of canonical markings.
pub(super) fn render(markings: &Markings) -> String {
    let mut categories = vec![markings.classification.banner().to_string()];
    if !markings.sci.is_empty() {
        categories.push(render_sci(&markings.sci));
    }
    if !markings.sap.is_empty() {
        categories.push(format!("SAR-{}", markings.sap.join("/")));
    }
    let (ic, non_ic): (Vec<DisseminationControl>, Vec<DisseminationControl>) =
        markings.controls.iter().copied().partition(|control| !control.is_non_ic());
    let mut dissemination: Vec<String> = Vec::new();
    for control in ic {
        if control > DisseminationControl::Propin && !markings.rel_to.is_empty() && !rel_to_written(&dissemination) {
            dissemination.push(format!("REL TO {}", markings.rel_to.join(", ")));
        }
        dissemination.push(control.banner().to_string());
    }
    if !markings.rel_to.is_empty() && !rel_to_written(&dissemination) {
        dissemination.push(format!("REL TO {}", markings.rel_to.join(", ")));
    }
    if !markings.display_only.is_empty() {
        dissemination.push(format!("DISPLAY ONLY {}", markings.display_only.join(", ")));
    }
    if !dissemination.is_empty() {
        categories.push(dissemination.join("/"));
    }
    if !non_ic.is_empty() {
        categories.push(non_ic.iter().map(|control| control.banner()).collect::<Vec<_>>().join("/"));
    }
    categories.join("//")
}

fn rel_to_written(dissemination: &[String]) -> bool {
    dissemination.iter().any(|entry| entry.starts_with("REL TO "))
}

/// `SI-G ABCD-NK/TK` from the tokens `SI`, `SI-G`, `SI-G-ABCD`, `SI-NK`, `TK`.
fn render_sci(tokens: &[String]) -> String {
    let mut systems: BTreeMap<&str, BTreeMap<&str, Vec<&str>>> = BTreeMap::new();
    for token in tokens {
        let mut parts = token.splitn(3, '-');
        let system = systems.entry(parts.next().unwrap_or_default()).or_default();
        if let Some(compartment) = parts.next() {
            let subs = system.entry(compartment).or_default();
            subs.extend(parts.next());
        }
    }
    let rendered: Vec<String> = systems
        .into_iter()
        .map(|(system, compartments)| {
            let mut out = system.to_string();
            for (compartment, subs) in compartments {
                out.push('-');
                out.push_str(compartment);
                for sub in subs {
                    out.push(' ');
                    out.push_str(sub);
                }
            }
            out
        })
        .collect();
    rendered.join("/")
}
