//! The tip rules: pure functions from a validated draft and the directory facts resolved for
//! it to the tips a person sees. No I/O, no clock (the time is passed in), no async; this is
//! where every tip rule and its exceptions live.
//!
//! This file holds the entry point [`evaluate`], the context every rule reads, and the flow for
//! one recipient: a malformed address, an address the directory could not answer for now, an
//! address it does not know, and a directory object it found. Each tip kind has one small rule
//! in the file for its subject:
//!
//! - `restriction`: restricted recipient, which hides six kinds for the same recipient.
//! - `mailbox`: mailbox full and automatic replies, read from the recipient's mailbox.
//! - `size`: message too large, for one recipient and for the whole draft.
//! - `moderation`: moderated recipient.
//! - `audience`: large audience and external recipient.
//! - `custom`: the administrator's custom tip.
//! - `reply_all`: reply-all when the sender had the original on Bcc.
//! - `whole_audience`: how many people the whole draft reaches (draft-level).
//! - `visible`: To and Cc that every recipient sees (draft-level).
//! - `read_receipt`: who will never send the receipt the draft asks for (draft-level).
//! - `on_behalf`: a send-from address recipients may see as "on behalf of" (draft-level).
//! - `forwarding`: a mailbox that forwards its mail outside the organisation.
//! - `facts`: what the rules read about the recipients and the sender.
//! - `places`: each recipient's place among the draft's distinct addresses, which the
//!   draft-level rules count by.

mod audience;
mod custom;
mod facts;
#[cfg(test)]
pub(crate) mod fixtures;
mod forwarding;
mod mailbox;
mod moderation;
mod on_behalf;
mod places;
mod read_receipt;
mod reply_all;
mod restriction;
mod size;
mod visible;
mod whole_audience;

use std::time::SystemTime;

use compact_str::CompactString;

use facts::Found;
pub use facts::{RecipientFacts, SenderFacts};
pub use places::{Numbering, places};

/// The sets the draft-level rules count distinct recipients with: foldhash (seeded per
/// process) instead of SipHash, as these are rebuilt for every draft.
type FastSet<T> = std::collections::HashSet<T, foldhash::fast::RandomState>;

use crate::domain::policy::Policy;
use crate::domain::text::Texts;
use crate::domain::{
    Draft, DraftRecipient, Entry, Evaluation, Fact, InvalidReason, Lang, Lookup, RecipientResult,
    RestrictionReason, Scope, Tip, TipData, TipKind, TipSet, Tips,
};

/// Evaluates every tip for `draft` at time `now`.
///
/// `recipients` holds one [`RecipientFacts`] per draft recipient, in the same order.
pub fn evaluate(
    policy: &Policy,
    draft: &Draft,
    sender: &SenderFacts,
    recipients: &[RecipientFacts<'_>],
    now: SystemTime,
) -> Evaluation {
    evaluate_placed(policy, draft, sender, recipients, &places(draft), now)
}

/// [`evaluate`], with each recipient's place among the draft's distinct addresses given, as
/// [`places`] tells them (any numbering will do that is the same for two recipients exactly
/// when their addresses are equal): the service has them from its lookup batch already. The
/// draft-level rules count distinct addresses by place, without a set of their own.
pub fn evaluate_placed(
    policy: &Policy,
    draft: &Draft,
    sender: &SenderFacts,
    recipients: &[RecipientFacts<'_>],
    places: &[Option<usize>],
    now: SystemTime,
) -> Evaluation {
    debug_assert_eq!(draft.recipients.len(), recipients.len());
    debug_assert_eq!(draft.recipients.len(), places.len());
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
    // Each recipient's scope, told once for its own rules and the draft-level ones.
    let scopes: Vec<Scope> = draft
        .recipients
        .iter()
        .map(|r| {
            r.address()
                .map_or(Scope::Unknown, |a| policy.scope_of(a.domain()))
        })
        .collect();
    let ctx = Ctx {
        policy,
        draft,
        recipients,
        places,
        scopes: &scopes,
        distinct: places.iter().flatten().max().map_or(0, |p| p + 1),
        sender,
        sender_internal: policy.scope_of(draft.sender.domain()).is_internal(),
        active,
        lang: draft.locale.lang,
        now,
    };
    // Each result is written where it stays, in the vector: built apart and moved in, its
    // tip (some hundred bytes) was copied twice.
    let mut results = Vec::with_capacity(draft.recipients.len());
    for (i, (r, facts)) in draft.recipients.iter().zip(recipients).enumerate() {
        // The lookup asked for every entry at once; by now they have left the nearest
        // cache. Asking again a few recipients ahead has each back by its turn.
        if let Some(Lookup::Found(ahead)) = recipients.get(i + AHEAD).map(|f| &*f.resolution) {
            Entry::prefetch(ahead);
        }
        results.push(RecipientResult {
            scope: Scope::Unknown,
            resolved: None,
            display_name: CompactString::default(),
            tips: Tips::new(),
            pending: TipSet::EMPTY,
        });
        if let Some(result) = results.last_mut() {
            ctx.recipient(r, facts, scopes[i], result);
        }
    }
    let (draft_tips, draft_pending) = ctx.draft_tips();
    Evaluation {
        recipients: results,
        draft_tips: draft_tips.into_vec(),
        draft_pending,
        skipped,
        evaluated_at: now,
        refresh_after: now + policy.refresh_interval,
    }
}

/// How many recipients ahead [`evaluate_placed`] asks for an entry.
const AHEAD: usize = 4;

/// What every rule reads: the organisation, the draft, the sender and the kinds to evaluate.
struct Ctx<'a> {
    policy: &'a Policy,
    draft: &'a Draft,
    /// The facts of every draft recipient, in request order.
    recipients: &'a [RecipientFacts<'a>],
    /// Every draft recipient's place among its distinct addresses (see [`evaluate_placed`]).
    places: &'a [Option<usize>],
    /// Every draft recipient's scope, in request order ([`Scope::Unknown`] for a malformed
    /// address).
    scopes: &'a [Scope],
    /// One more than the highest place.
    distinct: usize,
    sender: &'a SenderFacts,
    /// Whether the sender's domain is internal (accepted, or remote and marked internal).
    sender_internal: bool,
    /// The kinds asked for, shown by the organisation and not skipped over the cap.
    active: TipSet,
    lang: Lang,
    now: SystemTime,
}

/// The rule for one draft-level tip kind: the tip, no tip, or unknown (the kind is pending)
/// when a fact it needs is not known yet. The rules about a recipient answer alike.
type DraftRule<'a> = fn(&Ctx<'a>) -> Fact<Option<Tip>>;

/// Collects tips in display order and the kinds pending, into a recipient's result or the
/// draft's own.
struct Out<'o> {
    /// The first tip inline: most recipients have one at most, and a draft's recipients
    /// then cost no allocation each for their tips.
    tips: &'o mut Tips,
    pending: &'o mut TipSet,
}

impl Out<'_> {
    fn push(&mut self, tip: Tip) {
        self.tips.push(tip);
    }

    fn pend(&mut self, k: TipKind) {
        self.pending.insert(k);
    }

    /// Records a rule's answer for `kind`: its tip, nothing, or `kind` pending.
    #[inline]
    fn add(&mut self, kind: TipKind, answer: Fact<Option<Tip>>) {
        match answer {
            Fact::Known(Some(tip)) => {
                debug_assert_eq!(tip.kind(), kind);
                self.push(tip);
            }
            Fact::Known(None) => {}
            Fact::Unknown => self.pend(kind),
        }
    }
}

impl Ctx<'_> {
    /// Whether `k` is evaluated for this draft.
    fn on(&self, k: TipKind) -> bool {
        self.active.contains(k)
    }

    /// One recipient's tips, in display order, and its pending kinds, into `result` (blank:
    /// unknown scope, nothing resolved, no tips).
    fn recipient(
        &self,
        given: &DraftRecipient,
        facts: &RecipientFacts<'_>,
        scope: Scope,
        result: &mut RecipientResult,
    ) {
        let mut out = Out {
            tips: &mut result.tips,
            pending: &mut result.pending,
        };
        // The address as given, for texts and data.
        let shown: &str = given.shown();
        let address = match given.address() {
            Ok(a) => a,
            Err(e) => {
                if self.on(TipKind::InvalidInternalRecipient) {
                    out.push(self.invalid(given, InvalidReason::Malformed(e.clone())));
                }
                return;
            }
        };
        result.scope = scope;
        match &*facts.resolution {
            Lookup::Unknown => self.unknown_tips(scope, shown, &mut out),
            Lookup::NotFound => self.not_found_tips(given, scope, &mut out),
            // Found only by a send-from address: the object never receives there.
            Lookup::Found(entry) if entry.only_sends_from(address) => {
                self.not_found_tips(given, scope, &mut out);
            }
            Lookup::Found(entry) => {
                result.resolved = Some(entry.kind);
                result.display_name.clone_from(&entry.display_name);
                let found = Found {
                    entry,
                    scope,
                    shown,
                    metrics: facts.metrics,
                };
                self.found_tips(&found, &mut out);
            }
        }
    }

    /// The directory could not answer for the address now: only what the address alone tells
    /// is known, and every kind that needs the directory is pending.
    fn unknown_tips(&self, scope: Scope, shown: &str, out: &mut Out<'_>) {
        if scope == Scope::External && self.on(TipKind::ExternalRecipient) {
            out.push(self.external_address(shown));
        }
        for k in self.active.iter() {
            let needs_directory = match k {
                TipKind::ReplyAllOnBcc
                | TipKind::WholeAudience
                | TipKind::RecipientsVisible
                | TipKind::ReadReceipt
                | TipKind::SentOnBehalf => false,
                TipKind::ExternalRecipient => scope != Scope::External,
                TipKind::InvalidInternalRecipient => scope == Scope::Internal,
                _ => true,
            };
            if needs_directory {
                out.pend(k);
            }
        }
    }

    /// No directory object has the address: invalid in an internal domain, external in an
    /// external one.
    fn not_found_tips(&self, given: &DraftRecipient, scope: Scope, out: &mut Out<'_>) {
        match scope {
            Scope::Internal if self.on(TipKind::InvalidInternalRecipient) => {
                out.push(self.invalid(given, InvalidReason::NotFound));
            }
            Scope::External if self.on(TipKind::ExternalRecipient) => {
                out.push(self.external_address(given.shown()));
            }
            _ => {}
        }
    }

    /// Invalid internal recipient: a malformed address, or an internal one no directory object
    /// has. The tip's data shares the address as shown with the address `given`.
    fn invalid(&self, given: &DraftRecipient, reason: InvalidReason) -> Tip {
        let malformed = matches!(reason, InvalidReason::Malformed(_));
        let shown = given.shown();
        Tip {
            text: Texts::invalid(self.lang, shown, malformed),
            data: TipData::Invalid {
                address: given.raw_part(shown),
                reason,
            },
        }
    }

    /// The tips of a recipient the directory found, in display order.
    fn found_tips(&self, r: &Found<'_>, out: &mut Out<'_>) {
        // Restriction first. A recipient that refuses the sender shows none of the kinds a
        // restriction hides; while that cannot be told, they are pending with it.
        let restriction = self.restriction(r.entry);
        if self.on(TipKind::RestrictedRecipient) {
            let tip = restriction.map(|reason| reason.map(|reason| self.restricted(r, reason)));
            out.add(TipKind::RestrictedRecipient, tip);
        }
        // In display order. Called directly, not through a table of function pointers, so
        // that each rule can be inlined and its answer need not be returned through memory.
        self.found_rule(out, &restriction, TipKind::MailboxFull, || {
            self.mailbox_full(r)
        });
        self.found_rule(out, &restriction, TipKind::MessageTooLarge, || {
            self.too_large_for_recipient(r)
        });
        self.found_rule(out, &restriction, TipKind::AutoReply, || self.auto_reply(r));
        self.found_rule(out, &restriction, TipKind::ModeratedRecipient, || {
            self.moderated(r)
        });
        self.found_rule(out, &restriction, TipKind::LargeAudience, || {
            self.large_audience(r)
        });
        self.found_rule(out, &restriction, TipKind::ExternalRecipient, || {
            self.external_recipient(r)
        });
        self.found_rule(out, &restriction, TipKind::ForwardedExternally, || {
            self.forwarded_externally(r)
        });
        self.found_rule(out, &restriction, TipKind::Custom, || self.custom(r));
    }

    /// Records `rule`'s answer for `kind` when `kind` is evaluated. A kind a restriction hides
    /// is not evaluated while the restriction refuses the sender, and is pending with it.
    #[inline(always)]
    fn found_rule(
        &self,
        out: &mut Out<'_>,
        restriction: &Fact<Option<RestrictionReason>>,
        kind: TipKind,
        rule: impl FnOnce() -> Fact<Option<Tip>>,
    ) {
        if !self.on(kind) {
            return;
        }
        let answer = match restriction {
            Fact::Known(Some(_)) if kind.hidden_by_restriction() => Fact::Known(None),
            Fact::Unknown if kind.hidden_by_restriction() => Fact::Unknown,
            _ => rule(),
        };
        out.add(kind, answer);
    }

    /// The draft-level tips, in display order, and the draft-level kinds pending.
    fn draft_tips(&self) -> (Tips, TipSet) {
        let (mut tips, mut pending) = (Tips::new(), TipSet::EMPTY);
        let mut out = Out {
            tips: &mut tips,
            pending: &mut pending,
        };
        let rules: [(TipKind, DraftRule<'_>); 6] = [
            (TipKind::ReplyAllOnBcc, Self::reply_all_on_bcc),
            (TipKind::MessageTooLarge, Self::too_large_for_draft),
            (TipKind::SentOnBehalf, Self::sent_on_behalf),
            (TipKind::WholeAudience, Self::whole_audience),
            (TipKind::RecipientsVisible, Self::recipients_visible),
            (TipKind::ReadReceipt, Self::read_receipt),
        ];
        for (kind, rule) in rules {
            if self.on(kind) {
                out.add(kind, rule(self));
            }
        }
        (tips, pending)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::fixtures::*;
    use super::*;
    use crate::domain::{CustomTip, EntryKind, ExternalAudience, Locale, Quota, ReplyAll};

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
        d.reply_all = Some(ReplyAll {
            original: vec![crate::domain::address::Address::parse("other@contoso.com").unwrap()],
        });
        let down = RecipientFacts {
            resolution: std::borrow::Cow::Owned(Lookup::Unknown),
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
        full.custom_tip = Some(Box::new(CustomTip {
            default: "still shown".into(),
            ..Default::default()
        }));
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
