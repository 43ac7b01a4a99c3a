//! Reply-all on Bcc: a draft that replies to all when the sender had the original on Bcc would
//! reveal that the sender received it.

use super::Ctx;
use crate::domain::address::Address;
use crate::domain::text::Texts;
use crate::domain::{Fact, Tip, TipData};

impl Ctx<'_> {
    /// Reply-all on Bcc: the draft replies to all and none of the sender's addresses (every
    /// proxy address when the sender is in the directory) is among the original To and Cc.
    /// Pending when the sender's addresses could not be read.
    pub(super) fn reply_all_on_bcc(&self) -> Fact<Option<Tip>> {
        let Some(reply_all) = &self.draft.reply_all else {
            return Fact::Known(None);
        };
        if reply_all.original.is_empty() {
            // No original To or Cc (none given, or none that parses): nothing to compare.
            return Fact::Known(None);
        }
        let own: &[Address] = match &self.sender.entry {
            Some(e) => &e.addresses,
            None => std::slice::from_ref(&self.draft.sender),
        };
        if reply_all.original.iter().any(|o| own.contains(o)) {
            // Addressed in To or Cc: a normal reply-all.
            Fact::Known(None)
        } else if self.sender.lookup_failed {
            // The sender's proxy addresses are unknown: judging now could be wrong.
            Fact::Unknown
        } else {
            Fact::Known(Some(Tip {
                text: Texts::reply_all_on_bcc(self.lang),
                data: TipData::ReplyAllOnBcc,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::fixtures::*;
    use crate::domain::rules::{SenderFacts, evaluate};
    use crate::domain::{EntryKind, ReplyAll, TipKind};

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
        // No original recipients at all: nothing to compare, no tip.
        d.reply_all = Some(ReplyAll { original: vec![] });
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
}
