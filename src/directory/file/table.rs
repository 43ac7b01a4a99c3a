//! The snapshot's address table: every address an object receives or sends from, to its
//! entry. Built once per snapshot and never changed after, so it is a plain open-addressing
//! table (linear probing, at most three quarters full) that a draft probes as a batch.
//!
//! Why not a `HashMap`: a draft's addresses land on random places of a table far larger than
//! the CPU's caches, and one probe of a map is a chain of dependent cache misses (the slot,
//! then the key's bytes, then the entry). Probed one address after the other, a draft waited
//! for each chain in turn. Here a slot is one cache line that holds the key's text itself
//! (every address up to [`INLINE`] bytes, which is nearly all), so confirming a key costs no
//! miss of its own, and [`AddressTable::get_batch`] walks the draft in two passes, each asking
//! the CPU for what the next reads for every address at once: the home slots (and the slot
//! after each), then the entries. The misses of a draft overlap. The slots, and the heap's regions that hold the
//! entries, ask Linux for huge pages, so that a probe misses the cache but not the TLB as
//! well.

use std::fmt;
use std::sync::Arc;

use crate::domain::address::{Address, key_hash};
use crate::domain::{Entry, prefetch};

/// A huge page's size, and its alignment.
const HUGE: usize = 2 << 20;

/// The longest key a slot holds in itself; a longer one is on the heap.
const INLINE: usize = 46;

/// An address's text as its slot holds it.
enum Key {
    /// In the slot: the first `len` bytes.
    Inline { len: u8, bytes: [u8; INLINE] },
    /// Longer than [`INLINE`] bytes.
    Heap(Box<str>),
}

impl Key {
    fn new(key: &str) -> Self {
        match u8::try_from(key.len()) {
            Ok(len) if key.len() <= INLINE => {
                let mut bytes = [0; INLINE];
                bytes[..key.len()].copy_from_slice(key.as_bytes());
                Key::Inline { len, bytes }
            }
            _ => Key::Heap(key.into()),
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Key::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Key::Heap(key) => key.as_bytes(),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            // A whole `str` was copied in: its bytes are UTF-8.
            Key::Inline { .. } => std::str::from_utf8(self.as_bytes()).unwrap_or_default(),
            Key::Heap(key) => key,
        }
    }
}

/// One slot, one cache line: the key's full hash (compared before the key), the entry and the
/// key, or nothing.
#[repr(C, align(64))]
struct Slot {
    hash: u64,
    item: Option<(Arc<Entry>, Key)>,
}

const _: () = assert!(
    std::mem::size_of::<Slot>() == 64,
    "a slot is one cache line"
);

impl Slot {
    const EMPTY: Slot = Slot {
        hash: 0,
        item: None,
    };

    /// The entry, when this slot holds `key` (whose hash is `hash`).
    fn holds(&self, key: &[u8], hash: u64) -> Option<&Arc<Entry>> {
        match &self.item {
            Some((e, k)) if self.hash == hash && k.as_bytes() == key => Some(e),
            _ => None,
        }
    }
}

pub(super) struct AddressTable {
    /// A power of two long, never more than three quarters full: every probe meets an empty
    /// slot.
    slots: Box<[Slot]>,
    len: usize,
}

impl Default for AddressTable {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

impl fmt::Debug for AddressTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AddressTable")
            .field("len", &self.len)
            .field("slots", &self.slots.len())
            .finish()
    }
}

impl AddressTable {
    /// An empty table that takes `n` addresses without growing.
    pub(super) fn with_capacity(n: usize) -> Self {
        let slots = (n * 4 / 3 + 1).max(8).next_power_of_two();
        // Reserved, advised, then filled: a page is backed when it is first written.
        let mut table: Vec<Slot> = Vec::with_capacity(slots);
        advise_huge_pages(table.as_ptr() as usize, slots * std::mem::size_of::<Slot>());
        table.extend(std::iter::repeat_with(|| Slot::EMPTY).take(slots));
        Self {
            slots: table.into_boxed_slice(),
            len: 0,
        }
    }

    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    /// The number of addresses.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Adds `key`, or replaces its entry when it is there. A key is hashed as an address's
    /// ([`key_hash`]), so that a draft's addresses are probed with the hashes they carry.
    pub(super) fn insert(&mut self, key: &str, entry: Arc<Entry>) {
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        let hash = key_hash(key);
        let mut i = hash as usize & self.mask();
        loop {
            let slot = &mut self.slots[i];
            match &mut slot.item {
                None => {
                    *slot = Slot {
                        hash,
                        item: Some((entry, Key::new(key))),
                    };
                    self.len += 1;
                    return;
                }
                Some((e, k)) if slot.hash == hash && k.as_bytes() == key.as_bytes() => {
                    *e = entry;
                    return;
                }
                Some(_) => i = (i + 1) & self.mask(),
            }
        }
    }

    /// Doubles the table; only while a snapshot is built, which sizes it up front.
    fn grow(&mut self) {
        let old = std::mem::replace(self, Self::with_capacity(self.slots.len()));
        for slot in old.slots {
            if let Some((e, k)) = slot.item {
                self.insert(k.as_str(), e);
            }
        }
    }

    /// The entry at `key`.
    #[cfg(test)]
    pub(super) fn get(&self, key: &str) -> Option<&Arc<Entry>> {
        let hash = key_hash(key);
        self.probe(key.as_bytes(), hash)
    }

    /// The entry at each of `addresses`, in order. First every address's home slot and the
    /// slot after it are asked for (by the hash the address carries; a slot is a line, and a
    /// probe in a table up to three quarters full often reads on to the next one), then each
    /// probe runs, and asks for the entry it finds.
    pub(super) fn get_batch(&self, addresses: &[&Address]) -> Vec<Option<&Arc<Entry>>> {
        let mask = self.mask();
        for a in addresses {
            let home = a.key_hash() as usize & mask;
            prefetch(std::ptr::from_ref(&self.slots[home]).cast());
            prefetch(std::ptr::from_ref(&self.slots[(home + 1) & mask]).cast());
        }
        addresses
            .iter()
            .map(|a| {
                let found = self.probe(a.as_str().as_bytes(), a.key_hash());
                if let Some(entry) = found {
                    Entry::prefetch(entry);
                }
                found
            })
            .collect()
    }

    /// Probes for `key`, whose hash is `hash`, from its home slot.
    fn probe(&self, key: &[u8], hash: u64) -> Option<&Arc<Entry>> {
        let mut i = hash as usize & self.mask();
        while self.slots[i].item.is_some() {
            if let Some(e) = self.slots[i].holds(key, hash) {
                return Some(e);
            }
            i = (i + 1) & self.mask();
        }
        None
    }

    /// Asks Linux to back the 2 MiB regions of the heap that hold this table's entries (and
    /// its few keys too long for a slot) with huge pages ([`advise_huge_pages`]), and, from a
    /// thread of its own, to collapse them into huge pages at once ([`collapse_huge_pages`]):
    /// those pages are in use already, and left to the kernel's background thread
    /// (khugepaged) they were collapsed only in the minute or more after start-up, a few
    /// megabytes every ten seconds, while every draft's random reads of entries missed the
    /// TLB as well as the cache.
    pub(super) fn advise_items_huge_pages(&self) {
        let mut regions: Vec<usize> = self
            .slots
            .iter()
            .filter_map(|s| s.item.as_ref())
            .flat_map(|(e, k)| {
                let heap_key = matches!(k, Key::Heap(_)).then(|| k.as_bytes().as_ptr() as usize);
                std::iter::once(Arc::as_ptr(e) as usize).chain(heap_key)
            })
            .map(|at| at / HUGE * HUGE)
            .collect();
        regions.sort_unstable();
        regions.dedup();
        for &start in &regions {
            advise_huge_pages(start, HUGE);
        }
        // Apart from the build: a collapse may wait for the kernel to free huge pages, and the
        // server is ready meanwhile. (If no thread can be had, khugepaged does it later.)
        let _ = std::thread::Builder::new()
            .name("mailtips-huge-pages".into())
            .spawn(move || {
                for start in regions {
                    collapse_huge_pages(start, HUGE);
                }
            });
    }

    /// Every address with its entry, in no particular order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&str, &Arc<Entry>)> {
        self.slots
            .iter()
            .filter_map(|s| s.item.as_ref().map(|(e, k)| (k.as_str(), e)))
    }
}

/// Asks Linux to back the whole 2 MiB pages of the `len` bytes at address `start` with huge
/// pages: a draft reads the table's slots and the entries at random, and with 4 KiB pages
/// nearly every such read in a 100k directory also misses the TLB. Memory advised before it
/// is first written (the slots) is backed by huge pages from the start; memory in use already
/// (the heap holding the entries) is collapsed later by the kernel's background thread. Only
/// a hint (where transparent huge pages are off, or none is free, the pages stay small);
/// elsewhere it does nothing.
fn advise_huge_pages(start: usize, len: usize) {
    #[cfg(target_os = "linux")]
    madvise_whole_huge_pages(start, len, libc::MADV_HUGEPAGE);
    #[cfg(not(target_os = "linux"))]
    let _ = (start, len);
}

/// Asks Linux to back the whole 2 MiB pages of the `len` bytes at address `start`, memory in
/// use already, with huge pages at once (`MADV_COLLAPSE`, Linux 6.1 and later; whatever the
/// system's transparent huge page settings, but "never"). Only a hint: where the kernel is
/// older or no huge page is free it fails, which is ignored, and the pages stay small until
/// the kernel's background thread collapses them; elsewhere it does nothing.
fn collapse_huge_pages(start: usize, len: usize) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    madvise_whole_huge_pages(start, len, libc::MADV_COLLAPSE);
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = (start, len);
}

/// `madvise(advice)` on the whole 2 MiB pages within the `len` bytes at address `start`, if
/// any; a failure is ignored, as both advices are hints.
#[cfg(target_os = "linux")]
fn madvise_whole_huge_pages(start: usize, len: usize, advice: libc::c_int) {
    let (from, to) = (start.next_multiple_of(HUGE), (start + len) / HUGE * HUGE);
    if to > from {
        // SAFETY: `MADV_HUGEPAGE` and `MADV_COLLAPSE` change only how memory is backed, never
        // its contents, whatever the range holds; on an unmapped range they fail (ignored).
        unsafe { libc::madvise(from as *mut libc::c_void, to - from, advice) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EntryKind;

    fn entry(address: &str) -> Arc<Entry> {
        let a = Address::parse(address).unwrap();
        Arc::new(Entry::new(address, EntryKind::Mailbox, a))
    }

    #[test]
    fn finds_what_was_inserted_across_growth_and_nothing_else() {
        let mut table = AddressTable::with_capacity(2);
        let entries: Vec<Arc<Entry>> = (0..1000).map(|i| entry(&format!("u{i}@x.test"))).collect();
        for e in &entries {
            table.insert(&e.id, e.clone());
        }
        assert_eq!(table.len(), 1000);
        assert!(
            table.slots.len() * 3 >= 1000 * 4,
            "never more than three quarters full"
        );
        let keys: Vec<Address> = (0..1200)
            .map(|i| Address::parse(&format!("u{i}@x.test")).unwrap())
            .collect();
        let refs: Vec<&Address> = keys.iter().collect();
        let found = table.get_batch(&refs);
        for (i, f) in found.iter().enumerate() {
            match f {
                Some(e) => assert!(i < 1000 && Arc::ptr_eq(e, &entries[i])),
                None => assert!(i >= 1000, "u{i} lost"),
            }
            assert_eq!(
                table.get(refs[i].as_str()).map(Arc::as_ptr),
                f.map(Arc::as_ptr)
            );
        }
        assert_eq!(table.iter().count(), 1000);
    }

    #[test]
    fn a_second_insert_replaces_and_an_empty_table_finds_nothing() {
        let mut table = AddressTable::default();
        let a_key = Address::parse("a@x.test").unwrap();
        assert!(table.get_batch(&[&a_key]).iter().all(Option::is_none));
        let (a, b) = (entry("a@x.test"), entry("b@x.test"));
        table.insert("a@x.test", a);
        table.insert("a@x.test", b.clone());
        assert_eq!(table.len(), 1);
        assert!(Arc::ptr_eq(table.get("a@x.test").unwrap(), &b));
        assert!(table.get_batch(&[]).is_empty());
    }

    #[test]
    fn a_key_too_long_for_its_slot_is_found_from_the_heap() {
        let mut table = AddressTable::with_capacity(4);
        let long = format!("{}@x.test", "l".repeat(INLINE));
        let (e, short) = (entry(&long), entry("s@x.test"));
        table.insert(&long, e.clone());
        table.insert("s@x.test", short.clone());
        let keys = [
            Address::parse(&long).unwrap(),
            Address::parse("s@x.test").unwrap(),
        ];
        let found = table.get_batch(&[&keys[0], &keys[1]]);
        assert!(Arc::ptr_eq(found[0].unwrap(), &e));
        assert!(Arc::ptr_eq(found[1].unwrap(), &short));
        let mut all: Vec<&str> = table.iter().map(|(k, _)| k).collect();
        all.sort_unstable();
        assert_eq!(all, [long.as_str(), "s@x.test"]);
        // The longest key a slot holds, and one byte more.
        assert!(matches!(Key::new(&"k".repeat(INLINE)), Key::Inline { .. }));
        assert!(matches!(Key::new(&"k".repeat(INLINE + 1)), Key::Heap(_)));
    }

    #[test]
    fn a_candidate_whose_hash_alone_matches_is_passed_over() {
        // Two keys forced to one hash and one home: the second is found behind the first, and
        // a third key with that hash is not found.
        let mut table = AddressTable::with_capacity(4);
        let (a, b) = (entry("a@x.test"), entry("b@x.test"));
        let hash = 12345u64;
        let home = hash as usize & table.mask();
        table.slots[home] = Slot {
            hash,
            item: Some((a.clone(), Key::new("a@x.test"))),
        };
        table.slots[(home + 1) & table.mask()] = Slot {
            hash,
            item: Some((b.clone(), Key::new("b@x.test"))),
        };
        assert!(Arc::ptr_eq(table.probe(b"b@x.test", hash).unwrap(), &b));
        assert!(Arc::ptr_eq(table.probe(b"a@x.test", hash).unwrap(), &a));
        assert!(table.probe(b"c@x.test", hash).is_none());
    }
}
