//! mailtips: compose-time mail tips over gRPC, in the manner of Exchange Server 2013 MailTips.
//!
//! A mail client sends a draft's sender and recipients; the server resolves them against the
//! organisation's directory and answers with tips (invalid recipient, mailbox full, automatic
//! reply, custom tip, restricted, external, large audience, moderated, reply-all on Bcc,
//! message too large). The modules, from the edge inwards:
//!
//! - [`server`]: assembles gRPC, gRPC-web, health and reflection on one port; `run` is what
//!   `main` and the tests call.
//! - [`web`]: the compose page (`GET /`), embedded from `web/dist/`, served on the gRPC port.
//! - [`grpc`]: the transport edge: request validation, protobuf conversion, `Status` mapping.
//! - [`service`]: the request path: one batch directory lookup per draft, metrics from cache,
//!   then the rules.
//! - [`rules`]: the pure tip rules of SPEC section 3, with their exceptions.
//! - [`metrics`]: background group metrics (nested member counts) and their cache.
//! - [`directory`]: the narrow `Directory` trait, the embedded file directory, the LDAP
//!   directory (`directory::ldap`), and the cache layer above any backend.
//! - [`config`]: the TOML configuration and the compiled organisation [`config::Policy`].
//! - [`model`], [`address`], [`text`]: domain types, address parsing, texts in English and
//!   Japanese.
//! - [`cli`]: the `mailtips tips` client that prints a draft's tips.
//! - [`synth`], [`load`]: synthetic organisations (`gen-directory`) and the load tool (`load`)
//!   behind the benchmarks (BENCHMARKS.md).

pub mod address;
pub mod cli;
pub mod config;
pub mod directory;
pub mod grpc;
pub mod load;
pub mod metrics;
pub mod model;
pub mod rules;
pub mod server;
pub mod service;
pub mod synth;
pub mod text;
pub mod web;

/// Generated protobuf types and gRPC stubs for `mailtips.v1`.
#[allow(clippy::all, missing_docs)]
pub mod pb {
    tonic::include_proto!("mailtips.v1");
}
