//! The tip rules: pure functions from a validated draft and the directory facts resolved for
//! it to the tips a person sees. No I/O, no clock (the time is passed in), no async; this is
//! where every rule and exception of SPEC section 3 lives.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::SystemTime;

use crate::config::Policy;
use crate::model::{
    Draft, Entry, EntryId, EntryKind, Evaluation, ExternalAudience, GroupMetrics, InvalidReason,
    Lang, RecipientResult, RestrictionReason, Scope, SizeLimitSource, Tip, TipData, TipKind,
    TipSet,
};
use crate::text::{self, MAX_TEXT_CHARS, PREVIEW_CHARS, Texts};

/// What the directory said about one address.
#[derive(Debug, Clone)]
pub enum Resolution {
    Found(Arc<Entry>),
    /// No directory object has this address.
    NotFound,
    /// The directory could not answer in time: tips that need it are pending.
    Unavailable,
}

/// The facts resolved for one recipient, in request order.
#[derive(Debug, Clone)]
pub struct RecipientFacts {
    pub resolution: Resolution,
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
    /// Whether the sender is on `list` (directly or through a group); `None` when that cannot
    /// be known now.
    fn is_on(&self, list: &[EntryId]) -> Option<bool> {
        if list.is_empty() {
            return Some(false);
        }
        let Some(entry) = &self.entry else {
            // Unknown to the directory: on no list, unless we could not ask.
            return if self.lookup_failed {
                None
            } else {
                Some(false)
            };
        };
        if list.iter().any(|id| *id == entry.id) {
            return Some(true);
        }
        let groups = self.groups.as_ref()?;
        Some(list.iter().any(|id| groups.contains(id)))
    }
}

/// Evaluates every tip for `draft` at time `now`.
///
/// `recipients` holds one [`RecipientFacts`] per draft recipient, in the same order.
pub fn evaluate(
    policy: &Policy,
    draft: &Draft,
    sender: &SenderFacts,
    recipients: &[RecipientFacts],
    now: SystemTime,
) -> Evaluation {
    debug_assert_eq!(draft.recipients.len(), recipients.len());
    let wanted = draft.wanted.intersect(policy.enabled);
    let mut skipped = TipSet::EMPTY;
    if draft.recipients.len() > policy.per_mailbox_cap as usize {
        for k in wanted.iter().filter(|k| k.is_mailbox_sourced()) {
            skipped.insert(k);
        }
    }
    let mut active = wanted;
    for k in skipped.iter() {
        active.remove(k);
    }
    let ctx = Ctx {
        policy,
        draft,
        sender,
        sender_internal: policy.scope_of(draft.sender.domain()).is_internal(),
        active,
        lang: draft.locale.lang,
        now,
    };
    let results = draft
        .recipients
        .iter()
        .zip(recipients)
        .map(|(r, facts)| ctx.recipient(&r.raw, r.address.as_ref(), facts))
        .collect();
    let (draft_tips, draft_pending) = ctx.draft_tips();
    Evaluation {
        recipients: results,
        draft_tips,
        draft_pending,
        skipped,
        evaluated_at: now,
        refresh_after: now + policy.refresh_interval,
    }
}

struct Ctx<'a> {
    policy: &'a Policy,
    draft: &'a Draft,
    sender: &'a SenderFacts,
    sender_internal: bool,
    active: TipSet,
    lang: Lang,
    now: SystemTime,
}

/// Collects a recipient's tips in display order and its pending kinds.
struct Out {
    tips: Vec<Tip>,
    pending: TipSet,
}

impl Out {
    fn pend(&mut self, k: TipKind) {
        self.pending.insert(k);
    }
}

impl Ctx<'_> {
    fn on(&self, k: TipKind) -> bool {
        self.active.contains(k)
    }

    fn recipient(
        &self,
        raw: &str,
        address: Result<&crate::address::Address, &crate::address::AddressError>,
        facts: &RecipientFacts,
    ) -> RecipientResult {
        let mut out = Out {
            tips: Vec::new(),
            pending: TipSet::EMPTY,
        };
        let shown: &str = text::cut_chars(raw.trim(), crate::address::MAX_ADDRESS_BYTES).0;
        let address = match address {
            Ok(a) => a,
            Err(e) => {
                if self.on(TipKind::InvalidInternalRecipient) {
                    out.tips.push(Tip {
                        kind: TipKind::InvalidInternalRecipient,
                        text: Texts::invalid(self.lang, shown, true),
                        data: TipData::Invalid {
                            address: shown.to_owned(),
                            reason: InvalidReason::Malformed(e.clone()),
                        },
                    });
                }
                return RecipientResult {
                    address: raw.to_owned(),
                    scope: Scope::Unknown,
                    resolved: None,
                    display_name: String::new(),
                    tips: out.tips,
                    pending: TipSet::EMPTY,
                };
            }
        };
        let scope = self.policy.scope_of(address.domain());
        let mut resolved = None;
        let mut display_name = String::new();
        match &facts.resolution {
            Resolution::Unavailable => {
                // Only what the address alone tells is known; the rest waits for the directory.
                if scope == Scope::External && self.on(TipKind::ExternalRecipient) {
                    out.tips.push(self.external_address(shown));
                }
                for k in self.active.iter() {
                    let needs_directory = match k {
                        TipKind::ReplyAllOnBcc => false,
                        TipKind::ExternalRecipient => scope != Scope::External,
                        TipKind::InvalidInternalRecipient => scope == Scope::Internal,
                        _ => true,
                    };
                    if needs_directory {
                        out.pend(k);
                    }
                }
            }
            Resolution::NotFound => match scope {
                Scope::Internal if self.on(TipKind::InvalidInternalRecipient) => {
                    out.tips.push(Tip {
                        kind: TipKind::InvalidInternalRecipient,
                        text: Texts::invalid(self.lang, shown, false),
                        data: TipData::Invalid {
                            address: shown.to_owned(),
                            reason: InvalidReason::NotFound,
                        },
                    });
                }
                Scope::External if self.on(TipKind::ExternalRecipient) => {
                    out.tips.push(self.external_address(shown));
                }
                _ => {}
            },
            Resolution::Found(entry) => {
                resolved = Some(entry.kind);
                display_name.clone_from(&entry.display_name);
                let who = if entry.display_name.is_empty() {
                    shown
                } else {
                    entry.display_name.as_str()
                };
                self.entry_tips(entry, scope, who, facts.metrics, &mut out);
            }
        }
        RecipientResult {
            address: raw.to_owned(),
            scope,
            resolved,
            display_name,
            tips: out.tips,
            pending: out.pending,
        }
    }

    fn external_address(&self, who: &str) -> Tip {
        Tip {
            kind: TipKind::ExternalRecipient,
            text: Texts::external(self.lang, who),
            data: TipData::External {
                is_group: false,
                external_members: 0,
                total_members: 0,
            },
        }
    }

    fn entry_tips(
        &self,
        entry: &Entry,
        scope: Scope,
        who: &str,
        metrics: Option<GroupMetrics>,
        out: &mut Out,
    ) {
        let is_group = entry.kind == EntryKind::Group;
        let recipient_external = entry.kind == EntryKind::Contact || scope == Scope::External;
        // Metrics matter only for groups, and only when the organisation computes them.
        let group_metrics = if is_group && self.policy.group_metrics {
            Some(metrics)
        } else {
            None
        };

        // Restriction first: when it shows, five other kinds are hidden for this recipient.
        let mut restricted = false;
        if self.policy.enabled.contains(TipKind::RestrictedRecipient) {
            match self.restriction(entry) {
                Some(Some(reason)) => {
                    restricted = true;
                    if self.on(TipKind::RestrictedRecipient) {
                        out.tips.push(Tip {
                            kind: TipKind::RestrictedRecipient,
                            text: Texts::restricted(self.lang, who, reason),
                            data: TipData::Restricted {
                                reason,
                                recipient_external,
                                group_has_external_members: metrics
                                    .is_some_and(|m| is_group && m.external_members > 0),
                            },
                        });
                    }
                }
                Some(None) => {}
                None => {
                    // Cannot tell yet: the restriction and everything it would hide wait.
                    for k in self.active.iter() {
                        if k == TipKind::RestrictedRecipient || k.hidden_by_restriction() {
                            out.pend(k);
                        }
                    }
                    restricted = true;
                }
            }
        }
        let shows = |k: TipKind| self.on(k) && !(restricted && k.hidden_by_restriction());

        if shows(TipKind::MailboxFull) {
            if let Some(q) = &entry.quota {
                if q.enforced && q.usage_bytes >= q.prohibit_receive_bytes {
                    out.tips.push(Tip {
                        kind: TipKind::MailboxFull,
                        text: Texts::mailbox_full(self.lang, who),
                        data: TipData::MailboxFull {
                            quota_bytes: q.prohibit_receive_bytes,
                            usage_bytes: q.usage_bytes,
                        },
                    });
                }
            }
        }
        if shows(TipKind::MessageTooLarge) && self.draft.message_size > 0 {
            if let Some(limit) = entry.max_receive_bytes {
                if self.draft.message_size > limit {
                    out.tips.push(Tip {
                        kind: TipKind::MessageTooLarge,
                        text: Texts::too_large(self.lang, SizeLimitSource::Recipient, who, limit),
                        data: TipData::TooLarge {
                            source: SizeLimitSource::Recipient,
                            limit_bytes: limit,
                            message_bytes: self.draft.message_size,
                        },
                    });
                }
            }
        }
        if shows(TipKind::AutoReply) {
            if let Some(tip) = self.auto_reply(entry, who) {
                out.tips.push(tip);
            }
        }
        if shows(TipKind::ModeratedRecipient) {
            if let Some(m) = entry.moderation.as_ref().filter(|m| m.enabled) {
                let exempt = match (
                    self.sender.is_on(&m.moderators),
                    self.sender.is_on(&m.bypass),
                ) {
                    (Some(true), _) | (_, Some(true)) => Some(true),
                    (Some(false), Some(false)) => Some(false),
                    _ => None,
                };
                match exempt {
                    Some(false) => out.tips.push(Tip {
                        kind: TipKind::ModeratedRecipient,
                        text: Texts::moderated(self.lang, who),
                        data: TipData::Moderated {
                            moderators: m.moderator_addresses.clone(),
                        },
                    }),
                    Some(true) => {}
                    None => out.pend(TipKind::ModeratedRecipient),
                }
            }
        }
        if self.on(TipKind::LargeAudience) {
            match group_metrics {
                Some(Some(m)) if m.total_members > self.policy.large_audience_threshold => {
                    out.tips.push(Tip {
                        kind: TipKind::LargeAudience,
                        text: Texts::large_audience(self.lang, who, m.total_members),
                        data: TipData::LargeAudience {
                            members: m.total_members,
                            threshold: self.policy.large_audience_threshold,
                        },
                    });
                }
                Some(None) => out.pend(TipKind::LargeAudience),
                _ => {}
            }
        }
        if self.on(TipKind::ExternalRecipient) {
            if is_group {
                // Groups that live in a remote domain are not evaluated (SPEC section 3).
                if scope != Scope::RemoteInternal {
                    match group_metrics {
                        Some(Some(m)) if m.external_members > 0 => out.tips.push(Tip {
                            kind: TipKind::ExternalRecipient,
                            text: Texts::external_group(
                                self.lang,
                                who,
                                m.external_members,
                                m.total_members,
                            ),
                            data: TipData::External {
                                is_group: true,
                                external_members: m.external_members,
                                total_members: m.total_members,
                            },
                        }),
                        Some(None) => out.pend(TipKind::ExternalRecipient),
                        _ => {}
                    }
                }
            } else if recipient_external && scope != Scope::RemoteInternal {
                out.tips.push(self.external_address(who));
            }
        }
        if shows(TipKind::Custom) {
            if let Some(tip) = self.custom(entry) {
                out.tips.push(tip);
            }
        }
    }

    /// `Some(Some(reason))` restricted, `Some(None)` not restricted, `None` unknown now.
    fn restriction(&self, entry: &Entry) -> Option<Option<RestrictionReason>> {
        let r = &entry.restrictions;
        if r.require_authenticated && !self.sender_internal {
            return Some(Some(RestrictionReason::RequiresAuthenticatedSender));
        }
        if !r.reject_from.is_empty() {
            match self.sender.is_on(&r.reject_from) {
                Some(true) => return Some(Some(RestrictionReason::InRejectList)),
                Some(false) => {}
                None => return None,
            }
        }
        if !r.accept_only_from.is_empty() {
            return match self.sender.is_on(&r.accept_only_from) {
                Some(true) => Some(None),
                Some(false) => Some(Some(RestrictionReason::NotInAcceptList)),
                None => None,
            };
        }
        Some(None)
    }

    fn auto_reply(&self, entry: &Entry, who: &str) -> Option<Tip> {
        let ar = entry.auto_reply.as_ref().filter(|a| a.enabled)?;
        if ar.start.is_some_and(|s| self.now < s) || ar.end.is_some_and(|e| self.now >= e) {
            return None;
        }
        let (body, external_reply) = if self.sender_internal {
            (&ar.internal_message, false)
        } else {
            let sees_external = match ar.external_audience {
                ExternalAudience::None => false,
                ExternalAudience::Known => self
                    .sender
                    .entry
                    .as_ref()
                    .is_some_and(|s| s.kind == EntryKind::Contact),
                ExternalAudience::All => true,
            };
            if !sees_external {
                return None;
            }
            (&ar.external_message, true)
        };
        let plain = text::html_to_text(body);
        if plain.is_empty() {
            return None;
        }
        let (preview, _) = text::cut_chars(&plain, PREVIEW_CHARS);
        let (message, truncated) = text::cut_chars(&plain, MAX_TEXT_CHARS);
        Some(Tip {
            kind: TipKind::AutoReply,
            text: Texts::auto_reply(self.lang, who, preview),
            data: TipData::AutoReply {
                preview: preview.to_owned(),
                message: message.to_owned(),
                truncated,
                window_end: ar.end,
                external_reply,
            },
        })
    }

    fn custom(&self, entry: &Entry) -> Option<Tip> {
        let tip = entry.custom_tip.as_ref()?;
        let primary = self.draft.locale.primary.as_str();
        let (language, body) = match tip.translations.get(primary) {
            Some(t) if !primary.is_empty() => (primary, t),
            _ => ("", &tip.default),
        };
        let plain = text::html_to_text(body);
        if plain.is_empty() {
            return None;
        }
        Some(Tip {
            kind: TipKind::Custom,
            text: text::cut_chars(&plain, PREVIEW_CHARS).0.to_owned(),
            data: TipData::Custom {
                language: language.to_owned(),
            },
        })
    }

    fn draft_tips(&self) -> (Vec<Tip>, TipSet) {
        let mut tips = Vec::new();
        let mut pending = TipSet::EMPTY;
        if let Some(reply_all) = self
            .draft
            .reply_all
            .as_ref()
            .filter(|_| self.on(TipKind::ReplyAllOnBcc))
        {
            let own: &[crate::address::Address] = match &self.sender.entry {
                Some(e) => &e.addresses,
                None => std::slice::from_ref(&self.draft.sender),
            };
            let was_addressed = reply_all.original.iter().any(|o| own.contains(o));
            if was_addressed {
                // Addressed in To or Cc: a normal reply-all.
            } else if self.sender.lookup_failed {
                // The sender's proxy addresses are unknown: judging now could be wrong.
                pending.insert(TipKind::ReplyAllOnBcc);
            } else {
                tips.push(Tip {
                    kind: TipKind::ReplyAllOnBcc,
                    text: Texts::reply_all_on_bcc(self.lang),
                    data: TipData::ReplyAllOnBcc,
                });
            }
        }
        let size = self.draft.message_size;
        if self.on(TipKind::MessageTooLarge) && size > 0 {
            let sender_limit = self.sender.entry.as_ref().and_then(|e| e.max_send_bytes);
            let biting = [
                (SizeLimitSource::Sender, sender_limit),
                (SizeLimitSource::Organization, self.policy.max_message_bytes),
            ]
            .into_iter()
            .filter_map(|(s, l)| l.filter(|&l| size > l).map(|l| (s, l)))
            .min_by_key(|&(_, l)| l);
            match biting {
                Some((source, limit)) => tips.push(Tip {
                    kind: TipKind::MessageTooLarge,
                    text: Texts::too_large(self.lang, source, "", limit),
                    data: TipData::TooLarge {
                        source,
                        limit_bytes: limit,
                        message_bytes: size,
                    },
                }),
                None if self.sender.lookup_failed => pending.insert(TipKind::MessageTooLarge),
                None => {}
            }
        }
        (tips, pending)
    }
}
