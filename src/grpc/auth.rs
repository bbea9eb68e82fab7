//! Authentication of every gateway RPC: a tonic interceptor that verifies the bearer token and leaves the
//! [`Caller`] in the request extensions.

use tonic::{Request, Status};

use super::GatewayError;
use crate::identity::{Caller, Verifier};

/// Builds the interceptor for the gateway service.
pub fn interceptor(verifier: Verifier) -> impl Fn(Request<()>) -> Result<Request<()>, Status> + Clone {
    move |mut request: Request<()>| {
        let header = request.metadata().get("authorization").map(|value| value.to_str().unwrap_or(""));
        let caller = verifier.verify_header(header).map_err(GatewayError::from)?;
        request.extensions_mut().insert(caller);
        Ok(request)
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
