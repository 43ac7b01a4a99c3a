//! Sent on behalf: the draft is sent as one of the sender's send-from addresses in another
//! domain, and its mail does not leave through that domain's own server, so recipients may see
//! "send-from address (on behalf of own address)".

use super::Ctx;
use crate::domain::text::Texts;
use crate::domain::{Fact, Tip, TipData};

impl Ctx<'_> {
    /// Sent on behalf: the sender's directory object lists the draft's sender address as a
    /// send-from address, without an outbound gateway the organisation honours. Pending when
    /// the sender could not be looked up.
    pub(super) fn sent_on_behalf(&self) -> Fact<Option<Tip>> {
        let Some(entry) = &self.sender.entry else {
            return if self.sender.lookup_failed {
                Fact::Unknown
            } else {
                Fact::Known(None)
            };
        };
        let Some(from) = entry
            .send_from
            .iter()
            .find(|s| s.address == self.draft.sender)
        else {
            return Fact::Known(None);
        };
        if from.outbound_gateway && self.policy.per_user_outbound_gateways {
            return Fact::Known(None);
        }
        let send_as = self.draft.sender.as_str();
        let on_behalf_of = entry.primary.as_str();
        let shown_as = Texts::shown_on_behalf(self.lang, send_as, on_behalf_of);
        Fact::Known(Some(Tip {
            text: Texts::sent_on_behalf(self.lang, &shown_as).into(),
            data: TipData::SentOnBehalf {
                send_as: send_as.to_owned(),
                on_behalf_of: on_behalf_of.to_owned(),
                shown_as,
            },
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::fixtures::*;
    use crate::domain::rules::{SenderFacts, evaluate};
    use crate::domain::{EntryKind, Locale, SendFrom, TipData};

    #[test]
    fn send_from_without_its_gateway() {
        let mut me = entry(ME, EntryKind::Mailbox);
        me.send_from = vec![
            SendFrom {
                address: addr("me@partner.example"),
                outbound_gateway: false,
            },
            SendFrom {
                address: addr("me@gw.example"),
                outbound_gateway: true,
            },
        ]
        .into();
        let s = SenderFacts {
            entry: Some(Arc::new(me)),
            lookup_failed: false,
            groups: None,
        };
        let mut p = policy();
        let tips = |p: &crate::domain::Policy, from: &str, ja: bool| {
            let mut d = draft(from, &[]);
            if ja {
                d.locale = Locale::parse("ja-JP").unwrap();
            }
            evaluate(p, &d, &s, &[], now()).draft_tips
        };
        let t = &tips(&p, "me@partner.example", false)[0];
        assert_eq!(
            t.data,
            TipData::SentOnBehalf {
                send_as: "me@partner.example".into(),
                on_behalf_of: ME.into(),
                shown_as: "me@partner.example (on behalf of me@contoso.com)".into(),
            }
        );
        let t = &tips(&p, "me@partner.example", true)[0];
        assert!(
            t.text.contains("me@partner.example（me@contoso.com 代理）"),
            "{}",
            t.text
        );
        // The gateway counts only when the organisation allows per-user gateways.
        assert_eq!(tips(&p, "me@gw.example", false).len(), 1);
        p.per_user_outbound_gateways = true;
        assert!(tips(&p, "me@gw.example", false).is_empty());
        assert!(tips(&p, ME, false).is_empty());
    }
}
