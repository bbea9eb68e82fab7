//! Hostile input below the typed API: bytes that are not a protobuf message in a well-formed gRPC call,
//! and TCP connections that are not HTTP/2 at all or stall after its preface.

use std::time::Duration;

use bytes::{Buf, BufMut, Bytes};
use http::uri::PathAndQuery;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Channel;

use super::tally::Outcome;

/// How long a connection is watched for the gateway to close it.
const CLOSE_WAIT: Duration = Duration::from_secs(3);

/// Sends and receives message bytes as they are: no protobuf on the way out.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }

    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, destination: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        destination.put(item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = tonic::Status;

    fn decode(&mut self, source: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, tonic::Status> {
        Ok(Some(source.copy_to_bytes(source.remaining())))
    }
}

/// Pseudo-random bytes (xorshift, seeded by `seed`): not a protobuf message, nor HTTP/2.
pub fn noise(seed: u64, length: usize) -> Bytes {
    let mut state = seed | 1;
    (0..length)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect::<Vec<u8>>()
        .into()
}

/// A unary Publish whose request message is `body` as it is.
pub async fn publish_bytes(channel: Channel, authorization: &str, body: Bytes) -> Outcome {
    let mut grpc = tonic::client::Grpc::new(channel);
    if grpc.ready().await.is_err() {
        return Outcome::Transport;
    }
    let mut request = tonic::Request::new(body);
    if let Ok(value) = authorization.parse() {
        request.metadata_mut().insert("authorization", value);
    }
    let path = PathAndQuery::from_static("/liaison.v1.GatewayService/Publish");
    Outcome::of(&grpc.unary(request, path, RawCodec).await)
}

/// A TCP connection that sends `first` (bytes that are not HTTP/2, or only its preface) and then waits:
/// the gateway closing it within a few seconds is a refusal, a connection still open is accepted.
pub async fn raw_connection(address: &str, first: &[u8]) -> Outcome {
    let Ok(mut stream) = tokio::net::TcpStream::connect(address).await else { return Outcome::Transport };
    if stream.write_all(first).await.is_err() {
        return Outcome::Closed;
    }
    let mut buffer = [0u8; 4096];
    let watched = tokio::time::timeout(CLOSE_WAIT, async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    });
    match watched.await {
        Ok(()) => Outcome::Closed,
        Err(_) => Outcome::Accepted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_repeatable_and_not_a_message() {
        assert_eq!(noise(7, 64), noise(7, 64));
        assert_ne!(noise(7, 64), noise(8, 64));
        let decoded = <crate::api::PublishRequest as prost::Message>::decode(noise(7, 4096));
        assert!(decoded.is_err(), "noise should not decode as a PublishRequest");
    }
}
