//! The admin port's `/metrics` is authorized like an RPC (`GET /metrics` in the table): no token or a bad
//! one gets 401, a role that may not scrape 403, and a party without oversight sees only the series that
//! name it, never another party's traffic nor the gateway-wide figures. The probes need no token.

use crate::common;

use common::*;
use liaison::identity::Role;

/// Label sets of the samples of `name` in a scrape's text.
fn series<'a>(body: &'a str, name: &str) -> Vec<&'a str> {
    body.lines().filter(|line| line.starts_with(&format!("{name}{{"))).collect()
}

#[tokio::test]
async fn a_scrape_needs_a_token_of_a_monitoring_role_and_sees_its_partys_series() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    // Two flows: cbp to ia (delivered) and cbp to fbi (denied, no route).
    let receipt = publish(&mut cbp, envelope(&["ia", "fbi"], "border-security", b"counted")).await;
    assert_eq!(delivered_sequence(&receipt, "ia"), 1);

    // No token, a malformed one, a forged one: 401 with a bearer challenge, naming what is wrong.
    let (status, head, body) = http_exchange(&gateway, "/metrics", None).await;
    assert_eq!(status, 401, "{body}");
    assert!(head.to_ascii_lowercase().contains("www-authenticate: bearer"), "{head}");
    assert!(body.contains("missing bearer token"), "{body}");
    let (status, body) = http_get_with(&gateway, "/metrics", Some("not-a-token")).await;
    assert_eq!(status, 401, "{body}");
    assert!(!body.contains("liaison_"), "a refused scrape carries no metric: {body}");

    // A role that may not scrape, even of the hub: 403 naming the rule.
    let analyst = gateway.token("ia", Role::Analyst);
    let (status, body) = http_get_with(&gateway, "/metrics", Some(&analyst)).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("role analyst may not scrape the metrics") && body.contains("GET /metrics"), "{body}");

    // fbi's monitoring system: the denial of the copy meant for fbi, nothing of cbp's copy to ia, no
    // gateway-wide figure.
    let (status, body) = http_get_with(&gateway, "/metrics", Some(&gateway.token("fbi", Role::Monitor))).await;
    assert_eq!(status, 200, "{body}");
    let denied = series(&body, "liaison_denied_messages_total");
    assert_eq!(denied.len(), 1, "{body}");
    assert!(denied[0].contains("recipient=\"fbi\"") && denied[0].contains("reason=\"no_route\""), "{body}");
    assert!(!body.contains("recipient=\"ia\""), "fbi sees ia's flow: {body}");
    for gateway_wide in
        ["liaison_traffic_flows ", "liaison_audit_bytes ", "liaison_panics_total", "liaison_disclosure_held"]
    {
        assert!(!body.contains(gateway_wide), "{gateway_wide} shown to a party without oversight: {body}");
    }
    // tsa's sees no series with a value at all; cbp's operator sees both of cbp's flows, as their origin.
    let (status, body) = http_get_with(&gateway, "/metrics", Some(&gateway.token("tsa", Role::Monitor))).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.lines().all(|line| line.starts_with('#')), "tsa sees a series: {body}");
    let (_, body) = http_get_with(&gateway, "/metrics", Some(&gateway.token("cbp", Role::Operator))).await;
    assert_eq!(series(&body, "liaison_published_messages_total").len(), 2, "{body}");
    assert!(series(&body, "liaison_published_messages_total").iter().all(|line| line.contains("origin=\"cbp\"")));

    // I&A, with oversight: everything, including the refusals just made (two unauthenticated, one denied).
    let (status, body) = scrape(&gateway).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("recipient=\"ia\"") && body.contains("recipient=\"fbi\""), "{body}");
    assert!(body.contains("liaison_unauthenticated_requests_total 2\n"), "{body}");
    assert!(body.contains("liaison_permission_denied_requests_total 1\n"), "{body}");
    // The probes stay open: they say whether the gateway is up, nothing more.
    assert_eq!(http_get(&gateway, "/healthz").await.0, 200);
    assert_eq!(http_get(&gateway, "/readyz").await.0, 200);
}
