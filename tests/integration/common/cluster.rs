//! A three-node NATS JetStream cluster on loopback: random client and route ports, a temp store per node,
//! SIGKILL and restart of one node on its ports and store, everything killed on drop. Like the cluster
//! kit (deploy/nats/cluster/), clients and routes speak TLS with the cluster's own CA, and clients must
//! be one of the test accounts' users.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use liaison::bus::{NatsAuth, NatsTls};

use super::{INSPECTOR, connect_as, free_port, nats_server_bin, test_accounts};

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
    /// The CA that signed every node's certificate (clients and routes verify against it).
    ca: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

/// The cluster's CA and one certificate for every node (127.0.0.1, localhost), as files in `dir`.
fn write_certificates(dir: &std::path::Path) -> (std::path::PathBuf, String) {
    let authority = liaison::tls::Authority::new("liaison test NATS CA").expect("test CA");
    let names = ["127.0.0.1".to_string(), "localhost".to_string()];
    let (cert, key) = authority.issue("nats", &names).expect("node certificate");
    let (ca_path, cert_path, key_path) = (dir.join("ca.pem"), dir.join("node.pem"), dir.join("node-key.pem"));
    std::fs::write(&ca_path, authority.certificate_pem()).unwrap();
    std::fs::write(&cert_path, cert).unwrap();
    std::fs::write(&key_path, key).unwrap();
    let files = format!("cert_file: {cert_path:?}, key_file: {key_path:?}, ca_file: {ca_path:?}");
    (ca_path, files)
}

impl NatsCluster {
    /// Starts three nodes and waits until JetStream can place a three-replica stream.
    pub async fn start() -> NatsCluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let (ca, tls_files) = write_certificates(dir.path());
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
                     tls {{ {tls_files} }}\n\
                     cluster {{ name: liaison, listen: \"127.0.0.1:{}\", routes: [{}], \
                     tls {{ {tls_files}, verify: true }} }}\n{}",
                    routes[index],
                    others.join(", "),
                    test_accounts()
                );
                std::fs::write(&config, text).expect("write node config");
                Node { name, port, config, child: None }
            })
            .collect();
        let mut cluster = NatsCluster { nodes, ca, _dir: dir };
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
            if let Ok(client) = self.connect_as(&inspector()).await {
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

    /// TLS settings of a gateway on this cluster.
    pub fn tls(&self) -> NatsTls {
        NatsTls { ca: Some(self.ca.clone()), client_cert: None }
    }

    /// A client of the cluster (any node) with every power: the inspector, over TLS.
    pub async fn client(&self) -> async_nats::Client {
        self.connect_as(&inspector()).await.expect("connect to the test cluster")
    }

    /// A client connected as `auth` over TLS with the cluster's CA.
    pub async fn connect_as(&self, auth: &NatsAuth) -> Result<async_nats::Client, async_nats::ConnectError> {
        let options = async_nats::ConnectOptions::new().add_root_certificates(self.ca.clone()).require_tls(true);
        connect_as(&self.url(), auth, options).await
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

fn inspector() -> NatsAuth {
    NatsAuth::UserPassword { user: INSPECTOR.0.into(), password: INSPECTOR.1.into() }
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
