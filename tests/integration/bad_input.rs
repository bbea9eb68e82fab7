//! Bad input is refused with the exact gRPC code and a message naming the field or rule, nothing bad is
//! stored, and after every refusal the gateway keeps serving: a good publish still reaches a subscriber.

use crate::common;

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use liaison::api as pb;
use liaison::api::subscribe_request::Request;
use liaison::config::ServeConfig;
use liaison::identity::{Claims, Issuer, Role, SigningKey};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Status};

/// A change that spoils a valid request.
type Spoil<T> = fn(&mut T);

const WAIT: Duration = Duration::from_secs(15);
const MIB: usize = 1024 * 1024;

/// One request to make.
#[allow(clippy::large_enum_variant)] // a test table: a few values, never moved in bulk
enum Call<'a> {
    /// A unary Publish of this envelope, as cbp's agency system.
    Publish(Option<pb::Envelope>),
    /// A Subscribe stream whose first request is this, as ia's analyst.
    Subscribe(Request),
    /// A unary Publish of a good envelope, as this client.
    PublishAs(&'a mut Client),
    /// A Subscribe opening the caller's own feed, as this client.
    SubscribeAs(&'a mut Client),
}

/// A gateway, a publisher (cbp, agency system), an analyst of ia, and a subscription to ia's feed.
struct Bench {
    gateway: TestGateway,
    cbp: Client,
    ia: Client,
    feed: Subscription,
    _nats: NatsServer,
}

impl Bench {
    async fn start(nats: NatsServer, tweak: impl FnOnce(&mut ServeConfig)) -> Bench {
        let gateway = TestGateway::start_with(Some(nats.url()), tweak).await;
        let cbp = gateway.client("cbp", Role::AgencySystem).await;
        let mut ia = gateway.client("ia", Role::Analyst).await;
        let open = pb::OpenSubscription { start: from_beginning(), ..Default::default() };
        let feed = within(subscribe(&mut ia, open)).await.expect("subscribe");
        Bench { gateway, cbp, ia, feed, _nats: nats }
    }

    async fn new() -> Bench {
        Self::start(NatsServer::start().await, |_| {}).await
    }

    /// Makes `call` and asserts it is refused with `code` and a message containing `needle`; then that the
    /// gateway still serves: a good publish succeeds and is the very next delivery on ia's feed (so the
    /// refused call stored nothing).
    async fn check(&mut self, case: &str, call: Call<'_>, code: Code, needle: &str) {
        let open = || Request::Open(pb::OpenSubscription::default());
        let result = match call {
            Call::Publish(envelope) => publish_debug(&mut self.cbp, envelope).await,
            Call::PublishAs(client) => publish_debug(client, Some(good())).await,
            Call::Subscribe(first) => try_subscribe(&mut self.ia, first).await,
            Call::SubscribeAs(client) => try_subscribe(client, open()).await,
        };
        let status = result.expect_err(&format!("{case}: expected {code:?}"));
        assert_eq!(status.code(), code, "{case}: {status:?}");
        let message = status.message();
        let names = message.contains(needle);
        assert!(names, "{case}: {message:?} does not name {needle:?}");
        let body = format!("good after {case}: {}", ulid::Ulid::new());
        let good = envelope(&["ia"], "money-laundering", body.as_bytes());
        self.accepted(good).await;
    }

    /// Publishes `sent` from cbp and expects it delivered to ia and to be the subscriber's next delivery.
    async fn accepted(&mut self, sent: pb::Envelope) -> pb::Delivery {
        let request = pb::PublishRequest { envelope: Some(sent.clone()) };
        let response = within(self.cbp.publish(request)).await.expect("accepted");
        let sequence = delivered_sequence(response.get_ref().receipt.as_ref().unwrap(), "ia");
        let delivery = self.feed.take(1, WAIT).await.remove(0);
        assert_eq!(delivery.stream_sequence, sequence);
        let got = delivery.envelope.as_ref().unwrap();
        assert!(got.body == sent.body, "the next delivery is another");
        assert_eq!(got.origin, "cbp");
        self.feed.ack(std::slice::from_ref(&delivery)).await;
        delivery
    }
}

async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(WAIT, future).await.expect("in time")
}

/// A unary Publish; the response only as text, to show in a failure.
async fn publish_debug(client: &mut Client, envelope: Option<pb::Envelope>) -> Result<String, Status> {
    let response = within(client.publish(pb::PublishRequest { envelope })).await?;
    Ok(format!("{:?}", response.into_inner()))
}

/// Opens a Subscribe stream whose first request is `first` and returns the first response or the refusal,
/// whether the refusal comes with the response headers or as the first message.
async fn try_subscribe(client: &mut Client, first: Request) -> Result<String, Status> {
    let (sender, outgoing) = mpsc::channel(4);
    let request = pb::SubscribeRequest { request: Some(first) };
    sender.send(request).await.unwrap();
    let mut responses = within(client.subscribe(ReceiverStream::new(outgoing))).await?.into_inner();
    let first = within(responses.message()).await?.expect("a response or a status");
    drop(sender);
    Ok(format!("{first:?}"))
}

/// A good envelope to ia.
fn good() -> pb::Envelope {
    envelope(&["ia"], "money-laundering", b"must not be stored")
}

/// A good envelope to ia, changed by `spoil`.
fn spoiled(spoil: impl FnOnce(&mut pb::Envelope)) -> Call<'static> {
    let mut envelope = good();
    spoil(&mut envelope);
    Call::Publish(Some(envelope))
}

/// A good envelope to ia with a body of `len` bytes.
fn body_of(len: usize) -> Call<'static> {
    spoiled(|envelope| envelope.body = vec![b'x'; len].into())
}

/// An `open` request for the caller's feed, changed by `set`.
fn opening(set: impl FnOnce(&mut pb::OpenSubscription)) -> Request {
    let mut open = pb::OpenSubscription::default();
    set(&mut open);
    Request::Open(open)
}

fn seconds(seconds: i64) -> Option<prost_types::Duration> {
    Some(prost_types::Duration { seconds, nanos: 0 })
}

#[tokio::test]
async fn bad_credentials_are_unauthenticated_for_publish_and_subscribe() {
    let mut bench = Bench::new().await;
    // Well-formed claims of a cbp agency system; only the expiry or the signing key is wrong.
    let claims = |iat: u64, exp: u64| Claims {
        sub: "cbp-test".into(),
        party: "cbp".into(),
        role: Role::AgencySystem,
        iss: "liaison".into(),
        iat,
        exp,
        clearance: None,
        nationality: None,
        law_enforcement: None,
        accesses: None,
        jti: None,
    };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let now = now.as_secs();
    let expired = bench.gateway.issuer().issue_claims(&claims(now - 7200, now - 3600));
    let other_dir = tempfile::tempdir().unwrap();
    let other_key = SigningKey::load_or_create(other_dir.path()).unwrap();
    let foreign = Issuer::new(&other_key).unwrap().issue_claims(&claims(now, now + 600));

    // An empty header means none is sent.
    let cases = [
        (String::new(), "missing bearer token"),
        ("Basic xyz".into(), "malformed authorization header"),
        ("Bearer garbage.not-a.jwt".into(), "invalid token"),
        (format!("Bearer {}", expired.unwrap()), "token expired"),
        (format!("Bearer {}", foreign.unwrap()), "unknown key"),
    ];
    let code = Code::Unauthenticated;
    for (header, needle) in cases {
        let header = Some(header).filter(|header| !header.is_empty());
        let mut client = client_with_header(&bench.gateway.url(), header).await;
        let (case, call) = (format!("publish, {needle}"), Call::PublishAs(&mut client));
        bench.check(&case, call, code, needle).await;
        let (case, call) = (format!("subscribe, {needle}"), Call::SubscribeAs(&mut client));
        bench.check(&case, call, code, needle).await;
    }
}

#[tokio::test]
async fn bodies_must_be_non_empty_and_within_the_default_limit() {
    // The test server's max_payload is raised so a body of exactly 1 MiB fits in one NATS message.
    let config_dir = tempfile::tempdir().unwrap();
    let config = config_dir.path().join("nats.conf");
    std::fs::write(&config, "max_payload: 4MB\n").unwrap();
    let nats = NatsServer::start_with_args(&["-c", config.to_str().unwrap()]).await;
    let mut bench = Bench::start(nats, |_| {}).await;

    let cases =
        [("empty body", body_of(0), Code::InvalidArgument), ("1 MiB + 1", body_of(MIB + 1), Code::ResourceExhausted)];
    for (case, call, code) in cases {
        bench.check(case, call, code, "envelope.body").await;
    }
    let at_limit = envelope(&["ia"], "money-laundering", &vec![b'y'; MIB]);
    let delivery = bench.accepted(at_limit).await;
    assert_eq!(delivery.envelope.unwrap().body.len(), MIB);
}

#[tokio::test]
async fn a_configured_body_limit_is_exact() {
    let nats = NatsServer::start().await;
    let mut bench = Bench::start(nats, |config| config.limits.max_body_bytes = 1024).await;
    let (call, code) = (body_of(1025), Code::ResourceExhausted);
    bench.check("1025 > 1024", call, code, "envelope.body").await;
    let at_limit = envelope(&["ia"], "money-laundering", &[b'y'; 1024]);
    let delivery = bench.accepted(at_limit).await;
    assert_eq!(delivery.envelope.unwrap().body.len(), 1024);
}

#[tokio::test]
async fn a_body_far_over_the_limit_is_resource_exhausted_too() {
    // Far over the limit a request is also over the gateway's gRPC decoding limit (the body limit plus
    // about 136 KiB); the documented answer is still RESOURCE_EXHAUSTED naming envelope.body.
    let limits: [(Option<usize>, usize); 2] = [(Some(1024), MIB), (None, 2 * MIB)];
    for (limit, size) in limits {
        let nats = NatsServer::start().await;
        let tweak = |config: &mut ServeConfig| {
            let default = config.limits.max_body_bytes;
            config.limits.max_body_bytes = limit.unwrap_or(default);
        };
        let mut bench = Bench::start(nats, tweak).await;
        let (case, call) = (format!("{size} over {limit:?}"), body_of(size));
        let code = Code::ResourceExhausted;
        bench.check(&case, call, code, "envelope.body").await;
    }
}

#[tokio::test]
async fn topics_and_recipients_must_be_subject_tokens() {
    let mut bench = Bench::new().await;
    let invalid = Code::InvalidArgument;
    let long = "a".repeat(65);
    for topic in ["Money.Laundering", "a*", "a b", ">", long.as_str(), ""] {
        let case = format!("topic {topic:?}");
        let call = spoiled(|envelope| envelope.topic = topic.into());
        bench.check(&case, call, invalid, "envelope.topic").await;
    }
    let topic = "a".repeat(64);
    let at_limit = envelope(&["ia"], &topic, b"a 64-character topic");
    bench.accepted(at_limit).await;

    let recipients = [["IA", "ia"], ["ia.>", "ia"], ["*", "ia"], ["i a", "ia"], ["", "ia"]];
    for (index, recipients) in recipients.into_iter().chain([["ia", "FBI"]]).enumerate() {
        let bad = if index < 5 { 0 } else { 1 };
        let case = format!("recipients {recipients:?}");
        let call = spoiled(|envelope| envelope.recipients = recipients.map(String::from).into());
        let needle = format!("envelope.recipients[{bad}]");
        bench.check(&case, call, invalid, &needle).await;
    }
}

#[tokio::test]
async fn required_fields_are_required_and_the_id_is_the_gateways() {
    let mut bench = Bench::new().await;
    let invalid = Code::InvalidArgument;
    let needle = "envelope: required";
    bench.check(needle, Call::Publish(None), invalid, needle).await;

    let unclassified = |e: &mut pb::Envelope| e.markings.as_mut().unwrap().classification = 0;
    // Each needle is the field and rule the message must name.
    let cases: [(&str, Spoil<pb::Envelope>); 4] = [
        ("envelope.markings: required", |e| e.markings = None),
        ("envelope.kind: required", |e| e.kind = 0),
        ("envelope.markings.classification: required", unclassified),
        ("envelope.id: assigned by the gateway", |e| e.id = "x".into()),
    ];
    for (needle, spoil) in cases {
        bench.check(needle, spoiled(spoil), invalid, needle).await;
    }
}

#[tokio::test]
async fn reserved_attributes_and_a_creation_time_ahead_of_the_clock_are_refused() {
    let mut bench = Bench::new().await;
    let invalid = Code::InvalidArgument;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    let ahead = move |seconds: i64| Some(prost_types::Timestamp { seconds: now + seconds, nanos: 0 });
    // A client posing as the gateway's purge notice, in any letter case.
    let notice: Spoil<pb::Envelope> = |e| {
        e.attributes.insert("liaison.notice".into(), "purge".into());
    };
    let shouting: Spoil<pb::Envelope> = |e| {
        e.attributes.insert("LIAISON.message_id".into(), ulid::Ulid::new().to_string());
    };
    bench
        .check("liaison.notice", spoiled(notice), invalid, "envelope.attributes[liaison.notice]: keys starting with")
        .await;
    bench.check("LIAISON.message_id", spoiled(shouting), invalid, "are reserved for the gateway").await;
    let mut call = good();
    call.created_at = ahead(3600);
    bench.check("created_at an hour ahead", Call::Publish(Some(call)), invalid, "envelope.created_at:").await;
    let mut call = good();
    call.created_at = Some(prost_types::Timestamp { seconds: -1, nanos: 0 });
    bench.check("created_at before 1970", Call::Publish(Some(call)), invalid, "is before 1970").await;

    // Within the allowance, and in the past, the originator's time is kept as given.
    let mut kept = envelope(&["ia"], "money-laundering", b"written yesterday");
    kept.created_at = ahead(-86_400);
    kept.attributes.insert("source-system".into(), "tecs".into());
    let delivered = bench.accepted(kept.clone()).await;
    let got = delivered.envelope.unwrap();
    assert_eq!(got.created_at, kept.created_at, "the originator's time is kept");
    assert_eq!(got.attributes, kept.attributes);
    let mut slightly_ahead = envelope(&["ia"], "money-laundering", b"clock a minute fast");
    slightly_ahead.created_at = ahead(60);
    bench.accepted(slightly_ahead).await;
}

#[tokio::test]
async fn origin_and_role_are_the_callers_own() {
    let mut bench = Bench::new().await;
    let denied = Code::PermissionDenied;
    let call = spoiled(|envelope| envelope.origin = "fbi".into());
    bench.check("origin fbi", call, denied, "envelope.origin").await;
    let mut own = envelope(&["ia"], "money-laundering", b"own origin");
    own.origin = "cbp".into();
    bench.accepted(own).await;

    let mut analyst = bench.gateway.client("cbp", Role::Analyst).await;
    let needle = "role analyst may not publish";
    bench.check(needle, Call::PublishAs(&mut analyst), denied, needle).await;
    let mut operator = bench.gateway.client("ia", Role::Operator).await;
    let needle = "role operator may not subscribe";
    bench.check(needle, Call::SubscribeAs(&mut operator), denied, needle).await;
}

#[tokio::test]
async fn subscribe_opens_are_validated() {
    let mut bench = Bench::new().await;
    let invalid = Code::InvalidArgument;
    let ack = Request::Ack(pb::Acknowledge::default());
    let needle = "open: the first request must open the subscription";
    bench.check(needle, Call::Subscribe(ack), invalid, needle).await;

    let call = Call::Subscribe(opening(|open| open.feed = "fbi".into()));
    let denied = Code::PermissionDenied;
    bench.check("feed fbi", call, denied, "open.feed").await;

    // Each needle is the field the message must name.
    let cases: [(&str, Spoil<pb::OpenSubscription>); 6] = [
        ("open.durable_name", |o| o.durable_name = "Bad.Name".into()),
        ("open.durable_name", |o| o.durable_name = "ia-*".into()),
        ("open.ack_deadline", |o| o.ack_deadline = seconds(0)),
        ("open.ack_deadline", |o| o.ack_deadline = seconds(3600)),
        ("open.filter", |o| o.filter = Some(too_wide())),
        ("open.start.from_time: 2999-01-01T00:00:00Z is in the future", |o| o.start = year_2999()),
    ];
    for (index, (needle, set)) in cases.into_iter().enumerate() {
        let (case, call) = (format!("open #{index}"), Call::Subscribe(opening(set)));
        bench.check(&case, call, invalid, needle).await;
    }

    // The caller's own party, named explicitly, opens.
    let own = opening(|open| open.feed = "ia".into());
    let opened = try_subscribe(&mut bench.ia, own).await.expect("own feed");
    let expected = "SubscribeResponse { response: Some(Opened(";
    assert!(opened.starts_with(expected), "{opened}");
}

/// A start time nats-server would overflow and read as the very beginning.
fn year_2999() -> Option<pb::StartPosition> {
    let time = prost_types::Timestamp { seconds: 32_472_144_000, nanos: 0 };
    Some(pb::StartPosition { position: Some(pb::start_position::Position::FromTime(time)) })
}

/// 20 origins x 6 kinds x 20 topics: 2400 filter subjects.
fn too_wide() -> pb::FeedFilter {
    pb::FeedFilter {
        origins: (0..20).map(|index| format!("origin-{index}")).collect(),
        kinds: (1..=6).collect(),
        topics: (0..20).map(|index| format!("topic-{index}")).collect(),
    }
}

#[tokio::test]
async fn times_at_the_ends_of_the_range_are_answered_or_refused_never_a_reset_stream() {
    let mut bench = Bench::new().await;
    bench.accepted(envelope(&["ia"], "money-laundering", b"on record")).await;
    let end_of_time = prost_types::Timestamp { seconds: 253_402_300_799, nanos: 0 };
    let mut operator = bench.gateway.operator("ia", Role::Operator).await;
    let request = pb::QueryAuditRequest { until: Some(end_of_time), ..Default::default() };
    let mut records = within(operator.query_audit(request)).await.expect("a query until 9999 is answered").into_inner();
    let first = within(records.message()).await.expect("records, not a reset stream");
    assert!(first.is_some(), "the record of the publish is found");
    let too_late = prost_types::Timestamp { seconds: 253_402_300_800, nanos: 0 };
    let request = pb::QueryAuditRequest { until: Some(too_late), ..Default::default() };
    let status = within(operator.query_audit(request)).await.expect_err("past year 9999 is refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().starts_with("until: out of range"), "{status:?}");

    // A durable is never touched by a seek to a time it cannot reach.
    let open = pb::OpenSubscription { durable_name: "desk".into(), ..Default::default() };
    drop(within(subscribe(&mut bench.ia, open)).await.expect("durable made"));
    for seconds in [-62_198_755_200, -1] {
        let target = pb::seek_request::Target::Time(prost_types::Timestamp { seconds, nanos: 0 });
        let request = pb::SeekRequest { durable_name: "desk".into(), target: Some(target) };
        let status = within(bench.ia.seek(request)).await.expect_err("a seek before 1970 is refused");
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(status.message().contains("is before 1970-01-01T00:00:00Z"), "{status:?}");
    }
    let request =
        pb::SeekRequest { durable_name: "desk".into(), target: Some(pb::seek_request::Target::Beginning(())) };
    within(bench.ia.seek(request)).await.expect("the durable is still there");
}

#[tokio::test]
async fn rel_to_names_countries_of_the_ism_vocabulary_each_once() {
    let mut bench = Bench::new().await;
    let invalid = Code::InvalidArgument;
    let secret_rel_to = |countries: Vec<String>| {
        let mut envelope = good();
        let markings = envelope.markings.as_mut().unwrap();
        markings.classification = pb::Classification::Secret as i32;
        markings.rel_to = countries;
        envelope
    };
    let codes = |codes: &[&str]| codes.iter().map(|code| code.to_string()).collect::<Vec<_>>();
    let made_up = secret_rel_to(codes(&["USA", "CAN", "AAA"]));
    let needle = "envelope.markings.rel_to[2]: \"AAA\" is not a country of the ISM REL TO vocabulary";
    bench.check("made-up code", Call::Publish(Some(made_up)), invalid, needle).await;
    // 5,000 made-up trigraphs: refused on their number before any is looked at.
    let flood: Vec<String> = std::iter::once("USA".to_string())
        .chain((0..4_999u32).map(|n| {
            let letter = |shift: u32| char::from(b'A' + ((n / 26u32.pow(shift)) % 26) as u8);
            [letter(2), letter(1), letter(0)].iter().collect()
        }))
        .collect();
    let needle = "envelope.markings.rel_to: 5000 entries, more than the";
    bench.check("5,000 trigraphs", Call::Publish(Some(secret_rel_to(flood))), invalid, needle).await;
    let twice = secret_rel_to(codes(&["USA", "GBR", "GBR"]));
    bench.check("listed twice", Call::Publish(Some(twice)), invalid, "GBR is listed twice").await;
    // IC trigraphs beyond ISO's are in the vocabulary too, and a real list is accepted.
    let mut released = secret_rel_to(codes(&["USA", "AUS", "CAN", "GBR", "NZL"]));
    released.recipients = vec!["ia".into()];
    bench.accepted(released).await;
    // A tetragraph of the ISM vocabulary or the directory is accepted; one of neither is refused, naming it.
    let mut five_eyes = secret_rel_to(codes(&["USA", "FVEY"]));
    five_eyes.recipients = vec!["ia".into()];
    bench.accepted(five_eyes).await;
    let mut nato = secret_rel_to(codes(&["USA", "NATO"]));
    nato.recipients = vec!["ia".into()];
    bench.accepted(nato).await;
    let five = secret_rel_to(codes(&["USA", "FIVE"]));
    let needle =
        "envelope.markings.rel_to: FIVE is not a tetragraph of the ISM vocabulary nor one the directory defines";
    bench.check("undefined tetragraph", Call::Publish(Some(five)), invalid, needle).await;
}
