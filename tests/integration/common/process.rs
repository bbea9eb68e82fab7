//! Processes a test can kill: the real `liaison serve` binary as a child process (`GatewayProcess`), with its
//! resident memory, SIGKILL and restart on the same port and data directory, and a graceful restart of the
//! test nats-server on its own port and store (`NatsServer::restart`).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use liaison::api::gateway_service_client::GatewayServiceClient;
use liaison::identity::{Issuer, Role, SigningKey};
use liaison::model::Token;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;

use super::{Authorize, Client, NatsServer, client_with_header, nats_server_bin};

const LIAISON: &str = env!("CARGO_BIN_EXE_liaison");
/// How long the gateway may take to report SERVING, and nats-server to accept JetStream requests.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// `liaison serve --insecure` in its own process against an external nats-server, killed on drop.
pub struct GatewayProcess {
    child: Option<Child>,
    pub port: u16,
    pub data_dir: tempfile::TempDir,
    nats_url: String,
    extra_args: Vec<String>,
    issuer: Issuer,
}

impl GatewayProcess {
    /// Starts a gateway against `nats_url` and waits until it reports SERVING.
    pub async fn start(nats_url: &str) -> GatewayProcess {
        Self::start_with_args(nats_url, &[]).await
    }

    /// Starts with extra `liaison serve` flags (e.g. `--publish-rate 0`).
    pub async fn start_with_args(nats_url: &str, extra: &[&str]) -> GatewayProcess {
        let data_dir = tempfile::tempdir().expect("temp dir");
        // Created before the gateway starts, which then loads it: tokens minted here are trusted.
        let key = SigningKey::load_or_create(data_dir.path()).expect("signing key");
        let issuer = Issuer::new(&key).expect("issuer");
        let mut gateway = GatewayProcess {
            child: None,
            port: super::free_port(),
            data_dir,
            nats_url: nats_url.to_string(),
            extra_args: extra.iter().map(|arg| arg.to_string()).collect(),
            issuer,
        };
        gateway.spawn().await;
        gateway
    }

    async fn spawn(&mut self) {
        assert!(self.child.is_none(), "gateway already running");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_path()).expect("gateway log");
        let child = Command::new(LIAISON)
            .args(["serve", "--insecure", "--listen", &format!("127.0.0.1:{}", self.port), "--data-dir"])
            .arg(self.data_dir.path())
            .args(["--nats-url", &self.nats_url, "--admin-listen", "127.0.0.1:0"])
            .arg("--nats-nkey")
            .arg(&super::test_identities().runtime_seed)
            .arg("--nats-provision-nkey")
            .arg(&super::test_identities().provisioning_seed)
            .args(&self.extra_args)
            .env("LIAISON_NATS_SERVER_BIN", nats_server_bin())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn liaison serve");
        self.child = Some(child);
        self.wait_serving().await;
    }

    async fn wait_serving(&mut self) {
        use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};
        let deadline = tokio::time::Instant::now() + START_DEADLINE;
        loop {
            if let Ok(channel) = Channel::from_shared(self.url()).unwrap().connect().await {
                let request = HealthCheckRequest { service: "liaison.v1.GatewayService".into() };
                if let Ok(response) = HealthClient::new(channel).check(request).await
                    && response.into_inner().status == ServingStatus::Serving as i32
                {
                    return;
                }
            }
            if let Some(status) = self.child.as_mut().and_then(|child| child.try_wait().ok().flatten()) {
                self.child = None;
                panic!("gateway exited during start-up with {status}; log:\n{}", self.log_tail());
            }
            if tokio::time::Instant::now() > deadline {
                panic!("gateway not SERVING after {START_DEADLINE:?}; log:\n{}", self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Where the gateway's stderr (its log) goes, across restarts.
    pub fn log_path(&self) -> PathBuf {
        self.data_dir.path().join("gateway.log")
    }

    /// The last lines of the gateway's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// A bearer token for `party` in `role`, signed with the data directory's key (valid across restarts).
    pub fn token(&self, party: &str, role: Role) -> String {
        self.issuer
            .issue(&Token::parse(party).unwrap(), role, &format!("{party}-test"), Duration::from_secs(3600))
            .unwrap()
    }

    /// A client authenticated as `party` in `role`, connected now (panics if the gateway is down).
    pub async fn client(&self, party: &str, role: Role) -> Client {
        client_with_header(&self.url(), Some(format!("Bearer {}", self.token(party, role)))).await
    }

    /// A client that connects on first use and reconnects after failures: for tasks that outlive a restart.
    pub fn lazy_client(&self, party: &str, role: Role) -> Client {
        let channel = Channel::from_shared(self.url()).unwrap().connect_lazy();
        let header: MetadataValue<_> = format!("Bearer {}", self.token(party, role)).parse().unwrap();
        let authorize: Authorize = Box::new(move |mut request| {
            request.metadata_mut().insert("authorization", header.clone());
            Ok(request)
        });
        GatewayServiceClient::with_interceptor(channel, authorize).max_decoding_message_size(64 * 1024 * 1024)
    }

    /// The process id of the running gateway.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("gateway running").id()
    }

    /// Resident set size of the gateway process (VmRSS from /proc), in bytes.
    pub fn rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("read /proc status");
        let line = status.lines().find(|line| line.starts_with("VmRSS:")).expect("VmRSS in /proc status");
        let kib: u64 = line.split_whitespace().nth(1).and_then(|kib| kib.parse().ok()).expect("VmRSS in kB");
        kib * 1024
    }

    /// SIGKILL: no drain, no flush; waits until the process is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the gateway again on the same port and data directory (killing it first if it still runs).
    pub async fn restart(&mut self) {
        self.kill();
        self.spawn().await;
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

impl NatsServer {
    /// Stops the server gracefully (SIGTERM, waiting for it to exit) and starts a new one on the same port and
    /// store directory; returns once JetStream answers again.
    pub async fn restart(&mut self) {
        let pid = Pid::from_raw(self.child.id() as i32);
        let _ = kill(pid, Signal::SIGTERM);
        let deadline = tokio::time::Instant::now() + START_DEADLINE;
        loop {
            if self.child.try_wait().expect("wait for nats-server").is_some() {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "nats-server ignored SIGTERM for {START_DEADLINE:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let port = self.port.to_string();
        let store = self.store.path().display().to_string();
        // The same configuration as at the first start: the test accounts' file, or plain JetStream.
        let config = self.store.path().join("nats-server.conf").display().to_string();
        let server_args = match self.accounts {
            true => vec!["-c", &config],
            false => vec!["-js", "-sd", &store],
        };
        self.child = Command::new(nats_server_bin())
            .args(["-a", "127.0.0.1", "-p", &port])
            .args(server_args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("restart nats-server");
        assert!(self.wait_ready().await, "nats-server did not come back on port {port}");
        let deadline = tokio::time::Instant::now() + START_DEADLINE;
        loop {
            if let Ok(client) = self.connect_as(&self.inspector_auth()).await
                && async_nats::jetstream::new(client).query_account().await.is_ok()
            {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "JetStream did not come back after the restart");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
