//! Authentication of every gateway RPC: a tonic interceptor that verifies the bearer token and leaves the
//! [`Caller`] in the request extensions.

use tonic::{Request, Status};

use super::GatewayError;
use std::sync::Arc;

use crate::identity::{Caller, Verifier};
use crate::model::PartyId;

/// Builds the interceptor for the gateway services. With mutual TLS (`client_parties` is `Some`), the
/// client certificate must map to a party and that party must be the token's.
pub fn interceptor(
    verifier: Verifier,
    client_parties: Option<Arc<Vec<(String, PartyId)>>>,
) -> impl Fn(Request<()>) -> Result<Request<()>, Status> + Clone {
    move |mut request: Request<()>| {
        let header = request.metadata().get("authorization").map(|value| value.to_str().unwrap_or(""));
        let caller = verifier.verify_header(header).map_err(GatewayError::from)?;
        if let Some(client_parties) = &client_parties {
            check_certificate(&request, client_parties, &caller)?;
        }
        request.extensions_mut().insert(caller);
        Ok(request)
    }
}

fn check_certificate(
    request: &Request<()>,
    client_parties: &[(String, PartyId)],
    caller: &Caller,
) -> Result<(), GatewayError> {
    let certificates = request.peer_certs().unwrap_or_default();
    let names = certificates.first().map(|certificate| crate::tls::certificate_names(certificate)).unwrap_or_default();
    let party = client_parties.iter().find(|(name, _)| names.contains(name)).map(|(_, party)| party);
    match party {
        None => Err(GatewayError::PermissionDenied(format!(
            "client certificate {names:?} is not mapped to a party (see --tls-client)"
        ))),
        Some(party) if *party != caller.party => Err(GatewayError::PermissionDenied(format!(
            "the client certificate speaks for {party} but the token for {}",
            caller.party
        ))),
        Some(_) => Ok(()),
    }
}

/// The verified caller of a request that passed the interceptor.
pub fn caller<T>(request: &Request<T>) -> Result<Caller, Status> {
    request.extensions().get::<Caller>().cloned().ok_or_else(|| Status::unauthenticated("missing bearer token"))
}

/// Refuses callers whose role may not publish.
pub fn require_publisher(caller: &Caller) -> Result<(), GatewayError> {
    require(caller, caller.role.may_publish(), "publish; publishing needs role agency-system")
}

/// Refuses callers whose role may not subscribe.
pub fn require_subscriber(caller: &Caller) -> Result<(), GatewayError> {
    require(caller, caller.role.may_subscribe(), "subscribe; subscribing needs role agency-system or analyst")
}

/// Refuses callers whose role may not use the operator services.
pub fn require_operator(caller: &Caller) -> Result<(), GatewayError> {
    require(caller, caller.role.may_operate(), "use the operator services; they need role operator or admin")
}

fn require(caller: &Caller, allowed: bool, what: &str) -> Result<(), GatewayError> {
    match allowed {
        true => Ok(()),
        false => Err(GatewayError::PermissionDenied(format!("role {} may not {what}", caller.role.name()))),
    }
}
