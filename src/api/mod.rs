//! The network edge: protobuf conversion and validation ([`grpc`]), the server that wires a
//! directory backend and serves every protocol on one port ([`server`]), and the compose page
//! ([`web`]). Only this layer (and the client tools) know protobuf and tonic.

pub(crate) mod admin;
mod browser;
pub(crate) mod caller;
pub mod grpc;
mod reload;
pub mod server;
pub mod web;

/// Generated protobuf types and gRPC stubs for `mailtips.v1`.
#[allow(clippy::all, missing_docs)]
pub mod pb {
    tonic::include_proto!("mailtips.v1");
}
