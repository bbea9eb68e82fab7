//! The last check before a delivery leaves the gateway: the person's own clearance and nationality from
//! their token. A policy mistake cannot leak above an analyst's clearance or past NOFORN / REL TO.

use crate::api as pb;
use crate::grpc::convert;
use crate::identity::Caller;
use crate::model::DisseminationControl;

/// Why this caller may not see this envelope, or `None` if they may.
pub fn withhold_reason(caller: &Caller, envelope: &pb::Envelope) -> Option<String> {
    if caller.clearance.is_none() && caller.nationality.is_none() {
        return None;
    }
    let Ok(markings) = convert::markings(envelope.markings.as_ref()) else {
        return Some("its markings cannot be read".to_string());
    };
    if let Some(clearance) = caller.clearance
        && markings.classification > clearance
    {
        return Some(format!(
            "{} is above the personal clearance of {} ({})",
            markings.classification.banner(),
            caller.subject,
            clearance.banner()
        ));
    }
    if let Some(nationality) = &caller.nationality {
        if nationality != "USA" && markings.has(DisseminationControl::Noforn) {
            return Some(format!("NOFORN and {} is a {nationality} national", caller.subject));
        }
        if !markings.rel_to.is_empty() && !markings.released_to(nationality) {
            return Some(format!("REL TO {} does not include {nationality}", markings.rel_to.join(", ")));
        }
    }
    None
}
