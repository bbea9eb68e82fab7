//! Speed of service: how long each precedence may wait for a subscriber's acknowledgement (pure).
//!
//! Every precedence has an objective (FLASH 10 minutes, IMMEDIATE 30 minutes, PRIORITY 3 hours, ROUTINE 6
//! hours by default; `--speed-of-service`). A copy that no subscriber of its recipient has acknowledged
//! once its objective has passed is a *miss*: counted by precedence and recipient, and for FLASH and
//! IMMEDIATE reported to the originator in a notice.
//!
//! Acknowledgements are kept as marks in bitmaps of [`CHUNK_SEQUENCES`] stream sequences each, one per
//! recipient and chunk, so that marking a batch of acks is one write and judging a run of copies one
//! read. The I/O (the marks and the judging cursor in a KV bucket, the sweep) is in `bus::speed` and
//! `grpc::speed`; this module only decides.

use std::time::Duration;

use time::OffsetDateTime;

use crate::model::Precedence;

/// Stream sequences per acknowledgement bitmap.
pub const CHUNK_SEQUENCES: u64 = 4096;
/// Bytes of one bitmap.
pub const CHUNK_BYTES: usize = (CHUNK_SEQUENCES / 8) as usize;

/// The objective of each precedence; zero means the precedence is not judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Objectives {
    pub flash: Duration,
    pub immediate: Duration,
    pub priority: Duration,
    pub routine: Duration,
}

impl Default for Objectives {
    /// Speed of service as military and government messaging defines it.
    fn default() -> Objectives {
        Objectives {
            flash: Duration::from_secs(10 * 60),
            immediate: Duration::from_secs(30 * 60),
            priority: Duration::from_secs(3 * 3600),
            routine: Duration::from_secs(6 * 3600),
        }
    }
}

impl Objectives {
    /// The objective of `precedence`, or `None` when it is not judged.
    pub fn of(&self, precedence: Precedence) -> Option<Duration> {
        let objective = match precedence {
            Precedence::Flash => self.flash,
            Precedence::Immediate => self.immediate,
            Precedence::Priority => self.priority,
            Precedence::Routine => self.routine,
        };
        (!objective.is_zero()).then_some(objective)
    }

    /// Parses `flash=10m,immediate=30m,...`: the precedences named are changed, the others keep their
    /// default; `0` stops judging one.
    pub fn parse(text: &str) -> Result<Objectives, String> {
        let mut objectives = Objectives::default();
        for part in text.split(',').map(str::trim).filter(|part| !part.is_empty()) {
            let (name, value) =
                part.split_once('=').ok_or_else(|| format!("speed-of-service: {part:?} is not precedence=duration"))?;
            let precedence = Precedence::from_name(name.trim())
                .ok_or_else(|| format!("speed-of-service: unknown precedence {:?}", name.trim()))?;
            let duration = match value.trim() {
                "0" => Duration::ZERO,
                value => humantime::parse_duration(value)
                    .map_err(|error| format!("speed-of-service: {name}={value}: {error}"))?,
            };
            if duration > MAX_OBJECTIVE {
                return Err(format!(
                    "speed-of-service: {name}={value} is over {}",
                    humantime::format_duration(MAX_OBJECTIVE)
                ));
            }
            *objectives.slot(precedence) = duration;
        }
        Ok(objectives)
    }

    /// The longest objective judged: how long acknowledgement marks must be kept.
    pub fn longest(&self) -> Duration {
        Precedence::ALL.into_iter().filter_map(|precedence| self.of(precedence)).max().unwrap_or_default()
    }

    /// The shortest objective judged, which sets how often the sweep runs.
    pub fn shortest(&self) -> Option<Duration> {
        Precedence::ALL.into_iter().filter_map(|precedence| self.of(precedence)).min()
    }

    fn slot(&mut self, precedence: Precedence) -> &mut Duration {
        match precedence {
            Precedence::Flash => &mut self.flash,
            Precedence::Immediate => &mut self.immediate,
            Precedence::Priority => &mut self.priority,
            Precedence::Routine => &mut self.routine,
        }
    }
}

/// Longest objective accepted: marks are kept this long at most.
pub const MAX_OBJECTIVE: Duration = Duration::from_secs(7 * 24 * 3600);

/// Is a copy stored at `stored_at` due to be judged at `now`: has its objective passed, with `grace` for
/// acknowledgement marks still on their way?
pub fn is_due(stored_at: OffsetDateTime, objective: Duration, grace: Duration, now: OffsetDateTime) -> bool {
    stored_at + objective + grace <= now
}

/// The chunk holding `sequence`'s mark, and the mark's bit in it.
pub fn chunk_of(sequence: u64) -> (u64, usize) {
    (sequence / CHUNK_SEQUENCES, (sequence % CHUNK_SEQUENCES) as usize)
}

/// Sets the marks of `sequences` that fall in `chunk` (an all-zero bitmap of the right size when
/// `bitmap` is shorter); returns whether anything changed.
pub fn mark(bitmap: &mut Vec<u8>, chunk: u64, sequences: &[u64]) -> bool {
    bitmap.resize(CHUNK_BYTES, 0);
    let mut changed = false;
    for &sequence in sequences {
        let (of, bit) = chunk_of(sequence);
        if of == chunk && bitmap[bit / 8] & (1 << (bit % 8)) == 0 {
            bitmap[bit / 8] |= 1 << (bit % 8);
            changed = true;
        }
    }
    changed
}

/// Is `sequence` marked in its chunk's `bitmap`?
pub fn is_marked(bitmap: &[u8], sequence: u64) -> bool {
    let (_, bit) = chunk_of(sequence);
    bitmap.get(bit / 8).is_some_and(|byte| byte & (1 << (bit % 8)) != 0)
}

/// Are misses of `precedence` reported to the originator?
pub fn notifies_originator(precedence: Precedence) -> bool {
    matches!(precedence, Precedence::Flash | Precedence::Immediate)
}

/// The words of the notice sent to the originator of a missed copy: its title and body.
pub fn notice_text(precedence: Precedence, message_id: &str, recipient: &str, objective: Duration) -> (String, String) {
    let name = precedence.name().to_uppercase();
    let objective = humantime::format_duration(objective);
    (
        format!("Speed of service missed: {name} message {message_id} to {recipient}"),
        format!(
            "No subscriber of {recipient} acknowledged {name} message {message_id} within its objective of \
             {objective}. Reach the recipient by other means if it cannot wait."
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_military_speeds_of_service_and_a_list_changes_only_what_it_names() {
        let defaults = Objectives::default();
        assert_eq!(defaults.of(Precedence::Flash), Some(Duration::from_secs(600)));
        assert_eq!(defaults.of(Precedence::Routine), Some(Duration::from_secs(6 * 3600)));
        let changed = Objectives::parse("flash=2s, routine=0").unwrap();
        assert_eq!(changed.of(Precedence::Flash), Some(Duration::from_secs(2)));
        assert_eq!(changed.of(Precedence::Routine), None, "0 stops judging ROUTINE");
        assert_eq!(changed.of(Precedence::Immediate), defaults.of(Precedence::Immediate));
        assert_eq!(changed.longest(), Duration::from_secs(3 * 3600));
        assert_eq!(changed.shortest(), Some(Duration::from_secs(2)));
        assert_eq!(Objectives::parse("").unwrap(), defaults);
    }

    #[test]
    fn a_bad_objective_list_is_refused_naming_the_part() {
        assert!(Objectives::parse("flash").unwrap_err().contains("\"flash\""));
        assert!(Objectives::parse("urgent=1m").unwrap_err().contains("unknown precedence \"urgent\""));
        assert!(Objectives::parse("flash=soon").unwrap_err().contains("flash=soon"));
        assert!(Objectives::parse("routine=30days").unwrap_err().contains("over"));
    }

    #[test]
    fn a_copy_is_due_once_its_objective_and_the_grace_have_passed() {
        let stored = OffsetDateTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let (objective, grace) = (Duration::from_secs(600), Duration::from_secs(2));
        assert!(!is_due(stored, objective, grace, stored + Duration::from_secs(601)));
        assert!(is_due(stored, objective, grace, stored + Duration::from_secs(602)));
    }

    #[test]
    fn marks_land_in_their_own_chunk_only_and_are_read_back() {
        let mut bitmap = Vec::new();
        let sequences = [4096, 4097, 8191, 8192, 3];
        assert!(mark(&mut bitmap, 1, &sequences));
        assert_eq!(bitmap.len(), CHUNK_BYTES);
        assert!(!mark(&mut bitmap, 1, &sequences), "marking again changes nothing");
        for sequence in [4096, 4097, 8191] {
            assert!(is_marked(&bitmap, sequence), "{sequence}");
        }
        assert!(!is_marked(&bitmap, 4098));
        assert_eq!(bitmap.iter().map(|byte| byte.count_ones()).sum::<u32>(), 3, "8192 and 3 are other chunks'");
        assert_eq!(chunk_of(8192), (2, 0));
    }

    #[test]
    fn only_flash_and_immediate_misses_are_reported_to_the_originator() {
        let reported: Vec<_> =
            Precedence::ALL.into_iter().filter(|precedence| notifies_originator(*precedence)).collect();
        assert_eq!(reported, [Precedence::Immediate, Precedence::Flash]);
        let (title, body) = notice_text(Precedence::Flash, "01J", "fbi", Duration::from_secs(600));
        assert_eq!(title, "Speed of service missed: FLASH message 01J to fbi");
        assert!(body.contains("within its objective of 10m"), "{body}");
    }
}
