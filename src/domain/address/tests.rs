//! Unit and property tests of address parsing, normalisation and hashing.

use super::*;

fn p(s: &str) -> Result<Address, AddressError> {
    Address::parse(s)
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2_000))]

    /// The one-pass ASCII path accepts only what the general path accepts, and
    /// normalises alike.
    #[test]
    fn the_ascii_path_agrees_with_the_general_one(
        raw in r#"[ a-zA-Z0-9.@"!#$%&'*+/=?^_`{|}~\\(),:;<>\[\]-]{0,40}|[a-z0-9._-]{1,70}@[a-zA-Z0-9.-]{1,70}"#,
        case_sensitive in proptest::prelude::any::<bool>(),
    ) {
        let s = raw.trim();
        let general = Address::parse_general(s, case_sensitive);
        if let Some(fast) = Address::parse_plain_ascii(s, case_sensitive) {
            proptest::prop_assert_eq!(Ok(&fast), general.as_ref());
            proptest::prop_assert_eq!(fast.at, general.as_ref().unwrap().at);
        } else {
            // And it takes every address it could: unquoted ASCII.
            proptest::prop_assert!(general.is_err() || !s.is_ascii() || s.contains('"'));
        }
        // The text as given is the address itself exactly when it is its normal form.
        let rules = AddressRules { case_sensitive_local: case_sensitive };
        let normal = rules.parse_normal(ByteString::from(s));
        let plain = general.as_ref().is_ok_and(|a| a.as_str() == s) && !s.contains('"');
        proptest::prop_assert_eq!(normal.is_ok(), plain);
        if let Ok(a) = normal {
            proptest::prop_assert_eq!(Ok(&a), general.as_ref());
        }
        // Every way an address is made carries its key's hash, whichever path made it.
        for a in [general.as_ref().ok(), Address::parse_plain_ascii(s, case_sensitive).as_ref()]
            .into_iter()
            .flatten()
        {
            proptest::prop_assert_eq!(a.key_hash(), key_hash(a.as_str()));
            proptest::prop_assert_eq!(a.detached().key_hash(), a.key_hash());
        }
    }
}

#[cfg(target_arch = "x86_64")]
proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4_000))]

    /// The scan sixteen bytes at a time answers as the byte loop whenever it answers, and it
    /// answers for every valid address of its shape.
    #[test]
    fn the_wide_scan_agrees_with_the_byte_loop(
        raw in r#"[a-z.+]{0,3}@[a-z0-9.-]{0,12}|[a-zA-Z0-9._+@-]{0,70}|[a-zA-Z0-9._+-]{1,30}@[a-zA-Z0-9.-]{1,40}|[a-z0-9.!#_+-]{1,20}@[a-zA-Z0-9.é_-]{1,50}|[ -~é]{0,40}"#,
    ) {
        let bytes = Plain::scan_bytes(&raw);
        match Plain::scan_common(raw.as_bytes()) {
            Some(common) => proptest::prop_assert_eq!(Some(common), bytes),
            None => {
                let its_shape = raw.len() <= plain::COMMON_BYTES
                    && raw.matches('@').count() == 1
                    && raw
                        .split('@')
                        .next()
                        .is_some_and(|l| l.bytes().all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b)));
                proptest::prop_assert!(!(its_shape && bytes.is_some()), "missed {raw:?}");
            }
        }
    }
}

#[test]
fn equal_addresses_hash_alike_and_unequal_ones_compare_by_key() {
    use std::hash::BuildHasher;
    let hasher = foldhash::fast::RandomState::default();
    let (a, b) = (
        p("Taro@Contoso.com").unwrap(),
        p("taro@contoso.COM").unwrap(),
    );
    assert_eq!(a, b);
    assert_eq!(hasher.hash_one(&a), hasher.hash_one(&b));
    let c = p("hanako@contoso.com").unwrap();
    assert_ne!(a, c);
    assert_eq!(a.cmp(&c), a.as_str().cmp(c.as_str()));
}

#[test]
fn the_ascii_path_takes_the_common_addresses() {
    for a in [
        "Taro.Yamada@Contoso.COM",
        "a+tag@x-y.example.co.jp",
        "o'brien@ex.com",
    ] {
        assert!(Address::parse_plain_ascii(a, false).is_some(), "{a}");
    }
    for a in [
        "\"q\"@x.com",
        "a..b@x.com",
        "a@x",
        "a@-x.com",
        "a@x-.com",
        "太郎@x.com",
    ] {
        assert!(Address::parse_plain_ascii(a, false).is_none(), "{a}");
    }
}

#[test]
fn normalises_case_and_whitespace() {
    let a = p("  Taro.Yamada@Contoso.COM ").unwrap();
    assert_eq!(a.as_str(), "taro.yamada@contoso.com");
    assert_eq!(a.local(), "taro.yamada");
    assert_eq!(a.domain(), "contoso.com");
    let cs = AddressRules {
        case_sensitive_local: true,
    }
    .parse("Taro@Contoso.COM")
    .unwrap();
    assert_eq!(cs.as_str(), "Taro@contoso.com");
}

#[test]
fn accepts_utf8_and_quoted_local_parts() {
    assert_eq!(p("山田@例え.jp").unwrap().domain(), "例え.jp");
    assert!(p("\"john doe\"@contoso.com").is_ok());
    // Quotes that are not needed do not make another address.
    assert_eq!(
        p("\"Hanako.Sato\"@Contoso.com").unwrap().as_str(),
        "hanako.sato@contoso.com"
    );
    assert_eq!(p("\"a\\b\"@x.com").unwrap().as_str(), "ab@x.com");
    assert_eq!(
        p("\"john doe\"@contoso.com").unwrap().as_str(),
        "\"john doe\"@contoso.com"
    );
    assert_eq!(p("\"a..b\"@x.com").unwrap().local(), "\"a..b\"");
    assert!(p("a+tag@contoso.com").is_ok());
}

#[test]
fn rejects_malformed() {
    assert_eq!(p(""), Err(AddressError::Empty));
    assert_eq!(p("   "), Err(AddressError::Empty));
    assert_eq!(p("nobody"), Err(AddressError::MissingAt));
    assert_eq!(p("@contoso.com"), Err(AddressError::EmptyLocal));
    assert_eq!(p("a@"), Err(AddressError::EmptyDomain));
    assert_eq!(p("a..b@contoso.com"), Err(AddressError::BadDots));
    assert_eq!(p("a b@contoso.com"), Err(AddressError::BadLocalChar(' ')));
    assert_eq!(p("a@localhost"), Err(AddressError::DomainWithoutDot));
    assert!(matches!(
        p("a@-x.com"),
        Err(AddressError::BadDomainLabel(_))
    ));
    assert!(matches!(
        p("*)(objectClass=*@x.com"),
        Err(AddressError::BadLocalChar(')'))
    ));
    assert!(matches!(
        p("a\0b@x.com"),
        Err(AddressError::BadLocalChar('\0'))
    ));
    assert_eq!(
        p(&format!("{}@x.com", "a".repeat(65))),
        Err(AddressError::LocalTooLong)
    );
    let long = format!("a@{}.com", "b.".repeat(170));
    assert_eq!(p(&long), Err(AddressError::TooLong));
}

#[test]
fn domain_rules_match_on_dot_boundary() {
    assert!(domain_matches("contoso.com", "contoso.com", false));
    assert!(!domain_matches("sub.contoso.com", "contoso.com", false));
    assert!(domain_matches("sub.contoso.com", "contoso.com", true));
    assert!(!domain_matches("badcontoso.com", "contoso.com", true));
}
