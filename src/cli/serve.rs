//! `liaison serve`: load and validate the configuration, bind, run until SIGINT or SIGTERM.

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};

use crate::config::{ServeArgs, ServeConfig};

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = ServeConfig::load(&args).map_err(|error| anyhow::anyhow!("invalid configuration: {error}"))?;
    // Held until the gateway has stopped: dropping it exports the spans still queued.
    let _telemetry = crate::telemetry::init(config.log_format, "info", config.otlp_endpoint.as_deref())?;
    let listener =
        tokio::net::TcpListener::bind(config.listen).await.with_context(|| format!("binding {}", config.listen))?;
    crate::app::run(config, listener, shutdown_signal()).await
}

/// Completes on the first SIGINT or SIGTERM.
async fn shutdown_signal() {
    let (Ok(mut interrupt), Ok(mut terminate)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
    else {
        tracing::error!("cannot install signal handlers; stop the gateway with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = interrupt.recv() => tracing::info!("SIGINT received"),
        _ = terminate.recv() => tracing::info!("SIGTERM received"),
    }
}
