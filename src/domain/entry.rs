//! Directory objects as the rules see them: mailboxes, groups and contacts with every attribute a
//! tip reads, and group metrics. Backends build these; nothing here knows TOML or LDAP.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use bytestring::ByteString;
use compact_str::CompactString;

use crate::domain::address::Address;
use crate::domain::text::{MAX_TEXT_CHARS, PREVIEW_CHARS, cut_chars, html_to_text};

/// DN for LDAP. Restriction and moderation lists refer to objects by it.
pub type EntryId = Arc<str>;

/// What kind of directory object an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    Mailbox,
    Group,
    /// A mail contact: delivery goes to an external address.
    Contact,
}

/// One directory object with every attribute the rules read.
///
/// The fields are in a fixed order (`repr(C)`): first what the rules read for every recipient,
/// together at the start of the entry, then what the sender's entry and some draft-level tips
/// need. A draft's entries are random places in a large directory, each read a cache miss: in
/// the compiler's own order the fields one recipient reads were spread over all six cache
/// lines of the entry.
#[derive(Debug, Clone, PartialEq)]
#[repr(C)]
pub struct Entry {
    // Read for every recipient.
    /// Inline when short (most names): read with the entry, without a cache miss of its own.
    pub display_name: CompactString,
    pub id: EntryId,
    pub quota: Option<Quota>,
    pub auto_reply: Option<Box<AutoReply>>,
    pub custom_tip: Option<Box<CustomTip>>,
    pub moderation: Option<Box<Moderation>>,
    /// The largest message this object accepts, in bytes.
    pub max_receive_bytes: Option<u64>,
    /// Delivery restrictions; `None` for the many objects that have none (boxed: a few
    /// objects restrict, and the entry's per-recipient part stays shorter). Read through
    /// [`Entry::restrictions()`].
    pub restrictions: Option<Box<Restrictions>>,
    /// Extra addresses in other domains this mailbox may send as (never received at). A
    /// boxed slice: set once, and 8 bytes shorter than a `Vec`, which keeps the fields read
    /// for every recipient within four cache lines (asserted below).
    pub send_from: Box<[SendFrom]>,
    /// Where the mailbox forwards its mail, when it does (boxed: few mailboxes forward, and
    /// the entry's per-recipient part stays shorter).
    pub forwarding_address: Option<Box<Address>>,
    /// The primary SMTP address. The draft-level rules count objects by it: its hash is
    /// part of it, where hashing the id would read the id's text, a cache miss of its own.
    pub primary: Address,
    pub kind: EntryKind,
    /// A shared, room or equipment mailbox rather than a person's: Japanese texts call it by
    /// name without さん.
    pub shared: bool,
    /// [`id_hash()`] of `id`, worked out by [`Entry::new`] (read through [`Entry::id_hash()`]).
    /// Read for groups only, so after the fields read for every recipient: in the last of
    /// their cache lines for three entries in four.
    id_hash: u64,
    // Read for the sender, and for some draft-level tips.
    /// Every address the object receives at, the primary included.
    pub addresses: Vec<Address>,
    /// The largest message this object may send, in bytes.
    pub max_send_bytes: Option<u64>,
    /// Who may send as this object (people or groups, by entry id): sender authorization.
    pub send_as: Vec<EntryId>,
    /// Who may send on this object's behalf (people or groups, by entry id).
    pub send_on_behalf: Vec<EntryId>,
    /// Every group that holds this object, nested groups included, when the directory
    /// returned them with the object (LDAP `memberOf` with the nesting above it); `None`: not
    /// returned, the request path asks the directory for them when it needs them.
    pub groups: Option<Arc<HashSet<EntryId>>>,
}

/// An address in another domain a mailbox may send as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendFrom {
    pub address: Address,
    /// Whether its mail leaves through that domain's own server (a per-user outbound gateway).
    pub outbound_gateway: bool,
}

impl Entry {
    /// A bare entry of `kind` at `primary`, with no attributes set: the starting point for
    /// backends and tests.
    pub fn new(id: impl Into<EntryId>, kind: EntryKind, primary: Address) -> Self {
        let id = id.into();
        Self {
            id_hash: id_hash(&id),
            id,
            kind,
            display_name: CompactString::default(),
            addresses: vec![primary.clone()],
            primary,
            quota: None,
            auto_reply: None,
            custom_tip: None,
            restrictions: None,
            moderation: None,
            max_send_bytes: None,
            max_receive_bytes: None,
            send_as: Vec::new(),
            send_on_behalf: Vec::new(),
            send_from: Box::default(),
            forwarding_address: None,
            shared: false,
            groups: None,
        }
    }
}

/// The hash of an entry id by which the group metrics are found: seeded once per process, as an
/// address key's ([`crate::domain::address::key_hash`]).
pub fn id_hash(id: &str) -> u64 {
    crate::domain::address::key_hash(id)
}

impl Entry {
    /// [`id_hash`] of the entry's id, kept with it: a group's metrics are found by it without
    /// reading the id's text. (Nothing changes an entry's id after [`Entry::new`].)
    pub fn id_hash(&self) -> u64 {
        debug_assert_eq!(self.id_hash, id_hash(&self.id), "the id changed after new");
        self.id_hash
    }

    /// The delivery restrictions: none when the field of that name is `None`.
    pub fn restrictions(&self) -> &Restrictions {
        static NONE: Restrictions = Restrictions {
            accept_only_from: Vec::new(),
            reject_from: Vec::new(),
            require_authenticated: false,
        };
        self.restrictions.as_deref().unwrap_or(&NONE)
    }
}

impl Entry {
    /// Where the fields read for every recipient end (see the type's doc).
    const HOT_END: usize = std::mem::offset_of!(Entry, shared) + 1;
}

// Behind the `Arc`'s two counts, the fields read for every recipient fill at most four cache
// lines wherever the allocation starts (malloc aligns it to 16 bytes); what few entries have
// (restrictions, send-from addresses, forwarding) is boxed to keep them so.
const _: () = assert!(48 + 16 + Entry::HOT_END <= 4 * 64);

impl Entry {
    /// Asks the CPU to start loading what a draft's lookup and rules touch of `entry`: its
    /// reference count and the fields read for every recipient, every cache line from the
    /// one with the counts to the one with the last of those fields. A draft's entries are
    /// random places in a large directory, each a cache miss. Taking the reference counts one
    /// after the other made each miss wait for the one before (an atomic increment lets no
    /// later load pass it); prefetches for the whole draft overlap. Only a hint: nothing on
    /// other targets.
    #[inline]
    pub fn prefetch(entry: &Arc<Entry>) {
        let at = Arc::as_ptr(entry).cast::<u8>();
        // The counts sit just before the value in an `Arc`'s allocation. A prefetch never
        // faults, whatever the address, so the guess needs no guarantee.
        let first = at.wrapping_sub(16);
        let lines = (first as usize % 64 + 16 + Self::HOT_END).div_ceil(64);
        for line in 0..lines {
            prefetch(first.wrapping_add(line * 64));
        }
    }

    /// Whether `a` is only one of this mailbox's send-from addresses: the directory found the
    /// object by it, but the object never receives there.
    pub fn only_sends_from(&self, a: &Address) -> bool {
        self.send_from.iter().any(|s| s.address == *a) && !self.addresses.contains(a)
    }
}

/// Asks the CPU to start loading the cache line at `at`, which a coming read needs. Only a
/// hint: any address will do (nothing is read, nothing can fault), and on targets other than
/// x86_64 it does nothing.
#[inline]
pub(crate) fn prefetch(at: *const u8) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: `_mm_prefetch` needs SSE, which every x86_64 CPU has; it reads nothing and
        // cannot fault.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(at.cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

/// A mailbox's prohibit-receive quota and usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quota {
    pub prohibit_receive_bytes: u64,
    pub usage_bytes: u64,
    /// An unenforced quota never makes a mailbox full.
    pub enforced: bool,
}

/// Who outside the organisation sees an automatic reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExternalAudience {
    /// External senders get no reply.
    #[default]
    None,
    /// Only external senders known to the directory (contacts) get the external reply.
    Known,
    /// Every external sender gets the external reply.
    All,
}

/// A text an administrator or a mailbox owner wrote, HTML (as Exchange stores it) or plain:
/// the source as stored, and its plain text ([`html_to_text`]) worked out once, on first use,
/// and kept with the entry, so drafts that reach the entry again do not convert it again.
///
/// Dereferences to the source. Equality and `Debug` are the source's.
#[derive(Clone, Default)]
pub struct Html {
    source: String,
    plain: OnceLock<Plain>,
}

impl Html {
    /// The text as stored.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The plain text: tags dropped, references decoded, white space tidied.
    pub fn plain(&self) -> &Plain {
        self.plain
            .get_or_init(|| Plain::new(html_to_text(&self.source)))
    }
}

/// An [`Html`] text's plain form, with where its preview ([`PREVIEW_CHARS`]) and its longest
/// shown form ([`MAX_TEXT_CHARS`]) end, found once with it: a tip takes either as a shared
/// slice, without walking the characters or copying them again.
#[derive(Clone, Debug)]
pub struct Plain {
    text: ByteString,
    /// The byte length of the first [`PREVIEW_CHARS`] characters.
    preview: usize,
    /// The byte length of the first [`MAX_TEXT_CHARS`] characters.
    message: usize,
}

impl Plain {
    fn new(text: String) -> Self {
        let preview = cut_chars(&text, PREVIEW_CHARS).0.len();
        let message = cut_chars(&text, MAX_TEXT_CHARS).0.len();
        Self {
            text: text.into(),
            preview,
            message,
        }
    }

    /// Whether there is no text at all.
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// The first [`PREVIEW_CHARS`] characters, and whether anything was cut.
    pub fn preview(&self) -> (ByteString, bool) {
        self.cut(self.preview)
    }

    /// The first [`MAX_TEXT_CHARS`] characters, and whether anything was cut.
    pub fn message(&self) -> (ByteString, bool) {
        self.cut(self.message)
    }

    fn cut(&self, end: usize) -> (ByteString, bool) {
        (
            self.text.slice_ref(&self.text[..end]),
            end < self.text.len(),
        )
    }
}

impl From<String> for Html {
    fn from(source: String) -> Self {
        Self {
            source,
            plain: OnceLock::new(),
        }
    }
}

impl From<&str> for Html {
    fn from(source: &str) -> Self {
        source.to_owned().into()
    }
}

impl std::ops::Deref for Html {
    type Target = str;
    fn deref(&self) -> &str {
        &self.source
    }
}

impl PartialEq for Html {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for Html {}

impl PartialEq<str> for Html {
    fn eq(&self, other: &str) -> bool {
        self.source == other
    }
}

impl PartialEq<&str> for Html {
    fn eq(&self, other: &&str) -> bool {
        self.source == *other
    }
}

impl std::fmt::Display for Html {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.source)
    }
}

impl std::fmt::Debug for Html {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.source.fmt(f)
    }
}

/// A mailbox's automatic replies. Texts may be HTML (as Exchange stores them) or plain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoReply {
    pub enabled: bool,
    pub internal_message: Html,
    pub external_message: Html,
    pub external_audience: ExternalAudience,
    /// Scheduled window; replies are on only inside it when set.
    pub start: Option<SystemTime>,
    pub end: Option<SystemTime>,
}

/// An administrator's custom tip: a default text plus translations keyed by two-letter
/// language code (Exchange's `MailTipTranslations`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CustomTip {
    pub default: Html,
    pub translations: HashMap<String, Html>,
}

/// Delivery restrictions. Lists hold entry ids of people, contacts or groups; a group in a list
/// stands for its members, nested groups included.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Restrictions {
    /// When non-empty, only these senders are accepted.
    pub accept_only_from: Vec<EntryId>,
    /// These senders are refused.
    pub reject_from: Vec<EntryId>,
    /// Only authenticated (internal) senders are accepted.
    pub require_authenticated: bool,
}

impl Restrictions {
    /// What an entry holds: `None` when nothing is restricted.
    pub fn boxed(self) -> Option<Box<Self>> {
        (self != Self::default()).then(|| Box::new(self))
    }
}

/// Moderation: mail waits for one of `moderators` unless the sender is a moderator or on
/// `bypass`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Moderation {
    pub enabled: bool,
    /// Moderators' entry ids.
    pub moderators: Vec<EntryId>,
    /// Moderators' primary addresses, for the tip's data.
    pub moderator_addresses: Vec<String>,
    /// Senders (or groups of senders) whose mail skips moderation.
    pub bypass: Vec<EntryId>,
}

/// A group's member counts with nested groups expanded, each member counted once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GroupMetrics {
    pub total_members: u32,
    pub external_members: u32,
}

/// What the directory said about one address.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    Found(Arc<Entry>),
    /// No directory object has this address.
    NotFound,
    /// The directory could not answer for this address now: the tips that need it are pending.
    Unknown,
}

#[cfg(test)]
mod tests {
    use std::mem::offset_of;

    use super::Entry;

    #[test]
    fn what_every_recipient_reads_comes_first() {
        for cold in [
            offset_of!(Entry, addresses),
            offset_of!(Entry, max_send_bytes),
            offset_of!(Entry, send_as),
            offset_of!(Entry, send_on_behalf),
            offset_of!(Entry, groups),
        ] {
            assert!(cold >= Entry::HOT_END, "a sender-only field at {cold}");
        }
    }
}
