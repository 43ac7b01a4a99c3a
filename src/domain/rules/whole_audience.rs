//! Whole audience: how many people the draft reaches as a whole, beyond Exchange, which warns
//! only about one large group. Every directory object counts once (aliases and duplicates of
//! the same person are one), a group counts its members from the group metrics, and an
//! address the directory does not know counts once when mail to it reaches someone.

use std::collections::HashSet;

use super::places::Placed;
use super::{Ctx, FastSet};
use crate::domain::address::Address;
use crate::domain::text::Texts;
use crate::domain::{EntryKind, Fact, Lookup, Scope, Tip, TipData};

impl Ctx<'_> {
    /// Whole audience: the draft reaches more people than the threshold. Reads only the
    /// draft's one batch lookup and the group metrics, so it is evaluated above the
    /// per-mailbox cap too. Pending while a recipient's lookup or a group's metrics are
    /// unknown.
    pub(super) fn whole_audience(&self) -> Fact<Option<Tip>> {
        let n = self.recipients.len();
        // Objects by their primary address, which carries its hash (see `Entry::primary`).
        let mut objects: FastSet<&Address> =
            HashSet::with_capacity_and_hasher(n, Default::default());
        let mut addresses = self.unseen();
        let (mut people, mut from_groups, mut groups) = (0u32, 0u32, 0u32);
        for Placed {
            address,
            scope,
            facts,
            place,
            ..
        } in self.placed()
        {
            match &*facts.resolution {
                Lookup::Unknown => return Fact::Unknown,
                Lookup::Found(e) if !e.only_sends_from(address) => {
                    if !objects.insert(&e.primary) {
                        continue;
                    }
                    if e.kind == EntryKind::Group && self.policy.group_metrics {
                        let Some(m) = facts.metrics else {
                            return Fact::Unknown;
                        };
                        groups += 1;
                        from_groups = from_groups.saturating_add(m.total_members);
                        people = people.saturating_add(m.total_members);
                    } else {
                        // A person, a contact, or a group counted as one address when the
                        // organisation computes no group metrics.
                        people += 1;
                    }
                }
                // Unknown to the directory: nobody inside reaches it, but outside (and in a
                // remote domain) someone does.
                _ => {
                    if scope != Scope::Internal && !std::mem::replace(&mut addresses[place], true) {
                        people += 1;
                    }
                }
            }
        }
        let threshold = self.policy.whole_audience_threshold;
        let individuals = people - from_groups;
        let upper_bound = groups > 1 || (groups == 1 && individuals > 0);
        Fact::Known((people > threshold).then(|| Tip {
            text: Texts::whole_audience(self.lang, people, from_groups, upper_bound).into(),
            data: TipData::WholeAudience {
                people,
                from_groups,
                upper_bound,
                threshold,
            },
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use crate::domain::rules::{RecipientFacts, evaluate};
    use crate::domain::{EntryKind, Lookup, TipData, TipKind};

    fn whole(e: &crate::domain::Evaluation) -> Option<&TipData> {
        e.draft_tips
            .iter()
            .find(|t| t.kind() == TipKind::WholeAudience)
            .map(|t| &t.data)
    }

    #[test]
    fn counts_people_once_and_groups_by_members() {
        let mut p = policy();
        p.whole_audience_threshold = 3;
        // alias@ is the same person as a@; b@ twice; one outside address; a group of 10.
        let mut a = entry("a@contoso.com", EntryKind::Mailbox);
        a.addresses.push(addr("alias@contoso.com"));
        let d = draft(
            ME,
            &[
                "a@contoso.com",
                "alias@contoso.com",
                "b@contoso.com",
                "b@contoso.com",
                "x@gmail.example",
                "gone@contoso.com",
            ],
        );
        let f = [
            found(a.clone()),
            found(a.clone()),
            found(entry("b@contoso.com", EntryKind::Mailbox)),
            found(entry("b@contoso.com", EntryKind::Mailbox)),
            not_found(),
            not_found(),
        ];
        let e = evaluate(&p, &d, &sender_entry(ME), &f, now());
        assert_eq!(whole(&e), None, "3 people is at the threshold, not above");
        let mut d2 = d.clone();
        d2.recipients
            .push(draft(ME, &["team@contoso.com"]).recipients.remove(0));
        let mut f2 = f.to_vec();
        f2.push(group(entry("team@contoso.com", EntryKind::Group), 10, 0));
        let e = evaluate(&p, &d2, &sender_entry(ME), &f2, now());
        assert_eq!(
            whole(&e),
            Some(&TipData::WholeAudience {
                people: 13,
                from_groups: 10,
                upper_bound: true,
                threshold: 3
            })
        );
        assert!(
            e.draft_tips[0].text.contains("13"),
            "{}",
            e.draft_tips[0].text
        );
        // A group without metrics yet: pending.
        *f2.last_mut().unwrap() = found(entry("team@contoso.com", EntryKind::Group));
        let e = evaluate(&p, &d2, &sender_entry(ME), &f2, now());
        assert!(e.draft_pending.contains(TipKind::WholeAudience));
        // The directory down for one recipient: pending.
        f2[0] = RecipientFacts {
            resolution: std::borrow::Cow::Owned(Lookup::Unknown),
            metrics: None,
        };
        let e = evaluate(&p, &d2, &sender_entry(ME), &f2, now());
        assert!(e.draft_pending.contains(TipKind::WholeAudience));
    }

    #[test]
    fn evaluated_above_the_per_mailbox_cap() {
        let addrs: Vec<String> = (0..300).map(|i| format!("u{i}@contoso.com")).collect();
        let refs: Vec<&str> = addrs.iter().map(String::as_str).collect();
        let facts: Vec<_> = refs
            .iter()
            .map(|a| found(entry(a, EntryKind::Mailbox)))
            .collect();
        let e = evaluate(
            &policy(),
            &draft(ME, &refs),
            &sender_entry(ME),
            &facts,
            now(),
        );
        assert!(!e.skipped.is_empty());
        assert!(matches!(
            whole(&e),
            Some(TipData::WholeAudience {
                people: 300,
                upper_bound: false,
                ..
            })
        ));
    }
}
