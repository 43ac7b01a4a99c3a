//! mailtips: compose-time mail tips over gRPC, in the manner of Exchange Server 2013 MailTips.
//!
//! A mail client sends a draft's sender and recipients; the server resolves them against the
//! organisation's directory and answers with tips (invalid recipient, mailbox full, automatic
//! reply, custom tip, restricted, external, large audience, moderated, reply-all on Bcc,
//! message too large; and beyond Exchange: whole audience, visible recipients, read receipt,
//! sent on behalf, forwarded outside). The layers, from the inside out (each uses only those before it;
//! ARCHITECTURE.md has the map and the rules, `tests/it/tidy.rs` keeps them):
//!
//! - [`domain`]: addresses, directory objects, drafts, tips, the organisation's policy and the
//!   pure tip rules. No I/O, no clock, no async.
//! - [`directory`]: the traits the request path and the metrics job read, the embedded file
//!   directory, the LDAP directory, and the cache above either.
//! - [`metrics`]: the background group metrics job and the store requests read.
//! - [`service`]: the request path: one batch directory lookup per draft, metrics from the
//!   store, then the rules.
//! - [`config`]: the TOML configuration file; builds the domain policy and backend settings.
//! - [`api`]: the network edge: gRPC (the only place that knows protobuf), the server that
//!   wires a backend and serves gRPC, gRPC-web, health, reflection and the compose page.
//! - [`tools`]: the command-line tools beside the server: the `tips` client, the load tool and
//!   the synthetic directory generator.
//!
//! Beside the layers, [`telemetry`] (innermost, so that any layer records into it) holds the
//! Prometheus metrics and the log subscriber.

pub mod api;
pub mod config;
pub mod directory;
pub mod domain;
pub mod metrics;
pub mod service;
pub mod telemetry;
pub mod tools;

pub use api::pb;
