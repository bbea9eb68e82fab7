//! The integration suite, one test binary: each module is one area of behaviour, run against real
//! nats-server processes that the tests start themselves (`common`). One binary instead of one per file
//! keeps the debug build small enough for CI's disk and links once instead of thirty times.
//! `tests/tracing_spans.rs` stays a binary of its own because it installs a global tracing subscriber.

mod common;

mod abuse_limits;
mod acks;
mod audit;
mod audit_integrity;
mod audit_limits;
mod authorization;
mod bad_input;
mod bench_rig;
mod bench_smoke;
mod cli;
mod cluster;
mod connection_limits;
mod criminal_intelligence;
mod dead_letters;
mod disclosure;
mod durable;
mod embedded;
mod expiry;
mod failover;
mod flow_control;
mod markings;
mod metrics_access;
mod nats_permissions;
mod new_user;
mod operator_access;
mod orcon;
mod personal_clearance;
mod policy_reload;
mod policy_safety;
mod precedence;
mod publish_stream;
mod replay;
mod retention;
mod rfi;
mod rfi_access;
mod round_trip;
mod router_properties;
mod routing;
mod serve;
mod service_endpoints;
mod shared_policy;
mod shared_withholding;
mod speed_of_service;
mod tls;
mod tokens;
mod traffic;
