//! The integration tests, one crate: the real server over real sockets (`grpc`, `web_page`,
//! `browser`: the compose page in real Chromium), the `mailtips` binary as an administrator
//! runs it (`reload`), what an operator watches (`operations`: metrics, readiness, logs), the LDAP backend against a real slapd (`ldap_*`), and the architecture's
//! rules over the source text (`tidy`). `support` is the one fixture they share.

mod support;
mod tidy;

mod admission;
mod auth;
mod auth_browser;
mod auth_defaults;
mod auth_ldap;
mod auth_oidc;
mod auth_tls;
mod beyond;
mod browser;
mod docs;
mod grpc;
mod ldap_batching;
mod ldap_cold;
mod ldap_metrics;
mod ldap_outage;
mod ldap_tips;
mod ldap_tls;
mod limits;
mod operations;
mod reload;
mod stop;
mod tls;
mod web_page;
