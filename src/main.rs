//! The `liaison` binary: parse the command line and run it. All logic lives in the library.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = liaison::cli::Cli::parse();
    match cli.run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("liaison: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
