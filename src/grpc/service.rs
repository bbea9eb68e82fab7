//! The `liaison.v1.GatewayService` trait implementation: thin dispatch to one file per RPC.

use std::pin::Pin;

use futures::Stream;
use tonic::{Request, Response, Status, Streaming};

use crate::api::{self as pb, gateway_service_server::GatewayService};

use super::server::Gateway;
use super::{auth, publish_stream, subscribe};

type ResponseStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl GatewayService for Gateway {
    async fn publish(&self, request: Request<pb::PublishRequest>) -> Result<Response<pb::PublishResponse>, Status> {
        let caller = auth::caller(&request)?;
        let envelope = request.into_inner().envelope;
        let receipt = self.publish_one(&caller, envelope).await?;
        Ok(Response::new(pb::PublishResponse { receipt: Some(receipt) }))
    }

    type PublishStreamStream = ResponseStream<pb::PublishStreamResponse>;

    async fn publish_stream(
        &self,
        request: Request<Streaming<pb::PublishStreamRequest>>,
    ) -> Result<Response<Self::PublishStreamStream>, Status> {
        let caller = auth::caller(&request)?;
        let responses = publish_stream::start(self.clone(), caller, request.into_inner())?;
        Ok(Response::new(Box::pin(responses)))
    }

    type SubscribeStream = ResponseStream<pb::SubscribeResponse>;

    async fn subscribe(
        &self,
        request: Request<Streaming<pb::SubscribeRequest>>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let caller = auth::caller(&request)?;
        let credential = auth::credential(&request)?;
        let responses = subscribe::start(self.clone(), caller, credential, request.into_inner()).await?;
        Ok(Response::new(Box::pin(responses)))
    }

    async fn seek(&self, request: Request<pb::SeekRequest>) -> Result<Response<pb::SeekResponse>, Status> {
        let caller = auth::caller(&request)?;
        Ok(Response::new(self.seek_durable(&caller, request.into_inner()).await?))
    }
}
