//! Domain types shared by the directory backends, the rules and the transport: directory
//! entries, tips, and what a draft looks like once validated.
//!
//! Nothing here knows about protobuf, TOML or LDAP.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use crate::address::{Address, AddressError};

/// A directory object's stable identifier: the primary address for the embedded directory, the
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
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub id: EntryId,
    pub kind: EntryKind,
    pub display_name: String,
    /// The primary SMTP address.
    pub primary: Address,
    /// Every address the object receives at, the primary included.
    pub addresses: Vec<Address>,
    pub quota: Option<Quota>,
    pub auto_reply: Option<AutoReply>,
    pub custom_tip: Option<CustomTip>,
    pub restrictions: Restrictions,
    pub moderation: Option<Moderation>,
    /// The largest message this object may send, in bytes.
    pub max_send_bytes: Option<u64>,
    /// The largest message this object accepts, in bytes.
    pub max_receive_bytes: Option<u64>,
}

impl Entry {
    /// A bare entry of `kind` at `primary`, with no attributes set: the starting point for
    /// backends and tests.
    pub fn new(id: impl Into<EntryId>, kind: EntryKind, primary: Address) -> Self {
        Self {
            id: id.into(),
            kind,
            display_name: String::new(),
            addresses: vec![primary.clone()],
            primary,
            quota: None,
            auto_reply: None,
            custom_tip: None,
            restrictions: Restrictions::default(),
            moderation: None,
            max_send_bytes: None,
            max_receive_bytes: None,
        }
    }
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

/// A mailbox's automatic replies. Texts may be HTML (as Exchange stores them) or plain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoReply {
    pub enabled: bool,
    pub internal_message: String,
    pub external_message: String,
    pub external_audience: ExternalAudience,
    /// Scheduled window; replies are on only inside it when set.
    pub start: Option<SystemTime>,
    pub end: Option<SystemTime>,
}

/// An administrator's custom tip: a default text plus translations keyed by two-letter
/// language code (Exchange's `MailTipTranslations`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CustomTip {
    pub default: String,
    pub translations: HashMap<String, String>,
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

/// The ten tip kinds; the discriminants are the protobuf `TipKind` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum TipKind {
    InvalidInternalRecipient = 1,
    MailboxFull = 2,
    AutoReply = 3,
    Custom = 4,
    RestrictedRecipient = 5,
    ExternalRecipient = 6,
    LargeAudience = 7,
    ModeratedRecipient = 8,
    ReplyAllOnBcc = 9,
    MessageTooLarge = 10,
}

impl TipKind {
    pub const ALL: [TipKind; 10] = [
        TipKind::InvalidInternalRecipient,
        TipKind::MailboxFull,
        TipKind::AutoReply,
        TipKind::Custom,
        TipKind::RestrictedRecipient,
        TipKind::ExternalRecipient,
        TipKind::LargeAudience,
        TipKind::ModeratedRecipient,
        TipKind::ReplyAllOnBcc,
        TipKind::MessageTooLarge,
    ];

    /// Tips read from the recipient's mailbox, skipped above the per-mailbox cap and refreshed
    /// every refresh interval.
    pub fn is_mailbox_sourced(self) -> bool {
        matches!(self, TipKind::AutoReply | TipKind::MailboxFull)
    }

    /// Tips a restriction hides for the same recipient (SPEC section 3).
    pub fn hidden_by_restriction(self) -> bool {
        matches!(
            self,
            TipKind::AutoReply
                | TipKind::MailboxFull
                | TipKind::Custom
                | TipKind::ModeratedRecipient
                | TipKind::MessageTooLarge
        )
    }

    /// The stable snake-case name used in config files.
    pub fn config_name(self) -> &'static str {
        match self {
            TipKind::InvalidInternalRecipient => "invalid_internal_recipient",
            TipKind::MailboxFull => "mailbox_full",
            TipKind::AutoReply => "auto_reply",
            TipKind::Custom => "custom",
            TipKind::RestrictedRecipient => "restricted_recipient",
            TipKind::ExternalRecipient => "external_recipient",
            TipKind::LargeAudience => "large_audience",
            TipKind::ModeratedRecipient => "moderated_recipient",
            TipKind::ReplyAllOnBcc => "reply_all_on_bcc",
            TipKind::MessageTooLarge => "message_too_large",
        }
    }

    /// The kind for a protobuf value, if it names one.
    pub fn from_i32(v: i32) -> Option<Self> {
        TipKind::ALL.into_iter().find(|k| *k as i32 == v)
    }
}

/// A set of tip kinds as a bit mask (cheap to copy and test on the hot path).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TipSet(u16);

impl TipSet {
    pub const EMPTY: TipSet = TipSet(0);
    pub const ALL: TipSet = TipSet(0b111_1111_1110);

    pub fn contains(self, k: TipKind) -> bool {
        self.0 & (1 << k as u16) != 0
    }
    pub fn insert(&mut self, k: TipKind) {
        self.0 |= 1 << k as u16;
    }
    pub fn remove(&mut self, k: TipKind) {
        self.0 &= !(1 << k as u16);
    }
    pub fn intersect(self, other: TipSet) -> TipSet {
        TipSet(self.0 & other.0)
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn iter(self) -> impl Iterator<Item = TipKind> {
        TipKind::ALL.into_iter().filter(move |k| self.contains(*k))
    }
}

impl FromIterator<TipKind> for TipSet {
    fn from_iter<I: IntoIterator<Item = TipKind>>(iter: I) -> Self {
        let mut s = TipSet::EMPTY;
        for k in iter {
            s.insert(k);
        }
        s
    }
}

/// Where a recipient's domain puts it (SPEC section 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Malformed address: no domain to judge.
    Unknown,
    Internal,
    External,
    RemoteInternal,
}

impl Scope {
    /// Internal for the external tip and for choosing auto-reply text.
    pub fn is_internal(self) -> bool {
        matches!(self, Scope::Internal | Scope::RemoteInternal)
    }
}

/// To, Cc or Bcc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    To,
    Cc,
    Bcc,
}

/// The languages with human texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    En,
    Ja,
}

/// A validated request locale: the text language plus the primary subtag, which picks custom
/// tip translations.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Locale {
    pub lang: Lang,
    /// Lower-case primary language subtag ("en", "ja", "fr"); empty when none was given.
    pub primary: String,
}

/// One recipient as the client addressed it.
#[derive(Debug, Clone)]
pub struct DraftRecipient {
    /// The address exactly as given, echoed in the response.
    pub raw: String,
    pub field: Field,
    pub address: Result<Address, AddressError>,
}

/// A validated request: what the rules evaluate.
#[derive(Debug, Clone)]
pub struct Draft {
    pub sender: Address,
    pub recipients: Vec<DraftRecipient>,
    /// 0 = unknown.
    pub message_size: u64,
    pub reply_all: Option<ReplyAll>,
    /// The kinds the client asked for.
    pub wanted: TipSet,
    pub locale: Locale,
}

/// The original To and Cc of a reply-all, normalised where they parse.
#[derive(Debug, Clone, Default)]
pub struct ReplyAll {
    pub original: Vec<Address>,
}

/// Why a recipient is invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvalidReason {
    NotFound,
    Malformed(AddressError),
}

/// Why a recipient refuses the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestrictionReason {
    NotInAcceptList,
    InRejectList,
    RequiresAuthenticatedSender,
}

/// Whose size limit bites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeLimitSource {
    Sender,
    Recipient,
    Organization,
}

/// A tip's structured data.
#[derive(Debug, Clone, PartialEq)]
pub enum TipData {
    Invalid {
        address: String,
        reason: InvalidReason,
    },
    MailboxFull {
        quota_bytes: u64,
        usage_bytes: u64,
    },
    AutoReply {
        preview: String,
        message: String,
        truncated: bool,
        window_end: Option<SystemTime>,
        external_reply: bool,
    },
    Custom {
        language: String,
    },
    Restricted {
        reason: RestrictionReason,
        recipient_external: bool,
        group_has_external_members: bool,
    },
    External {
        is_group: bool,
        external_members: u32,
        total_members: u32,
    },
    LargeAudience {
        members: u32,
        threshold: u32,
    },
    Moderated {
        moderators: Vec<String>,
    },
    ReplyAllOnBcc,
    TooLarge {
        source: SizeLimitSource,
        limit_bytes: u64,
        message_bytes: u64,
    },
}

/// One mail tip with its human text.
#[derive(Debug, Clone, PartialEq)]
pub struct Tip {
    pub kind: TipKind,
    pub text: String,
    pub data: TipData,
}

/// The tips of one requested recipient.
#[derive(Debug, Clone, PartialEq)]
pub struct RecipientResult {
    pub address: String,
    pub scope: Scope,
    /// `None` when nothing resolved.
    pub resolved: Option<EntryKind>,
    pub display_name: String,
    pub tips: Vec<Tip>,
    pub pending: TipSet,
}

/// The answer for a whole draft.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub recipients: Vec<RecipientResult>,
    pub draft_tips: Vec<Tip>,
    /// Draft-level kinds that could not be computed now (the directory failed for the sender).
    pub draft_pending: TipSet,
    /// The kinds skipped because the draft is above the per-mailbox cap.
    pub skipped: TipSet,
    pub evaluated_at: SystemTime,
    pub refresh_after: SystemTime,
}
