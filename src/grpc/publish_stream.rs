//! PublishStream: pipelined publishing with in-order responses and a bounded window as backpressure.
//!
//! Requests are validated, routed and their audit records queued one after another; each one's audit ack
//! and storage acks are awaited concurrently with the others', and its copies are sent once its record is
//! stored and the request before it has sent its own (so copies are stored in request order). While `publish_window` responses are unanswered the
//! gateway stops reading, and HTTP/2 flow control pushes back on the client. A bad request gets an error
//! response in its place and does not end the stream.

use futures::stream::FuturesOrdered;
use futures::{FutureExt, Stream, StreamExt};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, Streaming};
use tracing::Instrument;

use crate::api as pb;
use crate::identity::Caller;
use crate::identity::authorization::{Action, Scope};

use super::publish::Turn;
use super::quota::Call;
use super::server::Gateway;
use super::{GatewayError, error};

type Response = Result<pb::PublishStreamResponse, Status>;

/// Starts the publishing task and returns the response stream.
pub fn start(
    gateway: Gateway,
    caller: Caller,
    requests: Streaming<pb::PublishStreamRequest>,
) -> Result<impl Stream<Item = Response>, Status> {
    gateway.authorize(&caller, Action::PublishStream, Scope::Own)?;
    let slot = gateway.quotas.open_call(&caller, Call::PublishStream)?;
    let (responses, receiver) = mpsc::channel(gateway.limits.publish_window.max(1));
    let span = tracing::info_span!("publish_stream", party = %caller.party);
    let task = async move {
        let _slot = slot;
        run(gateway, caller, requests, responses).await
    };
    tokio::spawn(tracing::Instrument::instrument(task, span));
    Ok(ReceiverStream::new(receiver))
}

async fn run(
    gateway: Gateway,
    caller: Caller,
    mut requests: Streaming<pb::PublishStreamRequest>,
    responses: mpsc::Sender<Response>,
) {
    let window = gateway.limits.publish_window.max(1);
    let mut in_flight = FuturesOrdered::new();
    let mut next_index: u64 = 0;
    let mut reading = true;
    // The previous request's turn: its copies are sent before the next request's.
    let mut previous: Option<tokio::sync::oneshot::Receiver<()>> = None;
    let idle = gateway.limits.idle_timeout;
    // One timer for the stream, moved on only when it fires (not re-armed for every request): idle time
    // counts from the last request read or answer sent, and only while nothing is in flight.
    let mut active_at = Instant::now();
    let idle_timer = tokio::time::sleep(idle);
    tokio::pin!(idle_timer);
    // Why reading stopped, if the request stream failed: sent after the answers already owed.
    let mut broken = None;
    loop {
        tokio::select! {
            biased;
            Some(response) = in_flight.next(), if !in_flight.is_empty() => {
                active_at = Instant::now();
                if responses.send(Ok(response)).await.is_err() {
                    return;
                }
            }
            request = requests.message(), if reading && in_flight.len() < window => match request {
                Ok(Some(request)) => {
                    active_at = Instant::now();
                    let index = next_index;
                    next_index += 1;
                    // One span per request, as for a unary publish, covering routing and storage.
                    let span = super::publish::publish_span(&caller);
                    let answer = match gateway.prepare(&caller, request.envelope).instrument(span.clone()).await {
                        Ok(prepared) => {
                            let (sent, next) = tokio::sync::oneshot::channel();
                            let turn = Turn { after: previous.replace(next), sent: Some(sent) };
                            prepared.finish(turn).instrument(span).map(move |result| respond(index, result)).boxed()
                        }
                        Err(error) => futures::future::ready(respond(index, Err(error))).boxed(),
                    };
                    in_flight.push_back(answer);
                }
                Ok(None) => reading = false,
                Err(status) => {
                    tracing::debug!(%status, request_index = next_index, "publish stream broke");
                    broken = Some(error::request_status(status, gateway.limits.max_body_bytes));
                    reading = false;
                }
            },
            () = &mut idle_timer, if reading => {
                let now = Instant::now();
                if in_flight.is_empty() && now >= active_at + idle {
                    broken = Some(Status::deadline_exceeded(format!("idle for {}s with nothing sent", idle.as_secs())));
                    reading = false;
                } else {
                    idle_timer.as_mut().reset((active_at + idle).max(now + (idle / 4).max(std::time::Duration::from_millis(10))));
                }
            }
            () = gateway.shutdown.cancelled(), if reading => reading = false,
            else => break,
        }
    }
    let end = match broken {
        Some(status) => Some(Status::new(
            status.code(),
            format!("request {next_index}: {}; requests before it were answered", status.message()),
        )),
        None if gateway.shutdown.is_cancelled() => Some(GatewayError::ShuttingDown.into()),
        None => None,
    };
    if let Some(status) = end {
        let _ = responses.send(Err(status)).await;
    }
}

fn respond(index: u64, result: Result<pb::Receipt, GatewayError>) -> pb::PublishStreamResponse {
    use pb::publish_stream_response::Result as Answer;
    let result = match result {
        Ok(receipt) => Answer::Receipt(receipt),
        Err(error) => Answer::Error(pb::PublishError { code: error.code() as i32, message: error.to_string() }),
    };
    pb::PublishStreamResponse { request_index: index, result: Some(result) }
}
