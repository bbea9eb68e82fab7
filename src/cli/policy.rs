//! `liaison policy validate`: check a policy file (and optionally a directory file) offline.

use std::path::PathBuf;

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
}

pub fn run(command: PolicyCommand) -> anyhow::Result<()> {
    let PolicyCommand::Validate { policy, directory } = command;
    let router = PolicyFiles { directory, policy }.load()?;
    println!(
        "ok: policy version {}, {} parties, {} rules",
        router.version(),
        router.directory().len(),
        router.policy().rules().len()
    );
    Ok(())
}
