//! The LDAP directory backend (OpenLDAP or Active Directory through `ldap3`).
//!
//! - [`config`]: the `[directory.ldap]` section and the bind secret.
//! - [`mapping`]: attribute presets and overrides, compiled once; LDAP entry to domain entry.
//! - [`ldif`]: `mailtips export-ldif`, the embedded directory file as LDIF for either preset.
//!
//! A few multiplexed `ldap3::Ldap` handles (`connections`, used round-robin) serve every
//! request; a dead connection is dropped and re-made by the next call (at most once per `reconnect_delay`), so the backend recovers by
//! itself when the server returns. Every operation has a timeout. A draft's addresses go out
//! as one OR filter per `addresses_per_search` chunk, every value escaped; group metrics read
//! the groups with paged results (RFC 2696). Operations are counted ([`LdapStats`]) so tests
//! and operators can see what a draft costs.

pub mod config;
pub mod ldif;
pub mod mapping;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ldap3::controls::{Control, ControlType, PagedResults};
use ldap3::{
    Ldap, LdapConnAsync, LdapConnSettings, LdapError, Mod, Scope, SearchEntry, ldap_escape,
};
use tokio::sync::Mutex;

use self::config::{LdapConfig, MetricsSource, Secret, SecretError};
use self::mapping::{Mapping, MappingError, normalize_dn};
use super::{Directory, DirectoryError, GroupSource, Lookup};
use crate::domain::address::{Address, AddressRules};
use crate::domain::{Entry, EntryId, EntryKind, GroupMetrics};
use crate::domain::{GroupGraph, Member};

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

/// A rustls client configuration trusting only the CA certificates in `path` (PEM).
fn tls_config(path: &std::path::Path) -> Result<Arc<rustls::ClientConfig>, LdapSetupError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let fail = |message: String| LdapSetupError::TlsCa {
        path: path.display().to_string(),
        message,
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| fail(e.to_string()))? {
        let cert = cert.map_err(|e| fail(e.to_string()))?;
        roots.add(cert).map_err(|e| fail(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(fail("no certificate in the file".into()));
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| fail(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
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

/// What `mailtips metrics` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteBack {
    /// Groups whose counts were computed.
    pub groups: usize,
    /// Groups whose stored counts changed and were written.
    pub written: usize,
}

/// The LDAP backend; cheap to clone (one shared connection).
#[derive(Clone)]
pub struct LdapDirectory {
    inner: Arc<Inner>,
}

struct Inner {
    config: LdapConfig,
    mapping: Mapping,
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
}

#[derive(Default)]
struct ConnState {
    ldap: Option<Ldap>,
    failed_at: Option<Instant>,
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

/// The largest nesting depth `member_of` follows (loops are cut by the visited set anyway).
const MAX_NESTING: usize = 64;

fn unavailable(e: impl std::fmt::Display) -> DirectoryError {
    DirectoryError::Unavailable(e.to_string())
}

impl LdapDirectory {
    /// Compiles the mapping and reads the bind secret. Does not connect: the first call does,
    /// so a server starts even while its directory is down.
    ///
    /// # Errors
    /// [`LdapSetupError`] for a bad mapping or an unreadable secret.
    pub fn new(config: LdapConfig, addresses: AddressRules) -> Result<Self, LdapSetupError> {
        let mapping = Mapping::compile(config.preset, &config.attributes)?;
        let password = config.bind_password()?;
        let tls = config.tls_ca_file.as_deref().map(tls_config).transpose()?;
        let conns = (0..config.connections.get())
            .map(|_| Mutex::new(ConnState::default()))
            .collect();
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                mapping,
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

    /// Connects, binds and reads the base entry: what `mailtips check-config` runs to prove
    /// the URL, TLS, credentials and base DN work.
    ///
    /// # Errors
    /// [`DirectoryError`] saying what failed.
    pub async fn check(&self) -> Result<(), DirectoryError> {
        let base = self.inner.config.base_dn.clone();
        let entries = self
            .search_once(&base, Scope::Base, "(objectClass=*)", &["1.1"])
            .await?;
        if entries.is_empty() {
            return Err(unavailable(format!("base DN {base} is not readable")));
        }
        Ok(())
    }

    /// The compiled attribute mapping.
    pub fn mapping(&self) -> &Mapping {
        &self.inner.mapping
    }

    async fn connect(&self) -> Result<Ldap, DirectoryError> {
        let c = &self.inner.config;
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(c.connect_timeout)
            .set_starttls(c.starttls)
            .set_no_tls_verify(c.tls_skip_verify);
        if let Some(tls) = &self.inner.tls {
            settings = settings.set_config(tls.clone());
        }
        let setup = async {
            let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &c.url)
                .await
                .map_err(unavailable)?;
            tokio::spawn(async move {
                if let Err(e) = conn.drive().await {
                    tracing::debug!(error = %e, "LDAP connection ended");
                }
            });
            if let Some(dn) = &c.bind_dn {
                ldap.with_timeout(c.operation_timeout)
                    .simple_bind(dn, self.inner.password.expose())
                    .await
                    .and_then(|r| r.success())
                    .map_err(|e| unavailable(format!("bind as {dn} failed: {e}")))?;
            }
            Ok::<Ldap, DirectoryError>(ldap)
        };
        let ldap = tokio::time::timeout(c.connect_timeout + c.operation_timeout, setup)
            .await
            .map_err(|_| DirectoryError::Timeout)??;
        self.inner.connects.fetch_add(1, Ordering::Relaxed);
        tracing::info!(url = %c.url, "connected to LDAP");
        Ok(ldap)
    }

    /// The next handle (round-robin) and its slot, connecting when there is none or it is
    /// closed.
    async fn handle(&self) -> Result<(usize, Ldap), DirectoryError> {
        let slot = self.inner.next_conn.fetch_add(1, Ordering::Relaxed) % self.inner.conns.len();
        let mut st = self.inner.conns[slot].lock().await;
        if let Some(l) = st.ldap.as_mut() {
            if !l.is_closed() {
                return Ok((slot, l.clone()));
            }
            st.ldap = None;
        }
        if let Some(t) = st.failed_at
            && t.elapsed() < self.inner.config.reconnect_delay
        {
            return Err(unavailable("LDAP server unreachable; retrying shortly"));
        }
        match self.connect().await {
            Ok(l) => {
                st.ldap = Some(l.clone());
                st.failed_at = None;
                Ok((slot, l))
            }
            Err(e) => {
                tracing::warn!(error = %e, url = %self.inner.config.url, "LDAP connect failed");
                st.failed_at = Some(Instant::now());
                Err(e)
            }
        }
    }

    /// Maps an ldap3 error; a transport error drops the connection so the next call reconnects.
    async fn drop_conn(&self, slot: usize) {
        self.inner.conns[slot].lock().await.ldap = None;
    }

    async fn failed(&self, slot: usize, e: LdapError) -> DirectoryError {
        match e {
            LdapError::LdapResult { result } => {
                unavailable(format!("LDAP result {}: {}", result.rc, result.text.trim()))
            }
            LdapError::Timeout { .. } => {
                self.drop_conn(slot).await;
                DirectoryError::Timeout
            }
            e => {
                self.drop_conn(slot).await;
                unavailable(e)
            }
        }
    }

    /// One search request on the next connection.
    async fn search_once(
        &self,
        base: &str,
        scope: Scope,
        filter: &str,
        attrs: &[&str],
    ) -> Result<Vec<SearchEntry>, DirectoryError> {
        let conn = self.handle().await?;
        Ok(self
            .search_on(conn, base, scope, filter, attrs, None)
            .await?
            .0)
    }

    /// One search request on `conn` (one page when `page` is given: a paged search stays on
    /// one connection, as its cookie belongs to it).
    async fn search_on(
        &self,
        (slot, mut ldap): (usize, Ldap),
        base: &str,
        scope: Scope,
        filter: &str,
        attrs: &[&str],
        page: Option<(i32, Vec<u8>)>,
    ) -> Result<(Vec<SearchEntry>, Option<Vec<u8>>), DirectoryError> {
        let timeout = self.inner.config.operation_timeout;
        self.inner.searches.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(base, filter, "LDAP search");
        if let Some((size, cookie)) = page {
            ldap.with_controls(PagedResults { size, cookie });
        }
        let res = tokio::time::timeout(
            timeout + Duration::from_millis(100),
            ldap.with_timeout(timeout)
                .search(base, scope, filter, attrs.to_vec()),
        )
        .await;
        let res = match res {
            Err(_) => {
                self.drop_conn(slot).await;
                return Err(DirectoryError::Timeout);
            }
            Ok(Err(e)) => return Err(self.failed(slot, e).await),
            Ok(Ok(r)) => r,
        };
        let (entries, result) = match res.success() {
            Ok(r) => r,
            Err(e) => return Err(self.failed(slot, e).await),
        };
        let cookie = result.ctrls.iter().find_map(|c| match c {
            Control(Some(ControlType::PagedResults), raw) => {
                let pr: PagedResults = raw.parse();
                (!pr.cookie.is_empty()).then_some(pr.cookie)
            }
            _ => None,
        });
        Ok((
            entries.into_iter().map(SearchEntry::construct).collect(),
            cookie,
        ))
    }

    /// A subtree search under the base DN, paged (RFC 2696) at `page_size`.
    async fn paged_search(
        &self,
        filter: &str,
        attrs: &[&str],
    ) -> Result<Vec<SearchEntry>, DirectoryError> {
        let size = i32::try_from(self.inner.config.page_size.get()).unwrap_or(i32::MAX);
        let base = self.inner.config.base_dn.clone();
        let conn = self.handle().await?;
        let mut all = Vec::new();
        let mut cookie = Vec::new();
        loop {
            let (entries, next) = self
                .search_on(
                    conn.clone(),
                    &base,
                    Scope::Subtree,
                    filter,
                    attrs,
                    Some((size, cookie)),
                )
                .await?;
            all.extend(entries);
            match next {
                Some(c) => cookie = c,
                None => return Ok(all),
            }
        }
    }

    /// Primary addresses of moderators, by DN, from the cache or one base search each.
    async fn moderator_addresses(&self, dns: &[EntryId]) -> Vec<String> {
        let mut out = Vec::with_capacity(dns.len());
        for dn in dns {
            if let Some(a) = self.inner.moderator_mail.get(dn) {
                out.push(a.to_string());
                continue;
            }
            let attrs: Vec<&str> = self
                .inner
                .mapping
                .primary_address
                .iter()
                .map(String::as_str)
                .collect();
            match self
                .search_once(dn, Scope::Base, "(objectClass=*)", &attrs)
                .await
            {
                Ok(entries) => {
                    let mail = entries.first().and_then(|e| {
                        self.inner
                            .mapping
                            .primary_address
                            .iter()
                            .find_map(|a| e.attrs.get(a).and_then(|v| v.first()))
                            .and_then(|m| Address::parse(m).ok())
                    });
                    if let Some(m) = mail {
                        let m: Arc<str> = Arc::from(m.as_str());
                        self.inner.moderator_mail.insert(dn.clone(), m.clone());
                        out.push(m.to_string());
                    }
                }
                Err(e) => tracing::warn!(error = %e, dn = %dn, "moderator address unknown"),
            }
        }
        out
    }

    /// Every group with its direct member DNs and any stored counts (one paged search), and
    /// the DNs of contacts (another).
    async fn scan_groups(
        &self,
        with_members: bool,
    ) -> Result<(GroupGraph, HashMap<EntryId, GroupMetrics>), DirectoryError> {
        let m = &self.inner.mapping;
        let mut attrs: Vec<&str> = Vec::new();
        if with_members {
            attrs.extend(m.member.iter().map(String::as_str));
        }
        attrs.extend(m.member_count.iter().map(String::as_str));
        attrs.extend(m.external_member_count.iter().map(String::as_str));
        let groups = self
            .paged_search(&Mapping::class_filter(&m.group_class), &attrs)
            .await?;
        let contacts: HashSet<EntryId> = if with_members {
            self.paged_search(&Mapping::class_filter(&m.contact_class), &["1.1"])
                .await?
                .into_iter()
                .map(|e| normalize_dn(&e.dn))
                .collect()
        } else {
            HashSet::new()
        };
        let group_ids: HashSet<EntryId> = groups.iter().map(|g| normalize_dn(&g.dn)).collect();
        let get = |e: &SearchEntry, names: &[String]| -> Vec<String> {
            e.attrs
                .iter()
                .filter(|(k, _)| names.iter().any(|n| n.eq_ignore_ascii_case(k)))
                .flat_map(|(_, v)| v.iter().cloned())
                .collect()
        };
        let mut graph = GroupGraph::default();
        let mut stored = HashMap::new();
        for g in &groups {
            let id = normalize_dn(&g.dn);
            let count = |names: &[String]| {
                get(g, names)
                    .first()
                    .and_then(|v| v.trim().parse::<u32>().ok())
            };
            if let Some(total) = count(&m.member_count) {
                stored.insert(
                    id.clone(),
                    GroupMetrics {
                        total_members: total,
                        external_members: count(&m.external_member_count).unwrap_or(0),
                    },
                );
            }
            if with_members {
                let mut members = Vec::new();
                let mut seen = HashSet::new();
                let mut values = get(g, &m.member);
                values.extend(self.ranged_values(g, &m.member).await?);
                for dn in values {
                    let dn = normalize_dn(&dn);
                    if !seen.insert(dn.clone()) {
                        continue;
                    }
                    let kind = if group_ids.contains(&dn) {
                        EntryKind::Group
                    } else if contacts.contains(&dn) {
                        EntryKind::Contact
                    } else {
                        EntryKind::Mailbox
                    };
                    members.push(Member::Entry(dn, kind));
                }
                graph.groups.push((id, members));
            }
        }
        let stats = self.stats();
        tracing::info!(
            groups = groups.len(),
            searches = stats.searches,
            modifies = stats.modifies,
            connects = stats.connects,
            "LDAP group scan done (operation counts since start-up)"
        );
        Ok((graph, stored))
    }

    /// Values Active Directory returned in ranges (`member;range=0-1499`, above its
    /// MaxValRange), with the rest fetched range by range from the entry itself.
    async fn ranged_values(
        &self,
        entry: &SearchEntry,
        names: &[String],
    ) -> Result<Vec<String>, DirectoryError> {
        let mut out = Vec::new();
        for name in names {
            let Some((mut next, values)) = entry
                .attrs
                .iter()
                .find_map(|(k, v)| parse_range(k, name).map(|n| (n, v)))
            else {
                continue;
            };
            out.extend(values.iter().cloned());
            while let Some(start) = next {
                let attr = format!("{name};range={start}-*");
                let entries = self
                    .search_once(&entry.dn, Scope::Base, "(objectClass=*)", &[&attr])
                    .await?;
                next = None;
                if let Some((n, v)) = entries.first().and_then(|e| {
                    e.attrs
                        .iter()
                        .find_map(|(k, v)| parse_range(k, name).map(|n| (n, v)))
                }) {
                    if v.is_empty() {
                        break;
                    }
                    out.extend(v.iter().cloned());
                    next = n;
                }
            }
        }
        Ok(out)
    }

    /// The `mailtips metrics` job: computes every group's counts once and writes them to the
    /// group entries (only where they changed), for servers set to `group_metrics = "stored"`.
    ///
    /// # Errors
    /// [`DirectoryError`] when reading the groups or a write fails (the bind DN needs write
    /// access to the two count attributes).
    pub async fn write_group_metrics(&self) -> Result<WriteBack, DirectoryError> {
        let (graph, stored) = self.scan_groups(true).await?;
        let computed = tokio::task::spawn_blocking(move || crate::domain::groups::compute(&graph))
            .await
            .map_err(unavailable)?;
        let m = &self.inner.mapping;
        let (Some(total_attr), Some(ext_attr)) =
            (m.member_count.first(), m.external_member_count.first())
        else {
            return Err(unavailable(
                "member_count and external_member_count attributes are not mapped",
            ));
        };
        let mut report = WriteBack {
            groups: computed.len(),
            written: 0,
        };
        for (dn, metrics) in &computed {
            if stored.get(dn) == Some(metrics) {
                continue;
            }
            let mods = vec![
                Mod::Replace(
                    total_attr.clone(),
                    HashSet::from([metrics.total_members.to_string()]),
                ),
                Mod::Replace(
                    ext_attr.clone(),
                    HashSet::from([metrics.external_members.to_string()]),
                ),
            ];
            let (slot, mut ldap) = self.handle().await?;
            self.inner.modifies.fetch_add(1, Ordering::Relaxed);
            let res = ldap
                .with_timeout(self.inner.config.operation_timeout)
                .modify(dn, mods)
                .await
                .and_then(|r| r.success());
            if let Err(e) = res {
                return Err(self.failed(slot, e).await);
            }
            report.written += 1;
        }
        Ok(report)
    }

    async fn lookup_chunk(
        &self,
        chunk: &[Address],
        out: &mut HashMap<Box<str>, Arc<Entry>>,
    ) -> Result<(), DirectoryError> {
        let m = &self.inner.mapping;
        let filter = m.lookup_filter(chunk);
        let attrs: Vec<&str> = m.lookup_attrs.iter().map(String::as_str).collect();
        let base = self.inner.config.base_dn.clone();
        let entries = self
            .search_once(&base, Scope::Subtree, &filter, &attrs)
            .await?;
        for se in entries {
            let Some(mut entry) = m.entry(&se.dn, &se.attrs, self.inner.addresses) else {
                continue;
            };
            if let Some(mo) = entry.moderation.as_mut()
                && mo.enabled
            {
                mo.moderator_addresses = self.moderator_addresses(&mo.moderators).await;
            }
            let entry = Arc::new(entry);
            for a in &entry.addresses {
                out.insert(a.as_str().into(), entry.clone());
            }
        }
        Ok(())
    }
}

/// For an attribute description `name;range=LOW-HIGH` (AD ranged retrieval): `Some(next)`
/// where `next` is the start of the following range, or `None` inside when this was the last
/// (`HIGH` is `*`). `None` when `key` is not a range of `name`.
fn parse_range(key: &str, name: &str) -> Option<Option<u64>> {
    const RANGE: &str = ";range=";
    let split = name.len() + RANGE.len();
    let head = key.get(..split)?;
    if !head.eq_ignore_ascii_case(&format!("{name}{RANGE}")) {
        return None;
    }
    let rest = &key[split..];
    let (_, high) = rest.split_once('-')?;
    if high == "*" {
        Some(None)
    } else {
        high.parse::<u64>().ok().map(|h| Some(h + 1))
    }
}

impl LdapDirectory {
    /// Looks up many addresses at once, one answer per address, in order: `None` when no
    /// entry has the address. One search per `addresses_per_search` chunk.
    ///
    /// # Errors
    /// [`DirectoryError`] when a search fails (the whole batch is unanswered then).
    #[tracing::instrument(skip_all, fields(addresses = addresses.len()))]
    pub async fn try_lookup(
        &self,
        addresses: &[Address],
    ) -> Result<Vec<Option<Arc<Entry>>>, DirectoryError> {
        let mut found: HashMap<Box<str>, Arc<Entry>> = HashMap::new();
        for chunk in addresses.chunks(self.inner.config.addresses_per_search.get()) {
            self.lookup_chunk(chunk, &mut found).await?;
        }
        Ok(addresses
            .iter()
            .map(|a| found.get(a.as_str()).cloned())
            .collect())
    }
}

impl Directory for LdapDirectory {
    async fn lookup(&self, addresses: &[Address]) -> Vec<Lookup> {
        match self.try_lookup(addresses).await {
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
        let m = &self.inner.mapping;
        let base = self.inner.config.base_dn.clone();
        let class = Mapping::class_filter(&m.group_class);
        let mut seen: HashSet<EntryId> = HashSet::new();
        let mut frontier: Vec<EntryId> = vec![id.clone()];
        for _ in 0..MAX_NESTING {
            if frontier.is_empty() {
                break;
            }
            let mut next = Vec::new();
            for chunk in frontier.chunks(self.inner.config.addresses_per_search.get()) {
                let mut filter = format!("(&{class}(|");
                for dn in chunk {
                    let dn = ldap_escape(&**dn);
                    for attr in &m.member {
                        filter.push_str(&format!("({attr}={dn})"));
                    }
                }
                filter.push_str("))");
                let entries = self
                    .search_once(&base, Scope::Subtree, &filter, &["1.1"])
                    .await?;
                for e in entries {
                    let g = normalize_dn(&e.dn);
                    if seen.insert(g.clone()) {
                        next.push(g);
                    }
                }
            }
            frontier = next;
        }
        Ok(Arc::new(seen))
    }
}

impl GroupSource for LdapDirectory {
    #[tracing::instrument(skip_all)]
    async fn group_graph(&self) -> Result<GroupGraph, DirectoryError> {
        Ok(self.scan_groups(true).await?.0)
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

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ad_ranges_parse() {
        assert_eq!(
            parse_range("member;range=0-1499", "member"),
            Some(Some(1500))
        );
        assert_eq!(parse_range("Member;Range=1500-*", "member"), Some(None));
        assert_eq!(parse_range("member", "member"), None);
        assert_eq!(parse_range("memberOf;range=0-9", "member"), None);
        assert_eq!(parse_range("member;range=0-x", "member"), None);
    }
}
