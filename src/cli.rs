//! The `liaison` command line: one file per subcommand.

mod audit;
mod bench;
mod client;
mod dead_letters;
mod disclosure;
mod nats_args;
mod orcon;
mod output;
mod policy;
mod policy_check;
mod policy_simulate;
mod provision;
mod publish;
mod retention;
mod rfi;
mod route;
mod routing_args;
mod seek;
mod serve;
mod subscribe;
mod token;
mod top;

use clap::{Parser, Subcommand};

use crate::config::LogFormat;

/// Liaison: a message broker for liaison intelligence.
#[derive(Debug, Parser)]
#[command(name = "liaison", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway (with an embedded nats-server unless --nats-url is given).
    Serve(Box<crate::config::ServeArgs>),
    /// Create or update the NATS streams and buckets with the provisioning identity, then exit (for
    /// gateways that run without it). Takes the flags of `serve`.
    Provision(Box<crate::config::ServeArgs>),
    /// Manage bearer tokens.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Publish one message through a gateway and print the receipt.
    Publish(publish::PublishArgs),
    /// Subscribe to your party's feed, print deliveries as they arrive and acknowledge them.
    Subscribe(subscribe::SubscribeArgs),
    /// Move a durable subscription to the beginning, a sequence or a time.
    Seek(seek::SeekArgs),
    /// List and redrive dead letters.
    #[command(subcommand)]
    DeadLetters(dead_letters::DeadLettersCommand),
    /// Explain routing decisions.
    #[command(subcommand)]
    Route(route::RouteCommand),
    /// Check policy files; apply, list and roll back the policy shared by a cluster.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Dissemination audit: verify the tamper-evident chains.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Retention review (28 CFR 23.20(h)): list messages due, revalidate, purge.
    #[command(subcommand)]
    Retention(retention::RetentionCommand),
    /// Originator control: approve a later dissemination of ORCON material.
    #[command(subcommand)]
    Orcon(orcon::OrconCommand),
    /// Foreign-disclosure review: list, release or refuse the copies held for a foreign party (RELIDO).
    #[command(subcommand)]
    Disclosure(disclosure::DisclosureCommand),
    /// Requests for information: open, list, show, acknowledge, answer, transfer, close, reopen.
    #[command(subcommand)]
    Rfi(rfi::RfiCommand),
    /// Benchmark a gateway beside raw NATS in one run (starts its own nats-server and gateway).
    Bench(bench::BenchArgs),
    /// Live view of a gateway's traffic: per-subject rates and totals, denials, consumer lag.
    Top(top::TopArgs),
}

impl Cli {
    /// Runs the chosen subcommand.
    pub async fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Serve(args) => serve::run(*args).await,
            Command::Provision(args) => {
                init_tracing(LogFormat::Text, "warn");
                provision::run(*args).await
            }
            Command::Token(command) => {
                init_tracing(LogFormat::Text, "warn");
                token::run(command).await
            }
            Command::Publish(args) => {
                init_tracing(LogFormat::Text, "warn");
                publish::run(args).await
            }
            Command::Subscribe(args) => {
                init_tracing(LogFormat::Text, "warn");
                subscribe::run(args).await
            }
            Command::Seek(args) => {
                init_tracing(LogFormat::Text, "warn");
                seek::run(args).await
            }
            Command::DeadLetters(command) => {
                init_tracing(LogFormat::Text, "warn");
                dead_letters::run(command).await
            }
            Command::Route(command) => {
                init_tracing(LogFormat::Text, "warn");
                route::run(command).await
            }
            Command::Policy(command) => {
                init_tracing(LogFormat::Text, "warn");
                policy::run(command).await
            }
            Command::Retention(command) => {
                init_tracing(LogFormat::Text, "warn");
                retention::run(command).await
            }
            Command::Audit(command) => {
                init_tracing(LogFormat::Text, "warn");
                audit::run(command).await
            }
            Command::Orcon(command) => {
                init_tracing(LogFormat::Text, "warn");
                orcon::run(command).await
            }
            Command::Disclosure(command) => {
                init_tracing(LogFormat::Text, "warn");
                disclosure::run(command).await
            }
            Command::Rfi(command) => {
                init_tracing(LogFormat::Text, "warn");
                rfi::run(command).await
            }
            Command::Bench(args) => {
                init_tracing(LogFormat::Text, "error");
                bench::run(args).await
            }
            Command::Top(args) => {
                // Logs would scribble over the full-screen view; RUST_LOG can still turn them on.
                init_tracing(LogFormat::Text, "off");
                top::run(args).await
            }
        }
    }
}

/// Logs to stderr; `RUST_LOG` overrides `default_level`.
pub fn init_tracing(format: LogFormat, default_level: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_subcommand_has_consistent_flags() {
        // Two flattened argument groups defining the same flag (e.g. --data-dir) panic here, not at a user.
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
