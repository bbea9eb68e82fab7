//! The gRPC layer: the only module (with `api` and the CLI clients) that knows protobuf types.
//!
//! It authenticates every call, converts requests into domain types, asks the router, hands approved copies
//! to the bus, and turns every error into a `tonic::Status` in one place (`error.rs`).

mod audit_query;
mod auth;
pub(crate) mod convert;
mod dead_letters;
mod disclosure;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod notice;
mod operator;
mod orcon;
mod publish;
mod publish_stream;
mod quota;
mod retention;
mod review_due;
mod rfi;
mod seek;
mod server;
mod service;
mod shared_policy;
mod simulate;
mod speed;
mod subscribe;
mod traffic_watch;

pub use error::GatewayError;
pub use operator::check_route;
pub use server::{ConnectionLimits, DEFAULT_DURABLE_EXPIRY, Gateway, Limits, MAX_DELIVERY_ATTEMPTS, ServerTls, serve};
pub use speed::speed_sweep_interval;
