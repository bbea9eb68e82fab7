//! When an RFI is due: the time its requester gave, or its precedence's speed of service (ACP 121: FLASH
//! handled within 10 minutes, IMMEDIATE 30 minutes, PRIORITY 3 hours, ROUTINE 6 hours; configurable with
//! `--rfi-due-flash` ...).

use std::time::Duration;

use time::OffsetDateTime;

use crate::model::Precedence;

/// The latest an RFI may be due: a year after it is opened.
pub const MAX_DUE: Duration = Duration::from_secs(365 * 86_400);

/// How long an RFI of each precedence has, unless its requester says when it is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueTimes {
    pub flash: Duration,
    pub immediate: Duration,
    pub priority: Duration,
    pub routine: Duration,
}

impl Default for DueTimes {
    fn default() -> Self {
        DueTimes {
            flash: Duration::from_secs(10 * 60),
            immediate: Duration::from_secs(30 * 60),
            priority: Duration::from_secs(3 * 3600),
            routine: Duration::from_secs(6 * 3600),
        }
    }
}

impl DueTimes {
    pub fn of(&self, precedence: Precedence) -> Duration {
        match precedence {
            Precedence::Flash => self.flash,
            Precedence::Immediate => self.immediate,
            Precedence::Priority => self.priority,
            Precedence::Routine => self.routine,
        }
    }
}

/// When an RFI opened `now` is due: `explicit` if given (after `now`, at most [`MAX_DUE`] ahead), else
/// `now` plus its precedence's time. The error names the field.
pub fn due_at(
    times: &DueTimes,
    precedence: Precedence,
    explicit: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> Result<OffsetDateTime, String> {
    match explicit {
        None => Ok(now + times.of(precedence)),
        Some(at) if at <= now => Err(format!("envelope.due_at: {at} is not in the future")),
        Some(at) if at > now + MAX_DUE => Err(format!("envelope.due_at: {at} is more than 365 days ahead")),
        Some(at) => Ok(at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_due_time_comes_from_the_precedence_unless_given() {
        let now = OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
        let times = DueTimes::default();
        let minutes = |precedence| (due_at(&times, precedence, None, now).unwrap() - now).whole_minutes();
        assert_eq!(minutes(Precedence::Flash), 10);
        assert_eq!(minutes(Precedence::Immediate), 30);
        assert_eq!(minutes(Precedence::Priority), 180);
        assert_eq!(minutes(Precedence::Routine), 360);
        let short = DueTimes { routine: Duration::from_secs(2), ..times };
        assert_eq!(due_at(&short, Precedence::Routine, None, now).unwrap(), now + Duration::from_secs(2));

        let later = now + Duration::from_secs(3600);
        assert_eq!(due_at(&times, Precedence::Flash, Some(later), now).unwrap(), later);
        let past = due_at(&times, Precedence::Flash, Some(now), now).unwrap_err();
        assert!(past.starts_with("envelope.due_at:") && past.contains("not in the future"), "{past}");
        let far = due_at(&times, Precedence::Flash, Some(now + MAX_DUE + Duration::from_secs(1)), now).unwrap_err();
        assert!(far.contains("more than 365 days"), "{far}");
    }
}
