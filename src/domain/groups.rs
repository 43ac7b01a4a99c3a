//! Group metrics as pure computation: every group's total and external member counts with nested
//! groups expanded, each member counted once and loops survived. The background metrics job
//! and the LDAP write-back both run this over a [`GroupGraph`].

use std::collections::HashMap;

use crate::domain::entry::{EntryId, EntryKind, GroupMetrics};

/// A group's direct member, for group metrics.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Member {
    /// A directory object.
    Entry(EntryId, EntryKind),
    /// An address with no directory object (a one-off external member).
    External(Box<str>),
}

/// Every group with its direct members: what group metrics expand.
#[derive(Debug, Clone, Default)]
pub struct GroupGraph {
    pub groups: Vec<(EntryId, Vec<Member>)>,
}

/// Computes every group's metrics from the group graph. Pure; loops in nesting are cut by the
/// visited marks, and a member reached along several paths is counted once.
///
/// Members and groups are first numbered, so each group's expansion is a walk over integer
/// adjacency lists with "visited in this walk" stamps instead of hash sets of strings: the same
/// work per reached member as a plain depth-first search, with no hashing or clearing between
/// groups. Groups listed as members but absent from the graph contribute nothing, as before.
pub fn compute(graph: &GroupGraph) -> HashMap<EntryId, GroupMetrics> {
    let n_groups = graph.groups.len();
    let group_index: HashMap<&EntryId, u32> = graph
        .groups
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (id, i as u32))
        .collect();
    // Leaf members (people, contacts, one-off addresses), numbered on first sight; `external`
    // says which count as external.
    let mut leaf_index: HashMap<&Member, u32> = HashMap::new();
    let mut external: Vec<bool> = Vec::new();
    // Flattened adjacency: group g's children are child[child_at[g]..child_at[g + 1]], its
    // leaves leaf[leaf_at[g]..leaf_at[g + 1]].
    let mut child_at = Vec::with_capacity(n_groups + 1);
    let mut leaf_at = Vec::with_capacity(n_groups + 1);
    let mut child: Vec<u32> = Vec::new();
    let mut leaf: Vec<u32> = Vec::new();
    child_at.push(0);
    leaf_at.push(0);
    for (_, members) in &graph.groups {
        for member in members {
            match member {
                Member::Entry(id, EntryKind::Group) => {
                    if let Some(&g) = group_index.get(id) {
                        child.push(g);
                    }
                }
                other => {
                    let next = external.len() as u32;
                    let l = *leaf_index.entry(other).or_insert_with(|| {
                        external.push(matches!(
                            other,
                            Member::External(_) | Member::Entry(_, EntryKind::Contact)
                        ));
                        next
                    });
                    leaf.push(l);
                }
            }
        }
        child_at.push(child.len());
        leaf_at.push(leaf.len());
    }
    drop(leaf_index);

    // stamp == root + 1 means "already reached while expanding root".
    let mut group_stamp = vec![0u32; n_groups];
    let mut leaf_stamp = vec![0u32; external.len()];
    let mut stack: Vec<u32> = Vec::new();
    let mut result = HashMap::with_capacity(n_groups);
    for (root, (root_id, _)) in graph.groups.iter().enumerate() {
        if group_index[root_id] as usize != root {
            // The id is listed again later; like a map of id to members, the last one counts.
            continue;
        }
        let stamp = root as u32 + 1;
        let mut m = GroupMetrics::default();
        group_stamp[root] = stamp;
        stack.push(root as u32);
        while let Some(g) = stack.pop() {
            let g = g as usize;
            for &l in &leaf[leaf_at[g]..leaf_at[g + 1]] {
                let l = l as usize;
                if leaf_stamp[l] != stamp {
                    leaf_stamp[l] = stamp;
                    m.total_members += 1;
                    m.external_members += u32::from(external[l]);
                }
            }
            for &c in &child[child_at[g]..child_at[g + 1]] {
                if group_stamp[c as usize] != stamp {
                    group_stamp[c as usize] = stamp;
                    stack.push(c);
                }
            }
        }
        result.insert(root_id.clone(), m);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::Arc;

    fn id(s: &str) -> EntryId {
        Arc::from(s)
    }
    fn mbx(s: &str) -> Member {
        Member::Entry(id(s), EntryKind::Mailbox)
    }
    fn grp(s: &str) -> Member {
        Member::Entry(id(s), EntryKind::Group)
    }

    /// SplitMix64: a deterministic sequence for the random graphs.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn below(&mut self, n: usize) -> usize {
            ((u128::from(self.next()) * n as u128) >> 64) as usize
        }
        fn chance(&mut self, p: f64) -> bool {
            ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
        }
    }

    #[test]
    fn nested_counted_once_with_loops_and_externals() {
        let graph = GroupGraph {
            groups: vec![
                (
                    id("a"),
                    vec![
                        mbx("m1"),
                        mbx("m2"),
                        grp("b"),
                        Member::External("x@ext.example".into()),
                    ],
                ),
                (
                    id("b"),
                    vec![
                        mbx("m2"),
                        mbx("m3"),
                        grp("a"),
                        Member::Entry(id("c1"), EntryKind::Contact),
                    ],
                ),
                (id("self"), vec![grp("self"), mbx("m1")]),
                (id("empty"), vec![]),
            ],
        };
        let m = compute(&graph);
        assert_eq!(
            m[&id("a")],
            GroupMetrics {
                total_members: 5,
                external_members: 2
            }
        );
        assert_eq!(
            m[&id("b")],
            GroupMetrics {
                total_members: 5,
                external_members: 2
            }
        );
        assert_eq!(
            m[&id("self")],
            GroupMetrics {
                total_members: 1,
                external_members: 0
            }
        );
        assert_eq!(m[&id("empty")], GroupMetrics::default());
    }

    /// The plain per-group depth-first search with hash sets: the reference `compute` must
    /// agree with.
    fn reference(graph: &GroupGraph) -> HashMap<EntryId, GroupMetrics> {
        let index: HashMap<&EntryId, &[Member]> = graph
            .groups
            .iter()
            .map(|(id, m)| (id, m.as_slice()))
            .collect();
        let mut result = HashMap::new();
        for (root, _) in &graph.groups {
            let mut seen_groups = HashSet::from([root]);
            let mut seen_members = HashSet::new();
            let mut stack = vec![root];
            let mut m = GroupMetrics::default();
            while let Some(g) = stack.pop() {
                for member in index.get(g).copied().unwrap_or_default() {
                    match member {
                        Member::Entry(id, EntryKind::Group) => {
                            if index.contains_key(id) && seen_groups.insert(id) {
                                stack.push(id);
                            }
                        }
                        other => {
                            if seen_members.insert(other) {
                                m.total_members += 1;
                                if matches!(
                                    other,
                                    Member::External(_) | Member::Entry(_, EntryKind::Contact)
                                ) {
                                    m.external_members += 1;
                                }
                            }
                        }
                    }
                }
            }
            result.insert(root.clone(), m);
        }
        result
    }

    #[test]
    fn agrees_with_plain_search_on_random_graphs() {
        let mut rng = Rng(42);
        for _ in 0..50 {
            let n = 1 + rng.below(40);
            let mut groups = Vec::new();
            for g in 0..n {
                let mut members = Vec::new();
                for _ in 0..rng.below(12) {
                    members.push(match rng.below(5) {
                        0 => grp(&format!("g{}", rng.below(n + 3))), // some absent groups
                        1 => Member::Entry(id(&format!("c{}", rng.below(10))), EntryKind::Contact),
                        2 => Member::External(format!("x{}@ext.example", rng.below(10)).into()),
                        _ => mbx(&format!("m{}", rng.below(60))),
                    });
                }
                groups.push((id(&format!("g{g}")), members));
            }
            if rng.chance(0.3) {
                // The same group listed twice.
                let dup = groups[rng.below(n)].0.clone();
                groups.push((dup, vec![mbx("m-dup")]));
            }
            let graph = GroupGraph { groups };
            assert_eq!(compute(&graph), reference(&graph));
        }
    }
}
