//! Seek: moves an existing durable subscription of the caller's party to a time, a sequence or the
//! beginning. Open sessions on it re-attach and continue from there (see `bus::feed`).

use crate::api as pb;
use crate::bus::Start;
use crate::identity::Caller;
use crate::identity::authorization::{Action, Scope};
use crate::model::Token;

use super::server::Gateway;
use super::{GatewayError, convert};

// === impl Gateway ===

impl Gateway {
    pub(super) async fn seek_durable(
        &self,
        caller: &Caller,
        request: pb::SeekRequest,
    ) -> Result<pb::SeekResponse, GatewayError> {
        // A durable is always the caller's party's: its name is scoped by the party (`<party>_<durable>`).
        self.authorize(caller, Action::Seek, Scope::Own)?;
        let (durable, start) = seek_target(&request)?;
        self.quotas.check_consumer(caller)?;
        let (subscription_id, pending) = self.bus.seek(&caller.party, &durable, start).await?;
        tracing::info!(party = %caller.party, subject = %caller.subject, durable = %durable, ?start, "seek");
        Ok(pb::SeekResponse { subscription_id, pending })
    }
}

/// Validates a Seek request: the durable's name and the position to move it to.
pub(super) fn seek_target(request: &pb::SeekRequest) -> Result<(Token, Start), GatewayError> {
    use pb::seek_request::Target;
    let durable = convert::token("durable_name", &request.durable_name)?;
    let start = match &request.target {
        None => return Err(GatewayError::InvalidArgument("target: one of time, sequence or beginning".into())),
        Some(Target::Time(time)) => Start::Time(convert::start_time("time", time)?),
        Some(Target::Sequence(0)) => {
            return Err(GatewayError::InvalidArgument("sequence: sequences start at 1".into()));
        }
        Some(Target::Sequence(sequence)) => Start::Sequence(*sequence),
        Some(Target::Beginning(())) => Start::All,
    };
    Ok((durable, start))
}
