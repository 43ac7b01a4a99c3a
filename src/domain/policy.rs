//! The organisation's settings compiled for the rules: which kinds are on, limits, and the
//! domains that decide whether a recipient is internal. Built from the config file at start-up.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::domain::address::{Address, AddressRules, domain_matches};
use crate::domain::tip::{ReceiptPolicy, Scope, TipSet};

/// A domain, optionally with its subdomains (matched on a dot boundary).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DomainRule {
    #[serde(deserialize_with = "lowercase")]
    pub domain: String,
    #[serde(default)]
    pub include_subdomains: bool,
}

/// A remote domain; `internal = true` for hybrid and partner domains.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RemoteDomain {
    #[serde(deserialize_with = "lowercase")]
    pub domain: String,
    #[serde(default)]
    pub include_subdomains: bool,
    #[serde(default)]
    pub internal: bool,
}

fn lowercase<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(String::deserialize(d)?.trim().to_lowercase())
}

/// The organisation's settings compiled for the rules: which kinds are on, limits, domains.
#[derive(Clone)]
pub struct Policy {
    /// Every switch applied: the kinds the organisation shows.
    pub enabled: TipSet,
    pub large_audience_threshold: u32,
    pub per_mailbox_cap: u32,
    pub max_message_bytes: Option<u64>,
    pub refresh_interval: Duration,
    pub group_metrics: bool,
    /// How addresses compare; every backend normalises with the same rules.
    pub addresses: AddressRules,
    pub internal_domains: Vec<DomainRule>,
    pub remote_domains: Vec<RemoteDomain>,
    /// Beyond Exchange: drafts reaching more people than this get WHOLE_AUDIENCE.
    pub whole_audience_threshold: u32,
    /// To and Cc with at least this many addresses get RECIPIENTS_VISIBLE.
    pub visible_recipients_threshold: u32,
    /// To whom the organisation's people send read receipts.
    pub read_receipts: ReceiptPolicy,
    /// The senders outside the organisation that still get receipts under
    /// [`ReceiptPolicy::InternalAndAllowlist`].
    pub receipt_allowlist: Vec<Address>,
    /// Whether a send-from address marked with its own outbound gateway really leaves through
    /// it (the organisation allows per-user outbound gateways).
    pub per_user_outbound_gateways: bool,
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("enabled", &self.enabled)
            .field("internal_domains", &self.internal_domains.len())
            .finish_non_exhaustive()
    }
}

impl Policy {
    /// Classifies a (lower-case) domain. Accepted domains win over remote domains; among remote
    /// domains the most specific rule wins.
    pub fn scope_of(&self, domain: &str) -> Scope {
        if self
            .internal_domains
            .iter()
            .any(|r| domain_matches(domain, &r.domain, r.include_subdomains))
        {
            return Scope::Internal;
        }
        self.remote_domains
            .iter()
            .filter(|r| domain_matches(domain, &r.domain, r.include_subdomains))
            .max_by_key(|r| r.domain.len())
            .map_or(Scope::External, |r| {
                if r.internal {
                    Scope::RemoteInternal
                } else {
                    Scope::External
                }
            })
    }
}
