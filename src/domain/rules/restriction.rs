//! Restricted recipient: a recipient that refuses the sender, because the sender is not on its
//! accept list, is on its reject list, or is outside the organisation when it takes only
//! authenticated senders. Its tip comes first, and it hides six kinds for the same recipient
//! (see [`TipKind::hidden_by_restriction`]).

use super::{Ctx, Found};
use crate::domain::text::Texts;
use crate::domain::{Entry, Fact, RestrictionReason, Tip, TipData, TipKind};

impl Ctx<'_> {
    /// Why `entry` refuses the sender, or `None` when it takes the sender's mail. Judged
    /// whenever the organisation shows restricted tips, even when the client did not ask for
    /// them, so that the kinds a restriction hides stay hidden; when the organisation does not
    /// show them, nothing is refused.
    pub(super) fn restriction(&self, entry: &Entry) -> Fact<Option<RestrictionReason>> {
        if !self.policy.enabled.contains(TipKind::RestrictedRecipient) {
            return Fact::Known(None);
        }
        let r = entry.restrictions();
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

    /// The restricted-recipient tip for a recipient that refuses the sender for `reason`.
    pub(super) fn restricted(&self, r: &Found<'_>, reason: RestrictionReason) -> Tip {
        Tip {
            text: Texts::restricted(self.lang, &r.who(self.lang), reason),
            data: TipData::Restricted {
                reason,
                recipient_external: r.is_external(),
                group_has_external_members: r
                    .metrics
                    .is_some_and(|m| r.is_group() && m.external_members > 0),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::Arc;

    use super::super::fixtures::*;
    use crate::domain::rules::SenderFacts;
    use crate::domain::{
        CustomTip, Entry, EntryKind, ExternalAudience, Moderation, Quota, RestrictionReason,
        Restrictions, TipData, TipKind,
    };

    fn restricted_box() -> Entry {
        let mut e = entry("boss@contoso.com", EntryKind::Mailbox);
        e.restrictions = Restrictions {
            accept_only_from: vec![Arc::from("vips@contoso.com")],
            ..Default::default()
        }
        .boxed();
        e.quota = Some(Quota {
            prohibit_receive_bytes: 1,
            usage_bytes: 1,
            enforced: true,
        });
        e.custom_tip = Some(Box::new(CustomTip {
            default: "hi".into(),
            ..Default::default()
        }));
        e.max_receive_bytes = Some(10);
        e.moderation = Some(Box::new(Moderation {
            enabled: true,
            ..Default::default()
        }));
        e.auto_reply = away("x", "", ExternalAudience::None).auto_reply;
        e.forwarding_address = Some(Box::new(addr("boss@home.example")));
        e
    }

    #[test]
    fn restriction_hides_six_kinds() {
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
                TipKind::ForwardedExternally,
                TipKind::Custom
            ]
        );
    }

    #[test]
    fn reject_list_and_authenticated_senders() {
        let mut e = entry("g@contoso.com", EntryKind::Group);
        e.restrictions.get_or_insert_default().reject_from = vec![Arc::from(ME)];
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
        e.restrictions.get_or_insert_default().require_authenticated = true;
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
}
