//! Tracing: every RPC gets a span named by its method, and a publish's span carries the message id, the
//! policy version and the routing decision (copies stored, recipients denied) — what OTLP export sends.

#[path = "integration/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use common::*;
use liaison::identity::Role;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// A span's name and the fields recorded on it (at creation or later).
type SpanSeen = (String, HashMap<String, String>);

/// Every span seen, by id.
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<HashMap<u64, SpanSeen>>>);

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_string(), format!("{value:?}").trim_matches('"').to_string());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for Spans {
    fn on_new_span(&self, attributes: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        let mut fields = HashMap::new();
        attributes.record(&mut Fields(&mut fields));
        self.0.lock().unwrap().insert(id.into_u64(), (attributes.metadata().name().to_string(), fields));
    }
    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        if let Some((_, fields)) = self.0.lock().unwrap().get_mut(&id.into_u64()) {
            values.record(&mut Fields(fields));
        }
    }
}

#[tokio::test]
async fn rpcs_and_publishes_have_spans_with_the_message_id_and_decision() {
    let spans = Spans::default();
    let subscriber = tracing_subscriber::registry().with(spans.clone());
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber in this test binary");

    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    let receipt = publish(&mut cbp, envelope(&["ia", "nobody"], "border-security", b"traced")).await;

    let spans = spans.0.lock().unwrap();
    let publish = spans
        .values()
        .find(|(name, fields)| name == "publish" && fields.get("message_id") == Some(&receipt.message_id))
        .unwrap_or_else(|| panic!("no publish span for {}", receipt.message_id));
    assert_eq!(publish.1.get("party").map(String::as_str), Some("cbp"));
    assert_eq!(publish.1.get("delivered").map(String::as_str), Some("1"), "{:?}", publish.1);
    assert_eq!(publish.1.get("denied").map(String::as_str), Some("1"), "{:?}", publish.1);
    assert_eq!(publish.1.get("policy_version"), Some(&receipt.policy_version));
    assert!(
        spans.values().any(|(name, fields)| name == "rpc"
            && fields.get("method").map(String::as_str) == Some("/liaison.v1.GatewayService/Publish")),
        "an rpc span names the method"
    );
}
