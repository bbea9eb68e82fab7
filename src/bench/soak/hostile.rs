//! The hostile clients of a soak, each on connections of its own and with a credential (token subject) of
//! its own, each pacing itself at about [`ATTEMPTS_PER_SECOND`]; what they get back goes to the [`Tally`].
//!
//! - `bad-token`: no token, not a bearer token, garbage, another key's signature, expired, a broken
//!   signature, a 16 KiB header; `unknown-party`: a token the gateway's key signed for a party the directory
//!   does not know;
//! - `malformed`: envelopes that each break one rule (unary and on a PublishStream), and bytes that are not
//!   a protobuf message; `huge-lists`: 10,000 recipients, REL TO entries, controls or filter entries, and
//!   acks, nacks and extends of 100,000 ack ids never handed out;
//! - `valid-publisher`: valid publishes; `subscription-flood`: more subscriptions than one credential may
//!   hold; `slow-reader`: whole-feed subscriptions that never ack (half never read); `vanisher`: streams
//!   dropped mid-way with their connection; `not-http2`: TCP noise, or the HTTP/2 preface and silence.
//!
//! Valid hostile publishes come from `fbi`, never from the well-behaved publisher's party, and reach `ia`,
//! whose feed the slow readers, vanishers and the well-behaved subscriber (filtered to its publisher) read.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

use super::below_grpc::{noise, publish_bytes, raw_connection};
use super::tally::{Outcome, Tally};
use crate::api as pb;
use crate::bench::rig::{Client, Rig, bearer_client};
use crate::bench::through_gateway::RECIPIENT;
use crate::identity::{Claims, Issuer, Role, SigningKey};

mod requests;

/// Attempts per second of each hostile client.
pub const ATTEMPTS_PER_SECOND: u64 = 20;
/// The party hostile clients publish as: not the well-behaved publisher.
const HOSTILE_PUBLISHER: &str = "fbi";
/// A topic nobody in the soak publishes on, for subscriptions that should receive nothing.
const QUIET_TOPIC: &str = "narcotics";
/// Subscriptions a flooding client tries to hold at once: more than `--max-subscriptions`' default 32.
const FLOOD_SUBSCRIPTIONS: usize = 40;

/// The kinds of hostile client, assigned round-robin.
pub const KINDS: [&str; 9] = [
    "bad-token",
    "unknown-party",
    "malformed",
    "huge-lists",
    "valid-publisher",
    "subscription-flood",
    "slow-reader",
    "vanisher",
    "not-http2",
];

fn pause() -> Duration {
    Duration::from_millis(1000 / ATTEMPTS_PER_SECOND)
}

/// Starts `count` hostile clients; they run until `stop`.
pub fn start(rig: &Arc<Rig>, count: usize, tally: &Tally, stop: &CancellationToken) {
    for index in 0..count {
        let kind = KINDS[index % KINDS.len()];
        tally.client(kind);
        let (rig, tally, stop) = (rig.clone(), tally.clone(), stop.clone());
        tokio::spawn(async move {
            // A client that cannot even set up (its connection refused) counts as one transport failure.
            if run(kind, index, &rig, &tally, &stop).await.is_err() {
                tally.record(kind, Outcome::Transport);
            }
        });
    }
}

async fn run(
    kind: &'static str,
    index: usize,
    rig: &Rig,
    tally: &Tally,
    stop: &CancellationToken,
) -> anyhow::Result<()> {
    let subject = format!("soak-{kind}-{index}");
    match kind {
        "bad-token" => bad_tokens(rig, index, tally, stop).await,
        "unknown-party" => unknown_party(rig, &subject, tally, stop).await,
        "malformed" => malformed(rig, &subject, tally, stop).await,
        "huge-lists" => huge_lists(rig, &subject, tally, stop).await,
        "valid-publisher" => valid_publisher(rig, &subject, tally, stop).await,
        "subscription-flood" => subscription_flood(rig, &subject, tally, stop).await,
        "slow-reader" => slow_reader(rig, &subject, index.is_multiple_of(2), tally, stop).await,
        "vanisher" => vanisher(rig, &subject, tally, stop).await,
        _ => not_http2(rig, index, tally, stop).await,
    }
}

/// A hostile client's rounds: one attempt per pause until `stop`, each outcome recorded.
struct Paced<'a> {
    kind: &'static str,
    tally: &'a Tally,
    stop: &'a CancellationToken,
    round: u64,
}

impl<'a> Paced<'a> {
    fn new(kind: &'static str, tally: &'a Tally, stop: &'a CancellationToken) -> Paced<'a> {
        Paced { kind, tally, stop, round: 0 }
    }

    /// The next round's number, after a pause (none before the first); `None` once stopped.
    async fn next(&mut self) -> Option<u64> {
        if self.round > 0 {
            tokio::select! {
                () = self.stop.cancelled() => return None,
                () = tokio::time::sleep(pause()) => {}
            }
        }
        if self.stop.is_cancelled() {
            return None;
        }
        self.round += 1;
        Some(self.round - 1)
    }

    /// Runs one attempt (abandoned at `stop`) and records its outcome.
    async fn attempt(&self, attempt: impl Future<Output = Outcome>) {
        tokio::select! {
            () = self.stop.cancelled() => {}
            outcome = attempt => self.tally.record(self.kind, outcome),
        }
    }
}

/// Authorization headers the gateway must refuse: none, not a bearer token, not a token, signed by another
/// key, expired, with a broken signature, and 16 KiB long.
fn bad_authorizations(rig: &Rig) -> anyhow::Result<Vec<Option<String>>> {
    let dir = tempfile::tempdir()?;
    let stranger = Issuer::new(&SigningKey::create_file(&dir.path().join("other-key.pem"))?)?;
    let party = crate::model::Token::parse(HOSTILE_PUBLISHER)?;
    let hour = Duration::from_secs(3600);
    let foreign = stranger.issue(&party, Role::AgencySystem, "soak-stranger", hour)?;
    let valid = rig.issuer().issue(&party, Role::AgencySystem, "soak-tampered", hour)?;
    let tampered = format!("{}{}", &valid[..valid.len() - 2], if valid.ends_with("AA") { "BB" } else { "AA" });
    let now = time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
    let expired = rig.issuer().issue_claims(&claims(HOSTILE_PUBLISHER, "soak-expired", now - 7200, now - 3600))?;
    Ok(vec![
        None,
        Some("Basic c29hazpzb2Fr".into()),
        Some("Bearer not-a-token".into()),
        Some(format!("Bearer {foreign}")),
        Some(format!("Bearer {expired}")),
        Some(format!("Bearer {tampered}")),
        Some(format!("Bearer {}", "a".repeat(16 * 1024))),
    ])
}

async fn bad_tokens(rig: &Rig, index: usize, tally: &Tally, stop: &CancellationToken) -> anyhow::Result<()> {
    let authorizations = bad_authorizations(rig)?;
    let channel = rig.plain_channel().await?;
    let clients: Vec<Client> = authorizations
        .iter()
        .map(|authorization| bearer_client(channel.clone(), authorization.as_deref()))
        .collect::<anyhow::Result<_>>()?;
    let mut paced = Paced::new("bad-token", tally, stop);
    while let Some(round) = paced.next().await {
        paced
            .attempt(async {
                let mut client = clients[(round as usize / 2 + index) % clients.len()].clone();
                publish_or_subscribe(&mut client, round).await
            })
            .await;
    }
    Ok(())
}

/// A valid publish on even rounds, a subscription of the caller's own feed on odd ones.
async fn publish_or_subscribe(client: &mut Client, round: u64) -> Outcome {
    match round % 2 {
        0 => Outcome::of_publish(&client.publish(requests::valid_publish()).await),
        _ => Outcome::of(&subscribe(client, pb::OpenSubscription::default()).await),
    }
}

/// A token the gateway's key signed, for a party the directory does not know: it speaks for no one.
async fn unknown_party(rig: &Rig, subject: &str, tally: &Tally, stop: &CancellationToken) -> anyhow::Result<()> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
    let token = rig.issuer().issue_claims(&claims("no-such-party", subject, now, now + 86_400))?;
    let mut client = bearer_client(rig.plain_channel().await?, Some(&format!("Bearer {token}")))?;
    let mut paced = Paced::new("unknown-party", tally, stop);
    while let Some(round) = paced.next().await {
        paced.attempt(publish_or_subscribe(&mut client, round)).await;
    }
    Ok(())
}

/// Claims of an agency-system token, as anyone holding the key could sign them.
fn claims(party: &str, subject: &str, iat: u64, exp: u64) -> Claims {
    Claims {
        sub: subject.into(),
        party: party.into(),
        role: Role::AgencySystem,
        iss: "liaison".into(),
        iat,
        exp,
        clearance: None,
        nationality: None,
        law_enforcement: None,
        accesses: None,
        jti: None,
    }
}

/// Opens a subscription and waits for its answer; the stream is dropped afterwards unless returned.
async fn subscribe(
    client: &mut Client,
    open: pb::OpenSubscription,
) -> Result<(mpsc::Sender<pb::SubscribeRequest>, tonic::Streaming<pb::SubscribeResponse>), tonic::Status> {
    use pb::subscribe_request::Request;
    let (requests, outgoing) = mpsc::channel(8);
    let _ = requests.send(pb::SubscribeRequest { request: Some(Request::Open(open)) }).await;
    let mut responses = client.subscribe(ReceiverStream::new(outgoing)).await?.into_inner();
    match responses.message().await? {
        Some(_) => Ok((requests, responses)),
        None => Err(tonic::Status::aborted("the subscription ended before it opened")),
    }
}

async fn malformed(rig: &Rig, subject: &str, tally: &Tally, stop: &CancellationToken) -> anyhow::Result<()> {
    let mut client = rig.client_as(HOSTILE_PUBLISHER, Role::AgencySystem, subject).await?;
    let party = crate::model::Token::parse(HOSTILE_PUBLISHER)?;
    let token = rig.issuer().issue(&party, Role::AgencySystem, subject, Duration::from_secs(24 * 3600))?;
    let authorization = format!("Bearer {token}");
    let channel = rig.plain_channel().await?;
    let cases = requests::malformed_envelopes();
    let mut stream: Option<PublishStream> = None;
    let mut paced = Paced::new("malformed", tally, stop);
    while let Some(round) = paced.next().await {
        paced
            .attempt(async {
                let case = cases[round as usize % cases.len()].clone();
                match round % 3 {
                    0 => Outcome::of_publish(&client.publish(pb::PublishRequest { envelope: case }).await),
                    1 => {
                        publish_bytes(channel.clone(), &authorization, noise(round, 64 + (round as usize % 512))).await
                    }
                    _ => PublishStream::send(&mut stream, &mut client, case).await,
                }
            })
            .await;
    }
    Ok(())
}

/// One PublishStream kept open across attempts; each refused envelope is answered in-band.
struct PublishStream {
    requests: mpsc::Sender<pb::PublishStreamRequest>,
    responses: tonic::Streaming<pb::PublishStreamResponse>,
}

impl PublishStream {
    /// Sends `envelope` on the open stream (opening one if needed) and returns what answered it.
    async fn send(slot: &mut Option<PublishStream>, client: &mut Client, envelope: Option<pb::Envelope>) -> Outcome {
        if slot.is_none() {
            let (requests, outgoing) = mpsc::channel(4);
            match client.publish_stream(ReceiverStream::new(outgoing)).await {
                Ok(response) => *slot = Some(PublishStream { requests, responses: response.into_inner() }),
                Err(status) => return Outcome::of_status(&status),
            }
        }
        let Some(stream) = slot.as_mut() else { return Outcome::Transport };
        let outcome = match stream.requests.send(pb::PublishStreamRequest { envelope }).await {
            Err(_) => Outcome::Transport,
            Ok(()) => match stream.responses.message().await {
                Ok(Some(pb::PublishStreamResponse {
                    result: Some(pb::publish_stream_response::Result::Error(error)),
                    ..
                })) => Outcome::Refused(tonic::Code::from_i32(error.code)),
                Ok(Some(pb::PublishStreamResponse {
                    result: Some(pb::publish_stream_response::Result::Receipt(receipt)),
                    ..
                })) => Outcome::of_receipt(&receipt),
                Ok(Some(_)) => Outcome::Accepted,
                Ok(None) => Outcome::Transport,
                Err(status) => Outcome::of_status(&status),
            },
        };
        // A stream that failed is opened again next time; one that refused in-band stays open.
        if outcome == Outcome::Transport {
            *slot = None;
        }
        outcome
    }
}

async fn huge_lists(rig: &Rig, subject: &str, tally: &Tally, stop: &CancellationToken) -> anyhow::Result<()> {
    let mut publisher = rig.client_as(HOSTILE_PUBLISHER, Role::AgencySystem, subject).await?;
    let mut reader = rig.client_as(RECIPIENT, Role::Analyst, subject).await?;
    let envelopes = requests::huge_list_envelopes();
    let mut paced = Paced::new("huge-lists", tally, stop);
    while let Some(round) = paced.next().await {
        paced
            .attempt(async {
                let envelope = envelopes[round as usize % envelopes.len()].clone();
                match round % 3 {
                    0 => Outcome::of_publish(&publisher.publish(pb::PublishRequest { envelope: Some(envelope) }).await),
                    1 => Outcome::of(&subscribe(&mut reader, requests::huge_filter()).await),
                    _ => huge_settlement(&mut reader, round).await,
                }
            })
            .await;
    }
    Ok(())
}

/// An ack, nack or extend naming 100,000 made-up ack ids on an open subscription: a status within a moment
/// is a refusal, a stream that carries on has accepted (or ignored) it.
async fn huge_settlement(reader: &mut Client, round: u64) -> Outcome {
    let open = pb::OpenSubscription { filter: Some(requests::quiet_filter()), ..Default::default() };
    let (requests, mut responses) = match subscribe(reader, open).await {
        Ok(stream) => stream,
        Err(status) => return Outcome::of_status(&status),
    };
    if requests.send(requests::huge_settlement(round)).await.is_err() {
        return Outcome::Transport;
    }
    match tokio::time::timeout(Duration::from_millis(300), responses.message()).await {
        Err(_) | Ok(Ok(Some(_))) => Outcome::Accepted,
        Ok(Ok(None)) => Outcome::Transport,
        Ok(Err(status)) => Outcome::of_status(&status),
    }
}

async fn valid_publisher(rig: &Rig, subject: &str, tally: &Tally, stop: &CancellationToken) -> anyhow::Result<()> {
    let client = rig.client_as(HOSTILE_PUBLISHER, Role::AgencySystem, subject).await?;
    let mut client = client;
    let mut paced = Paced::new("valid-publisher", tally, stop);
    while paced.next().await.is_some() {
        paced.attempt(async { Outcome::of(&client.publish(requests::valid_publish()).await) }).await;
    }
    Ok(())
}

/// Opens subscriptions one by one up to more than one credential may hold, holds them, drops them, again.
async fn subscription_flood(rig: &Rig, subject: &str, tally: &Tally, stop: &CancellationToken) -> anyhow::Result<()> {
    let client = rig.client_as(RECIPIENT, Role::Analyst, subject).await?;
    while !stop.is_cancelled() {
        let mut held = Vec::new();
        for _ in 0..FLOOD_SUBSCRIPTIONS {
            let open = pb::OpenSubscription { filter: Some(requests::quiet_filter()), ..Default::default() };
            let result = subscribe(&mut client.clone(), open).await;
            tally.record("subscription-flood", Outcome::of(&result));
            held.extend(result.ok());
            tokio::select! {
                () = stop.cancelled() => return Ok(()),
                () = tokio::time::sleep(pause()) => {}
            }
        }
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
    Ok(())
}

/// A subscription of the whole feed on a connection with HTTP/2's default windows that never acks, and
/// with `never_read` never even reads past the opening answer: what it holds stays on the gateway and in
/// NATS until the soak ends. Opened again if the gateway ends it.
async fn slow_reader(
    rig: &Rig,
    subject: &str,
    never_read: bool,
    tally: &Tally,
    stop: &CancellationToken,
) -> anyhow::Result<()> {
    let token = rig.issuer().issue(
        &crate::model::Token::parse(RECIPIENT)?,
        Role::Analyst,
        subject,
        Duration::from_secs(86_400),
    )?;
    let mut client = bearer_client(rig.plain_channel().await?, Some(&format!("Bearer {token}")))?;
    while !stop.is_cancelled() {
        let result = subscribe(&mut client, pb::OpenSubscription::default()).await;
        tally.record("slow-reader", Outcome::of(&result));
        let Ok((_requests, mut responses)) = result else {
            tokio::time::sleep(pause()).await;
            continue;
        };
        let ended = async {
            match never_read {
                true => std::future::pending::<()>().await,
                false => while let Ok(Some(_)) = responses.message().await {},
            }
        };
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            () = ended => tokio::time::sleep(pause()).await,
        }
    }
    Ok(())
}

/// New connections that start a PublishStream or a Subscribe and vanish mid-stream: no half-close, no acks.
async fn vanisher(rig: &Rig, subject: &str, tally: &Tally, stop: &CancellationToken) -> anyhow::Result<()> {
    let mut paced = Paced::new("vanisher", tally, stop);
    while let Some(round) = paced.next().await {
        paced
            .attempt(async {
                let outcome = match round % 2 {
                    0 => match rig.client_as(HOSTILE_PUBLISHER, Role::AgencySystem, subject).await {
                        Ok(client) => vanish_publishing(client).await,
                        Err(_) => Outcome::Transport,
                    },
                    _ => match rig.client_as(RECIPIENT, Role::Analyst, subject).await {
                        Ok(mut client) => match subscribe(&mut client, pb::OpenSubscription::default()).await {
                            Ok((_requests, mut responses)) => {
                                let _ = tokio::time::timeout(Duration::from_millis(300), responses.message()).await;
                                Outcome::Accepted
                            }
                            Err(status) => Outcome::of_status(&status),
                        },
                        Err(_) => Outcome::Transport,
                    },
                };
                // Dropping the client here closes its connection with streams still open.
                outcome
            })
            .await;
    }
    Ok(())
}

async fn vanish_publishing(mut client: Client) -> Outcome {
    let (requests, outgoing) = mpsc::channel(8);
    let mut responses = match client.publish_stream(ReceiverStream::new(outgoing)).await {
        Ok(response) => response.into_inner(),
        Err(status) => return Outcome::of_status(&status),
    };
    for _ in 0..5 {
        let request = pb::PublishStreamRequest { envelope: requests::valid_publish().envelope };
        if requests.send(request).await.is_err() {
            return Outcome::Transport;
        }
    }
    let _ = tokio::time::timeout(Duration::from_millis(50), responses.message()).await;
    Outcome::Accepted
}

/// Connections that are not HTTP/2: noise, or the client preface and then nothing.
async fn not_http2(rig: &Rig, index: usize, tally: &Tally, stop: &CancellationToken) -> anyhow::Result<()> {
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let address = rig.gateway_addr().to_string();
    let mut paced = Paced::new("not-http2", tally, stop);
    while let Some(round) = paced.next().await {
        paced
            .attempt(async {
                match round % 2 {
                    0 => raw_connection(&address, &noise(round ^ index as u64, 4096)).await,
                    _ => raw_connection(&address, PREFACE).await,
                }
            })
            .await;
    }
    Ok(())
}
