//! Unit tests of the directory file's validation and building.

use super::*;

fn parse(s: &str) -> Result<Snapshot, DirectoryFileError> {
    Snapshot::parse(s, "dir.toml", AddressRules::default())
}

#[test]
fn errors_name_file_entry_and_field() {
    let e = parse("[[mailbox]]\naddress = \"a@contoso.com\"\n[[group]]\naddress = \"g@contoso.com\"\nmembers = [\"not an address\"]\n")
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "dir.toml: group[0] (g@contoso.com): field `members[0]`: missing '@'"
    );
    let e = parse("[[mailbox]]\naddress = \"a@contoso.com\"\nmembers = []\n").unwrap_err();
    assert_eq!(e.field.as_deref(), Some("members"));
    let e = parse(
        "[[mailbox]]\naddress = \"a@contoso.com\"\naccept_only_from = [\"nobody@contoso.com\"]\n",
    )
    .unwrap_err();
    assert!(e.to_string().contains("accept_only_from[0]"), "{e}");
    assert!(
        e.to_string()
            .contains("nobody@contoso.com is not in this directory"),
        "{e}"
    );
    let e = parse("[[mailbox]]\naddress = \"a@contoso.com\"\n[[mailbox]]\naddress = \"b@contoso.com\"\nproxy_addresses = [\"A@contoso.com\"]\n").unwrap_err();
    assert!(e.to_string().contains("already used by mailbox[0]"), "{e}");
    let e = parse("[[mailbox]]\naddress = \"a@contoso.com\"\nqouta = 5\n").unwrap_err();
    assert!(e.to_string().contains("unknown field `qouta`"), "{e}");
    assert!(e.to_string().starts_with("dir.toml"), "{e}");
    let e = parse("[[mailbox]]\naddress = \"a@contoso.com\"\nauto_reply = { internal = \"x\", start = 2026-01-02 }\n").unwrap_err();
    assert_eq!(e.field.as_deref(), Some("auto_reply.start"));
    let e = parse("[[mailbox]]\naddress = \"a@contoso.com\"\ncustom_tip = { translations = { japanese = \"x\" } }\n").unwrap_err();
    assert!(e.to_string().contains("two-letter"), "{e}");
}

#[test]
fn a_member_listed_twice_counts_once_in_short_and_long_lists() {
    for n in [3, LINEAR_DEDUP + 8] {
        let mut text = String::from(
            "[[mailbox]]\naddress = \"a@contoso.com\"\nproxy_addresses = [\"alias@contoso.com\"]\n",
        );
        let mut members = vec![
            "\"a@contoso.com\"".to_owned(),
            "\"alias@contoso.com\"".to_owned(),
            "\"A@contoso.com\"".to_owned(),
        ];
        for i in 0..n {
            members.push(format!("\"x{i}@outside.example\""));
            members.push(format!("\"X{i}@outside.example\""));
        }
        text.push_str(&format!(
            "[[group]]\naddress = \"g@contoso.com\"\nmembers = [{}]\n",
            members.join(", ")
        ));
        let snap = parse(&text).unwrap();
        let (_, list) = &snap.graph().groups[0];
        assert_eq!(list.len(), 1 + n, "{n}: {list:?}");
        assert!(
            matches!(&list[0], Member::Entry(id, EntryKind::Mailbox) if &**id == "a@contoso.com")
        );
    }
}

#[test]
fn dangling_member_in_an_own_domain_is_refused() {
    let e = parse("[[mailbox]]\naddress = \"a@contoso.com\"\n[[group]]\naddress = \"g@contoso.com\"\nmembers = [\"a@contoso.com\", \"gone@contoso.com\", \"x@outside.example\"]\n")
        .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("members[1]"));
    assert!(
        e.to_string()
            .contains("gone@contoso.com is not in this directory"),
        "{e}"
    );
}

#[test]
fn send_from_and_forwarding() {
    let s = parse("[[mailbox]]\naddress = \"a@contoso.com\"\nforwarding_address = \"a@home.example\"\nsend_from = [{ address = \"a@partner.example\", outbound_gateway = true }]\n").unwrap();
    assert_eq!(s.len(), 1);
    let e = parse("[[group]]\naddress = \"g@contoso.com\"\nmembers = []\nforwarding_address = \"x@y.example\"\n").unwrap_err();
    assert_eq!(e.field.as_deref(), Some("forwarding_address"));
    let e =
        parse("[[mailbox]]\naddress = \"a@contoso.com\"\nsend_from = [{ address = \"nope\" }]\n")
            .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("send_from[0].address"));
    let e = parse("[[mailbox]]\naddress = \"a@contoso.com\"\n[[mailbox]]\naddress = \"b@contoso.com\"\nsend_from = [{ address = \"a@contoso.com\" }]\n").unwrap_err();
    assert!(e.to_string().contains("already used by mailbox[0]"), "{e}");
}

#[test]
fn datetimes_honour_offsets() {
    let d: toml::value::Datetime = "2026-11-25T09:00:00+09:00".parse().unwrap();
    let z: toml::value::Datetime = "2026-11-25T00:00:00Z".parse().unwrap();
    assert_eq!(
        datetime_to_system(&d).unwrap(),
        datetime_to_system(&z).unwrap()
    );
    assert_eq!(
        datetime_to_system(&"1970-01-02T00:00:00Z".parse().unwrap()).unwrap(),
        UNIX_EPOCH + Duration::from_secs(86_400)
    );
}
