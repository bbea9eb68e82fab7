//! `liaison route check`: dry-run the router for a message's metadata and print each decision and why,
//! through a gateway's `OperatorService.CheckRoute` or offline against policy files.

use std::path::PathBuf;

use crate::api as pb;
use crate::policy_store::PolicyFiles;

use super::client::{self, ClientArgs};
use super::routing_args::RoutingArgs;

#[derive(Debug, clap::Subcommand)]
pub enum RouteCommand {
    /// Who would receive a message from --from with this metadata, and why. Without --to, lists who
    /// route-by-policy would select.
    Check(CheckArgs),
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The originating party.
    #[arg(long)]
    from: String,
    #[command(flatten)]
    routing: RoutingArgs,
    /// Decide locally with the policy files (or the embedded defaults) instead of asking a gateway.
    #[arg(long)]
    offline: bool,
    /// With --offline: the directory file [default: embedded].
    #[arg(long, requires = "offline")]
    directory: Option<PathBuf>,
    /// With --offline: the policy file [default: embedded].
    #[arg(long, requires = "offline")]
    policy: Option<PathBuf>,
    /// Gateway URL (not with --offline).
    #[arg(long, env = "LIAISON_GATEWAY", default_value = "https://127.0.0.1:7400")]
    gateway: String,
    /// Bearer token of an operator or admin of the origin party, or of a party with oversight (not with
    /// --offline).
    #[arg(long, env = "LIAISON_TOKEN", hide_env_values = true)]
    token: Option<String>,
    #[command(flatten)]
    tls: super::client::ClientTls,
}

pub async fn run(command: RouteCommand) -> anyhow::Result<()> {
    let RouteCommand::Check(args) = command;
    let request = pb::CheckRouteRequest {
        origin: args.from.clone(),
        recipients: args.routing.recipients.clone(),
        kind: args.routing.kind(),
        topic: args.routing.topic.clone(),
        markings: Some(args.routing.markings()),
        precedence: args.routing.precedence(),
    };
    let response = if args.offline {
        let files = PolicyFiles { directory: args.directory.clone(), policy: args.policy.clone() };
        let router = files.load()?;
        crate::grpc::check_route(&router, &request).map_err(|status| anyhow::anyhow!("{}", status.message()))?
    } else {
        let token = args
            .token
            .clone()
            .ok_or_else(|| anyhow::anyhow!("--token (or LIAISON_TOKEN) is required without --offline"))?;
        let mut operator =
            client::operator(&ClientArgs { gateway: args.gateway.clone(), token, tls: args.tls.clone() }).await?;
        operator
            .check_route(request)
            .await
            .map_err(|status| anyhow::anyhow!("route check failed: {:?}: {}", status.code(), status.message()))?
            .into_inner()
    };
    print(&response);
    Ok(())
}

fn print(response: &pb::CheckRouteResponse) {
    println!("policy {}, markings {}", response.policy_version, response.banner);
    if response.decisions.is_empty() {
        println!("  nobody: no rule selects a recipient for this message");
    }
    for decision in &response.decisions {
        if decision.allowed {
            let released = match decision.released_by.as_str() {
                "" => String::new(),
                code => format!(", released by REL TO {code}"),
            };
            println!("  {}: delivered by rule {} ({}){released}", decision.party, decision.rule, decision.basis);
        } else if decision.held {
            println!("  {}: held for foreign-disclosure review: {}", decision.party, decision.explanation);
        } else {
            let reason =
                pb::DenialReason::try_from(decision.reason).map(|reason| reason.as_str_name()).unwrap_or("UNKNOWN");
            println!("  {}: denied, {reason}: {}", decision.party, decision.explanation);
        }
    }
}
