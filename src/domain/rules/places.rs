//! Each recipient's place among the draft's distinct addresses: the same for two recipients
//! exactly when their addresses are equal. The draft-level rules count distinct addresses by
//! place, with one mark per place, rather than each with a set of addresses of its own; the
//! service numbers them by its lookup batch, which has deduplicated the draft already.

use std::collections::HashMap;

use super::{Ctx, RecipientFacts};
use crate::domain::address::Address;
use crate::domain::{Draft, DraftRecipient, Scope};

/// A well-formed recipient as the draft-level rules read it.
pub(super) struct Placed<'c> {
    pub(super) given: &'c DraftRecipient,
    pub(super) address: &'c Address,
    pub(super) scope: Scope,
    pub(super) facts: &'c RecipientFacts<'c>,
    /// Its place among the draft's distinct addresses.
    pub(super) place: usize,
}

/// Numbers addresses in the order first given: equal addresses get the same place, each
/// distinct one the next. The service numbers a draft's lookup batch with it, and [`places`]
/// the draft's recipients.
pub struct Numbering<'a> {
    index: HashMap<&'a Address, usize, foldhash::fast::RandomState>,
    order: Vec<&'a Address>,
}

impl<'a> Numbering<'a> {
    /// Room for `n` distinct addresses without growing.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            index: HashMap::with_capacity_and_hasher(n, Default::default()),
            order: Vec::with_capacity(n),
        }
    }

    /// The place of `a`: its own when it is new.
    pub fn place(&mut self, a: &'a Address) -> usize {
        *self.index.entry(a).or_insert_with(|| {
            self.order.push(a);
            self.order.len() - 1
        })
    }

    /// The distinct addresses, each at its place.
    pub fn into_order(self) -> Vec<&'a Address> {
        self.order
    }
}

/// Each recipient's place among the draft's distinct addresses: the same for two recipients
/// exactly when their addresses are equal, `None` for a malformed one.
pub fn places(draft: &Draft) -> Vec<Option<usize>> {
    let mut numbering = Numbering::with_capacity(draft.recipients.len());
    draft
        .recipients
        .iter()
        .map(|r| r.address().ok().map(|a| numbering.place(a)))
        .collect()
}

impl Ctx<'_> {
    /// Marks, one per distinct address of the draft, none set: what the draft-level rules
    /// count distinct addresses with, by place.
    pub(super) fn unseen(&self) -> Vec<bool> {
        vec![false; self.distinct]
    }

    /// Every well-formed recipient with its address, scope, facts and place.
    pub(super) fn placed(&self) -> impl Iterator<Item = Placed<'_>> {
        self.draft
            .recipients
            .iter()
            .zip(self.recipients)
            .zip(self.places)
            .zip(self.scopes)
            .filter_map(|(((given, facts), place), &scope)| {
                Some(Placed {
                    given,
                    address: given.address().ok()?,
                    scope,
                    facts,
                    place: (*place)?,
                })
            })
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::places;
    use crate::domain::TipKind;
    use crate::domain::rules::{evaluate, evaluate_placed};

    #[test]
    fn any_numbering_of_the_distinct_addresses_evaluates_alike() {
        let mut d = draft(
            ME,
            &[
                "a@contoso.com",
                "A@contoso.com",
                "x@gmail.example",
                "not an address",
                "x@gmail.example",
                "y@fabrikam.example",
            ],
        );
        d.read_receipt_requested = true;
        let placed = places(&d);
        assert_eq!(placed, [Some(0), Some(0), Some(1), None, Some(1), Some(2)]);
        let mut p = policy();
        p.visible_recipients_threshold = 2;
        p.whole_audience_threshold = 1;
        p.read_receipts = crate::domain::ReceiptPolicy::InternalAndAllowlist;
        let facts = vec![not_found(); 6];
        let e = evaluate(&p, &d, &sender_entry(ME), &facts, now());
        // Every draft-level kind that counts distinct addresses has a tip here.
        for k in [
            TipKind::RecipientsVisible,
            TipKind::WholeAudience,
            TipKind::ReadReceipt,
        ] {
            assert!(e.draft_tips.iter().any(|t| t.kind() == k), "{k:?}");
        }
        // As the service numbers them: by place in its lookup batch, after the sender.
        let shifted: Vec<Option<usize>> = placed.iter().map(|p| p.map(|p| p + 1)).collect();
        assert_eq!(
            evaluate_placed(&p, &d, &sender_entry(ME), &facts, &shifted, now()),
            e
        );
    }
}
