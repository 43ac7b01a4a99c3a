//! The embedded directory: a TOML file (format in `docs/directory.md`) loaded into memory,
//! validated as a whole, and swapped atomically on reload so requests never see half a file.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use serde::Deserialize;

use super::{Directory, DirectoryError, GroupSource, Lookup};
use crate::domain::ByteSize;
use crate::domain::address::{Address, AddressRules};
use crate::domain::{
    AutoReply, CustomTip, Entry, EntryId, EntryKind, ExternalAudience, Moderation, Quota,
    Restrictions,
};
use crate::domain::{GroupGraph, Member};

/// The demo organisation shipped inside the binary.
pub const DEMO_DIRECTORY: &str = include_str!("../../examples/demo-directory.toml");

/// Why a directory file was refused: the file, the entry and the field are named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryFileError {
    pub path: String,
    /// e.g. `mailbox[3] (taro@contoso.com)`.
    pub entry: Option<String>,
    /// e.g. `members[2]`.
    pub field: Option<String>,
    pub message: String,
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

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    mailbox: Vec<RawEntry>,
    #[serde(default)]
    group: Vec<RawEntry>,
    #[serde(default)]
    contact: Vec<RawEntry>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    address: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    proxy_addresses: Vec<String>,
    // Mailboxes.
    quota: Option<ByteSize>,
    usage: Option<ByteSize>,
    quota_enforced: Option<bool>,
    max_send_size: Option<ByteSize>,
    auto_reply: Option<RawAutoReply>,
    // Groups.
    members: Option<Vec<String>>,
    // Everyone.
    max_receive_size: Option<ByteSize>,
    custom_tip: Option<RawCustomTip>,
    #[serde(default)]
    accept_only_from: Vec<String>,
    #[serde(default)]
    reject_from: Vec<String>,
    #[serde(default)]
    require_authenticated_senders: bool,
    moderation: Option<RawModeration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAutoReply {
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    internal: String,
    #[serde(default)]
    external: String,
    #[serde(default)]
    external_audience: ExternalAudience,
    start: Option<toml::value::Datetime>,
    end: Option<toml::value::Datetime>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCustomTip {
    #[serde(default)]
    default: String,
    #[serde(default)]
    translations: HashMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModeration {
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    moderators: Vec<String>,
    #[serde(default)]
    bypass: Vec<String>,
}

fn yes() -> bool {
    true
}

/// The headers at which a directory file may be cut into pieces that parse on their own.
const ENTRY_HEADERS: [&str; 3] = ["[[mailbox]]", "[[group]]", "[[contact]]"];
/// Entries per piece: small enough that one piece's TOML document tree is a few megabytes.
const ENTRIES_PER_PIECE: usize = 2048;

/// Parses the file's TOML into raw entries.
///
/// A big file is parsed in pieces cut at entry headers (`[[mailbox]]` alone on a line), on up
/// to four threads, so that start-up never holds the whole file's TOML document tree in
/// memory at once (at 100k mailboxes that tree, not the directory, set the peak RSS). The
/// pieces are used only when every one parses; on any error, or when the text before the
/// first header holds anything but comments, the whole text is parsed at once, so errors and
/// their line numbers are exactly those of the plain parse.
fn parse_raw(text: &str) -> Result<RawFile, toml::de::Error> {
    if let Some(pieces) = pieces(text) {
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, 4)
            .min(pieces.len());
        let per_thread = pieces.len().div_ceil(threads);
        let parsed: Vec<Result<RawFile, toml::de::Error>> = std::thread::scope(|scope| {
            let handles: Vec<_> = pieces
                .chunks(per_thread)
                .map(|run| {
                    scope.spawn(move || {
                        let mut out = RawFile::default();
                        for piece in run {
                            let p: RawFile = toml::from_str(piece)?;
                            out.append(p);
                        }
                        Ok(out)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("directory parser thread panicked"))
                .collect()
        });
        if parsed.iter().all(Result::is_ok) {
            let mut raw = RawFile::default();
            for p in parsed.into_iter().flatten() {
                raw.append(p);
            }
            return Ok(raw);
        }
    }
    toml::from_str(text)
}

/// The text cut before every `ENTRIES_PER_PIECE`-th entry header, or `None` when the file is
/// small or has content before its first header.
fn pieces(text: &str) -> Option<Vec<&str>> {
    let mut cuts = Vec::new();
    let mut headers = 0usize;
    let mut offset = 0usize;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_end();
        if ENTRY_HEADERS.contains(&trimmed) {
            if headers > 0 && headers.is_multiple_of(ENTRIES_PER_PIECE) {
                cuts.push(offset);
            }
            headers += 1;
        } else if headers == 0 {
            let t = trimmed.trim_start();
            if !(t.is_empty() || t.starts_with('#')) {
                return None;
            }
        }
        offset += line.len();
    }
    if cuts.is_empty() {
        return None;
    }
    let mut pieces = Vec::with_capacity(cuts.len() + 1);
    let mut start = 0;
    for cut in cuts {
        pieces.push(&text[start..cut]);
        start = cut;
    }
    pieces.push(&text[start..]);
    Some(pieces)
}

impl RawFile {
    fn append(&mut self, other: RawFile) {
        self.mailbox.extend(other.mailbox);
        self.group.extend(other.group);
        self.contact.extend(other.contact);
    }
}

/// Hash maps keyed by addresses and ids: foldhash (per-process random seed) instead of SipHash,
/// which was the largest single cost of loading a big directory and a visible one per recipient.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// A loaded, validated directory.
#[derive(Debug, Default)]
pub struct Snapshot {
    by_address: FastMap<Box<str>, Arc<Entry>>,
    /// Direct parents: the groups that list an entry as a member.
    parents: FastMap<EntryId, Vec<EntryId>>,
    graph: GroupGraph,
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

    /// Validates parsed raw entries into a snapshot (the second half of [`Snapshot::parse`];
    /// [`read`] calls the halves apart so the file's text is freed before the snapshot grows).
    fn build(raw: RawFile, source: &str, rules: AddressRules) -> Result<Self, DirectoryFileError> {
        let err =
            |entry: Option<String>, field: Option<String>, message: String| DirectoryFileError {
                path: source.to_owned(),
                entry,
                field,
                message,
            };
        let parse_addr = |s: &str| rules.parse(s);

        // Pass 1: every object and its addresses.
        let all: Vec<(EntryKind, usize, &RawEntry)> = [
            (EntryKind::Mailbox, &raw.mailbox),
            (EntryKind::Group, &raw.group),
            (EntryKind::Contact, &raw.contact),
        ]
        .into_iter()
        .flat_map(|(k, list)| list.iter().enumerate().map(move |(i, r)| (k, i, r)))
        .collect();
        let label = |k: EntryKind, i: usize, r: &RawEntry| {
            let kind = match k {
                EntryKind::Mailbox => "mailbox",
                EntryKind::Group => "group",
                EntryKind::Contact => "contact",
            };
            Some(format!("{kind}[{i}] ({})", r.address.trim()))
        };
        let mut owner: FastMap<Box<str>, String> = FastMap::default();
        let mut ids: FastMap<Box<str>, (EntryId, EntryKind)> = FastMap::default();
        for &(k, i, r) in &all {
            let at = label(k, i, r);
            let primary = parse_addr(&r.address)
                .map_err(|e| err(at.clone(), Some("address".into()), e.to_string()))?;
            let id: EntryId = Arc::from(primary.as_str());
            let proxies = r.proxy_addresses.iter().enumerate().map(|(j, p)| {
                parse_addr(p).map_err(|e| {
                    err(
                        at.clone(),
                        Some(format!("proxy_addresses[{j}]")),
                        e.to_string(),
                    )
                })
            });
            for a in std::iter::once(Ok(primary.clone())).chain(proxies) {
                let a = a?;
                if let Some(prev) = owner.get(a.as_str()) {
                    if prev.as_str() != at.as_deref().unwrap_or("") {
                        return Err(err(
                            at,
                            None,
                            format!("address {} is already used by {prev}", a.as_str()),
                        ));
                    }
                    continue;
                }
                owner.insert(a.as_str().into(), at.clone().unwrap_or_default());
                ids.insert(a.as_str().into(), (id.clone(), k));
            }
        }
        // Only pass 1 needs the owners: free them before the snapshot is built.
        drop(owner);
        let resolve_list = |at: &Option<String>, field: &str, list: &[String]| {
            list.iter()
                .enumerate()
                .map(|(j, s)| {
                    let f = Some(format!("{field}[{j}]"));
                    let a = parse_addr(s).map_err(|e| err(at.clone(), f.clone(), e.to_string()))?;
                    ids.get(a.as_str())
                        .map(|(id, _)| id.clone())
                        .ok_or_else(|| {
                            err(
                                at.clone(),
                                f,
                                format!("{} is not in this directory", a.as_str()),
                            )
                        })
                })
                .collect::<Result<Vec<EntryId>, _>>()
        };

        // Pass 2: build entries and the group graph.
        let mut snapshot = Snapshot {
            rules,
            ..Snapshot::default()
        };
        for &(k, i, r) in &all {
            let at = label(k, i, r);
            let only = |field: &str, present: bool, allowed: &[EntryKind]| {
                if present && !allowed.contains(&k) {
                    Err(err(
                        at.clone(),
                        Some(field.into()),
                        format!("not allowed on a {k:?} entry").to_lowercase(),
                    ))
                } else {
                    Ok(())
                }
            };
            use EntryKind::{Group, Mailbox};
            only("quota", r.quota.is_some(), &[Mailbox])?;
            only("usage", r.usage.is_some(), &[Mailbox])?;
            only("quota_enforced", r.quota_enforced.is_some(), &[Mailbox])?;
            only("max_send_size", r.max_send_size.is_some(), &[Mailbox])?;
            only("auto_reply", r.auto_reply.is_some(), &[Mailbox])?;
            only("members", r.members.is_some(), &[Group])?;
            if k == Group && r.members.is_none() {
                return Err(err(
                    at,
                    Some("members".into()),
                    "a group needs a members list (it may be empty)".into(),
                ));
            }
            if r.usage.is_some() && r.quota.is_none() {
                return Err(err(at, Some("usage".into()), "usage needs a quota".into()));
            }

            let primary = parse_addr(&r.address).expect("checked in pass 1");
            let id: EntryId = Arc::from(primary.as_str());
            let mut entry = Entry::new(id, k, primary);
            entry.display_name = r.name.trim().to_owned();
            for p in &r.proxy_addresses {
                let a = parse_addr(p).expect("checked in pass 1");
                if !entry.addresses.contains(&a) {
                    entry.addresses.push(a);
                }
            }
            entry.quota = r.quota.map(|q| Quota {
                prohibit_receive_bytes: q.0,
                usage_bytes: r.usage.map_or(0, |u| u.0),
                enforced: r.quota_enforced.unwrap_or(true),
            });
            entry.max_send_bytes = r.max_send_size.map(|b| b.0);
            entry.max_receive_bytes = r.max_receive_size.map(|b| b.0);
            if let Some(ar) = &r.auto_reply {
                let time = |field: &str, d: &Option<toml::value::Datetime>| {
                    d.as_ref()
                        .map(|d| {
                            datetime_to_system(d).map_err(|m| {
                                err(at.clone(), Some(format!("auto_reply.{field}")), m)
                            })
                        })
                        .transpose()
                };
                let (start, end) = (time("start", &ar.start)?, time("end", &ar.end)?);
                if let (Some(s), Some(e)) = (start, end)
                    && e <= s
                {
                    return Err(err(
                        at,
                        Some("auto_reply.end".into()),
                        "end must be after start".into(),
                    ));
                }
                entry.auto_reply = Some(AutoReply {
                    enabled: ar.enabled,
                    internal_message: ar.internal.clone(),
                    external_message: ar.external.clone(),
                    external_audience: ar.external_audience,
                    start,
                    end,
                });
            }
            if let Some(t) = &r.custom_tip {
                let mut translations = HashMap::new();
                for (lang, text) in &t.translations {
                    let l = lang.to_ascii_lowercase();
                    if l.len() != 2 || !l.bytes().all(|b| b.is_ascii_lowercase()) {
                        return Err(err(
                            at,
                            Some(format!("custom_tip.translations.{lang}")),
                            "translation keys are two-letter language codes (e.g. ja)".into(),
                        ));
                    }
                    translations.insert(l, text.clone());
                }
                entry.custom_tip = Some(CustomTip {
                    default: t.default.clone(),
                    translations,
                });
            }
            entry.restrictions = Restrictions {
                accept_only_from: resolve_list(&at, "accept_only_from", &r.accept_only_from)?,
                reject_from: resolve_list(&at, "reject_from", &r.reject_from)?,
                require_authenticated: r.require_authenticated_senders,
            };
            if let Some(m) = &r.moderation {
                let moderators = resolve_list(&at, "moderation.moderators", &m.moderators)?;
                entry.moderation = Some(Moderation {
                    enabled: m.enabled,
                    moderator_addresses: moderators.iter().map(|m| m.to_string()).collect(),
                    moderators,
                    bypass: resolve_list(&at, "moderation.bypass", &m.bypass)?,
                });
            }
            if let Some(members) = &r.members {
                let mut list = Vec::with_capacity(members.len());
                for (j, m) in members.iter().enumerate() {
                    let a = parse_addr(m).map_err(|e| {
                        err(at.clone(), Some(format!("members[{j}]")), e.to_string())
                    })?;
                    let member = match ids.get(a.as_str()) {
                        Some((id, kind)) => {
                            snapshot
                                .parents
                                .entry(id.clone())
                                .or_default()
                                .push(entry.id.clone());
                            Member::Entry(id.clone(), *kind)
                        }
                        None => Member::External(a.as_str().into()),
                    };
                    if !list.contains(&member) {
                        list.push(member);
                    }
                }
                snapshot.graph.groups.push((entry.id.clone(), list));
            }
            let entry = Arc::new(entry);
            for a in &entry.addresses {
                snapshot.by_address.insert(a.as_str().into(), entry.clone());
            }
        }
        Ok(snapshot)
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
            .filter(|(a, e)| a.as_ref() == e.primary.as_str())
            .map(|(_, e)| e)
    }

    /// True when the directory has no objects.
    pub fn is_empty(&self) -> bool {
        self.by_address.is_empty()
    }

    /// Every object once, ordered by id (for `mailtips export-ldif`).
    pub fn entries(&self) -> Vec<Arc<Entry>> {
        let mut by_id: HashMap<&EntryId, &Arc<Entry>> = HashMap::new();
        for e in self.by_address.values() {
            by_id.insert(&e.id, e);
        }
        let mut all: Vec<Arc<Entry>> = by_id.into_values().cloned().collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    /// Every group with its direct members.
    pub fn graph(&self) -> &GroupGraph {
        &self.graph
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

/// Converts a TOML date-time with an offset to a `SystemTime`.
fn datetime_to_system(d: &toml::value::Datetime) -> Result<SystemTime, String> {
    let (Some(date), Some(time), Some(offset)) = (d.date, d.time, d.offset) else {
        return Err(format!(
            "{d} needs a date, a time and an offset (e.g. 2026-12-01T09:00:00+09:00)"
        ));
    };
    let days = crate::domain::units::days_from_civil(
        i64::from(date.year),
        u32::from(date.month),
        u32::from(date.day),
    );
    let offset_minutes = match offset {
        toml::value::Offset::Z => 0,
        toml::value::Offset::Custom { minutes } => i64::from(minutes),
    };
    let secs = days * 86_400
        + i64::from(time.hour) * 3600
        + i64::from(time.minute) * 60
        + i64::from(time.second.unwrap_or(0))
        - offset_minutes * 60;
    u64::try_from(secs)
        .map(|s| UNIX_EPOCH + Duration::from_secs(s))
        .map_err(|_| format!("{d} is before 1970"))
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

fn parse_toml(text: &str, source: &str) -> Result<RawFile, DirectoryFileError> {
    parse_raw(text).map_err(|e| DirectoryFileError {
        path: source.to_owned(),
        entry: None,
        field: None,
        message: e.to_string().trim_end().to_owned(),
    })
}

impl Directory for FileDirectory {
    async fn lookup(&self, addresses: &[Address]) -> Vec<Lookup> {
        let snap = self.snapshot.load();
        addresses
            .iter()
            .map(|a| match snap.by_address.get(a.as_str()) {
                Some(e) => Lookup::Found(e.clone()),
                None => Lookup::NotFound,
            })
            .collect()
    }

    async fn member_of(&self, id: &EntryId) -> Result<Arc<HashSet<EntryId>>, DirectoryError> {
        Ok(Arc::new(self.snapshot.load().member_of(id)))
    }
}

impl GroupSource for FileDirectory {
    async fn group_graph(&self) -> Result<GroupGraph, DirectoryError> {
        // Copying a big graph takes tens of milliseconds: not on a request worker.
        let snapshot = self.snapshot.load_full();
        crate::background::run("group-graph", move || snapshot.graph.clone())
            .await
            .ok_or_else(|| DirectoryError::Unavailable("group graph copy failed".into()))
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
    }

    #[test]
    fn errors_name_file_entry_and_field() {
        let e = parse("[[mailbox]]\naddress = \"a@contoso.com\"\n[[group]]\naddress = \"g@contoso.com\"\nmembers = [\"not an address\"]\n")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "dir.toml: group[0] (g@contoso.com): field `members[0]`: missing '@'"
        );
        let e = parse("[[mailbox]]\naddress = \"a@contoso.com\"\nmembers = []\n").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("members"));
        let e = parse("[[mailbox]]\naddress = \"a@contoso.com\"\naccept_only_from = [\"nobody@contoso.com\"]\n").unwrap_err();
        assert!(e.to_string().contains("accept_only_from[0]"), "{e}");
        assert!(
            e.to_string()
                .contains("nobody@contoso.com is not in this directory"),
            "{e}"
        );
        let e = parse("[[mailbox]]\naddress = \"a@contoso.com\"\n[[mailbox]]\naddress = \"b@contoso.com\"\nproxy_addresses = [\"A@contoso.com\"]\n").unwrap_err();
        assert!(e.to_string().contains("already used by mailbox[0]"), "{e}");
        let e = parse("[[mailbox]]\naddress = \"a@contoso.com\"\nqouta = 5\n").unwrap_err();
        assert!(e.to_string().contains("unknown field `qouta`"), "{e}");
        assert!(e.to_string().starts_with("dir.toml"), "{e}");
        let e = parse("[[mailbox]]\naddress = \"a@contoso.com\"\nauto_reply = { internal = \"x\", start = 2026-01-02 }\n").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("auto_reply.start"));
        let e = parse("[[mailbox]]\naddress = \"a@contoso.com\"\ncustom_tip = { translations = { japanese = \"x\" } }\n").unwrap_err();
        assert!(e.to_string().contains("two-letter"), "{e}");
    }

    #[test]
    fn big_files_parse_in_pieces_to_the_same_directory() {
        let (text, _) = crate::tools::synth::generate(&crate::tools::synth::GenParams {
            mailboxes: 3 * ENTRIES_PER_PIECE,
            groups: 300,
            seed: 3,
        });
        assert!(pieces(&text).unwrap().len() > 2);
        let in_pieces = parse(&text).unwrap();
        let whole: RawFile = toml::from_str(&text).unwrap();
        let mut raw = parse_raw(&text).unwrap();
        assert_eq!(raw.mailbox.len(), whole.mailbox.len());
        assert_eq!(raw.group.len(), whole.group.len());
        assert_eq!(raw.contact.len(), whole.contact.len());
        for (a, b) in raw.mailbox.drain(..).zip(&whole.mailbox) {
            assert_eq!(a.address, b.address);
        }
        assert_eq!(
            in_pieces.len(),
            3 * ENTRIES_PER_PIECE + 300 + 3 * ENTRIES_PER_PIECE / 20
        );
        assert_eq!(in_pieces.graph.groups.len(), 300);

        // An error in a late piece is reported exactly as the plain parse reports it.
        let bad = format!("{text}[[mailbox]]\naddress = \"late@contoso.com\"\nqouta = 1\n");
        let plain = match toml::from_str::<RawFile>(&bad) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("the bad file parsed"),
        };
        assert_eq!(
            parse(&bad).unwrap_err().message,
            plain.trim_end().to_owned()
        );
        // Content before the first header: no pieces.
        assert!(pieces(&format!("x = 1\n{text}")).is_none());
    }

    #[test]
    fn datetimes_honour_offsets() {
        let d: toml::value::Datetime = "2026-11-25T09:00:00+09:00".parse().unwrap();
        let z: toml::value::Datetime = "2026-11-25T00:00:00Z".parse().unwrap();
        assert_eq!(
            datetime_to_system(&d).unwrap(),
            datetime_to_system(&z).unwrap()
        );
        assert_eq!(
            datetime_to_system(&"1970-01-02T00:00:00Z".parse().unwrap()).unwrap(),
            UNIX_EPOCH + Duration::from_secs(86_400)
        );
    }
}
