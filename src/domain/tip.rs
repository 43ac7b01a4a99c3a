//! Tips and evaluations: the fifteen kinds, their structured data and texts, and the answer for a
//! whole draft. The gRPC edge turns these into protobuf.

use std::time::SystemTime;

use bytestring::ByteString;
use compact_str::CompactString;

use crate::domain::address::AddressError;
use crate::domain::entry::EntryKind;

/// The tip kinds; the discriminants are the protobuf `TipKind` values.
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
    // Beyond Exchange.
    WholeAudience = 11,
    RecipientsVisible = 12,
    ReadReceipt = 13,
    SentOnBehalf = 14,
    ForwardedExternally = 15,
}

impl TipKind {
    pub const ALL: [TipKind; 15] = [
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
        TipKind::WholeAudience,
        TipKind::RecipientsVisible,
        TipKind::ReadReceipt,
        TipKind::SentOnBehalf,
        TipKind::ForwardedExternally,
    ];

    /// Tips read from the recipient's mailbox, skipped above the per-mailbox cap and refreshed
    /// every refresh interval.
    pub fn is_mailbox_sourced(self) -> bool {
        matches!(self, TipKind::AutoReply | TipKind::MailboxFull)
    }

    /// Tips a restriction hides for the same recipient: when a recipient refuses the sender, that
    /// recipient shows no mailbox-full, auto-reply, custom, moderation, too-large or
    /// forwarded-outside tip.
    pub fn hidden_by_restriction(self) -> bool {
        matches!(
            self,
            TipKind::AutoReply
                | TipKind::MailboxFull
                | TipKind::Custom
                | TipKind::ModeratedRecipient
                | TipKind::MessageTooLarge
                | TipKind::ForwardedExternally
        )
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
    pub const ALL: TipSet = TipSet(0b1111_1111_1111_1110);

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

/// Where a recipient's domain puts it: an accepted domain is internal, a remote domain marked
/// internal (hybrid or partner) is remote-internal, and any other domain is external.
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

/// The organisation's read-receipt policy: to whom its people's mail clients send receipts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptPolicy {
    /// Receipts are sent to nobody.
    None,
    /// Receipts go to internal senders and to the allow-list only.
    InternalAndAllowlist,
    /// Receipts go to every sender.
    #[default]
    All,
}

/// A tip's structured data.
#[derive(Debug, Clone, PartialEq)]
pub enum TipData {
    Invalid {
        /// The address as given (trimmed, capped), sharing the request's storage.
        address: ByteString,
        reason: InvalidReason,
    },
    MailboxFull {
        quota_bytes: u64,
        usage_bytes: u64,
    },
    AutoReply {
        /// Shared slices of the entry's plain text.
        preview: ByteString,
        message: ByteString,
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
    WholeAudience {
        /// The people the draft reaches, each directory object once, groups by member count.
        people: u32,
        /// How many of them came from groups' member counts.
        from_groups: u32,
        /// True when a person may be counted twice (in two addressed groups, or addressed and
        /// in a group).
        upper_bound: bool,
        threshold: u32,
    },
    RecipientsVisible {
        /// Distinct addresses in To and Cc.
        visible: u32,
        threshold: u32,
        /// The distinct outside domains of individual external To and Cc recipients, sorted.
        outside_domains: Vec<String>,
    },
    ReadReceipt {
        policy: ReceiptPolicy,
        /// Under policy `None`: the request is ignored by everyone inside the organisation.
        ignored: bool,
        /// The recipients (as addressed) that will never send a receipt.
        no_receipt_from: Vec<String>,
    },
    SentOnBehalf {
        /// The send-from address the draft is sent as.
        send_as: String,
        /// The sender's own (primary) address.
        on_behalf_of: String,
        /// How recipients may see the sender, in the request's language.
        shown_as: String,
    },
    ForwardedExternally,
}

/// One mail tip: its human text and its structured data, which decides its kind.
#[derive(Debug, Clone, PartialEq)]
pub struct Tip {
    /// Recipients' tip texts are slices of a buffer their thread writes them into
    /// ([`crate::domain::text::write_text`]).
    pub text: ByteString,
    pub data: TipData,
}

impl Tip {
    /// The kind, read from the data: a tip cannot carry one kind's data under another kind.
    pub fn kind(&self) -> TipKind {
        match self.data {
            TipData::Invalid { .. } => TipKind::InvalidInternalRecipient,
            TipData::MailboxFull { .. } => TipKind::MailboxFull,
            TipData::AutoReply { .. } => TipKind::AutoReply,
            TipData::Custom { .. } => TipKind::Custom,
            TipData::Restricted { .. } => TipKind::RestrictedRecipient,
            TipData::External { .. } => TipKind::ExternalRecipient,
            TipData::LargeAudience { .. } => TipKind::LargeAudience,
            TipData::Moderated { .. } => TipKind::ModeratedRecipient,
            TipData::ReplyAllOnBcc => TipKind::ReplyAllOnBcc,
            TipData::TooLarge { .. } => TipKind::MessageTooLarge,
            TipData::WholeAudience { .. } => TipKind::WholeAudience,
            TipData::RecipientsVisible { .. } => TipKind::RecipientsVisible,
            TipData::ReadReceipt { .. } => TipKind::ReadReceipt,
            TipData::SentOnBehalf { .. } => TipKind::SentOnBehalf,
            TipData::ForwardedExternally => TipKind::ForwardedExternally,
        }
    }
}

/// The tips of one requested recipient (the edge pairs it with the address as the request gave
/// it, by position, so the address is moved into the answer rather than copied).
#[derive(Debug, Clone, PartialEq)]
pub struct RecipientResult {
    pub scope: Scope,
    /// `None` when nothing resolved.
    pub resolved: Option<EntryKind>,
    pub display_name: CompactString,
    /// In display order. One is held inline: most recipients have one tip at most.
    pub tips: Tips,
    pub pending: TipSet,
}

/// A recipient's tips: one inline, more on the heap.
pub type Tips = smallvec::SmallVec<[Tip; 1]>;

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
