//! Test harness: a real nats-server per test (random port, temp store, killed on Drop) and the gateway
//! in-process on 127.0.0.1:0, plus clients and helpers.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use liaison::api as pb;
use liaison::api::gateway_service_client::GatewayServiceClient;
use liaison::api::operator_service_client::OperatorServiceClient;
use liaison::bus::NatsAuth;
use liaison::bus::permissions::{self, ServerUser};
use liaison::config::{NatsFlags, ServeArgs, ServeConfig};
use liaison::embedded::NatsIdentities;
use liaison::identity::{Issuer, Role, SigningKey};
use liaison::model::Token;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, ClientTlsConfig};

/// The nats-server binary: `NATS_SERVER_BIN` or `nats-server` on PATH.
pub fn nats_server_bin() -> PathBuf {
    std::env::var_os("NATS_SERVER_BIN").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("nats-server"))
}

/// A nats-server with JetStream on a random loopback port, killed on drop.
pub struct NatsServer {
    child: Child,
    pub port: u16,
    pub store: tempfile::TempDir,
    /// The server has the generated Liaison accounts ([`test_accounts`]); [`NatsServer::client`] is the
    /// inspector then.
    accounts: bool,
}

/// The test-only user with every power in the LIAISON account, for checking what the gateway wrote.
pub const INSPECTOR: (&str, &str) = ("inspector", "inspector-test-password");

/// The runtime and provisioning NKEY identities every test server accepts, generated once under the
/// target directory and reused.
pub fn test_identities() -> &'static NatsIdentities {
    static IDENTITIES: std::sync::OnceLock<NatsIdentities> = std::sync::OnceLock::new();
    IDENTITIES.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("liaison-test-nats-identities");
        NatsIdentities::load_or_create(&dir).expect("test NATS identities")
    })
}

/// The gateway's runtime credential on test servers.
pub fn runtime_auth() -> NatsAuth {
    NatsAuth::Nkey(test_identities().runtime_seed.clone())
}

/// The provisioning credential on test servers.
pub fn provisioning_auth() -> NatsAuth {
    NatsAuth::Nkey(test_identities().provisioning_seed.clone())
}

/// The accounts of a test server: the embedded server's (runtime and provisioning users, nothing
/// anonymous) plus the inspector.
pub fn test_accounts() -> String {
    let identities = test_identities();
    let inspector = ServerUser::Password { user: INSPECTOR.0.into(), password: INSPECTOR.1.into() };
    permissions::account_config(&[
        (ServerUser::Nkey(identities.runtime_public.clone()), permissions::runtime()),
        (ServerUser::Nkey(identities.provisioning_public.clone()), permissions::provisioning()),
        (inspector, permissions::provisioning()),
    ])
}

/// Connects to `url` (comma-separated) as `auth`, with `options` for TLS and the like.
pub async fn connect_as(
    url: &str,
    auth: &NatsAuth,
    options: async_nats::ConnectOptions,
) -> Result<async_nats::Client, async_nats::ConnectError> {
    let options = match auth {
        NatsAuth::None => options,
        NatsAuth::UserPassword { user, password } => options.user_and_password(user.clone(), password.clone()),
        NatsAuth::Nkey(path) => options.nkey(std::fs::read_to_string(path).unwrap().trim().to_string()),
        NatsAuth::CredentialsFile(path) => options.credentials_file(path).await.unwrap(),
    };
    let servers: Vec<async_nats::ServerAddr> = url.split(',').map(|url| url.parse().unwrap()).collect();
    options.connect(servers).await
}

impl NatsServer {
    pub async fn start() -> NatsServer {
        Self::start_with_args(&[]).await
    }

    /// Starts with extra command-line arguments (`-c FILE` adds the file's settings to the test config).
    pub async fn start_with_args(extra: &[&str]) -> NatsServer {
        Self::start_with_env(extra, &[]).await
    }

    /// Starts with the test accounts, extra arguments and environment variables.
    pub async fn start_with_env(extra: &[&str], env: &[(&str, &str)]) -> NatsServer {
        let mut included = String::new();
        let mut args = Vec::new();
        let mut extra = extra.iter();
        while let Some(arg) = extra.next() {
            match (*arg, extra.as_slice().first()) {
                ("-c", Some(file)) => {
                    included.push_str(&std::fs::read_to_string(file).expect("extra config"));
                    extra.next();
                }
                _ => args.push(arg.to_string()),
            }
        }
        let mut server = Self::spawn(
            |store| {
                let path = store.join("nats-server.conf");
                let text = format!("jetstream {{ store_dir: {:?} }}\n{}{included}\n", store, test_accounts());
                std::fs::write(&path, text).expect("write test config");
                let mut all = vec!["-c".to_string(), path.display().to_string()];
                all.extend(args.iter().cloned());
                all
            },
            env,
        )
        .await;
        server.accounts = true;
        server
    }

    /// Starts from a configuration file that `config` writes given the temp store directory (the file
    /// owns JetStream and its store), with environment variables for its `$VAR` references.
    pub async fn start_configured(config: impl Fn(&std::path::Path) -> String, env: &[(&str, &str)]) -> NatsServer {
        Self::spawn(
            |store| {
                let path = store.join("nats-server.conf");
                std::fs::write(&path, config(&store.join("jetstream"))).expect("write test config");
                vec!["-c".to_string(), path.display().to_string()]
            },
            env,
        )
        .await
    }

    async fn spawn(args: impl Fn(&std::path::Path) -> Vec<String>, env: &[(&str, &str)]) -> NatsServer {
        for _attempt in 0..5 {
            let store = tempfile::tempdir().expect("temp dir");
            let port = free_port();
            let child = Command::new(nats_server_bin())
                .args(["-a", "127.0.0.1", "-p", &port.to_string()])
                .args(args(store.path()))
                .envs(env.iter().copied())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("nats-server must be installed (see README: the test command installs it)");
            let mut server = NatsServer { child, port, store, accounts: false };
            if server.wait_ready().await {
                return server;
            }
            // Most likely another process took the port between picking and binding: try another.
        }
        panic!("nats-server did not start after 5 attempts");
    }

    async fn wait_ready(&mut self) -> bool {
        for _ in 0..200 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        false
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// A NATS client with every power (the inspector, on servers with the test accounts), for checking
    /// what the gateway wrote.
    pub async fn client(&self) -> async_nats::Client {
        self.connect_as(&self.inspector_auth()).await.expect("connect to test nats-server")
    }

    /// The inspector's credential on this server (none on servers without the test accounts).
    pub fn inspector_auth(&self) -> NatsAuth {
        match self.accounts {
            true => NatsAuth::UserPassword { user: INSPECTOR.0.into(), password: INSPECTOR.1.into() },
            false => NatsAuth::None,
        }
    }

    /// A client connected as `auth`.
    pub async fn connect_as(&self, auth: &NatsAuth) -> Result<async_nats::Client, async_nats::ConnectError> {
        connect_as(&self.url(), auth, async_nats::ConnectOptions::new()).await
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A gateway running in-process on 127.0.0.1:0 against a given NATS URL (or the embedded server).
pub struct TestGateway {
    pub addr: SocketAddr,
    /// The admin HTTP port: /metrics, /healthz, /readyz.
    pub admin: SocketAddr,
    pub data_dir: tempfile::TempDir,
    issuer: Issuer,
    /// Set when the gateway serves TLS: how the harness's own clients connect.
    pub client_tls: Option<ClientTlsConfig>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestGateway {
    pub async fn start(nats: &NatsServer) -> TestGateway {
        Self::start_with(Some(nats.url()), |_| {}).await
    }

    /// Starts a gateway; `tweak` adjusts the configuration first. `nats_url: None` uses the embedded server.
    pub async fn start_with(nats_url: Option<String>, tweak: impl FnOnce(&mut ServeConfig)) -> TestGateway {
        let data_dir = tempfile::tempdir().expect("temp dir");
        Self::start_in(data_dir, nats_url, tweak).await
    }

    /// Starts a gateway with a given data directory (to restart one with the same key).
    pub async fn start_in(
        data_dir: tempfile::TempDir,
        nats_url: Option<String>,
        tweak: impl FnOnce(&mut ServeConfig),
    ) -> TestGateway {
        Self::start_inner(data_dir, nats_url, None, tweak).await
    }

    async fn start_inner(
        data_dir: tempfile::TempDir,
        nats_url: Option<String>,
        mut client_tls: Option<ClientTlsConfig>,
        tweak: impl FnOnce(&mut ServeConfig),
    ) -> TestGateway {
        let args = ServeArgs {
            data_dir: Some(data_dir.path().to_path_buf()),
            nats: NatsFlags { nats_url, ..Default::default() },
            nats_server_bin: Some(nats_server_bin()),
            shutdown_grace: Some(Duration::from_secs(3)),
            insecure: true,
            admin_listen: Some(SocketAddr::from(([127, 0, 0, 1], free_port()))),
            ..Default::default()
        };
        let mut config = ServeConfig::load(&args).expect("valid test configuration");
        // Test servers accept these identities (servers without accounts accept anything).
        config.nats_auth = runtime_auth();
        config.nats_provision_auth = Some(provisioning_auth());
        tweak(&mut config);
        let key = SigningKey::load_or_create(data_dir.path()).expect("signing key");
        let client_tls = client_tls.take();
        let mut data_dir = data_dir;
        // The admin port was free when chosen, but any client connection of a parallel test may take it
        // before the gateway binds it: then the gateway tries again on another.
        for attempt in 1.. {
            let admin = config.admin_listen;
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = listener.local_addr().unwrap();
            let (stop, stopped) = oneshot::channel::<()>();
            let task = tokio::spawn(liaison::app::run(config.clone(), listener, async {
                let _ = stopped.await;
            }));
            let client_tls = client_tls.clone();
            let issuer = Issuer::new(&key).expect("issuer");
            let mut gateway =
                TestGateway { addr, admin, data_dir, issuer, client_tls, stop: Some(stop), task: Some(task) };
            match gateway.wait_serving().await {
                Ok(()) => return gateway,
                Err(why) if attempt < 5 && why.contains("Address already in use") => {
                    data_dir = std::mem::replace(&mut gateway.data_dir, tempfile::tempdir().expect("temp dir"));
                    config.admin_listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
                }
                Err(why) => panic!("{why}"),
            }
        }
        unreachable!("the loop returns or panics")
    }

    /// A gateway serving TLS as `tweak` configures it; the harness connects with `client_tls`.
    pub async fn start_tls(
        nats: &NatsServer,
        client_tls: ClientTlsConfig,
        tweak: impl FnOnce(&mut ServeConfig),
    ) -> TestGateway {
        let data_dir = tempfile::tempdir().expect("temp dir");
        Self::start_inner(data_dir, Some(nats.url()), Some(client_tls), tweak).await
    }

    /// A channel to the gateway, over TLS when it serves TLS.
    pub async fn channel(&self) -> Result<Channel, tonic::transport::Error> {
        let mut endpoint = Channel::from_shared(self.url()).unwrap();
        if let Some(tls) = &self.client_tls {
            endpoint = endpoint.tls_config(tls.clone())?;
        }
        endpoint.connect().await
    }

    async fn wait_serving(&mut self) -> Result<(), String> {
        use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};
        for _ in 0..400 {
            if let Ok(channel) = self.channel().await {
                let mut health = HealthClient::new(channel);
                let request = HealthCheckRequest { service: "liaison.v1.GatewayService".into() };
                if let Ok(response) = health.check(request).await
                    && response.into_inner().status == ServingStatus::Serving as i32
                {
                    return Ok(());
                }
            }
            if self.task.as_ref().is_some_and(|task| task.is_finished()) {
                let result = self.task.take().unwrap().await;
                return Err(format!("gateway exited during start-up: {result:?}"));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Err("gateway did not become ready".into())
    }

    pub fn url(&self) -> String {
        match self.client_tls {
            Some(_) => format!("https://{}", self.addr),
            None => format!("http://{}", self.addr),
        }
    }

    pub fn token(&self, party: &str, role: Role) -> String {
        self.issuer
            .issue(&Token::parse(party).unwrap(), role, &format!("{party}-test"), Duration::from_secs(600))
            .unwrap()
    }

    pub fn issuer(&self) -> &Issuer {
        &self.issuer
    }

    /// A client authenticated as `party` in `role`.
    pub async fn client(&self, party: &str, role: Role) -> Client {
        client_with_header(&self.url(), Some(format!("Bearer {}", self.token(party, role)))).await
    }

    /// An operator-service client authenticated as `party` in `role`.
    pub async fn operator(&self, party: &str, role: Role) -> Operator {
        operator_with_token(&self.url(), &self.token(party, role)).await
    }

    /// An RFI-service client authenticated as `party` in `role`.
    pub async fn rfis(&self, party: &str, role: Role) -> Rfis {
        let channel = Channel::from_shared(self.url()).unwrap().connect().await.expect("connect to gateway");
        let header: MetadataValue<_> = format!("Bearer {}", self.token(party, role)).parse().unwrap();
        let authorize: Authorize = Box::new(move |mut request| {
            request.metadata_mut().insert("authorization", header.clone());
            Ok(request)
        });
        liaison::api::rfi_service_client::RfiServiceClient::with_interceptor(channel, authorize)
    }

    /// Stops the gateway and waits for it; returns the data directory for a restart.
    pub async fn stop(mut self) -> tempfile::TempDir {
        self.shutdown().await;
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.data_dir, dir)
    }

    async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("gateway task").expect("gateway ran cleanly");
        }
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

pub type Authorize = Box<dyn FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Send>;
pub type Client = GatewayServiceClient<InterceptedService<Channel, Authorize>>;
pub type Operator = OperatorServiceClient<InterceptedService<Channel, Authorize>>;
pub type Rfis = liaison::api::rfi_service_client::RfiServiceClient<InterceptedService<Channel, Authorize>>;

/// A client sending `authorization: <header>` (or nothing).
pub async fn client_with_header(url: &str, header: Option<String>) -> Client {
    let channel = Channel::from_shared(url.to_string()).unwrap().connect().await.expect("connect to gateway");
    let header: Option<MetadataValue<_>> = header.map(|header| header.parse().unwrap());
    let authorize: Authorize = Box::new(move |mut request| {
        if let Some(header) = &header {
            request.metadata_mut().insert("authorization", header.clone());
        }
        Ok(request)
    });
    GatewayServiceClient::with_interceptor(channel, authorize).max_decoding_message_size(64 * 1024 * 1024)
}

/// An operator-service client on `url` sending `token`.
pub async fn operator_with_token(url: &str, token: &str) -> Operator {
    let channel = Channel::from_shared(url.to_string()).unwrap().connect().await.expect("connect to gateway");
    let header: MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
    let authorize: Authorize = Box::new(move |mut request| {
        request.metadata_mut().insert("authorization", header.clone());
        Ok(request)
    });
    OperatorServiceClient::with_interceptor(channel, authorize)
}

/// A routing dry-run of an unclassified report from ia to cbp: the cheapest authenticated operator call.
pub async fn check_ia_to_cbp(operator: &mut Operator) -> Result<pb::CheckRouteResponse, tonic::Status> {
    let request = pb::CheckRouteRequest {
        origin: "ia".into(),
        recipients: vec!["cbp".into()],
        kind: pb::Kind::Report as i32,
        topic: "border-security".into(),
        markings: Some(pb::Markings { classification: pb::Classification::Unclassified as i32, ..Default::default() }),
        precedence: 0,
    };
    operator.check_route(request).await.map(tonic::Response::into_inner)
}

/// The policy version `operator`'s gateway decides with now (a CheckRoute of ia to cbp).
pub async fn policy_version(operator: &mut Operator) -> String {
    check_ia_to_cbp(operator).await.unwrap().policy_version
}

/// An unclassified report to `recipients` on `topic` with `body`, every optional field filled.
pub fn envelope(recipients: &[&str], topic: &str, body: &[u8]) -> pb::Envelope {
    pb::Envelope {
        recipients: recipients.iter().map(|recipient| recipient.to_string()).collect(),
        kind: pb::Kind::Report as i32,
        topic: topic.to_string(),
        markings: Some(pb::Markings {
            classification: pb::Classification::Unclassified as i32,
            controls: vec![pb::DisseminationControl::Les as i32],
            rel_to: vec![],
            tlp: pb::Tlp::Amber as i32,
            ..Default::default()
        }),
        precedence: pb::Precedence::Routine as i32,
        created_at: Some(prost_types::Timestamp { seconds: 1_790_000_000, nanos: 123_000_000 }),
        title: "Structured deposits".to_string(),
        body: body.to_vec().into(),
        content_type: "text/plain".to_string(),
        attributes: [("case".to_string(), "2026-0042".to_string())].into_iter().collect(),
        ..Default::default()
    }
}

/// Publishes and returns the receipt, panicking on error.
pub async fn publish(client: &mut Client, envelope: pb::Envelope) -> pb::Receipt {
    client
        .publish(pb::PublishRequest { envelope: Some(envelope) })
        .await
        .expect("publish accepted")
        .into_inner()
        .receipt
        .expect("receipt")
}

/// An open Subscribe stream: send acks through `requests`, read deliveries from `responses`.
pub struct Subscription {
    pub requests: mpsc::Sender<pb::SubscribeRequest>,
    pub responses: tonic::Streaming<pb::SubscribeResponse>,
    pub opened: pb::SubscriptionOpened,
}

/// Opens a subscription with `open` and waits for `opened`.
pub async fn subscribe(client: &mut Client, open: pb::OpenSubscription) -> Result<Subscription, tonic::Status> {
    use pb::subscribe_request::Request;
    let (requests, outgoing) = mpsc::channel(64);
    requests.send(pb::SubscribeRequest { request: Some(Request::Open(open)) }).await.unwrap();
    let mut responses = client.subscribe(ReceiverStream::new(outgoing)).await?.into_inner();
    match responses.message().await? {
        Some(pb::SubscribeResponse { response: Some(pb::subscribe_response::Response::Opened(opened)) }) => {
            Ok(Subscription { requests, responses, opened })
        }
        other => panic!("expected opened, got {other:?}"),
    }
}

/// A start position reading everything retained.
pub fn from_beginning() -> Option<pb::StartPosition> {
    Some(pb::StartPosition { position: Some(pb::start_position::Position::All(())) })
}

impl Subscription {
    /// Next deliveries within `wait`, or an empty list if none arrive.
    pub async fn next_batch(&mut self, wait: Duration) -> Vec<pb::Delivery> {
        match tokio::time::timeout(wait, self.responses.message()).await {
            Err(_) => Vec::new(),
            Ok(Ok(Some(pb::SubscribeResponse {
                response: Some(pb::subscribe_response::Response::Deliveries(batch)),
            }))) => batch.deliveries,
            Ok(other) => panic!("unexpected subscribe response: {other:?}"),
        }
    }

    /// Collects exactly `count` deliveries, failing if they do not arrive within `wait` overall.
    pub async fn take(&mut self, count: usize, wait: Duration) -> Vec<pb::Delivery> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut deliveries = Vec::new();
        while deliveries.len() < count {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            assert!(!left.is_zero(), "got {} of {count} deliveries in time", deliveries.len());
            deliveries.extend(self.next_batch(left).await);
        }
        assert_eq!(deliveries.len(), count, "more deliveries than expected");
        deliveries
    }

    pub async fn ack(&self, deliveries: &[pb::Delivery]) {
        let ack_ids = deliveries.iter().map(|delivery| delivery.ack_id.clone()).collect();
        let request = pb::subscribe_request::Request::Ack(pb::Acknowledge { ack_ids });
        self.requests.send(pb::SubscribeRequest { request: Some(request) }).await.unwrap();
    }

    /// Hands `delivery` back for redelivery, at once or after `delay`.
    pub async fn nack(&self, delivery: &pb::Delivery, delay: Option<Duration>) {
        let ack_ids = vec![delivery.ack_id.clone()];
        let nack = pb::NegativeAcknowledge { ack_ids, redelivery_delay: delay.map(proto_duration) };
        let request = pb::subscribe_request::Request::Nack(nack);
        self.requests.send(pb::SubscribeRequest { request: Some(request) }).await.unwrap();
    }
}

/// The delivered stream sequence for `party` in a receipt, panicking if it was not delivered.
pub fn delivered_sequence(receipt: &pb::Receipt, party: &str) -> u64 {
    receipt
        .outcomes
        .iter()
        .find(|outcome| outcome.party == party)
        .and_then(|outcome| match &outcome.outcome {
            Some(pb::recipient_outcome::Outcome::Delivered(delivered)) => Some(delivered.stream_sequence),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{party} not delivered in {receipt:?}"))
}
pub mod cluster;
pub mod process;

/// A gateway on its own nats-server, with a publisher (`cbp`) and the analyst client of `ia`.
pub async fn cbp_and_ia() -> (NatsServer, TestGateway, Client, Client) {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let cbp = gateway.client("cbp", Role::AgencySystem).await;
    let analyst = gateway.client("ia", Role::Analyst).await;
    (nats, gateway, cbp, analyst)
}

pub fn proto_duration(duration: Duration) -> prost_types::Duration {
    prost_types::Duration::try_from(duration).unwrap()
}

/// Waits (at most ten seconds) until the server records every sequence up to `floor` as acked on
/// `consumer`, so that dropping the client afterwards cannot lose an ack still in flight.
pub async fn wait_ack_floor(nats: &NatsServer, consumer: &str, floor: u64) {
    let jetstream = async_nats::jetstream::new(nats.client().await);
    let stream = jetstream.get_stream(liaison::bus::FEED_STREAM).await.expect("feed stream");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let info = stream.consumer_info(consumer).await.expect("consumer info");
        if info.ack_floor.stream_sequence >= floor {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "ack floor of {consumer} stuck at {:?}", info.ack_floor);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs `liaison` with `args` against the gateway with `token`; returns stdout, failing on a non-zero exit.
pub async fn liaison_cli(gateway: &TestGateway, token: &str, args: &[&str]) -> String {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_liaison"))
        .args(args)
        .args(["--gateway", &gateway.url(), "--token", token])
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "liaison {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// Publishes reports `{prefix} 0..count` from cbp to ia, one at a time; returns each one's stream
/// sequence on ia's feed and its message id, in publish order.
pub async fn publish_reports(cbp: &mut Client, prefix: &str, count: usize) -> Vec<(u64, String)> {
    let mut published = Vec::with_capacity(count);
    for index in 0..count {
        let body = format!("{prefix} {index}");
        let receipt = publish(cbp, envelope(&["ia"], "cyber-crime", body.as_bytes())).await;
        published.push((delivered_sequence(&receipt, "ia"), receipt.message_id));
    }
    published
}

/// [`publish_reports`], keeping only the stream sequences.
pub async fn publish_report_sequences(cbp: &mut Client, prefix: &str, count: usize) -> Vec<u64> {
    publish_reports(cbp, prefix, count).await.into_iter().map(|(sequence, _)| sequence).collect()
}

/// The bodies `token` receives reading its party's feed from the beginning, in order, acknowledging each
/// batch, once the feed is quiet for 1.5 s.
pub async fn bodies_received(gateway: &TestGateway, token: &str) -> Vec<String> {
    let mut client = client_with_header(&gateway.url(), Some(format!("Bearer {token}"))).await;
    let open = pb::OpenSubscription { start: from_beginning(), ..Default::default() };
    let mut feed = subscribe(&mut client, open).await.unwrap();
    let mut bodies = Vec::new();
    loop {
        let batch = feed.next_batch(Duration::from_millis(1500)).await;
        if batch.is_empty() {
            return bodies;
        }
        feed.ack(&batch).await;
        bodies.extend(batch.iter().map(body));
    }
}

/// GETs `path` from the gateway's admin port: the status and the body.
pub async fn http_get(gateway: &TestGateway, path: &str) -> (u16, String) {
    http_get_with(gateway, path, None).await
}

/// The gateway's whole `/metrics`, scraped as I&A's (oversight) monitoring system: the status and the body.
pub async fn scrape(gateway: &TestGateway) -> (u16, String) {
    http_get_with(gateway, "/metrics", Some(&gateway.token("ia", Role::Monitor))).await
}

/// GETs `path` from the gateway's admin port with `token` as its bearer token: the status and the body
/// (headers included when `with_headers`).
pub async fn http_get_with(gateway: &TestGateway, path: &str, token: Option<&str>) -> (u16, String) {
    let (status, _, body) = http_exchange(gateway, path, token).await;
    (status, body)
}

/// GETs `path` with `token`: the status, the response headers as text and the body.
pub async fn http_exchange(gateway: &TestGateway, path: &str, token: Option<&str>) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(gateway.admin).await.expect("admin port");
    let authorization = token.map(|token| format!("Authorization: Bearer {token}\r\n")).unwrap_or_default();
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\n{authorization}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response.split_whitespace().nth(1).and_then(|code| code.parse().ok()).expect("status line");
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((response.as_str(), ""));
    (status, head.to_string(), body.to_string())
}

/// The value of the unlabelled metric `name` in a scrape of the gateway.
pub async fn metric(gateway: &TestGateway, name: &str) -> f64 {
    let (status, body) = scrape(gateway).await;
    assert_eq!(status, 200);
    body.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no metric {name} in\n{body}"))
}

/// A delivery's body as text.
pub fn body(delivery: &pb::Delivery) -> String {
    String::from_utf8(delivery.envelope.as_ref().expect("envelope").body.to_vec()).unwrap()
}

/// The stream sequences of `deliveries`, in order.
pub fn sequences(deliveries: &[pb::Delivery]) -> Vec<u64> {
    deliveries.iter().map(|delivery| delivery.stream_sequence).collect()
}

/// Asserts that nothing is delivered on `subscription` for `wait`.
pub async fn assert_quiet(subscription: &mut Subscription, wait: Duration, why: &str) {
    let batch = subscription.next_batch(wait).await;
    assert!(batch.is_empty(), "{why}: got {batch:?}");
}

/// A whole ListReviewDue answer: every streamed batch's messages in order, and whether the last said it
/// was truncated.
pub async fn list_review_due(
    operator: &mut Operator,
    request: pb::ListReviewDueRequest,
) -> Result<pb::ListReviewDueResponse, tonic::Status> {
    let mut answers = operator.list_review_due(request).await?.into_inner();
    let mut whole = pb::ListReviewDueResponse::default();
    while let Some(answer) = answers.message().await? {
        assert!(!whole.truncated, "an answer after the one that said the listing was truncated");
        whole.messages.extend(answer.messages);
        whole.truncated = answer.truncated;
    }
    Ok(whole)
}
