//! Connecting the CLI to a gateway with a bearer token.

use anyhow::Context;
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::api::gateway_service_client::GatewayServiceClient;
use crate::api::operator_service_client::OperatorServiceClient;

/// Where the gateway is and who we are.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientArgs {
    /// Gateway URL.
    #[arg(long, env = "LIAISON_GATEWAY", default_value = "http://127.0.0.1:7400")]
    pub gateway: String,
    /// Bearer token (see `liaison token issue`).
    #[arg(long, env = "LIAISON_TOKEN", hide_env_values = true)]
    pub token: String,
}

type Authorize = Box<dyn FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Send>;

pub type Client = GatewayServiceClient<InterceptedService<Channel, Authorize>>;
pub type Operator = OperatorServiceClient<InterceptedService<Channel, Authorize>>;

/// Connects to the gateway service; every request carries the token.
pub async fn connect(args: &ClientArgs) -> anyhow::Result<Client> {
    Ok(GatewayServiceClient::new(authorized(args).await?).max_decoding_message_size(64 * 1024 * 1024))
}

/// Connects to the operator service; every request carries the token.
pub async fn operator(args: &ClientArgs) -> anyhow::Result<Operator> {
    Ok(OperatorServiceClient::new(authorized(args).await?))
}

async fn authorized(args: &ClientArgs) -> anyhow::Result<InterceptedService<Channel, Authorize>> {
    let channel = Channel::from_shared(args.gateway.clone())
        .context("--gateway")?
        .connect()
        .await
        .with_context(|| format!("connecting to {}", args.gateway))?;
    let header: MetadataValue<_> = format!("Bearer {}", args.token.trim()).parse().context("--token")?;
    let authorize: Authorize = Box::new(move |mut request: tonic::Request<()>| {
        request.metadata_mut().insert("authorization", header.clone());
        Ok(request)
    });
    Ok(InterceptedService::new(channel, authorize))
}
