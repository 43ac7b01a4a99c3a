//! Connections to the LDAP server: the TLS configuration, the `connections` slots used
//! round-robin, connect and bind, reconnecting after a failure (at most once per
//! `reconnect_delay`), and running one search request on a slot with its timeout.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ldap3::controls::{Control, ControlType, PagedResults};
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError, Scope, SearchEntry};

use super::{LdapDirectory, LdapSetupError, unavailable};
use crate::directory::DirectoryError;

/// A rustls client configuration trusting only the CA certificates in `path` (PEM).
pub(super) fn tls_config(
    path: &std::path::Path,
) -> Result<Arc<rustls::ClientConfig>, LdapSetupError> {
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

/// One of the `connections` slots: its handle, or when connecting last failed.
#[derive(Default)]
pub(super) struct ConnState {
    ldap: Option<Ldap>,
    failed_at: Option<Instant>,
}

impl LdapDirectory {
    /// Connects, binds and reads the base entry: what `mailtips check-config` runs to prove
    /// the URL, TLS, credentials and base DN work.
    ///
    /// # Errors
    /// [`DirectoryError`] saying what failed.
    pub(crate) async fn check(&self) -> Result<(), DirectoryError> {
        let base = self.inner.config.base_dn.clone();
        let entries = self
            .search_once(&base, Scope::Base, "(objectClass=*)", &["1.1"])
            .await?;
        if entries.is_empty() {
            return Err(unavailable(format!("base DN {base} is not readable")));
        }
        Ok(())
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
    pub(super) async fn handle(&self) -> Result<(usize, Ldap), DirectoryError> {
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
        let connected = self.connect().await;
        crate::telemetry::get().ldap_connect(connected.is_ok());
        match connected {
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

    /// Drops the connection in `slot`, so the next call on it reconnects.
    async fn drop_conn(&self, slot: usize) {
        self.inner.conns[slot].lock().await.ldap = None;
    }

    /// Maps an ldap3 error; a transport error drops the connection so the next call reconnects.
    pub(super) async fn failed(&self, slot: usize, e: LdapError) -> DirectoryError {
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
    pub(super) async fn search_once(
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
    pub(super) async fn search_on(
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
}
