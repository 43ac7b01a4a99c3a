//! Validation of a parsed directory file into a [`Snapshot`], in two passes: first every
//! object's addresses (an address belongs to one object only), then every object with its
//! fields checked for its kind and its references (members, accept and reject lists,
//! moderators) resolved against those addresses. Errors name the file, the object and the
//! field.

use std::collections::HashMap;
use std::collections::hash_map::Entry as Slot;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::format::{RawAutoReply, RawCustomTip, RawEntry, RawFile, RawModeration};
use super::table::AddressTable;
use super::{DirectoryFileError, FastMap, Snapshot};
use crate::domain::address::{Address, AddressError, AddressRules};
use crate::domain::{
    AutoReply, CustomTip, Entry, EntryId, EntryKind, Member, Moderation, Quota, Restrictions,
    SendFrom,
};

/// Every address in the file and the object that has it (pass 1's result).
struct AddressIndex {
    /// Each address, send-from ones included (they belong to their mailbox too).
    owner: FastMap<Box<str>, Owner>,
    /// Each object's id and kind, by its place in the file's objects.
    ids: Vec<(EntryId, EntryKind)>,
}

/// The object an address belongs to, by its place in the file's objects.
#[derive(Clone, Copy)]
struct Owner {
    object: u32,
    /// Whether mail to the address reaches the object (not a send-from address).
    receives: bool,
}

impl AddressIndex {
    /// The id and kind of the object that receives mail at `address`.
    fn get(&self, address: &Address) -> Option<(&EntryId, EntryKind)> {
        let owner = self.owner.get(address.as_str()).filter(|o| o.receives)?;
        let (id, kind) = &self.ids[owner.object as usize];
        Some((id, *kind))
    }
}

/// Members lists up to this long are deduplicated by searching the list.
const LINEAR_DEDUP: usize = 32;

/// One object of the file: its kind, its place in its list and what was written.
#[derive(Clone, Copy)]
struct Object<'r> {
    kind: EntryKind,
    index: usize,
    raw: &'r RawEntry,
}

impl Object<'_> {
    /// How errors name the object, e.g. `mailbox[3] (taro@contoso.com)`.
    fn label(&self) -> Option<String> {
        let kind = match self.kind {
            EntryKind::Mailbox => "mailbox",
            EntryKind::Group => "group",
            EntryKind::Contact => "contact",
        };
        Some(format!(
            "{kind}[{}] ({})",
            self.index,
            self.raw.address.trim()
        ))
    }
}

/// Every object of the file, mailboxes first, then groups, then contacts.
fn objects(raw: &RawFile) -> Vec<Object<'_>> {
    [
        (EntryKind::Mailbox, &raw.mailbox),
        (EntryKind::Group, &raw.group),
        (EntryKind::Contact, &raw.contact),
    ]
    .into_iter()
    .flat_map(|(kind, list)| {
        list.iter()
            .enumerate()
            .map(move |(index, raw)| Object { kind, index, raw })
    })
    .collect()
}

/// What every step needs: where errors point and how addresses are read.
struct Builder<'a> {
    source: &'a str,
    rules: AddressRules,
    /// The domains of the file's mailboxes and groups: the organisation's own, where a group
    /// member must be an object of the file.
    own_domains: std::collections::HashSet<String>,
}

impl Snapshot {
    /// Validates parsed raw entries into a snapshot (the second half of [`Snapshot::parse`];
    /// the file's loader calls the halves apart so the file's text is freed before the
    /// snapshot grows).
    pub(super) fn build(
        raw: RawFile,
        source: &str,
        rules: AddressRules,
    ) -> Result<Self, DirectoryFileError> {
        let objects = objects(&raw);
        let b = Builder {
            source,
            rules,
            own_domains: own_domains(&objects, rules),
        };
        let ids = b.index_addresses(&objects)?;
        let mut snapshot = Snapshot {
            rules,
            ..Snapshot::default()
        };
        // Sized once: growing maps of 100,000 entries rehashed them again and again.
        snapshot.by_address = AddressTable::with_capacity(ids.owner.len());
        snapshot.parents.reserve(objects.len());
        for (i, o) in objects.iter().enumerate() {
            b.add_object(*o, ids.ids[i].0.clone(), &ids, &mut snapshot)?;
        }
        snapshot.by_address.advise_items_huge_pages();
        Ok(snapshot)
    }
}

impl Builder<'_> {
    fn err(
        &self,
        entry: Option<String>,
        field: Option<String>,
        message: String,
    ) -> DirectoryFileError {
        DirectoryFileError {
            path: self.source.to_owned(),
            entry,
            field,
            message,
        }
    }

    fn parse(&self, s: &str) -> Result<Address, AddressError> {
        self.rules.parse(s)
    }

    /// Pass 1: every object's primary and proxy addresses, each owned by one object only.
    /// Objects are named in errors only: a label per object was a fifth of the pass.
    fn index_addresses(&self, objects: &[Object<'_>]) -> Result<AddressIndex, DirectoryFileError> {
        let addresses = objects
            .iter()
            .map(|o| 1 + o.raw.proxy_addresses.len() + o.raw.send_from.len())
            .sum();
        let mut index = AddressIndex {
            owner: FastMap::with_capacity_and_hasher(addresses, Default::default()),
            ids: Vec::with_capacity(objects.len()),
        };
        for (i, o) in objects.iter().enumerate() {
            let object = u32::try_from(i)
                .map_err(|_| self.err(None, None, "more than 4,294,967,295 objects".into()))?;
            let primary = self
                .parse(&o.raw.address)
                .map_err(|e| self.err(o.label(), Some("address".into()), e.to_string()))?;
            index.ids.push((Arc::from(primary.as_str()), o.kind));
            let proxies = o.raw.proxy_addresses.iter().enumerate().map(|(j, p)| {
                self.parse(p).map_err(|e| {
                    self.err(
                        o.label(),
                        Some(format!("proxy_addresses[{j}]")),
                        e.to_string(),
                    )
                })
            });
            // Send-from addresses belong to the mailbox too, though it never receives there.
            let send_from = o.raw.send_from.iter().enumerate().map(|(j, s)| {
                self.parse(&s.address).map(|a| (a, false)).map_err(|e| {
                    self.err(
                        o.label(),
                        Some(format!("send_from[{j}].address")),
                        e.to_string(),
                    )
                })
            });
            let receives = std::iter::once(Ok(primary))
                .chain(proxies)
                .map(|a| a.map(|a| (a, true)));
            for a in receives.chain(send_from) {
                let (a, receives) = a?;
                match index.owner.entry(a.into_key()) {
                    Slot::Vacant(v) => {
                        v.insert(Owner { object, receives });
                    }
                    // The same object may list an address twice; the first listing counts.
                    Slot::Occupied(prev) if prev.get().object == object => {}
                    Slot::Occupied(prev) => {
                        let other = objects[prev.get().object as usize].label();
                        return Err(self.err(
                            o.label(),
                            None,
                            format!(
                                "address {} is already used by {}",
                                prev.key(),
                                other.unwrap_or_default()
                            ),
                        ));
                    }
                }
            }
        }
        Ok(index)
    }

    /// Pass 2, one object (whose id pass 1 made): its fields checked and resolved into an
    /// entry, added to the snapshot under each of its addresses, with its members in the group
    /// graph.
    fn add_object(
        &self,
        o: Object<'_>,
        id: EntryId,
        ids: &AddressIndex,
        snapshot: &mut Snapshot,
    ) -> Result<(), DirectoryFileError> {
        let r = o.raw;
        self.check_fields(o.kind, r, &o)?;
        let mut entry = self.entry_with_addresses(id, o.kind, r);
        entry.quota = r.quota.map(|q| Quota {
            prohibit_receive_bytes: q.0,
            usage_bytes: r.usage.map_or(0, |u| u.0),
            enforced: r.quota_enforced.unwrap_or(true),
        });
        entry.max_send_bytes = r.max_send_size.map(|b| b.0);
        entry.max_receive_bytes = r.max_receive_size.map(|b| b.0);
        if let Some(ar) = &r.auto_reply {
            entry.auto_reply = Some(Box::new(self.auto_reply(&o, ar)?));
        }
        self.sending_and_forwarding(&o, r, &mut entry)?;
        if let Some(t) = &r.custom_tip {
            entry.custom_tip = Some(Box::new(self.custom_tip(&o, t)?));
        }
        entry.restrictions = Restrictions {
            accept_only_from: self.resolve_list(
                ids,
                &o,
                "accept_only_from",
                &r.accept_only_from,
            )?,
            reject_from: self.resolve_list(ids, &o, "reject_from", &r.reject_from)?,
            require_authenticated: r.require_authenticated_senders,
        }
        .boxed();
        entry.send_as = self.resolve_list(ids, &o, "send_as", &r.send_as)?;
        entry.send_on_behalf = self.resolve_list(ids, &o, "send_on_behalf", &r.send_on_behalf)?;
        if let Some(m) = &r.moderation {
            entry.moderation = Some(Box::new(self.moderation(ids, &o, m)?));
        }
        if let Some(members) = &r.members {
            let list = self.members(ids, &o, members, &entry.id, &mut snapshot.parents)?;
            // Unshared while the snapshot is being built: no copy.
            Arc::make_mut(&mut snapshot.graph)
                .groups
                .push((entry.id.clone(), list));
        }
        let entry = Arc::new(entry);
        for a in entry
            .addresses
            .iter()
            .chain(entry.send_from.iter().map(|s| &s.address))
        {
            snapshot.by_address.insert(a.as_str(), entry.clone());
        }
        Ok(())
    }

    /// The fields only some kinds may have, a group's required members list, and a usage
    /// that needs a quota.
    fn check_fields(
        &self,
        kind: EntryKind,
        r: &RawEntry,
        at: &Object<'_>,
    ) -> Result<(), DirectoryFileError> {
        use EntryKind::{Group, Mailbox};
        let only = |field: &str, present: bool, allowed: &[EntryKind]| {
            if present && !allowed.contains(&kind) {
                Err(self.err(
                    at.label(),
                    Some(field.into()),
                    format!("not allowed on a {kind:?} entry").to_lowercase(),
                ))
            } else {
                Ok(())
            }
        };
        only("quota", r.quota.is_some(), &[Mailbox])?;
        only("usage", r.usage.is_some(), &[Mailbox])?;
        only("quota_enforced", r.quota_enforced.is_some(), &[Mailbox])?;
        only("max_send_size", r.max_send_size.is_some(), &[Mailbox])?;
        only("auto_reply", r.auto_reply.is_some(), &[Mailbox])?;
        only("send_from", !r.send_from.is_empty(), &[Mailbox])?;
        only(
            "forwarding_address",
            r.forwarding_address.is_some(),
            &[Mailbox],
        )?;
        only("shared", r.shared, &[Mailbox])?;
        only("send_as", !r.send_as.is_empty(), &[Mailbox])?;
        only("send_on_behalf", !r.send_on_behalf.is_empty(), &[Mailbox])?;
        only("members", r.members.is_some(), &[Group])?;
        if kind == Group && r.members.is_none() {
            return Err(self.err(
                at.label(),
                Some("members".into()),
                "a group needs a members list (it may be empty)".into(),
            ));
        }
        if r.usage.is_some() && r.quota.is_none() {
            return Err(self.err(
                at.label(),
                Some("usage".into()),
                "usage needs a quota".into(),
            ));
        }
        Ok(())
    }

    /// A new entry with its id, name, primary address and distinct proxy addresses (all
    /// checked in pass 1).
    fn entry_with_addresses(&self, id: EntryId, kind: EntryKind, r: &RawEntry) -> Entry {
        let primary = self.parse(&r.address).expect("checked in pass 1");
        let mut entry = Entry::new(id, kind, primary);
        entry.display_name = r.name.trim().into();
        for p in &r.proxy_addresses {
            let a = self.parse(p).expect("checked in pass 1");
            if !entry.addresses.contains(&a) {
                entry.addresses.push(a);
            }
        }
        entry
    }

    /// A mailbox's send-from addresses (checked in pass 1), its forwarding address, and whether
    /// it is shared.
    fn sending_and_forwarding(
        &self,
        at: &Object<'_>,
        r: &RawEntry,
        entry: &mut Entry,
    ) -> Result<(), DirectoryFileError> {
        entry.send_from = r
            .send_from
            .iter()
            .map(|s| SendFrom {
                address: self.parse(&s.address).expect("checked in pass 1"),
                outbound_gateway: s.outbound_gateway,
            })
            .collect();
        if let Some(f) = &r.forwarding_address {
            let a = self.parse(f).map_err(|e| {
                self.err(at.label(), Some("forwarding_address".into()), e.to_string())
            })?;
            entry.forwarding_address = Some(Box::new(a));
        }
        entry.shared = r.shared;
        Ok(())
    }

    /// A mailbox's automatic reply; its window, when given, must end after it starts.
    fn auto_reply(
        &self,
        at: &Object<'_>,
        ar: &RawAutoReply,
    ) -> Result<AutoReply, DirectoryFileError> {
        let time = |field: &str, d: &Option<toml::value::Datetime>| {
            d.as_ref()
                .map(|d| {
                    datetime_to_system(d)
                        .map_err(|m| self.err(at.label(), Some(format!("auto_reply.{field}")), m))
                })
                .transpose()
        };
        let (start, end) = (time("start", &ar.start)?, time("end", &ar.end)?);
        if let (Some(s), Some(e)) = (start, end)
            && e <= s
        {
            return Err(self.err(
                at.label(),
                Some("auto_reply.end".into()),
                "end must be after start".into(),
            ));
        }
        Ok(AutoReply {
            enabled: ar.enabled,
            internal_message: ar.internal.clone().into(),
            external_message: ar.external.clone().into(),
            external_audience: ar.external_audience,
            start,
            end,
        })
    }

    /// A custom tip; translations are keyed by two-letter language codes (lower-cased).
    fn custom_tip(
        &self,
        at: &Object<'_>,
        t: &RawCustomTip,
    ) -> Result<CustomTip, DirectoryFileError> {
        let mut translations = HashMap::new();
        for (lang, text) in &t.translations {
            let l = lang.to_ascii_lowercase();
            if l.len() != 2 || !l.bytes().all(|b| b.is_ascii_lowercase()) {
                return Err(self.err(
                    at.label(),
                    Some(format!("custom_tip.translations.{lang}")),
                    "translation keys are two-letter language codes (e.g. ja)".into(),
                ));
            }
            translations.insert(l, text.clone().into());
        }
        Ok(CustomTip {
            default: t.default.clone().into(),
            translations,
        })
    }

    /// Moderation, with the moderators and the senders who bypass it resolved.
    fn moderation(
        &self,
        ids: &AddressIndex,
        at: &Object<'_>,
        m: &RawModeration,
    ) -> Result<Moderation, DirectoryFileError> {
        let moderators = self.resolve_list(ids, at, "moderation.moderators", &m.moderators)?;
        Ok(Moderation {
            enabled: m.enabled,
            moderator_addresses: moderators.iter().map(|m| m.to_string()).collect(),
            moderators,
            bypass: self.resolve_list(ids, at, "moderation.bypass", &m.bypass)?,
        })
    }

    /// A list of addresses (`field`) that must all be objects of this directory, as ids.
    fn resolve_list(
        &self,
        ids: &AddressIndex,
        at: &Object<'_>,
        field: &str,
        list: &[String],
    ) -> Result<Vec<EntryId>, DirectoryFileError> {
        list.iter()
            .enumerate()
            .map(|(j, s)| {
                let f = || Some(format!("{field}[{j}]"));
                let a = self
                    .parse(s)
                    .map_err(|e| self.err(at.label(), f(), e.to_string()))?;
                ids.get(&a).map(|(id, _)| id.clone()).ok_or_else(|| {
                    self.err(
                        at.label(),
                        f(),
                        format!("{} is not in this directory", a.as_str()),
                    )
                })
            })
            .collect()
    }

    /// A group's distinct members: objects of this directory, or external addresses. Each
    /// member object gets `group` as a direct parent.
    fn members(
        &self,
        ids: &AddressIndex,
        at: &Object<'_>,
        members: &[String],
        group: &EntryId,
        parents: &mut FastMap<EntryId, Vec<EntryId>>,
    ) -> Result<Vec<Member>, DirectoryFileError> {
        let mut list = Vec::with_capacity(members.len());
        // A member listed twice (or by two of its addresses) counts once. Short lists are
        // searched; a long one keeps a set, or a 5,000-member group would cost 12.5 million
        // comparisons.
        let mut seen: Option<std::collections::HashSet<Member, foldhash::fast::RandomState>> =
            (members.len() > LINEAR_DEDUP).then(|| {
                std::collections::HashSet::with_capacity_and_hasher(
                    members.len(),
                    Default::default(),
                )
            });
        for (j, m) in members.iter().enumerate() {
            let a = self
                .parse(m)
                .map_err(|e| self.err(at.label(), Some(format!("members[{j}]")), e.to_string()))?;
            let member = match ids.get(&a) {
                Some((id, kind)) => {
                    parents.entry(id.clone()).or_default().push(group.clone());
                    Member::Entry(id.clone(), kind)
                }
                // In the organisation's own domain, a member must be one of its objects: a
                // dangling one would count as external.
                None if self.own_domains.contains(a.domain()) => {
                    return Err(self.err(
                        at.label(),
                        Some(format!("members[{j}]")),
                        format!(
                            "{} is not in this directory, though its domain is (only addresses in other domains may be external members)",
                            a.as_str()
                        ),
                    ));
                }
                None => Member::External(a.as_str().into()),
            };
            let new = match seen.as_mut() {
                Some(seen) => seen.insert(member.clone()),
                None => !list.contains(&member),
            };
            if new {
                list.push(member);
            }
        }
        Ok(list)
    }
}

/// The domains of every mailbox's and group's addresses (contacts live outside).
fn own_domains(objects: &[Object<'_>], rules: AddressRules) -> std::collections::HashSet<String> {
    objects
        .iter()
        .filter(|o| o.kind != EntryKind::Contact)
        .flat_map(|o| std::iter::once(&o.raw.address).chain(&o.raw.proxy_addresses))
        .filter_map(|a| rules.parse(a).ok())
        .map(|a| a.domain().to_owned())
        .collect()
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

#[cfg(test)]
mod tests;
