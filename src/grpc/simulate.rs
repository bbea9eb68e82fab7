//! `OperatorService.SimulatePolicy`: the router's decisions recorded over a window, replayed through a draft
//! directory and policy (`policy_check::replay`). The audit is read once, one entry at a time; the changes
//! are aggregated in a bounded tally (`replay::tally`), sent at the end, then a summary. Progress goes out
//! about once a second. Nothing is stored or sent anywhere else.
//!
//! Operators and admins: of a party with oversight every decision, else (or with `party`) those where the
//! party is the origin or the recipient. The work of one call is bounded by `--simulate-scan-budget`
//! records, and the read stops the moment the client goes away.

use std::time::{Duration, Instant};

use futures::Stream;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use crate::api as pb;
use crate::audit::{AuditQuery, written_at};
use crate::bus::AuditReader;
use crate::identity::Caller;
use crate::identity::authorization::{Action, View, scope_of};
use crate::policy_check::replay::{self, State, tally::Tally};
use crate::router::Router;

use super::audit_query::Running;
use super::quota::Call;
use super::server::Gateway;
use super::{GatewayError, convert};

/// Largest draft directory or policy text accepted.
const MAX_TEXT_BYTES: usize = 1024 * 1024;
const DEFAULT_EXAMPLES: u32 = 3;
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

type Answer = Result<pb::SimulatePolicyResponse, Status>;

impl Gateway {
    pub(super) async fn simulate_policy(
        &self,
        caller: &Caller,
        request: pb::SimulatePolicyRequest,
    ) -> Result<impl Stream<Item = Answer> + use<>, GatewayError> {
        let party = match request.party.as_str() {
            "" => None,
            party => Some(convert::token("party", party)?),
        };
        let view = self.authorize(caller, Action::SimulatePolicy, scope_of(&caller.party, party.as_ref()))?;
        // Without a full view a caller replays the decisions of its own party, whatever it asked for.
        let visible = match view {
            View::Full => party.map(|party| party.to_string()),
            View::OwnParty => Some(caller.party.to_string()),
        };
        let draft = draft(&request)?;
        let since = request.since.as_ref().ok_or_else(|| GatewayError::InvalidArgument("since: required".into()))?;
        let since = convert::time("since", since)?;
        let until = request.until.as_ref().map(|until| convert::time("until", until)).transpose()?;
        if request.examples > replay::tally::MAX_EXAMPLES as u32 {
            let most = replay::tally::MAX_EXAMPLES;
            return Err(GatewayError::InvalidArgument(format!("examples: at most {most}")));
        }
        let examples = match request.examples {
            0 => DEFAULT_EXAMPLES,
            examples => examples,
        };
        let slot = self.quotas.open_call(caller, Call::QueryAudit)?;
        // Gateways' clocks differ: read from a little before `since`, and keep only entries stamped within.
        let window = AuditQuery { since: Some(since), until, ..AuditQuery::default() };
        let (from, to) = super::audit_query::stored_between(&window);
        let entries = self.bus.read_audit(from, to).await?;
        let (sender, receiver) = mpsc::channel(64);
        let replay = Replay {
            draft,
            current_version: self.policy.current().version().to_string(),
            visible,
            window: (since, until),
            tally: Tally::new(examples as usize),
            budget: self.limits.simulate_scan_budget,
            running: Running::start(self.audit_reads.clone()),
        };
        tokio::spawn(async move {
            let _slot = slot;
            replay.run(entries, sender).await
        });
        Ok(ReceiverStream::new(receiver))
    }
}

/// Compiles the draft; errors name the file, line and field.
fn draft(request: &pb::SimulatePolicyRequest) -> Result<Router, GatewayError> {
    for (field, text) in [("policy", &request.policy), ("directory", &request.directory)] {
        if text.is_empty() {
            return Err(GatewayError::InvalidArgument(format!("{field}: the draft's {field} text is required")));
        }
        if text.len() > MAX_TEXT_BYTES {
            return Err(GatewayError::InvalidArgument(format!("{field}: at most {MAX_TEXT_BYTES} bytes")));
        }
    }
    Router::load(("directory", &request.directory), ("policy", &request.policy))
        .map_err(|error| GatewayError::InvalidArgument(error.to_string()))
}

/// One call's replay.
struct Replay {
    draft: Router,
    current_version: String,
    visible: Option<String>,
    window: (time::OffsetDateTime, Option<time::OffsetDateTime>),
    tally: Tally,
    budget: u64,
    running: Running,
}

impl Replay {
    async fn run(mut self, mut entries: AuditReader, sender: mpsc::Sender<Answer>) {
        let (mut read, mut last_progress) = (0u64, Instant::now());
        loop {
            let next = tokio::select! {
                biased;
                () = sender.closed() => return,
                next = entries.next_in_stream() => next,
            };
            let entry = match next {
                None => break,
                Some(Ok((_, entry))) => entry,
                Some(Err(error)) => {
                    let _ = sender.send(Err(GatewayError::from(error).into())).await;
                    return;
                }
            };
            let at = written_at(&entry);
            // Entries stored just before `since` (clock skew between gateways) are not of the window.
            if at < self.window.0 || self.window.1.is_some_and(|until| at >= until) {
                continue;
            }
            read += entry.records.len() as u64;
            self.running.examined(entry.records.len());
            if read > self.budget {
                let _ = sender.send(Err(GatewayError::TooLarge(self.budget_spent(at)).into())).await;
                return;
            }
            self.tally.add(replay::replay_entry(&entry.records, &self.draft, self.visible.as_deref()));
            if last_progress.elapsed() >= PROGRESS_EVERY {
                last_progress = Instant::now();
                let progress = pb::SimulateProgress {
                    at: Some(convert::timestamp(at)),
                    records_read: read,
                    decisions: self.tally.decisions,
                };
                if sender.send(Ok(item(pb::simulate_policy_response::Item::Progress(progress)))).await.is_err() {
                    return;
                }
            }
        }
        self.finish(read, &sender).await;
    }

    fn budget_spent(&self, at: time::OffsetDateTime) -> String {
        format!(
            "SimulatePolicy may examine {} audit records per call (--simulate-scan-budget) and reached it at \
             records written {at}; simulate a shorter window (since, until)",
            self.budget
        )
    }

    async fn finish(self, read: u64, sender: &mpsc::Sender<Answer>) {
        let tally = self.tally;
        for (key, group) in &tally.groups {
            let change = pb::SimulatedChange {
                origin: key.origin.clone(),
                recipient: key.recipient.clone(),
                before: state(key.before),
                before_by: key.before_by.clone(),
                after: state(key.after),
                after_by: key.after_by.clone(),
                count: group.count,
                examples: group.examples.clone(),
            };
            if sender.send(Ok(item(pb::simulate_policy_response::Item::Change(change)))).await.is_err() {
                return;
            }
        }
        let summary = pb::SimulateSummary {
            decisions: tally.decisions,
            changed: tally.changed,
            skipped: tally.skipped,
            overflow: tally.overflow,
            records_read: read,
            draft_version: self.draft.version().to_string(),
            current_version: self.current_version,
        };
        let _ = sender.send(Ok(item(pb::simulate_policy_response::Item::Summary(summary)))).await;
    }
}

fn item(item: pb::simulate_policy_response::Item) -> pb::SimulatePolicyResponse {
    pb::SimulatePolicyResponse { item: Some(item) }
}

fn state(state: State) -> String {
    state.name().to_uppercase()
}
