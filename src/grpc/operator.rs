//! `liaison.v1.OperatorService`: routing dry-runs, counters and dead letters for operators and admins.
//! Metadata in, metadata out; no message content is ever returned.

use tonic::{Request, Response, Status};

use crate::api::{self as pb, operator_service_server::OperatorService};
use crate::identity::authorization::{Action, scope_of};
use crate::model::RouteRequest;
use crate::router::{Outcome, Router};

use super::server::Gateway;
use super::{GatewayError, auth, convert};

#[tonic::async_trait]
impl OperatorService for Gateway {
    async fn check_route(
        &self,
        request: Request<pb::CheckRouteRequest>,
    ) -> Result<Response<pb::CheckRouteResponse>, Status> {
        let caller = auth::caller(&request)?;
        let origin = request.get_ref().origin.as_str();
        self.authorize(&caller, Action::CheckRoute, scope_of(caller.party.as_str(), Some(origin)))?;
        Ok(Response::new(check_route(&self.policy.current(), &request.into_inner())?))
    }

    async fn list_denial_counts(
        &self,
        request: Request<pb::ListDenialCountsRequest>,
    ) -> Result<Response<pb::ListDenialCountsResponse>, Status> {
        let caller = auth::caller(&request)?;
        let party = self.authorize_listing(&caller, Action::ListDenialCounts, None)?;
        let (counts, withheld) = self.denial_totals(party.as_ref().map(|party| party.as_str()));
        // The refusal counters are the whole gateway's and name no party: only a full view shows them.
        let (unauthenticated, permission_denied) = match party {
            Some(_) => (0, 0),
            None => (
                self.auth_counters.unauthenticated.load(std::sync::atomic::Ordering::Relaxed),
                self.auth_counters.permission_denied.load(std::sync::atomic::Ordering::Relaxed),
            ),
        };
        Ok(Response::new(pb::ListDenialCountsResponse { counts, withheld, unauthenticated, permission_denied }))
    }

    async fn list_dead_letters(
        &self,
        request: Request<pb::ListDeadLettersRequest>,
    ) -> Result<Response<pb::ListDeadLettersResponse>, Status> {
        let caller = auth::caller(&request)?;
        Ok(Response::new(Gateway::list_dead_letters(self, &caller, request.into_inner()).await?))
    }

    async fn redrive_dead_letters(
        &self,
        request: Request<pb::RedriveDeadLettersRequest>,
    ) -> Result<Response<pb::RedriveDeadLettersResponse>, Status> {
        let caller = auth::caller(&request)?;
        Ok(Response::new(Gateway::redrive_dead_letters(self, &caller, request.into_inner()).await?))
    }

    type QueryAuditStream =
        std::pin::Pin<Box<dyn futures::Stream<Item = Result<pb::QueryAuditResponse, Status>> + Send + 'static>>;

    async fn query_audit(
        &self,
        request: Request<pb::QueryAuditRequest>,
    ) -> Result<Response<Self::QueryAuditStream>, Status> {
        let caller = auth::caller(&request)?;
        let records = Gateway::query_audit(self, &caller, request.into_inner()).await?;
        Ok(Response::new(Box::pin(records)))
    }

    type ListReviewDueStream =
        std::pin::Pin<Box<dyn futures::Stream<Item = Result<pb::ListReviewDueResponse, Status>> + Send + 'static>>;

    async fn list_review_due(
        &self,
        request: Request<pb::ListReviewDueRequest>,
    ) -> Result<Response<Self::ListReviewDueStream>, Status> {
        let caller = auth::caller(&request)?;
        let due = Gateway::list_review_due(self, &caller, request.into_inner()).await?;
        Ok(Response::new(Box::pin(due)))
    }

    async fn revalidate(
        &self,
        request: Request<pb::RevalidateRequest>,
    ) -> Result<Response<pb::RevalidateResponse>, Status> {
        let caller = auth::caller(&request)?;
        Ok(Response::new(Gateway::revalidate(self, &caller, request.into_inner()).await?))
    }

    async fn approve_orcon(
        &self,
        request: Request<pb::ApproveOrconRequest>,
    ) -> Result<Response<pb::ApproveOrconResponse>, Status> {
        let caller = auth::caller(&request)?;
        Ok(Response::new(Gateway::approve_orcon(self, &caller, request.into_inner()).await?))
    }

    async fn list_held(&self, request: Request<pb::ListHeldRequest>) -> Result<Response<pb::ListHeldResponse>, Status> {
        let caller = auth::caller(&request)?;
        Ok(Response::new(Gateway::list_held(self, &caller, request.into_inner()).await?))
    }

    async fn approve_held(
        &self,
        request: Request<pb::ApproveHeldRequest>,
    ) -> Result<Response<pb::ApproveHeldResponse>, Status> {
        let caller = auth::caller(&request)?;
        Ok(Response::new(Gateway::approve_held(self, &caller, request.into_inner()).await?))
    }

    async fn deny_held(&self, request: Request<pb::DenyHeldRequest>) -> Result<Response<pb::DenyHeldResponse>, Status> {
        let caller = auth::caller(&request)?;
        Ok(Response::new(Gateway::deny_held(self, &caller, request.into_inner()).await?))
    }

    async fn purge_message(
        &self,
        request: Request<pb::PurgeMessageRequest>,
    ) -> Result<Response<pb::PurgeMessageResponse>, Status> {
        let caller = auth::caller(&request)?;
        Ok(Response::new(Gateway::purge_message(self, &caller, request.into_inner()).await?))
    }

    async fn apply_policy(
        &self,
        request: Request<pb::ApplyPolicyRequest>,
    ) -> Result<Response<pb::ApplyPolicyResponse>, Status> {
        let caller = auth::caller(&request)?;
        Ok(Response::new(Gateway::apply_policy(self, &caller, request.into_inner()).await?))
    }

    async fn list_policy_history(
        &self,
        request: Request<pb::ListPolicyHistoryRequest>,
    ) -> Result<Response<pb::ListPolicyHistoryResponse>, Status> {
        let caller = auth::caller(&request)?;
        Ok(Response::new(Gateway::list_policy_history(self, &caller).await?))
    }

    async fn rollback_policy(
        &self,
        request: Request<pb::RollbackPolicyRequest>,
    ) -> Result<Response<pb::RollbackPolicyResponse>, Status> {
        let caller = auth::caller(&request)?;
        Ok(Response::new(Gateway::rollback_policy(self, &caller, request.into_inner()).await?))
    }

    type SimulatePolicyStream =
        std::pin::Pin<Box<dyn futures::Stream<Item = Result<pb::SimulatePolicyResponse, Status>> + Send + 'static>>;

    async fn simulate_policy(
        &self,
        request: Request<pb::SimulatePolicyRequest>,
    ) -> Result<Response<Self::SimulatePolicyStream>, Status> {
        let caller = auth::caller(&request)?;
        let changes = Gateway::simulate_policy(self, &caller, request.into_inner()).await?;
        Ok(Response::new(Box::pin(changes)))
    }

    type WatchTrafficStream =
        std::pin::Pin<Box<dyn futures::Stream<Item = Result<pb::WatchTrafficResponse, Status>> + Send + 'static>>;

    async fn watch_traffic(
        &self,
        request: Request<pb::WatchTrafficRequest>,
    ) -> Result<Response<Self::WatchTrafficStream>, Status> {
        let caller = auth::caller(&request)?;
        let snapshots = Gateway::watch_traffic(self, &caller, request.into_inner())?;
        Ok(Response::new(Box::pin(snapshots)))
    }

    async fn list_subjects(
        &self,
        request: Request<pb::ListSubjectsRequest>,
    ) -> Result<Response<pb::ListSubjectsResponse>, Status> {
        let caller = auth::caller(&request)?;
        Ok(Response::new(Gateway::list_subjects(self, &caller, request.into_inner())?))
    }
}

/// Decides a hypothetical message under `router`: the RPC, and `liaison route check --offline`.
pub fn check_route(router: &Router, request: &pb::CheckRouteRequest) -> Result<pb::CheckRouteResponse, Status> {
    let route = route_request(request)?;
    if !router.knows(&route.origin) {
        return Err(
            GatewayError::InvalidArgument(format!("origin: {} is not a party in the directory", route.origin)).into()
        );
    }
    let routing = router.route(&route).map_err(GatewayError::from)?;
    let decisions = routing.outcomes.into_iter().map(decision).collect();
    let banner = route.markings.banner();
    Ok(pb::CheckRouteResponse { policy_version: routing.policy_version.to_string(), decisions, banner })
}

fn route_request(request: &pb::CheckRouteRequest) -> Result<RouteRequest, GatewayError> {
    let recipients = convert::tokens("recipients", &request.recipients)?;
    Ok(RouteRequest {
        origin: convert::token("origin", &request.origin)?,
        recipients,
        kind: convert::kind("kind", request.kind)?,
        topic: convert::token("topic", &request.topic)?,
        markings: convert::markings(request.markings.as_ref())?,
        precedence: convert::precedence(request.precedence)?,
    })
}

fn decision(outcome: Outcome) -> pb::RouteDecision {
    match outcome {
        Outcome::Deliver(approval) => pb::RouteDecision {
            party: approval.recipient().to_string(),
            allowed: true,
            rule: approval.rule().to_string(),
            basis: approval.basis().to_string(),
            released_by: approval.released_by().unwrap_or_default().to_string(),
            ..Default::default()
        },
        Outcome::Hold(hold) => pb::RouteDecision {
            party: hold.recipient.to_string(),
            allowed: false,
            held: true,
            rule: hold.rule.to_string(),
            basis: hold.basis.to_string(),
            explanation: hold.explanation,
            ..Default::default()
        },
        Outcome::Deny(denial) => pb::RouteDecision {
            party: denial.recipient.to_string(),
            allowed: false,
            rule: denial.rule.as_deref().unwrap_or_default().to_string(),
            reason: convert::denial_reason(denial.reason) as i32,
            explanation: denial.explanation,
            ..Default::default()
        },
    }
}
