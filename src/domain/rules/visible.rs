//! Visible recipients: every recipient sees the draft's To and Cc. Many addresses there, or
//! people of several outside organisations, suggest Bcc (as Thunderbird and FlexConfirmMail
//! warn in the client).

use std::collections::BTreeSet;

use super::Ctx;
use crate::domain::text::Texts;
use crate::domain::{EntryKind, Fact, Field, Lookup, Scope, Tip, TipData};

impl Ctx<'_> {
    /// Recipients visible: To and Cc hold at least the threshold's number of distinct
    /// addresses, or individual external recipients of two or more outside domains. Never
    /// pending: the address tells the domain, and only a found contact or group changes it.
    pub(super) fn recipients_visible(&self) -> Fact<Option<Tip>> {
        let (mut seen, mut visible) = (self.unseen(), 0usize);
        let mut domains = BTreeSet::new();
        for p in self.placed() {
            if p.given.field == Field::Bcc || std::mem::replace(&mut seen[p.place], true) {
                continue;
            }
            visible += 1;
            let domain = match &*p.facts.resolution {
                // A contact's own address is its outside delivery address.
                Lookup::Found(e) if e.kind == EntryKind::Contact => Some(e.primary.domain()),
                Lookup::Found(e) if e.kind == EntryKind::Group => None,
                _ => (p.scope == Scope::External).then(|| p.address.domain()),
            };
            domains.extend(domain);
        }
        let count = u32::try_from(visible).unwrap_or(u32::MAX);
        let threshold = self.policy.visible_recipients_threshold;
        let shown = count >= threshold || domains.len() >= 2;
        let outside_domains: Vec<String> = domains.into_iter().map(str::to_owned).collect();
        Fact::Known(shown.then(|| Tip {
            text: Texts::recipients_visible(self.lang, count, &outside_domains).into(),
            data: TipData::RecipientsVisible {
                visible: count,
                threshold,
                outside_domains,
            },
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use crate::domain::rules::evaluate;
    use crate::domain::{EntryKind, Field, Lang, Locale, TipData, TipKind};

    fn visible(e: &crate::domain::Evaluation) -> Option<&crate::domain::Tip> {
        e.draft_tips
            .iter()
            .find(|t| t.kind() == TipKind::RecipientsVisible)
    }

    #[test]
    fn threshold_counts_distinct_to_and_cc() {
        let mut p = policy();
        p.visible_recipients_threshold = 3;
        let mut d = draft(
            ME,
            &[
                "a@contoso.com",
                "A@contoso.com",
                "b@contoso.com",
                "c@contoso.com",
            ],
        );
        d.recipients[3].field = Field::Bcc;
        let facts = vec![not_found(); 4];
        let e = evaluate(&p, &d, &sender_entry(ME), &facts, now());
        assert!(visible(&e).is_none(), "2 distinct in To and Cc");
        d.recipients[3].field = Field::Cc;
        let e = evaluate(&p, &d, &sender_entry(ME), &facts, now());
        assert_eq!(
            visible(&e).unwrap().data,
            TipData::RecipientsVisible {
                visible: 3,
                threshold: 3,
                outside_domains: vec![]
            }
        );
    }

    #[test]
    fn two_outside_domains() {
        let mut d = draft(
            ME,
            &[
                "x@one.example",
                "y@one.example",
                "j@partner.example",
                "z@two.example",
            ],
        );
        d.recipients[3].field = Field::Bcc;
        let contact = entry("j@partner.example", EntryKind::Contact);
        let facts = vec![not_found(), not_found(), found(contact), not_found()];
        let e = evaluate(&policy(), &d, &sender_entry(ME), &facts, now());
        let t = visible(&e).unwrap();
        assert!(
            matches!(&t.data, TipData::RecipientsVisible { outside_domains, .. }
            if outside_domains == &["one.example", "partner.example"])
        );
        // One outside domain, or a remote-internal one, is not enough.
        let d = draft(ME, &["x@one.example", "s@fabrikam.com", "a@contoso.com"]);
        let e = evaluate(
            &policy(),
            &d,
            &sender_entry(ME),
            &vec![not_found(); 3],
            now(),
        );
        assert!(visible(&e).is_none());
        let mut d = draft(ME, &["x@one.example", "z@two.example"]);
        d.locale = Locale::parse("ja").unwrap();
        let e = evaluate(
            &policy(),
            &d,
            &sender_entry(ME),
            &vec![not_found(); 2],
            now(),
        );
        let t = visible(&e).unwrap();
        assert_eq!(d.locale.lang, Lang::Ja);
        assert!(t.text.contains("BCC"), "{}", t.text);
    }
}
