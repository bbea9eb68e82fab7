//! Connecting the CLI to a gateway with a bearer token.

use anyhow::Context;
use std::path::PathBuf;
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;

use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

use crate::api::gateway_service_client::GatewayServiceClient;
use crate::api::operator_service_client::OperatorServiceClient;

/// Where the gateway is and who we are.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientArgs {
    /// Gateway URL: https:// for TLS (the default), http:// for a gateway run with --insecure.
    #[arg(long, env = "LIAISON_GATEWAY", default_value = "https://127.0.0.1:7400")]
    pub gateway: String,
    /// Bearer token (see `liaison token issue`).
    #[arg(long, env = "LIAISON_TOKEN", hide_env_values = true)]
    pub token: String,
    #[command(flatten)]
    pub tls: ClientTls,
}

/// TLS settings of a client.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ClientTls {
    /// CA certificate to trust [default: <data-dir>/tls/ca.pem, the local CA `liaison serve` created].
    #[arg(long, env = "LIAISON_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    /// The data directory of a gateway on this machine, whose local CA is trusted without --ca-cert
    /// [default: $XDG_DATA_HOME/liaison, as `liaison serve`'s].
    #[arg(long, env = "LIAISON_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Client certificate for mutual TLS (PEM).
    #[arg(long, env = "LIAISON_CLIENT_CERT", requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// Client private key for mutual TLS (PEM).
    #[arg(long, env = "LIAISON_CLIENT_KEY", requires = "client_cert")]
    pub client_key: Option<PathBuf>,
}

impl ClientTls {
    /// The CA to trust: --ca-cert, else the local CA of --data-dir or of the default data directory.
    fn ca_path(&self) -> PathBuf {
        let data_dir = || self.data_dir.clone().unwrap_or_else(crate::config::default_data_dir);
        self.ca_cert.clone().unwrap_or_else(|| data_dir().join("tls/ca.pem"))
    }

    fn config(&self) -> anyhow::Result<ClientTlsConfig> {
        let ca = self.ca_path();
        let pem = std::fs::read_to_string(&ca).with_context(|| {
            format!("CA certificate {} (set --ca-cert, or --data-dir to the gateway's)", ca.display())
        })?;
        let mut config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem));
        if let (Some(cert), Some(key)) = (&self.client_cert, &self.client_key) {
            let read =
                |path: &PathBuf| std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()));
            config = config.identity(Identity::from_pem(read(cert)?, read(key)?));
        }
        Ok(config)
    }
}

type Authorize = Box<dyn FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Send>;

pub type Client = GatewayServiceClient<InterceptedService<Channel, Authorize>>;
pub type Operator = OperatorServiceClient<InterceptedService<Channel, Authorize>>;
pub type Rfis = crate::api::rfi_service_client::RfiServiceClient<InterceptedService<Channel, Authorize>>;

/// Connects to the gateway service; every request carries the token.
pub async fn connect(args: &ClientArgs) -> anyhow::Result<Client> {
    Ok(GatewayServiceClient::new(authorized(args).await?).max_decoding_message_size(64 * 1024 * 1024))
}

/// Connects to the operator service; every request carries the token.
pub async fn operator(args: &ClientArgs) -> anyhow::Result<Operator> {
    Ok(OperatorServiceClient::new(authorized(args).await?))
}

/// Connects to the RFI service; every request carries the token.
pub async fn rfis(args: &ClientArgs) -> anyhow::Result<Rfis> {
    Ok(crate::api::rfi_service_client::RfiServiceClient::new(authorized(args).await?))
}

async fn authorized(args: &ClientArgs) -> anyhow::Result<InterceptedService<Channel, Authorize>> {
    let mut endpoint = Channel::from_shared(args.gateway.clone()).context("--gateway")?;
    if args.gateway.starts_with("https://") {
        endpoint = endpoint.tls_config(args.tls.config()?)?;
    }
    let channel = endpoint.connect().await.with_context(|| format!("connecting to {}", args.gateway))?;
    let header: MetadataValue<_> = format!("Bearer {}", args.token.trim()).parse().context("--token")?;
    let authorize: Authorize = Box::new(move |mut request: tonic::Request<()>| {
        request.metadata_mut().insert("authorization", header.clone());
        Ok(request)
    });
    Ok(InterceptedService::new(channel, authorize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ca_is_the_flag_else_the_local_ca_of_the_data_directory() {
        let tls = |ca_cert: Option<&str>, data_dir: Option<&str>| ClientTls {
            ca_cert: ca_cert.map(PathBuf::from),
            data_dir: data_dir.map(PathBuf::from),
            ..Default::default()
        };
        assert_eq!(tls(None, Some("/srv/liaison")).ca_path(), PathBuf::from("/srv/liaison/tls/ca.pem"));
        assert_eq!(tls(Some("/etc/ca.pem"), Some("/srv/liaison")).ca_path(), PathBuf::from("/etc/ca.pem"));
        assert_eq!(tls(None, None).ca_path(), crate::config::default_data_dir().join("tls/ca.pem"));
    }
}
