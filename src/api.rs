//! The generated `liaison.v1` protobuf and gRPC code, and the encoded descriptor set for reflection.
//!
//! Only the gRPC layer (`grpc`) and the client commands (`cli`) use these types. Every generated service
//! and client encodes with [`codec::SmallBufferCodec`].

#![allow(clippy::all, missing_docs)]

pub mod codec;
mod delivery;

pub use delivery::Delivery;

tonic::include_proto!("liaison.v1");

/// The encoded file descriptor set of `liaison.v1` and its imports, served by gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("liaison_descriptor");
