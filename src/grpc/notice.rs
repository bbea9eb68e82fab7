//! The gateway's own notices about an earlier message (a refused or expired hold, an overdue RFI, a
//! missed speed of service): unclassified envelopes of kind NOTICE naming the message and why, with nothing
//! of its content. Each caller says what the notice is about; the envelope around it is made here.

use time::OffsetDateTime;

use super::convert;
use crate::api as pb;

/// What one notice says.
pub(super) struct Notice<'a> {
    pub id: &'a str,
    /// The party the notice is sent on behalf of (the originator of the message it is about).
    pub origin: &'a str,
    pub topic: &'a str,
    pub in_reply_to: &'a str,
    pub precedence: pb::Precedence,
    pub title: String,
    pub body: String,
    /// `liaison.*` attributes, the first of them `liaison.notice` naming the kind of notice.
    pub attributes: Vec<(&'static str, String)>,
}

impl Notice<'_> {
    /// The notice as an envelope: unclassified, plain text, stamped now.
    pub(super) fn envelope(self) -> pb::Envelope {
        pb::Envelope {
            id: self.id.to_string(),
            origin: self.origin.to_string(),
            kind: pb::Kind::Notice as i32,
            topic: self.topic.to_string(),
            markings: Some(pb::Markings {
                classification: pb::Classification::Unclassified as i32,
                banner: "UNCLASSIFIED".into(),
                ..Default::default()
            }),
            precedence: self.precedence as i32,
            created_at: Some(convert::timestamp(OffsetDateTime::now_utc())),
            in_reply_to: self.in_reply_to.to_string(),
            title: self.title,
            body: self.body.into(),
            content_type: "text/plain".into(),
            attributes: self.attributes.into_iter().map(|(name, value)| (name.to_string(), value)).collect(),
            ..Default::default()
        }
    }
}
