//! One LDAP search result read into a domain [`Entry`] through the compiled [`Mapping`]:
//! the object's kind, addresses (with Active Directory's `smtp:` proxy prefixes), sizes,
//! automatic reply, custom tip (Exchange's `lang:text` translations), restrictions and
//! moderation. A value that does not parse is skipped with a warning, never a failure.

use std::collections::HashMap;
use std::sync::Arc;

use super::mapping::{Mapping, normalize_dn};
use super::time::parse_generalized_time;
use crate::domain::address::{Address, AddressRules};
use crate::domain::{
    AutoReply, CustomTip, Entry, EntryId, EntryKind, ExternalAudience, Moderation, Quota,
    Restrictions, SendFrom,
};

impl Mapping {
    /// Parses one search result into a domain entry; `None` when it has no usable address.
    /// Values that do not parse are skipped with a warning, never a failure.
    pub(crate) fn entry(
        &self,
        dn: &str,
        attrs: &HashMap<String, Vec<String>>,
        case: AddressRules,
    ) -> Option<Entry> {
        let attrs: HashMap<String, &Vec<String>> = attrs
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect();
        let get = |names: &[String]| -> Vec<&str> {
            names
                .iter()
                .filter_map(|n| attrs.get(&n.to_ascii_lowercase()))
                .flat_map(|v| v.iter().map(String::as_str))
                .collect()
        };
        let first = |names: &[String]| get(names).into_iter().next();
        let classes = get(&["objectClass".to_owned()]);
        let is = |list: &[String]| {
            classes
                .iter()
                .any(|c| list.iter().any(|l| l.eq_ignore_ascii_case(c)))
        };
        let kind = if is(&self.group_class) {
            EntryKind::Group
        } else if is(&self.contact_class) {
            EntryKind::Contact
        } else {
            EntryKind::Mailbox
        };
        let warn = |what: &str, value: &str| {
            // The value may be (part of) an address: only at debug, never at info and above.
            tracing::warn!(dn, attribute = what, "ignoring an unparsable value");
            tracing::debug!(dn, attribute = what, value, "the unparsable value");
        };
        let mut addresses: Vec<Address> = Vec::new();
        let mut primary = None;
        for raw in get(&self.primary_address) {
            match case.parse(raw) {
                Ok(a) => {
                    primary.get_or_insert_with(|| a.clone());
                    addresses.push(a);
                }
                Err(_) => warn("primary_address", raw),
            }
        }
        for raw in get(&self.proxy_addresses) {
            let value = match self.proxy_prefix {
                Some(p) => match raw.get(..p.len()) {
                    Some(head) if head.eq_ignore_ascii_case(p) => {
                        let rest = &raw[p.len()..];
                        if head.starts_with("SMTP") && primary.is_none() {
                            // Exchange marks the primary with upper-case SMTP:.
                            if let Ok(a) = case.parse(rest) {
                                primary = Some(a);
                            }
                        }
                        rest
                    }
                    // X500:, SIP: and other address types are not SMTP addresses.
                    _ => continue,
                },
                None => raw,
            };
            match case.parse(value) {
                Ok(a) => {
                    if !addresses.contains(&a) {
                        addresses.push(a);
                    }
                }
                Err(_) => warn("proxy_addresses", raw),
            }
        }
        let primary = primary.or_else(|| addresses.first().cloned())?;
        let mut e = Entry::new(normalize_dn(dn), kind, primary);
        for a in addresses {
            if !e.addresses.contains(&a) {
                e.addresses.push(a);
            }
        }
        e.display_name = first(&self.display_name).unwrap_or_default().into();
        let number = |key: &str, names: &[String]| -> Option<u64> {
            let raw = first(names)?;
            match raw.trim().parse::<u64>() {
                Ok(n) => Some(n),
                Err(_) => {
                    warn(key, raw);
                    None
                }
            }
        };
        let boolean = |key: &str, names: &[String]| -> Option<bool> {
            let raw = first(names)?;
            match raw.trim().to_ascii_uppercase().as_str() {
                "TRUE" => Some(true),
                "FALSE" => Some(false),
                _ => {
                    warn(key, raw);
                    None
                }
            }
        };
        let unit = self.size_unit;
        let size = |key: &str, names: &[String]| number(key, names).map(|n| n.saturating_mul(unit));
        if let Some(q) = size("quota", &self.quota) {
            e.quota = Some(Quota {
                prohibit_receive_bytes: q,
                usage_bytes: number("usage", &self.usage).unwrap_or(0),
                enforced: boolean("quota_enforced", &self.quota_enforced).unwrap_or(true),
            });
        }
        e.max_send_bytes = size("max_send_size", &self.max_send_size);
        e.max_receive_bytes = size("max_receive_size", &self.max_receive_size);
        let internal = first(&self.auto_reply_internal);
        let external = first(&self.auto_reply_external);
        let enabled = boolean("auto_reply_enabled", &self.auto_reply_enabled);
        if enabled.is_some() || internal.is_some() || external.is_some() {
            let time = |key: &str, names: &[String]| {
                let raw = first(names)?;
                let t = parse_generalized_time(raw);
                if t.is_none() {
                    warn(key, raw);
                }
                t
            };
            let audience = match first(&self.auto_reply_audience).map(str::to_ascii_lowercase) {
                Some(a) if a == "all" => ExternalAudience::All,
                Some(a) if a == "known" => ExternalAudience::Known,
                _ => ExternalAudience::None,
            };
            e.auto_reply = Some(Box::new(AutoReply {
                enabled: enabled.unwrap_or(true),
                internal_message: internal.unwrap_or_default().into(),
                external_message: external.unwrap_or_default().into(),
                external_audience: audience,
                start: time("auto_reply_start", &self.auto_reply_start),
                end: time("auto_reply_end", &self.auto_reply_end),
            }));
        }
        let tips = get(&self.custom_tip);
        if !tips.is_empty() {
            e.custom_tip = Some(Box::new(parse_custom_tip(&tips)));
        }
        let dns = |names: &[String]| -> Vec<EntryId> {
            get(names).into_iter().map(normalize_dn).collect()
        };
        e.restrictions = Restrictions {
            accept_only_from: dns(&self.accept_only_from),
            reject_from: dns(&self.reject_from),
            require_authenticated: boolean("require_authenticated", &self.require_authenticated)
                .unwrap_or(false),
        }
        .boxed();
        // Asked for only with `group_membership = "member-of"`: the direct groups, which the
        // lookup completes with those above them. Absent: not known here.
        let groups = dns(&self.member_of);
        if !groups.is_empty() {
            e.groups = Some(Arc::new(groups.into_iter().collect()));
        }
        e.send_as = dns(&self.send_as);
        e.send_on_behalf = dns(&self.send_on_behalf);
        let moderators = dns(&self.moderated_by);
        let moderation_enabled = boolean("moderation_enabled", &self.moderation_enabled);
        if moderation_enabled.is_some() || !moderators.is_empty() {
            e.moderation = Some(Box::new(Moderation {
                // Moderators without the flag: moderated, as a directory file's `moderation`
                // table (whose `enabled` defaults to true). An explicit false turns it off.
                enabled: moderation_enabled.unwrap_or(!moderators.is_empty()),
                moderators,
                // Filled by the backend, which resolves the moderators' addresses.
                moderator_addresses: Vec::new(),
                bypass: dns(&self.moderation_bypass),
            }));
        }
        if e.kind == EntryKind::Mailbox {
            let parse = |what: &str, raw: &str| {
                // AD writes ForwardingSmtpAddress as "smtp:user@example.net".
                let bare = match raw.get(..5) {
                    Some(p) if p.eq_ignore_ascii_case("smtp:") => &raw[5..],
                    _ => raw,
                };
                case.parse(bare).map_err(|_| warn(what, raw)).ok()
            };
            let gateways: Vec<Address> = get(&self.send_from_gateway)
                .into_iter()
                .filter_map(|raw| parse("send_from_gateway", raw))
                .collect();
            e.send_from = get(&self.send_from)
                .into_iter()
                .filter_map(|raw| parse("send_from", raw))
                .map(|address| SendFrom {
                    outbound_gateway: gateways.contains(&address),
                    address,
                })
                .collect();
            e.forwarding_address = first(&self.forwarding_address)
                .and_then(|raw| parse("forwarding_address", raw))
                .map(Box::new);
            // TRUE, or Exchange's RecipientTypeDetails: shared 4, room 16, equipment 32.
            e.shared = first(&self.shared).is_some_and(|raw| {
                let raw = raw.trim();
                match raw.parse::<u64>() {
                    Ok(n) => n & (4 | 16 | 32) != 0,
                    Err(_) => raw.eq_ignore_ascii_case("TRUE"),
                }
            });
        }
        Some(e)
    }
}

/// Exchange's translation format: `default:text` and `ja:text` values (language code
/// case-insensitive); a value without a known prefix is the default.
fn parse_custom_tip(values: &[&str]) -> CustomTip {
    let mut tip = CustomTip::default();
    for v in values {
        match v.split_once(':') {
            Some((lang, text)) if lang.eq_ignore_ascii_case("default") => {
                tip.default = text.into();
            }
            Some((lang, text))
                if lang.len() == 2 && lang.bytes().all(|b| b.is_ascii_alphabetic()) =>
            {
                tip.translations
                    .insert(lang.to_ascii_lowercase(), text.into());
            }
            _ => tip.default = (*v).into(),
        }
    }
    tip
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::ldap::config::Preset;

    #[test]
    fn parses_ad_entry() {
        let m = Mapping::preset(Preset::ActiveDirectory);
        let attrs: HashMap<String, Vec<String>> = [
            ("objectClass", vec!["top", "group"]),
            (
                "proxyAddresses",
                vec![
                    "X500:/o=Contoso",
                    "smtp:Alias@Contoso.com",
                    "SMTP:g@contoso.com",
                ],
            ),
            (
                "msExchSenderHintTranslations",
                vec!["default:Hi", "JA:やあ"],
            ),
            ("delivContLength", vec!["10240"]),
            ("authOrig", vec!["CN=A,DC=x"]),
            ("dLMemSubmitPerms", vec!["CN=G,DC=x"]),
            ("msExchEnableModeration", vec!["TRUE"]),
            ("msExchModeratedByLink", vec!["CN=M,DC=x"]),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.into_iter().map(String::from).collect()))
        .collect();
        let e = m.entry("CN=G,DC=x", &attrs, Default::default()).unwrap();
        assert_eq!(e.kind, EntryKind::Group);
        assert_eq!(e.primary.as_str(), "g@contoso.com");
        assert_eq!(e.addresses.len(), 2);
        assert_eq!(e.max_receive_bytes, Some(10 << 20));
        assert_eq!(e.custom_tip.as_ref().unwrap().translations["ja"], "やあ");
        assert_eq!(e.restrictions().accept_only_from.len(), 2);
        assert_eq!(&*e.moderation.unwrap().moderators[0], "cn=m,dc=x");
    }

    #[test]
    fn member_of_values_are_the_groups() {
        let m = Mapping::preset(Preset::Openldap);
        let mut a: HashMap<String, Vec<String>> = [
            ("objectClass", vec!["inetOrgPerson"]),
            ("mail", vec!["a@contoso.com"]),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.into_iter().map(String::from).collect()))
        .collect();
        let groups = |a: &HashMap<String, Vec<String>>| {
            m.entry("cn=A,dc=x", a, Default::default()).unwrap().groups
        };
        assert_eq!(groups(&a), None, "not returned: unknown, not none");
        a.insert(
            "memberof".into(),
            vec!["CN=G1,dc=x".into(), "cn=g2,dc=x".into()],
        );
        let g = groups(&a).unwrap();
        assert_eq!(g.len(), 2);
        assert!(g.contains("cn=g1,dc=x") && g.contains("cn=g2,dc=x"));
    }

    #[test]
    fn moderators_without_the_flag_moderate_as_in_the_file() {
        let m = Mapping::preset(Preset::Openldap);
        let attrs = |enabled: Option<&str>| -> HashMap<String, Vec<String>> {
            let mut a: HashMap<String, Vec<String>> = [
                ("objectClass", vec!["groupOfNames"]),
                ("mail", vec!["g@contoso.com"]),
                ("mailtipsModeratedBy", vec!["cn=M,dc=x"]),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.into_iter().map(String::from).collect()))
            .collect();
            if let Some(v) = enabled {
                a.insert("mailtipsModerationEnabled".into(), vec![v.into()]);
            }
            a
        };
        let enabled = |a| {
            m.entry("cn=G,dc=x", &a, Default::default())
                .unwrap()
                .moderation
                .unwrap()
                .enabled
        };
        assert!(enabled(attrs(None)));
        assert!(!enabled(attrs(Some("FALSE"))));
        assert!(enabled(attrs(Some("TRUE"))));
    }

    #[test]
    fn shared_mailboxes_from_either_preset() {
        let shared = |preset, attr: &str, value: &str| {
            let a: HashMap<String, Vec<String>> = [
                ("objectClass", vec!["top"]),
                ("mail", vec!["room@contoso.com"]),
                (attr, vec![value]),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.into_iter().map(String::from).collect()))
            .collect();
            Mapping::preset(preset)
                .entry("cn=R,dc=x", &a, Default::default())
                .unwrap()
                .shared
        };
        let ad = Preset::ActiveDirectory;
        assert!(shared(ad, "msExchRecipientTypeDetails", "4"));
        assert!(shared(ad, "msExchRecipientTypeDetails", "16"));
        assert!(!shared(ad, "msExchRecipientTypeDetails", "1"));
        assert!(shared(Preset::Openldap, "mailtipsShared", "TRUE"));
        assert!(!shared(Preset::Openldap, "mailtipsShared", "FALSE"));
    }
}
