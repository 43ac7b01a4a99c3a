//! Group metrics as pure computation: every group's total and external member counts with nested
//! groups expanded, each member counted once and loops survived. The background metrics job
//! and the LDAP write-back both run this over a [`GroupGraph`].

use std::collections::HashMap;
use std::hash::BuildHasher;

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

/// Computes every group's metrics from the group graph in one go. Pure; loops in nesting are
/// cut by the visited marks, and a member reached along several paths is counted once.
pub fn compute(graph: &GroupGraph) -> HashMap<EntryId, GroupMetrics> {
    let mut out = HashMap::with_capacity(graph.groups.len());
    let mut expansion = Expansion::new(graph);
    while !expansion.step(usize::MAX, &mut out) {}
    out
}

/// The expansion of a [`GroupGraph`] into every group's metrics, a slice at a time:
/// [`Expansion::step`] does about as much work as it is given and hands back what it finished,
/// so a caller can run it between other work (the metrics job yields to requests between
/// slices). [`compute`] runs it in one go.
///
/// Members and groups are first numbered, so each group's expansion is a walk over integer
/// adjacency lists with "visited in this walk" stamps instead of hash sets of strings: the same
/// work per reached member as a plain depth-first search, with no hashing or clearing between
/// groups. Groups listed as members but absent from the graph contribute nothing.
pub struct Expansion<'g> {
    graph: &'g GroupGraph,
    /// Where the work stands.
    at: At,
    group_index: HashMap<&'g EntryId, u32>,
    /// Leaf members (people, contacts, one-off addresses), numbered on first sight; `external`
    /// says which count as external. In [`SHARDS`] maps, so that growing one rehashes a
    /// fraction of the members (one map of 100k members took 7.5 ms to grow, in one slice).
    leaf_index: Vec<HashMap<&'g Member, u32, foldhash::fast::RandomState>>,
    external: Vec<bool>,
    /// Flattened adjacency: group g's children are child[child_at[g]..child_at[g + 1]], its
    /// leaves leaf[leaf_at[g]..leaf_at[g + 1]].
    child_at: Vec<usize>,
    leaf_at: Vec<usize>,
    child: Vec<u32>,
    leaf: Vec<u32>,
    /// stamp == root + 1 means "already reached while expanding root".
    group_stamp: Vec<u32>,
    leaf_stamp: Vec<u32>,
    /// The groups still to expand in the current root's walk, and what it has counted.
    stack: Vec<u32>,
    counted: GroupMetrics,
}

/// How many maps number the leaf members.
const SHARDS: usize = 64;

/// What numbering a group or a member costs in [`Expansion::step`]'s units.
pub const NUMBERING: usize = 8;

#[derive(Clone, Copy)]
enum At {
    /// Numbering the groups, from this one.
    Index(usize),
    /// Numbering the members, from this group's this member.
    Number {
        group: usize,
        member: usize,
    },
    /// Walking from this root; `open` when its walk has started (its stack holds the rest).
    Walk {
        root: usize,
        open: bool,
    },
    Done,
}

impl<'g> Expansion<'g> {
    pub fn new(graph: &'g GroupGraph) -> Self {
        let n = graph.groups.len();
        let mut child_at = Vec::with_capacity(n + 1);
        let mut leaf_at = Vec::with_capacity(n + 1);
        child_at.push(0);
        leaf_at.push(0);
        Self {
            graph,
            at: At::Index(0),
            group_index: HashMap::with_capacity(n),
            leaf_index: (0..SHARDS).map(|_| HashMap::default()).collect(),
            external: Vec::new(),
            child_at,
            leaf_at,
            child: Vec::new(),
            leaf: Vec::new(),
            group_stamp: Vec::new(),
            leaf_stamp: Vec::new(),
            stack: Vec::new(),
            counted: GroupMetrics::default(),
        }
    }

    /// Does about `budget` units of work and passes each group's metrics to `out` as it is
    /// finished. True once every group is done. A unit is a member looked at in a walk; a
    /// group or member numbered (a hash map lookup, some ten times the work) costs
    /// [`NUMBERING`]. A group's direct members are walked whole, so a slice can run over by
    /// one group's size.
    pub fn step(&mut self, budget: usize, out: &mut impl Extend<(EntryId, GroupMetrics)>) -> bool {
        let graph: &'g GroupGraph = self.graph;
        let groups = &graph.groups;
        let mut spent = 0usize;
        loop {
            if spent >= budget {
                return false;
            }
            match self.at {
                At::Index(g) if g < groups.len() => {
                    // Like a map of id to members: an id listed again later, the last counts.
                    self.group_index.insert(&groups[g].0, g as u32);
                    self.at = At::Index(g + 1);
                    spent += NUMBERING;
                }
                At::Index(_) => {
                    self.at = At::Number {
                        group: 0,
                        member: 0,
                    }
                }
                At::Number { group, member } if group < groups.len() => {
                    let members = &groups[group].1;
                    let Some(m) = members.get(member) else {
                        self.child_at.push(self.child.len());
                        self.leaf_at.push(self.leaf.len());
                        self.at = At::Number {
                            group: group + 1,
                            member: 0,
                        };
                        spent += 1;
                        continue;
                    };
                    self.number(m);
                    self.at = At::Number {
                        group,
                        member: member + 1,
                    };
                    spent += NUMBERING;
                }
                At::Number { .. } => {
                    self.leaf_index = Vec::new();
                    self.group_stamp = vec![0; groups.len()];
                    self.leaf_stamp = vec![0; self.external.len()];
                    self.at = At::Walk {
                        root: 0,
                        open: false,
                    };
                }
                At::Walk { root, open: false } if root < groups.len() => {
                    let root_id = &groups[root].0;
                    spent += 1;
                    if self.group_index[root_id] as usize != root {
                        self.at = At::Walk {
                            root: root + 1,
                            open: false,
                        };
                        continue;
                    }
                    self.group_stamp[root] = root as u32 + 1;
                    self.stack.push(root as u32);
                    self.counted = GroupMetrics::default();
                    self.at = At::Walk { root, open: true };
                }
                At::Walk { root, open: true } => {
                    let Some(g) = self.stack.pop() else {
                        out.extend(std::iter::once((groups[root].0.clone(), self.counted)));
                        self.at = At::Walk {
                            root: root + 1,
                            open: false,
                        };
                        continue;
                    };
                    spent += 1 + self.expand(g as usize, root as u32 + 1);
                }
                At::Walk { .. } => {
                    // Done: the work's memory goes now, not when the expansion is dropped.
                    self.group_index = HashMap::new();
                    self.external = Vec::new();
                    self.child_at = Vec::new();
                    self.leaf_at = Vec::new();
                    self.child = Vec::new();
                    self.leaf = Vec::new();
                    self.group_stamp = Vec::new();
                    self.leaf_stamp = Vec::new();
                    self.stack = Vec::new();
                    self.at = At::Done;
                }
                At::Done => return true,
            }
        }
    }

    /// Numbers one direct member of the group being numbered.
    fn number(&mut self, member: &'g Member) {
        match member {
            Member::Entry(id, EntryKind::Group) => {
                if let Some(&g) = self.group_index.get(id) {
                    self.child.push(g);
                }
            }
            other => {
                let next = self.external.len() as u32;
                let external = &mut self.external;
                let shard = foldhash::fast::FixedState::default().hash_one(other) as usize % SHARDS;
                let l = *self.leaf_index[shard].entry(other).or_insert_with(|| {
                    external.push(matches!(
                        other,
                        Member::External(_) | Member::Entry(_, EntryKind::Contact)
                    ));
                    next
                });
                self.leaf.push(l);
            }
        }
    }

    /// Counts group `g`'s leaves not yet reached in this walk (`stamp`) and stacks its
    /// children not yet reached; returns how many members it looked at.
    fn expand(&mut self, g: usize, stamp: u32) -> usize {
        let leaves = &self.leaf[self.leaf_at[g]..self.leaf_at[g + 1]];
        for &l in leaves {
            let l = l as usize;
            if self.leaf_stamp[l] != stamp {
                self.leaf_stamp[l] = stamp;
                self.counted.total_members += 1;
                self.counted.external_members += u32::from(self.external[l]);
            }
        }
        let children = &self.child[self.child_at[g]..self.child_at[g + 1]];
        for &c in children {
            if self.group_stamp[c as usize] != stamp {
                self.group_stamp[c as usize] = stamp;
                self.stack.push(c);
            }
        }
        leaves.len() + children.len()
    }
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
            let want = reference(&graph);
            assert_eq!(compute(&graph), want);
            // A slice at a time, however small the slices, gives the same metrics, each
            // group once.
            let budget = 1 + rng.below(8);
            let mut slices = Vec::new();
            let mut expansion = Expansion::new(&graph);
            let mut steps = 0;
            while !expansion.step(budget, &mut slices) {
                steps += 1;
                assert!(steps < 100_000, "the expansion never finished");
            }
            let by_group: HashMap<EntryId, GroupMetrics> = slices.iter().cloned().collect();
            assert_eq!(slices.len(), by_group.len(), "a group was passed on twice");
            assert_eq!(by_group, want);
        }
    }

    #[test]
    fn a_slice_stops_near_its_budget() {
        let members: Vec<Member> = (0..1_000).map(|i| mbx(&format!("m{i}"))).collect();
        let graph = GroupGraph {
            groups: vec![(id("big"), members)],
        };
        let mut expansion = Expansion::new(&graph);
        let mut out = Vec::new();
        // Numbering is done member by member: 1,000 members take many slices.
        let mut slices = 1;
        while !expansion.step(100, &mut out) {
            slices += 1;
        }
        assert!(slices >= 10, "{slices}");
        assert_eq!(
            out,
            [(
                id("big"),
                GroupMetrics {
                    total_members: 1_000,
                    external_members: 0
                }
            )]
        );
        // Finished: further steps do nothing.
        assert!(expansion.step(100, &mut out));
        assert_eq!(out.len(), 1);
    }
}
