//! Group metrics: total and external member counts of every group with nested groups expanded,
//! each member counted once and loops survived. Computed in the background (at start-up and on
//! a schedule) and read by requests in O(1); a request never expands a group.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;

use crate::directory::GroupSource;
use crate::domain::{Entry, EntryId, GroupMetrics, id_hash};

/// The metrics cache requests read. Empty (`None`) until the first computation finishes.
#[derive(Debug, Default)]
pub struct MetricsStore {
    current: ArcSwapOption<Counts>,
}

/// Every group's counts, read for every group recipient of every draft: found by the hash
/// of the group's id ([`id_hash`]), which a directory entry carries ([`Entry::id_hash`]), so
/// a lookup does not read the id's text to hash it (a cache miss of its own); the ids compare
/// by pointer first, as an entry and the group graph share them where the backend does.
#[derive(Debug, Default)]
struct Counts(hashbrown::HashTable<(EntryId, GroupMetrics)>);

impl Counts {
    fn with_capacity(n: usize) -> Self {
        Self(hashbrown::HashTable::with_capacity(n))
    }

    fn get(&self, id: &EntryId, hash: u64) -> Option<GroupMetrics> {
        self.0
            .find(hash, |(k, _)| Arc::ptr_eq(k, id) || k == id)
            .map(|(_, m)| *m)
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}

impl Extend<(EntryId, GroupMetrics)> for Counts {
    /// A group given twice keeps its last counts.
    fn extend<I: IntoIterator<Item = (EntryId, GroupMetrics)>>(&mut self, iter: I) {
        for (id, m) in iter {
            let hash = id_hash(&id);
            match self.0.entry(hash, |(k, _)| *k == id, |(k, _)| id_hash(k)) {
                hashbrown::hash_table::Entry::Occupied(mut e) => e.get_mut().1 = m,
                hashbrown::hash_table::Entry::Vacant(e) => {
                    e.insert((id, m));
                }
            }
        }
    }
}

impl FromIterator<(EntryId, GroupMetrics)> for Counts {
    fn from_iter<I: IntoIterator<Item = (EntryId, GroupMetrics)>>(iter: I) -> Self {
        let mut counts = Self::default();
        counts.extend(iter);
        counts
    }
}

impl MetricsStore {
    /// A group's metrics, or `None` when not computed (yet).
    pub fn get(&self, id: &EntryId) -> Option<GroupMetrics> {
        self.get_hashed(id, id_hash(id))
    }

    /// The metrics of the group `entry`, found by the id hash it carries.
    pub fn get_for(&self, entry: &Entry) -> Option<GroupMetrics> {
        self.get_hashed(&entry.id, entry.id_hash())
    }

    fn get_hashed(&self, id: &EntryId, hash: u64) -> Option<GroupMetrics> {
        self.current.load().as_ref().and_then(|m| m.get(id, hash))
    }

    /// True once a computation has finished.
    pub(crate) fn is_ready(&self) -> bool {
        self.current.load().is_some()
    }

    /// Replaces the metrics with a new computation.
    pub(crate) fn store(&self, metrics: HashMap<EntryId, GroupMetrics>) {
        self.store_counts(metrics.into_iter().collect());
    }

    fn store_counts(&self, counts: Counts) {
        self.current.store(Some(Arc::new(counts)));
    }

    /// Reads the group graph from `directory`, computes and stores the metrics.
    ///
    /// # Errors
    /// The directory's error; the previous metrics stay.
    pub async fn refresh<G: GroupSource>(
        &self,
        directory: &G,
    ) -> Result<usize, crate::directory::DirectoryError> {
        let started = Instant::now();
        if let Some(stored) = directory.stored_group_metrics().await? {
            let n = stored.len();
            self.store(stored);
            tracing::info!(groups = n, "group metrics read from the directory");
            return Ok(n);
        }
        let graph = directory.group_graph().await?;
        // Expanded on the request workers a slice at a time, yielding to the requests queued
        // behind each slice: a thread of its own, even at idle priority, cost request p99
        // half again while it ran (BENCHMARKS.md).
        let mut metrics = Counts::with_capacity(graph.groups.len());
        let mut expansion = crate::domain::Expansion::new(&graph);
        // The first computation (nothing to serve yet) runs through; a recomputation rests
        // after each burst of slices, so that it takes a small share of the workers.
        let paced = self.is_ready();
        let mut burst = Instant::now();
        while !expansion.step(SLICE, &mut metrics) {
            if paced && burst.elapsed() >= BURST {
                tokio::time::sleep(REST).await;
                burst = Instant::now();
            } else {
                tokio::task::yield_now().await;
            }
        }
        drop(expansion);
        let n = metrics.len();
        self.store_counts(metrics);
        tracing::info!(
            groups = n,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "group metrics computed"
        );
        Ok(n)
    }

    /// Refreshes now, then every `interval` and whenever the directory reports a change,
    /// until the task is dropped.
    pub(crate) async fn run_schedule<G: GroupSource>(
        self: Arc<Self>,
        directory: G,
        interval: Duration,
    ) {
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
            let started = Instant::now();
            let result = self.refresh(&directory).await;
            crate::telemetry::get().group_metrics_run(started.elapsed(), result.is_ok());
            match result {
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

/// The work of one slice of the group expansion between two yields (see
/// [`Expansion::step`](crate::domain::Expansion::step)): some tens of microseconds.
pub const SLICE: usize = 1_024;
/// A recomputation works in bursts of slices this long, then rests for [`REST`]: about a
/// twentieth of one worker at most.
const BURST: Duration = Duration::from_micros(250);
const REST: Duration = Duration::from_millis(5);

/// The first pause before retrying a failed group metrics run; it doubles up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_secs(10);
const RETRY_MAX: Duration = Duration::from_secs(600);

#[cfg(test)]
mod tests {
    use super::*;

    use crate::domain::{EntryKind, GroupGraph, Member};

    fn mbx(s: &str) -> Member {
        Member::Entry(id(s), EntryKind::Mailbox)
    }

    fn id(s: &str) -> EntryId {
        Arc::from(s)
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

    impl GroupSource for Flaky {
        async fn group_graph(&self) -> Result<Arc<GroupGraph>, crate::directory::DirectoryError> {
            self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut left = self.failures_left.lock().unwrap();
            if *left > 0 {
                *left -= 1;
                return Err(crate::directory::DirectoryError::Unavailable("down".into()));
            }
            Ok(Arc::new(GroupGraph {
                groups: vec![(id("g"), vec![mbx("m1")])],
            }))
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
