//! Authentication of every gateway RPC: a tonic interceptor that verifies the bearer token and leaves the
//! [`Caller`] in the request extensions. Authorization applies `identity::authorization`'s table, with the
//! caller's oversight looked up in the directory of the router in force at each call.

use tonic::metadata::{Ascii, MetadataValue};
use tonic::{Request, Status};

use super::GatewayError;
use super::server::Gateway;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::identity::authorization::{self, Action, Scope, View};
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
    max_header_bytes: usize,
) -> impl Fn(Request<()>) -> Result<Request<()>, Status> + Clone {
    let verifier = Arc::new(verifier);
    move |mut request: Request<()>| {
        check_header_size(request.metadata(), max_header_bytes)?;
        // A clone of the header value shares its bytes: nothing is copied per request.
        let authorization = request.metadata().get("authorization").cloned();
        let header = authorization.as_ref().map(|value| value.to_str().unwrap_or(""));
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
        request.extensions_mut().insert(Credential { authorization, verifier: verifier.clone() });
        Ok(request)
    }
}

/// Refuses request headers larger than `--max-header-list-size`, counted as HTTP/2 counts a header list
/// (name, value and 32 bytes each). HTTP/2 itself stops header lists at four times the limit, with 431.
fn check_header_size(metadata: &tonic::metadata::MetadataMap, max: usize) -> Result<(), GatewayError> {
    use tonic::metadata::KeyAndValueRef;
    let size: usize = metadata
        .iter()
        .map(|entry| match entry {
            KeyAndValueRef::Ascii(key, value) => key.as_str().len() + value.as_encoded_bytes().len() + 32,
            KeyAndValueRef::Binary(key, value) => key.as_str().len() + value.as_encoded_bytes().len() + 32,
        })
        .sum();
    match size > max {
        true => Err(GatewayError::TooLarge(format!(
            "request headers: {size} bytes; at most {max} (--max-header-list-size)"
        ))),
        false => Ok(()),
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

/// The token a call was made with, kept so a long-lived stream can check it again: a token revoked, or
/// expired, while its Subscribe stream is open gets nothing more from it.
#[derive(Clone)]
pub struct Credential {
    authorization: Option<MetadataValue<Ascii>>,
    verifier: Arc<Verifier>,
}

impl Credential {
    /// Verifies the token again (a cache hit: expiry, key retirement and revocations).
    pub fn check(&self) -> Result<(), GatewayError> {
        let header = self.authorization.as_ref().map(|value| value.to_str().unwrap_or(""));
        self.verifier.verify_header(header).map(|_| ()).map_err(GatewayError::from)
    }
}

/// The credential of a request that passed the interceptor.
pub fn credential<T>(request: &Request<T>) -> Result<Credential, Status> {
    request.extensions().get::<Credential>().cloned().ok_or_else(|| Status::unauthenticated("missing bearer token"))
}

/// The verified caller of a request that passed the interceptor.
pub fn caller<T>(request: &Request<T>) -> Result<Caller, Status> {
    request.extensions().get::<Caller>().cloned().ok_or_else(|| Status::unauthenticated("missing bearer token"))
}

impl Gateway {
    /// Refuses callers who may not publish (their own party's messages: the origin is always the caller's).
    pub(super) fn require_publisher(&self, caller: &Caller) -> Result<(), GatewayError> {
        self.authorize(caller, Action::Publish, Scope::Own).map(drop)
    }

    /// Refuses callers who may not subscribe to their own party's feed.
    pub(super) fn require_subscriber(&self, caller: &Caller) -> Result<(), GatewayError> {
        self.authorize(caller, Action::Subscribe, Scope::Own).map(drop)
    }

    /// Does the caller's party have oversight under the router in force now? (The policy can change.)
    pub(super) fn oversight(&self, caller: &Caller) -> bool {
        self.policy.current().directory().get(&caller.party).is_some_and(|party| party.has_oversight())
    }

    /// Applies the authorization table to a call of `action` at `scope`; a refusal is counted and logged.
    pub(super) fn authorize(&self, caller: &Caller, action: Action, scope: Scope) -> Result<View, GatewayError> {
        authorization::authorize(caller.role, self.oversight(caller), action, scope)
            .map_err(|refusal| self.refused(caller, refusal))
    }

    /// Refuses a caller who may call `action` at no scope at all, before anything about its target is read.
    pub(super) fn authorize_some(&self, caller: &Caller, action: Action) -> Result<(), GatewayError> {
        authorization::authorize_some(caller.role, self.oversight(caller), action)
            .map_err(|refusal| self.refused(caller, refusal))
    }

    fn refused(&self, caller: &Caller, refusal: authorization::Refusal) -> GatewayError {
        self.auth_counters.permission_denied.fetch_add(1, Ordering::Relaxed);
        tracing::info!(party = %caller.party, subject = %caller.subject, "permission denied: {refusal}");
        GatewayError::from(refusal)
    }

    /// Authorizes a listing that names `party` (`None`: every party) and returns the party it may list:
    /// `None` for every party, or the caller's own when it is given only its own party's view.
    pub(super) fn authorize_listing(
        &self,
        caller: &Caller,
        action: Action,
        party: Option<PartyId>,
    ) -> Result<Option<PartyId>, GatewayError> {
        let scope = authorization::scope_of(&caller.party, party.as_ref());
        match self.authorize(caller, action, scope)? {
            View::Full => Ok(party),
            View::OwnParty => Ok(Some(caller.party.clone())),
        }
    }

    /// Authenticates and authorizes a scrape of the admin port's `/metrics` by its `Authorization` header,
    /// as an RPC would be, and returns the party its series are limited to (`None`: every series).
    pub fn authorize_scrape(&self, verifier: &Verifier, header: Option<&str>) -> Result<Option<PartyId>, GatewayError> {
        let caller = verifier.verify_header(header).map_err(|error| {
            self.auth_counters.unauthenticated.fetch_add(1, Ordering::Relaxed);
            tracing::info!(%error, "metrics scrape refused: unauthenticated");
            GatewayError::from(error)
        })?;
        match self.authorize(&caller, Action::ScrapeMetrics, Scope::All)? {
            View::Full => Ok(None),
            View::OwnParty => Ok(Some(caller.party)),
        }
    }

    /// Counts a refusal that arose elsewhere (a spoofed origin, another party's feed) and passes it on.
    pub(super) fn counted(&self, error: GatewayError) -> GatewayError {
        if error.code() == tonic::Code::PermissionDenied {
            self.auth_counters.permission_denied.fetch_add(1, Ordering::Relaxed);
            tracing::info!(%error, "permission denied");
        }
        error
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_headers_are_measured_as_http2_does_and_refused_over_the_limit() {
        let mut metadata = tonic::metadata::MetadataMap::new();
        metadata.insert("authorization", "Bearer abc".parse().unwrap());
        // 13 + 10 + 32
        assert!(check_header_size(&metadata, 55).is_ok());
        let Err(GatewayError::TooLarge(message)) = check_header_size(&metadata, 54) else { panic!("not refused") };
        assert_eq!(message, "request headers: 55 bytes; at most 54 (--max-header-list-size)");
        metadata.insert_bin("trace-bin", tonic::metadata::MetadataValue::from_bytes(&[0u8; 30]));
        assert!(check_header_size(&metadata, 55).is_err(), "binary headers count too");
    }
}
