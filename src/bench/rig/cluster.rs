//! `liaison bench --replicas N` (N > 1) without `--nats-url`: a JetStream cluster of nats-servers on
//! loopback, started and stopped by the bench, so replicated streams can be measured on one machine.
//!
//! Each node is configured like the embedded server (same store settings, `sync_interval`, max_payload
//! and the two NKEY identities of `embedded::accounts`), plus a `cluster {}` block routing to the others.
//! Unlike the cluster kit (deploy/nats/cluster/loopback) it speaks plaintext on random loopback ports:
//! it exists for the length of one run, and the kit's fixed ports would clash with a kit already running.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::Child;

use super::pin;
use crate::embedded::{NatsIdentities, SyncPolicy};

/// How long the cluster may take to place a stream with all its replicas.
const FORM_DEADLINE: Duration = Duration::from_secs(60);

/// What to start.
pub struct ClusterOptions<'a> {
    /// `None`: looked for as the embedded server looks for it.
    pub binary: Option<&'a Path>,
    /// Configurations, stores and logs go under `<dir>/nats-cluster/`; the identities in `<dir>/nats/`.
    pub dir: &'a Path,
    pub nodes: usize,
    /// Replicas the bench's streams will have: the cluster is ready when it can place them.
    pub replicas: usize,
    pub sync: SyncPolicy,
    pub max_payload: usize,
    /// Every node on this CPU (`--pin`).
    pub cpu: Option<usize>,
}

/// The nodes of one run, killed on drop.
pub struct LoopbackCluster {
    nodes: Vec<Child>,
    url: String,
    identities: NatsIdentities,
}

/// One node's place in the cluster.
struct Node<'a> {
    name: String,
    port: u16,
    route_port: u16,
    /// The other nodes' route ports.
    routes: Vec<u16>,
    dir: &'a Path,
}

// === impl LoopbackCluster ===

impl LoopbackCluster {
    /// Starts every node and waits until a stream of `replicas` replicas can be created.
    pub async fn start(options: ClusterOptions<'_>) -> anyhow::Result<LoopbackCluster> {
        let binary = crate::embedded::binary::locate(options.binary).await?;
        let identities = NatsIdentities::load_or_create(options.dir)?;
        let accounts = crate::embedded::accounts(&identities);
        let dir = options.dir.join("nats-cluster");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let ports: Vec<(u16, u16)> =
            (0..options.nodes).map(|_| Ok((free_port()?, free_port()?))).collect::<std::io::Result<_>>()?;
        let mut nodes = Vec::new();
        for (index, &(port, route_port)) in ports.iter().enumerate() {
            let routes = ports.iter().filter(|other| other.1 != route_port).map(|other| other.1).collect();
            let node = Node { name: format!("n{}", index + 1), port, route_port, routes, dir: &dir };
            let config = dir.join(format!("{}.conf", node.name));
            std::fs::write(&config, node.config(&options, &accounts))?;
            let child = pin::command(&binary, options.cpu)
                .arg("-c")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .with_context(|| format!("starting {}", binary.display()))?;
            nodes.push(child);
        }
        let url = ports.iter().map(|(port, _)| format!("nats://127.0.0.1:{port}")).collect::<Vec<_>>().join(",");
        let mut cluster = LoopbackCluster { nodes, url, identities };
        cluster.wait_formed(options.replicas, &dir).await?;
        Ok(cluster)
    }

    /// Every node's client URL, comma separated, as `liaison serve --nats-url` takes them.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn identities(&self) -> &NatsIdentities {
        &self.identities
    }

    /// The nodes' process ids.
    pub fn pids(&self) -> Vec<u32> {
        self.nodes.iter().filter_map(Child::id).collect()
    }

    /// A stream of `replicas` can be placed once every node is up and a meta leader is elected.
    async fn wait_formed(&mut self, replicas: usize, dir: &Path) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + FORM_DEADLINE;
        loop {
            for node in &mut self.nodes {
                if let Some(status) = node.try_wait()? {
                    anyhow::bail!("a cluster node exited at start ({status}); logs in {}", dir.display());
                }
            }
            if self.place_stream(replicas).await.is_ok() {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                anyhow::bail!("the loopback cluster did not form in {FORM_DEADLINE:?}; logs in {}", dir.display());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn place_stream(&self, replicas: usize) -> anyhow::Result<()> {
        let seed = std::fs::read_to_string(&self.identities.provisioning_seed)?;
        let client =
            async_nats::ConnectOptions::with_nkey(seed.trim().to_string()).connect(servers(&self.url)?).await?;
        let jetstream = async_nats::jetstream::new(client);
        let config = async_nats::jetstream::stream::Config {
            name: "LIAISON_BENCH_READY".into(),
            subjects: vec!["liaison.bench.ready".into()],
            num_replicas: replicas,
            ..Default::default()
        };
        jetstream.create_stream(config).await?;
        jetstream.delete_stream("LIAISON_BENCH_READY").await?;
        Ok(())
    }

    /// SIGTERM to every node, then SIGKILL to any still running after 10 s.
    pub async fn stop(mut self) {
        for pid in self.pids() {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
        }
        for node in &mut self.nodes {
            if tokio::time::timeout(Duration::from_secs(10), node.wait()).await.is_err() {
                let _ = node.kill().await;
            }
        }
    }
}

// === impl Node ===

impl Node<'_> {
    /// The node's configuration: the embedded server's settings, its store and log under `dir`, a
    /// `cluster {}` block routing to the other nodes, and the accounts.
    fn config(&self, options: &ClusterOptions<'_>, accounts: &str) -> String {
        let routes: Vec<String> = self.routes.iter().map(|port| format!("nats-route://127.0.0.1:{port}")).collect();
        format!(
            "# Written by liaison bench for a loopback cluster of one run.\n\
             server_name: {name}\n\
             listen: 127.0.0.1:{port}\n\
             max_payload: {max_payload}\n\
             log_file: {log:?}\n\
             jetstream {{\n  store_dir: {store:?}\n  sync_interval: {sync}\n}}\n\
             cluster {{\n  name: liaison-bench\n  listen: 127.0.0.1:{route_port}\n  routes: [{routes}]\n}}\n\
             {accounts}",
            name = self.name,
            port = self.port,
            max_payload = options.max_payload.max(1024 * 1024),
            log = self.dir.join(format!("{}.log", self.name)),
            store = self.dir.join(&self.name),
            sync = options.sync.config_value(),
            route_port = self.route_port,
            routes = routes.join(", "),
        )
    }
}

/// A comma-separated URL list as the addresses async-nats connects to.
pub fn servers(url: &str) -> anyhow::Result<Vec<async_nats::ServerAddr>> {
    url.split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .map(|url| url.parse().with_context(|| format!("NATS URL {url}")))
        .collect()
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedded::sync::configured_sync;

    #[test]
    fn a_node_routes_to_the_others_and_stores_like_the_embedded_server() {
        let dir = tempfile::tempdir().unwrap();
        let cluster = dir.path().join("nats-cluster");
        let node = Node { name: "n2".into(), port: 4223, route_port: 6223, routes: vec![6222, 6224], dir: &cluster };
        let options = ClusterOptions {
            binary: None,
            dir: dir.path(),
            nodes: 3,
            replicas: 3,
            sync: SyncPolicy::Always,
            max_payload: 8 * 1024 * 1024,
            cpu: None,
        };
        let text = node.config(&options, "accounts { }\n");
        assert!(text.contains("server_name: n2\nlisten: 127.0.0.1:4223\nmax_payload: 8388608\n"), "{text}");
        assert!(
            text.contains(
                "listen: 127.0.0.1:6223\n  routes: [nats-route://127.0.0.1:6222, nats-route://127.0.0.1:6224]"
            )
        );
        assert!(text.contains(&format!("store_dir: {:?}", cluster.join("n2"))), "{text}");
        assert!(text.ends_with("accounts { }\n"), "{text}");
        assert_eq!(configured_sync(&text).as_deref(), Some("always"), "{text}");
        let text = node.config(&ClusterOptions { sync: SyncPolicy::Every(Duration::from_secs(120)), ..options }, "");
        assert_eq!(configured_sync(&text).as_deref(), Some("120000ms"), "{text}");
    }

    #[test]
    fn url_lists_become_every_server() {
        assert_eq!(servers("nats://127.0.0.1:4222, nats://127.0.0.1:4223,").unwrap().len(), 2);
        assert!(servers("nats://127.0.0.1:4222,nats://a b").is_err());
    }
}
