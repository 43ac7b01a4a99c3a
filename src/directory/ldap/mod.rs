//! The LDAP directory backend (OpenLDAP or Active Directory through `ldap3`): the
//! [`LdapDirectory`] handle, its [`Directory`] and [`GroupSource`] implementations, and its
//! operation counters.
//!
//! - [`config`]: the `[directory.ldap]` section and the bind secret.
//! - [`mapping`]: attribute presets and overrides, compiled once; the search filters.
//! - `entry`: one LDAP search result to a domain entry; `time`: GeneralizedTime.
//! - `conn`: TLS, the connection slots, connect, bind and reconnect, one search request.
//! - `search`: the per-draft lookup and its moderators.
//! - `nesting`: the groups above nested groups, for `group_membership = "member-of"`.
//! - `groups`: group scans, `member_of` (per `group_membership`), and the metrics write-back.
//! - [`ldif`]: `mailtips export-ldif`, the embedded directory file as LDIF for either preset.
//!
//! A few multiplexed `ldap3::Ldap` handles (`connections`, used round-robin) serve every
//! request; a dead connection is dropped and re-made by the next call (at most once per
//! `reconnect_delay`), so the backend recovers by itself when the server returns. Every
//! operation has a timeout. A draft's addresses go out as one OR filter per
//! `addresses_per_search` chunk, every value escaped, and the uncached moderators of the
//! moderated groups found in one more; with `group_membership = "member-of"` the entries come
//! with their groups, so a cold draft costs at most two searches. Group metrics read the
//! groups with paged results (RFC 2696). Operations are counted ([`LdapStats`]) so tests and operators can see
//! what a draft costs.

pub mod config;
mod conn;
mod entry;
mod groups;
pub mod ldif;
pub mod mapping;
mod nesting;
mod search;
mod time;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Mutex;

use self::config::{LdapConfig, Membership, MetricsSource, Secret, SecretError};
use self::conn::{ConnState, tls_config};
use self::mapping::{Mapping, MappingError};
use super::{Directory, DirectoryError, GroupSource, Lookup};
use crate::domain::address::{Address, AddressRules};
use crate::domain::{EntryId, GroupGraph, GroupMetrics};

pub use self::groups::WriteBack;

/// Why the LDAP backend could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LdapSetupError {
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("directory.ldap.attributes: {0}")]
    Mapping(#[from] MappingError),
    #[error("directory.ldap.tls_ca_file {path}: {message}")]
    TlsCa { path: String, message: String },
}

/// Operation counters since start-up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LdapStats {
    /// Search requests sent (each page of a paged search counts).
    pub searches: u64,
    /// Modify requests sent (metrics write-back).
    pub modifies: u64,
    /// Connections made (the first one and every reconnect).
    pub connects: u64,
}

/// The LDAP backend; cheap to clone (one shared connection).
#[derive(Clone)]
pub struct LdapDirectory {
    inner: Arc<Inner>,
}

struct Inner {
    config: LdapConfig,
    mapping: Arc<Mapping>,
    /// What a lookup asks for: the mapping's attributes, plus `member_of` when
    /// `group_membership = "member-of"`.
    lookup_attrs: Vec<String>,
    password: Secret,
    /// Set when `tls_ca_file` is: trust exactly those CAs.
    tls: Option<Arc<rustls::ClientConfig>>,
    addresses: AddressRules,
    /// `connections` handles, used round-robin; each reconnects on its own.
    conns: Vec<Mutex<ConnState>>,
    next_conn: AtomicUsize,
    searches: AtomicU64,
    modifies: AtomicU64,
    connects: AtomicU64,
    /// Moderators' primary addresses by DN (for the moderated tip's data).
    moderator_mail: moka::sync::Cache<EntryId, Arc<str>>,
    /// `member-of`: the groups above each nested group, its reader, and whether a
    /// background refresh is under way.
    nesting: arc_swap::ArcSwapOption<nesting::Nesting>,
    nesting_lock: Mutex<()>,
    nesting_busy: AtomicBool,
}

impl std::fmt::Debug for LdapDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapDirectory")
            .field("url", &self.inner.config.url)
            .field("base_dn", &self.inner.config.base_dn)
            .field("preset", &self.inner.mapping.preset)
            .finish_non_exhaustive()
    }
}

fn unavailable(e: impl std::fmt::Display) -> DirectoryError {
    DirectoryError::Unavailable(e.to_string())
}

impl LdapDirectory {
    /// Takes the config's attribute mapping (compiled when the config was validated, else
    /// now) and reads the bind secret. Does not connect: the first call does, so a server
    /// starts even while its directory is down.
    ///
    /// # Errors
    /// [`LdapSetupError`] for a bad mapping or an unreadable secret.
    pub fn new(config: LdapConfig, addresses: AddressRules) -> Result<Self, LdapSetupError> {
        let mapping = config.mapping()?;
        let password = config.bind_password()?;
        let tls = config.tls_ca_file.as_deref().map(tls_config).transpose()?;
        let mut lookup_attrs = mapping.lookup_attrs.clone();
        if config.group_membership == Membership::MemberOf {
            lookup_attrs.extend(mapping.member_of.iter().cloned());
        }
        let conns = (0..config.connections.get())
            .map(|_| Mutex::new(ConnState::default()))
            .collect();
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                mapping,
                lookup_attrs,
                password,
                tls,
                addresses,
                conns,
                next_conn: AtomicUsize::new(0),
                searches: AtomicU64::new(0),
                modifies: AtomicU64::new(0),
                connects: AtomicU64::new(0),
                moderator_mail: moka::sync::Cache::builder()
                    .max_capacity(10_000)
                    .time_to_live(Duration::from_secs(600))
                    .build(),
                nesting: arc_swap::ArcSwapOption::empty(),
                nesting_lock: Mutex::new(()),
                nesting_busy: AtomicBool::new(false),
            }),
        })
    }

    /// The operation counters.
    pub fn stats(&self) -> LdapStats {
        LdapStats {
            searches: self.inner.searches.load(Ordering::Relaxed),
            modifies: self.inner.modifies.load(Ordering::Relaxed),
            connects: self.inner.connects.load(Ordering::Relaxed),
        }
    }
}

impl Directory for LdapDirectory {
    #[tracing::instrument(skip_all, fields(addresses = addresses.len()))]
    async fn lookup(&self, addresses: &[&Address]) -> Vec<Lookup> {
        let started = std::time::Instant::now();
        let result = self.try_lookup(addresses).await;
        crate::telemetry::get().lookup("ldap", started.elapsed(), result.is_ok());
        match result {
            Ok(found) => found
                .into_iter()
                .map(|e| e.map_or(Lookup::NotFound, Lookup::Found))
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "directory lookup failed; tips pending");
                vec![Lookup::Unknown; addresses.len()]
            }
        }
    }

    #[tracing::instrument(skip_all)]
    async fn member_of(&self, id: &EntryId) -> Result<Arc<HashSet<EntryId>>, DirectoryError> {
        self.groups_of(id).await
    }
}

impl GroupSource for LdapDirectory {
    #[tracing::instrument(skip_all)]
    async fn group_graph(&self) -> Result<Arc<GroupGraph>, DirectoryError> {
        Ok(Arc::new(self.scan_groups(true).await?.0))
    }

    async fn stored_group_metrics(
        &self,
    ) -> Result<Option<HashMap<EntryId, GroupMetrics>>, DirectoryError> {
        match self.inner.config.group_metrics {
            MetricsSource::Compute => Ok(None),
            MetricsSource::Stored => Ok(Some(self.scan_groups(false).await?.1)),
        }
    }
}
