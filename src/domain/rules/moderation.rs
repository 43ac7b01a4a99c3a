//! Moderated recipient: mail to it waits for a moderator's approval, unless the sender is one
//! of its moderators or on its bypass list.

use super::{Ctx, Found};
use crate::domain::text::Texts;
use crate::domain::{Fact, Tip, TipData};

impl Ctx<'_> {
    /// Moderated recipient: moderation is on and the sender is neither a moderator nor on the
    /// bypass list (directly or through a group). Pending while that cannot be told.
    pub(super) fn moderated(&self, r: &Found<'_>) -> Fact<Option<Tip>> {
        let Some(m) = r.entry.moderation.as_ref().filter(|m| m.enabled) else {
            return Fact::Known(None);
        };
        let exempt = self
            .sender
            .is_on(&m.moderators)
            .or(self.sender.is_on(&m.bypass));
        exempt.map(|exempt| {
            (!exempt).then(|| Tip {
                text: Texts::moderated(self.lang, &r.who(self.lang)),
                data: TipData::Moderated {
                    moderators: m.moderator_addresses.clone(),
                },
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::Arc;

    use super::super::fixtures::*;
    use crate::domain::{EntryKind, Moderation, TipData};

    #[test]
    fn moderation_exempts_moderators_and_bypass() {
        let mut e = entry("news@contoso.com", EntryKind::Group);
        e.moderation = Some(Box::new(Moderation {
            enabled: true,
            moderators: vec![Arc::from("mod@contoso.com")],
            moderator_addresses: vec!["mod@contoso.com".into()],
            bypass: vec![Arc::from("trusted@contoso.com")],
        }));
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
}
