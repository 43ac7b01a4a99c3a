//! The attribute mapping: which LDAP attributes hold which directory facts, for the two presets
//! (`openldap`, `active-directory`) with per-attribute overrides, compiled once at start-up into
//! the attribute list and filter pieces every search reuses; and entry ids for DNs. Reading an
//! entry through the mapping is in `entry.rs`.

use std::collections::BTreeMap;
use std::sync::Arc;

use ldap3::ldap_escape;

use super::config::{AttributeNames, Preset};
use crate::domain::EntryId;

/// Why a mapping was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error("unknown attribute key {0:?} (see docs/ldap.md for the keys)")]
    UnknownKey(String),
    #[error("{key}: {name:?} is not an attribute name (letters, digits, '-', or an OID)")]
    BadName { key: String, name: String },
    #[error("{0}: needs at least one attribute name")]
    Empty(String),
}

/// Every logical attribute with its LDAP names, in the order the names are tried. Lists may
/// hold several names (AD keeps people and groups of an accept list in two attributes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub(crate) preset: Preset,
    /// Object class that makes an entry a group (`groupOfNames`, `group`).
    pub(crate) group_class: Vec<String>,
    /// Object class that makes an entry a mail contact (`mailtipsContact`, `contact`).
    pub(crate) contact_class: Vec<String>,
    pub(crate) display_name: Vec<String>,
    pub(crate) primary_address: Vec<String>,
    pub(crate) proxy_addresses: Vec<String>,
    pub(crate) quota: Vec<String>,
    pub(crate) usage: Vec<String>,
    pub(crate) quota_enforced: Vec<String>,
    pub(crate) max_send_size: Vec<String>,
    pub(crate) max_receive_size: Vec<String>,
    pub(crate) auto_reply_enabled: Vec<String>,
    pub(crate) auto_reply_internal: Vec<String>,
    pub(crate) auto_reply_external: Vec<String>,
    pub(crate) auto_reply_audience: Vec<String>,
    pub(crate) auto_reply_start: Vec<String>,
    pub(crate) auto_reply_end: Vec<String>,
    pub(crate) custom_tip: Vec<String>,
    /// Accept-only-from lists: people/contacts in the first name, groups in the second (AD's
    /// `authOrig` / `dLMemSubmitPerms`); any name is read.
    pub(crate) accept_only_from: Vec<String>,
    pub(crate) reject_from: Vec<String>,
    pub(crate) require_authenticated: Vec<String>,
    pub(crate) moderation_enabled: Vec<String>,
    pub(crate) moderated_by: Vec<String>,
    pub(crate) moderation_bypass: Vec<String>,
    /// Who may send as the object (sender authorization). AD keeps send-as in the object's
    /// ACL (the Send As extended right), not in an attribute: the AD preset reads
    /// `mailtipsSendAs`, filled by a sync job, and the key can name another attribute.
    pub(crate) send_as: Vec<String>,
    /// Who may send on the object's behalf (AD's `publicDelegates`).
    pub(crate) send_on_behalf: Vec<String>,
    pub(crate) member: Vec<String>,
    pub(crate) member_count: Vec<String>,
    pub(crate) external_member_count: Vec<String>,
    /// The groups an object is in, nested ones included, read with the object when
    /// `group_membership = "member-of"` (OpenLDAP's dynlist `memberOf`).
    pub(crate) member_of: Vec<String>,
    // Beyond Exchange.
    /// A mailbox's send-from addresses in other domains; a lookup matches them too (index the
    /// attribute), so the sender's object is found by one. An empty list turns them off.
    pub(crate) send_from: Vec<String>,
    /// The send-from addresses (a subset) that leave through their own outbound gateway.
    pub(crate) send_from_gateway: Vec<String>,
    /// Where a mailbox forwards its mail (an `smtp:` prefix is dropped).
    pub(crate) forwarding_address: Vec<String>,
    /// A shared, room or equipment mailbox: `TRUE`, or Exchange's RecipientTypeDetails number
    /// (shared 4, room 16, equipment 32).
    pub(crate) shared: Vec<String>,
    /// Prefix of SMTP proxy addresses (`smtp:` for AD's `proxyAddresses`, matched
    /// case-insensitively; `SMTP:` marks the primary). Fixed by the preset.
    pub(crate) proxy_prefix: Option<&'static str>,
    /// The attribute a filter names an object's DN by (`entryDN` in OpenLDAP,
    /// `distinguishedName` in AD): many objects by DN in one search. Fixed by the preset.
    pub(crate) dn_attribute: &'static str,
    /// Bytes per unit of quota and size attributes (AD stores KB).
    pub(crate) size_unit: u64,
    /// Attributes a lookup asks for: computed once.
    pub(crate) lookup_attrs: Vec<String>,
}

const KEYS: [&str; 33] = [
    "group_class",
    "contact_class",
    "display_name",
    "primary_address",
    "proxy_addresses",
    "quota",
    "usage",
    "quota_enforced",
    "max_send_size",
    "max_receive_size",
    "auto_reply_enabled",
    "auto_reply_internal",
    "auto_reply_external",
    "auto_reply_audience",
    "auto_reply_start",
    "auto_reply_end",
    "custom_tip",
    "accept_only_from",
    "reject_from",
    "require_authenticated",
    "moderation_enabled",
    "moderated_by",
    "moderation_bypass",
    "send_as",
    "send_on_behalf",
    "member",
    "member_count",
    "external_member_count",
    "member_of",
    "send_from",
    "send_from_gateway",
    "forwarding_address",
    "shared",
];

fn v(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

impl Mapping {
    /// The preset's names, with no overrides.
    pub fn preset(preset: Preset) -> Self {
        let mut m = match preset {
            Preset::Openldap => Mapping {
                preset,
                group_class: v(&["groupOfNames"]),
                contact_class: v(&["mailtipsContact"]),
                display_name: v(&["displayName", "cn"]),
                primary_address: v(&["mail"]),
                proxy_addresses: v(&["mailtipsProxyAddress"]),
                quota: v(&["mailtipsProhibitReceiveQuota"]),
                usage: v(&["mailtipsMailboxUsage"]),
                quota_enforced: v(&["mailtipsQuotaEnforced"]),
                max_send_size: v(&["mailtipsMaxSendSize"]),
                max_receive_size: v(&["mailtipsMaxReceiveSize"]),
                auto_reply_enabled: v(&["mailtipsAutoReplyEnabled"]),
                auto_reply_internal: v(&["mailtipsAutoReplyInternal"]),
                auto_reply_external: v(&["mailtipsAutoReplyExternal"]),
                auto_reply_audience: v(&["mailtipsAutoReplyAudience"]),
                auto_reply_start: v(&["mailtipsAutoReplyStart"]),
                auto_reply_end: v(&["mailtipsAutoReplyEnd"]),
                custom_tip: v(&["mailtipsCustomTip"]),
                accept_only_from: v(&["mailtipsAcceptOnlyFrom"]),
                reject_from: v(&["mailtipsRejectFrom"]),
                require_authenticated: v(&["mailtipsRequireAuthenticatedSenders"]),
                moderation_enabled: v(&["mailtipsModerationEnabled"]),
                moderated_by: v(&["mailtipsModeratedBy"]),
                moderation_bypass: v(&["mailtipsModerationBypass"]),
                send_as: v(&["mailtipsSendAs"]),
                send_on_behalf: v(&["mailtipsSendOnBehalf"]),
                member: v(&["member"]),
                member_count: v(&["mailtipsGroupMemberCount"]),
                external_member_count: v(&["mailtipsGroupExternalMemberCount"]),
                member_of: v(&["memberOf"]),
                send_from: v(&["mailtipsSendFrom"]),
                send_from_gateway: v(&["mailtipsSendFromGateway"]),
                forwarding_address: v(&["mailtipsForwardingAddress"]),
                shared: v(&["mailtipsShared"]),
                proxy_prefix: None,
                dn_attribute: "entryDN",
                size_unit: 1,
                lookup_attrs: Vec::new(),
            },
            Preset::ActiveDirectory => Mapping {
                preset,
                group_class: v(&["group"]),
                contact_class: v(&["contact"]),
                display_name: v(&["displayName", "cn"]),
                primary_address: v(&["mail"]),
                proxy_addresses: v(&["proxyAddresses"]),
                quota: v(&["mDBOverHardQuotaLimit"]),
                // Not in AD (usage lives in the mailbox database): a sync job fills it.
                usage: v(&["mailtipsMailboxUsage"]),
                quota_enforced: Vec::new(),
                max_send_size: v(&["submissionContLength"]),
                max_receive_size: v(&["delivContLength"]),
                // Not in AD either (automatic replies live in the mailbox).
                auto_reply_enabled: v(&["mailtipsAutoReplyEnabled"]),
                auto_reply_internal: v(&["mailtipsAutoReplyInternal"]),
                auto_reply_external: v(&["mailtipsAutoReplyExternal"]),
                auto_reply_audience: v(&["mailtipsAutoReplyAudience"]),
                auto_reply_start: v(&["mailtipsAutoReplyStart"]),
                auto_reply_end: v(&["mailtipsAutoReplyEnd"]),
                custom_tip: v(&["msExchSenderHintTranslations"]),
                accept_only_from: v(&["authOrig", "dLMemSubmitPerms"]),
                reject_from: v(&["unauthOrig", "dLMemRejectPerms"]),
                require_authenticated: v(&["msExchRequireAuthToSendTo"]),
                moderation_enabled: v(&["msExchEnableModeration"]),
                moderated_by: v(&["msExchModeratedByLink"]),
                moderation_bypass: v(&["msExchBypassModerationLink"]),
                // Not an attribute in AD (an ACL right): a sync job fills it.
                send_as: v(&["mailtipsSendAs"]),
                send_on_behalf: v(&["publicDelegates"]),
                member: v(&["member"]),
                member_count: v(&["msExchGroupMemberCount"]),
                external_member_count: v(&["msExchGroupExternalMemberCount"]),
                // AD's own memberOf lists direct groups only: for `member-of`, name a
                // transitive attribute; `in-chain` is AD's way.
                member_of: v(&["memberOf"]),
                // AD has no send-from list: two of Exchange's multi-valued extension
                // attributes hold it (override them to taste).
                send_from: v(&["msExchExtensionCustomAttribute1"]),
                send_from_gateway: v(&["msExchExtensionCustomAttribute2"]),
                // ForwardingSmtpAddress ("smtp:user@example.net"); Exchange's other forwarding,
                // altRecipient, names a contact's DN and would need a second lookup.
                forwarding_address: v(&["msExchGenericForwardingAddress"]),
                shared: v(&["msExchRecipientTypeDetails"]),
                proxy_prefix: Some("smtp:"),
                dn_attribute: "distinguishedName",
                size_unit: 1024,
                lookup_attrs: Vec::new(),
            },
        };
        m.lookup_attrs = m.compute_lookup_attrs();
        m
    }

    fn slot(&mut self, key: &str) -> Option<&mut Vec<String>> {
        Some(match key {
            "group_class" => &mut self.group_class,
            "contact_class" => &mut self.contact_class,
            "display_name" => &mut self.display_name,
            "primary_address" => &mut self.primary_address,
            "proxy_addresses" => &mut self.proxy_addresses,
            "quota" => &mut self.quota,
            "usage" => &mut self.usage,
            "quota_enforced" => &mut self.quota_enforced,
            "max_send_size" => &mut self.max_send_size,
            "max_receive_size" => &mut self.max_receive_size,
            "auto_reply_enabled" => &mut self.auto_reply_enabled,
            "auto_reply_internal" => &mut self.auto_reply_internal,
            "auto_reply_external" => &mut self.auto_reply_external,
            "auto_reply_audience" => &mut self.auto_reply_audience,
            "auto_reply_start" => &mut self.auto_reply_start,
            "auto_reply_end" => &mut self.auto_reply_end,
            "custom_tip" => &mut self.custom_tip,
            "accept_only_from" => &mut self.accept_only_from,
            "reject_from" => &mut self.reject_from,
            "require_authenticated" => &mut self.require_authenticated,
            "moderation_enabled" => &mut self.moderation_enabled,
            "moderated_by" => &mut self.moderated_by,
            "moderation_bypass" => &mut self.moderation_bypass,
            "send_as" => &mut self.send_as,
            "send_on_behalf" => &mut self.send_on_behalf,
            "member" => &mut self.member,
            "member_count" => &mut self.member_count,
            "external_member_count" => &mut self.external_member_count,
            "member_of" => &mut self.member_of,
            "send_from" => &mut self.send_from,
            "send_from_gateway" => &mut self.send_from_gateway,
            "forwarding_address" => &mut self.forwarding_address,
            "shared" => &mut self.shared,
            _ => return None,
        })
    }

    /// The preset with `overrides` applied, checked: unknown keys and names that are not
    /// attribute descriptions are refused.
    ///
    /// # Errors
    /// [`MappingError`] naming the key.
    pub(crate) fn compile(
        preset: Preset,
        overrides: &BTreeMap<String, AttributeNames>,
    ) -> Result<Self, MappingError> {
        let mut m = Self::preset(preset);
        for (key, names) in overrides {
            let names = names.to_vec();
            for name in &names {
                if !is_attribute_name(name) {
                    return Err(MappingError::BadName {
                        key: key.clone(),
                        name: name.clone(),
                    });
                }
            }
            let slot = m
                .slot(key)
                .ok_or_else(|| MappingError::UnknownKey(key.clone()))?;
            *slot = names;
        }
        for key in ["group_class", "contact_class", "primary_address", "member"] {
            if m.slot(key).is_some_and(|s| s.is_empty()) {
                return Err(MappingError::Empty(key.to_owned()));
            }
        }
        debug_assert!(KEYS.iter().all(|k| m.slot(k).is_some()));
        m.lookup_attrs = m.compute_lookup_attrs();
        Ok(m)
    }

    fn compute_lookup_attrs(&self) -> Vec<String> {
        let mut attrs = vec!["objectClass".to_owned()];
        let lists = [
            &self.display_name,
            &self.primary_address,
            &self.proxy_addresses,
            &self.quota,
            &self.usage,
            &self.quota_enforced,
            &self.max_send_size,
            &self.max_receive_size,
            &self.auto_reply_enabled,
            &self.auto_reply_internal,
            &self.auto_reply_external,
            &self.auto_reply_audience,
            &self.auto_reply_start,
            &self.auto_reply_end,
            &self.custom_tip,
            &self.accept_only_from,
            &self.reject_from,
            &self.require_authenticated,
            &self.moderation_enabled,
            &self.moderated_by,
            &self.moderation_bypass,
            &self.send_from,
            &self.send_from_gateway,
            &self.forwarding_address,
            &self.shared,
            &self.send_as,
            &self.send_on_behalf,
        ];
        for name in lists.into_iter().flatten() {
            if !attrs.iter().any(|a| a.eq_ignore_ascii_case(name)) {
                attrs.push(name.clone());
            }
        }
        attrs
    }

    /// The filter terms matching `address` as a primary, proxy or send-from address. The address is
    /// escaped (RFC 4515) as a whole: local part and domain.
    fn address_terms(&self, address: &str, out: &mut String) {
        let escaped = ldap_escape(address);
        for a in &self.primary_address {
            out.push('(');
            out.push_str(a);
            out.push('=');
            out.push_str(&escaped);
            out.push(')');
        }
        for a in &self.proxy_addresses {
            out.push('(');
            out.push_str(a);
            out.push('=');
            if let Some(p) = self.proxy_prefix {
                out.push_str(p);
            }
            out.push_str(&escaped);
            out.push(')');
        }
        for a in &self.send_from {
            out.push('(');
            out.push_str(a);
            out.push('=');
            out.push_str(&escaped);
            out.push(')');
        }
    }

    /// The one search filter for a chunk of a draft's addresses: an OR over every address's
    /// primary and proxy terms, each address escaped.
    pub fn lookup_filter(&self, chunk: &[&crate::domain::address::Address]) -> String {
        let mut filter = String::with_capacity(chunk.len() * 80 + 3);
        filter.push_str("(|");
        for a in chunk {
            self.address_terms(a.as_str(), &mut filter);
        }
        filter.push(')');
        filter
    }

    /// One filter for many objects by DN: `(|(entryDN=dn)…)` (AD: `distinguishedName`), each
    /// DN escaped.
    pub(crate) fn dn_filter(&self, dns: &[EntryId]) -> String {
        let mut f = String::with_capacity(dns.len() * 64 + 3);
        f.push_str("(|");
        for dn in dns {
            f.push('(');
            f.push_str(self.dn_attribute);
            f.push('=');
            f.push_str(&ldap_escape(&**dn));
            f.push(')');
        }
        f.push(')');
        f
    }

    /// The groups holding `dn` at any depth, in one search: Active Directory's in-chain
    /// matching rule (LDAP_MATCHING_RULE_IN_CHAIN) on every member attribute, the DN escaped.
    pub(crate) fn in_chain_filter(&self, dn: &str) -> String {
        let dn = ldap_escape(dn);
        let mut f = format!("(&{}(|", Self::class_filter(&self.group_class));
        for attr in &self.member {
            f.push_str(&format!("({attr}:1.2.840.113556.1.4.1941:={dn})"));
        }
        f.push_str("))");
        f
    }

    /// `(|(objectClass=a)(objectClass=b))` for a list of classes.
    pub(crate) fn class_filter(classes: &[String]) -> String {
        let mut f = String::from("(|");
        for c in classes {
            f.push_str("(objectClass=");
            f.push_str(&ldap_escape(c.as_str()));
            f.push(')');
        }
        f.push(')');
        f
    }
}

/// An entry id for a DN: lower-cased, so that a DN read from a `member` value and the same DN
/// read as an entry's name compare equal (the attributes used in DNs match case-insensitively).
pub fn normalize_dn(dn: &str) -> EntryId {
    Arc::from(dn.trim().to_lowercase().as_str())
}

fn is_attribute_name(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() => s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ';'),
        Some(c) if c.is_ascii_digit() => s.chars().all(|c| c.is_ascii_digit() || c == '.'),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_are_checked() {
        let mut o = BTreeMap::new();
        o.insert(
            "primary_address".to_owned(),
            AttributeNames::One("userPrincipalName".into()),
        );
        let m = Mapping::compile(Preset::ActiveDirectory, &o).unwrap();
        assert_eq!(m.primary_address, vec!["userPrincipalName"]);
        assert!(m.lookup_attrs.contains(&"userPrincipalName".to_owned()));
        assert!(!m.lookup_attrs.contains(&"member".to_owned()));
        o.insert("qouta".to_owned(), AttributeNames::One("x".into()));
        assert_eq!(
            Mapping::compile(Preset::Openldap, &o),
            Err(MappingError::UnknownKey("qouta".into()))
        );
        let mut bad = BTreeMap::new();
        bad.insert(
            "mail".to_owned(),
            AttributeNames::One("mail)(objectClass=*".into()),
        );
        bad.insert(
            "primary_address".to_owned(),
            AttributeNames::One("mail)(objectClass=*".into()),
        );
        assert!(matches!(
            Mapping::compile(Preset::Openldap, &bad),
            Err(MappingError::BadName { .. })
        ));
        let mut empty = BTreeMap::new();
        empty.insert("member".to_owned(), AttributeNames::Many(vec![]));
        assert!(Mapping::compile(Preset::Openldap, &empty).is_err());
    }

    #[test]
    fn dn_and_in_chain_filters_escape_the_dn() {
        let ad = Mapping::preset(Preset::ActiveDirectory);
        let dn: EntryId = Arc::from("cn=a*)(b\\,dc=x");
        assert_eq!(
            ad.in_chain_filter(&dn),
            "(&(|(objectClass=group))(|(member:1.2.840.113556.1.4.1941:=cn=a\\2a\\29\\28b\\5c,dc=x)))"
        );
        assert_eq!(
            ad.dn_filter(&[dn.clone(), Arc::from("cn=m,dc=x")]),
            "(|(distinguishedName=cn=a\\2a\\29\\28b\\5c,dc=x)(distinguishedName=cn=m,dc=x))"
        );
        let ol = Mapping::preset(Preset::Openldap);
        assert_eq!(
            ol.dn_filter(&[dn]),
            "(|(entryDN=cn=a\\2a\\29\\28b\\5c,dc=x))"
        );
    }

    #[test]
    fn filter_terms_escape_everything() {
        let m = Mapping::preset(Preset::ActiveDirectory);
        let mut f = String::new();
        m.address_terms("\"*)(a\\\"@x.com", &mut f);
        assert_eq!(
            f,
            "(mail=\"\\2a\\29\\28a\\5c\"@x.com)(proxyAddresses=smtp:\"\\2a\\29\\28a\\5c\"@x.com)(msExchExtensionCustomAttribute1=\"\\2a\\29\\28a\\5c\"@x.com)"
        );
    }
}
