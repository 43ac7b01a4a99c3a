//! `mailtips export-ldif`: an embedded directory file as LDIF for either preset, so the same
//! organisation (the demo, a test fixture) can be loaded into `slapd` with `slapadd`/`ldapadd`.
//!
//! Layout under the base DN: `ou=people` (mailboxes), `ou=groups`, `ou=contacts`; each object
//! is `cn=<primary address>` (RFC 4514-escaped). A group member that is only an address (a
//! one-off external member in the file) becomes a contact, since LDAP groups list DNs. An
//! empty group lists itself, as `groupOfNames` needs a member (counted as no one).

use std::collections::HashMap;
use std::fmt::Write as _;

use ldap3::dn_escape;

use super::config::Preset;
use super::mapping::Mapping;
use super::time::format_generalized_time;
use crate::directory::file::Snapshot;
use crate::domain::Member;
use crate::domain::{Entry, EntryId, EntryKind, ExternalAudience};

/// Why an export was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LdifError {
    #[error("base DN {0:?} must start with dc=, o= or ou=")]
    BaseDn(String),
}

/// Writes one `attr: value` line, base64 when LDIF needs it (RFC 2849).
fn line(out: &mut String, attr: &str, value: &str) {
    let safe = !value.is_empty()
        && value.bytes().all(|b| (0x20..0x7f).contains(&b))
        && !value.starts_with([' ', ':', '<'])
        && !value.ends_with(' ');
    if safe || value.is_empty() {
        let _ = writeln!(out, "{attr}: {value}");
    } else {
        let _ = writeln!(out, "{attr}:: {}", base64(value.as_bytes()));
    }
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                s.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// The DN of an exported object.
fn dn_for(kind: EntryKind, address: &str, base: &str) -> String {
    let ou = match kind {
        EntryKind::Mailbox => "people",
        EntryKind::Group => "groups",
        EntryKind::Contact => "contacts",
    };
    format!("cn={},ou={ou},{base}", dn_escape(address))
}

/// The whole directory as LDIF, base and organisational units included.
///
/// # Errors
/// [`LdifError`] for a base DN it cannot create.
pub fn export(snapshot: &Snapshot, preset: Preset, base: &str) -> Result<String, LdifError> {
    export_with(snapshot, preset, base, false)
}

/// [`export`], and with `member_of` each object's direct groups as `memberOf` values too: what
/// OpenLDAP's memberof overlay would store, for `slapadd`, which bypasses overlays.
///
/// # Errors
/// [`LdifError`] for a base DN it cannot create.
pub fn export_with(
    snapshot: &Snapshot,
    preset: Preset,
    base: &str,
    member_of: bool,
) -> Result<String, LdifError> {
    let m = Mapping::preset(preset);
    let mut out = String::new();
    let (rdn_attr, rdn_value) = base
        .split(',')
        .next()
        .and_then(|rdn| rdn.split_once('='))
        .map(|(a, v)| (a.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .ok_or_else(|| LdifError::BaseDn(base.to_owned()))?;
    let _ = writeln!(out, "dn: {base}");
    match rdn_attr.as_str() {
        "dc" => {
            out.push_str("objectClass: top\nobjectClass: dcObject\nobjectClass: organization\n");
            line(&mut out, "dc", &rdn_value);
            line(&mut out, "o", &rdn_value);
        }
        "o" => {
            out.push_str("objectClass: top\nobjectClass: organization\n");
            line(&mut out, "o", &rdn_value);
        }
        "ou" => {
            out.push_str("objectClass: top\nobjectClass: organizationalUnit\n");
            line(&mut out, "ou", &rdn_value);
        }
        _ => return Err(LdifError::BaseDn(base.to_owned())),
    }
    out.push('\n');
    for ou in ["people", "groups", "contacts"] {
        let _ = writeln!(
            out,
            "dn: ou={ou},{base}\nobjectClass: top\nobjectClass: organizationalUnit\nou: {ou}\n"
        );
    }

    let entries = snapshot.entries();
    let mut dns: HashMap<EntryId, String> = entries
        .iter()
        .map(|e| (e.id.clone(), dn_for(e.kind, e.primary.as_str(), base)))
        .collect();
    let members: HashMap<&EntryId, &Vec<Member>> = snapshot
        .graph()
        .groups
        .iter()
        .map(|(g, m)| (g, m))
        .collect();
    // One-off external members become contacts.
    let mut one_offs: Vec<&str> = Vec::new();
    for list in members.values() {
        for member in list.iter() {
            if let Member::External(a) = member
                && !one_offs.contains(&&**a)
                && !dns.contains_key(&**a)
            {
                one_offs.push(a);
            }
        }
    }
    one_offs.sort_unstable();
    for a in &one_offs {
        dns.insert(EntryId::from(*a), dn_for(EntryKind::Contact, a, base));
    }
    let kinds: HashMap<&EntryId, EntryKind> = entries.iter().map(|e| (&e.id, e.kind)).collect();
    // Direct groups by member, as the member values below are written.
    let mut groups_of: HashMap<EntryId, Vec<&str>> = HashMap::new();
    if member_of {
        for (g, list) in &members {
            let group_dn = dns[*g].as_str();
            if list.is_empty() {
                groups_of.entry((*g).clone()).or_default().push(group_dn);
            }
            for member in list.iter() {
                let id = match member {
                    Member::Entry(id, _) => id.clone(),
                    Member::External(a) => EntryId::from(&**a),
                };
                groups_of.entry(id).or_default().push(group_dn);
            }
        }
        for list in groups_of.values_mut() {
            list.sort_unstable();
            list.dedup();
        }
    }
    let groups = |id: &EntryId| groups_of.get(id).map(Vec::as_slice).unwrap_or_default();
    for e in &entries {
        write_entry(&mut out, &m, e, &dns, &kinds, members.get(&e.id).copied());
        write_groups(&mut out, &m, groups(&e.id));
    }
    for a in one_offs {
        let mut c = Entry::new(
            EntryId::from(a),
            EntryKind::Contact,
            crate::domain::address::Address::parse(a).expect("parsed when the file loaded"),
        );
        c.display_name = a.into();
        write_entry(&mut out, &m, &c, &dns, &kinds, None);
        write_groups(&mut out, &m, groups(&c.id));
    }
    Ok(out)
}

/// The `memberOf` lines of the entry just written, and the blank line that ends it.
fn write_groups(out: &mut String, m: &Mapping, groups: &[&str]) {
    for g in groups {
        line(out, &m.member_of[0], g);
    }
    out.push('\n');
}

fn write_entry(
    out: &mut String,
    m: &Mapping,
    e: &Entry,
    dns: &HashMap<EntryId, String>,
    kinds: &HashMap<&EntryId, EntryKind>,
    members: Option<&Vec<Member>>,
) {
    let ad = m.preset == Preset::ActiveDirectory;
    let dn = &dns[&e.id];
    let _ = writeln!(out, "dn: {dn}");
    let classes: &[&str] = match (e.kind, ad) {
        (EntryKind::Mailbox, false) => &["inetOrgPerson", "mailtipsRecipient", "mailtipsMailbox"],
        (EntryKind::Group, false) => &["groupOfNames", "mailtipsRecipient", "mailtipsGroup"],
        (EntryKind::Contact, false) => &["inetOrgPerson", "mailtipsRecipient", "mailtipsContact"],
        (EntryKind::Mailbox, true) => &["user", "mailtipsMailbox"],
        (EntryKind::Group, true) => &["group"],
        (EntryKind::Contact, true) => &["contact"],
    };
    line(out, "objectClass", "top");
    for c in classes {
        line(out, "objectClass", c);
    }
    let name = if e.display_name.is_empty() {
        e.primary.as_str()
    } else {
        e.display_name.as_str()
    };
    line(out, "cn", e.primary.as_str());
    if e.kind != EntryKind::Group {
        line(out, "sn", name);
    }
    line(out, "displayName", name);
    let first = |names: &[String]| names.first().cloned();
    line(out, &m.primary_address[0], e.primary.as_str());
    if let Some(attr) = first(&m.proxy_addresses) {
        for a in &e.addresses {
            if ad {
                let prefix = if *a == e.primary { "SMTP:" } else { "smtp:" };
                line(out, &attr, &format!("{prefix}{}", a.as_str()));
            } else if *a != e.primary {
                line(out, &attr, a.as_str());
            }
        }
    }
    let size = |out: &mut String, names: &[String], bytes: u64| {
        if let Some(attr) = names.first() {
            line(out, attr, &bytes.div_ceil(m.size_unit).to_string());
        }
    };
    if let Some(q) = &e.quota {
        size(out, &m.quota, q.prohibit_receive_bytes);
        if let Some(attr) = first(&m.usage) {
            line(out, &attr, &q.usage_bytes.to_string());
        }
        if let Some(attr) = first(&m.quota_enforced) {
            line(out, &attr, if q.enforced { "TRUE" } else { "FALSE" });
        }
    }
    if let Some(b) = e.max_send_bytes {
        size(out, &m.max_send_size, b);
    }
    if let Some(b) = e.max_receive_bytes {
        size(out, &m.max_receive_size, b);
    }
    if let Some(ar) = &e.auto_reply {
        let mut put = |names: &[String], v: &str| {
            if let (Some(attr), false) = (names.first(), v.is_empty()) {
                line(out, attr, v);
            }
        };
        put(
            &m.auto_reply_enabled,
            if ar.enabled { "TRUE" } else { "FALSE" },
        );
        put(&m.auto_reply_internal, &ar.internal_message);
        put(&m.auto_reply_external, &ar.external_message);
        put(
            &m.auto_reply_audience,
            match ar.external_audience {
                ExternalAudience::None => "none",
                ExternalAudience::Known => "known",
                ExternalAudience::All => "all",
            },
        );
        if let Some(t) = ar.start {
            put(&m.auto_reply_start, &format_generalized_time(t));
        }
        if let Some(t) = ar.end {
            put(&m.auto_reply_end, &format_generalized_time(t));
        }
    }
    if let (Some(tip), Some(attr)) = (&e.custom_tip, first(&m.custom_tip)) {
        if !tip.default.is_empty() {
            line(out, &attr, &format!("default:{}", tip.default));
        }
        let mut langs: Vec<_> = tip.translations.iter().collect();
        langs.sort_by(|a, b| a.0.cmp(b.0));
        for (lang, text) in langs {
            line(out, &attr, &format!("{lang}:{text}"));
        }
    }
    // People and contacts in the first attribute of a list, groups in the second when the
    // preset has one (AD: authOrig / dLMemSubmitPerms).
    let dn_list = |out: &mut String, names: &[String], ids: &[EntryId]| {
        for id in ids {
            let is_group = kinds.get(id) == Some(&EntryKind::Group);
            let attr = match (names.first(), names.get(1)) {
                (_, Some(g)) if is_group => g,
                (Some(p), _) => p,
                _ => return,
            };
            line(out, attr, &dns[id]);
        }
    };
    dn_list(out, &m.accept_only_from, &e.restrictions().accept_only_from);
    dn_list(out, &m.reject_from, &e.restrictions().reject_from);
    dn_list(out, &m.send_as[..m.send_as.len().min(1)], &e.send_as);
    dn_list(
        out,
        &m.send_on_behalf[..m.send_on_behalf.len().min(1)],
        &e.send_on_behalf,
    );
    if e.restrictions().require_authenticated
        && let Some(attr) = first(&m.require_authenticated)
    {
        line(out, &attr, "TRUE");
    }
    if let Some(mo) = &e.moderation {
        if let Some(attr) = first(&m.moderation_enabled) {
            line(out, &attr, if mo.enabled { "TRUE" } else { "FALSE" });
        }
        dn_list(out, &m.moderated_by, &mo.moderators);
        dn_list(out, &m.moderation_bypass, &mo.bypass);
    }
    // Beyond Exchange: send-from addresses and forwarding.
    if let Some(attr) = first(&m.send_from) {
        for sf in &e.send_from {
            line(out, &attr, sf.address.as_str());
        }
    }
    if let Some(attr) = first(&m.send_from_gateway) {
        for sf in e.send_from.iter().filter(|s| s.outbound_gateway) {
            line(out, &attr, sf.address.as_str());
        }
    }
    if let (Some(f), Some(attr)) = (&e.forwarding_address, first(&m.forwarding_address)) {
        let prefix = if ad { "smtp:" } else { "" };
        line(out, &attr, &format!("{prefix}{}", f.as_str()));
    }
    if let (true, Some(attr)) = (e.shared, first(&m.shared)) {
        // AD: RecipientTypeDetails SharedMailbox.
        line(out, &attr, if ad { "4" } else { "TRUE" });
    }
    if let Some(members) = members {
        let attr = &m.member[0];
        if members.is_empty() {
            line(out, attr, dn);
        }
        for member in members {
            let id = match member {
                Member::Entry(id, _) => id.clone(),
                Member::External(a) => EntryId::from(&**a),
            };
            line(out, attr, &dns[&id]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::file::DEMO_DIRECTORY;

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn demo_exports_for_both_presets() {
        let snap = Snapshot::parse(DEMO_DIRECTORY, "demo", Default::default()).unwrap();
        let ol = export(&snap, Preset::Openldap, "dc=contoso,dc=com").unwrap();
        assert!(ol.contains("dn: cn=board@contoso.com,ou=people,dc=contoso,dc=com\n"));
        assert!(ol.contains(
            "mailtipsAcceptOnlyFrom: cn=executives@contoso.com,ou=groups,dc=contoso,dc=com\n"
        ));
        // The one-off external member became a contact.
        assert!(ol.contains("dn: cn=mei.chen@supplier.example,ou=contacts,dc=contoso,dc=com\n"));
        let ad = export(&snap, Preset::ActiveDirectory, "dc=contoso,dc=com").unwrap();
        assert!(ad.contains("proxyAddresses: SMTP:taro.yamada@contoso.com\n"));
        assert!(ad.contains("proxyAddresses: smtp:taro@contoso.com\n"));
        assert!(
            ad.contains(
                "dLMemSubmitPerms: cn=executives@contoso.com,ou=groups,dc=contoso,dc=com\n"
            )
        );
        assert!(ad.contains("msExchRequireAuthToSendTo: TRUE\n"));
        // Beyond Exchange: send-from addresses and forwarding, in both presets.
        assert!(ol.contains("mailtipsSendFrom: taro.yamada@tailspin.example\n"));
        assert!(ol.contains("mailtipsSendFromGateway: taro@northwind.example\n"));
        assert!(ol.contains("mailtipsForwardingAddress: ryo.kobayashi@home.example\n"));
        assert!(ad.contains("msExchExtensionCustomAttribute2: taro@northwind.example\n"));
        assert!(ad.contains("msExchGenericForwardingAddress: smtp:ryo.kobayashi@home.example\n"));
        assert!(ol.contains("mailtipsShared: TRUE\n"));
        assert!(ad.contains("msExchRecipientTypeDetails: 4\n"));
        assert!(export(&snap, Preset::Openldap, "cn=x").is_err());
    }
}
