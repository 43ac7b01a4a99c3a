//! A cache layer above any [`Directory`] backend (moka, bounded), and its `[directory.cache]`
//! settings.
//!
//! Found entries are fresh for `positive_ttl`, "no such address" answers for `negative_ttl`,
//! and the two are kept in caches of their own (`max_entries`, `max_missing_entries`) so that
//! unknown addresses compete only with each other;
//! both are validated to be at most the organisation's refresh interval, so a cache never makes
//! a tip older than the refresh interval (tips are refreshed at that interval, so no tip may
//! rest on older facts). When the backend cannot answer for an address (it failed or timed
//! out), the entry is served as it was last known if that is no older than the refresh
//! interval, and only the addresses never seen (or older) come back [`Lookup::Unknown`], which
//! the request path turns into pending tips. Freshness is judged by an injectable clock so
//! tests need no sleeps. The metrics job's [`GroupSource`] calls go straight to the backend.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::{Directory, DirectoryError, GroupSource, Lookup};
use crate::domain::address::Address;
use crate::domain::{Entry, EntryId, GroupGraph, GroupMetrics};

/// The `[directory.cache]` section.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// How long a found entry is served without asking the backend.
    #[serde(with = "humantime_serde")]
    pub positive_ttl: Duration,
    /// How long "no object has this address" is served without asking again.
    #[serde(with = "humantime_serde")]
    pub negative_ttl: Duration,
    /// The most found addresses (and, separately, senders' group sets) kept.
    pub max_entries: u64,
    /// The most "no such address" answers kept, apart from the found ones: junk addresses
    /// evict each other, never the people who are really written to.
    pub max_missing_entries: u64,
    /// The longest a request waits for the backend (connect, bind and search together)
    /// before it is answered from the cache, the rest pending. Keep it below clients'
    /// deadlines.
    #[serde(with = "humantime_serde")]
    pub backend_timeout: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            positive_ttl: Duration::from_secs(300),
            negative_ttl: Duration::from_secs(60),
            max_entries: 100_000,
            max_missing_entries: 20_000,
            backend_timeout: Duration::from_secs(1),
        }
    }
}

impl CacheConfig {
    /// Checks the TTLs against the refresh interval.
    ///
    /// # Errors
    /// The offending key and why.
    pub(crate) fn validate(
        &self,
        refresh_interval: Duration,
    ) -> Result<(), (&'static str, String)> {
        for (key, ttl) in [
            ("directory.cache.positive_ttl", self.positive_ttl),
            ("directory.cache.negative_ttl", self.negative_ttl),
        ] {
            if ttl > refresh_interval {
                return Err((
                    key,
                    format!(
                        "{} is longer than org.refresh_interval ({}): tips would be older than the refresh interval",
                        humantime::format_duration(ttl),
                        humantime::format_duration(refresh_interval)
                    ),
                ));
            }
        }
        if self.backend_timeout.is_zero() {
            return Err((
                "directory.cache.backend_timeout",
                "must be above zero".into(),
            ));
        }
        for (key, n) in [
            ("directory.cache.max_entries", self.max_entries),
            (
                "directory.cache.max_missing_entries",
                self.max_missing_entries,
            ),
        ] {
            if n == 0 {
                return Err((key, "must be above zero".into()));
            }
        }
        Ok(())
    }
}

/// A monotonic clock, injectable for tests.
pub type MonoClock = Arc<dyn Fn() -> Instant + Send + Sync>;

#[derive(Clone)]
struct Stamped<T> {
    value: T,
    at: Instant,
}

struct Inner<D> {
    backend: D,
    config: CacheConfig,
    /// The oldest answer ever served (the refresh interval).
    max_age: Duration,
    /// Found entries.
    entries: moka::sync::Cache<Address, Stamped<Arc<Entry>>>,
    /// When each address was last answered "not found": its own bound, so that a flood of
    /// unknown addresses cannot evict found entries.
    missing: moka::sync::Cache<Address, Instant>,
    groups: moka::sync::Cache<EntryId, Stamped<Arc<HashSet<EntryId>>>>,
    clock: MonoClock,
}

/// A directory with a cache in front; cheap to clone.
pub struct CachedDirectory<D> {
    inner: Arc<Inner<D>>,
}

impl<D> Clone for CachedDirectory<D> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<D: Directory> CachedDirectory<D> {
    /// Caches `backend`; nothing is served older than `max_age` (the refresh interval).
    pub fn new(backend: D, config: CacheConfig, max_age: Duration) -> Self {
        Self::with_clock(backend, config, max_age, Arc::new(Instant::now))
    }

    /// Like [`CachedDirectory::new`] with an injected clock (tests).
    pub fn with_clock(
        backend: D,
        config: CacheConfig,
        max_age: Duration,
        clock: MonoClock,
    ) -> Self {
        // moka's own expiry (real time) only bounds memory; freshness uses `clock`.
        let entries = moka::sync::Cache::builder()
            .max_capacity(config.max_entries)
            .time_to_live(max_age)
            .build();
        let missing = moka::sync::Cache::builder()
            .max_capacity(config.max_missing_entries)
            .time_to_live(max_age)
            .build();
        let groups = moka::sync::Cache::builder()
            .max_capacity(config.max_entries)
            .time_to_live(max_age)
            .build();
        Self {
            inner: Arc::new(Inner {
                backend,
                config,
                max_age,
                entries,
                missing,
                groups,
                clock,
            }),
        }
    }

    /// The backend below the cache.
    pub(crate) fn backend(&self) -> &D {
        &self.inner.backend
    }

    fn age(&self, at: Instant) -> Duration {
        (self.inner.clock)().saturating_duration_since(at)
    }

    /// The last answer for `a`, found or not, with when it was given.
    fn cached(&self, a: &Address) -> Option<Stamped<Option<Arc<Entry>>>> {
        if let Some(s) = self.inner.entries.get(a) {
            return Some(Stamped {
                value: Some(s.value),
                at: s.at,
            });
        }
        let at = self.inner.missing.get(a)?;
        Some(Stamped { value: None, at })
    }

    /// Stores an answer in the cache its kind belongs to (and drops any older answer of the
    /// other kind).
    fn store(&self, a: Address, value: Option<Arc<Entry>>, at: Instant) {
        match value {
            Some(value) => {
                self.inner.missing.invalidate(&a);
                self.inner.entries.insert(a, Stamped { value, at });
            }
            None => {
                self.inner.entries.invalidate(&a);
                self.inner.missing.insert(a, at);
            }
        }
    }

    fn ttl(&self, found: bool) -> Duration {
        if found {
            self.inner.config.positive_ttl
        } else {
            self.inner.config.negative_ttl
        }
    }
}

impl<D: Directory> Directory for CachedDirectory<D> {
    async fn lookup(&self, addresses: &[&Address]) -> Vec<Lookup> {
        let mut out: Vec<Lookup> = Vec::with_capacity(addresses.len());
        let mut stale: HashMap<usize, Stamped<Option<Arc<Entry>>>> = HashMap::new();
        let mut misses: Vec<&Address> = Vec::new();
        let mut miss_at: Vec<usize> = Vec::new();
        for (i, a) in addresses.iter().enumerate() {
            match self.cached(a) {
                Some(s) if self.age(s.at) < self.ttl(s.value.is_some()) => {
                    out.push(s.value.map_or(Lookup::NotFound, Lookup::Found));
                }
                other => {
                    if let Some(s) = other {
                        stale.insert(i, s);
                    }
                    out.push(Lookup::Unknown);
                    misses.push(a);
                    miss_at.push(i);
                }
            }
        }
        crate::telemetry::get().cache_lookups(addresses.len() - misses.len(), misses.len());
        if misses.is_empty() {
            return out;
        }
        let timeout = self.inner.config.backend_timeout;
        let answers = match tokio::time::timeout(timeout, self.inner.backend.lookup(&misses)).await
        {
            Ok(answers) => answers,
            Err(_) => {
                tracing::warn!(error = %DirectoryError::Timeout, asked = misses.len(),
                    "directory lookup timed out");
                // Every miss is unknown: served from what was last known below.
                Vec::new()
            }
        };
        let now = (self.inner.clock)();
        let mut answers = answers.into_iter();
        let (mut unknown, mut served) = (0usize, 0usize);
        for (a, i) in misses.into_iter().zip(miss_at) {
            // A backend that answered fewer addresses than asked: the rest is unknown.
            match answers.next().unwrap_or(Lookup::Unknown) {
                Lookup::Unknown => {
                    unknown += 1;
                    if let Some(s) = stale.remove(&i)
                        && self.age(s.at) <= self.inner.max_age
                    {
                        out[i] = s.value.map_or(Lookup::NotFound, Lookup::Found);
                        served += 1;
                    }
                }
                answer => {
                    let value = match &answer {
                        Lookup::Found(e) => Some(e.clone()),
                        _ => None,
                    };
                    out[i] = answer;
                    // A key of its own: a request's address is a slice of its body, which
                    // the cache must not keep alive.
                    self.store(a.detached(), value, now);
                }
            }
        }
        crate::telemetry::get().cache("stale", served);
        if unknown > 0 {
            // The backend (or the timeout above) has already warned: one warning per failure.
            tracing::debug!(
                asked = addresses.len(),
                unknown,
                served_stale = served,
                "directory could not answer; serving last known entries, the rest pending"
            );
        }
        out
    }

    async fn member_of(&self, id: &EntryId) -> Result<Arc<HashSet<EntryId>>, DirectoryError> {
        let cached = self.inner.groups.get(id);
        if let Some(s) = &cached
            && self.age(s.at) < self.inner.config.positive_ttl
        {
            return Ok(s.value.clone());
        }
        let timeout = self.inner.config.backend_timeout;
        let answer = tokio::time::timeout(timeout, self.inner.backend.member_of(id))
            .await
            .unwrap_or(Err(DirectoryError::Timeout));
        match answer {
            Ok(groups) => {
                self.inner.groups.insert(
                    id.clone(),
                    Stamped {
                        value: groups.clone(),
                        at: (self.inner.clock)(),
                    },
                );
                Ok(groups)
            }
            Err(e) => match cached {
                Some(s) if self.age(s.at) <= self.inner.max_age => Ok(s.value),
                _ => Err(e),
            },
        }
    }
}

/// The metrics job reads the backend itself: group scans are not cached.
impl<D: GroupSource> GroupSource for CachedDirectory<D> {
    async fn group_graph(&self) -> Result<Arc<GroupGraph>, DirectoryError> {
        self.inner.backend.group_graph().await
    }

    async fn stored_group_metrics(
        &self,
    ) -> Result<Option<HashMap<EntryId, GroupMetrics>>, DirectoryError> {
        self.inner.backend.stored_group_metrics().await
    }

    fn changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        self.inner.backend.changes()
    }
}

#[cfg(test)]
mod tests;
