//! The snapshot's address table: every address an object receives or sends from, to its
//! entry. Built once per snapshot and never changed after, so it is a plain open-addressing
//! table (linear probing, at most three quarters full) that a draft probes as a batch.
//!
//! Why not a `HashMap`: a draft's addresses land on random places of a table far larger than
//! the CPU's caches, and one probe of a map is a chain of dependent cache misses (the slot,
//! then the key's bytes, then the entry). Probed one address after the other, a draft waited
//! for each chain in turn. [`AddressTable::get_batch`] walks the draft in three passes instead,
//! each asking the CPU for what the next pass reads for every address at once, so the misses
//! of a draft overlap. The slots, and the heap's regions that hold the keys and entries, ask
//! Linux for huge pages, so that a probe misses the cache but not the TLB as well.

use std::fmt;
use std::sync::Arc;

use crate::domain::address::{Address, key_hash};
use crate::domain::{Entry, prefetch};

/// A huge page's size, and its alignment.
const HUGE: usize = 2 << 20;

/// One slot: the key's full hash (compared before the key's bytes are read), then the key and
/// the entry, or nothing.
struct Slot {
    hash: u64,
    item: Option<(Arc<str>, Arc<Entry>)>,
}

impl Slot {
    const EMPTY: Slot = Slot {
        hash: 0,
        item: None,
    };
}

pub(super) struct AddressTable {
    /// A power of two long, never more than three quarters full: every probe meets an empty
    /// slot, and a 100k directory's table is no larger than a `HashMap`'s was.
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
    pub(super) fn insert(&mut self, key: Arc<str>, entry: Arc<Entry>) {
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        let hash = key_hash(&key);
        let mut i = hash as usize & self.mask();
        loop {
            let slot = &mut self.slots[i];
            match &mut slot.item {
                None => {
                    *slot = Slot {
                        hash,
                        item: Some((key, entry)),
                    };
                    self.len += 1;
                    return;
                }
                Some((k, e)) if slot.hash == hash && **k == *key => {
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
            if let Some((k, e)) = slot.item {
                self.insert(k, e);
            }
        }
    }

    /// The entry at `key`.
    #[cfg(test)]
    pub(super) fn get(&self, key: &str) -> Option<&Arc<Entry>> {
        let hash = key_hash(key);
        self.confirm(key, hash, hash as usize & self.mask())
    }

    /// The entry at each of `addresses`, in order. Each pass asks for what the next one reads,
    /// for every address before any is read: the home slots, then each candidate's key and
    /// entry.
    pub(super) fn get_batch(&self, addresses: &[&Address]) -> Vec<Option<&Arc<Entry>>> {
        let mask = self.mask();
        // 1. Every address's home slot asked for (by the hash it carries).
        let homes: Vec<u64> = addresses
            .iter()
            .map(|a| {
                let hash = a.key_hash();
                prefetch(std::ptr::from_ref(&self.slots[hash as usize & mask]).cast());
                hash
            })
            .collect();
        // 2. The first slot of each probe with the same full hash (found by the hash alone:
        // the slots are in the cache now, the keys are not), its key and entry asked for.
        let candidates: Vec<usize> = homes
            .iter()
            .map(|&hash| {
                let mut i = hash as usize & mask;
                while let Some((key, entry)) = &self.slots[i].item {
                    if self.slots[i].hash == hash {
                        prefetch(key.as_ptr());
                        Entry::prefetch(entry);
                        break;
                    }
                    i = (i + 1) & mask;
                }
                i
            })
            .collect();
        // 3. The keys compared, which confirms the candidates (and goes on probing past a
        // candidate whose hash alone matched).
        addresses
            .iter()
            .zip(homes)
            .zip(candidates)
            .map(|((a, hash), from)| self.confirm(a.as_str(), hash, from))
            .collect()
    }

    /// Probes for `key` from slot `from`, which no earlier slot of its probe holds.
    fn confirm(&self, key: &str, hash: u64, from: usize) -> Option<&Arc<Entry>> {
        let mut i = from;
        loop {
            let slot = &self.slots[i];
            match &slot.item {
                None => return None,
                Some((k, e)) if slot.hash == hash && **k == *key => return Some(e),
                Some(_) => i = (i + 1) & self.mask(),
            }
        }
    }

    /// Asks Linux to back the 2 MiB regions of the heap that hold this table's keys and
    /// entries with huge pages ([`advise_huge_pages`]). Those pages are in use already, so
    /// nothing changes at once: the kernel's background thread (khugepaged) collapses them
    /// in the minutes after start-up, at no cost to the start itself, and from then on a
    /// draft's random reads of entries miss the cache but no longer the TLB as well.
    pub(super) fn advise_items_huge_pages(&self) {
        let mut regions: Vec<usize> = self
            .iter()
            .flat_map(|(k, e)| [k.as_ptr() as usize, Arc::as_ptr(e) as usize])
            .map(|at| at / HUGE * HUGE)
            .collect();
        regions.sort_unstable();
        regions.dedup();
        for start in regions {
            advise_huge_pages(start, HUGE);
        }
    }

    /// Every address with its entry, in no particular order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&Arc<str>, &Arc<Entry>)> {
        self.slots
            .iter()
            .filter_map(|s| s.item.as_ref().map(|(k, e)| (k, e)))
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
    {
        let (from, to) = (start.next_multiple_of(HUGE), (start + len) / HUGE * HUGE);
        if to > from {
            // SAFETY: `MADV_HUGEPAGE` changes only how memory is backed, never its contents,
            // whatever the range holds; on an unmapped range it fails (ignored: it is a hint).
            unsafe { libc::madvise(from as *mut libc::c_void, to - from, libc::MADV_HUGEPAGE) };
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (start, len);
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
            table.insert(e.id.clone(), e.clone());
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
        table.insert("a@x.test".into(), a);
        table.insert("a@x.test".into(), b.clone());
        assert_eq!(table.len(), 1);
        assert!(Arc::ptr_eq(table.get("a@x.test").unwrap(), &b));
        assert!(table.get_batch(&[]).is_empty());
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
            item: Some(("a@x.test".into(), a.clone())),
        };
        table.slots[(home + 1) & table.mask()] = Slot {
            hash,
            item: Some(("b@x.test".into(), b.clone())),
        };
        assert!(Arc::ptr_eq(
            table.confirm("b@x.test", hash, home).unwrap(),
            &b
        ));
        assert!(Arc::ptr_eq(
            table.confirm("a@x.test", hash, home).unwrap(),
            &a
        ));
        assert!(table.confirm("c@x.test", hash, home).is_none());
    }
}
