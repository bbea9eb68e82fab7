//! `liaison subscribe`: print deliveries of the caller's feed as they arrive, and acknowledge them.

use anyhow::Context;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::api as pb;
use crate::model::Kind;

use super::client::{self, ClientArgs};
use super::routing_args::parse_kind;

#[derive(Debug, clap::Args)]
pub struct SubscribeArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Durable name: resume where the last session with this name stopped.
    #[arg(long)]
    durable: Option<String>,
    /// Only messages from this origin party; repeat for several.
    #[arg(long = "origin")]
    origins: Vec<String>,
    /// Only messages of this kind; repeat for several.
    #[arg(long = "kind", value_parser = parse_kind)]
    kinds: Vec<Kind>,
    /// Only messages on this topic; repeat for several.
    #[arg(long = "topic")]
    topics: Vec<String>,
    /// Where to start: `new`, `all`, `seq:N` or `time:RFC3339`.
    #[arg(long, default_value = "new", value_parser = parse_start)]
    start: pb::StartPosition,
    /// Exit after this many deliveries: prints and acknowledges exactly that many; any further deliveries
    /// already sent stay unacknowledged and are redelivered (to a durable subscription's next session).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
    /// Most unacknowledged deliveries at once.
    #[arg(long, default_value_t = 100)]
    max_outstanding: u32,
}

fn parse_start(value: &str) -> Result<pb::StartPosition, String> {
    use pb::start_position::Position;
    let position = match value {
        "new" => Position::OnlyNew(()),
        "all" => Position::All(()),
        _ => match value.split_once(':') {
            Some(("seq", sequence)) => Position::FromSequence(sequence.parse().map_err(|_| "seq:N needs a number")?),
            Some(("time", time)) => {
                let time = humantime::parse_rfc3339_weak(time).map_err(|error| error.to_string())?;
                Position::FromTime(time.into())
            }
            _ => return Err("one of new, all, seq:N, time:RFC3339".to_string()),
        },
    };
    Ok(pb::StartPosition { position: Some(position) })
}

pub async fn run(args: SubscribeArgs) -> anyhow::Result<()> {
    use pb::subscribe_request::Request;
    use pb::subscribe_response::Response;

    let mut client = client::connect(&args.client).await?;
    let (requests, outgoing) = mpsc::channel(64);
    let open = pb::OpenSubscription {
        filter: Some(pb::FeedFilter {
            origins: args.origins.clone(),
            kinds: args.kinds.iter().map(|kind| pb::Kind::from(*kind) as i32).collect(),
            topics: args.topics.clone(),
        }),
        start: Some(args.start),
        durable_name: args.durable.clone().unwrap_or_default(),
        // No point in having more in flight than the command will take.
        max_outstanding_messages: args
            .count
            .map_or(args.max_outstanding, |count| args.max_outstanding.min(u32::try_from(count).unwrap_or(u32::MAX))),
        // With --count the command exits once its acks are recorded, not after a guessed pause.
        confirm_acks: args.count.is_some(),
        ..Default::default()
    };
    requests.send(pb::SubscribeRequest { request: Some(Request::Open(open)) }).await?;
    let mut responses = client
        .subscribe(ReceiverStream::new(outgoing))
        .await
        .map_err(|status| anyhow::anyhow!("subscribe failed: {:?}: {}", status.code(), status.message()))?
        .into_inner();

    let mut taken = 0u64;
    let mut confirmed = 0u64;
    while let Some(response) = responses.message().await.context("subscription ended")? {
        match response.response {
            Some(Response::Opened(opened)) => {
                eprintln!("subscribed as {} to {}", opened.subscription_id, opened.subjects.join(", "));
            }
            Some(Response::Deliveries(batch)) => {
                let wanted =
                    args.count.map_or(usize::MAX, |count| usize::try_from(count - taken).unwrap_or(usize::MAX));
                let deliveries = &batch.deliveries[..batch.deliveries.len().min(wanted)];
                if deliveries.is_empty() {
                    continue;
                }
                taken += deliveries.len() as u64;
                let ack_ids = deliveries.iter().map(|delivery| delivery.ack_id.clone()).collect();
                for delivery in deliveries {
                    print_delivery(delivery);
                }
                requests
                    .send(pb::SubscribeRequest { request: Some(Request::Ack(pb::Acknowledge { ack_ids })) })
                    .await?;
            }
            Some(Response::Acknowledged(confirmation)) => {
                confirmed += confirmation.ack_ids.len() as u64;
                if args.count.is_some_and(|count| confirmed >= count) {
                    return Ok(());
                }
            }
            None => {}
        }
    }
    Ok(())
}

fn print_delivery(delivery: &pb::Delivery) {
    let Some(envelope) = &delivery.envelope else {
        return;
    };
    let kind = pb::Kind::try_from(envelope.kind).map(|kind| kind.as_str_name()).unwrap_or("?");
    // The gateway stores every message with its canonical banner.
    let banner = envelope.markings.as_ref().map_or("?", |markings| markings.banner.as_str());
    println!(
        "#{} attempt {} | {} from {} | {} {} | {} | {}",
        delivery.stream_sequence,
        delivery.delivery_attempt,
        envelope.id,
        envelope.origin,
        kind,
        envelope.topic,
        banner,
        envelope.title
    );
    match std::str::from_utf8(&envelope.body) {
        Ok(text) => println!("  {}", text.replace('\n', "\n  ")),
        Err(_) => println!("  <{} bytes of {}>", envelope.body.len(), envelope.content_type),
    }
}
