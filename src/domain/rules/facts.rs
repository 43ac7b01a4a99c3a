//! The facts the rules read, as the request path resolved them: what the directory said about
//! each recipient and about the sender, whether the sender is on a list of senders, and a found
//! recipient as the rules about it read it ([`Found`]).

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

use crate::domain::text;
use crate::domain::{Entry, EntryId, EntryKind, Fact, GroupMetrics, Lang, Lookup, Scope};

/// The facts resolved for one recipient, in request order.
#[derive(Debug, Clone)]
pub struct RecipientFacts<'a> {
    /// Borrowed from the draft's lookup by the request path: a recipient's facts take no
    /// reference of their own to its entry (two atomic operations each, for every recipient).
    pub resolution: Cow<'a, Lookup>,
    /// Group metrics when the recipient is a group and metrics are computed.
    pub metrics: Option<GroupMetrics>,
}

/// The facts resolved for the sender.
#[derive(Debug, Clone, Default)]
pub struct SenderFacts {
    /// The sender's directory object, when the sender is in the directory.
    pub entry: Option<Arc<Entry>>,
    /// True when the directory could not be asked about the sender.
    pub lookup_failed: bool,
    /// Every group that holds the sender, nested groups expanded; `None` when unknown (not
    /// looked up because no recipient needs it, or the directory failed).
    pub groups: Option<Arc<HashSet<EntryId>>>,
}

impl SenderFacts {
    /// Whether the sender is on `list` (directly or through a group).
    pub(super) fn is_on(&self, list: &[EntryId]) -> Fact<bool> {
        if list.is_empty() {
            return Fact::Known(false);
        }
        let Some(entry) = &self.entry else {
            // Unknown to the directory: on no list, unless we could not ask.
            return if self.lookup_failed {
                Fact::Unknown
            } else {
                Fact::Known(false)
            };
        };
        if list.iter().any(|id| *id == entry.id) {
            return Fact::Known(true);
        }
        Fact::from(self.groups.as_ref()).map(|groups| list.iter().any(|id| groups.contains(id)))
    }
}

/// A recipient the directory found, as the rules about it read it.
pub(super) struct Found<'a> {
    pub(super) entry: &'a Entry,
    pub(super) scope: Scope,
    /// The address as given, which the texts use when the entry has no display name.
    pub(super) shown: &'a str,
    /// The group metrics resolved for it (see [`RecipientFacts::metrics`]).
    pub(super) metrics: Option<GroupMetrics>,
}

impl Found<'_> {
    pub(super) fn is_group(&self) -> bool {
        self.entry.kind == EntryKind::Group
    }

    /// A mail contact, or an object whose address is in an external domain.
    pub(super) fn is_external(&self) -> bool {
        self.entry.kind == EntryKind::Contact || self.scope == Scope::External
    }

    /// What the texts call the recipient in `lang`: its display name, capped and in
    /// Japanese followed by さん for a person (a mailbox that is not shared), or the address
    /// as given when it has no name. Worked out only for a tip, which most recipients
    /// do not have.
    pub(super) fn who(&self, lang: Lang) -> Cow<'_, str> {
        let e = self.entry;
        if e.display_name.is_empty() {
            Cow::Borrowed(self.shown)
        } else {
            let person = e.kind == EntryKind::Mailbox && !e.shared;
            text::name_in_text(lang, &e.display_name, person)
        }
    }
}
