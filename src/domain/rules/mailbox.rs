//! Tips read from the recipient's mailbox: mailbox full and automatic replies. Above the
//! per-mailbox cap both are skipped (see [`TipKind::is_mailbox_sourced`]).
//!
//! [`TipKind::is_mailbox_sourced`]: crate::domain::TipKind::is_mailbox_sourced

use super::{Ctx, Found};
use crate::domain::text::Texts;
use crate::domain::{EntryKind, ExternalAudience, Fact, Tip, TipData};

impl Ctx<'_> {
    /// Mailbox full: the recipient's quota is enforced and its usage has reached it.
    pub(super) fn mailbox_full(&self, r: &Found<'_>) -> Fact<Option<Tip>> {
        let full = r
            .entry
            .quota
            .as_ref()
            .filter(|q| q.enforced && q.usage_bytes >= q.prohibit_receive_bytes);
        Fact::Known(full.map(|q| Tip {
            text: Texts::mailbox_full(self.lang, &r.who(self.lang)),
            data: TipData::MailboxFull {
                quota_bytes: q.prohibit_receive_bytes,
                usage_bytes: q.usage_bytes,
            },
        }))
    }

    /// Automatic replies: on, inside their window if they have one, and with a non-empty reply
    /// this sender would get (the internal one for an internal sender; the external one for an
    /// external sender the audience includes).
    pub(super) fn auto_reply(&self, r: &Found<'_>) -> Fact<Option<Tip>> {
        const NO_TIP: Fact<Option<Tip>> = Fact::Known(None);
        let Some(ar) = r.entry.auto_reply.as_ref().filter(|a| a.enabled) else {
            return NO_TIP;
        };
        if ar.start.is_some_and(|s| self.now < s) || ar.end.is_some_and(|e| self.now >= e) {
            return NO_TIP;
        }
        let (body, external_reply) = if self.sender_internal {
            (&ar.internal_message, false)
        } else {
            let sees_external = match ar.external_audience {
                ExternalAudience::None => false,
                ExternalAudience::Known => self
                    .sender
                    .entry
                    .as_ref()
                    .is_some_and(|s| s.kind == EntryKind::Contact),
                ExternalAudience::All => true,
            };
            if !sees_external {
                return NO_TIP;
            }
            (&ar.external_message, true)
        };
        let plain = body.plain();
        if plain.is_empty() {
            return NO_TIP;
        }
        // Slices of the entry's plain text: no copy per tip.
        let (preview, more) = plain.preview();
        let (message, truncated) = plain.message();
        Fact::Known(Some(Tip {
            text: Texts::auto_reply(self.lang, &r.who(self.lang), &preview, more),
            data: TipData::AutoReply {
                preview,
                message,
                truncated,
                window_end: ar.end,
                external_reply,
            },
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::super::fixtures::*;
    use crate::domain::rules::SenderFacts;
    use crate::domain::{EntryKind, ExternalAudience, Quota, RecipientResult, TipData};

    #[test]
    fn mailbox_full_only_when_enforced_and_reached() {
        let d = draft(ME, &["a@contoso.com"]);
        let mut e = entry("a@contoso.com", EntryKind::Mailbox);
        e.quota = Some(Quota {
            prohibit_receive_bytes: 100,
            usage_bytes: 100,
            enforced: true,
        });
        let r = eval1(&d, &sender_entry(ME), found(e.clone()));
        assert_eq!(
            r.tips[0].data,
            TipData::MailboxFull {
                quota_bytes: 100,
                usage_bytes: 100
            }
        );
        e.quota = Some(Quota {
            prohibit_receive_bytes: 100,
            usage_bytes: 99,
            enforced: true,
        });
        assert!(
            eval1(&d, &sender_entry(ME), found(e.clone()))
                .tips
                .is_empty()
        );
        e.quota = Some(Quota {
            prohibit_receive_bytes: 100,
            usage_bytes: 500,
            enforced: false,
        });
        assert!(eval1(&d, &sender_entry(ME), found(e)).tips.is_empty());
    }

    fn auto_data(r: &RecipientResult) -> Option<(String, String, bool, bool)> {
        r.tips.iter().find_map(|t| match &t.data {
            TipData::AutoReply {
                preview,
                message,
                truncated,
                external_reply,
                ..
            } => Some((
                preview.to_string(),
                message.to_string(),
                *truncated,
                *external_reply,
            )),
            _ => None,
        })
    }

    #[test]
    fn auto_reply_internal_vs_external_text() {
        let e = away("inside", "outside", ExternalAudience::All);
        let internal = eval1(
            &draft(ME, &["away@contoso.com"]),
            &sender_entry(ME),
            found(e.clone()),
        );
        assert_eq!(auto_data(&internal).unwrap().0, "inside");
        // A remote domain marked internal counts as internal.
        let remote = eval1(
            &draft("p@fabrikam.com", &["away@contoso.com"]),
            &SenderFacts::default(),
            found(e.clone()),
        );
        assert_eq!(auto_data(&remote).unwrap().0, "inside");
        let external = eval1(
            &draft("x@gmail.example", &["away@contoso.com"]),
            &SenderFacts::default(),
            found(e),
        );
        let (preview, _, _, ext) = auto_data(&external).unwrap();
        assert_eq!((preview.as_str(), ext), ("outside", true));
        // Replies only internally: an external sender sees nothing.
        let e = away("inside", "outside", ExternalAudience::None);
        let none = eval1(
            &draft("x@gmail.example", &["away@contoso.com"]),
            &SenderFacts::default(),
            found(e.clone()),
        );
        assert!(none.tips.is_empty());
        // Known senders only: a contact sees it, an unknown external sender does not.
        let e = away("inside", "outside", ExternalAudience::Known);
        let unknown = eval1(
            &draft("x@gmail.example", &["away@contoso.com"]),
            &SenderFacts::default(),
            found(e.clone()),
        );
        assert!(unknown.tips.is_empty());
        let contact = SenderFacts {
            entry: Some(Arc::new(entry("x@gmail.example", EntryKind::Contact))),
            ..Default::default()
        };
        let known = eval1(
            &draft("x@gmail.example", &["away@contoso.com"]),
            &contact,
            found(e),
        );
        assert_eq!(auto_data(&known).unwrap().0, "outside");
    }

    #[test]
    fn auto_reply_cut_in_characters_after_html_to_text() {
        let body = format!("<p>{}</p>", "日本".repeat(600));
        let r = eval1(
            &draft(ME, &["away@contoso.com"]),
            &sender_entry(ME),
            found(away(&body, "", ExternalAudience::None)),
        );
        let (preview, message, truncated, _) = auto_data(&r).unwrap();
        assert_eq!(preview.chars().count(), 175);
        assert_eq!(message.chars().count(), 1000);
        assert!(truncated);
        assert!(!message.contains('<'));
        assert!(r.tips.iter().all(|t| t.text.chars().count() <= 1000));
        let short = eval1(
            &draft(ME, &["away@contoso.com"]),
            &sender_entry(ME),
            found(away("<b>back</b> soon", "", ExternalAudience::None)),
        );
        assert_eq!(
            auto_data(&short).unwrap(),
            ("back soon".into(), "back soon".into(), false, false)
        );
    }

    #[test]
    fn auto_reply_respects_its_window() {
        let mut e = away("inside", "", ExternalAudience::None);
        let d = draft(ME, &["away@contoso.com"]);
        let ar = e.auto_reply.as_mut().unwrap();
        ar.start = Some(now() + Duration::from_secs(60));
        assert!(
            eval1(&d, &sender_entry(ME), found(e.clone()))
                .tips
                .is_empty()
        );
        let ar = e.auto_reply.as_mut().unwrap();
        ar.start = Some(now() - Duration::from_secs(60));
        ar.end = Some(now() + Duration::from_secs(60));
        let r = eval1(&d, &sender_entry(ME), found(e.clone()));
        assert!(matches!(
            r.tips[0].data,
            TipData::AutoReply {
                window_end: Some(_),
                ..
            }
        ));
        e.auto_reply.as_mut().unwrap().end = Some(now());
        assert!(eval1(&d, &sender_entry(ME), found(e)).tips.is_empty());
    }
}
