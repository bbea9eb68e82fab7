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

#[cfg(test)]
mod tests {
    use super::*;
    use pb::seek_request::Target;

    fn seek(target: Option<Target>) -> Result<(Token, Start), GatewayError> {
        seek_target(&pb::SeekRequest { durable_name: "watch".into(), target })
    }

    fn at(seconds: i64) -> Option<Target> {
        Some(Target::Time(prost_types::Timestamp { seconds, nanos: 0 }))
    }

    #[test]
    fn a_seek_names_a_durable_and_a_position_between_1970_and_now() {
        assert!(matches!(seek(Some(Target::Beginning(()))), Ok((_, Start::All))));
        assert!(matches!(seek(Some(Target::Sequence(u64::MAX))), Ok((_, Start::Sequence(u64::MAX)))));
        assert!(matches!(seek(at(0)), Ok((_, Start::Time(time))) if time.unix_timestamp() == 0));
        for (target, needle) in [
            (None, "target: one of time, sequence or beginning"),
            (Some(Target::Sequence(0)), "sequence: sequences start at 1"),
            (at(-1), "time: 1969-12-31T23:59:59Z is before 1970-01-01T00:00:00Z"),
            (at(i64::MIN), "time: out of range"),
            (at(253_402_300_799), "time: 9999-12-31T23:59:59Z is in the future"),
        ] {
            let error = seek(target).unwrap_err();
            assert!(matches!(&error, GatewayError::InvalidArgument(text) if text.starts_with(needle)), "{error}");
        }
        let unnamed = pb::SeekRequest { durable_name: "Not A Token".into(), target: Some(Target::Beginning(())) };
        let error = seek_target(&unnamed).unwrap_err();
        assert!(matches!(&error, GatewayError::InvalidArgument(text) if text.starts_with("durable_name: ")), "{error}");
    }
}
