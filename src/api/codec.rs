//! The gRPC codec: prost, with smaller per-stream buffers than tonic's default.
//!
//! tonic gives every stream an 8 KiB encode and an 8 KiB decode buffer up front. An idle Subscribe stream
//! never needs them, and 10,000 idle subscriptions held 160 MiB of them. Buffers here start at 1 KiB and
//! grow as a message needs (tonic reserves what an encoded message takes), so busy streams pay a few
//! reallocations and idle ones almost nothing. Wired in by `build.rs` (`codec_path`), for servers and
//! clients alike.

use std::marker::PhantomData;

use tonic::codec::{BufferSettings, Codec};
use tonic_prost::{ProstCodec, ProstDecoder, ProstEncoder};

/// Initial buffer of each stream's encoder and decoder.
const BUFFER_SIZE: usize = 1024;
/// Encoded bytes a streaming encoder gathers before yielding them (tonic's default).
const YIELD_THRESHOLD: usize = 32 * 1024;

/// prost encoding with 1 KiB initial buffers.
#[derive(Debug, Clone)]
pub struct SmallBufferCodec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for SmallBufferCodec<T, U> {
    fn default() -> Self {
        SmallBufferCodec(PhantomData)
    }
}

impl<T, U> Codec for SmallBufferCodec<T, U>
where
    T: prost::Message + Send + 'static,
    U: prost::Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = ProstDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstCodec::<T, U>::raw_encoder(BufferSettings::new(BUFFER_SIZE, YIELD_THRESHOLD))
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstCodec::<T, U>::raw_decoder(BufferSettings::new(BUFFER_SIZE, YIELD_THRESHOLD))
    }
}
