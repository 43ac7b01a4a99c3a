//! A cache layer above any [`Directory`] backend (moka, bounded), and its `[directory.cache]`
//! settings.
//!
//! Found entries are fresh for `positive_ttl`, "no such address" answers for `negative_ttl`;
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
    pub(crate) fn backend(&self) -> &D {
        &self.inner.backend
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
    async fn lookup(&self, addresses: &[Address]) -> Vec<Lookup> {
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
                    self.inner.entries.insert(a, Stamped { value, at: now });
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
    async fn group_graph(&self) -> Result<GroupGraph, DirectoryError> {
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
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::domain::EntryKind;

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

    /// How the scripted backend behaves.
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Mode {
        /// Answers every address.
        Up,
        /// Answers every address `Unknown`, as a backend that failed does.
        Down,
        /// Never answers: the cache's backend timeout decides.
        Hung,
    }

    /// A backend with a fixed directory that answers, fails or hangs as told, and counts.
    struct Scripted {
        entries: HashMap<&'static str, Arc<Entry>>,
        mode: Mutex<Mode>,
        /// Addresses it answers `Unknown` for even when up (one search of a batch failed).
        unanswerable: Mutex<HashSet<&'static str>>,
        asked: Mutex<Vec<Vec<String>>>,
        generation: tokio::sync::watch::Sender<u64>,
    }

    impl Scripted {
        fn new(found: &[&'static str]) -> Arc<Self> {
            Arc::new(Self {
                entries: found
                    .iter()
                    .map(|a| (*a, Arc::new(Entry::new(*a, EntryKind::Mailbox, addr(a)))))
                    .collect(),
                mode: Mutex::new(Mode::Up),
                unanswerable: Mutex::default(),
                asked: Mutex::default(),
                generation: tokio::sync::watch::Sender::new(0),
            })
        }

        fn set(&self, mode: Mode) {
            *self.mode.lock().unwrap() = mode;
        }

        fn asked(&self) -> usize {
            self.asked.lock().unwrap().len()
        }
    }

    impl Directory for Scripted {
        async fn lookup(&self, addresses: &[Address]) -> Vec<Lookup> {
            self.asked
                .lock()
                .unwrap()
                .push(addresses.iter().map(|a| a.as_str().to_owned()).collect());
            let mode = *self.mode.lock().unwrap();
            match mode {
                Mode::Hung => std::future::pending().await,
                Mode::Down => vec![Lookup::Unknown; addresses.len()],
                Mode::Up => {
                    let unanswerable = self.unanswerable.lock().unwrap();
                    addresses
                        .iter()
                        .map(|a| match self.entries.get(a.as_str()) {
                            _ if unanswerable.contains(a.as_str()) => Lookup::Unknown,
                            Some(e) => Lookup::Found(e.clone()),
                            None => Lookup::NotFound,
                        })
                        .collect()
                }
            }
        }

        async fn member_of(&self, _: &EntryId) -> Result<Arc<HashSet<EntryId>>, DirectoryError> {
            Ok(Arc::default())
        }
    }

    impl GroupSource for Scripted {
        async fn group_graph(&self) -> Result<GroupGraph, DirectoryError> {
            Ok(GroupGraph {
                groups: vec![(EntryId::from("g@contoso.com"), Vec::new())],
            })
        }

        async fn stored_group_metrics(
            &self,
        ) -> Result<Option<HashMap<EntryId, GroupMetrics>>, DirectoryError> {
            Ok(Some(HashMap::from([(
                EntryId::from("g@contoso.com"),
                GroupMetrics {
                    total_members: 7,
                    external_members: 1,
                },
            )])))
        }

        fn changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
            Some(self.generation.subscribe())
        }
    }

    fn addr(s: &str) -> Address {
        Address::parse(s).unwrap()
    }

    fn addrs(list: &[&str]) -> Vec<Address> {
        list.iter().map(|a| addr(a)).collect()
    }

    const REFRESH: Duration = Duration::from_secs(3600);

    /// The cache over `backend` with positive TTL 5 min, negative 1 min, a one-hour refresh
    /// interval, and a clock the test moves.
    fn cached(backend: &Arc<Scripted>) -> (CachedDirectory<Arc<Scripted>>, Arc<Mutex<Instant>>) {
        let now = Arc::new(Mutex::new(Instant::now()));
        let clock = {
            let now = now.clone();
            Arc::new(move || *now.lock().unwrap())
        };
        let config = CacheConfig {
            positive_ttl: Duration::from_secs(300),
            negative_ttl: Duration::from_secs(60),
            ..CacheConfig::default()
        };
        (
            CachedDirectory::with_clock(backend.clone(), config, REFRESH, clock),
            now,
        )
    }

    fn kinds(answers: &[Lookup]) -> Vec<&'static str> {
        answers
            .iter()
            .map(|l| match l {
                Lookup::Found(_) => "found",
                Lookup::NotFound => "not found",
                Lookup::Unknown => "unknown",
            })
            .collect()
    }

    const TARO: &str = "taro@contoso.com";
    const NOBODY: &str = "nobody@contoso.com";
    const NEVER: &str = "never-asked@contoso.com";

    #[tokio::test]
    async fn unknown_answers_are_served_from_the_last_known_up_to_the_refresh_interval() {
        let backend = Scripted::new(&[TARO]);
        let (cache, now) = cached(&backend);
        let advance = |d: Duration| *now.lock().unwrap() += d;

        let warm = cache.lookup(&addrs(&[TARO, NOBODY])).await;
        assert_eq!(kinds(&warm), ["found", "not found"]);
        assert_eq!(backend.asked(), 1);

        // Both answers past their TTLs; the backend cannot answer: last known, and an address
        // never seen is unknown.
        backend.set(Mode::Down);
        advance(Duration::from_secs(301));
        let down = cache.lookup(&addrs(&[TARO, NOBODY, NEVER])).await;
        assert_eq!(kinds(&down), ["found", "not found", "unknown"]);
        assert_eq!(
            backend.asked(),
            2,
            "expired answers go to the backend first"
        );
        assert!(matches!(&down[0], Lookup::Found(e) if &*e.id == TARO));

        // Exactly one refresh interval old: still served.
        advance(REFRESH - Duration::from_secs(301));
        let edge = cache.lookup(&addrs(&[TARO, NOBODY])).await;
        assert_eq!(kinds(&edge), ["found", "not found"]);

        // Older than the refresh interval: unknown.
        advance(Duration::from_secs(1));
        let old = cache.lookup(&addrs(&[TARO, NOBODY])).await;
        assert_eq!(kinds(&old), ["unknown", "unknown"]);

        // The backend is back: fresh answers, cached again.
        backend.set(Mode::Up);
        let back = cache.lookup(&addrs(&[TARO, NOBODY])).await;
        assert_eq!(kinds(&back), ["found", "not found"]);
        let asked = backend.asked();
        cache.lookup(&addrs(&[TARO, NOBODY])).await;
        assert_eq!(backend.asked(), asked, "fresh again: not asked");
    }

    #[tokio::test]
    async fn stale_serving_is_per_address() {
        let backend = Scripted::new(&[TARO, "hanako@contoso.com"]);
        let (cache, now) = cached(&backend);
        cache.lookup(&addrs(&[TARO, "hanako@contoso.com"])).await;
        *now.lock().unwrap() += Duration::from_secs(301);
        // The backend answers Hanako but not Taro (nor an address it never saw).
        backend.unanswerable.lock().unwrap().extend([TARO, NEVER]);
        let mixed = cache
            .lookup(&addrs(&[TARO, "hanako@contoso.com", NEVER]))
            .await;
        assert_eq!(kinds(&mixed), ["found", "found", "unknown"]);
        // Hanako's answer was stored fresh; Taro's stays the old one, so past the refresh
        // interval from the first lookup only Hanako is known.
        backend.set(Mode::Down);
        *now.lock().unwrap() += REFRESH - Duration::from_secs(300);
        let later = cache.lookup(&addrs(&[TARO, "hanako@contoso.com"])).await;
        assert_eq!(kinds(&later), ["unknown", "found"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_hung_backend_times_out_into_last_known_answers() {
        let backend = Scripted::new(&[TARO]);
        let (cache, now) = cached(&backend);
        cache.lookup(&addrs(&[TARO, NOBODY])).await;
        *now.lock().unwrap() += Duration::from_secs(301);
        backend.set(Mode::Hung);
        let started = tokio::time::Instant::now();
        let answers = cache.lookup(&addrs(&[TARO, NOBODY, NEVER])).await;
        // Paused time: the timeout fires as soon as nothing else can run.
        assert_eq!(started.elapsed(), CacheConfig::default().backend_timeout);
        assert_eq!(kinds(&answers), ["found", "not found", "unknown"]);
        // Past the refresh interval, a hung backend leaves everything unknown.
        *now.lock().unwrap() += REFRESH;
        let answers = cache.lookup(&addrs(&[TARO, NOBODY])).await;
        assert_eq!(kinds(&answers), ["unknown", "unknown"]);
    }

    #[tokio::test]
    async fn group_source_is_forwarded_to_the_backend() {
        let backend = Scripted::new(&[]);
        let (cache, _) = cached(&backend);
        let mut changes = cache.changes().expect("the backend's change signal");
        backend.generation.send_modify(|g| *g += 1);
        assert!(changes.has_changed().unwrap());
        assert_eq!(*changes.borrow_and_update(), 1);
        assert_eq!(cache.group_graph().await.unwrap().groups.len(), 1);
        let stored = cache.stored_group_metrics().await.unwrap().unwrap();
        assert_eq!(stored[&EntryId::from("g@contoso.com")].total_members, 7);
    }
}
