//! The system under test: nats-server (one started here, a loopback cluster started here for replicated
//! streams, or an existing server) and one gateway, the real `liaison serve` binary in its own process so
//! that its resident memory is its own; with `--pin`, each on a CPU of its own (`pin.rs`).

mod cluster;
pub mod pin;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use tokio::process::Child;
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::api::gateway_service_client::GatewayServiceClient;
use crate::bench::report::Pinning;
use crate::embedded::{EmbeddedNats, EmbeddedOptions, NatsIdentities};
use crate::identity::{Issuer, Role, SigningKey};
use crate::model::Token;
use cluster::{ClusterOptions, LoopbackCluster};
use pin::CpuPlan;

/// How long the gateway may take to report SERVING.
const START_DEADLINE: Duration = Duration::from_secs(30);
/// Largest message the started nats-servers accept.
const MAX_PAYLOAD: usize = 8 * 1024 * 1024;

pub type Client = GatewayServiceClient<InterceptedService<Channel, Bearer>>;

/// Adds the bearer token (if any) to every request; cloneable, so one connection serves many streams.
#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<tonic::metadata::Ascii>>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request.metadata_mut().insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// Where NATS comes from.
pub enum Nats {
    Started(EmbeddedNats),
    Cluster(LoopbackCluster),
    Existing(String),
}

/// The nats-servers a run starts: none on an existing server, one for unreplicated streams, else a
/// cluster of at least three (the smallest that keeps a quorum with a node down), one node per replica.
pub fn nats_nodes(replicas: usize, external: bool) -> usize {
    match (external, replicas) {
        (true, _) => 0,
        (false, 0 | 1) => 1,
        (false, replicas) => replicas.max(3),
    }
}

/// nats-server and the gateway, stopped on [`Rig::stop`] (and killed on drop).
pub struct Rig {
    pub nats: Nats,
    gateway: Child,
    gateway_url: String,
    issuer: Issuer,
    /// Holds the gateway's data directory (signing key, log) and the nats-server store.
    dir: tempfile::TempDir,
}

/// What the rig needs to know.
pub struct RigOptions {
    pub nats_url: Option<String>,
    /// `None`: looked for on PATH and in the pip script directories.
    pub nats_server_bin: Option<PathBuf>,
    pub replicas: usize,
    /// The started nats-server's `sync_interval` (ignored with an existing server).
    pub sync: crate::embedded::SyncPolicy,
    /// Extra `liaison serve` flags.
    pub gateway_args: Vec<String>,
    /// `--pin`: the CPUs of nats-server and the gateway.
    pub pin: Option<CpuPlan>,
}

impl Rig {
    pub async fn start(options: &RigOptions) -> anyhow::Result<Rig> {
        let dir = tempfile::tempdir().context("temporary directory")?;
        let nats = Nats::start(options, dir.path()).await?;
        let gateway_dir = dir.path().join("gateway");
        std::fs::create_dir_all(&gateway_dir)?;
        // Created before the gateway starts, which then loads it: the tokens minted here are trusted.
        let issuer = Issuer::new(&SigningKey::load_or_create(&gateway_dir)?)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let log = std::fs::File::create(gateway_dir.join("gateway.log"))?;
        let gateway =
            pin::command(&std::env::current_exe().context("the liaison binary")?, options.pin.map(|cpus| cpus.gateway))
                .args(["serve", "--insecure", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
                .arg(&gateway_dir)
                .args(["--nats-url", nats.url(), "--stream-replicas", &options.replicas.to_string()])
                .args(nats.identity_flags())
                .args(["--admin-listen", "127.0.0.1:0"])
                .args(&options.gateway_args)
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(log)
                .kill_on_drop(true)
                .spawn()
                .context("starting liaison serve")?;
        let mut rig = Rig { nats, gateway, gateway_url: format!("http://127.0.0.1:{port}"), issuer, dir };
        rig.wait_serving().await?;
        Ok(rig)
    }

    async fn wait_serving(&mut self) -> anyhow::Result<()> {
        use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};
        let deadline = tokio::time::Instant::now() + START_DEADLINE;
        loop {
            if let Ok(channel) = Channel::from_shared(self.gateway_url.clone())?.connect().await {
                let request = HealthCheckRequest { service: "liaison.v1.GatewayService".into() };
                if let Ok(response) = HealthClient::new(channel).check(request).await
                    && response.into_inner().status == ServingStatus::Serving as i32
                {
                    return Ok(());
                }
            }
            if let Some(status) = self.gateway.try_wait()? {
                anyhow::bail!("the gateway exited during start-up with {status}; log:\n{}", self.gateway_log());
            }
            if tokio::time::Instant::now() > deadline {
                anyhow::bail!("the gateway was not SERVING after {START_DEADLINE:?}; log:\n{}", self.gateway_log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The directory that holds the nats-server store (when started here) and the gateway's files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The last lines of the gateway's log.
    pub fn gateway_log(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("gateway/gateway.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// A new connection to the gateway as `party` in `role`.
    pub async fn client(&self, party: &str, role: Role) -> anyhow::Result<Client> {
        self.client_as(party, role, &format!("bench-{party}")).await
    }

    /// A new connection as `party` in `role` with a token of its own `subject`: limits per credential
    /// are counted per subject.
    pub async fn client_as(&self, party: &str, role: Role, subject: &str) -> anyhow::Result<Client> {
        let party = Token::parse(party)?;
        let token = self.issuer.issue(&party, role, subject, Duration::from_secs(24 * 3600))?;
        self.client_with(Some(&format!("Bearer {token}"))).await
    }

    /// A new connection sending `authorization` as it is (or none), with the bench's large windows.
    pub async fn client_with(&self, authorization: Option<&str>) -> anyhow::Result<Client> {
        let channel = Channel::from_shared(self.gateway_url.clone())?
            .tcp_nodelay(true)
            .initial_stream_window_size(1024 * 1024)
            .initial_connection_window_size(4 * 1024 * 1024)
            .connect()
            .await?;
        bearer_client(channel, authorization)
    }

    /// A new connection with HTTP/2's default 64 KiB windows, as a client that reads slowly has.
    pub async fn plain_channel(&self) -> anyhow::Result<Channel> {
        Ok(Channel::from_shared(self.gateway_url.clone())?.connect().await?)
    }

    /// The gateway's gRPC address, for clients below HTTP/2.
    pub fn gateway_addr(&self) -> &str {
        self.gateway_url.trim_start_matches("http://")
    }

    /// The issuer whose tokens the gateway trusts.
    pub fn issuer(&self) -> &Issuer {
        &self.issuer
    }

    /// A plain NATS connection for the raw baseline, which creates its own stream: on the server started
    /// here, as its provisioning identity.
    pub async fn nats_client(&self) -> anyhow::Result<async_nats::Client> {
        let options = match self.nats.identities() {
            Some(identities) => {
                let seed = std::fs::read_to_string(&identities.provisioning_seed)?;
                async_nats::ConnectOptions::with_nkey(seed.trim().to_string())
            }
            None => async_nats::ConnectOptions::new(),
        };
        Ok(options.connect(cluster::servers(self.nats.url())?).await?)
    }

    /// The gateway's resident memory in bytes.
    pub fn gateway_rss(&self) -> Option<u64> {
        resident_bytes(self.gateway.id()?)
    }

    /// The gateway's peak resident memory since it started (VmHWM), in bytes.
    pub fn gateway_peak_rss(&self) -> Option<u64> {
        status_bytes(self.gateway.id()?, "VmHWM:")
    }

    /// nats-server's peak resident memory (VmHWM), when it was started here (every node's, added up).
    pub fn nats_peak_rss(&self) -> Option<u64> {
        self.nats_sum(|pid| status_bytes(pid, "VmHWM:"))
    }

    /// Whether the gateway process is still running (and not a zombie).
    pub fn gateway_alive(&self) -> bool {
        let Some(pid) = self.gateway.id() else { return false };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
    }

    /// The gateway's whole log.
    pub fn gateway_log_text(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("gateway/gateway.log")).unwrap_or_default()
    }

    /// nats-server's resident memory in bytes, when it was started here (every node's, added up).
    pub fn nats_rss(&self) -> Option<u64> {
        self.nats_sum(resident_bytes)
    }

    /// The started nats-servers' process ids (none for an existing server).
    fn nats_pids(&self) -> Vec<u32> {
        match &self.nats {
            Nats::Started(_) => std::fs::read_to_string(self.dir.path().join("nats/nats-server.pid"))
                .ok()
                .and_then(|pid| pid.trim().parse().ok())
                .into_iter()
                .collect(),
            Nats::Cluster(cluster) => cluster.pids(),
            Nats::Existing(_) => Vec::new(),
        }
    }

    /// A figure of every started nats-server added up; `None` if there is none or one is unreadable.
    fn nats_sum<T: std::iter::Sum<T>>(&self, figure: impl Fn(u32) -> Option<T>) -> Option<T> {
        let pids = self.nats_pids();
        if pids.is_empty() {
            return None;
        }
        pids.into_iter().map(figure).sum()
    }

    /// CPU time used so far by the gateway, nats-server (when started here; every node) and this process.
    pub fn cpu(&self) -> Cpu {
        Cpu {
            gateway: self.gateway.id().and_then(cpu_time),
            nats: self.nats_sum(cpu_time),
            bench: cpu_time(std::process::id()),
        }
    }

    /// With `--pin`: the CPUs each process may use, as the kernel reports them.
    pub fn pinning(&self, pinned: bool) -> Option<Pinning> {
        if !pinned {
            return None;
        }
        let unknown = || "?".to_string();
        Some(Pinning {
            nats: self.nats_pids().into_iter().map(|pid| pin::allowed_cpus(pid).unwrap_or_else(unknown)).collect(),
            gateway: self.gateway.id().and_then(pin::allowed_cpus).unwrap_or_else(unknown),
            bench: pin::allowed_cpus(std::process::id()).unwrap_or_else(unknown),
        })
    }

    /// Stops the gateway (SIGTERM, so it drains) and the nats-server this rig started.
    pub async fn stop(mut self) {
        if let Some(pid) = self.gateway.id() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGTERM);
        }
        if tokio::time::timeout(Duration::from_secs(15), self.gateway.wait()).await.is_err() {
            let _ = self.gateway.kill().await;
        }
        match self.nats {
            Nats::Started(nats) => nats.stop().await,
            Nats::Cluster(cluster) => cluster.stop().await,
            Nats::Existing(_) => {}
        }
    }
}

impl Nats {
    /// The existing server, or one nats-server or a loopback cluster started in `dir`, pinned if asked.
    async fn start(options: &RigOptions, dir: &Path) -> anyhow::Result<Nats> {
        let cpu = options.pin.map(|cpus| cpus.nats);
        match (&options.nats_url, nats_nodes(options.replicas, options.nats_url.is_some())) {
            (Some(url), _) => Ok(Nats::Existing(url.clone())),
            (None, 1) => {
                let binary = match cpu {
                    // The embedded server starts its binary itself: through a wrapper that pins it.
                    Some(cpu) => {
                        let real = crate::embedded::binary::locate(options.nats_server_bin.as_deref()).await?;
                        Some(pin::wrapper(dir, &real, cpu)?)
                    }
                    None => options.nats_server_bin.clone(),
                };
                let data_dir = dir.to_path_buf();
                let embedded =
                    EmbeddedOptions { binary, data_dir, port: None, max_payload: MAX_PAYLOAD, sync: options.sync };
                Ok(Nats::Started(EmbeddedNats::start(embedded).await?))
            }
            (None, nodes) => Ok(Nats::Cluster(
                LoopbackCluster::start(ClusterOptions {
                    binary: options.nats_server_bin.as_deref(),
                    dir,
                    nodes,
                    replicas: options.replicas,
                    sync: options.sync,
                    max_payload: MAX_PAYLOAD,
                    cpu,
                })
                .await?,
            )),
        }
    }

    fn identities(&self) -> Option<&NatsIdentities> {
        match self {
            Nats::Started(nats) => Some(nats.identities()),
            Nats::Cluster(cluster) => Some(cluster.identities()),
            Nats::Existing(_) => None,
        }
    }

    /// The `liaison serve` flags of the identities of the server started here.
    fn identity_flags(&self) -> Vec<std::ffi::OsString> {
        let Some(identities) = self.identities() else { return Vec::new() };
        vec![
            "--nats-nkey".into(),
            identities.runtime_seed.clone().into(),
            "--nats-provision-nkey".into(),
            identities.provisioning_seed.clone().into(),
        ]
    }

    pub fn url(&self) -> &str {
        match self {
            Nats::Started(nats) => nats.url(),
            Nats::Cluster(cluster) => cluster.url(),
            Nats::Existing(url) => url,
        }
    }
}

/// CPU time of the processes of a run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cpu {
    pub gateway: Option<Duration>,
    pub nats: Option<Duration>,
    pub bench: Option<Duration>,
}

/// User + system CPU time of a process, from /proc (Linux; clock ticks are 1/100 s there).
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name, which may itself contain spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// VmRSS of a process, from /proc (Linux).
fn resident_bytes(pid: u32) -> Option<u64> {
    status_bytes(pid, "VmRSS:")
}

/// A `kB` line of /proc/<pid>/status (Linux), in bytes.
fn status_bytes(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("status")).ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// A client on `channel` that sends `authorization` (if any) with every request.
pub fn bearer_client(channel: Channel, authorization: Option<&str>) -> anyhow::Result<Client> {
    let bearer = Bearer(authorization.map(str::parse).transpose()?);
    Ok(GatewayServiceClient::new(InterceptedService::new(channel, bearer)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicated_streams_get_a_cluster_of_at_least_three_nodes() {
        for (replicas, external, nodes) in
            [(1, false, 1), (0, false, 1), (2, false, 3), (3, false, 3), (5, false, 5), (3, true, 0)]
        {
            assert_eq!(nats_nodes(replicas, external), nodes, "replicas {replicas}, external {external}");
        }
    }
}
