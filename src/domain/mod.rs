//! The domain: what a draft, a directory object and a tip are, and the pure rules between them.
//!
//! Nothing in this layer does I/O, reads the clock, or knows protobuf, TOML files, LDAP or the
//! async runtime; every other layer builds on it (ARCHITECTURE.md, checked by `tests/it/tidy.rs`).
//! `draft`, `entry`, `fact` and `tip` are private: their types are re-exported here. `text`
//! serves the rules only.
//!
//! - [`address`]: parsing and normalising SMTP addresses.
//! - [`authz`]: sender authorization: may this caller ask as that sender?
//! - `entry`: directory objects (mailboxes, groups, contacts) and lookup answers.
//! - `draft`: a validated request.
//! - `fact`: [`Fact`], a fact the rules read that may not be known yet.
//! - `tip`: tip kinds, their data, and the evaluation of a draft.
//! - [`policy`]: the organisation's settings as the rules need them.
//! - [`groups`]: group metrics over a group graph.
//! - [`rules`]: the tip rules.
//! - `text`: tip texts in English and Japanese, HTML to text, cutting by characters.
//! - [`units`]: byte sizes and calendar arithmetic.

pub mod address;
pub mod authz;
mod draft;
mod entry;
mod fact;
pub mod groups;
pub mod policy;
pub mod rules;
pub(crate) mod text;
mod tip;
pub mod units;

pub use draft::{Draft, DraftRecipient, Field, Lang, Locale, ReplyAll};
pub(crate) use entry::prefetch;
pub use entry::{
    AutoReply, CustomTip, Entry, EntryId, EntryKind, ExternalAudience, GroupMetrics, Lookup,
    Moderation, Quota, Restrictions, SendFrom, id_hash,
};
pub use fact::Fact;
pub use groups::{Expansion, GroupGraph, Member};
pub use policy::Policy;
pub use tip::{
    Evaluation, InvalidReason, ReceiptPolicy, RecipientResult, RestrictionReason, Scope,
    SizeLimitSource, Tip, TipData, TipKind, TipSet, Tips,
};
pub use units::ByteSize;
