//! `liaison.v1.Delivery`, written by hand so that the gateway can send a stored envelope as the bytes it
//! was stored as.
//!
//! Every copy in the feed stream is an encoded `Envelope`, and a delivery's field 5 is that envelope: on
//! the wire an embedded message and a `bytes` field are the same thing (tag, length, bytes). prost's
//! generated type holds the field decoded, so every delivery was decoded for the session's checks and
//! encoded again for the client; the encoding alone was 1.5 µs of the gateway's 19 µs per delivered
//! message. [`Delivery::stored_envelope`] carries the stored bytes instead, and encoding copies them as they
//! are. Decoding, for clients, fills [`Delivery::envelope`] as the generated type did, so the message is
//! the one `proto/liaison/v1/gateway.proto` describes (`build.rs` maps `.liaison.v1.Delivery` here with
//! `extern_path`; reflection serves the proto's descriptor). prost has no option for a message field kept
//! encoded, hence the hand-written [`prost::Message`] impl; it follows prost-derive's output for the same
//! fields, and the tests check it against a derived twin.

use bytes::{Buf, BufMut, Bytes};
use prost::DecodeError;
use prost::encoding::{self, DecodeContext, WireType};

use super::Envelope;

/// One delivery of one message.
#[derive(Clone, PartialEq, Default, Debug)]
pub struct Delivery {
    /// Pass this back in Acknowledge, NegativeAcknowledge or ExtendDeadline.
    pub ack_id: String,
    /// The message's sequence in the stream.
    pub stream_sequence: u64,
    /// 1 for the first delivery, then 2, 3 ... for redeliveries.
    pub delivery_attempt: u32,
    /// When the stream stored the message.
    pub stored_at: Option<prost_types::Timestamp>,
    /// The message, decoded: what a client reads. Not sent when [`Delivery::stored_envelope`] is set.
    pub envelope: Option<Envelope>,
    /// The message as the stream stored it, an encoded `Envelope`: what the gateway sends, as field 5,
    /// in place of [`Delivery::envelope`]. Never set by decoding.
    pub stored_envelope: Option<Bytes>,
}

const ENVELOPE: u32 = 5;

impl prost::Message for Delivery {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        if !self.ack_id.is_empty() {
            encoding::string::encode(1, &self.ack_id, buf);
        }
        if self.stream_sequence != 0 {
            encoding::uint64::encode(2, &self.stream_sequence, buf);
        }
        if self.delivery_attempt != 0 {
            encoding::uint32::encode(3, &self.delivery_attempt, buf);
        }
        if let Some(stored_at) = &self.stored_at {
            encoding::message::encode(4, stored_at, buf);
        }
        match (&self.stored_envelope, &self.envelope) {
            (Some(stored), _) => encoding::bytes::encode(ENVELOPE, stored, buf),
            (None, Some(envelope)) => encoding::message::encode(ENVELOPE, envelope, buf),
            (None, None) => {}
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        let in_field = |field: &'static str| {
            move |mut error: DecodeError| {
                error.push("Delivery", field);
                error
            }
        };
        match tag {
            1 => encoding::string::merge(wire_type, &mut self.ack_id, buf, ctx).map_err(in_field("ack_id")),
            2 => encoding::uint64::merge(wire_type, &mut self.stream_sequence, buf, ctx)
                .map_err(in_field("stream_sequence")),
            3 => encoding::uint32::merge(wire_type, &mut self.delivery_attempt, buf, ctx)
                .map_err(in_field("delivery_attempt")),
            4 => encoding::message::merge(wire_type, self.stored_at.get_or_insert_with(Default::default), buf, ctx)
                .map_err(in_field("stored_at")),
            ENVELOPE => {
                encoding::message::merge(wire_type, self.envelope.get_or_insert_with(Default::default), buf, ctx)
                    .map_err(in_field("envelope"))
            }
            _ => encoding::skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        let mut len = 0;
        if !self.ack_id.is_empty() {
            len += encoding::string::encoded_len(1, &self.ack_id);
        }
        if self.stream_sequence != 0 {
            len += encoding::uint64::encoded_len(2, &self.stream_sequence);
        }
        if self.delivery_attempt != 0 {
            len += encoding::uint32::encoded_len(3, &self.delivery_attempt);
        }
        if let Some(stored_at) = &self.stored_at {
            len += encoding::message::encoded_len(4, stored_at);
        }
        len + match (&self.stored_envelope, &self.envelope) {
            (Some(stored), _) => encoding::bytes::encoded_len(ENVELOPE, stored),
            (None, Some(envelope)) => encoding::message::encoded_len(ENVELOPE, envelope),
            (None, None) => 0,
        }
    }

    fn clear(&mut self) {
        *self = Delivery::default();
    }
}

#[cfg(test)]
mod tests;
