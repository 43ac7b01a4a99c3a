//! Who a message reaches: large audience (a group with more members than the organisation's
//! threshold) and external recipient (an address outside the organisation, or a group with
//! members outside it). Group counts come from the group metrics.

use super::{Ctx, Found};
use crate::domain::text::Texts;
use crate::domain::{Fact, GroupMetrics, Scope, Tip, TipData};

impl Ctx<'_> {
    /// A group's metrics as these rules read them: `None` when they do not apply (not a group,
    /// or the organisation does not compute metrics), unknown when not computed yet.
    fn group_metrics(&self, r: &Found<'_>) -> Option<Fact<GroupMetrics>> {
        (r.is_group() && self.policy.group_metrics).then(|| Fact::from(r.metrics))
    }

    /// Large audience: a group with more members than the threshold, nested groups expanded.
    /// Pending while its metrics are not computed.
    pub(super) fn large_audience(&self, r: &Found<'_>) -> Fact<Option<Tip>> {
        let Some(metrics) = self.group_metrics(r) else {
            return Fact::Known(None);
        };
        let threshold = self.policy.large_audience_threshold;
        metrics.map(|m| {
            (m.total_members > threshold).then(|| Tip {
                text: Texts::large_audience(self.lang, &r.who(self.lang), m.total_members),
                data: TipData::LargeAudience {
                    members: m.total_members,
                    threshold,
                },
            })
        })
    }

    /// External recipient: a contact or an object in an external domain; for a group, one with
    /// members outside the organisation (pending while its metrics are not computed).
    pub(super) fn external_recipient(&self, r: &Found<'_>) -> Fact<Option<Tip>> {
        if r.scope == Scope::RemoteInternal {
            // A remote domain marked internal is not external, and a group living there gets
            // no external-recipient tip, whatever its members.
            return Fact::Known(None);
        }
        if !r.is_group() {
            return Fact::Known(
                r.is_external()
                    .then(|| self.external_address(&r.who(self.lang))),
            );
        }
        let Some(metrics) = self.group_metrics(r) else {
            return Fact::Known(None);
        };
        metrics.map(|m| {
            (m.external_members > 0).then(|| Tip {
                text: Texts::external_group(
                    self.lang,
                    &r.who(self.lang),
                    m.external_members,
                    m.total_members,
                ),
                data: TipData::External {
                    is_group: true,
                    external_members: m.external_members,
                    total_members: m.total_members,
                },
            })
        })
    }

    /// The external-recipient tip for one address (not a group).
    pub(super) fn external_address(&self, who: &str) -> Tip {
        Tip {
            text: Texts::external(self.lang, who),
            data: TipData::External {
                is_group: false,
                external_members: 0,
                total_members: 0,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use crate::domain::{EntryKind, TipData, TipKind};

    #[test]
    fn large_audience_and_group_externals_from_metrics() {
        let g = entry("all@contoso.com", EntryKind::Group);
        let d = draft(ME, &["all@contoso.com"]);
        let r = eval1(&d, &sender_entry(ME), group(g.clone(), 26, 2));
        assert_eq!(
            kinds(&r),
            [TipKind::LargeAudience, TipKind::ExternalRecipient]
        );
        assert_eq!(
            r.tips[1].data,
            TipData::External {
                is_group: true,
                external_members: 2,
                total_members: 26
            }
        );
        assert!(
            eval1(&d, &sender_entry(ME), group(g.clone(), 25, 0))
                .tips
                .is_empty()
        );
        // No metrics yet: no tip, and the client is told it is pending.
        let r = eval1(&d, &sender_entry(ME), found(g));
        assert!(r.tips.is_empty());
        assert!(
            r.pending.contains(TipKind::LargeAudience)
                && r.pending.contains(TipKind::ExternalRecipient)
        );
        // A group living in a remote domain is not evaluated for externals.
        let remote = entry("team@fabrikam.com", EntryKind::Group);
        let r = eval1(
            &draft(ME, &["team@fabrikam.com"]),
            &sender_entry(ME),
            group(remote, 5, 5),
        );
        assert!(r.tips.is_empty());
    }

    #[test]
    fn contacts_are_external() {
        let c = entry("j@partner.example", EntryKind::Contact);
        let r = eval1(
            &draft(ME, &["j@partner.example"]),
            &sender_entry(ME),
            found(c),
        );
        assert_eq!(kinds(&r), [TipKind::ExternalRecipient]);
        assert_eq!(r.resolved, Some(EntryKind::Contact));
    }
}
