//! The standard endpoints: gRPC health reports SERVING, and server reflection lists the API so grpcurl
//! works without the proto files. Neither needs a token.

use crate::common;

use common::*;
use futures::StreamExt;
use tonic::transport::Channel;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};

#[tokio::test]
async fn health_reports_serving() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let channel = Channel::from_shared(gateway.url()).unwrap().connect().await.unwrap();
    let mut health = HealthClient::new(channel);
    for service in ["", "liaison.v1.GatewayService"] {
        let response = health.check(HealthCheckRequest { service: service.into() }).await.unwrap();
        assert_eq!(response.into_inner().status, ServingStatus::Serving as i32, "service {service:?}");
    }
    let unknown = health.check(HealthCheckRequest { service: "no.such.Service".into() }).await.unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
}

#[tokio::test]
async fn reflection_lists_and_describes_the_api() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let channel = Channel::from_shared(gateway.url()).unwrap().connect().await.unwrap();
    let mut reflection = ServerReflectionClient::new(channel);
    let requests = futures::stream::iter([
        ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        },
        ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::FileContainingSymbol("liaison.v1.GatewayService".into())),
        },
    ]);
    let mut responses = reflection.server_reflection_info(requests).await.unwrap().into_inner();

    let Some(MessageResponse::ListServicesResponse(list)) = responses.next().await.unwrap().unwrap().message_response
    else {
        panic!("expected a service list");
    };
    let names: Vec<String> = list.service.into_iter().map(|service| service.name).collect();
    assert!(names.contains(&"liaison.v1.GatewayService".to_string()), "{names:?}");
    assert!(names.contains(&"grpc.health.v1.Health".to_string()), "{names:?}");

    let Some(MessageResponse::FileDescriptorResponse(files)) =
        responses.next().await.unwrap().unwrap().message_response
    else {
        panic!("expected file descriptors");
    };
    let descriptor = files
        .file_descriptor_proto
        .iter()
        .map(|bytes| <prost_types::FileDescriptorProto as prost::Message>::decode(bytes.as_slice()).unwrap())
        .find(|file| file.name() == "liaison/v1/gateway.proto")
        .expect("gateway.proto is served");
    let methods: Vec<&str> = descriptor.service[0].method.iter().map(|method| method.name()).collect();
    assert_eq!(methods, ["Publish", "PublishStream", "Subscribe", "Seek"]);
}
