//! The NATS headers Liaison sets on stored messages. Metadata only: operators can read these (and the
//! subject) without ever fetching a payload. Feed copies carry only what they need (see `Bus::store`);
//! dead letters carry all of these.

/// The message id (ULID) of a dead letter (feed copies carry it in their payload only).
pub const MESSAGE_ID: &str = "Liaison-Message-Id";
/// On a redriven copy: the one subscription (consumer name) it is meant for; others skip it.
pub const REDRIVE_FOR: &str = "Liaison-Redrive-For";
/// On a dead letter: the feed stream sequence it came from.
pub const FEED_SEQUENCE: &str = "Liaison-Feed-Sequence";
/// On a dead letter: the subscription that gave up on it.
pub const SUBSCRIPTION: &str = "Liaison-Subscription";
/// On a dead letter: delivery attempts made.
pub const ATTEMPTS: &str = "Liaison-Attempts";
/// On a dead letter: why it was dead-lettered.
pub const REASON: &str = "Liaison-Reason";
