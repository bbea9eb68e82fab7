//! Liaison: a message broker for liaison intelligence.
//!
//! Agency systems publish reports over gRPC to a gateway; a router decides, per recipient, whether each
//! message may go there and why; approved copies are stored on NATS JetStream subjects keyed per
//! recipient; analysts read their party's feed over a StreamingPull-style gRPC stream with acks.
//!
//! # Layout
//!
//! - [`model`]: domain types shared by every layer — subject tokens, parties, kinds, markings.
//! - [`audit`]: dissemination audit records in tamper-evident hash chains (pure; stored by `bus`).
//! - [`retention`]: what is kept about each message for review, purge and correction (pure).
//! - [`disclosure`]: foreign-disclosure review of RELIDO material held for a party (pure).
//! - [`speed`]: speed of service: each precedence's objective and the acknowledgement marks (pure).
//! - [`rfi`]: requests for information as a tracked workflow — statuses, who may make which transition,
//!   due times (pure).
//! - [`router`]: the pure policy decision, per recipient, with reasons. No I/O.
//! - [`policy_check`]: checking a policy change offline — test cases, a diff, a replay of recorded
//!   decisions through a draft (pure).
//! - [`policy_store`]: the live router: policy files, reload on change and SIGHUP, atomic swap.
//! - [`bus`]: everything NATS — connection and provisioning, the runtime credential's permissions,
//!   subjects, the streams and buckets, publishing and pull consumers.
//! - [`identity`]: signed bearer tokens, roles, revocations, the signing key, and the authorization table
//!   (role x scope x RPC).
//! - [`api`]: the generated `liaison.v1` protobuf and gRPC types.
//! - [`grpc`]: the gateway service — authentication, validation, one file per RPC, errors to status.
//! - [`embedded`]: the supervised local nats-server of the default `liaison serve`, and its credentials.
//! - [`config`]: `liaison serve` settings from flags, environment and a TOML file.
//! - [`metrics`]: the admin HTTP port — Prometheus `/metrics`, `/healthz`, `/readyz`.
//! - [`telemetry`]: logs to stderr and, optionally, trace spans over OTLP to a collector.
//! - [`app`]: assembles and runs a gateway from its configuration.
//! - [`traffic`]: per-subject traffic accounting for operators (counters, active subscriptions, lag).
//! - [`files`]: data-directory files written whole (temporary file, sync, rename), for readers in other
//!   processes.
//! - [`tls`]: the local CA and server certificate made on first start; certificate names for mTLS.
//! - [`cli`]: the `liaison` command line (serve, provision, token, publish, subscribe, route, policy, audit,
//!   retention, orcon, disclosure, top, bench).
//! - [`bench`]: the benchmark harness, the gateway beside raw NATS; its raw baseline talks to NATS
//!   directly by design.
//!
//! Dependencies point one way: `grpc` -> `router` -> `model`, and `grpc` -> `bus`; only `grpc`, `api`
//! and the CLI clients know protobuf, and only `bus` (and the embedded supervisor) know NATS.

pub mod api;
pub mod app;
pub mod audit;
pub mod bench;
pub mod bus;
pub mod cli;
pub mod config;
pub mod disclosure;
pub mod embedded;
pub mod files;
pub mod grpc;
pub mod identity;
pub mod metrics;
pub mod model;
pub mod policy_check;
pub mod policy_store;
pub mod retention;
pub mod rfi;
pub mod router;
pub mod speed;
pub mod telemetry;
pub mod tls;
pub mod traffic;
