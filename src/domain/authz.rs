//! Sender authorization, the pure rule: may this caller ask for tips as that sender?
//!
//! A person may ask as any address of their own directory object (the primary or any proxy
//! address, compared as the directory compares addresses), or as an object whose `send_as` or
//! `send_on_behalf` list names them, directly or through a group they are in. A trusted
//! service may ask as any sender in its domains. Without authentication anyone may ask as
//! anyone. The service layer does the lookups; this module only decides.

use std::collections::HashSet;

use crate::domain::address::{Address, domain_matches};
use crate::domain::{Entry, EntryId, Lookup};

/// Who asks, as far as sender authorization is concerned.
#[derive(Debug, Clone, Copy)]
pub enum Asker<'a> {
    /// Authentication is off: any sender.
    Anyone,
    /// A person whose verified token names this address.
    Person(&'a Address),
    /// A trusted service: any sender in these domains (subdomains included).
    Service { domains: &'a [String] },
}

/// Why a caller may not ask as a sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// The sender is not in the directory, so nobody's delegation can cover it.
    UnknownSender,
    /// Neither one of the caller's addresses nor a mailbox that delegates to the caller.
    NotDelegated,
    /// The sender's domain is not one of the trusted service's domains.
    OutsideDomains,
}

impl std::fmt::Display for Denial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Denial::UnknownSender => "the sender is not in the directory",
            Denial::NotDelegated => {
                "it is not one of the caller's addresses and grants the caller neither \
                 send_as nor send_on_behalf"
            }
            Denial::OutsideDomains => "the sender is outside the service's sender_domains",
        })
    }
}

/// The rule's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    Denied(Denial),
    /// The sender delegates to groups: ask again with the caller's groups.
    NeedsGroups,
    /// The directory could not answer for the sender or the caller now.
    Unknown,
}

/// Whether `asker` may ask as `sender`, given what the directory said about the sender and
/// about the caller's own address (`caller`; [`Lookup::NotFound`] when there is no person),
/// and the caller's groups once [`Verdict::NeedsGroups`] asked for them.
pub fn authorize(
    asker: Asker<'_>,
    sender: &Address,
    sender_entry: &Lookup,
    caller: &Lookup,
    caller_groups: Option<&HashSet<EntryId>>,
) -> Verdict {
    let person = match asker {
        Asker::Anyone => return Verdict::Allowed,
        Asker::Service { domains } => {
            return if domains
                .iter()
                .any(|d| domain_matches(sender.domain(), d, true))
            {
                Verdict::Allowed
            } else {
                Verdict::Denied(Denial::OutsideDomains)
            };
        }
        Asker::Person(a) => a,
    };
    if person == sender {
        return Verdict::Allowed;
    }
    let sender_entry = match sender_entry {
        Lookup::Found(e) => e,
        Lookup::NotFound => return Verdict::Denied(Denial::UnknownSender),
        Lookup::Unknown => return Verdict::Unknown,
    };
    if sender_entry.addresses.contains(person) {
        return Verdict::Allowed;
    }
    let caller = match caller {
        Lookup::Found(e) => e,
        Lookup::NotFound => return Verdict::Denied(Denial::NotDelegated),
        Lookup::Unknown => return Verdict::Unknown,
    };
    if caller.id == sender_entry.id || delegates(sender_entry, |id| *id == caller.id) {
        return Verdict::Allowed;
    }
    if sender_entry.send_as.is_empty() && sender_entry.send_on_behalf.is_empty() {
        return Verdict::Denied(Denial::NotDelegated);
    }
    match caller_groups {
        None => Verdict::NeedsGroups,
        Some(groups) if delegates(sender_entry, |id| groups.contains(id)) => Verdict::Allowed,
        Some(_) => Verdict::Denied(Denial::NotDelegated),
    }
}

/// Whether `sender` lists an id that `is_caller` accepts in `send_as` or `send_on_behalf`.
fn delegates(sender: &Entry, is_caller: impl Fn(&EntryId) -> bool) -> bool {
    sender
        .send_as
        .iter()
        .chain(&sender.send_on_behalf)
        .any(is_caller)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::domain::EntryKind;

    fn a(s: &str) -> Address {
        Address::parse(s).unwrap()
    }

    fn mailbox(primary: &str, proxies: &[&str]) -> Entry {
        let mut e = Entry::new(primary, EntryKind::Mailbox, a(primary));
        e.addresses.extend(proxies.iter().map(|p| a(p)));
        e
    }

    fn found(e: &Entry) -> Lookup {
        Lookup::Found(Arc::new(e.clone()))
    }

    #[test]
    fn own_addresses_any_case() {
        let taro = mailbox("taro@contoso.com", &["t.yamada@contoso.com"]);
        let me = a("TARO@Contoso.com");
        let p = Asker::Person(&me);
        for s in ["taro@contoso.com", "T.Yamada@CONTOSO.com"] {
            assert_eq!(
                authorize(p, &a(s), &found(&taro), &found(&taro), None),
                Verdict::Allowed,
                "{s}"
            );
        }
        // The token names a proxy address; the sender is the primary.
        let proxy = a("t.yamada@contoso.com");
        assert_eq!(
            authorize(
                Asker::Person(&proxy),
                &a("taro@contoso.com"),
                &found(&taro),
                &found(&taro),
                None
            ),
            Verdict::Allowed
        );
    }

    #[test]
    fn delegations_direct_and_through_groups() {
        let me = a("assistant@contoso.com");
        let assistant = mailbox("assistant@contoso.com", &[]);
        let mut boss = mailbox("boss@contoso.com", &[]);
        let p = Asker::Person(&me);
        let ask = |boss: &Entry, groups: Option<&HashSet<EntryId>>| {
            authorize(
                p,
                &a("boss@contoso.com"),
                &found(boss),
                &found(&assistant),
                groups,
            )
        };
        assert_eq!(ask(&boss, None), Verdict::Denied(Denial::NotDelegated));
        boss.send_on_behalf = vec![EntryId::from("assistant@contoso.com")];
        assert_eq!(ask(&boss, None), Verdict::Allowed);
        boss.send_on_behalf = vec![];
        boss.send_as = vec![EntryId::from("office@contoso.com")];
        assert_eq!(ask(&boss, None), Verdict::NeedsGroups);
        let groups = HashSet::from([EntryId::from("office@contoso.com")]);
        assert_eq!(ask(&boss, Some(&groups)), Verdict::Allowed);
        assert_eq!(
            ask(&boss, Some(&HashSet::new())),
            Verdict::Denied(Denial::NotDelegated)
        );
    }

    #[test]
    fn unknown_and_missing() {
        let me = a("x@contoso.com");
        let p = Asker::Person(&me);
        let s = a("y@contoso.com");
        let y = mailbox("y@contoso.com", &[]);
        assert_eq!(
            authorize(p, &s, &Lookup::NotFound, &Lookup::NotFound, None),
            Verdict::Denied(Denial::UnknownSender)
        );
        assert_eq!(
            authorize(p, &s, &Lookup::Unknown, &Lookup::NotFound, None),
            Verdict::Unknown
        );
        assert_eq!(
            authorize(p, &s, &found(&y), &Lookup::Unknown, None),
            Verdict::Unknown
        );
        assert_eq!(
            authorize(p, &s, &found(&y), &Lookup::NotFound, None),
            Verdict::Denied(Denial::NotDelegated)
        );
        assert_eq!(
            authorize(Asker::Anyone, &s, &Lookup::Unknown, &Lookup::Unknown, None),
            Verdict::Allowed
        );
    }

    #[test]
    fn services_by_domain() {
        let domains = ["contoso.com".to_owned()];
        let svc = Asker::Service { domains: &domains };
        let ask = |s: &str| authorize(svc, &a(s), &Lookup::Unknown, &Lookup::NotFound, None);
        assert_eq!(ask("anyone@contoso.com"), Verdict::Allowed);
        assert_eq!(ask("anyone@sub.contoso.com"), Verdict::Allowed);
        assert_eq!(
            ask("x@fabrikam.com"),
            Verdict::Denied(Denial::OutsideDomains)
        );
        assert_eq!(
            ask("x@evilcontoso.com"),
            Verdict::Denied(Denial::OutsideDomains)
        );
    }
}
