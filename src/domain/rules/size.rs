//! Message too large: the draft's size against the recipient's receive limit (a recipient tip),
//! and against the sender's send limit and the organisation's limit (a draft tip). A draft of
//! unknown size (0) gets neither.

use super::{Ctx, Found};
use crate::domain::text::Texts;
use crate::domain::{Fact, SizeLimitSource, Tip, TipData};

impl Ctx<'_> {
    /// Message too large for the recipient: larger than it accepts.
    pub(super) fn too_large_for_recipient(&self, r: &Found<'_>) -> Fact<Option<Tip>> {
        let size = self.draft.message_size;
        let biting = r
            .entry
            .max_receive_bytes
            .filter(|&limit| size > 0 && size > limit);
        Fact::Known(
            biting
                .map(|limit| self.too_large(SizeLimitSource::Recipient, &r.who(self.lang), limit)),
        )
    }

    /// Message too large to send: larger than the sender may send or the organisation allows,
    /// naming the lower limit that bites. Pending when neither bites but the sender's own limit
    /// could not be read.
    pub(super) fn too_large_for_draft(&self) -> Fact<Option<Tip>> {
        let size = self.draft.message_size;
        if size == 0 {
            return Fact::Known(None);
        }
        let sender_limit = self.sender.entry.as_ref().and_then(|e| e.max_send_bytes);
        let biting = [
            (SizeLimitSource::Sender, sender_limit),
            (SizeLimitSource::Organization, self.policy.max_message_bytes),
        ]
        .into_iter()
        .filter_map(|(s, l)| l.filter(|&l| size > l).map(|l| (s, l)))
        .min_by_key(|&(_, l)| l);
        match biting {
            Some((source, limit)) => Fact::Known(Some(self.too_large(source, "", limit))),
            None if self.sender.lookup_failed => Fact::Unknown,
            None => Fact::Known(None),
        }
    }

    fn too_large(&self, source: SizeLimitSource, who: &str, limit: u64) -> Tip {
        Tip {
            text: Texts::too_large(self.lang, source, who, limit).into(),
            data: TipData::TooLarge {
                source,
                limit_bytes: limit,
                message_bytes: self.draft.message_size,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::fixtures::*;
    use crate::domain::rules::{SenderFacts, evaluate};
    use crate::domain::{EntryKind, SizeLimitSource, TipData};

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
}
