//! A cache layer above any [`Directory`] backend (moka, bounded).
//!
//! Found entries are fresh for `positive_ttl`, "no such address" answers for `negative_ttl`;
//! both are validated to be at most the organisation's refresh interval, so a cache never makes
//! a tip older than the refresh interval (SPEC section 5). When the backend fails, entries past
//! their TTL but younger than the refresh interval are served as they were last known, and only
//! the addresses never seen (or older) come back [`Lookup::Unknown`], which the request path
//! turns into pending tips. Freshness is judged by an injectable clock so tests need no sleeps.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::{Directory, DirectoryError, GroupGraph, Lookup};
use crate::domain::address::Address;
use crate::domain::{Entry, EntryId, GroupMetrics};

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
    /// The most addresses (and, separately, senders' group sets) kept.
    pub max_entries: u64,
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
            backend_timeout: Duration::from_secs(1),
        }
    }
}

impl CacheConfig {
    /// Checks the TTLs against the refresh interval.
    ///
    /// # Errors
    /// The offending key and why.
    pub fn validate(&self, refresh_interval: Duration) -> Result<(), (&'static str, String)> {
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
        if self.max_entries == 0 {
            return Err(("directory.cache.max_entries", "must be above zero".into()));
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
    entries: moka::sync::Cache<Address, Stamped<Option<Arc<Entry>>>>,
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
                groups,
                clock,
            }),
        }
    }

    /// The backend below the cache.
    pub fn backend(&self) -> &D {
        &self.inner.backend
    }

    /// Forgets everything.
    pub fn clear(&self) {
        self.inner.entries.invalidate_all();
        self.inner.groups.invalidate_all();
    }

    fn age(&self, at: Instant) -> Duration {
        (self.inner.clock)().saturating_duration_since(at)
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
    async fn lookup(
        &self,
        addresses: &[Address],
    ) -> Result<Vec<Option<Arc<Entry>>>, DirectoryError> {
        self.lookup_each(addresses)
            .await
            .into_iter()
            .map(|l| match l {
                Lookup::Found(e) => Ok(Some(e)),
                Lookup::NotFound => Ok(None),
                Lookup::Unknown => Err(DirectoryError::Unavailable(
                    "directory unavailable and address not cached".into(),
                )),
            })
            .collect()
    }

    async fn lookup_each(&self, addresses: &[Address]) -> Vec<Lookup> {
        let mut out: Vec<Lookup> = Vec::with_capacity(addresses.len());
        let mut stale: HashMap<usize, Stamped<Option<Arc<Entry>>>> = HashMap::new();
        let mut misses: Vec<Address> = Vec::new();
        let mut miss_at: Vec<usize> = Vec::new();
        for (i, a) in addresses.iter().enumerate() {
            match self.inner.entries.get(a) {
                Some(s) if self.age(s.at) < self.ttl(s.value.is_some()) => {
                    out.push(s.value.map_or(Lookup::NotFound, Lookup::Found));
                }
                other => {
                    if let Some(s) = other {
                        stale.insert(i, s);
                    }
                    out.push(Lookup::Unknown);
                    misses.push(a.clone());
                    miss_at.push(i);
                }
            }
        }
        if misses.is_empty() {
            return out;
        }
        let timeout = self.inner.config.backend_timeout;
        let answer = tokio::time::timeout(timeout, self.inner.backend.lookup(&misses))
            .await
            .unwrap_or(Err(DirectoryError::Timeout));
        match answer {
            Ok(found) => {
                let now = (self.inner.clock)();
                for ((a, i), value) in misses.into_iter().zip(miss_at).zip(found) {
                    out[i] = value.clone().map_or(Lookup::NotFound, Lookup::Found);
                    self.inner.entries.insert(a, Stamped { value, at: now });
                }
            }
            Err(e) => {
                let mut served = 0;
                for i in miss_at {
                    if let Some(s) = stale.remove(&i)
                        && self.age(s.at) <= self.inner.max_age
                    {
                        out[i] = s.value.map_or(Lookup::NotFound, Lookup::Found);
                        served += 1;
                    }
                }
                tracing::warn!(error = %e, asked = addresses.len(), served_stale = served,
                    "directory lookup failed; serving last known entries, the rest pending");
            }
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

    async fn group_graph(&self) -> Result<GroupGraph, DirectoryError> {
        self.inner.backend.group_graph().await
    }

    async fn stored_group_metrics(
        &self,
    ) -> Result<Option<HashMap<EntryId, GroupMetrics>>, DirectoryError> {
        self.inner.backend.stored_group_metrics().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_never_exceed_refresh_interval() {
        let two_hours = Duration::from_secs(7200);
        assert!(CacheConfig::default().validate(two_hours).is_ok());
        let c = CacheConfig {
            positive_ttl: Duration::from_secs(3 * 3600),
            ..CacheConfig::default()
        };
        let (key, msg) = c.validate(two_hours).unwrap_err();
        assert_eq!(key, "directory.cache.positive_ttl");
        assert!(msg.contains("3h"), "{msg}");
        let c = CacheConfig {
            negative_ttl: Duration::from_secs(7201),
            ..CacheConfig::default()
        };
        assert_eq!(
            c.validate(two_hours).unwrap_err().0,
            "directory.cache.negative_ttl"
        );
    }
}
