//! The network edge: protobuf conversion and validation ([`grpc`]), the server that wires a
//! directory backend and serves every protocol on one port ([`server`]) through the accept loop
//! with its connection limits (`listener`, `conn`) and TLS ([`tls`]), the admission of calls
//! (`auth`, `access`, `admission` and `admit`, `deadline`, `shutdown`), the live reload of the config on
//! `SIGHUP` (`reload`), the admin listener (`admin`: metrics and probes), and the compose page
//! ([`web`]). Only this layer (and the client tools) know protobuf and tonic.

pub(crate) mod access;
pub(crate) mod admin;
pub(crate) mod admission;
mod admit;
pub mod answer;
pub(crate) mod audit;
pub(crate) mod auth;
mod browser;
pub(crate) mod caller;
pub mod codec;
mod conn;
pub(crate) mod deadline;
#[cfg(test)]
mod fuzz;
pub mod grpc;
mod handler;
mod heavy;
mod listener;
mod reload;
pub mod request;
pub mod server;
pub(crate) mod shutdown;
pub mod tls;
mod watch;
pub mod web;

/// Generated protobuf types and gRPC stubs for `mailtips.v1`.
#[allow(clippy::all, missing_docs)]
pub mod pb {
    tonic::include_proto!("mailtips.v1");
    // The server, generated apart so that `GetMailTips` answers with `api::answer::Answer`
    // (build.rs).
    include!(concat!(env!("OUT_DIR"), "/server/mailtips.v1.rs"));
}
