//! Unit tests of `liaison serve` settings: flags, environment, file, and their validation.

use super::*;

#[test]
fn flags_override_file_over_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("liaison.toml");
    std::fs::write(&path, "# a comment\nlisten = \"127.0.0.1:9000\"\nmax-body-bytes = 2048\nstream-max-age = \"7d\"\n")
        .unwrap();
    let args = ServeArgs { config: Some(path.clone()), max_body_bytes: Some(4096), ..Default::default() };
    let config = ServeConfig::load(&args).unwrap();
    assert_eq!(config.listen, "127.0.0.1:9000".parse().unwrap());
    assert_eq!(config.limits.max_body_bytes, 4096);
    assert_eq!(config.stream.max_age, Duration::from_secs(7 * 86_400));
    assert_eq!(config.limits.publish_window, 256);
}

#[test]
fn bad_files_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("liaison.toml");
    std::fs::write(&path, "no-such-setting = 1\n").unwrap();
    let error = ServeConfig::load(&ServeArgs { config: Some(path.clone()), ..Default::default() }).unwrap_err();
    assert!(error.contains("no-such-setting"), "{error}");
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "[[rule]]\nname = \"x\"\nfrom = [\"ia\"]\nto = [\"nobody\"]\n").unwrap();
    std::fs::write(&path, format!("policy = {policy:?}\n")).unwrap();
    let error = ServeConfig::load(&ServeArgs { config: Some(path), ..Default::default() }).unwrap_err();
    assert!(error.ends_with("policy.toml:4: rule[0].to[0]: unknown party nobody"), "{error}");
}

#[test]
fn durable_expiry_is_a_month_by_default_zero_for_never_and_not_under_a_second() {
    assert_eq!(
        ServeConfig::load(&ServeArgs::default()).unwrap().limits.durable_expiry,
        crate::grpc::DEFAULT_DURABLE_EXPIRY
    );
    let never = ServeArgs { durable_expiry: Some(Duration::ZERO), ..Default::default() };
    assert!(ServeConfig::load(&never).unwrap().limits.durable_expiry.is_zero());
    let typo = ServeArgs { durable_expiry: Some(Duration::from_millis(500)), ..Default::default() };
    let error = ServeConfig::load(&typo).unwrap_err();
    assert!(error.starts_with("durable-expiry must be 0 (never) or at least 1s"), "{error}");
}

#[test]
fn the_token_lifetime_cap_is_a_month_by_default_and_the_retired_key_grace_follows_it() {
    let defaults = ServeConfig::load(&ServeArgs::default()).unwrap();
    assert_eq!(defaults.max_token_ttl, Duration::from_secs(30 * 86_400));
    assert_eq!(defaults.retired_key_grace, defaults.max_token_ttl);
    let revocations_kept = defaults.bus_config("nats://x").stream.revocation_max_age;
    assert_eq!(revocations_kept, defaults.max_token_ttl + Duration::from_secs(LEEWAY));
    let day = ServeArgs { max_token_ttl: Some(Duration::from_secs(86_400)), ..Default::default() };
    let config = ServeConfig::load(&day).unwrap();
    assert_eq!(config.retired_key_grace, Duration::from_secs(86_400));
    let zero = ServeArgs { max_token_ttl: Some(Duration::ZERO), ..Default::default() };
    assert!(ServeConfig::load(&zero).unwrap_err().starts_with("max-token-ttl"));
}

#[test]
fn the_example_file_is_valid_and_matches_the_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/liaison.example.toml");
    let config = ServeConfig::load(&ServeArgs { config: Some(path), ..Default::default() }).unwrap();
    let defaults = ServeConfig::load(&ServeArgs::default()).unwrap();
    assert_eq!(config.policy_files, defaults.policy_files);
    assert_eq!(config.limits, defaults.limits);
    assert_eq!(config.stream, defaults.stream);
    assert_eq!(config.listen, defaults.listen);
    assert_eq!(config.max_token_ttl, defaults.max_token_ttl);
    assert_eq!(config.retired_key_grace, defaults.retired_key_grace);
    assert_eq!(config.embedded_nats_sync, defaults.embedded_nats_sync);
}

#[test]
fn the_embedded_server_fsyncs_before_acknowledging_by_default_and_the_setting_is_refused_beside_nats_url() {
    use crate::embedded::SyncPolicy;
    assert_eq!(ServeConfig::load(&ServeArgs::default()).unwrap().embedded_nats_sync, SyncPolicy::Always);
    let interval = SyncPolicy::Every(Duration::from_secs(120));
    let relaxed = ServeArgs { embedded_nats_sync: Some(interval), ..Default::default() };
    assert_eq!(ServeConfig::load(&relaxed).unwrap().embedded_nats_sync, interval);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("liaison.toml");
    std::fs::write(&path, "embedded-nats-sync = \"30s\"\n").unwrap();
    let from_file = ServeArgs { config: Some(path.clone()), ..Default::default() };
    assert_eq!(ServeConfig::load(&from_file).unwrap().embedded_nats_sync, SyncPolicy::Every(Duration::from_secs(30)));
    let external =
        ServeArgs { nats: NatsFlags { nats_url: Some("nats://n1:4222".into()), ..Default::default() }, ..from_file };
    let error = ServeConfig::load(&external).unwrap_err();
    assert!(error.starts_with("embedded-nats-sync applies to the embedded nats-server only"), "{error}");
    std::fs::write(&path, "embedded-nats-sync = \"never\"\n").unwrap();
    let error = ServeConfig::load(&ServeArgs { config: Some(path), ..Default::default() }).unwrap_err();
    assert!(error.contains("expected `always` or a duration"), "{error}");
}

#[test]
fn audit_limits_are_flags_with_defaults_and_zero_budgets_are_refused() {
    let defaults = ServeConfig::load(&ServeArgs::default()).unwrap();
    assert_eq!(defaults.limits.audit_query_scan_budget, 1_000_000);
    let args = ServeArgs { audit_query_scan_budget: Some(50), ..Default::default() };
    assert_eq!(ServeConfig::load(&args).unwrap().limits.audit_query_scan_budget, 50);
    let zero = ServeArgs { audit_query_scan_budget: Some(0), ..Default::default() };
    assert!(ServeConfig::load(&zero).unwrap_err().starts_with("audit-query-scan-budget"));
    assert_eq!(defaults.limits.simulate_scan_budget, 20_000_000);
    let args = ServeArgs { simulate_scan_budget: Some(70), ..Default::default() };
    assert_eq!(ServeConfig::load(&args).unwrap().limits.simulate_scan_budget, 70);
    let zero = ServeArgs { simulate_scan_budget: Some(0), ..Default::default() };
    assert!(ServeConfig::load(&zero).unwrap_err().starts_with("simulate-scan-budget"));

    assert_eq!(defaults.limits.max_unknown_recipients, 8);
    let too_many = ServeArgs { max_unknown_recipients: Some(257), ..Default::default() };
    assert!(ServeConfig::load(&too_many).unwrap_err().starts_with("max-unknown-recipients must be 0 to 256"));
    assert_eq!(defaults.stream.audit_max_bytes, 4 * 1024 * 1024 * 1024);
    let unlimited = ServeArgs { audit_max_bytes: Some(0), ..Default::default() };
    assert_eq!(ServeConfig::load(&unlimited).unwrap().bus_config("nats://x").stream.audit_max_bytes, 0);
    let beyond = ServeArgs { audit_max_bytes: Some(u64::MAX), ..Default::default() };
    assert!(ServeConfig::load(&beyond).unwrap_err().starts_with("audit-max-bytes must be at most"));
}
