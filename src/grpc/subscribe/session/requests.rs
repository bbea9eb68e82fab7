//! A subscribe session's client requests after `open`: acks (plain or confirmed), nacks and deadline
//! extensions, each applied to the deliveries the session holds.

use futures::FutureExt;
use tonic::Status;

use super::Session;
use crate::api as pb;
use crate::bus::Settle;
use crate::grpc::subscribe::{LONGEST_BACKOFF, ack_ids};
use crate::grpc::{GatewayError, convert};

impl Session {
    /// Applies one client request after `open`.
    pub(super) async fn handle(&mut self, request: pb::SubscribeRequest) -> Result<(), Status> {
        use pb::subscribe_request::Request;
        match request.request {
            Some(Request::Open(_)) => {
                Err(GatewayError::InvalidArgument("open: may only be sent once, as the first request".into()).into())
            }
            Some(Request::Ack(ack)) => {
                let sequences = ack_ids::sequences("ack.ack_ids", &ack.ack_ids, self.max_ack_ids())?;
                if self.window.confirm_acks {
                    self.ack_confirmed(&sequences);
                    return Ok(());
                }
                let mut acked = Vec::with_capacity(sequences.len());
                for (sequence, handle, _) in self.take_held(&sequences) {
                    self.outstanding.remember_ack(sequence);
                    self.feed.settle(&handle, Settle::Ack).await.map_err(GatewayError::from)?;
                    acked.push(sequence);
                }
                self.gateway.note_acked(&self.caller.party, acked);
                Ok(())
            }
            Some(Request::Nack(nack)) => {
                let sequences = ack_ids::sequences("nack.ack_ids", &nack.ack_ids, self.max_ack_ids())?;
                let requested = match &nack.redelivery_delay {
                    None => None,
                    Some(delay) => Some(convert::duration("nack.redelivery_delay", delay)?),
                };
                for (_, handle, attempt) in self.take_held(&sequences) {
                    let window = &self.window;
                    let delay =
                        ack_ids::nack_delay(requested, window.retry, attempt, window.max_attempts, LONGEST_BACKOFF);
                    self.feed.settle(&handle, Settle::Nack(delay)).await.map_err(GatewayError::from)?;
                }
                Ok(())
            }
            Some(Request::Extend(extend)) => {
                for sequence in ack_ids::sequences("extend.ack_ids", &extend.ack_ids, self.max_ack_ids())? {
                    if let Some(handle) = self.outstanding.extend(sequence, self.window.ack_deadline) {
                        self.feed.settle(&handle, Settle::Extend).await.map_err(GatewayError::from)?;
                    }
                }
                Ok(())
            }
            None => {
                Err(GatewayError::InvalidArgument("request: one of open, ack, nack or extend is required".into())
                    .into())
            }
        }
    }

    fn max_ack_ids(&self) -> usize {
        self.gateway.limits.max_ack_ids
    }

    /// Forgets the held deliveries among `sequences`, returning their sequences, handles and attempts;
    /// unknown or expired ack ids are ignored.
    fn take_held(&mut self, sequences: &[u64]) -> Vec<(u64, crate::bus::AckHandle, u32)> {
        sequences
            .iter()
            .filter_map(|&sequence| {
                self.outstanding.remove(sequence).map(|(handle, attempt)| (sequence, handle, attempt))
            })
            .collect()
    }

    /// Acknowledges and, without holding up deliveries, waits for the stream to record each ack; the
    /// client is then told which ones it has. An ack that could not be confirmed is left out: the client
    /// may see that message again (from another session; this one re-acks any copy that reaches it).
    fn ack_confirmed(&mut self, sequences: &[u64]) {
        let mut acked = Vec::with_capacity(sequences.len());
        let confirmations: Vec<_> = sequences
            .iter()
            .filter_map(|&sequence| {
                let (handle, _) = self.outstanding.remove(sequence)?;
                self.outstanding.remember_ack(sequence);
                acked.push(sequence);
                let confirmed = self.feed.ack_confirmed(handle);
                let id = sequence.to_string();
                Some(async move {
                    match confirmed.await {
                        Ok(()) => Some(id),
                        Err(error) => {
                            tracing::debug!(ack_id = %id, %error, "ack not confirmed");
                            None
                        }
                    }
                })
            })
            .collect();
        self.confirmations
            .push(futures::future::join_all(confirmations).map(|ids| ids.into_iter().flatten().collect()).boxed());
        self.gateway.note_acked(&self.caller.party, acked);
    }
}
