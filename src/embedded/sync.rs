//! When nats-server fsyncs JetStream writes: before every acknowledgement, or on a timer.
//!
//! nats-server's own default is a timer of two minutes (`sync_interval: 2m`): a publish is acknowledged
//! once it is written to the operating system, and reaches the disk within two minutes. A process crash
//! loses nothing that way (the kernel still holds the data), but an OS crash or a power cut loses what was
//! acknowledged since the last fsync (README, *What a receipt survives*). `sync_interval: always` fsyncs
//! every write before it is acknowledged, on the stream stores and, since nats-server 2.10.23, on the Raft
//! logs of replicated streams. The embedded server and the shipped configurations use `always`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// nats-server's default interval, when its configuration does not set `sync_interval`.
pub const NATS_DEFAULT_SYNC_INTERVAL: Duration = Duration::from_secs(120);

/// Shortest interval accepted: below it `always` is what is meant.
const MIN_INTERVAL: Duration = Duration::from_millis(1);

/// The `jetstream { sync_interval }` of a nats-server configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncPolicy {
    /// fsync every write before acknowledging it.
    #[default]
    Always,
    /// fsync in the background this often; acknowledged writes may be lost to an OS crash meanwhile.
    Every(Duration),
}

// === impl SyncPolicy ===

impl SyncPolicy {
    /// The value of `sync_interval` in a nats-server configuration: `always`, or a Go duration.
    pub fn config_value(&self) -> String {
        match self {
            SyncPolicy::Always => "always".to_string(),
            SyncPolicy::Every(interval) => format!("{}ms", interval.as_millis()),
        }
    }

    /// Whether an acknowledged write is on disk.
    pub fn is_always(&self) -> bool {
        matches!(self, SyncPolicy::Always)
    }
}

impl FromStr for SyncPolicy {
    type Err = String;

    fn from_str(text: &str) -> Result<SyncPolicy, String> {
        if text.trim().eq_ignore_ascii_case("always") {
            return Ok(SyncPolicy::Always);
        }
        let interval = humantime::parse_duration(text.trim())
            .map_err(|error| format!("expected `always` or a duration such as `2m`, got {text:?}: {error}"))?;
        if interval < MIN_INTERVAL {
            return Err(format!("a sync interval must be at least 1ms (or `always`), got {text:?}"));
        }
        Ok(SyncPolicy::Every(interval))
    }
}

impl fmt::Display for SyncPolicy {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyncPolicy::Always => formatter.write_str("always"),
            SyncPolicy::Every(interval) => write!(formatter, "{}", humantime::format_duration(*interval)),
        }
    }
}

impl<'de> serde::Deserialize<'de> for SyncPolicy {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<SyncPolicy, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The `sync_interval` set inside the `jetstream { ... }` block of a nats-server configuration, if any.
pub fn configured_sync(config: &str) -> Option<String> {
    let start = config.lines().position(|line| line.trim_start().starts_with("jetstream {"))?;
    config
        .lines()
        .skip(start + 1)
        .take_while(|line| line.trim() != "}")
        .filter_map(|line| line.split('#').next())
        .find_map(|line| line.trim().strip_prefix("sync_interval:").map(|value| value.trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn always_and_durations_parse_and_anything_else_is_refused() {
        assert_eq!("always".parse(), Ok(SyncPolicy::Always));
        assert_eq!("ALWAYS".parse(), Ok(SyncPolicy::Always));
        assert_eq!("2m".parse(), Ok(SyncPolicy::Every(Duration::from_secs(120))));
        assert_eq!("250ms".parse(), Ok(SyncPolicy::Every(Duration::from_millis(250))));
        assert!("0s".parse::<SyncPolicy>().unwrap_err().contains("at least 1ms"));
        assert!("never".parse::<SyncPolicy>().unwrap_err().contains("expected `always` or a duration"));
        assert_eq!(SyncPolicy::default(), SyncPolicy::Always);
    }

    #[test]
    fn the_config_value_is_what_nats_server_reads() {
        assert_eq!(SyncPolicy::Always.config_value(), "always");
        // Go's time.ParseDuration: no spaces, so milliseconds rather than humantime's "1m 30s".
        assert_eq!(SyncPolicy::Every(Duration::from_secs(90)).config_value(), "90000ms");
        assert_eq!(SyncPolicy::Every(Duration::from_secs(90)).to_string(), "1m 30s");
    }

    #[test]
    fn the_setting_is_read_from_the_jetstream_block_only() {
        let config = "sync_interval: 2m\njetstream {\n  store_dir: x\n  sync_interval: always  # fsync\n}\n";
        assert_eq!(configured_sync(config).as_deref(), Some("always"));
        assert_eq!(configured_sync("jetstream {\n  store_dir: x\n}\nsync_interval: always\n"), None);
        assert_eq!(configured_sync("listen: 1\n"), None);
    }

    #[test]
    fn the_shipped_configurations_fsync_before_acknowledging() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let files = [
            "deploy/nats/nats-server.conf",
            "deploy/nats/cluster/nats-1.conf",
            "deploy/nats/cluster/nats-2.conf",
            "deploy/nats/cluster/nats-3.conf",
            "deploy/nats/cluster/loopback/nats-1.conf",
            "deploy/nats/cluster/loopback/nats-2.conf",
            "deploy/nats/cluster/loopback/nats-3.conf",
            "deploy/k8s/nats.conf",
        ];
        for file in files {
            let text = std::fs::read_to_string(root.join(file)).unwrap();
            assert_eq!(
                configured_sync(&text).as_deref(),
                Some("always"),
                "{file} must set `sync_interval: always` in its jetstream block"
            );
        }
    }
}
