//! The subject space. Every stored copy lives under its recipient:
//!
//! `liaison.feed.<recipient>.<origin>.<kind>.<topic>[.<precedence>]`
//!
//! so "everything delivered to CBP" is `liaison.feed.cbp.>` and "CBP's reporting as received by I&A" is
//! `liaison.feed.ia.cbp.>`. Every token has passed the token grammar, so no caller can change a subject's
//! shape.
//!
//! The last token is the copy's *lane*: `flash`, `immediate` or `priority`, and none for ROUTINE, which
//! keeps the subject every copy had before lanes existed (so copies stored by an earlier version are read
//! in the routine lane). A feed reads each lane through its own consumer and hands out the highest lane
//! first ([`super::feed`]).

use crate::model::{Kind, PartyId, Precedence, Topic};
use crate::router::Approval;

/// Root of everything Liaison puts on NATS.
pub const SUBJECT_ROOT: &str = "liaison";

/// The JetStream stream holding every recipient's copies (`liaison.feed.>`).
pub const FEED_STREAM: &str = "LIAISON_FEED";

/// The JetStream stream holding dead letters (`liaison.dead.>`), kept apart from the feeds.
pub const DEAD_LETTER_STREAM: &str = "LIAISON_DEAD";

/// The JetStream stream holding the dissemination audit (`liaison.audit.<chain>`), append-only.
pub const AUDIT_STREAM: &str = "LIAISON_AUDIT";

/// `liaison.audit.>`.
pub(crate) fn audit_wildcard() -> String {
    format!("{SUBJECT_ROOT}.audit.>")
}

/// The subject of one gateway's audit chain.
pub fn audit_subject(chain: &str) -> String {
    format!("{SUBJECT_ROOT}.audit.{chain}")
}

/// Most filter subjects one subscription may expand to (origins x kinds x topics).
pub const MAX_FILTER_SUBJECTS: usize = 256;

pub(crate) fn feed_wildcard() -> String {
    format!("{SUBJECT_ROOT}.feed.>")
}

pub(crate) fn dead_letter_wildcard() -> String {
    format!("{SUBJECT_ROOT}.dead.>")
}

/// The dead-letter subject for a feed subject: `liaison.feed.X...` becomes `liaison.dead.X...`; the
/// wildcard of one party's dead letters for a party token.
pub fn dead_letter_subject(feed_subject: &str) -> String {
    let rest = feed_subject.strip_prefix(SUBJECT_ROOT).and_then(|rest| rest.strip_prefix(".feed.")).unwrap_or("_");
    format!("{SUBJECT_ROOT}.dead.{rest}")
}

/// Every dead letter of one party's feed: `liaison.dead.<party>.>`.
pub fn party_dead_letters(party: &PartyId) -> String {
    format!("{SUBJECT_ROOT}.dead.{party}.>")
}

/// The feed subject a dead letter came from (the inverse of [`dead_letter_subject`]).
pub(crate) fn feed_subject_of_dead_letter(dead_subject: &str) -> Option<String> {
    let rest = dead_subject.strip_prefix(SUBJECT_ROOT)?.strip_prefix(".dead.")?;
    Some(format!("{SUBJECT_ROOT}.feed.{rest}"))
}

/// The subject of one approved copy.
pub fn delivery_subject(approval: &Approval) -> String {
    let (recipient, origin, topic) = (approval.recipient(), approval.origin(), approval.topic());
    feed_subject(recipient, origin, approval.kind(), topic, approval.precedence())
}

/// The feed subject of one (recipient, origin, kind, topic) in the lane of `precedence`.
pub fn feed_subject(
    recipient: &PartyId,
    origin: &PartyId,
    kind: Kind,
    topic: &Topic,
    precedence: Precedence,
) -> String {
    // Made for every copy: joined by hand, since `format!` took 2.5 % of the gateway's CPU here.
    let lane = lane_token(precedence);
    let tokens = [recipient.as_str(), origin.as_str(), kind.token(), topic.as_str()];
    let length = FEED_PREFIX.len() + tokens.iter().map(|token| token.len() + 1).sum::<usize>();
    let mut subject = String::with_capacity(length + lane.map_or(0, |lane| lane.len() + 1));
    subject.push_str(FEED_PREFIX);
    for token in tokens.into_iter().chain(lane) {
        subject.push('.');
        subject.push_str(token);
    }
    subject
}

/// What every feed subject starts with.
const FEED_PREFIX: &str = "liaison.feed";

/// The lane token of a precedence: none for ROUTINE.
fn lane_token(precedence: Precedence) -> Option<&'static str> {
    (precedence != Precedence::Routine).then(|| precedence.name())
}

/// The lane of a feed subject: its precedence token, or ROUTINE for a subject without one.
pub fn lane_of(feed_subject: &str) -> Precedence {
    match feed_subject.split('.').nth(6) {
        Some(token) => Precedence::from_name(token).unwrap_or_default(),
        None => Precedence::Routine,
    }
}

/// The filter subjects of a feed's lane: recipient fixed, then the cross product of the filters, with
/// `*` for an empty list, then the lane's token. Returns `None` when the product exceeds
/// [`MAX_FILTER_SUBJECTS`].
pub fn feed_filter_subjects(
    recipient: &PartyId,
    origins: &[PartyId],
    kinds: &[Kind],
    topics: &[Topic],
    precedence: Precedence,
) -> Option<Vec<String>> {
    let count = origins.len().max(1) * kinds.len().max(1) * topics.len().max(1);
    if count > MAX_FILTER_SUBJECTS {
        return None;
    }
    let or_any = |values: Vec<String>| {
        if values.is_empty() { vec!["*".to_string()] } else { values }
    };
    let origins = or_any(origins.iter().map(ToString::to_string).collect());
    let kinds = or_any(kinds.iter().map(|kind| kind.token().to_string()).collect());
    let topics = or_any(topics.iter().map(ToString::to_string).collect());
    let lane = lane_token(precedence).map(|lane| format!(".{lane}")).unwrap_or_default();
    let mut subjects = Vec::with_capacity(count);
    for origin in &origins {
        for kind in &kinds {
            for topic in &topics {
                subjects.push(format!("{SUBJECT_ROOT}.feed.{recipient}.{origin}.{kind}.{topic}{lane}"));
            }
        }
    }
    Some(subjects)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Token;

    fn token(value: &str) -> Token {
        Token::parse(value).unwrap()
    }

    #[test]
    fn filters_multiply_with_wildcards_for_empty_lists() {
        let all = feed_filter_subjects(&token("ia"), &[], &[], &[], Precedence::Routine).unwrap();
        assert_eq!(all, ["liaison.feed.ia.*.*.*"]);
        let origins = [token("cbp"), token("fbi")];
        let some = feed_filter_subjects(&token("ia"), &origins, &[Kind::RfiResponse], &[], Precedence::Routine);
        assert_eq!(some.unwrap(), ["liaison.feed.ia.cbp.rfi-response.*", "liaison.feed.ia.fbi.rfi-response.*"]);
    }

    #[test]
    fn a_lane_other_than_routine_ends_its_subjects_with_its_precedence() {
        let flash = feed_filter_subjects(&token("ia"), &[], &[Kind::Alert], &[], Precedence::Flash).unwrap();
        assert_eq!(flash, ["liaison.feed.ia.*.alert.*.flash"]);
        let (ia, cbp, topic) = (token("ia"), token("cbp"), token("border"));
        let routine = feed_subject(&ia, &cbp, Kind::Alert, &topic, Precedence::Routine);
        assert_eq!(routine, "liaison.feed.ia.cbp.alert.border", "routine keeps the subject of earlier versions");
        let flash = feed_subject(&ia, &cbp, Kind::Alert, &topic, Precedence::Flash);
        assert_eq!(flash, "liaison.feed.ia.cbp.alert.border.flash");
        assert_eq!(super::FEED_PREFIX, format!("{}.feed", super::SUBJECT_ROOT));
        for precedence in Precedence::ALL {
            let subject = feed_subject(&ia, &cbp, Kind::Alert, &topic, precedence);
            assert_eq!(lane_of(&subject), precedence, "{subject}");
            let filters = feed_filter_subjects(&ia, &[], &[], &[], precedence).unwrap();
            for other in Precedence::ALL {
                let matches = crate::bus::permissions::subject_matches(&filters[0], &subject_of(other));
                assert_eq!(matches, other == precedence, "{} against {}", filters[0], subject_of(other));
            }
        }
        fn subject_of(precedence: Precedence) -> String {
            feed_subject(&token("ia"), &token("cbp"), Kind::Alert, &token("border"), precedence)
        }
    }

    #[test]
    fn too_many_filter_subjects_is_refused() {
        let many: Vec<Token> = (0..20).map(|n| token(&format!("p{n}"))).collect();
        assert!(feed_filter_subjects(&token("ia"), &many, &Kind::ALL, &many, Precedence::Routine).is_none());
    }
}
