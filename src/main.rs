//! The `liaison` binary: parse the command line and run it. All logic lives in the library.

use clap::Parser;

/// mimalloc instead of the system allocator: the gateway allocates per message (protobuf, HTTP/2 frames,
/// NATS buffers), and glibc malloc took about a fifth of its CPU in a profile of `liaison bench`. The
/// `system-allocator` feature keeps glibc's, for heap profilers that cannot see mimalloc
/// (`benches/heap.sh`).
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
