//! PublishStream answers every request in order with a receipt or an in-band error, keeps going after a bad
//! request, completes under a tiny backpressure window, stores copies in publish order, and refuses analysts.

use crate::common;

use std::time::Duration;

use common::*;
use liaison::api as pb;
use liaison::identity::Role;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;

const WAIT: Duration = Duration::from_secs(30);

/// What one request of a stream should get back.
enum Want {
    /// A receipt: delivered to `ia`.
    Stored,
    /// An in-band error with this code and a message containing the field or rule.
    Refused(Code, &'static str),
    /// No answer: the stream ends here with this status code (when the request cannot even be decoded);
    /// nothing after it is checked.
    Broken(Code),
}

/// Sends `requests` through one PublishStream (fed by a producer task through a small channel, so the
/// client side feels backpressure too), checks every response against its `Want` in request order, and
/// that the stream then ends cleanly (or with the status of a `Broken` request). Returns the stream
/// sequences of the stored requests.
async fn check(client: &mut Client, requests: Vec<(pb::Envelope, Want)>) -> Vec<u64> {
    let (sender, outgoing) = mpsc::channel(8);
    let (envelopes, wants): (Vec<_>, Vec<_>) = requests.into_iter().unzip();
    let total = envelopes.len();
    let producer = tokio::spawn(async move {
        let mut sent = 0usize;
        for envelope in envelopes {
            let request = pb::PublishStreamRequest { envelope: Some(envelope) };
            if sender.send(request).await.is_err() {
                break;
            }
            sent += 1;
        }
        sent
    });
    let mut responses = tokio::time::timeout(WAIT, client.publish_stream(ReceiverStream::new(outgoing)))
        .await
        .expect("PublishStream opened in time")
        .expect("PublishStream accepted")
        .into_inner();

    let deadline = tokio::time::Instant::now() + WAIT;
    let mut sequences = Vec::new();
    for (position, want) in wants.iter().enumerate() {
        if let Want::Broken(code) = want {
            let end = tokio::time::timeout_at(deadline, responses.message()).await;
            let end = end.expect("stream ended in time");
            let status = end.expect_err(&format!("request {position}: expected status {code:?}"));
            assert_eq!(status.code(), *code, "request {position}: {status:?}");
            producer.abort();
            return sequences;
        }
        let response = tokio::time::timeout_at(deadline, responses.message())
            .await
            .unwrap_or_else(|_| panic!("only {position} of {total} responses arrived in time"))
            .unwrap_or_else(|status| panic!("stream failed after {position} responses: {status:?}"))
            .unwrap_or_else(|| panic!("stream ended after {position} of {total} responses"));
        assert_eq!(response.request_index, position as u64, "responses out of order");
        use pb::publish_stream_response::Result as Answer;
        match (want, response.result) {
            (Want::Stored, Some(Answer::Receipt(receipt))) => {
                assert_eq!(receipt.outcomes.len(), 1, "request {position}: {receipt:?}");
                let sequence = delivered_sequence(&receipt, "ia");
                if let Some(&previous) = sequences.last() {
                    assert!(sequence > previous, "request {position}: sequence {sequence} after {previous}");
                }
                sequences.push(sequence);
            }
            (Want::Refused(code, needle), Some(Answer::Error(error))) => {
                assert_eq!(error.code, *code as i32, "request {position}: {error:?}");
                assert!(error.message.contains(needle), "request {position}: {:?} lacks {needle:?}", error.message);
            }
            (Want::Broken(_), _) => unreachable!(),
            (Want::Stored, other) => {
                panic!("request {position}: expected a receipt, got {other:?}")
            }
            (Want::Refused(code, _), other) => {
                panic!("request {position}: expected error {code:?}, got {other:?}")
            }
        }
    }
    let end = tokio::time::timeout_at(deadline, responses.message()).await.expect("stream ended in time");
    assert!(matches!(end, Ok(None)), "expected a clean end of the stream, got {end:?}");
    let sent = tokio::time::timeout_at(deadline, producer).await.expect("producer finished").unwrap();
    assert_eq!(sent, total, "the gateway stopped reading requests");
    sequences
}

/// A message to `ia` whose body names its position.
fn numbered(index: usize) -> pb::Envelope {
    envelope(&["ia"], "money-laundering", format!("stream message {index}").as_bytes())
}

/// Reads `ia`'s feed from the beginning, up to and including a sentinel published last, and returns the
/// (sequence, body) of everything before it; so nothing stored by mistake can hide.
async fn feed_of_ia(gateway: &TestGateway, publisher: &mut Client, count: usize) -> Vec<(u64, String)> {
    let sentinel = envelope(&["ia"], "money-laundering", b"sentinel");
    let sentinel = tokio::time::timeout(WAIT, publish(publisher, sentinel)).await.unwrap();
    let mut analyst = gateway.client("ia", Role::Analyst).await;
    let open = pb::OpenSubscription { start: from_beginning(), ..Default::default() };
    let mut subscription =
        tokio::time::timeout(WAIT, subscribe(&mut analyst, open)).await.expect("opened in time").unwrap();
    let deliveries = subscription.take(count + 1, WAIT).await;
    let last = deliveries.last().unwrap();
    assert_eq!(last.stream_sequence, delivered_sequence(&sentinel, "ia"));
    assert_eq!(last.envelope.as_ref().unwrap().body.as_ref(), b"sentinel");
    deliveries[..count]
        .iter()
        .map(|delivery| {
            let envelope = delivery.envelope.as_ref().unwrap();
            assert_eq!(envelope.origin, "cbp");
            (delivery.stream_sequence, String::from_utf8(envelope.body.to_vec()).unwrap())
        })
        .collect()
}

#[tokio::test]
async fn five_hundred_publishes_come_back_in_order_and_are_stored_in_order() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;

    let requests = (0..500).map(|index| (numbered(index), Want::Stored)).collect();
    let sequences = check(&mut cbp, requests).await;
    assert_eq!(sequences.len(), 500);

    let feed = feed_of_ia(&gateway, &mut cbp, 500).await;
    let expected: Vec<(u64, String)> =
        sequences.iter().enumerate().map(|(index, &sequence)| (sequence, format!("stream message {index}"))).collect();
    assert_eq!(feed, expected);
}

#[tokio::test]
async fn a_bad_request_gets_an_in_band_error_and_the_stream_goes_on() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;

    let mut requests: Vec<(pb::Envelope, Want)> = (0..20).map(|index| (numbered(index), Want::Stored)).collect();
    requests[5] = (envelope(&["ia"], "money-laundering", b""), Want::Refused(Code::InvalidArgument, "envelope.body"));
    requests[9] =
        (envelope(&["ia"], "Bad.Topic", b"bad topic"), Want::Refused(Code::InvalidArgument, "envelope.topic"));
    let mut spoofed = numbered(12);
    spoofed.origin = "fbi".into();
    requests[12] = (spoofed, Want::Refused(Code::PermissionDenied, "envelope.origin"));
    let oversize = envelope(&["ia"], "money-laundering", &vec![b'x'; 1024 * 1024 + 1]);
    requests[13] = (oversize, Want::Refused(Code::ResourceExhausted, "envelope.body"));
    requests[19] = (
        envelope(&["IA"], "money-laundering", b"bad recipient"),
        Want::Refused(Code::InvalidArgument, "envelope.recipients[0]"),
    );

    let sequences = check(&mut cbp, requests).await;
    let good: Vec<usize> = (0..20).filter(|index| ![5, 9, 12, 13, 19].contains(index)).collect();
    assert_eq!(sequences.len(), good.len());

    // Only the accepted requests were stored, in request order.
    let feed = feed_of_ia(&gateway, &mut cbp, good.len()).await;
    let expected: Vec<(u64, String)> =
        good.iter().zip(&sequences).map(|(index, &sequence)| (sequence, format!("stream message {index}"))).collect();
    assert_eq!(feed, expected);
}

#[tokio::test]
async fn a_window_of_four_still_completes_two_hundred_in_order() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start_with(Some(nats.url()), |config| config.limits.publish_window = 4).await;
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;

    let requests = (0..200).map(|index| (numbered(index), Want::Stored)).collect();
    let sequences = check(&mut cbp, requests).await;
    assert_eq!(sequences.len(), 200);

    // A second stream on the same connection afterwards works too: nothing was left stuck.
    let more = check(&mut cbp, (200..210).map(|index| (numbered(index), Want::Stored)).collect()).await;
    assert!(more[0] > sequences[199]);

    let feed = feed_of_ia(&gateway, &mut cbp, 210).await;
    let expected: Vec<(u64, String)> = sequences
        .iter()
        .chain(&more)
        .enumerate()
        .map(|(index, &sequence)| (sequence, format!("stream message {index}")))
        .collect();
    assert_eq!(feed, expected);
}

#[tokio::test]
async fn only_agency_systems_may_open_a_publish_stream() {
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start(&nats).await;
    for role in [Role::Analyst, Role::Operator] {
        let mut client = gateway.client("ia", role).await;
        let (sender, outgoing) = mpsc::channel(4);
        sender.send(pb::PublishStreamRequest { envelope: Some(numbered(0)) }).await.unwrap();
        // The refusal may come with the response headers or as the first message.
        let status = match tokio::time::timeout(WAIT, client.publish_stream(ReceiverStream::new(outgoing)))
            .await
            .expect("answered in time")
        {
            Err(status) => status,
            Ok(response) => match tokio::time::timeout(WAIT, response.into_inner().message()).await.unwrap() {
                Err(status) => status,
                Ok(other) => panic!("{role:?}: expected PERMISSION_DENIED, got {other:?}"),
            },
        };
        assert_eq!(status.code(), Code::PermissionDenied, "{role:?}: {status:?}");
        assert!(status.message().contains(&format!("role {}", role.name())), "{status:?}");
        assert!(status.message().contains("agency-system"), "{status:?}");
    }

    // Nothing was stored by the refused streams.
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    let mut ia = gateway.client("ia", Role::AgencySystem).await;
    let sentinel = envelope(&["ia"], "money-laundering", b"sentinel");
    let sentinel = tokio::time::timeout(WAIT, publish(&mut cbp, sentinel)).await.unwrap();
    let open = pb::OpenSubscription { start: from_beginning(), ..Default::default() };
    let subscription = tokio::time::timeout(WAIT, subscribe(&mut ia, open)).await;
    let first = subscription.unwrap().unwrap().take(1, WAIT).await;
    assert_eq!(first[0].stream_sequence, delivered_sequence(&sentinel, "ia"));
}

#[tokio::test]
async fn a_request_too_large_to_decode_ends_the_stream_with_an_error() {
    // With a 1 KiB body limit the gateway decodes requests of at most about 137 KiB; a 1 MiB request
    // cannot be decoded, so the stream cannot go on, but it must not end with OK as though every request
    // had been answered: the client would take the missing answers for lost.
    let nats = NatsServer::start().await;
    let gateway = TestGateway::start_with(Some(nats.url()), |config| config.limits.max_body_bytes = 1024).await;
    let mut cbp = gateway.client("cbp", Role::AgencySystem).await;
    let huge = envelope(&["ia"], "money-laundering", &vec![b'x'; 1024 * 1024]);
    let requests = vec![(numbered(0), Want::Stored), (huge, Want::Broken(Code::ResourceExhausted))];
    check(&mut cbp, requests).await;
}
