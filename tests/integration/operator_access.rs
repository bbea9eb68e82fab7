//! Refusals are counted, and operators see metadata only: no operator response ever carries a message's
//! body, title or attributes (checked on the encoded bytes), and an operator cannot open a feed.

use crate::common;

use common::*;
use liaison::api as pb;
use liaison::api::operator_service_client::OperatorServiceClient;
use liaison::identity::Role;
use prost::Message;
use tonic::Code;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;

const MARKER: &str = "zebra-7f3c-content-marker";

#[tokio::test]
async fn refusals_are_counted_and_operators_never_see_content() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;

    // A message whose body, title and attributes all carry the marker.
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    let mut secret = envelope(&["ia"], "border-security", MARKER.as_bytes());
    secret.title = MARKER.into();
    secret.attributes.insert(MARKER.into(), MARKER.into());
    publish(&mut cbp, secret.clone()).await;

    // Two unauthenticated calls...
    let mut anonymous = client_with_header(&gateway.url(), None).await;
    assert_eq!(
        anonymous.publish(pb::PublishRequest { envelope: Some(secret.clone()) }).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    let mut garbage = client_with_header(&gateway.url(), Some("Bearer not-a-token".into())).await;
    assert_eq!(
        garbage.publish(pb::PublishRequest { envelope: Some(secret.clone()) }).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    // ...and four refused for role, origin or feed.
    let mut analyst = gateway.client("ia", Role::Analyst).await;
    assert_eq!(
        analyst.publish(pb::PublishRequest { envelope: Some(secret.clone()) }).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    let spoofed = pb::Envelope { origin: "fbi".into(), ..secret.clone() };
    assert_eq!(
        cbp.publish(pb::PublishRequest { envelope: Some(spoofed) }).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    let other_feed = pb::OpenSubscription { feed: "fbi".into(), ..Default::default() };
    assert_eq!(
        subscribe(&mut analyst, other_feed).await.err().map(|status| status.code()),
        Some(Code::PermissionDenied)
    );
    let mut operator_as_gateway_client = gateway.client("ia", Role::Operator).await;
    let open = pb::OpenSubscription { start: from_beginning(), ..Default::default() };
    assert_eq!(
        subscribe(&mut operator_as_gateway_client, open).await.err().map(|status| status.code()),
        Some(Code::PermissionDenied)
    );

    // The operator's view: counts, and routing decisions, with none of the content.
    let channel = Channel::from_shared(gateway.url()).unwrap().connect().await.unwrap();
    let header: MetadataValue<_> = format!("Bearer {}", gateway.token("ia", Role::Operator)).parse().unwrap();
    let mut operator = OperatorServiceClient::with_interceptor(channel, move |mut request: tonic::Request<()>| {
        request.metadata_mut().insert("authorization", header.clone());
        Ok(request)
    });
    let counts = operator.list_denial_counts(pb::ListDenialCountsRequest {}).await.unwrap().into_inner();
    assert_eq!(counts.unauthenticated, 2);
    assert_eq!(counts.permission_denied, 4);
    let check = pb::CheckRouteRequest {
        origin: "cbp".into(),
        recipients: vec!["ia".into(), "fbi".into()],
        kind: secret.kind,
        topic: secret.topic.clone(),
        markings: secret.markings.clone(),
        precedence: secret.precedence,
    };
    let decisions = operator.check_route(check).await.unwrap().into_inner();
    for bytes in [counts.encode_to_vec(), decisions.encode_to_vec()] {
        assert!(!String::from_utf8_lossy(&bytes).contains(MARKER), "an operator response carried content");
    }
    // The marker is findable where content does belong, so the check above can fail.
    let mut ia = gateway.client("ia", Role::Analyst).await;
    let mut feed =
        subscribe(&mut ia, pb::OpenSubscription { start: from_beginning(), ..Default::default() }).await.unwrap();
    let delivery = feed.take(1, std::time::Duration::from_secs(10)).await.remove(0);
    assert!(String::from_utf8_lossy(&delivery.encode_to_vec()).contains(MARKER));
}
