//! The tip rules: pure functions from a validated draft and the directory facts resolved for
//! it to the tips a person sees. No I/O, no clock (the time is passed in), no async; this is
//! where every tip rule and its exceptions live.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::SystemTime;

use crate::domain::policy::Policy;
use crate::domain::text::{self, MAX_TEXT_CHARS, PREVIEW_CHARS, Texts};
use crate::domain::{
    Draft, Entry, EntryId, EntryKind, Evaluation, ExternalAudience, Fact, GroupMetrics,
    InvalidReason, Lang, Lookup, RecipientResult, RestrictionReason, Scope, SizeLimitSource, Tip,
    TipData, TipKind, TipSet,
};

/// The facts resolved for one recipient, in request order.
#[derive(Debug, Clone)]
pub struct RecipientFacts {
    pub resolution: Lookup,
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
    fn is_on(&self, list: &[EntryId]) -> Fact<bool> {
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
        address: Result<&crate::domain::address::Address, &crate::domain::address::AddressError>,
        facts: &RecipientFacts,
    ) -> RecipientResult {
        let mut out = Out {
            tips: Vec::new(),
            pending: TipSet::EMPTY,
        };
        let shown: &str = text::cut_chars(raw.trim(), crate::domain::address::MAX_ADDRESS_BYTES).0;
        let address = match address {
            Ok(a) => a,
            Err(e) => {
                if self.on(TipKind::InvalidInternalRecipient) {
                    out.tips.push(Tip {
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
            Lookup::Unknown => {
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
            Lookup::NotFound => match scope {
                Scope::Internal if self.on(TipKind::InvalidInternalRecipient) => {
                    out.tips.push(Tip {
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
            Lookup::Found(entry) => {
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
        // Metrics matter only for groups, and only when the organisation computes them; not
        // computed yet is unknown.
        let group_metrics = if is_group && self.policy.group_metrics {
            Some(Fact::from(metrics))
        } else {
            None
        };

        // Restriction first: when it shows, five other kinds are hidden for this recipient.
        let mut restricted = false;
        if self.policy.enabled.contains(TipKind::RestrictedRecipient) {
            match self.restriction(entry) {
                Fact::Known(Some(reason)) => {
                    restricted = true;
                    if self.on(TipKind::RestrictedRecipient) {
                        out.tips.push(Tip {
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
                Fact::Known(None) => {}
                Fact::Unknown => {
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

        if shows(TipKind::MailboxFull)
            && let Some(q) = &entry.quota
            && q.enforced
            && q.usage_bytes >= q.prohibit_receive_bytes
        {
            out.tips.push(Tip {
                text: Texts::mailbox_full(self.lang, who),
                data: TipData::MailboxFull {
                    quota_bytes: q.prohibit_receive_bytes,
                    usage_bytes: q.usage_bytes,
                },
            });
        }
        if shows(TipKind::MessageTooLarge)
            && self.draft.message_size > 0
            && let Some(limit) = entry.max_receive_bytes
            && self.draft.message_size > limit
        {
            out.tips.push(Tip {
                text: Texts::too_large(self.lang, SizeLimitSource::Recipient, who, limit),
                data: TipData::TooLarge {
                    source: SizeLimitSource::Recipient,
                    limit_bytes: limit,
                    message_bytes: self.draft.message_size,
                },
            });
        }
        if shows(TipKind::AutoReply)
            && let Some(tip) = self.auto_reply(entry, who)
        {
            out.tips.push(tip);
        }
        if shows(TipKind::ModeratedRecipient)
            && let Some(m) = entry.moderation.as_ref().filter(|m| m.enabled)
        {
            let exempt = self
                .sender
                .is_on(&m.moderators)
                .or(self.sender.is_on(&m.bypass));
            match exempt {
                Fact::Known(false) => out.tips.push(Tip {
                    text: Texts::moderated(self.lang, who),
                    data: TipData::Moderated {
                        moderators: m.moderator_addresses.clone(),
                    },
                }),
                Fact::Known(true) => {}
                Fact::Unknown => out.pend(TipKind::ModeratedRecipient),
            }
        }
        if self.on(TipKind::LargeAudience) {
            match group_metrics {
                Some(Fact::Known(m)) if m.total_members > self.policy.large_audience_threshold => {
                    out.tips.push(Tip {
                        text: Texts::large_audience(self.lang, who, m.total_members),
                        data: TipData::LargeAudience {
                            members: m.total_members,
                            threshold: self.policy.large_audience_threshold,
                        },
                    });
                }
                Some(Fact::Unknown) => out.pend(TipKind::LargeAudience),
                _ => {}
            }
        }
        if self.on(TipKind::ExternalRecipient) {
            if is_group {
                // A group in a remote domain marked internal gets no external-recipient tip,
                // whatever its members.
                if scope != Scope::RemoteInternal {
                    match group_metrics {
                        Some(Fact::Known(m)) if m.external_members > 0 => out.tips.push(Tip {
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
                        Some(Fact::Unknown) => out.pend(TipKind::ExternalRecipient),
                        _ => {}
                    }
                }
            } else if recipient_external && scope != Scope::RemoteInternal {
                out.tips.push(self.external_address(who));
            }
        }
        if shows(TipKind::Custom)
            && let Some(tip) = self.custom(entry)
        {
            out.tips.push(tip);
        }
    }

    /// Why `entry` refuses the sender, or `None` when it accepts the sender.
    fn restriction(&self, entry: &Entry) -> Fact<Option<RestrictionReason>> {
        let r = &entry.restrictions;
        if r.require_authenticated && !self.sender_internal {
            return Fact::Known(Some(RestrictionReason::RequiresAuthenticatedSender));
        }
        if !r.reject_from.is_empty() {
            match self.sender.is_on(&r.reject_from) {
                Fact::Known(true) => return Fact::Known(Some(RestrictionReason::InRejectList)),
                Fact::Known(false) => {}
                Fact::Unknown => return Fact::Unknown,
            }
        }
        if !r.accept_only_from.is_empty() {
            return self
                .sender
                .is_on(&r.accept_only_from)
                .map(|accepted| (!accepted).then_some(RestrictionReason::NotInAcceptList));
        }
        Fact::Known(None)
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
        let (preview, more) = text::cut_chars(&plain, PREVIEW_CHARS);
        let (message, truncated) = text::cut_chars(&plain, MAX_TEXT_CHARS);
        Some(Tip {
            text: Texts::auto_reply(self.lang, who, preview, more),
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
            let own: &[crate::domain::address::Address] = match &self.sender.entry {
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use super::*;
    use crate::domain::address::{Address, AddressRules};
    use crate::domain::policy::{DomainRule, RemoteDomain};
    use crate::domain::{
        AutoReply, CustomTip, DraftRecipient, Locale, Moderation, Quota, ReplyAll, Restrictions,
    };

    const T0: u64 = 1_800_000_000;

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(T0)
    }

    fn policy() -> Policy {
        Policy {
            enabled: TipSet::ALL,
            large_audience_threshold: 25,
            per_mailbox_cap: 200,
            max_message_bytes: Some(25_000_000),
            refresh_interval: Duration::from_secs(2 * 3600),
            group_metrics: true,
            addresses: AddressRules::default(),
            internal_domains: vec![DomainRule {
                domain: "contoso.com".into(),
                include_subdomains: true,
            }],
            remote_domains: vec![RemoteDomain {
                domain: "fabrikam.com".into(),
                include_subdomains: false,
                internal: true,
            }],
        }
    }

    fn addr(s: &str) -> Address {
        Address::parse(s).unwrap()
    }

    fn entry(a: &str, kind: EntryKind) -> Entry {
        let mut e = Entry::new(a, kind, addr(a));
        e.display_name = a.split('@').next().unwrap().to_owned();
        e
    }

    fn draft(sender: &str, recipients: &[&str]) -> Draft {
        Draft {
            sender: addr(sender),
            recipients: recipients
                .iter()
                .map(|r| DraftRecipient {
                    raw: (*r).to_owned(),
                    address: Address::parse(r),
                })
                .collect(),
            message_size: 0,
            reply_all: None,
            wanted: TipSet::ALL,
            locale: Locale::default(),
        }
    }

    fn found(e: Entry) -> RecipientFacts {
        RecipientFacts {
            resolution: Lookup::Found(Arc::new(e)),
            metrics: None,
        }
    }

    fn group(e: Entry, total: u32, external: u32) -> RecipientFacts {
        RecipientFacts {
            resolution: Lookup::Found(Arc::new(e)),
            metrics: Some(GroupMetrics {
                total_members: total,
                external_members: external,
            }),
        }
    }

    fn not_found() -> RecipientFacts {
        RecipientFacts {
            resolution: Lookup::NotFound,
            metrics: None,
        }
    }

    fn sender_entry(a: &str) -> SenderFacts {
        SenderFacts {
            entry: Some(Arc::new(entry(a, EntryKind::Mailbox))),
            lookup_failed: false,
            groups: Some(Arc::default()),
        }
    }

    fn eval1(d: &Draft, s: &SenderFacts, f: RecipientFacts) -> RecipientResult {
        evaluate(&policy(), d, s, &[f], now()).recipients.remove(0)
    }

    fn kinds(r: &RecipientResult) -> Vec<TipKind> {
        r.tips.iter().map(|t| t.kind()).collect()
    }

    const ME: &str = "me@contoso.com";

    #[test]
    fn invalid_only_for_internal_domains() {
        let s = sender_entry(ME);
        let d = draft(
            ME,
            &[
                "gone@contoso.com",
                "x@sub.contoso.com",
                "y@gmail.example",
                "z@fabrikam.com",
            ],
        );
        let e = evaluate(
            &policy(),
            &d,
            &s,
            &[not_found(), not_found(), not_found(), not_found()],
            now(),
        );
        assert_eq!(kinds(&e.recipients[0]), [TipKind::InvalidInternalRecipient]);
        assert_eq!(kinds(&e.recipients[1]), [TipKind::InvalidInternalRecipient]);
        assert_eq!(kinds(&e.recipients[2]), [TipKind::ExternalRecipient]);
        assert_eq!(e.recipients[2].scope, Scope::External);
        // A remote domain marked internal is neither checked for existence nor external.
        assert!(e.recipients[3].tips.is_empty());
        assert_eq!(e.recipients[3].scope, Scope::RemoteInternal);
    }

    #[test]
    fn malformed_address_gets_its_own_tip() {
        let d = draft(ME, &["not an address", "ok@contoso.com"]);
        let e = evaluate(
            &policy(),
            &d,
            &sender_entry(ME),
            &[
                not_found(),
                found(entry("ok@contoso.com", EntryKind::Mailbox)),
            ],
            now(),
        );
        let t = &e.recipients[0].tips[0];
        assert_eq!(t.kind(), TipKind::InvalidInternalRecipient);
        assert!(matches!(
            &t.data,
            TipData::Invalid {
                reason: InvalidReason::Malformed(_),
                ..
            }
        ));
        assert_eq!(e.recipients[0].scope, Scope::Unknown);
        assert!(e.recipients[1].tips.is_empty());
    }

    #[test]
    fn mailbox_full_only_when_enforced_and_reached() {
        let d = draft(ME, &["a@contoso.com"]);
        let mut e = entry("a@contoso.com", EntryKind::Mailbox);
        e.quota = Some(Quota {
            prohibit_receive_bytes: 100,
            usage_bytes: 100,
            enforced: true,
        });
        let r = eval1(&d, &sender_entry(ME), found(e.clone()));
        assert_eq!(
            r.tips[0].data,
            TipData::MailboxFull {
                quota_bytes: 100,
                usage_bytes: 100
            }
        );
        e.quota = Some(Quota {
            prohibit_receive_bytes: 100,
            usage_bytes: 99,
            enforced: true,
        });
        assert!(
            eval1(&d, &sender_entry(ME), found(e.clone()))
                .tips
                .is_empty()
        );
        e.quota = Some(Quota {
            prohibit_receive_bytes: 100,
            usage_bytes: 500,
            enforced: false,
        });
        assert!(eval1(&d, &sender_entry(ME), found(e)).tips.is_empty());
    }

    fn away(internal: &str, external: &str, audience: ExternalAudience) -> Entry {
        let mut e = entry("away@contoso.com", EntryKind::Mailbox);
        e.auto_reply = Some(AutoReply {
            enabled: true,
            internal_message: internal.into(),
            external_message: external.into(),
            external_audience: audience,
            start: None,
            end: None,
        });
        e
    }

    fn auto_data(r: &RecipientResult) -> Option<(String, String, bool, bool)> {
        r.tips.iter().find_map(|t| match &t.data {
            TipData::AutoReply {
                preview,
                message,
                truncated,
                external_reply,
                ..
            } => Some((
                preview.clone(),
                message.clone(),
                *truncated,
                *external_reply,
            )),
            _ => None,
        })
    }

    #[test]
    fn auto_reply_internal_vs_external_text() {
        let e = away("inside", "outside", ExternalAudience::All);
        let internal = eval1(
            &draft(ME, &["away@contoso.com"]),
            &sender_entry(ME),
            found(e.clone()),
        );
        assert_eq!(auto_data(&internal).unwrap().0, "inside");
        // A remote domain marked internal counts as internal.
        let remote = eval1(
            &draft("p@fabrikam.com", &["away@contoso.com"]),
            &SenderFacts::default(),
            found(e.clone()),
        );
        assert_eq!(auto_data(&remote).unwrap().0, "inside");
        let external = eval1(
            &draft("x@gmail.example", &["away@contoso.com"]),
            &SenderFacts::default(),
            found(e),
        );
        let (preview, _, _, ext) = auto_data(&external).unwrap();
        assert_eq!((preview.as_str(), ext), ("outside", true));
        // Replies only internally: an external sender sees nothing.
        let e = away("inside", "outside", ExternalAudience::None);
        let none = eval1(
            &draft("x@gmail.example", &["away@contoso.com"]),
            &SenderFacts::default(),
            found(e.clone()),
        );
        assert!(none.tips.is_empty());
        // Known senders only: a contact sees it, an unknown external sender does not.
        let e = away("inside", "outside", ExternalAudience::Known);
        let unknown = eval1(
            &draft("x@gmail.example", &["away@contoso.com"]),
            &SenderFacts::default(),
            found(e.clone()),
        );
        assert!(unknown.tips.is_empty());
        let contact = SenderFacts {
            entry: Some(Arc::new(entry("x@gmail.example", EntryKind::Contact))),
            ..Default::default()
        };
        let known = eval1(
            &draft("x@gmail.example", &["away@contoso.com"]),
            &contact,
            found(e),
        );
        assert_eq!(auto_data(&known).unwrap().0, "outside");
    }

    #[test]
    fn auto_reply_cut_in_characters_after_html_to_text() {
        let body = format!("<p>{}</p>", "日本".repeat(600));
        let r = eval1(
            &draft(ME, &["away@contoso.com"]),
            &sender_entry(ME),
            found(away(&body, "", ExternalAudience::None)),
        );
        let (preview, message, truncated, _) = auto_data(&r).unwrap();
        assert_eq!(preview.chars().count(), 175);
        assert_eq!(message.chars().count(), 1000);
        assert!(truncated);
        assert!(!message.contains('<'));
        assert!(r.tips.iter().all(|t| t.text.chars().count() <= 1000));
        let short = eval1(
            &draft(ME, &["away@contoso.com"]),
            &sender_entry(ME),
            found(away("<b>back</b> soon", "", ExternalAudience::None)),
        );
        assert_eq!(
            auto_data(&short).unwrap(),
            ("back soon".into(), "back soon".into(), false, false)
        );
    }

    #[test]
    fn auto_reply_respects_its_window() {
        let mut e = away("inside", "", ExternalAudience::None);
        let d = draft(ME, &["away@contoso.com"]);
        let ar = e.auto_reply.as_mut().unwrap();
        ar.start = Some(now() + Duration::from_secs(60));
        assert!(
            eval1(&d, &sender_entry(ME), found(e.clone()))
                .tips
                .is_empty()
        );
        let ar = e.auto_reply.as_mut().unwrap();
        ar.start = Some(now() - Duration::from_secs(60));
        ar.end = Some(now() + Duration::from_secs(60));
        let r = eval1(&d, &sender_entry(ME), found(e.clone()));
        assert!(matches!(
            r.tips[0].data,
            TipData::AutoReply {
                window_end: Some(_),
                ..
            }
        ));
        e.auto_reply.as_mut().unwrap().end = Some(now());
        assert!(eval1(&d, &sender_entry(ME), found(e)).tips.is_empty());
    }

    #[test]
    fn custom_tip_translation_and_cut() {
        let mut e = entry("help@contoso.com", EntryKind::Mailbox);
        e.custom_tip = Some(CustomTip {
            default: "x".repeat(300),
            translations: HashMap::from([("ja".to_owned(), "日本語のヒント".to_owned())]),
        });
        let mut d = draft(ME, &["help@contoso.com"]);
        let r = eval1(&d, &sender_entry(ME), found(e.clone()));
        assert_eq!(r.tips[0].text.chars().count(), 175);
        d.locale = Locale::parse("ja-JP").unwrap();
        let r = eval1(&d, &sender_entry(ME), found(e.clone()));
        assert_eq!(r.tips[0].text, "日本語のヒント");
        assert_eq!(
            r.tips[0].data,
            TipData::Custom {
                language: "ja".into()
            }
        );
        d.locale = Locale::parse("fr").unwrap();
        assert_eq!(
            eval1(&d, &sender_entry(ME), found(e)).tips[0].text.len(),
            175
        );
    }

    fn restricted_box() -> Entry {
        let mut e = entry("boss@contoso.com", EntryKind::Mailbox);
        e.restrictions = Restrictions {
            accept_only_from: vec![Arc::from("vips@contoso.com")],
            ..Default::default()
        };
        e.quota = Some(Quota {
            prohibit_receive_bytes: 1,
            usage_bytes: 1,
            enforced: true,
        });
        e.custom_tip = Some(CustomTip {
            default: "hi".into(),
            ..Default::default()
        });
        e.max_receive_bytes = Some(10);
        e.moderation = Some(Moderation {
            enabled: true,
            ..Default::default()
        });
        e.auto_reply = away("x", "", ExternalAudience::None).auto_reply;
        e
    }

    #[test]
    fn restriction_hides_five_kinds() {
        let mut d = draft(ME, &["boss@contoso.com"]);
        d.message_size = 100;
        let r = eval1(&d, &sender_entry(ME), found(restricted_box()));
        assert_eq!(kinds(&r), [TipKind::RestrictedRecipient]);
        assert!(matches!(
            r.tips[0].data,
            TipData::Restricted {
                reason: RestrictionReason::NotInAcceptList,
                ..
            }
        ));
        // Through a nested group the sender is accepted, and the other tips come back.
        let mut s = sender_entry(ME);
        s.groups = Some(Arc::new(HashSet::from([Arc::from("vips@contoso.com")])));
        let r = eval1(&d, &s, found(restricted_box()));
        assert_eq!(
            kinds(&r),
            [
                TipKind::MailboxFull,
                TipKind::MessageTooLarge,
                TipKind::AutoReply,
                TipKind::ModeratedRecipient,
                TipKind::Custom
            ]
        );
    }

    #[test]
    fn reject_list_and_authenticated_senders() {
        let mut e = entry("g@contoso.com", EntryKind::Group);
        e.restrictions.reject_from = vec![Arc::from(ME)];
        let r = eval1(
            &draft(ME, &["g@contoso.com"]),
            &sender_entry(ME),
            group(e, 3, 1),
        );
        assert!(matches!(
            r.tips[0].data,
            TipData::Restricted {
                reason: RestrictionReason::InRejectList,
                group_has_external_members: true,
                ..
            }
        ));
        let mut e = entry("g@contoso.com", EntryKind::Group);
        e.restrictions.require_authenticated = true;
        let inside = eval1(
            &draft(ME, &["g@contoso.com"]),
            &sender_entry(ME),
            group(e.clone(), 3, 0),
        );
        assert!(inside.tips.is_empty());
        let outside = eval1(
            &draft("x@gmail.example", &["g@contoso.com"]),
            &SenderFacts::default(),
            group(e.clone(), 3, 0),
        );
        assert!(matches!(
            outside.tips[0].data,
            TipData::Restricted {
                reason: RestrictionReason::RequiresAuthenticatedSender,
                ..
            }
        ));
        let remote = eval1(
            &draft("p@fabrikam.com", &["g@contoso.com"]),
            &SenderFacts::default(),
            group(e, 3, 0),
        );
        assert!(remote.tips.is_empty());
    }

    #[test]
    fn unknown_membership_makes_restriction_pending() {
        let mut s = sender_entry(ME);
        s.groups = None;
        let r = eval1(
            &draft(ME, &["boss@contoso.com"]),
            &s,
            found(restricted_box()),
        );
        assert!(r.tips.is_empty());
        assert!(r.pending.contains(TipKind::RestrictedRecipient));
        assert!(r.pending.contains(TipKind::Custom));
    }

    #[test]
    fn moderation_exempts_moderators_and_bypass() {
        let mut e = entry("news@contoso.com", EntryKind::Group);
        e.moderation = Some(Moderation {
            enabled: true,
            moderators: vec![Arc::from("mod@contoso.com")],
            moderator_addresses: vec!["mod@contoso.com".into()],
            bypass: vec![Arc::from("trusted@contoso.com")],
        });
        let d = draft(ME, &["news@contoso.com"]);
        let r = eval1(&d, &sender_entry(ME), group(e.clone(), 3, 0));
        assert_eq!(
            r.tips[0].data,
            TipData::Moderated {
                moderators: vec!["mod@contoso.com".into()]
            }
        );
        assert!(
            eval1(
                &draft("mod@contoso.com", &["news@contoso.com"]),
                &sender_entry("mod@contoso.com"),
                group(e.clone(), 3, 0)
            )
            .tips
            .is_empty()
        );
        let mut s = sender_entry(ME);
        s.groups = Some(Arc::new(HashSet::from([Arc::from("trusted@contoso.com")])));
        assert!(eval1(&d, &s, group(e, 3, 0)).tips.is_empty());
    }

    #[test]
    fn large_audience_and_group_externals_from_metrics() {
        let g = entry("all@contoso.com", EntryKind::Group);
        let d = draft(ME, &["all@contoso.com"]);
        let r = eval1(&d, &sender_entry(ME), group(g.clone(), 26, 2));
        assert_eq!(
            kinds(&r),
            [TipKind::LargeAudience, TipKind::ExternalRecipient]
        );
        assert_eq!(
            r.tips[1].data,
            TipData::External {
                is_group: true,
                external_members: 2,
                total_members: 26
            }
        );
        assert!(
            eval1(&d, &sender_entry(ME), group(g.clone(), 25, 0))
                .tips
                .is_empty()
        );
        // No metrics yet: no tip, and the client is told it is pending.
        let r = eval1(&d, &sender_entry(ME), found(g));
        assert!(r.tips.is_empty());
        assert!(
            r.pending.contains(TipKind::LargeAudience)
                && r.pending.contains(TipKind::ExternalRecipient)
        );
        // A group living in a remote domain is not evaluated for externals.
        let remote = entry("team@fabrikam.com", EntryKind::Group);
        let r = eval1(
            &draft(ME, &["team@fabrikam.com"]),
            &sender_entry(ME),
            group(remote, 5, 5),
        );
        assert!(r.tips.is_empty());
    }

    #[test]
    fn contacts_are_external() {
        let c = entry("j@partner.example", EntryKind::Contact);
        let r = eval1(
            &draft(ME, &["j@partner.example"]),
            &sender_entry(ME),
            found(c),
        );
        assert_eq!(kinds(&r), [TipKind::ExternalRecipient]);
        assert_eq!(r.resolved, Some(EntryKind::Contact));
    }

    #[test]
    fn over_the_cap_skips_mailbox_sourced_tips() {
        let addrs: Vec<String> = (0..201).map(|i| format!("u{i}@contoso.com")).collect();
        let refs: Vec<&str> = addrs.iter().map(String::as_str).collect();
        let d = draft(ME, &refs);
        let mut full = away("x", "", ExternalAudience::None);
        full.quota = Some(Quota {
            prohibit_receive_bytes: 1,
            usage_bytes: 1,
            enforced: true,
        });
        full.custom_tip = Some(CustomTip {
            default: "still shown".into(),
            ..Default::default()
        });
        let facts: Vec<RecipientFacts> = (0..201).map(|_| found(full.clone())).collect();
        let e = evaluate(&policy(), &d, &sender_entry(ME), &facts, now());
        assert_eq!(
            e.skipped.iter().collect::<Vec<_>>(),
            [TipKind::MailboxFull, TipKind::AutoReply]
        );
        assert_eq!(kinds(&e.recipients[0]), [TipKind::Custom]);
        let e = evaluate(
            &policy(),
            &draft(ME, &refs[..200]),
            &sender_entry(ME),
            &facts[..200],
            now(),
        );
        assert!(e.skipped.is_empty());
        assert_eq!(
            kinds(&e.recipients[0]),
            [TipKind::MailboxFull, TipKind::AutoReply, TipKind::Custom]
        );
    }

    #[test]
    fn reply_all_on_bcc_uses_every_proxy_address() {
        let mut me = entry(ME, EntryKind::Mailbox);
        me.addresses.push(addr("alias@contoso.com"));
        let s = SenderFacts {
            entry: Some(Arc::new(me)),
            lookup_failed: false,
            groups: None,
        };
        let mut d = draft(ME, &[]);
        d.reply_all = Some(ReplyAll {
            original: vec![addr("other@contoso.com")],
        });
        let e = evaluate(&policy(), &d, &s, &[], now());
        assert_eq!(e.draft_tips[0].kind(), TipKind::ReplyAllOnBcc);
        d.reply_all = Some(ReplyAll {
            original: vec![addr("other@contoso.com"), addr("ALIAS@contoso.com")],
        });
        assert!(
            evaluate(&policy(), &d, &s, &[], now())
                .draft_tips
                .is_empty()
        );
        d.reply_all = None;
        assert!(
            evaluate(&policy(), &d, &s, &[], now())
                .draft_tips
                .is_empty()
        );
    }

    #[test]
    fn three_size_limits() {
        let mut me = entry(ME, EntryKind::Mailbox);
        me.max_send_bytes = Some(20_000_000);
        let s = SenderFacts {
            entry: Some(Arc::new(me)),
            lookup_failed: false,
            groups: None,
        };
        let mut small = entry("small@contoso.com", EntryKind::Mailbox);
        small.max_receive_bytes = Some(5_000_000);
        let mut d = draft(ME, &["small@contoso.com"]);
        d.message_size = 30_000_000;
        let e = evaluate(&policy(), &d, &s, &[found(small.clone())], now());
        // The sender's 20 MB bites before the organisation's 25 MB.
        assert_eq!(
            e.draft_tips[0].data,
            TipData::TooLarge {
                source: SizeLimitSource::Sender,
                limit_bytes: 20_000_000,
                message_bytes: 30_000_000
            }
        );
        assert_eq!(
            e.recipients[0].tips[0].data,
            TipData::TooLarge {
                source: SizeLimitSource::Recipient,
                limit_bytes: 5_000_000,
                message_bytes: 30_000_000
            }
        );
        let e = evaluate(
            &policy(),
            &d,
            &SenderFacts::default(),
            &[found(small.clone())],
            now(),
        );
        assert!(matches!(
            e.draft_tips[0].data,
            TipData::TooLarge {
                source: SizeLimitSource::Organization,
                ..
            }
        ));
        d.message_size = 4_000_000;
        let e = evaluate(&policy(), &d, &s, &[found(small.clone())], now());
        assert!(e.draft_tips.is_empty() && e.recipients[0].tips.is_empty());
        d.message_size = 0;
        assert!(
            evaluate(&policy(), &d, &s, &[found(small)], now()).recipients[0]
                .tips
                .is_empty()
        );
    }

    #[test]
    fn switches_and_requested_kinds() {
        let mut p = policy();
        p.enabled.remove(TipKind::InvalidInternalRecipient);
        let d = draft(ME, &["gone@contoso.com"]);
        assert!(
            evaluate(&p, &d, &sender_entry(ME), &[not_found()], now()).recipients[0]
                .tips
                .is_empty()
        );
        let mut d = draft(ME, &["gone@contoso.com", "x@gmail.example"]);
        d.wanted = [TipKind::ExternalRecipient].into_iter().collect();
        let e = evaluate(
            &policy(),
            &d,
            &sender_entry(ME),
            &[not_found(), not_found()],
            now(),
        );
        assert!(e.recipients[0].tips.is_empty());
        assert_eq!(kinds(&e.recipients[1]), [TipKind::ExternalRecipient]);
    }

    #[test]
    fn directory_down_marks_pending_and_keeps_what_the_address_tells() {
        let s = SenderFacts {
            entry: None,
            lookup_failed: true,
            groups: None,
        };
        let mut d = draft(ME, &["a@contoso.com", "x@gmail.example"]);
        d.reply_all = Some(ReplyAll::default());
        let down = RecipientFacts {
            resolution: Lookup::Unknown,
            metrics: None,
        };
        let e = evaluate(&policy(), &d, &s, &[down.clone(), down], now());
        assert!(e.recipients[0].tips.is_empty());
        assert!(
            e.recipients[0]
                .pending
                .contains(TipKind::InvalidInternalRecipient)
        );
        assert!(e.recipients[0].pending.contains(TipKind::AutoReply));
        assert_eq!(kinds(&e.recipients[1]), [TipKind::ExternalRecipient]);
        assert!(
            !e.recipients[1]
                .pending
                .contains(TipKind::InvalidInternalRecipient)
        );
        assert!(e.draft_pending.contains(TipKind::ReplyAllOnBcc));
    }

    #[test]
    fn japanese_texts() {
        let mut d = draft(ME, &["gone@contoso.com"]);
        d.locale = Locale::parse("ja").unwrap();
        let r = eval1(&d, &sender_entry(ME), not_found());
        assert!(
            r.tips[0].text.contains("見つかりません"),
            "{}",
            r.tips[0].text
        );
    }

    #[test]
    fn refresh_after_is_one_interval_later() {
        let e = evaluate(&policy(), &draft(ME, &[]), &sender_entry(ME), &[], now());
        assert_eq!(
            e.refresh_after.duration_since(e.evaluated_at).unwrap(),
            Duration::from_secs(7200)
        );
    }
}
