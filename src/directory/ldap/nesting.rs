//! Group nesting for `group_membership = "member-of"`: the server keeps each object's *direct*
//! groups in `memberOf` (OpenLDAP's memberof overlay, Active Directory itself), which the lookup
//! reads with the entry; the groups above those come from this index of every nested group's
//! own `memberOf`, read with one paged search and kept at most `group_nesting_refresh` old
//! (refreshed in the background from half that age, so requests do not wait for it).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::LdapDirectory;
use super::mapping::{Mapping, normalize_dn};
use crate::directory::DirectoryError;
use crate::domain::EntryId;

/// Every nested group's direct parents, as read at `at`.
#[derive(Debug)]
pub(super) struct Nesting {
    parents: HashMap<EntryId, Box<[EntryId]>>,
    at: Instant,
}

impl Nesting {
    pub(super) fn new(parents: HashMap<EntryId, Box<[EntryId]>>, at: Instant) -> Self {
        Self { parents, at }
    }

    /// `direct` and every group above them, loops cut. The ids are the index's own where it
    /// has them (shared, not copied per entry: cached entries hold these sets).
    pub(super) fn closure(&self, direct: &HashSet<EntryId>) -> HashSet<EntryId> {
        let mut out: HashSet<EntryId> = direct
            .iter()
            .map(|d| match self.parents.get_key_value(d) {
                Some((own, _)) => own.clone(),
                None => d.clone(),
            })
            .collect();
        let mut stack: Vec<&EntryId> = direct.iter().collect();
        while let Some(g) = stack.pop() {
            for p in self.parents.get(g).into_iter().flatten() {
                if out.insert(p.clone()) {
                    stack.push(p);
                }
            }
        }
        out
    }
}

impl LdapDirectory {
    /// The nesting index when it is younger than `group_nesting_refresh`: refreshed in the
    /// background once half that old, read now (one caller at a time, the others wait for
    /// it) when missing or older. `None` when it cannot be read (logged): the caller walks.
    pub(super) async fn nesting(&self) -> Option<Arc<Nesting>> {
        let max = self.inner.config.group_nesting_refresh;
        if let Some(n) = self.inner.nesting.load_full() {
            let age = n.at.elapsed();
            if age < max {
                if age >= max / 2 {
                    self.refresh_nesting_in_background();
                }
                return Some(n);
            }
        }
        let _one_reader = self.inner.nesting_lock.lock().await;
        if let Some(n) = self.inner.nesting.load_full()
            && n.at.elapsed() < max
        {
            return Some(n);
        }
        match self.read_nesting().await {
            Ok(n) => {
                let n = Arc::new(n);
                self.inner.nesting.store(Some(n.clone()));
                Some(n)
            }
            Err(e) => {
                tracing::warn!(error = %e, "group nesting unknown; the sender's groups are walked");
                None
            }
        }
    }

    fn refresh_nesting_in_background(&self) {
        if self.inner.nesting_busy.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            {
                let _one_reader = this.inner.nesting_lock.lock().await;
                match this.read_nesting().await {
                    Ok(n) => this.inner.nesting.store(Some(Arc::new(n))),
                    Err(e) => tracing::warn!(error = %e, "group nesting refresh failed"),
                }
            }
            this.inner.nesting_busy.store(false, Ordering::Release);
        });
    }

    /// One paged search: every group that is itself in a group, with its `memberOf`.
    async fn read_nesting(&self) -> Result<Nesting, DirectoryError> {
        let at = Instant::now();
        let m = &self.inner.mapping;
        let mut filter = format!("(&{}(|", Mapping::class_filter(&m.group_class));
        for a in &m.member_of {
            filter.push_str(&format!("({a}=*)"));
        }
        filter.push_str("))");
        let attrs: Vec<&str> = m.member_of.iter().map(String::as_str).collect();
        let entries = self.paged_search(&filter, &attrs).await?;
        let mut parents = HashMap::with_capacity(entries.len());
        // One shared id per group, however many groups it holds.
        let mut ids: HashSet<EntryId> = HashSet::with_capacity(entries.len());
        let mut intern = |dn: &str| {
            let dn = normalize_dn(dn);
            match ids.get(&dn) {
                Some(own) => own.clone(),
                None => {
                    ids.insert(dn.clone());
                    dn
                }
            }
        };
        for e in entries {
            let values: Box<[EntryId]> = e
                .attrs
                .iter()
                .filter(|(k, _)| m.member_of.iter().any(|a| a.eq_ignore_ascii_case(k)))
                .flat_map(|(_, v)| v.iter())
                .map(|dn| intern(dn))
                .collect();
            parents.insert(intern(&e.dn), values);
        }
        tracing::debug!(groups = parents.len(), "group nesting read");
        Ok(Nesting::new(parents, at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closure_follows_every_level_and_cuts_loops() {
        let id = |s: &str| EntryId::from(s);
        let parents: HashMap<EntryId, Box<[EntryId]>> = [
            ("c", vec!["b"]),
            ("b", vec!["a", "x"]),
            ("a", vec!["c"]),
            ("y", vec!["z"]),
        ]
        .into_iter()
        .map(|(k, v)| (id(k), v.into_iter().map(id).collect()))
        .collect();
        let n = Nesting::new(parents, Instant::now());
        let got = n.closure(&HashSet::from([id("c"), id("d")]));
        let want: HashSet<EntryId> = ["a", "b", "c", "d", "x"].into_iter().map(id).collect();
        assert_eq!(got, want);
    }
}
