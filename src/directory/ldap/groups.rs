//! Group scans: every group with its direct members (paged results, RFC 2696, and Active
//! Directory's ranged retrieval of big member lists), the counts `mailtips metrics` stores on
//! group entries and its write-back, and the groups a sender belongs to (`member_of`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use ldap3::{Mod, Scope, SearchEntry, ldap_escape};

use super::LdapDirectory;
use super::config::Membership;
use super::mapping::{Mapping, normalize_dn};
use super::unavailable;
use crate::directory::DirectoryError;
use crate::domain::{EntryId, EntryKind, GroupGraph, GroupMetrics, Member};

/// What `mailtips metrics` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteBack {
    /// Groups whose counts were computed.
    pub groups: usize,
    /// Groups whose stored counts changed and were written.
    pub written: usize,
}

/// The largest nesting depth `member_of` follows (loops are cut by the visited set anyway).
const MAX_NESTING: usize = 64;

impl LdapDirectory {
    /// A subtree search under the base DN, paged (RFC 2696) at `page_size`.
    pub(super) async fn paged_search(
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

    /// Every group with its direct member DNs and any stored counts (one paged search), and
    /// the DNs of contacts (another).
    pub(super) async fn scan_groups(
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

    /// Every group that holds `id` (a DN), directly or through nested groups. `in-chain`: one
    /// search with AD's in-chain rule. Otherwise (`walk`, and `member-of` for an entry that
    /// came without its groups) one search per `addresses_per_search` DNs of each nesting
    /// level, at most [`MAX_NESTING`] levels.
    pub(super) async fn groups_of(
        &self,
        id: &EntryId,
    ) -> Result<Arc<HashSet<EntryId>>, DirectoryError> {
        let m = &self.inner.mapping;
        let base = self.inner.config.base_dn.clone();
        if self.inner.config.group_membership == Membership::InChain {
            let entries = self
                .search_once(&base, Scope::Subtree, &m.in_chain_filter(id), &["1.1"])
                .await?;
            return Ok(Arc::new(
                entries.iter().map(|e| normalize_dn(&e.dn)).collect(),
            ));
        }
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
