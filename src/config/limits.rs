//! The request and connection limits of `liaison serve` (flags over the file over defaults), validated.

use std::time::Duration;

use super::{FileConfig, ServeArgs};
use crate::grpc::{ConnectionLimits, Limits, MAX_DELIVERY_ATTEMPTS};

/// Shortest durable expiry. An open session's pull requests keep its durable in use however short the
/// expiry (`tests/integration/durable.rs`); under a second is taken for a mistake.
const MIN_DURABLE_EXPIRY: Duration = Duration::from_secs(1);

/// The RFI due times by precedence; each at least a second and at most `rfi::MAX_DUE`.
fn rfi_due(
    args: &ServeArgs,
    file: &FileConfig,
    defaults: crate::rfi::DueTimes,
) -> Result<crate::rfi::DueTimes, String> {
    let times = crate::rfi::DueTimes {
        flash: setting(args.rfi_due_flash, file.rfi_due_flash, defaults.flash),
        immediate: setting(args.rfi_due_immediate, file.rfi_due_immediate, defaults.immediate),
        priority: setting(args.rfi_due_priority, file.rfi_due_priority, defaults.priority),
        routine: setting(args.rfi_due_routine, file.rfi_due_routine, defaults.routine),
    };
    for (name, time) in [
        ("flash", times.flash),
        ("immediate", times.immediate),
        ("priority", times.priority),
        ("routine", times.routine),
    ] {
        if time < Duration::from_secs(1) || time > crate::rfi::MAX_DUE {
            return Err(format!("rfi-due-{name} must be at least 1s and at most 365days"));
        }
    }
    Ok(times)
}

/// Every per-request and per-credential limit.
pub(super) fn limits(args: &ServeArgs, file: &FileConfig) -> Result<Limits, String> {
    let default_limits = Limits::default();
    let limits = Limits {
        max_body_bytes: setting(args.max_body_bytes, file.max_body_bytes, default_limits.max_body_bytes),
        publish_window: setting(args.publish_window, file.publish_window, default_limits.publish_window),
        publish_rate: setting(args.publish_rate, file.publish_rate, default_limits.publish_rate),
        max_subscriptions: setting(args.max_subscriptions, file.max_subscriptions, default_limits.max_subscriptions),
        idle_timeout: setting(args.idle_timeout, file.idle_timeout, default_limits.idle_timeout),
        max_delivery_attempts: setting(
            args.max_delivery_attempts,
            file.max_delivery_attempts,
            default_limits.max_delivery_attempts,
        ),
        durable_expiry: setting(args.durable_expiry, file.durable_expiry, default_limits.durable_expiry),
        max_publish_streams: setting(
            args.max_publish_streams,
            file.max_publish_streams,
            default_limits.max_publish_streams,
        ),
        max_audit_queries: setting(args.max_audit_queries, file.max_audit_queries, default_limits.max_audit_queries),
        max_traffic_watches: setting(
            args.max_traffic_watches,
            file.max_traffic_watches,
            default_limits.max_traffic_watches,
        ),
        consumer_rate: setting(args.consumer_rate, file.consumer_rate, default_limits.consumer_rate),
        max_durables_per_party: setting(
            args.max_durables_per_party,
            file.max_durables_per_party,
            default_limits.max_durables_per_party,
        ),
        max_ack_ids: setting(args.max_ack_ids, file.max_ack_ids, default_limits.max_ack_ids),
        connection: connection_limits(args, file)?,
        max_unknown_recipients: setting(
            args.max_unknown_recipients,
            file.max_unknown_recipients,
            default_limits.max_unknown_recipients,
        ),
        audit_query_scan_budget: setting(
            args.audit_query_scan_budget,
            file.audit_query_scan_budget,
            default_limits.audit_query_scan_budget,
        ),
        simulate_scan_budget: setting(
            args.simulate_scan_budget,
            file.simulate_scan_budget,
            default_limits.simulate_scan_budget,
        ),
        disclosure_hold: setting(args.disclosure_hold, file.disclosure_hold, default_limits.disclosure_hold),
        speed_of_service: match args.speed_of_service.as_deref().or(file.speed_of_service.as_deref()) {
            Some(text) => crate::speed::Objectives::parse(text)?,
            None => default_limits.speed_of_service,
        },
        rfi_due: rfi_due(args, file, default_limits.rfi_due)?,
        rfi_scan_limit: setting(args.rfi_scan_limit, file.rfi_scan_limit, default_limits.rfi_scan_limit),
        ..default_limits
    };
    if limits.rfi_scan_limit == 0 {
        return Err("rfi-scan-limit must be at least 1".into());
    }
    if limits.disclosure_hold < std::time::Duration::from_secs(1) {
        return Err("disclosure-hold must be at least 1s".into());
    }
    if limits.audit_query_scan_budget == 0 {
        return Err("audit-query-scan-budget must be at least 1".into());
    }
    if limits.simulate_scan_budget == 0 {
        return Err("simulate-scan-budget must be at least 1".into());
    }
    if limits.max_unknown_recipients > crate::router::MAX_RECIPIENTS {
        return Err(format!("max-unknown-recipients must be 0 to {}", crate::router::MAX_RECIPIENTS));
    }
    if limits.max_ack_ids == 0 {
        return Err("max-ack-ids must be at least 1".into());
    }
    if limits.max_body_bytes == 0 || limits.publish_window == 0 {
        return Err("max-body-bytes and publish-window must be at least 1".into());
    }
    if !(1..=MAX_DELIVERY_ATTEMPTS).contains(&limits.max_delivery_attempts) {
        return Err(format!("max-delivery-attempts must be 1 to {MAX_DELIVERY_ATTEMPTS}"));
    }
    if !limits.durable_expiry.is_zero() && limits.durable_expiry < MIN_DURABLE_EXPIRY {
        return Err(format!(
            "durable-expiry must be 0 (never) or at least {}",
            humantime::format_duration(MIN_DURABLE_EXPIRY)
        ));
    }
    Ok(limits)
}

/// A flag, else the file's setting, else the default.
fn setting<T>(flag: Option<T>, file: Option<T>, default: T) -> T {
    flag.or(file).unwrap_or(default)
}

/// HTTP/2 and TLS limits of client connections.
fn connection_limits(args: &ServeArgs, file: &FileConfig) -> Result<ConnectionLimits, String> {
    let default = ConnectionLimits::default();
    let limits = ConnectionLimits {
        max_concurrent_streams: setting(
            args.max_concurrent_streams,
            file.max_concurrent_streams,
            default.max_concurrent_streams,
        ),
        max_header_list_size: setting(
            args.max_header_list_size,
            file.max_header_list_size,
            default.max_header_list_size,
        ),
        keepalive_interval: setting(
            args.http2_keepalive_interval,
            file.http2_keepalive_interval,
            default.keepalive_interval,
        ),
        keepalive_timeout: setting(
            args.http2_keepalive_timeout,
            file.http2_keepalive_timeout,
            default.keepalive_timeout,
        ),
        tls_handshake_timeout: setting(
            args.tls_handshake_timeout,
            file.tls_handshake_timeout,
            default.tls_handshake_timeout,
        ),
    };
    if limits.max_concurrent_streams == 0 {
        return Err("max-concurrent-streams must be at least 1".into());
    }
    // The token alone can be a few KiB; below this every call would be refused.
    if limits.max_header_list_size < 4096 {
        return Err("max-header-list-size must be at least 4096 bytes".into());
    }
    if limits.keepalive_timeout.is_zero() || limits.tls_handshake_timeout.is_zero() {
        return Err("http2-keepalive-timeout and tls-handshake-timeout must be more than 0s".into());
    }
    Ok(limits)
}
