//! Forwarded outside: a mailbox that forwards its mail to an address outside the organisation,
//! so mail addressed to a colleague leaves it.

use super::{Ctx, Found};
use crate::domain::text::Texts;
use crate::domain::{EntryKind, Fact, Scope, Tip, TipData};

impl Ctx<'_> {
    /// Forwarded externally: the recipient is a mailbox whose forwarding address is in an
    /// external domain. The tip never says to which address.
    pub(super) fn forwarded_externally(&self, r: &Found<'_>) -> Fact<Option<Tip>> {
        let outside = r.entry.kind == EntryKind::Mailbox
            && r.entry
                .forwarding_address
                .as_ref()
                .is_some_and(|f| self.policy.scope_of(f.domain()) == Scope::External);
        Fact::Known(outside.then(|| Tip {
            text: Texts::forwarded_externally(self.lang, &r.who(self.lang)),
            data: TipData::ForwardedExternally,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use crate::domain::{EntryKind, TipKind};

    #[test]
    fn only_outside_forwarding_addresses() {
        let d = draft(ME, &["fwd@contoso.com"]);
        let mut e = entry("fwd@contoso.com", EntryKind::Mailbox);
        e.forwarding_address = Some(Box::new(addr("me@gmail.example")));
        let r = eval1(&d, &sender_entry(ME), found(e.clone()));
        assert_eq!(kinds(&r), [TipKind::ForwardedExternally]);
        assert!(!r.tips[0].text.contains("gmail"), "{}", r.tips[0].text);
        for inside in ["other@contoso.com", "x@fabrikam.com"] {
            e.forwarding_address = Some(Box::new(addr(inside)));
            assert!(
                eval1(&d, &sender_entry(ME), found(e.clone()))
                    .tips
                    .is_empty()
            );
        }
    }
}
