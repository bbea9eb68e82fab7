//! The gateway's shared state and the tonic server: the gateway service behind authentication, plus
//! `grpc.health.v1.Health` and server reflection.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;

use crate::api::gateway_service_server::GatewayServiceServer;
use crate::api::operator_service_server::OperatorServiceServer;
use crate::api::rfi_service_server::RfiServiceServer;
use crate::bus::{AuditLog, Bus, PolicyBucket};
use crate::identity::Verifier;
use crate::model::PartyId;
use crate::policy_store::PolicyStore;
use crate::traffic::Traffic;
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

use super::audit_query::AuditReads;
use super::auth;
use super::quota::Quotas;

/// Request limits. Everything a client controls is bounded by one of these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest message body accepted.
    pub max_body_bytes: usize,
    /// Largest title + content type + attributes.
    pub max_metadata_bytes: usize,
    /// Most unanswered publishes per PublishStream before the gateway stops reading it.
    pub publish_window: usize,
    /// Caps on what a subscriber may ask for.
    pub max_outstanding_messages: u32,
    pub max_outstanding_bytes: u64,
    /// How long a Subscribe stream may take to send its `open` request.
    pub open_timeout: Duration,
    /// Publishes per second per credential (party and subject); 0 is unlimited.
    pub publish_rate: u32,
    /// Open subscriptions per credential; 0 is unlimited.
    pub max_subscriptions: usize,
    /// Open PublishStream, QueryAudit and WatchTraffic calls per credential; 0 is unlimited.
    pub max_publish_streams: usize,
    pub max_audit_queries: usize,
    pub max_traffic_watches: usize,
    /// Consumers a credential may create per second (Subscribe opens and Seeks); 0 is unlimited.
    pub consumer_rate: u32,
    /// Durable subscriptions per party, counted on the stream (all gateways); 0 is unlimited.
    pub max_durables_per_party: usize,
    /// Ack ids in one Acknowledge, NegativeAcknowledge or ExtendDeadline.
    pub max_ack_ids: usize,
    /// HTTP/2 and TLS limits of every client connection.
    pub connection: ConnectionLimits,
    /// A PublishStream that sends nothing for this long is closed.
    pub idle_timeout: Duration,
    /// Delivery attempts before dead-lettering, for subscriptions that do not choose.
    pub max_delivery_attempts: u32,
    /// A durable subscription no session has used for this long is deleted by NATS; zero keeps them forever.
    pub durable_expiry: Duration,
    /// Audit records one QueryAudit call may examine before it ends with RESOURCE_EXHAUSTED saying where
    /// it stopped; a query whose filters match little cannot make the gateway read the whole audit.
    pub audit_query_scan_budget: u64,
    /// Audit records one SimulatePolicy call may examine (a replay reads its whole window) before it ends
    /// with RESOURCE_EXHAUSTED.
    pub simulate_scan_budget: u64,
    /// Most named recipients of one publish that are not in the directory; beyond it the publish is refused
    /// with nothing recorded (their denials share one audit record).
    pub max_unknown_recipients: usize,
    /// How long a copy held for foreign-disclosure review waits for a decision.
    pub disclosure_hold: Duration,
    /// Each precedence's speed-of-service objective.
    pub speed_of_service: crate::speed::Objectives,
    /// How long an RFI of each precedence has when its requester gives no due time.
    pub rfi_due: crate::rfi::DueTimes,
    /// Most RFI records one listing or sweep reads, newest first.
    pub rfi_scan_limit: usize,
}

/// Default of `--rfi-scan-limit`.
pub const DEFAULT_RFI_SCAN_LIMIT: usize = 10_000;

/// How long an unused durable subscription is kept by default: a month, like a mailbox left unread.
pub const DEFAULT_DURABLE_EXPIRY: Duration = Duration::from_secs(30 * 24 * 3600);

/// Audit records a QueryAudit call examines at most, by default: a few seconds of reading.
pub const DEFAULT_AUDIT_QUERY_SCAN_BUDGET: u64 = 1_000_000;
/// Default of `--simulate-scan-budget`.
pub const DEFAULT_SIMULATE_SCAN_BUDGET: u64 = 20_000_000;

/// Most delivery attempts a subscription may ask for.
pub const MAX_DELIVERY_ATTEMPTS: u32 = 1000;

/// HTTP/2 flow-control windows: how much a client may send on one stream (and on one connection) before
/// the gateway has read it. Large enough to keep a PublishStream of 1 KiB messages flowing; small enough
/// that what a stalled stream can park in the gateway stays bounded.
const STREAM_WINDOW: u32 = 1024 * 1024;
const CONNECTION_WINDOW: u32 = 4 * 1024 * 1024;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 1024 * 1024,
            max_metadata_bytes: 64 * 1024,
            publish_window: 256,
            max_outstanding_messages: 10_000,
            max_outstanding_bytes: 64 * 1024 * 1024,
            open_timeout: Duration::from_secs(10),
            publish_rate: 5_000,
            max_subscriptions: 32,
            max_publish_streams: 8,
            max_audit_queries: 4,
            max_traffic_watches: 4,
            consumer_rate: 20,
            max_durables_per_party: 100,
            max_ack_ids: 10_000,
            connection: ConnectionLimits::default(),
            idle_timeout: Duration::from_secs(300),
            max_delivery_attempts: 10,
            durable_expiry: DEFAULT_DURABLE_EXPIRY,
            audit_query_scan_budget: DEFAULT_AUDIT_QUERY_SCAN_BUDGET,
            simulate_scan_budget: DEFAULT_SIMULATE_SCAN_BUDGET,
            max_unknown_recipients: 8,
            disclosure_hold: crate::disclosure::DEFAULT_HOLD,
            speed_of_service: crate::speed::Objectives::default(),
            rfi_due: crate::rfi::DueTimes::default(),
            rfi_scan_limit: DEFAULT_RFI_SCAN_LIMIT,
        }
    }
}

/// What one client connection may hold or take: HTTP/2 settings, keepalive and the TLS handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Concurrent HTTP/2 streams (calls) per connection; a client opens more only as others end.
    pub max_concurrent_streams: u32,
    /// Largest request header list (the token and other metadata), in bytes.
    pub max_header_list_size: u32,
    /// How often an idle connection is pinged; zero sends no pings.
    pub keepalive_interval: Duration,
    /// How long a ping may go unanswered before the connection is closed.
    pub keepalive_timeout: Duration,
    /// How long a client may take to complete the TLS handshake.
    pub tls_handshake_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_concurrent_streams: 128,
            max_header_list_size: 16 * 1024,
            keepalive_interval: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(10),
            tls_handshake_timeout: Duration::from_secs(10),
        }
    }
}

impl Limits {
    /// Largest NATS payload a stored copy can need: body, metadata and the envelope's framing.
    pub fn max_payload(&self) -> usize {
        self.max_body_bytes + self.max_metadata_bytes + 8 * 1024
    }
}

/// TLS for the gRPC port, as PEM text.
#[derive(Debug, Clone)]
pub struct ServerTls {
    pub cert_pem: String,
    pub key_pem: String,
    /// Mutual TLS: clients must present a certificate this CA signed...
    pub client_ca_pem: Option<String>,
    /// ...whose subject CN or DNS SAN maps to the party the token speaks for.
    pub client_parties: Vec<(String, PartyId)>,
}

/// Everything the RPC handlers share. Cheap to clone.
#[derive(Clone)]
pub struct Gateway {
    /// The routing policy in force; each message takes one snapshot of it.
    pub(super) policy: Arc<PolicyStore>,
    /// Traffic per subject since start: published, delivered, denied by reason, withheld, ...
    pub(super) traffic: Arc<Traffic>,
    /// Authentication and authorization refusals.
    pub(super) auth_counters: Arc<auth::AuthCounters>,
    /// Per-credential publish rate and subscription caps.
    pub(super) quotas: Arc<Quotas>,
    pub(super) bus: Arc<Bus>,
    /// This gateway's dissemination audit chain.
    pub(super) audit: Arc<AuditLog>,
    pub(super) limits: Arc<Limits>,
    /// The shared policy in NATS KV, when the gateway follows it (`--policy-store kv`). Behind an `Arc`
    /// like the rest: a KV handle is over a kilobyte, and every call and open subscription holds a clone.
    pub(super) policy_bucket: Option<Arc<PolicyBucket>>,
    /// Cancelled when shutdown starts: open streams end so the server can drain.
    pub(super) shutdown: CancellationToken,
    /// QueryAudit reads running and audit records they examined, for metrics.
    pub(super) audit_reads: Arc<AuditReads>,
    /// Acknowledgements on their way to becoming speed-of-service marks.
    pub(super) speed_marks: Arc<super::speed::SpeedMarks>,
    /// RFIs past due, time to acknowledge and to answer, per action party.
    pub(super) rfi_metrics: Arc<crate::metrics::rfi::RfiMetrics>,
}

// === impl Gateway ===

impl Gateway {
    pub fn new(policy: Arc<PolicyStore>, bus: Bus, audit: AuditLog, limits: Limits) -> Gateway {
        Gateway {
            policy,
            traffic: Arc::new(Traffic::default()),
            auth_counters: Arc::default(),
            quotas: Arc::new(Quotas::new(&limits)),
            bus: Arc::new(bus),
            audit: Arc::new(audit),
            limits: Arc::new(limits),
            policy_bucket: None,
            shutdown: CancellationToken::new(),
            audit_reads: Arc::default(),
            speed_marks: Arc::default(),
            rfi_metrics: Arc::default(),
        }
    }

    /// Lets admins apply, list and roll back the shared policy through this gateway.
    pub fn with_policy_bucket(mut self, bucket: Option<PolicyBucket>) -> Gateway {
        self.policy_bucket = bucket.map(Arc::new);
        self
    }

    /// The gateway's traffic accounting, for metrics and the lag poller.
    pub fn traffic(&self) -> Arc<Traffic> {
        self.traffic.clone()
    }

    /// The RFI clocks, for the admin port.
    pub fn rfi_metrics(&self) -> Arc<crate::metrics::rfi::RfiMetrics> {
        self.rfi_metrics.clone()
    }

    /// The bus, for the lag poller.
    /// The limits and settings this gateway runs with.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn bus(&self) -> Arc<Bus> {
        self.bus.clone()
    }

    /// This gateway's audit chain, for the poller of the audit stream's size and for metrics.
    pub fn audit(&self) -> Arc<AuditLog> {
        self.audit.clone()
    }

    /// Ready to serve: connected to NATS, not shutting down and with room in the audit; otherwise why not.
    pub fn ready(&self) -> Result<(), String> {
        if self.shutdown.is_cancelled() {
            return Err("shutting down".into());
        }
        if let Some(full) = self.audit.capacity().full() {
            return Err(full);
        }
        self.bus.connected().map_err(|error| error.to_string())
    }

    /// QueryAudit reads running now, and audit records examined by them since start.
    pub fn audit_reads(&self) -> (u64, u64) {
        self.audit_reads.read()
    }

    /// Calls refused since start: (unauthenticated, permission denied).
    pub fn auth_refusals(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.auth_counters.unauthenticated.load(Relaxed), self.auth_counters.permission_denied.load(Relaxed))
    }
}

/// Serves the gateway on `listener` until `shutdown` completes, then drains in-flight RPCs for at most
/// `grace`.
pub async fn serve(
    gateway: Gateway,
    verifier: Verifier,
    listener: TcpListener,
    tls: Option<ServerTls>,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> anyhow::Result<()> {
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter.set_serving::<GatewayServiceServer<Gateway>>().await;
    health_reporter.set_serving::<RfiServiceServer<Gateway>>().await;
    // Both reflection versions: grpcurl and older tools still ask v1alpha.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(crate::api::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection().build_v1()?;
    let reflection_v1alpha = reflection().build_v1alpha()?;
    let decoding_limit = gateway.limits.max_payload() + 64 * 1024;
    let gateway_service = GatewayServiceServer::new(gateway.clone())
        .max_decoding_message_size(decoding_limit)
        .max_encoding_message_size(usize::MAX);
    let stop_streams = gateway.shutdown.clone();
    let (stop_server, server_stopped) = tokio::sync::oneshot::channel::<()>();

    let max_body_bytes = gateway.limits.max_body_bytes;
    let oversized = tower::util::MapResponseLayer::new(move |response| {
        super::error::rewrite_request_status(response, max_body_bytes)
    });
    let connection = gateway.limits.connection.clone();
    let max_headers = connection.max_header_list_size as usize;
    let mut builder = tonic::transport::Server::builder();
    let mut client_parties = None;
    if let Some(tls) = tls {
        let mut config = ServerTlsConfig::new()
            .identity(Identity::from_pem(&tls.cert_pem, &tls.key_pem))
            .timeout(connection.tls_handshake_timeout);
        if let Some(client_ca) = &tls.client_ca_pem {
            config = config.client_ca_root(Certificate::from_pem(client_ca));
            client_parties = Some(Arc::new(tls.client_parties.clone()));
        }
        builder = builder.tls_config(config)?;
    }
    let server = builder
        // One span per RPC, named by its method; the handlers' own spans (publish: message id and routing
        // decision; subscribe: consumer) nest inside it.
        .trace_fn(|request| tracing::info_span!("rpc", method = %request.uri().path()))
        .layer(oversized)
        .max_concurrent_streams(connection.max_concurrent_streams)
        // The precise refusal is the interceptor's (RESOURCE_EXHAUSTED naming the flag); HTTP/2 stops a
        // header list at four times the limit so none is buffered without bound before it.
        .http2_max_header_list_size(connection.max_header_list_size.saturating_mul(4))
        .http2_keepalive_interval(Some(connection.keepalive_interval).filter(|interval| !interval.is_zero()))
        .http2_keepalive_timeout(Some(connection.keepalive_timeout))
        // HTTP/2's default 64 KiB windows stall a stream of 1 KiB messages every few dozen messages.
        .initial_stream_window_size(Some(STREAM_WINDOW))
        .initial_connection_window_size(Some(CONNECTION_WINDOW))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(tonic::service::interceptor::InterceptedService::new(
            gateway_service,
            auth::interceptor(verifier.clone(), client_parties.clone(), gateway.auth_counters.clone(), max_headers),
        ))
        .add_service(tonic::service::interceptor::InterceptedService::new(
            OperatorServiceServer::new(gateway.clone()),
            auth::interceptor(verifier.clone(), client_parties.clone(), gateway.auth_counters.clone(), max_headers),
        ))
        .add_service(tonic::service::interceptor::InterceptedService::new(
            RfiServiceServer::new(gateway.clone()),
            auth::interceptor(verifier, client_parties, gateway.auth_counters.clone(), max_headers),
        ))
        .serve_with_incoming_shutdown(incoming(listener), async {
            let _ = server_stopped.await;
        });
    let mut server = tokio::spawn(server);

    tokio::select! {
        result = &mut server => return Ok(result??),
        () = shutdown => {}
    }
    tracing::info!(grace = ?grace, "shutting down: draining in-flight requests");
    health_reporter.set_not_serving::<GatewayServiceServer<Gateway>>().await;
    health_reporter.set_not_serving::<RfiServiceServer<Gateway>>().await;
    stop_streams.cancel();
    let _ = stop_server.send(());
    match tokio::time::timeout(grace, &mut server).await {
        Ok(result) => result??,
        Err(_) => {
            tracing::warn!("grace period over, closing remaining connections");
            server.abort();
        }
    }
    gateway.bus.flush(Duration::from_secs(2)).await;
    Ok(())
}

/// Accepted connections, with Nagle's algorithm off: small gRPC frames (acks, receipts) go out at once.
fn incoming(listener: TcpListener) -> impl futures::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    use futures::StreamExt;
    TcpListenerStream::new(listener).map(|accepted| {
        if let Ok(stream) = &accepted
            && let Err(error) = stream.set_nodelay(true)
        {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
        accepted
    })
}
