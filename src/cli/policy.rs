//! `liaison policy`: check policy files offline (`validate`, `test`, `diff`), replay recorded traffic
//! through a draft on a gateway (`simulate`), and manage the policy shared by a cluster's gateways through
//! one of them (`apply`, `history`, `rollback`; gateways run with `--policy-store kv`).

use std::path::PathBuf;

use anyhow::Context;

use crate::api as pb;
use crate::policy_store::PolicyFiles;

#[derive(Debug, clap::Subcommand)]
pub enum PolicyCommand {
    /// Check a policy file against a directory (the embedded one by default); prints file:line errors.
    Validate {
        /// The policy file [default: the embedded policy, to check only --directory].
        policy: Option<PathBuf>,
        /// The directory file [default: the embedded directory].
        #[arg(long)]
        directory: Option<PathBuf>,
    },
    /// Run a policy's test cases offline; prints each failure as file:line: case: expected ... got ...
    Test {
        /// The test file (TOML cases; deploy/policy/tests.toml is the shipped one).
        tests: PathBuf,
        /// The policy file [default: the embedded policy].
        #[arg(long)]
        policy: Option<PathBuf>,
        /// The directory file [default: the embedded directory].
        #[arg(long)]
        directory: Option<PathBuf>,
    },
    /// List rules and directory entries added, removed and changed, and the edges that gain or lose a
    /// covering rule. OLD and NEW are each a policy directory (policy.toml, directory.toml) or a policy file.
    Diff {
        old: PathBuf,
        new: PathBuf,
        /// OLD's directory file, when OLD is a policy file [default: the embedded directory].
        #[arg(long)]
        old_directory: Option<PathBuf>,
        /// NEW's directory file, when NEW is a policy file [default: the embedded directory].
        #[arg(long)]
        new_directory: Option<PathBuf>,
    },
    /// Replay the decisions recorded in the audit through a draft policy and list every one that would change.
    Simulate(super::policy_simulate::SimulateArgs),
    /// Store a new revision of the shared policy through a gateway; every gateway swaps to it at once.
    Apply {
        #[command(flatten)]
        client: super::client::ClientArgs,
        /// The routing policy file [default: keep the policy in force; then --directory is required].
        policy: Option<PathBuf>,
        /// The party directory file [default: keep the directory in force].
        #[arg(long)]
        directory: Option<PathBuf>,
        /// Why; kept with the revision.
        #[arg(long, default_value = "")]
        comment: String,
        /// Apply only if this revision is still the one in force.
        #[arg(long)]
        expected_revision: Option<u64>,
        /// The policy's test cases: the gateway refuses the revision if any fails.
        #[arg(long)]
        tests: Option<PathBuf>,
    },
    /// List the kept revisions of the shared policy, oldest first; the last is in force.
    History {
        #[command(flatten)]
        client: super::client::ClientArgs,
    },
    /// Store an earlier revision again as the newest.
    Rollback {
        #[command(flatten)]
        client: super::client::ClientArgs,
        /// The revision to restore (see `liaison policy history`).
        revision: u64,
        /// Why; kept with the revision.
        #[arg(long, default_value = "")]
        comment: String,
    },
}

pub async fn run(command: PolicyCommand) -> anyhow::Result<()> {
    match command {
        PolicyCommand::Validate { policy, directory } => {
            let router = PolicyFiles { directory, policy }.load()?;
            println!(
                "ok: policy version {}, {} parties, {} rules",
                router.version(),
                router.directory().len(),
                router.policy().rules().len()
            );
        }
        PolicyCommand::Test { tests, policy, directory } => super::policy_check::test(&tests, policy, directory)?,
        PolicyCommand::Diff { old, new, old_directory, new_directory } => {
            let (old, new) =
                (super::policy_check::files(&old, old_directory), super::policy_check::files(&new, new_directory));
            super::policy_check::diff(&old, &new)?;
        }
        PolicyCommand::Simulate(args) => super::policy_simulate::run(args).await?,
        PolicyCommand::Apply { client, policy, directory, comment, expected_revision, tests } => {
            let read = |path: Option<PathBuf>| match path {
                None => Ok(String::new()),
                Some(path) => std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display())),
            };
            let tests_file = tests.as_ref().map(|path| path.display().to_string()).unwrap_or_default();
            let request = pb::ApplyPolicyRequest {
                tests: read(tests)?,
                tests_file,
                policy: read(policy)?,
                directory: read(directory)?,
                comment,
                expected_revision: expected_revision.unwrap_or_default(),
            };
            let applied = super::client::operator(&client).await?.apply_policy(request).await?.into_inner();
            println!("applied: revision {}, policy version {}", applied.revision, applied.policy_version);
        }
        PolicyCommand::History { client } => {
            let request = pb::ListPolicyHistoryRequest {};
            let history = super::client::operator(&client).await?.list_policy_history(request).await?.into_inner();
            println!("{:>8}  {:<12}  {:<20}  {:<20}  comment", "revision", "version", "applied at", "applied by");
            for revision in history.revisions {
                let at = super::output::rfc3339(revision.applied_at);
                let restores = match revision.restores {
                    0 => String::new(),
                    earlier => format!(" (restores {earlier})"),
                };
                println!(
                    "{:>8}  {:<12}  {:<20}  {:<20}  {}{restores}",
                    revision.revision, revision.policy_version, at, revision.applied_by, revision.comment
                );
            }
        }
        PolicyCommand::Rollback { client, revision, comment } => {
            let request = pb::RollbackPolicyRequest { revision, comment };
            let applied = super::client::operator(&client).await?.rollback_policy(request).await?.into_inner();
            println!(
                "restored revision {revision} as revision {}, policy version {}",
                applied.revision, applied.policy_version
            );
        }
    }
    Ok(())
}
