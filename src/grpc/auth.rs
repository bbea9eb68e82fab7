//! Authentication of every gateway RPC: a tonic interceptor that verifies the bearer token and leaves the
//! [`Caller`] in the request extensions.

use tonic::{Request, Status};

use super::GatewayError;
use super::server::Gateway;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::identity::{Caller, Verifier};
use crate::model::PartyId;

/// Authentication and authorization refusals since start.
#[derive(Debug, Default)]
pub struct AuthCounters {
    pub unauthenticated: AtomicU64,
    pub permission_denied: AtomicU64,
}

/// Builds the interceptor for the gateway services. With mutual TLS (`client_parties` is `Some`), the
/// client certificate must map to a party and that party must be the token's.
pub fn interceptor(
    verifier: Verifier,
    client_parties: Option<Arc<Vec<(String, PartyId)>>>,
    counters: Arc<AuthCounters>,
) -> impl Fn(Request<()>) -> Result<Request<()>, Status> + Clone {
    move |mut request: Request<()>| {
        let header = request.metadata().get("authorization").map(|value| value.to_str().unwrap_or(""));
        let caller = verifier.verify_header(header).map_err(|error| {
            counters.unauthenticated.fetch_add(1, Ordering::Relaxed);
            tracing::info!(%error, "request refused: unauthenticated");
            GatewayError::from(error)
        })?;
        if let Some(client_parties) = &client_parties {
            check_certificate(&request, client_parties, &caller).inspect_err(|_| {
                counters.permission_denied.fetch_add(1, Ordering::Relaxed);
            })?;
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

impl Gateway {
    /// Refuses callers whose role may not publish.
    pub(super) fn require_publisher(&self, caller: &Caller) -> Result<(), GatewayError> {
        self.require(caller, caller.role.may_publish(), "publish; publishing needs role agency-system")
    }

    /// Refuses callers whose role may not subscribe.
    pub(super) fn require_subscriber(&self, caller: &Caller) -> Result<(), GatewayError> {
        self.require(caller, caller.role.may_subscribe(), "subscribe; subscribing needs role agency-system or analyst")
    }

    /// Refuses callers whose role may not use the operator services.
    pub(super) fn require_operator(&self, caller: &Caller) -> Result<(), GatewayError> {
        self.require(caller, caller.role.may_operate(), "use the operator services; they need role operator or admin")
    }

    /// Counts and logs a refusal on the way out.
    pub(super) fn refuse(&self, caller: &Caller, reason: String) -> GatewayError {
        self.auth_counters.permission_denied.fetch_add(1, Ordering::Relaxed);
        tracing::info!(party = %caller.party, subject = %caller.subject, "permission denied: {reason}");
        GatewayError::PermissionDenied(reason)
    }

    /// Counts a refusal that arose elsewhere (a spoofed origin, another party's feed) and passes it on.
    pub(super) fn counted(&self, error: GatewayError) -> GatewayError {
        if error.code() == tonic::Code::PermissionDenied {
            self.auth_counters.permission_denied.fetch_add(1, Ordering::Relaxed);
            tracing::info!(%error, "permission denied");
        }
        error
    }

    pub(super) fn require(&self, caller: &Caller, allowed: bool, what: &str) -> Result<(), GatewayError> {
        match allowed {
            true => Ok(()),
            false => Err(self.refuse(caller, format!("role {} may not {what}", caller.role.name()))),
        }
    }
}
