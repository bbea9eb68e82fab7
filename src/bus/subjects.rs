//! The subject space. Every stored copy lives under its recipient:
//!
//! `liaison.feed.<recipient>.<origin>.<kind>.<topic>`
//!
//! so "everything delivered to CBP" is `liaison.feed.cbp.>` and "CBP's reporting as received by I&A" is
//! `liaison.feed.ia.cbp.>`. Every token has passed the token grammar, so no caller can change a subject's
//! shape.

use crate::model::{Kind, PartyId, Topic};
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

/// The feed subject a dead letter came from (the inverse of [`dead_letter_subject`]).
pub(crate) fn feed_subject_of_dead_letter(dead_subject: &str) -> Option<String> {
    let rest = dead_subject.strip_prefix(SUBJECT_ROOT)?.strip_prefix(".dead.")?;
    Some(format!("{SUBJECT_ROOT}.feed.{rest}"))
}

/// The subject of one approved copy.
pub fn delivery_subject(approval: &Approval) -> String {
    feed_subject(approval.recipient(), approval.origin(), approval.kind(), approval.topic())
}

/// The feed subject of one (recipient, origin, kind, topic).
pub fn feed_subject(recipient: &PartyId, origin: &PartyId, kind: Kind, topic: &Topic) -> String {
    format!("{SUBJECT_ROOT}.feed.{recipient}.{origin}.{}.{topic}", kind.token())
}

/// The filter subjects of a feed: recipient fixed, then the cross product of the filters, with `*` for an
/// empty list. Returns `None` when the product exceeds [`MAX_FILTER_SUBJECTS`].
pub fn feed_filter_subjects(
    recipient: &PartyId,
    origins: &[PartyId],
    kinds: &[Kind],
    topics: &[Topic],
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
    let mut subjects = Vec::with_capacity(count);
    for origin in &origins {
        for kind in &kinds {
            for topic in &topics {
                subjects.push(format!("{SUBJECT_ROOT}.feed.{recipient}.{origin}.{kind}.{topic}"));
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
        let all = feed_filter_subjects(&token("ia"), &[], &[], &[]).unwrap();
        assert_eq!(all, ["liaison.feed.ia.*.*.*"]);
        let some =
            feed_filter_subjects(&token("ia"), &[token("cbp"), token("fbi")], &[Kind::RfiResponse], &[]).unwrap();
        assert_eq!(some, ["liaison.feed.ia.cbp.rfi-response.*", "liaison.feed.ia.fbi.rfi-response.*"]);
    }

    #[test]
    fn too_many_filter_subjects_is_refused() {
        let many: Vec<Token> = (0..20).map(|n| token(&format!("p{n}"))).collect();
        assert!(feed_filter_subjects(&token("ia"), &many, &Kind::ALL, &many).is_none());
    }
}
