//! The embedded directory: a TOML file (format in `docs/directory.md`) loaded into memory,
//! validated as a whole, and swapped atomically on reload so requests never see half a file.
//! This file has the loaded [`Snapshot`], the reloadable [`FileDirectory`] and its trait
//! implementations; `format.rs` parses the TOML, `build.rs` validates it into a snapshot.

mod build;
mod format;
mod table;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;

use self::format::parse_toml;
use self::table::AddressTable;
use super::{Directory, DirectoryError, GroupSource, Lookup};
use crate::domain::address::{Address, AddressRules};
use crate::domain::{Entry, EntryId, GroupGraph};

/// The demo organisation shipped inside the binary.
pub(crate) const DEMO_DIRECTORY: &str = include_str!("../../../examples/demo-directory.toml");

/// Why a directory file was refused: the file, the entry and the field are named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryFileError {
    pub(crate) path: String,
    /// e.g. `mailbox[3] (taro@contoso.com)`.
    pub(crate) entry: Option<String>,
    /// e.g. `members[2]`.
    pub(crate) field: Option<String>,
    pub(crate) message: String,
}

impl fmt::Display for DirectoryFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path)?;
        if let Some(e) = &self.entry {
            write!(f, ": {e}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": field `{field}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for DirectoryFileError {}

/// Hash maps keyed by addresses and ids: foldhash (per-process random seed) instead of SipHash,
/// which was the largest single cost of loading a big directory and a visible one per recipient.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// A loaded, validated directory.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Every address an object receives or sends from.
    by_address: AddressTable,
    /// Direct parents: the groups that list an entry as a member.
    parents: FastMap<EntryId, Vec<EntryId>>,
    graph: Arc<GroupGraph>,
    /// Each object's groups (nesting included) once computed: a sender's are read for every
    /// draft that a restricted or moderated recipient is on.
    groups_of: GroupsOf,
    /// The rules its addresses were normalised with; a reload uses the same.
    rules: AddressRules,
}

impl Snapshot {
    /// Parses and validates a directory file's text. `source` names the file in errors.
    ///
    /// # Errors
    /// [`DirectoryFileError`] naming the entry and the field.
    pub fn parse(
        text: &str,
        source: &str,
        rules: AddressRules,
    ) -> Result<Self, DirectoryFileError> {
        Self::build(parse_toml(text, source)?, source, rules)
    }

    /// The number of directory objects.
    pub fn len(&self) -> usize {
        // Every object is stored once under its primary address.
        self.objects().count()
    }

    /// Every directory object once (by its primary address), in no particular order, without
    /// copying: what the load tool draws drafts from.
    pub fn objects(&self) -> impl Iterator<Item = &Arc<Entry>> {
        self.by_address
            .iter()
            .filter(|(a, e)| *a == e.primary.as_str())
            .map(|(_, e)| e)
    }

    /// True when the directory has no objects.
    pub fn is_empty(&self) -> bool {
        self.by_address.len() == 0
    }

    /// Every object once, ordered by id (for `mailtips export-ldif`).
    pub(crate) fn entries(&self) -> Vec<Arc<Entry>> {
        let mut by_id: HashMap<&EntryId, &Arc<Entry>> = HashMap::new();
        for (_, e) in self.by_address.iter() {
            by_id.insert(&e.id, e);
        }
        let mut all: Vec<Arc<Entry>> = by_id.into_values().cloned().collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    /// Every group with its direct members.
    pub(crate) fn graph(&self) -> &GroupGraph {
        &self.graph
    }

    /// Every group holding `id`, nested groups included: computed on the first ask, then
    /// kept with the snapshot (a reload starts afresh).
    fn groups_of(&self, id: &EntryId) -> Arc<HashSet<EntryId>> {
        self.groups_of
            .0
            .get_with_by_ref(id, || Arc::new(self.member_of(id)))
    }

    fn member_of(&self, id: &EntryId) -> HashSet<EntryId> {
        let mut seen = HashSet::new();
        let mut stack: Vec<&EntryId> = vec![id];
        while let Some(cur) = stack.pop() {
            for parent in self.parents.get(cur).into_iter().flatten() {
                if seen.insert(parent.clone()) {
                    stack.push(parent);
                }
            }
        }
        seen
    }
}

/// The groups of the objects asked for, bounded by the number of group ids held.
struct GroupsOf(moka::sync::Cache<EntryId, Arc<HashSet<EntryId>>>);

/// At most this many group ids are kept (an object counts its groups, plus one).
const GROUPS_OF_CAPACITY: u64 = 1 << 20;

impl Default for GroupsOf {
    fn default() -> Self {
        Self(
            moka::sync::Cache::builder()
                .max_capacity(GROUPS_OF_CAPACITY)
                .weigher(|_, groups: &Arc<HashSet<EntryId>>| {
                    u32::try_from(groups.len())
                        .unwrap_or(u32::MAX)
                        .saturating_add(1)
                })
                .build(),
        )
    }
}

impl fmt::Debug for GroupsOf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupsOf")
            .field("entries", &self.0.entry_count())
            .finish()
    }
}

/// The file-backed directory, reloadable in place.
pub struct FileDirectory {
    snapshot: ArcSwap<Snapshot>,
    /// `None` for the embedded demo.
    path: Option<PathBuf>,
    /// Bumped on every successful reload.
    generation: tokio::sync::watch::Sender<u64>,
}

impl fmt::Debug for FileDirectory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileDirectory")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl FileDirectory {
    /// Loads `path`.
    ///
    /// # Errors
    /// [`DirectoryFileError`] naming the file, entry and field.
    pub fn load(path: &Path, rules: AddressRules) -> Result<Self, DirectoryFileError> {
        let snapshot = read(path, rules)?;
        Ok(Self {
            snapshot: ArcSwap::from_pointee(snapshot),
            path: Some(path.to_owned()),
            generation: tokio::sync::watch::Sender::new(0),
        })
    }

    /// The embedded demo organisation.
    pub fn demo(rules: AddressRules) -> Self {
        let snapshot = Snapshot::parse(DEMO_DIRECTORY, "<embedded demo directory>", rules)
            .expect("the embedded demo directory is valid (checked by tests)");
        Self::from_snapshot(snapshot)
    }

    /// A directory from an already parsed snapshot (tests and benches).
    pub fn from_snapshot(snapshot: Snapshot) -> Self {
        Self {
            snapshot: ArcSwap::from_pointee(snapshot),
            path: None,
            generation: tokio::sync::watch::Sender::new(0),
        }
    }

    /// Re-reads the file and swaps it in; on error the old directory stays.
    ///
    /// # Errors
    /// [`DirectoryFileError`] when the new file is bad; nothing changes then.
    pub fn reload(&self) -> Result<usize, DirectoryFileError> {
        let Some(path) = &self.path else {
            return Ok(self.snapshot.load().len());
        };
        let snapshot = read(path, self.snapshot.load().rules)?;
        let n = snapshot.len();
        self.snapshot.store(Arc::new(snapshot));
        self.generation.send_modify(|g| *g += 1);
        Ok(n)
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }
}

/// Reads and validates the file at `path`, its text freed before the snapshot is built.
fn read(path: &Path, rules: AddressRules) -> Result<Snapshot, DirectoryFileError> {
    let text = std::fs::read_to_string(path).map_err(|e| DirectoryFileError {
        path: path.display().to_string(),
        entry: None,
        field: None,
        message: format!("cannot read: {e}"),
    })?;
    let source = path.display().to_string();
    let raw = parse_toml(&text, &source)?;
    drop(text);
    Snapshot::build(raw, &source, rules)
}

impl Directory for FileDirectory {
    async fn lookup(&self, addresses: &[&Address]) -> Vec<Lookup> {
        let (started, snap) = (std::time::Instant::now(), self.snapshot.load());
        // The whole draft probed as one batch (see `AddressTable::get_batch`), and only then
        // the entries' references taken: each is an atomic increment, which lets no later
        // load pass it.
        let found = snap
            .by_address
            .get_batch(addresses)
            .into_iter()
            .map(|slot| slot.map_or(Lookup::NotFound, |e| Lookup::Found(e.clone())))
            .collect();
        crate::telemetry::get().lookup("file", started.elapsed(), true);
        found
    }

    async fn member_of(&self, id: &EntryId) -> Result<Arc<HashSet<EntryId>>, DirectoryError> {
        Ok(self.snapshot.load().groups_of(id))
    }
}

impl GroupSource for FileDirectory {
    async fn group_graph(&self) -> Result<Arc<GroupGraph>, DirectoryError> {
        // Shared with the snapshot: copying a big graph took tens of milliseconds and streamed
        // tens of megabytes through the caches the request workers use.
        Ok(self.snapshot.load().graph.clone())
    }

    fn changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        Some(self.generation.subscribe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Snapshot, DirectoryFileError> {
        Snapshot::parse(s, "dir.toml", AddressRules::default())
    }

    #[test]
    fn demo_directory_loads() {
        let d = parse(DEMO_DIRECTORY).unwrap();
        assert!(d.len() > 10);
    }

    #[test]
    fn resolves_proxies_and_nesting() {
        let d = parse(
            r#"
[[mailbox]]
address = "Taro@Contoso.com"
proxy_addresses = ["t.yamada@contoso.co.jp"]
[[group]]
address = "inner@contoso.com"
members = ["taro@contoso.com", "ext@partner.example"]
[[group]]
address = "outer@contoso.com"
members = ["inner@contoso.com", "outer@contoso.com"]
"#,
        )
        .unwrap();
        let e = d.by_address.get("t.yamada@contoso.co.jp").unwrap();
        assert_eq!(&*e.id, "taro@contoso.com");
        let groups = d.member_of(&e.id);
        assert_eq!(groups.len(), 2);
        assert!(groups.contains("outer@contoso.com"));
        // Through the directory: the same groups, computed once and then kept.
        let id = e.id.clone();
        let directory = FileDirectory::from_snapshot(d);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let first = rt.block_on(directory.member_of(&id)).unwrap();
        assert_eq!(*first, groups);
        let again = rt.block_on(directory.member_of(&id)).unwrap();
        assert!(Arc::ptr_eq(&first, &again));
    }
}
