//! The per-draft lookup: a draft's addresses as one OR filter per `addresses_per_search`
//! chunk (every value escaped, see [`super::mapping::Mapping::lookup_filter`]), the results
//! read into domain entries, and moderated groups' moderators resolved to their addresses.

use std::collections::HashMap;
use std::sync::Arc;

use ldap3::Scope;

use super::LdapDirectory;
use crate::directory::DirectoryError;
use crate::domain::address::Address;
use crate::domain::{Entry, EntryId};

impl LdapDirectory {
    /// Looks up many addresses at once, one answer per address, in order: `None` when no
    /// entry has the address. One search per `addresses_per_search` chunk. The request path
    /// goes through [`Directory::lookup`](crate::directory::Directory::lookup), which turns a
    /// failure into unknown answers.
    ///
    /// # Errors
    /// [`DirectoryError`] when a search fails (the whole batch is unanswered then).
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

    /// One search for `chunk`; every entry found goes into `out` under each of its addresses.
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
            for a in entry
                .addresses
                .iter()
                .chain(entry.send_from.iter().map(|s| &s.address))
            {
                out.insert(a.as_str().into(), entry.clone());
            }
        }
        Ok(())
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
}
