//! Group metrics: total and external member counts of every group with nested groups expanded,
//! each member counted once and loops survived. Computed in the background (at start-up and on
//! a schedule) and read by requests in O(1); a request never expands a group.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;

use crate::directory::{Directory, GroupGraph, Member};
use crate::model::{EntryId, EntryKind, GroupMetrics};

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

/// Runs `work` on its own thread at the lowest CPU priority (SCHED_IDLE on Linux) and waits for
/// it: background jobs then take what the request workers leave. On a 2-core machine the
/// metrics job at normal priority doubled request p99 while it ran (BENCHMARKS.md).
/// `None` when the thread could not start or panicked.
pub(crate) async fn background<T: Send + 'static>(
    name: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let name = name.to_owned();
    // A blocking-pool task that only waits for the low-priority thread: the pool thread keeps
    // its priority for whatever it runs next, and tokio sees blocking work in progress (so a
    // paused test clock does not jump ahead while the job runs).
    tokio::task::spawn_blocking(move || {
        std::thread::Builder::new()
            .name(name)
            .spawn(move || {
                lower_this_threads_priority();
                work()
            })
            .ok()?
            .join()
            .ok()
    })
    .await
    .ok()
    .flatten()
}

#[cfg(target_os = "linux")]
fn lower_this_threads_priority() {
    // On Linux the policy and the nice value belong to the calling thread, not the whole
    // process. SCHED_IDLE: a waking request worker preempts this thread at once (with nice 19
    // alone it could wait out a time slice, which still showed in p99); it still gets a small
    // share of a busy CPU, so the job finishes.
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: both calls only read `param` and have no other memory-safety preconditions; a
    // failure only leaves the priority as it was.
    unsafe {
        if libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) != 0 {
            libc::setpriority(libc::PRIO_PROCESS, 0, 19);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_this_threads_priority() {}

/// The metrics cache requests read. Empty (`None`) until the first computation finishes.
#[derive(Debug, Default)]
pub struct MetricsStore {
    current: ArcSwapOption<HashMap<EntryId, GroupMetrics>>,
}

impl MetricsStore {
    /// A group's metrics, or `None` when not computed (yet).
    pub fn get(&self, id: &EntryId) -> Option<GroupMetrics> {
        self.current
            .load()
            .as_ref()
            .and_then(|m| m.get(id).copied())
    }

    /// True once a computation has finished.
    pub fn is_ready(&self) -> bool {
        self.current.load().is_some()
    }

    /// Replaces the metrics with a new computation.
    pub fn store(&self, metrics: HashMap<EntryId, GroupMetrics>) {
        self.current.store(Some(Arc::new(metrics)));
    }

    /// Reads the group graph from `directory`, computes and stores the metrics.
    ///
    /// # Errors
    /// The directory's error; the previous metrics stay.
    pub async fn refresh<D: Directory>(
        &self,
        directory: &D,
    ) -> Result<usize, crate::directory::DirectoryError> {
        let started = Instant::now();
        if let Some(stored) = directory.stored_group_metrics().await? {
            let n = stored.len();
            self.store(stored);
            tracing::info!(groups = n, "group metrics read from the directory");
            return Ok(n);
        }
        let graph = directory.group_graph().await?;
        // Expanding thousands of groups is CPU work: keep it off the request workers' path,
        // and below them in the scheduler.
        let metrics = background("group-metrics", move || compute(&graph))
            .await
            .ok_or_else(|| {
                crate::directory::DirectoryError::Unavailable("metrics task failed".into())
            })?;
        let n = metrics.len();
        self.store(metrics);
        tracing::info!(
            groups = n,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "group metrics computed"
        );
        Ok(n)
    }

    /// Refreshes now, then every `interval` and whenever the directory reports a change,
    /// until the task is dropped.
    pub async fn run_schedule<D: Directory>(self: Arc<Self>, directory: D, interval: Duration) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut changes = directory.changes();
        // After a failed run (directory down at start-up, say), retry soon with a growing pause
        // rather than leaving groups without counts until the next scheduled run.
        let mut retry: Option<Duration> = None;
        loop {
            let changed = async {
                let Some(rx) = changes.as_mut() else {
                    return std::future::pending().await;
                };
                if rx.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            let retry_due = async {
                match retry {
                    Some(pause) => tokio::time::sleep(pause).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = ticker.tick() => {}
                () = changed => tracing::info!("directory changed; recomputing group metrics"),
                () = retry_due => tracing::info!("retrying group metrics"),
            }
            match self.refresh(&directory).await {
                Ok(_) => retry = None,
                Err(e) => {
                    let next = retry
                        .map_or(RETRY_FIRST, |p| p * 2)
                        .min(RETRY_MAX)
                        .min(interval);
                    tracing::warn!(error = %e, retry_in_s = next.as_secs(), "group metrics not refreshed; keeping the previous counts");
                    retry = Some(next);
                }
            }
        }
    }
}

/// The first pause before retrying a failed group metrics run; it doubles up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_secs(10);
const RETRY_MAX: Duration = Duration::from_secs(600);

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn id(s: &str) -> EntryId {
        Arc::from(s)
    }
    fn mbx(s: &str) -> Member {
        Member::Entry(id(s), EntryKind::Mailbox)
    }
    fn grp(s: &str) -> Member {
        Member::Entry(id(s), EntryKind::Group)
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
        let mut rng = crate::synth::SplitMix64::new(42);
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

    #[test]
    fn store_is_empty_until_computed() {
        let s = MetricsStore::default();
        assert!(!s.is_ready());
        assert_eq!(s.get(&id("a")), None);
        s.store(HashMap::from([(
            id("a"),
            GroupMetrics {
                total_members: 3,
                external_members: 0,
            },
        )]));
        assert!(s.is_ready());
        assert_eq!(s.get(&id("a")).unwrap().total_members, 3);
    }
    /// A directory whose group scan fails a given number of times, then answers.
    struct Flaky {
        failures_left: std::sync::Mutex<u32>,
        calls: std::sync::atomic::AtomicU32,
    }

    impl Directory for Flaky {
        async fn lookup(
            &self,
            a: &[crate::address::Address],
        ) -> Result<Vec<Option<Arc<crate::model::Entry>>>, crate::directory::DirectoryError>
        {
            Ok(vec![None; a.len()])
        }
        async fn member_of(
            &self,
            _: &EntryId,
        ) -> Result<Arc<HashSet<EntryId>>, crate::directory::DirectoryError> {
            Ok(Arc::default())
        }
        async fn group_graph(&self) -> Result<GroupGraph, crate::directory::DirectoryError> {
            self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut left = self.failures_left.lock().unwrap();
            if *left > 0 {
                *left -= 1;
                return Err(crate::directory::DirectoryError::Unavailable("down".into()));
            }
            Ok(GroupGraph {
                groups: vec![(id("g"), vec![mbx("m1")])],
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_run_is_retried_long_before_the_next_schedule() {
        let dir = Arc::new(Flaky {
            failures_left: std::sync::Mutex::new(2),
            calls: Default::default(),
        });
        let store = Arc::new(MetricsStore::default());
        let job = tokio::spawn(
            store
                .clone()
                .run_schedule(dir.clone(), Duration::from_secs(24 * 3600)),
        );
        let started = tokio::time::Instant::now();
        while !store.is_ready() {
            tokio::time::sleep(Duration::from_secs(1)).await;
            assert!(
                started.elapsed() < Duration::from_secs(3600),
                "no retry within an hour"
            );
        }
        // Failed at 0 s, retried at 10 s (failed), then at 30 s: ready, 2 retries.
        assert_eq!(dir.calls.load(std::sync::atomic::Ordering::SeqCst), 3);
        assert!(
            started.elapsed() >= Duration::from_secs(30)
                && started.elapsed() <= Duration::from_secs(32)
        );
        assert_eq!(store.get(&id("g")).unwrap().total_members, 1);
        job.abort();
    }
}
