//! The per-draft lookup: a draft's addresses as one OR filter per `addresses_per_search`
//! chunk (every value escaped, see [`super::mapping::Mapping::lookup_filter`]), the results
//! read into domain entries (with `member-of`, their groups: the direct ones read with them,
//! those above from the nesting index), and moderated groups' moderators resolved to their
//! addresses: all the lookup's uncached moderators in one more search, by DN.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use ldap3::Scope;

use super::LdapDirectory;
use super::mapping::normalize_dn;
use crate::directory::DirectoryError;
use crate::domain::address::Address;
use crate::domain::{Entry, EntryId};

impl LdapDirectory {
    /// Looks up many addresses at once, one answer per address, in order: `None` when no
    /// entry has the address. One search per `addresses_per_search` chunk, and one more for
    /// the moderators of the moderated groups found, when some are not cached. The request
    /// path goes through [`Directory::lookup`](crate::directory::Directory::lookup), which
    /// turns a failure into unknown answers.
    ///
    /// # Errors
    /// [`DirectoryError`] when a lookup search fails (the whole batch is unanswered then).
    pub async fn try_lookup(
        &self,
        addresses: &[&Address],
    ) -> Result<Vec<Option<Arc<Entry>>>, DirectoryError> {
        let mut entries: Vec<Entry> = Vec::new();
        for chunk in addresses.chunks(self.inner.config.addresses_per_search.get()) {
            self.lookup_chunk(chunk, &mut entries).await?;
        }
        self.fill_moderator_addresses(&mut entries).await;
        self.add_nested_groups(&mut entries).await;
        let mut found: HashMap<Box<str>, Arc<Entry>> = HashMap::new();
        for entry in entries {
            let entry = Arc::new(entry);
            for a in entry
                .addresses
                .iter()
                .chain(entry.send_from.iter().map(|s| &s.address))
            {
                found.insert(a.as_str().into(), entry.clone());
            }
        }
        Ok(addresses
            .iter()
            .map(|a| found.get(a.as_str()).cloned())
            .collect())
    }

    /// One search for `chunk`; every entry found goes into `out`.
    async fn lookup_chunk(
        &self,
        chunk: &[&Address],
        out: &mut Vec<Entry>,
    ) -> Result<(), DirectoryError> {
        let m = &self.inner.mapping;
        let filter = m.lookup_filter(chunk);
        let attrs: Vec<&str> = self.inner.lookup_attrs.iter().map(String::as_str).collect();
        let base = self.inner.config.base_dn.clone();
        let entries = self
            .search_once(&base, Scope::Subtree, &filter, &attrs)
            .await?;
        out.extend(
            entries
                .into_iter()
                .filter_map(|se| m.entry(&se.dn, &se.attrs, self.inner.addresses)),
        );
        Ok(())
    }

    /// `member-of`: the entries came with their direct groups; adds every group above them
    /// from the nesting index, or, when it cannot be read, drops them so that the request
    /// path walks (never a partial set).
    async fn add_nested_groups(&self, entries: &mut [Entry]) {
        if entries.iter().all(|e| e.groups.is_none()) {
            return;
        }
        let nesting = self.nesting().await;
        for e in entries.iter_mut() {
            e.groups = match (&nesting, e.groups.take()) {
                (Some(n), Some(direct)) => Some(Arc::new(n.closure(&direct))),
                _ => None,
            };
        }
    }

    /// Sets the moderators' primary addresses of every moderated entry: from the cache, the
    /// rest in one search by DN per `addresses_per_search` moderators. A moderator that
    /// search did not name back (its DN written differently in the group than the server
    /// spells it) gets a base search of its own; one that cannot be read is left out, with a
    /// warning (the tip still says the group is moderated).
    async fn fill_moderator_addresses(&self, entries: &mut [Entry]) {
        let mut known: HashMap<EntryId, Option<Arc<str>>> = HashMap::new();
        let mut wanted: Vec<EntryId> = Vec::new();
        for dn in entries
            .iter()
            .filter_map(|e| e.moderation.as_ref().filter(|m| m.enabled))
            .flat_map(|m| &m.moderators)
        {
            if known.contains_key(dn) {
                continue;
            }
            let cached = self.inner.moderator_mail.get(dn);
            if cached.is_none() {
                wanted.push(dn.clone());
            }
            known.insert(dn.clone(), cached);
        }
        if !wanted.is_empty() {
            let resolved = self.moderators_by_dn(&wanted).await;
            for (dn, mail) in resolved {
                self.inner.moderator_mail.insert(dn.clone(), mail.clone());
                known.insert(dn, Some(mail));
            }
        }
        for entry in entries.iter_mut() {
            if let Some(mo) = entry.moderation.as_mut().filter(|m| m.enabled) {
                mo.moderator_addresses = mo
                    .moderators
                    .iter()
                    .filter_map(|dn| known.get(dn).cloned().flatten())
                    .map(|m| m.to_string())
                    .collect();
            }
        }
    }

    /// The primary addresses of `dns` (normalized, distinct DNs): one OR search by DN per
    /// chunk, then a base search for each DN the OR search did not return under that spelling.
    async fn moderators_by_dn(&self, dns: &[EntryId]) -> HashMap<EntryId, Arc<str>> {
        let m = &self.inner.mapping;
        let attrs: Vec<&str> = m.primary_address.iter().map(String::as_str).collect();
        let base = self.inner.config.base_dn.clone();
        let mail_of = |attrs: &HashMap<String, Vec<String>>| {
            m.primary_address
                .iter()
                .find_map(|a| {
                    attrs
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(a))
                        .and_then(|(_, v)| v.first())
                })
                .and_then(|raw| Address::parse(raw).ok())
                .map(|a| Arc::<str>::from(a.as_str()))
        };
        let mut out = HashMap::new();
        let mut wanted: HashSet<&EntryId> = dns.iter().collect();
        for chunk in dns.chunks(self.inner.config.addresses_per_search.get()) {
            match self
                .search_once(&base, Scope::Subtree, &m.dn_filter(chunk), &attrs)
                .await
            {
                Ok(entries) => {
                    for e in entries {
                        let dn = normalize_dn(&e.dn);
                        if wanted.remove(&dn)
                            && let Some(mail) = mail_of(&e.attrs)
                        {
                            out.insert(dn, mail);
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, moderators = chunk.len(), "moderator addresses unknown");
                    return out;
                }
            }
        }
        // Returned by no OR search under its own spelling (read without a mail, it was).
        for dn in dns.iter().filter(|dn| wanted.contains(dn)) {
            match self
                .search_once(dn, Scope::Base, "(objectClass=*)", &attrs)
                .await
            {
                Ok(entries) => {
                    if let Some(mail) = entries.first().and_then(|e| mail_of(&e.attrs)) {
                        out.insert(dn.clone(), mail);
                    }
                }
                Err(e) => tracing::warn!(error = %e, dn = %dn, "moderator address unknown"),
            }
        }
        out
    }
}
