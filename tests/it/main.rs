//! The integration tests, one crate: the real server over real sockets (`grpc`, `web_page`,
//! `browser`: the compose page in real Chromium) and the `mailtips` binary as an administrator
//! runs it (`reload`). `support` is the one fixture they share.

mod support;

mod browser;
mod grpc;
mod reload;
mod web_page;
