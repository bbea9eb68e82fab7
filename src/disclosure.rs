//! Foreign-disclosure review (RELIDO). Material bound for a foreign party that its REL TO does not cover,
//! but that an information disclosure official may release (marked RELIDO, or classified and uncaveated),
//! is neither delivered nor denied: the router holds it (`router::Outcome::Hold`) and the gateway keeps a
//! [`HeldItem`] until a disclosure officer of the origin party (or of a party with oversight) approves or
//! denies it, or it expires. Approving releases the copy with the recipient's country added to its REL TO
//! ([`released_markings`]), optionally narrowed to a sanitised title and body.
//!
//! The decisions here are pure; `grpc/disclosure.rs` applies them and `bus/held.rs` stores the items.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::model::{MarkingError, Markings};

/// How long an item waits for a decision unless the gateway is told otherwise (`--disclosure-hold`).
pub const DEFAULT_HOLD: Duration = Duration::from_secs(7 * 24 * 3600);

/// One copy held for review: what the officer sees (metadata, never the body) and the stored copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldItem {
    pub message_id: String,
    pub origin: String,
    pub recipient: String,
    /// Subject token of the kind (`report` ...).
    pub kind: String,
    pub topic: String,
    /// The canonical banner of the markings as published.
    pub banner: String,
    pub precedence: String,
    pub title: String,
    /// The rule that would deliver it once released, and its need-to-know basis.
    pub rule: String,
    pub basis: String,
    /// Why it was not released.
    pub explanation: String,
    #[serde(with = "time::serde::rfc3339")]
    pub held_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// The encoded copy for the recipient, as it would have been stored.
    #[serde(with = "base64_bytes")]
    pub copy: Vec<u8>,
}

impl HeldItem {
    /// The item's key: one per message and recipient.
    pub fn key(&self) -> String {
        HeldItem::key_of(&self.message_id, &self.recipient)
    }

    pub fn key_of(message_id: &str, recipient: &str) -> String {
        format!("{message_id}.{recipient}")
    }

    pub fn expired(&self, now: OffsetDateTime) -> bool {
        now >= self.expires_at
    }

    /// How long it has waited.
    pub fn age(&self, now: OffsetDateTime) -> Duration {
        Duration::try_from(now - self.held_at).unwrap_or_default()
    }
}

/// The markings an approval releases to a party of `nationality`: the held markings with that country
/// added to REL TO (after USA), RELIDO kept, everything else unchanged.
pub fn released_markings(held: &Markings, nationality: &str) -> Result<Markings, MarkingError> {
    let mut released = held.clone();
    if released.rel_to.is_empty() {
        released.rel_to.push("USA".to_string());
    }
    if !released.rel_to.iter().any(|code| code == nationality) {
        released.rel_to.push(nationality.to_string());
    }
    released.canonicalize();
    released.validate()?;
    Ok(released)
}

mod base64_bytes {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        base64::engine::general_purpose::STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn markings(banner: &str) -> Markings {
        Markings::from_banner(banner).unwrap()
    }

    #[test]
    fn an_approval_adds_the_recipients_country_to_rel_to_and_keeps_the_rest() {
        let released = released_markings(&markings("SECRET"), "CAN").unwrap();
        assert_eq!(released.banner(), "SECRET//REL TO USA, CAN");
        let released = released_markings(&markings("SECRET//REL TO USA, GBR/RELIDO"), "CAN").unwrap();
        assert_eq!(released.banner(), "SECRET//REL TO USA, CAN, GBR/RELIDO");
        let released = released_markings(&markings("TOP SECRET//SI//RELIDO"), "AUS").unwrap();
        assert_eq!(released.banner(), "TOP SECRET//SI//REL TO USA, AUS/RELIDO");
    }

    #[test]
    fn an_item_round_trips_as_json_and_knows_its_age() {
        let at = OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
        let item = HeldItem {
            message_id: "01M".into(),
            origin: "ia".into(),
            recipient: "can".into(),
            kind: "report".into(),
            topic: "counter-terrorism".into(),
            banner: "SECRET".into(),
            precedence: "routine".into(),
            title: "t".into(),
            rule: "r".into(),
            basis: "b".into(),
            explanation: "e".into(),
            held_at: at,
            expires_at: at + Duration::from_secs(60),
            copy: vec![0, 1, 2, 255],
        };
        let json = serde_json::to_string(&item).unwrap();
        assert!(json.contains("\"copy\":\"AAEC/w==\""), "the copy is base64: {json}");
        assert_eq!(serde_json::from_str::<HeldItem>(&json).unwrap(), item);
        assert_eq!(item.key(), "01M.can");
        assert!(!item.expired(at + Duration::from_secs(59)) && item.expired(at + Duration::from_secs(60)));
        assert_eq!(item.age(at + Duration::from_secs(30)), Duration::from_secs(30));
    }
}
