//! `liaison orcon approve`: the originator of ORCON material approves a later dissemination of it to one
//! party (a redrive of that party's dead letter, a correction reaching it), through a gateway. Analysts and
//! admins of the origin party; the gateway audits every approval.

use crate::api as pb;

#[derive(Debug, clap::Subcommand)]
pub enum OrconCommand {
    /// Approve a later dissemination of an ORCON message to a party.
    Approve(ApproveArgs),
}

#[derive(Debug, clap::Args)]
pub struct ApproveArgs {
    #[command(flatten)]
    client: super::client::ClientArgs,
    /// The message id.
    message_id: String,
    /// The party the message may then reach.
    #[arg(long)]
    party: String,
    /// Why: recorded in the audit.
    #[arg(long)]
    reason: String,
}

pub async fn run(command: OrconCommand) -> anyhow::Result<()> {
    match command {
        OrconCommand::Approve(args) => {
            let mut operator = super::client::operator(&args.client).await?;
            let request = pb::ApproveOrconRequest {
                message_id: args.message_id.clone(),
                party: args.party.clone(),
                reason: args.reason,
            };
            let response = operator.approve_orcon(request).await?.into_inner();
            println!(
                "approved {} for {}; approved so far: {}",
                args.message_id,
                args.party,
                response.approved.join(", ")
            );
            Ok(())
        }
    }
}
