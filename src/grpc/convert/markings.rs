//! Markings between the API and the domain, in either of the API's two forms: the banner line or the
//! structured fields. Both are validated under the same rules ([`Markings::validate`]) and stored
//! canonical, both forms filled ([`markings_to_pb`]).

use crate::api as pb;
use crate::model::{
    Accesses, Classification, DisseminationControl, MAX_ACCESSES, Markings, Tetragraphs, Tlp, countries,
};

use super::{GatewayError, invalid};

/// Required markings from a publish: the banner or the structured fields, validated under the combination
/// rules. When both are given (as a delivered envelope has them) they must agree.
pub fn markings(markings: Option<&pb::Markings>) -> Result<Markings, GatewayError> {
    let fields = markings.ok_or_else(|| invalid("envelope.markings: required".into()))?;
    let tlp = tlp(fields.tlp)?;
    let structured = has_structured(fields);
    let mut markings = match fields.banner.as_str() {
        "" => structured_markings(fields)?,
        banner => {
            let parsed = Markings::from_banner(banner).map_err(|error| invalid(error.to_string()))?;
            if structured && structured_markings(fields).ok().is_none_or(|given| given.banner() != parsed.banner()) {
                return Err(invalid(
                    "envelope.markings: the banner and the structured fields (classification, controls, rel_to, sci, \
                     sap, display_only) disagree; set one form"
                        .into(),
                ));
            }
            parsed
        }
    };
    markings.tlp = tlp;
    Ok(markings)
}

/// The markings of a stored envelope, which the gateway wrote canonical with both forms: read from the
/// structured fields, without parsing the banner again.
pub fn stored_markings(markings: Option<&pb::Markings>) -> Result<Markings, GatewayError> {
    let fields = markings.ok_or_else(|| invalid("envelope.markings: required".into()))?;
    if !has_structured(fields) {
        return self::markings(Some(fields));
    }
    let mut markings = structured_markings(fields)?;
    markings.tlp = tlp(fields.tlp)?;
    Ok(markings)
}

fn has_structured(fields: &pb::Markings) -> bool {
    fields.classification != pb::Classification::Unspecified as i32
        || !fields.controls.is_empty()
        || !fields.rel_to.is_empty()
        || !fields.sci.is_empty()
        || !fields.sap.is_empty()
        || !fields.display_only.is_empty()
}

/// Canonical markings in both of the API's forms.
pub fn markings_to_pb(markings: &Markings) -> pb::Markings {
    pb::Markings {
        classification: classification_to_pb(markings.classification) as i32,
        controls: markings.controls.iter().map(|control| control_to_pb(*control) as i32).collect(),
        rel_to: markings.rel_to.clone(),
        tlp: markings.tlp.map_or(pb::Tlp::Unspecified, tlp_to_pb) as i32,
        sci: markings.sci.clone(),
        sap: markings.sap.clone(),
        display_only: markings.display_only.clone(),
        banner: markings.banner(),
    }
}

fn structured_markings(fields: &pb::Markings) -> Result<Markings, GatewayError> {
    let classification = match pb::Classification::try_from(fields.classification) {
        Ok(pb::Classification::Unspecified) => {
            return Err(invalid("envelope.markings.classification: required (or give the banner)".into()));
        }
        Ok(level) => classification_from_pb(level),
        Err(_) => {
            let value = fields.classification;
            return Err(invalid(format!("envelope.markings.classification: unknown value {value}")));
        }
    };
    let mut controls = Vec::with_capacity(fields.controls.len().min(DisseminationControl::ALL.len()));
    for (index, value) in fields.controls.iter().enumerate() {
        let control = pb::DisseminationControl::try_from(*value)
            .ok()
            .and_then(control_from_pb)
            .ok_or_else(|| invalid(format!("envelope.markings.controls[{index}]: unknown value {value}")))?;
        if controls.contains(&control) {
            return Err(invalid(format!("envelope.markings.controls[{index}]: {} repeated", control.banner())));
        }
        controls.push(control);
    }
    let rel_to = country_list("rel_to", &fields.rel_to)?;
    let display_only = country_list("display_only", &fields.display_only)?;
    let sci = sci_tokens(&fields.sci)?;
    let sap = programs(&fields.sap)?;
    let mut markings = Markings { classification, sci, sap, controls, rel_to, display_only, tlp: None };
    markings.canonicalize();
    markings.validate().map_err(|error| invalid(error.to_string()))?;
    Ok(markings)
}

/// REL TO or DISPLAY ONLY entries: countries of the vocabulary or codes shaped like a tetragraph (the
/// router checks those against the ones in force).
fn country_list(field: &str, codes: &[String]) -> Result<Vec<String>, GatewayError> {
    if codes.len() > countries::COUNTRIES.len() {
        return Err(invalid(format!(
            "envelope.markings.{field}: {} entries, more than the {} countries there are; name each once",
            codes.len(),
            countries::COUNTRIES.len()
        )));
    }
    for (index, code) in codes.iter().enumerate() {
        if !countries::is_country(code) && !Tetragraphs::is_code(code) {
            return Err(invalid(format!(
                "envelope.markings.{field}[{index}]: {code:?} is not a country of the ISM REL TO vocabulary \
                 (an ISO 3166-1 alpha-3 trigraph such as \"CAN\") nor a tetragraph (four capitals such as \"FVEY\")"
            )));
        }
    }
    Ok(codes.to_vec())
}

/// SCI tokens, each published (ISM vocabulary) and once; their parents must be there too (the rules).
fn sci_tokens(tokens: &[String]) -> Result<Vec<String>, GatewayError> {
    if tokens.len() > MAX_ACCESSES {
        return Err(invalid(format!("envelope.markings.sci: {} entries, more than {MAX_ACCESSES}", tokens.len())));
    }
    for (index, token) in tokens.iter().enumerate() {
        if let Some(error) = crate::model::sci_token_error(token) {
            return Err(invalid(format!(
                "envelope.markings.sci[{index}]: {}",
                error.to_string().replace("envelope.markings.banner: ", "")
            )));
        }
        if tokens[..index].contains(token) {
            return Err(invalid(format!("envelope.markings.sci[{index}]: {token} repeated")));
        }
    }
    Ok(tokens.to_vec())
}

/// Special access program identifiers, checked as the accesses that name them are (`SAR-<id>`).
fn programs(programs: &[String]) -> Result<Vec<String>, GatewayError> {
    if programs.len() > MAX_ACCESSES {
        return Err(invalid(format!("envelope.markings.sap: {} entries, more than {MAX_ACCESSES}", programs.len())));
    }
    for (index, program) in programs.iter().enumerate() {
        if let Err(why) = Accesses::parse([format!("SAR-{program}")]) {
            return Err(invalid(format!("envelope.markings.sap[{index}]: {why}")));
        }
        if programs[..index].contains(program) {
            return Err(invalid(format!("envelope.markings.sap[{index}]: {program} repeated")));
        }
    }
    Ok(programs.to_vec())
}

fn tlp(value: i32) -> Result<Option<Tlp>, GatewayError> {
    Ok(match pb::Tlp::try_from(value) {
        Ok(pb::Tlp::Unspecified) => None,
        Ok(pb::Tlp::Clear) => Some(Tlp::Clear),
        Ok(pb::Tlp::Green) => Some(Tlp::Green),
        Ok(pb::Tlp::Amber) => Some(Tlp::Amber),
        Ok(pb::Tlp::AmberStrict) => Some(Tlp::AmberStrict),
        Ok(pb::Tlp::Red) => Some(Tlp::Red),
        Err(_) => return Err(invalid(format!("envelope.markings.tlp: unknown value {value}"))),
    })
}

fn tlp_to_pb(tlp: Tlp) -> pb::Tlp {
    match tlp {
        Tlp::Clear => pb::Tlp::Clear,
        Tlp::Green => pb::Tlp::Green,
        Tlp::Amber => pb::Tlp::Amber,
        Tlp::AmberStrict => pb::Tlp::AmberStrict,
        Tlp::Red => pb::Tlp::Red,
    }
}

fn classification_from_pb(level: pb::Classification) -> Classification {
    match level {
        pb::Classification::Unspecified | pb::Classification::Unclassified => Classification::Unclassified,
        pb::Classification::Confidential => Classification::Confidential,
        pb::Classification::Secret => Classification::Secret,
        pb::Classification::TopSecret => Classification::TopSecret,
    }
}

fn classification_to_pb(level: Classification) -> pb::Classification {
    match level {
        Classification::Unclassified => pb::Classification::Unclassified,
        Classification::Confidential => pb::Classification::Confidential,
        Classification::Secret => pb::Classification::Secret,
        Classification::TopSecret => pb::Classification::TopSecret,
    }
}

/// The API's controls and the domain's, in the same order.
const CONTROLS: [(pb::DisseminationControl, DisseminationControl); 16] = {
    use DisseminationControl as D;
    use pb::DisseminationControl as P;
    [
        (P::Fouo, D::Fouo),
        (P::Orcon, D::Orcon),
        (P::OrconUsgov, D::OrconUsgov),
        (P::Imcon, D::Imcon),
        (P::Noforn, D::Noforn),
        (P::Propin, D::Propin),
        (P::Relido, D::Relido),
        (P::Fisa, D::Fisa),
        (P::Limdis, D::Limdis),
        (P::Exdis, D::Exdis),
        (P::Nodis, D::Nodis),
        (P::Sbu, D::Sbu),
        (P::SbuNoforn, D::SbuNoforn),
        (P::Les, D::Les),
        (P::LesNoforn, D::LesNoforn),
        (P::Ssi, D::Ssi),
    ]
};

fn control_from_pb(control: pb::DisseminationControl) -> Option<DisseminationControl> {
    CONTROLS.iter().find(|(api, _)| *api == control).map(|(_, domain)| *domain)
}

fn control_to_pb(control: DisseminationControl) -> pb::DisseminationControl {
    CONTROLS
        .iter()
        .find(|(_, domain)| *domain == control)
        .map_or(pb::DisseminationControl::Unspecified, |(api, _)| *api)
}
