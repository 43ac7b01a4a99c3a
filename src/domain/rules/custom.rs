//! Custom tip: the text an administrator set on a recipient, in the draft's language when a
//! translation exists.

use super::{Ctx, Found};
use crate::domain::{Fact, Tip, TipData};

impl Ctx<'_> {
    /// Custom tip: the translation for the draft's primary language subtag when there is one,
    /// else the default; as plain text, cut to the preview length. No tip when it is empty.
    pub(super) fn custom(&self, r: &Found<'_>) -> Fact<Option<Tip>> {
        let Some(tip) = &r.entry.custom_tip else {
            return Fact::Known(None);
        };
        let primary = self.draft.locale.primary.as_str();
        let (language, body) = match tip.translations.get(primary) {
            Some(t) if !primary.is_empty() => (primary, t),
            _ => ("", &tip.default),
        };
        let plain = body.plain();
        if plain.is_empty() {
            return Fact::Known(None);
        }
        Fact::Known(Some(Tip {
            text: plain.preview().0,
            data: TipData::Custom {
                language: language.to_owned(),
            },
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::super::fixtures::*;
    use crate::domain::{CustomTip, EntryKind, Locale, TipData};

    #[test]
    fn custom_tip_translation_and_cut() {
        let mut e = entry("help@contoso.com", EntryKind::Mailbox);
        e.custom_tip = Some(Box::new(CustomTip {
            default: "x".repeat(300).into(),
            translations: HashMap::from([("ja".to_owned(), "日本語のヒント".into())]),
        }));
        let mut d = draft(ME, &["help@contoso.com"]);
        let r = eval1(&d, &sender_entry(ME), found(e.clone()));
        assert_eq!(r.tips[0].text.chars().count(), 175);
        d.locale = Locale::parse("ja-JP").unwrap();
        let r = eval1(&d, &sender_entry(ME), found(e.clone()));
        assert_eq!(r.tips[0].text, "日本語のヒント");
        assert_eq!(
            r.tips[0].data,
            TipData::Custom {
                language: "ja".into()
            }
        );
        d.locale = Locale::parse("fr").unwrap();
        assert_eq!(
            eval1(&d, &sender_entry(ME), found(e)).tips[0].text.len(),
            175
        );
    }
}
