//! What a subscription session hands its response stream, turned into `SubscribeResponse`s there.

use tonic::Status;

use crate::api as pb;

/// What a session hands the response stream. Small (32 bytes) on purpose: the channel carrying these is
/// made per subscription and allocates room for 32 of them at once, so a `SubscribeResponse` (about
/// 120 bytes, for the rare `opened`) would cost an idle subscription 3.6 KiB instead of 1.
pub enum Outgoing {
    Opened(Box<pb::SubscriptionOpened>),
    Deliveries(Vec<pb::Delivery>),
    Acknowledged(Vec<String>),
    Failed(Status),
}

const _: () = assert!(std::mem::size_of::<Outgoing>() <= 32, "Outgoing grew: see its comment");

impl Outgoing {
    pub fn into_response(self) -> Result<pb::SubscribeResponse, Status> {
        use pb::subscribe_response::Response;
        let response = match self {
            Outgoing::Opened(opened) => Response::Opened(*opened),
            Outgoing::Deliveries(deliveries) => Response::Deliveries(pb::DeliveryBatch { deliveries }),
            Outgoing::Acknowledged(ack_ids) => Response::Acknowledged(pb::AckConfirmation { ack_ids }),
            Outgoing::Failed(status) => return Err(status),
        };
        Ok(pb::SubscribeResponse { response: Some(response) })
    }
}
