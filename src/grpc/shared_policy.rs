//! The shared policy through a gateway: `OperatorService.ApplyPolicy`, `ListPolicyHistory` and
//! `RollbackPolicy`. A new revision is compiled here before it is stored, so no gateway is ever offered a
//! policy that does not load; every gateway (this one included) puts it in force from the bucket's watch.
//! The policy is every party's: only an admin of a party with oversight applies or rolls it back.

use crate::api as pb;
use crate::bus::{ApplyError, PolicyBucket, PolicyRevision};
use crate::identity::Caller;
use crate::identity::authorization::{Action, Scope};
use crate::policy_check::cases;
use crate::policy_store::PolicyDocument;

use super::server::Gateway;
use super::{GatewayError, convert};

/// Largest directory or policy text accepted.
const MAX_TEXT_BYTES: usize = 1024 * 1024;

impl Gateway {
    fn shared_policy(&self) -> Result<&PolicyBucket, GatewayError> {
        self.policy_bucket.as_deref().ok_or_else(|| {
            GatewayError::FailedPrecondition(
                "this gateway reads its policy from files (--policy-store file): edit the files, or run the \
                 gateways with --policy-store kv to share one policy through NATS"
                    .into(),
            )
        })
    }

    pub(super) async fn apply_policy(
        &self,
        caller: &Caller,
        request: pb::ApplyPolicyRequest,
    ) -> Result<pb::ApplyPolicyResponse, GatewayError> {
        self.authorize(caller, Action::ApplyPolicy, Scope::All)?;
        let bucket = self.shared_policy()?;
        if request.policy.is_empty() && request.directory.is_empty() {
            return Err(GatewayError::InvalidArgument("policy, directory: give at least one".into()));
        }
        for (field, text) in [("policy", &request.policy), ("directory", &request.directory), ("tests", &request.tests)]
        {
            if text.len() > MAX_TEXT_BYTES {
                return Err(GatewayError::InvalidArgument(format!("{field}: at most {MAX_TEXT_BYTES} bytes")));
            }
        }
        let current = bucket
            .current()
            .await?
            .ok_or_else(|| GatewayError::FailedPrecondition("the policy bucket is empty".into()))?;
        let keep = |given: String, current: &str| if given.is_empty() { current.to_string() } else { given };
        let document = PolicyDocument {
            directory: keep(request.directory, &current.document.directory),
            policy: keep(request.policy, &current.document.policy),
            applied_by: caller.subject.clone(),
            applied_at: time::OffsetDateTime::now_utc(),
            comment: request.comment,
            restores: None,
        };
        if !request.tests.is_empty() {
            let file = if request.tests_file.is_empty() { "tests" } else { request.tests_file.as_str() };
            passes_tests(&document, file, &request.tests)?;
        }
        let expected = (request.expected_revision != 0).then_some(request.expected_revision);
        self.store_policy(bucket, document, expected).await
    }

    pub(super) async fn list_policy_history(
        &self,
        caller: &Caller,
    ) -> Result<pb::ListPolicyHistoryResponse, GatewayError> {
        self.authorize(caller, Action::ListPolicyHistory, Scope::All)?;
        let revisions = self.shared_policy()?.history().await?;
        Ok(pb::ListPolicyHistoryResponse { revisions: revisions.iter().map(revision).collect() })
    }

    pub(super) async fn rollback_policy(
        &self,
        caller: &Caller,
        request: pb::RollbackPolicyRequest,
    ) -> Result<pb::RollbackPolicyResponse, GatewayError> {
        self.authorize(caller, Action::RollbackPolicy, Scope::All)?;
        let bucket = self.shared_policy()?;
        let earlier = bucket.revision(request.revision).await?.ok_or_else(|| {
            GatewayError::NotFound(format!(
                "revision: no revision {} is kept (see ListPolicyHistory; the last 64 are kept)",
                request.revision
            ))
        })?;
        let document = PolicyDocument {
            applied_by: caller.subject.clone(),
            applied_at: time::OffsetDateTime::now_utc(),
            comment: request.comment,
            restores: Some(earlier.revision),
            ..earlier.document
        };
        let stored = self.store_policy(bucket, document, None).await?;
        Ok(pb::RollbackPolicyResponse { revision: stored.revision, policy_version: stored.policy_version })
    }

    async fn store_policy(
        &self,
        bucket: &PolicyBucket,
        document: PolicyDocument,
        expected: Option<u64>,
    ) -> Result<pb::ApplyPolicyResponse, GatewayError> {
        let router = document.compile().map_err(|error| GatewayError::InvalidArgument(error.to_string()))?;
        let revision = bucket.apply(&document, expected).await.map_err(|error| match error {
            ApplyError::Conflict { .. } => GatewayError::FailedPrecondition(format!("expected_revision: {error}")),
            ApplyError::Bus(error) => error.into(),
        })?;
        tracing::info!(revision, version = router.version(), by = %document.applied_by, "shared policy applied");
        Ok(pb::ApplyPolicyResponse { revision, policy_version: router.version().to_string() })
    }
}

/// Refuses a revision any of the policy's test cases fails (FAILED_PRECONDITION naming the first failure).
fn passes_tests(document: &PolicyDocument, file: &str, tests: &str) -> Result<(), GatewayError> {
    let router = document.compile().map_err(|error| GatewayError::InvalidArgument(error.to_string()))?;
    let file = file.chars().take(256).collect::<String>();
    let tests = cases::parse(&file, tests).map_err(|error| GatewayError::InvalidArgument(format!("tests: {error}")))?;
    let report = cases::run(&tests, &router);
    match report.failures.first() {
        None => Ok(()),
        Some(first) => Err(GatewayError::FailedPrecondition(format!(
            "tests: {} of {} checks fail, the revision is not applied; first: {first}",
            report.failures.len(),
            report.checks
        ))),
    }
}

fn revision(stored: &PolicyRevision) -> pb::PolicyRevision {
    let document = &stored.document;
    pb::PolicyRevision {
        revision: stored.revision,
        policy_version: document
            .compile()
            .map(|router| router.version().to_string())
            .unwrap_or_else(|_| "invalid".into()),
        applied_at: Some(convert::timestamp(document.applied_at)),
        applied_by: document.applied_by.clone(),
        comment: document.comment.clone(),
        restores: document.restores.unwrap_or_default(),
    }
}
