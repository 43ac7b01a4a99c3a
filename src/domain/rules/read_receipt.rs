//! Read receipt: the draft asks for one. Says when the organisation ignores such requests, and
//! otherwise names the recipients that will never send one (groups and aliases, and, when the
//! organisation sends receipts only inside and to an allow-list, its own people when the
//! sender is neither), adding that a receipt is no proof of delivery.

use super::Ctx;
use super::places::Placed;
use crate::domain::text::{self, Texts};
use crate::domain::{EntryKind, Fact, Lookup, ReceiptPolicy, Scope, Tip, TipData};

impl Ctx<'_> {
    /// Read receipt, when the draft requests one and has recipients. Pending while an internal
    /// recipient's lookup is unknown (it may be a group or an alias).
    pub(super) fn read_receipt(&self) -> Fact<Option<Tip>> {
        if !self.draft.read_receipt_requested || self.draft.recipients.is_empty() {
            return Fact::Known(None);
        }
        let policy = self.policy.read_receipts;
        if policy == ReceiptPolicy::None {
            return Fact::Known(Some(Tip {
                text: Texts::read_receipt_ignored(self.lang).into(),
                data: TipData::ReadReceipt {
                    policy,
                    ignored: true,
                    no_receipt_from: Vec::new(),
                },
            }));
        }
        let sender_gets_receipts = policy == ReceiptPolicy::All
            || self.sender_internal
            || self.policy.receipt_allowlist.contains(&self.draft.sender);
        let mut seen = self.unseen();
        let mut no_receipt_from = Vec::new();
        let mut names = Vec::new();
        for Placed {
            given: r,
            address,
            scope,
            facts,
            place,
        } in self.placed()
        {
            if std::mem::replace(&mut seen[place], true) {
                continue;
            }
            let never = match &*facts.resolution {
                Lookup::Unknown if scope == Scope::Internal => return Fact::Unknown,
                Lookup::Found(e) if !e.only_sends_from(address) => {
                    e.kind == EntryKind::Group
                        || e.primary != *address
                        || (!sender_gets_receipts
                            && e.kind == EntryKind::Mailbox
                            && scope == Scope::Internal)
                }
                _ => false,
            };
            if never {
                let shown = r.shown();
                no_receipt_from.push(shown.to_owned());
                names.push(match &*facts.resolution {
                    Lookup::Found(e) if !e.display_name.is_empty() => {
                        let person = e.kind == EntryKind::Mailbox && !e.shared;
                        text::name_in_text(self.lang, &e.display_name, person).into_owned()
                    }
                    _ => shown.to_owned(),
                });
            }
        }
        Fact::Known(Some(Tip {
            text: Texts::read_receipt(self.lang, &names).into(),
            data: TipData::ReadReceipt {
                policy,
                ignored: false,
                no_receipt_from,
            },
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use crate::domain::rules::evaluate;
    use crate::domain::{EntryKind, ReceiptPolicy, TipData, TipKind};

    fn receipt(p: &crate::domain::Policy, sender: &str) -> Option<TipData> {
        let mut d = draft(
            sender,
            &[
                "g@contoso.com",
                "alias@contoso.com",
                "p@contoso.com",
                "x@out.example",
            ],
        );
        d.read_receipt_requested = true;
        let mut person = entry("p@contoso.com", EntryKind::Mailbox);
        person.addresses.push(addr("alias@contoso.com"));
        let facts = [
            found(entry("g@contoso.com", EntryKind::Group)),
            found(person.clone()),
            found(person),
            not_found(),
        ];
        let e = evaluate(p, &d, &sender_entry(ME), &facts, now());
        e.draft_tips
            .into_iter()
            .find(|t| t.kind() == TipKind::ReadReceipt)
            .map(|t| t.data)
    }

    #[test]
    fn groups_aliases_and_the_policy() {
        let mut p = policy();
        let Some(TipData::ReadReceipt {
            no_receipt_from,
            ignored: false,
            ..
        }) = receipt(&p, ME)
        else {
            panic!()
        };
        assert_eq!(no_receipt_from, ["g@contoso.com", "alias@contoso.com"]);
        p.read_receipts = ReceiptPolicy::InternalAndAllowlist;
        let Some(TipData::ReadReceipt {
            no_receipt_from, ..
        }) = receipt(&p, "o@out.example")
        else {
            panic!()
        };
        assert_eq!(
            no_receipt_from,
            ["g@contoso.com", "alias@contoso.com", "p@contoso.com"]
        );
        p.receipt_allowlist = vec![addr("o@out.example")];
        let Some(TipData::ReadReceipt {
            no_receipt_from, ..
        }) = receipt(&p, "o@out.example")
        else {
            panic!()
        };
        assert_eq!(no_receipt_from.len(), 2);
        p.read_receipts = ReceiptPolicy::None;
        assert!(matches!(
            receipt(&p, ME),
            Some(TipData::ReadReceipt { ignored: true, .. })
        ));
        // Not requested: nothing.
        let d = draft(ME, &["g@contoso.com"]);
        let e = evaluate(&p, &d, &sender_entry(ME), &[not_found()], now());
        assert!(e.draft_tips.is_empty());
    }
}
