//! Entry points for the fuzz targets (`fuzz/`): the pure validation each handler runs before any I/O,
//! reachable from outside the crate. Not an API: every function here is the very one the handler calls.

use std::time::Duration;

use crate::api as pb;
use crate::audit::AuditQuery;
use crate::bus::{FeedSpec, Start};
use crate::identity::Caller;
use crate::model::{PartyId, RouteRequest, Token};
use crate::traffic::FlowLabels;

pub use super::subscribe::Window;
use super::{GatewayError, Limits, audit_query, convert, review_due, seek, subscribe};

/// Publish: validates an envelope into its routing view (normalising it in place).
pub fn route_request(
    caller: &Caller,
    envelope: &mut pb::Envelope,
    limits: &Limits,
) -> Result<RouteRequest, GatewayError> {
    convert::route_request(caller, envelope, limits)
}

/// Publish: how long until the envelope expires.
pub fn expires_in(envelope: &pb::Envelope, now: time::OffsetDateTime) -> Result<Option<Duration>, GatewayError> {
    convert::expires_in(envelope, now)
}

/// Delivery: whether a stored envelope has expired.
pub fn expired(envelope: &pb::Envelope, now: time::OffsetDateTime) -> bool {
    convert::expired(envelope, now)
}

/// Delivery: the traffic labels of a stored copy.
pub fn flow_labels(recipient: &PartyId, envelope: &pb::Envelope) -> Option<FlowLabels> {
    convert::flow_labels(recipient, envelope)
}

/// Publish and delivery: markings from the API into the domain.
pub fn markings(markings: Option<&pb::Markings>) -> Result<crate::model::Markings, GatewayError> {
    convert::markings(markings)
}

/// Subscribe: validates the `open` request into the feed and the window.
pub fn subscribe_open(
    caller: &Caller,
    open: &pb::OpenSubscription,
    limits: &Limits,
) -> Result<(FeedSpec, Window), GatewayError> {
    subscribe::feed_spec(caller, open, limits)
}

/// Seek: validates the durable's name and the position.
pub fn seek_target(request: &pb::SeekRequest) -> Result<(Token, Start), GatewayError> {
    seek::seek_target(request)
}

/// QueryAudit: validates the filters (with `origin` for a caller without the full view) and the limit.
pub fn audit_query(origin: Option<String>, request: &pb::QueryAuditRequest) -> Result<(AuditQuery, u32), GatewayError> {
    audit_query::audit_query(origin, request)
}

/// QueryAudit: the stretch of the audit stream a query reads.
pub fn audit_stored_between(query: &AuditQuery) -> (Option<time::OffsetDateTime>, Option<time::OffsetDateTime>) {
    audit_query::stored_between(query)
}

/// ListReviewDue: validates how far ahead to look, how many to list, and whose.
pub fn review_filters(request: &pb::ListReviewDueRequest) -> Result<(Duration, u32, Option<PartyId>), GatewayError> {
    let asked = review_due::review_request(request)?;
    Ok((asked.within, asked.limit, asked.party))
}
