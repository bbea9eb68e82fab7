//! TLS on the gRPC port and mutual TLS: certificates generated in the test (rcgen, through
//! `liaison::tls::Authority`); the client certificate must map to the token's party; certificates from an
//! unknown CA, or none, never get a connection.

use crate::common;

use common::*;
use liaison::api as pb;
use liaison::api::gateway_service_client::GatewayServiceClient;
use liaison::config::{TlsSettings, Transport};
use liaison::identity::Role;
use liaison::model::Token;
use liaison::tls::Authority;
use tonic::Code;
use tonic::metadata::MetadataValue;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

struct Pki {
    dir: tempfile::TempDir,
    server_ca: Authority,
    client_ca: Authority,
    rogue_ca: Authority,
}

impl Pki {
    fn new() -> Pki {
        Pki {
            dir: tempfile::tempdir().unwrap(),
            server_ca: Authority::new("test server CA").unwrap(),
            client_ca: Authority::new("test client CA").unwrap(),
            rogue_ca: Authority::new("rogue CA").unwrap(),
        }
    }

    fn write(&self, name: &str, text: &str) -> std::path::PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// TLS settings for the gateway; with `mutual`, client certificates of `client_ca` are required.
    fn server(&self, mutual: bool) -> TlsSettings {
        let (cert, key) = self.server_ca.issue("gateway", &["localhost".into(), "127.0.0.1".into()]).unwrap();
        let identity = Some((self.write("server.pem", &cert), self.write("server-key.pem", &key)));
        if !mutual {
            return TlsSettings { identity, client_ca: None, client_parties: vec![] };
        }
        TlsSettings {
            identity,
            client_ca: Some(self.write("client-ca.pem", self.client_ca.certificate_pem())),
            client_parties: vec![
                ("cbp-gateway".into(), Token::parse("cbp").unwrap()),
                ("fbi-gateway".into(), Token::parse("fbi").unwrap()),
            ],
        }
    }

    fn client(&self, identity: Option<(&Authority, &str)>) -> ClientTlsConfig {
        let mut config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(self.server_ca.certificate_pem()));
        if let Some((authority, name)) = identity {
            let (cert, key) = authority.issue(name, &[format!("{name}.example")]).unwrap();
            config = config.identity(Identity::from_pem(cert, key));
        }
        config
    }
}

type Authorized = Box<dyn FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Send>;

/// Publishes once over TLS with `tls` as `party`; the status of the attempt (connection failures too).
async fn publish_as(gateway: &TestGateway, tls: ClientTlsConfig, party: &str) -> Result<pb::Receipt, tonic::Status> {
    let endpoint = Channel::from_shared(format!("https://{}", gateway.addr)).unwrap().tls_config(tls).unwrap();
    let channel = endpoint.connect().await.map_err(|error| tonic::Status::unavailable(error.to_string()))?;
    let header: MetadataValue<_> = format!("Bearer {}", gateway.token(party, Role::AgencySystem)).parse().unwrap();
    let authorize: Authorized = Box::new(move |mut request| {
        request.metadata_mut().insert("authorization", header.clone());
        Ok(request)
    });
    let mut client = GatewayServiceClient::with_interceptor(channel, authorize);
    let request = pb::PublishRequest { envelope: Some(envelope(&["ia"], "border-security", b"over tls")) };
    client.publish(request).await.map(|response| response.into_inner().receipt.unwrap())
}

#[tokio::test]
async fn tls_serves_clients_that_trust_its_ca_only() {
    let pki = Pki::new();
    let nats = NatsServer::start().await;
    let settings = pki.server(false);
    let gateway =
        TestGateway::start_tls(&nats, pki.client(None), |config| config.transport = Transport::Tls(settings)).await;
    let receipt = publish_as(&gateway, pki.client(None), "cbp").await.unwrap();
    assert_eq!(delivered_sequence(&receipt, "ia"), 1);

    let untrusting = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pki.rogue_ca.certificate_pem()));
    assert!(publish_as(&gateway, untrusting, "cbp").await.is_err(), "a client that does not trust the CA got through");
    // Plaintext to a TLS port gets nowhere either.
    let plain = client_with_header_result(&format!("http://{}", gateway.addr)).await;
    assert!(plain.is_err(), "plaintext reached a TLS port");
}

async fn client_with_header_result(url: &str) -> Result<(), tonic::Status> {
    let channel = Channel::from_shared(url.to_string())
        .unwrap()
        .connect()
        .await
        .map_err(|error| tonic::Status::unavailable(error.to_string()))?;
    let mut client = GatewayServiceClient::new(channel);
    client.publish(pb::PublishRequest::default()).await.map(|_| ())
}

#[tokio::test]
async fn mutual_tls_maps_the_client_certificate_to_the_token_party() {
    let pki = Pki::new();
    let nats = NatsServer::start().await;
    let settings = pki.server(true);
    let harness_tls = pki.client(Some((&pki.client_ca, "cbp-gateway")));
    let gateway =
        TestGateway::start_tls(&nats, harness_tls, |config| config.transport = Transport::Tls(settings)).await;

    // The right certificate with the right token: accepted.
    let cbp_certificate = pki.client(Some((&pki.client_ca, "cbp-gateway")));
    publish_as(&gateway, cbp_certificate.clone(), "cbp").await.unwrap();

    // The cbp certificate with an fbi token: refused, the certificate decides.
    let status = publish_as(&gateway, cbp_certificate, "fbi").await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(status.message().contains("speaks for cbp but the token for fbi"), "{}", status.message());

    // A certificate of the right CA that maps to no party: refused.
    let status = publish_as(&gateway, pki.client(Some((&pki.client_ca, "stranger"))), "cbp").await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(status.message().contains("not mapped to a party"), "{}", status.message());

    // A certificate from an unknown CA, or none at all: no connection.
    let rogue = publish_as(&gateway, pki.client(Some((&pki.rogue_ca, "cbp-gateway"))), "cbp").await;
    assert!(rogue.is_err(), "a certificate from an unknown CA got through");
    assert!(publish_as(&gateway, pki.client(None), "cbp").await.is_err(), "no client certificate got through");

    // The gateway still serves the right client afterwards.
    let fbi_certificate = pki.client(Some((&pki.client_ca, "fbi-gateway")));
    let receipt = publish_as(&gateway, fbi_certificate, "fbi").await.unwrap();
    assert_eq!(receipt.outcomes.len(), 1);
}

#[tokio::test]
async fn a_client_that_never_completes_the_tls_handshake_is_disconnected() {
    use tokio::io::AsyncReadExt;
    let pki = Pki::new();
    let nats = NatsServer::start().await;
    let settings = pki.server(false);
    let gateway = TestGateway::start_tls(&nats, pki.client(None), |config| {
        config.transport = Transport::Tls(settings);
        config.limits.connection.tls_handshake_timeout = std::time::Duration::from_secs(1);
    })
    .await;
    // Connects and sends nothing: without the timeout the connection would be held for as long as the
    // client liked, one socket and task each.
    let started = tokio::time::Instant::now();
    let mut silent = tokio::net::TcpStream::connect(gateway.addr).await.unwrap();
    let mut buffer = [0u8; 64];
    let read = tokio::time::timeout(std::time::Duration::from_secs(8), silent.read(&mut buffer))
        .await
        .expect("the gateway closed the silent connection");
    assert!(matches!(read, Ok(0) | Err(_)), "closed without a handshake: {read:?}");
    assert!(started.elapsed() >= std::time::Duration::from_millis(900), "not before the timeout");
    publish_as(&gateway, pki.client(None), "cbp").await.expect("the gateway keeps serving");
}
