//! A draft once validated: sender, recipients in request order, size, reply-all, the kinds asked
//! for and the locale. The gRPC edge builds it; the rules read it.

use bytestring::ByteString;

use crate::domain::address::{Address, AddressError, AddressRules, MAX_ADDRESS_BYTES};
use crate::domain::text;
use crate::domain::tip::TipSet;

/// The languages with human texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    En,
    Ja,
}

/// A validated request locale: the text language plus the primary subtag, which picks custom
/// tip translations.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Locale {
    pub lang: Lang,
    /// Lower-case primary language subtag ("en", "ja", "fr"); empty when none was given.
    pub primary: String,
}

impl Locale {
    /// Parses a BCP 47-shaped tag: letters, digits and hyphens, at most 35 characters, a primary
    /// subtag of 2–8 letters.
    ///
    /// # Errors
    /// A description of what is wrong.
    pub fn parse(tag: &str) -> Result<Self, String> {
        if tag.is_empty() {
            return Ok(Self::default());
        }
        let shaped = tag.len() <= 35
            && tag.split(['-', '_']).all(|s| {
                !s.is_empty() && s.len() <= 8 && s.bytes().all(|b| b.is_ascii_alphanumeric())
            });
        let primary = tag
            .split(['-', '_'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        if !shaped
            || !(2..=8).contains(&primary.len())
            || !primary.bytes().all(|b| b.is_ascii_alphabetic())
        {
            return Err(format!(
                "{:?} is not a BCP 47 language tag (e.g. \"en\", \"ja-JP\")",
                tag.chars().take(40).collect::<String>()
            ));
        }
        let lang = if primary == "ja" { Lang::Ja } else { Lang::En };
        Ok(Self { lang, primary })
    }
}

/// Where a recipient appears in the draft.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Field {
    #[default]
    To,
    Cc,
    Bcc,
}

/// One recipient as the client addressed it.
#[derive(Debug, Clone)]
pub struct DraftRecipient {
    given: Given,
    /// To, Cc or Bcc: every other recipient sees the To and Cc ones.
    pub field: Field,
}

/// The address as given, and what it parsed to.
#[derive(Debug, Clone)]
enum Given {
    /// Given in its normalised form: the address's own text is the text given (one string
    /// for both).
    Normal(Address),
    /// Given otherwise: the text as given, and the address it parsed to, or why not.
    Other {
        raw: ByteString,
        address: Result<Address, AddressError>,
    },
}

impl DraftRecipient {
    /// The recipient `raw` in `field`, its address parsed under `rules`. `raw` is kept, not
    /// copied: as the address itself when it is in its normal form already.
    pub fn new(raw: ByteString, field: Field, rules: AddressRules) -> Self {
        let given = match rules.parse_normal(raw) {
            Ok(address) => Given::Normal(address),
            Err(raw) => Given::Other {
                address: rules.parse(&raw),
                raw,
            },
        };
        Self { given, field }
    }

    /// The parsed address, or why the text given is not one.
    pub fn address(&self) -> Result<&Address, &AddressError> {
        match &self.given {
            Given::Normal(address) => Ok(address),
            Given::Other { address, .. } => address.as_ref(),
        }
    }

    /// The address exactly as given, echoed in the response.
    pub fn raw(&self) -> &str {
        self.raw_text()
    }

    /// The address as texts and tip data show it: [`Self::raw`] trimmed and cut to
    /// [`MAX_ADDRESS_BYTES`] characters.
    pub fn shown(&self) -> &str {
        match &self.given {
            // A normal form is trimmed, and no longer than an address, already.
            Given::Normal(address) => address.as_str(),
            Given::Other { raw, .. } => text::cut_chars(raw.trim(), MAX_ADDRESS_BYTES).0,
        }
    }

    /// A part of [`Self::raw`] (`part` is a slice of it), sharing its storage.
    ///
    /// # Panics
    /// When `part` is not a slice of [`Self::raw`].
    pub fn raw_part(&self, part: &str) -> ByteString {
        self.raw_text().slice_ref(part)
    }

    /// [`Self::raw`] in its own storage.
    fn raw_text(&self) -> &ByteString {
        match &self.given {
            Given::Normal(address) => address.text(),
            Given::Other { raw, .. } => raw,
        }
    }

    /// [`Self::raw`], owned: moved out, not copied.
    pub fn into_raw(self) -> ByteString {
        match self.given {
            Given::Normal(address) => address.into_text(),
            Given::Other { raw, .. } => raw,
        }
    }

    /// This recipient with a text of its own, apart from the buffer it was decoded from: for a
    /// draft kept beyond its call (a watch), so that it holds its addresses and not the whole
    /// request body they were sliced from.
    #[must_use]
    pub fn detached(self) -> Self {
        let field = self.field;
        let given = match self.given {
            Given::Normal(address) => Given::Normal(address.detached()),
            // The address parsed from a text not in normal form is a copy already.
            Given::Other { raw, address } => Given::Other {
                raw: ByteString::from(&*raw),
                address,
            },
        };
        Self { given, field }
    }
}

/// A validated request: what the rules evaluate.
#[derive(Debug, Clone)]
pub struct Draft {
    pub sender: Address,
    pub recipients: Vec<DraftRecipient>,
    /// 0 = unknown.
    pub message_size: u64,
    pub reply_all: Option<ReplyAll>,
    /// The kinds the client asked for.
    pub wanted: TipSet,
    pub locale: Locale,
    /// The draft asks for a read receipt.
    pub read_receipt_requested: bool,
}

impl Draft {
    /// This draft with texts of its own ([`DraftRecipient::detached`]), to keep beyond its call.
    #[must_use]
    pub fn detached(mut self) -> Self {
        self.recipients = self
            .recipients
            .into_iter()
            .map(DraftRecipient::detached)
            .collect();
        self
    }
}

/// The original To and Cc of a reply-all, normalised where they parse.
#[derive(Debug, Clone, Default)]
pub struct ReplyAll {
    pub original: Vec<Address>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locales() {
        assert_eq!(Locale::parse("").unwrap().lang, Lang::En);
        assert_eq!(Locale::parse("ja-JP").unwrap().lang, Lang::Ja);
        assert_eq!(Locale::parse("JA").unwrap().primary, "ja");
        assert_eq!(Locale::parse("fr-CA").unwrap().lang, Lang::En);
        assert!(Locale::parse("x").is_err());
        assert!(Locale::parse("en--US").is_err());
        assert!(Locale::parse(&"a".repeat(40)).is_err());
    }

    #[test]
    fn an_address_given_in_its_normal_form_is_one_string_for_both() {
        let recipient = |raw: &str, rules| DraftRecipient::new(raw.into(), Field::To, rules);
        // A slice of a request's body, as the server decodes it.
        let body = bytes::Bytes::from_static(b"\x0a\x17taro.yamada@contoso.com\x10\x01");
        let given = ByteString::try_from(body.slice(2..25)).unwrap();
        let at = given.as_ptr();
        let r = DraftRecipient::new(given, Field::To, AddressRules::default());
        assert!(matches!(r.given, Given::Normal(_)));
        assert_eq!(r.address().unwrap().as_str().as_ptr(), at, "not copied");
        let detached = r.clone().detached();
        assert_eq!(detached.raw(), "taro.yamada@contoso.com");
        assert_ne!(detached.raw().as_ptr(), at, "a copy of its own");
        let back = r.into_raw();
        assert_eq!(back.as_ptr(), at, "and moved back out");

        // Not the normal form: the text as given is kept beside the address.
        let sensitive = AddressRules {
            case_sensitive_local: true,
        };
        for (raw, rules) in [
            ("Taro.Yamada@contoso.com", AddressRules::default()),
            ("taro@Contoso.com", sensitive),
            (" taro@contoso.com", AddressRules::default()),
            ("\"taro\"@contoso.com", AddressRules::default()),
            ("山田@contoso.com", AddressRules::default()),
            ("not an address", AddressRules::default()),
        ] {
            let r = recipient(raw, rules);
            assert!(matches!(&r.given, Given::Other { raw: given, .. } if given == raw));
            assert_eq!(r.raw(), raw);
            assert_eq!(r.address(), rules.parse(raw).as_ref());
            // Shown trimmed; a normal form is shown as it is.
            assert_eq!(r.shown(), raw.trim());
        }
        assert_eq!(
            recipient("taro@contoso.com", AddressRules::default()).shown(),
            "taro@contoso.com"
        );
        let long = format!("  {}  ", "x".repeat(MAX_ADDRESS_BYTES + 10));
        let shown = recipient(&long, AddressRules::default()).shown().to_owned();
        assert_eq!(shown, "x".repeat(MAX_ADDRESS_BYTES), "trimmed, then cut");
        // The case the rules keep is the normal form already.
        assert!(matches!(
            recipient("Taro@contoso.com", sensitive).given,
            Given::Normal(_)
        ));
    }
}
