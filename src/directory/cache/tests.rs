//! Unit tests of the cache, over a scripted backend and a clock the tests move.

use std::sync::Mutex;

use super::*;
use crate::domain::EntryKind;
use crate::domain::address::AddressRules;

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
    async fn lookup(&self, addresses: &[&Address]) -> Vec<Lookup> {
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
    async fn group_graph(&self) -> Result<Arc<GroupGraph>, DirectoryError> {
        Ok(Arc::new(GroupGraph {
            groups: vec![(EntryId::from("g@contoso.com"), Vec::new())],
        }))
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

/// A lookup's batch: the addresses, borrowed.
fn refs(list: &[Address]) -> Vec<&Address> {
    list.iter().collect()
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

    let warm = cache.lookup(&refs(&addrs(&[TARO, NOBODY]))).await;
    assert_eq!(kinds(&warm), ["found", "not found"]);
    assert_eq!(backend.asked(), 1);

    // Both answers past their TTLs; the backend cannot answer: last known, and an address
    // never seen is unknown.
    backend.set(Mode::Down);
    advance(Duration::from_secs(301));
    let down = cache.lookup(&refs(&addrs(&[TARO, NOBODY, NEVER]))).await;
    assert_eq!(kinds(&down), ["found", "not found", "unknown"]);
    assert_eq!(
        backend.asked(),
        2,
        "expired answers go to the backend first"
    );
    assert!(matches!(&down[0], Lookup::Found(e) if &*e.id == TARO));

    // Exactly one refresh interval old: still served.
    advance(REFRESH - Duration::from_secs(301));
    let edge = cache.lookup(&refs(&addrs(&[TARO, NOBODY]))).await;
    assert_eq!(kinds(&edge), ["found", "not found"]);

    // Older than the refresh interval: unknown.
    advance(Duration::from_secs(1));
    let old = cache.lookup(&refs(&addrs(&[TARO, NOBODY]))).await;
    assert_eq!(kinds(&old), ["unknown", "unknown"]);

    // The backend is back: fresh answers, cached again.
    backend.set(Mode::Up);
    let back = cache.lookup(&refs(&addrs(&[TARO, NOBODY]))).await;
    assert_eq!(kinds(&back), ["found", "not found"]);
    let asked = backend.asked();
    cache.lookup(&refs(&addrs(&[TARO, NOBODY]))).await;
    assert_eq!(backend.asked(), asked, "fresh again: not asked");
}

#[tokio::test]
async fn stale_serving_is_per_address() {
    let backend = Scripted::new(&[TARO, "hanako@contoso.com"]);
    let (cache, now) = cached(&backend);
    cache
        .lookup(&refs(&addrs(&[TARO, "hanako@contoso.com"])))
        .await;
    *now.lock().unwrap() += Duration::from_secs(301);
    // The backend answers Hanako but not Taro (nor an address it never saw).
    backend.unanswerable.lock().unwrap().extend([TARO, NEVER]);
    let mixed = cache
        .lookup(&refs(&addrs(&[TARO, "hanako@contoso.com", NEVER])))
        .await;
    assert_eq!(kinds(&mixed), ["found", "found", "unknown"]);
    // Hanako's answer was stored fresh; Taro's stays the old one, so past the refresh
    // interval from the first lookup only Hanako is known.
    backend.set(Mode::Down);
    *now.lock().unwrap() += REFRESH - Duration::from_secs(300);
    let later = cache
        .lookup(&refs(&addrs(&[TARO, "hanako@contoso.com"])))
        .await;
    assert_eq!(kinds(&later), ["unknown", "found"]);
}

#[tokio::test(start_paused = true)]
async fn a_hung_backend_times_out_into_last_known_answers() {
    let backend = Scripted::new(&[TARO]);
    let (cache, now) = cached(&backend);
    cache.lookup(&refs(&addrs(&[TARO, NOBODY]))).await;
    *now.lock().unwrap() += Duration::from_secs(301);
    backend.set(Mode::Hung);
    let started = tokio::time::Instant::now();
    let answers = cache.lookup(&refs(&addrs(&[TARO, NOBODY, NEVER]))).await;
    // Paused time: the timeout fires as soon as nothing else can run.
    assert_eq!(started.elapsed(), CacheConfig::default().backend_timeout);
    assert_eq!(kinds(&answers), ["found", "not found", "unknown"]);
    // Past the refresh interval, a hung backend leaves everything unknown.
    *now.lock().unwrap() += REFRESH;
    let answers = cache.lookup(&refs(&addrs(&[TARO, NOBODY]))).await;
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

#[tokio::test]
async fn junk_addresses_never_evict_found_entries() {
    let backend = Scripted::new(&[TARO, "hanako@contoso.com"]);
    let now = Arc::new(Mutex::new(Instant::now()));
    let clock = {
        let now = now.clone();
        Arc::new(move || *now.lock().unwrap())
    };
    let config = CacheConfig {
        max_entries: 10,
        max_missing_entries: 50,
        ..CacheConfig::default()
    };
    let cache = CachedDirectory::with_clock(backend.clone(), config, REFRESH, clock);
    let hot = addrs(&[TARO, "hanako@contoso.com"]);
    assert_eq!(kinds(&cache.lookup(&refs(&hot)).await), ["found", "found"]);
    let asked = backend.asked();
    // A flood of unknown addresses, far past both bounds, moments later.
    for batch in 0..100 {
        let junk: Vec<Address> = (0..100)
            .map(|i| addr(&format!("junk{batch}-{i}@contoso.com")))
            .collect();
        let answers = cache.lookup(&refs(&junk)).await;
        assert!(answers.iter().all(|a| matches!(a, Lookup::NotFound)));
    }
    *now.lock().unwrap() += Duration::from_secs(4);
    cache.inner.entries.run_pending_tasks();
    cache.inner.missing.run_pending_tasks();
    assert!(
        cache.inner.missing.entry_count() <= 50,
        "{}",
        cache.inner.missing.entry_count()
    );
    assert_eq!(cache.inner.entries.entry_count(), 2);
    // The people really written to are still answered from the cache.
    assert_eq!(kinds(&cache.lookup(&refs(&hot)).await), ["found", "found"]);
    assert_eq!(
        backend.asked(),
        asked + 100,
        "the hot set was not asked again"
    );
}

#[test]
fn an_answer_replaces_the_other_kind() {
    let backend = Scripted::new(&[]);
    let (cache, now) = cached(&backend);
    let at = *now.lock().unwrap();
    let taro = addr(TARO);
    cache.store(taro.clone(), None, at);
    assert!(cache.cached(&taro).unwrap().value.is_none());
    // Taro's mailbox is created: found, and only found.
    let entry = Arc::new(Entry::new(TARO, EntryKind::Mailbox, taro.clone()));
    cache.store(taro.clone(), Some(entry), at);
    assert!(cache.cached(&taro).unwrap().value.is_some());
    cache.inner.missing.run_pending_tasks();
    assert_eq!(cache.inner.missing.entry_count(), 0);
    // And back.
    cache.store(taro.clone(), None, at);
    assert!(cache.cached(&taro).unwrap().value.is_none());
    cache.inner.entries.run_pending_tasks();
    assert_eq!(cache.inner.entries.entry_count(), 0);
}

#[tokio::test]
async fn a_cached_address_keeps_no_request_body_alive() {
    // A request's addresses are slices of its body (`api::request`).
    let body = bytes::Bytes::from(format!("\x0a\x10{TARO}\x0a\x12{NOBODY}").into_bytes());
    let slice = |at: usize, len: usize| {
        let text = bytestring::ByteString::try_from(body.slice(at..at + len)).unwrap();
        AddressRules::default().parse_normal(text).unwrap()
    };
    let given = [slice(2, TARO.len()), slice(4 + TARO.len(), NOBODY.len())];
    assert_eq!(given[1].as_str(), NOBODY);
    let backend = Scripted::new(&[TARO]);
    let (dir, _) = cached(&backend);
    assert_eq!(
        kinds(&dir.lookup(&refs(&given)).await),
        ["found", "not found"]
    );
    drop(given);
    // Both answers are cached, under keys of their own: the body is no one else's.
    assert!(
        body.is_unique(),
        "a cache key still points into the request body"
    );
    let again = addrs(&[TARO, NOBODY]);
    assert_eq!(
        kinds(&dir.lookup(&refs(&again)).await),
        ["found", "not found"]
    );
    assert_eq!(backend.asked(), 1, "answered from the cache");
}
