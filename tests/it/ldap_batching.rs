//! What a draft costs in LDAP operations, and that no address can change a filter's meaning:
//! through the real gRPC server backed by a real slapd.

use std::time::Duration;

use mailtips::directory::LdapDirectory;
use mailtips::directory::ldap::config::Preset;
use mailtips::domain::address::Address;
use mailtips::pb::{self, TipKind};

use crate::support::slapd::*;
use crate::support::*;

fn staff(n: usize) -> Vec<String> {
    (1..=n)
        .map(|i| format!("staff{i:02}@contoso.com"))
        .collect()
}

async fn searches_for(
    server: &TestServer,
    ldap: &LdapDirectory,
    req: pb::GetMailTipsRequest,
) -> (u64, pb::GetMailTipsResponse) {
    let before = ldap.stats().searches;
    let resp = server.tips(req).await;
    (ldap.stats().searches - before, resp)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_search_per_draft_for_10_and_200_recipients() {
    let slapd = Slapd::start(Preset::Openldap, &demo_ldif(Preset::Openldap));
    let mut config = demo_config();
    // No background metrics job: only the drafts' searches are counted.
    config.org.group_metrics_enabled = false;
    let ldap = LdapDirectory::new(slapd.ldap_config(Preset::Openldap), Default::default()).unwrap();
    let server = TestServer::over_ldap(config.clone(), ldap.clone()).await;

    // 10 recipients (+ the sender): one search, cold.
    let ten = staff(10);
    let ten: Vec<&str> = ten.iter().map(String::as_str).collect();
    let (n, resp) = searches_for(&server, &ldap, draft("taro.yamada@contoso.com", &ten)).await;
    assert!(fully_resolved(&resp));
    assert!(
        resp.recipients
            .iter()
            .all(|r| r.resolved_as == pb::ResolvedKind::Mailbox as i32)
    );
    eprintln!("LDAP searches, 10-recipient draft, cold cache: {n}");
    assert_eq!(n, 1, "a 10-recipient draft is one search");
    let (n, _) = searches_for(&server, &ldap, draft("taro.yamada@contoso.com", &ten)).await;
    eprintln!("LDAP searches, 10-recipient draft, warm cache: {n}");
    assert_eq!(n, 0, "the same draft again is served by the cache");

    // 200 recipients: 30 people and 170 addresses nobody has, all cold.
    let mut many = staff(30);
    many.extend((1..=170).map(|i| format!("left-the-company-{i}@contoso.com")));
    let many_refs: Vec<&str> = many.iter().map(String::as_str).collect();
    let (n, resp) = searches_for(
        &server,
        &ldap,
        draft("akiko.tanaka@contoso.com", &many_refs),
    )
    .await;
    eprintln!("LDAP searches, 200-recipient draft, cold cache: {n}");
    assert_eq!(n, 1, "a 200-recipient draft is one search (chunk of 250)");
    assert!(fully_resolved(&resp));
    let invalid = resp
        .recipients
        .iter()
        .filter(|r| {
            r.tips
                .iter()
                .any(|t| t.kind == TipKind::InvalidInternalRecipient as i32)
        })
        .count();
    assert_eq!(invalid, 170);
    let (n, _) = searches_for(
        &server,
        &ldap,
        draft("akiko.tanaka@contoso.com", &many_refs),
    )
    .await;
    assert_eq!(n, 0, "found and not-found answers are both cached");
    drop(server);

    // With a smaller chunk the same 201 addresses take ceil(201 / 50) = 5 searches.
    let mut lc = slapd.ldap_config(Preset::Openldap);
    lc.addresses_per_search = std::num::NonZeroUsize::new(50).unwrap();
    let ldap = LdapDirectory::new(lc, Default::default()).unwrap();
    let server = TestServer::over_ldap(config.clone(), ldap.clone()).await;
    let (n, resp) =
        searches_for(&server, &ldap, draft("taro.yamada@contoso.com", &many_refs)).await;
    eprintln!("LDAP searches, 200-recipient draft, 50 addresses per search: {n}");
    assert_eq!(n, 5);
    assert!(fully_resolved(&resp));
}

/// Addresses built to break an unescaped filter. Each would match something (or everything)
/// if it reached LDAP unescaped; escaped, none matches anything.
fn hostile() -> Vec<String> {
    let mut v: Vec<String> = [
        "*@contoso.com",
        "t*@contoso.com",
        "taro.yamad*@contoso.com",
        "*o.yamada@contoso.com",
        "\"*\"@contoso.com",
        "\")(\"@contoso.com",
        "\"\\\\\"@contoso.com",
        "\"*)(objectClass=*\"@contoso.com",
        "\"*)(mail=*\"@contoso.com",
        "\"taro.yamada@contoso.com)(mail=*\"@contoso.com",
        "\"a\\\u{0}\"@contoso.com",
        "a\u{0}b@contoso.com",
        "*)(objectClass=*",
        "taro.yamada@contoso.com)(|(mail=*",
        "taro.yamada@*",
        "taro.yamada@contoso.*",
        "山田@contoso.com",
        "taro.yamada@コントソ.com",
        "ｔａｒｏ.yamada@contoso.com",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    v.push(format!("{}@contoso.com", "*".repeat(64)));
    v.push(format!("\"{}\"@contoso.com", "*)(".repeat(20)));
    v.push(format!("{}@contoso.com", "a".repeat(400)));
    v.push(format!("x@{}.contoso.com", "*".repeat(60)));
    v
}

async fn hostile_addresses(preset: Preset) {
    let slapd = Slapd::start(preset, &demo_ldif(preset));
    let mut config = demo_config();
    config.org.group_metrics_enabled = false;
    let ldap = LdapDirectory::new(slapd.ldap_config(preset), Default::default()).unwrap();

    // Straight to the backend: no error, no match.
    let parsed: Vec<Address> = hostile()
        .iter()
        .filter_map(|a| Address::parse(a).ok())
        .collect();
    assert!(
        parsed.len() >= 10,
        "most of the corpus must reach LDAP: {parsed:?}"
    );
    let found = ldap
        .try_lookup(&parsed.iter().collect::<Vec<_>>())
        .await
        .expect("no filter error");
    for (a, f) in parsed.iter().zip(&found) {
        assert!(
            f.is_none(),
            "{preset:?}: {} matched {:?}",
            a.as_str(),
            f.as_ref().map(|e| &e.id)
        );
    }

    // Through the server, mixed with a real recipient.
    let server = TestServer::over_ldap(config.clone(), ldap.clone()).await;
    let corpus = hostile();
    let mut to: Vec<&str> = corpus.iter().map(String::as_str).collect();
    to.push("kenji.suzuki@contoso.com");
    let resp = server.tips(draft("taro.yamada@contoso.com", &to)).await;
    assert!(fully_resolved(&resp), "no LDAP error: {resp:#?}");
    for r in &resp.recipients[..corpus.len()] {
        assert_ne!(
            r.resolved_as,
            pb::ResolvedKind::Mailbox as i32,
            "{}",
            r.address
        );
        assert_ne!(
            r.resolved_as,
            pb::ResolvedKind::Group as i32,
            "{}",
            r.address
        );
        assert_ne!(
            r.resolved_as,
            pb::ResolvedKind::Contact as i32,
            "{}",
            r.address
        );
        assert!(r.display_name.is_empty(), "{}", r.address);
        if r.scope == pb::RecipientScope::Internal as i32 {
            assert!(has(r, TipKind::InvalidInternalRecipient), "{}", r.address);
        }
    }
    let kenji = resp.recipients.last().unwrap();
    assert!(
        has(kenji, TipKind::MailboxFull),
        "the real recipient still resolves"
    );
    tokio::time::sleep(Duration::from_millis(0)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_addresses_match_nothing_openldap() {
    hostile_addresses(Preset::Openldap).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_addresses_match_nothing_active_directory() {
    hostile_addresses(Preset::ActiveDirectory).await;
}

/// Many concurrent drafts share the `connections` handles (round-robin, multiplexed) and every
/// answer is right. Prints the cold-lookup rate (the basis for `connections = 2`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_lookups_share_connections() {
    let slapd = Slapd::start(Preset::Openldap, &demo_ldif(Preset::Openldap));
    let ldap = LdapDirectory::new(slapd.ldap_config(Preset::Openldap), Default::default()).unwrap();
    let addrs: Vec<Address> = staff(10)
        .iter()
        .map(|a| Address::parse(a).unwrap())
        .collect();
    let started = std::time::Instant::now();
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (d, a) = (ldap.clone(), addrs.clone());
            tokio::spawn(async move {
                for _ in 0..50 {
                    let found = d
                        .try_lookup(&a.iter().collect::<Vec<_>>())
                        .await
                        .expect("lookup");
                    for (addr, e) in a.iter().zip(found) {
                        assert!(e.unwrap().addresses.contains(addr));
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let s = ldap.stats();
    eprintln!(
        "800 cold ten-address lookups, 16 concurrent, {} connections: {:?}",
        s.connects,
        started.elapsed()
    );
    assert_eq!(s.searches, 800);
    assert_eq!(s.connects, 2, "the default two connections, each made once");
}
