//! `liaison serve`: load and validate the configuration, bind, run until SIGINT or SIGTERM.

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};

use crate::config::{ServeArgs, ServeConfig};

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = ServeConfig::load(&args).map_err(|error| anyhow::anyhow!("invalid configuration: {error}"))?;
    // Held until the gateway has stopped: dropping it exports the spans still queued.
    let _telemetry = crate::telemetry::init(config.log_format, "info", config.otlp_endpoint.as_deref())?;
    // Installed before anything starts: a signal that arrived while the gateway served but before its
    // handler was in place would kill the process by default, leaving its embedded nats-server behind.
    let shutdown = shutdown_signal()?;
    let listener =
        tokio::net::TcpListener::bind(config.listen).await.with_context(|| format!("binding {}", config.listen))?;
    crate::app::run(config, listener, shutdown).await
}

/// Installs the SIGINT and SIGTERM handlers now; the future completes on the first of them.
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()>> {
    let mut interrupt = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut terminate = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => tracing::info!("SIGINT received"),
            _ = terminate.recv() => tracing::info!("SIGTERM received"),
        }
    })
}
