//! A three-node NATS JetStream cluster on loopback: random client and route ports, a temp store per node,
//! SIGKILL and restart of one node on its ports and store, everything killed on drop.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{free_port, nats_server_bin};

/// One clustered nats-server.
struct Node {
    name: String,
    port: u16,
    config: std::path::PathBuf,
    child: Option<Child>,
}

/// Three clustered nats-servers (`n1`, `n2`, `n3`) in cluster `liaison`.
pub struct NatsCluster {
    nodes: Vec<Node>,
    _dir: tempfile::TempDir,
}

impl NatsCluster {
    /// Starts three nodes and waits until JetStream can place a three-replica stream.
    pub async fn start() -> NatsCluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let routes: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let nodes = (0..3)
            .map(|index| {
                let name = format!("n{}", index + 1);
                let port = free_port();
                let store = dir.path().join(&name);
                let others: Vec<String> = routes
                    .iter()
                    .enumerate()
                    .filter(|(other, _)| *other != index)
                    .map(|(_, route)| format!("\"nats-route://127.0.0.1:{route}\""))
                    .collect();
                let config = dir.path().join(format!("{name}.conf"));
                let text = format!(
                    "server_name: {name}\nlisten: \"127.0.0.1:{port}\"\nmax_payload: 8MB\n\
                     jetstream {{ store_dir: {store:?} }}\n\
                     cluster {{ name: liaison, listen: \"127.0.0.1:{}\", routes: [{}] }}\n",
                    routes[index],
                    others.join(", ")
                );
                std::fs::write(&config, text).expect("write node config");
                Node { name, port, config, child: None }
            })
            .collect();
        let mut cluster = NatsCluster { nodes, _dir: dir };
        for index in 0..3 {
            cluster.spawn(index);
        }
        cluster.wait_replicated().await;
        cluster
    }

    fn spawn(&mut self, index: usize) {
        let node = &mut self.nodes[index];
        let child = Command::new(nats_server_bin())
            .args(["-c", &node.config.display().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server must be installed (see README: the test command installs it)");
        node.child = Some(child);
    }

    /// Waits until a three-replica stream can be created (a meta leader and every peer is up).
    pub async fn wait_replicated(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(client) = async_nats::connect(self.addresses()).await {
                let jetstream = async_nats::jetstream::new(client);
                let config = async_nats::jetstream::stream::Config {
                    name: "READY_CHECK".into(),
                    subjects: vec!["ready.check".into()],
                    num_replicas: 3,
                    ..Default::default()
                };
                if jetstream.create_stream(config).await.is_ok() {
                    let _ = jetstream.delete_stream("READY_CHECK").await;
                    return;
                }
            }
            assert!(tokio::time::Instant::now() < deadline, "the NATS cluster did not form");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Every node's client URL, comma separated, as gateways take them.
    pub fn url(&self) -> String {
        self.nodes.iter().map(|node| format!("nats://127.0.0.1:{}", node.port)).collect::<Vec<_>>().join(",")
    }

    fn addresses(&self) -> Vec<async_nats::ServerAddr> {
        self.url().split(',').map(|url| url.parse().unwrap()).collect()
    }

    /// A client of the cluster (any node).
    pub async fn client(&self) -> async_nats::Client {
        async_nats::connect(self.addresses()).await.expect("connect to the test cluster")
    }

    /// The node named `name` (`n1` ...).
    fn index_of(&self, name: &str) -> usize {
        self.nodes.iter().position(|node| node.name == name).unwrap_or_else(|| panic!("no node {name}"))
    }

    /// SIGKILLs a node: no lame-duck, no flush.
    pub fn kill(&mut self, name: &str) {
        let index = self.index_of(name);
        if let Some(mut child) = self.nodes[index].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts a killed node again on its ports and store.
    pub fn restart(&mut self, name: &str) {
        let index = self.index_of(name);
        assert!(self.nodes[index].child.is_none(), "{name} is running");
        self.spawn(index);
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}
