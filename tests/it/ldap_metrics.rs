//! Group metrics from LDAP: a 10,000-member nested group with loops counted right through
//! paged searches, the `mailtips metrics` job writing the counts back, and a second server
//! instance set to `group_metrics = "stored"` reading them.

use std::fmt::Write as _;
use std::num::NonZeroUsize;
use std::time::Duration;

use mailtips::directory::ldap::config::{MetricsSource, Preset};
use mailtips::directory::{GroupSource, LdapDirectory};
use mailtips::domain::GroupMetrics;
use mailtips::pb::{self, TipKind};

use crate::support::slapd::*;
use crate::support::*;

const PEOPLE: usize = 10_000;

fn person(i: usize) -> String {
    format!("cn=user{i:05}@contoso.com,ou=people,{BASE}")
}
fn contact(i: usize) -> String {
    format!("cn=ext{i}@partner.example,ou=contacts,{BASE}")
}
fn group(name: &str) -> String {
    format!("cn={name}@contoso.com,ou=groups,{BASE}")
}

/// big-a holds people 0..6000, big-b and one contact; big-b holds people 5500..10000, big-a
/// (a loop), two contacts and big-c; big-c holds ten people and itself.
fn big_ldif() -> String {
    let mut s = format!(
        "dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\ndc: contoso\no: contoso\n\n"
    );
    for ou in ["people", "groups", "contacts"] {
        let _ = writeln!(
            s,
            "dn: ou={ou},{BASE}\nobjectClass: organizationalUnit\nou: {ou}\n"
        );
    }
    for i in 0..PEOPLE {
        let _ = writeln!(
            s,
            "dn: {}\nobjectClass: inetOrgPerson\nobjectClass: mailtipsRecipient\ncn: user{i:05}@contoso.com\nsn: user {i}\nmail: user{i:05}@contoso.com\n",
            person(i)
        );
    }
    for i in 0..3 {
        let _ = writeln!(
            s,
            "dn: {}\nobjectClass: inetOrgPerson\nobjectClass: mailtipsRecipient\nobjectClass: mailtipsContact\ncn: ext{i}@partner.example\nsn: ext {i}\nmail: ext{i}@partner.example\n",
            contact(i)
        );
    }
    let mut g = |name: &str, members: Vec<String>| {
        let _ = writeln!(
            s,
            "dn: {}\nobjectClass: groupOfNames\nobjectClass: mailtipsRecipient\nobjectClass: mailtipsGroup\ncn: {name}@contoso.com\nmail: {name}@contoso.com",
            group(name)
        );
        for m in members {
            let _ = writeln!(s, "member: {m}");
        }
        s.push('\n');
    };
    g(
        "big-a",
        (0..6000)
            .map(person)
            .chain([group("big-b"), contact(0)])
            .collect(),
    );
    g(
        "big-b",
        (5500..PEOPLE)
            .map(person)
            .chain([group("big-a"), contact(1), contact(2), group("big-c")])
            .collect(),
    );
    g(
        "big-c",
        (0..10).map(person).chain([group("big-c")]).collect(),
    );
    g("small", vec![person(1), person(2)]);
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_member_nested_group_with_loop() {
    let slapd = Slapd::start(Preset::Openldap, &big_ldif());
    let mut lc = slapd.ldap_config(Preset::Openldap);
    lc.page_size = NonZeroUsize::new(2).unwrap();
    let ldap = LdapDirectory::new(lc.clone(), Default::default()).unwrap();

    // Counted right, through paged searches.
    let graph = ldap.group_graph().await.expect("group graph");
    let pages = ldap.stats().searches;
    assert!(
        pages >= 4,
        "4 groups and 3 contacts at 2 per page: {pages} searches"
    );
    let m = mailtips::domain::groups::compute(&graph);
    let id = |name: &str| mailtips::directory::ldap::mapping::normalize_dn(&group(name));
    let all = GroupMetrics {
        total_members: PEOPLE as u32 + 3,
        external_members: 3,
    };
    assert_eq!(m[&id("big-a")], all);
    assert_eq!(m[&id("big-b")], all);
    assert_eq!(
        m[&id("big-c")],
        GroupMetrics {
            total_members: 10,
            external_members: 0
        }
    );
    assert_eq!(m[&id("small")].total_members, 2);

    // The write-back job, as an operator runs it: the CLI, the writer's password from an
    // environment variable.
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("metrics.toml");
    std::fs::write(
        &conf,
        format!(
            "[org]\ninternal_domains = [{{ domain = \"contoso.com\" }}]\n\n[directory.ldap]\n\
             url = \"{}\"\nbase_dn = \"{BASE}\"\nbind_dn = \"{WRITER_DN}\"\n\
             bind_password_env = \"MAILTIPS_TEST_WRITER_PASSWORD\"\npage_size = 2\n",
            slapd.url
        ),
    )
    .unwrap();
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_mailtips"))
            .args(["metrics", "--config"])
            .arg(&conf)
            .env("MAILTIPS_TEST_WRITER_PASSWORD", WRITER_PASSWORD)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run mailtips metrics")
    };
    let out = run();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "mailtips metrics failed: {stdout}\n{stderr}"
    );
    assert!(stdout.contains("4 groups counted, 4 updated"), "{stdout}");
    assert!(!stderr.contains(WRITER_PASSWORD) && !stdout.contains(WRITER_PASSWORD));
    let again = run();
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("4 groups counted, 0 updated"),
        "unchanged counts are not rewritten: {}",
        String::from_utf8_lossy(&again.stdout)
    );
    // Nothing changed since, so the reader account (read-only) has nothing to write either.
    assert_eq!(ldap.write_group_metrics().await.unwrap().written, 0);

    // A second server instance reads the stored counts instead of computing.
    lc.group_metrics = MetricsSource::Stored;
    let reader = LdapDirectory::new(lc, Default::default()).unwrap();
    let stored = reader
        .stored_group_metrics()
        .await
        .unwrap()
        .expect("stored mode");
    assert_eq!(stored[&id("big-a")], all);
    let mut config = demo_config();
    config.org.large_audience_threshold = 25;
    let server = TestServer::over_ldap(config, reader.clone()).await;
    let req = draft(
        "user00001@contoso.com",
        &[
            "big-a@contoso.com",
            "big-c@contoso.com",
            "small@contoso.com",
        ],
    );
    let shown = eventually(Duration::from_secs(30), || {
        let server = &server;
        let req = req.clone();
        async move {
            has(
                &server.tips(req).await.recipients[0],
                TipKind::LargeAudience,
            )
        }
    })
    .await;
    assert!(shown.is_some(), "LARGE_AUDIENCE from stored counts");
    let resp = server.tips(req).await;
    let large = resp.recipients[0]
        .tips
        .iter()
        .find(|t| t.kind == TipKind::LargeAudience as i32)
        .unwrap();
    match &large.data {
        Some(pb::mail_tip::Data::LargeAudience(d)) => assert_eq!(d.member_count, 10_003),
        other => panic!("{other:?}"),
    }
    let ext = resp.recipients[0]
        .tips
        .iter()
        .find(|t| t.kind == TipKind::ExternalRecipient as i32)
        .expect("external members shown");
    match &ext.data {
        Some(pb::mail_tip::Data::External(d)) => assert_eq!(d.external_member_count, 3),
        other => panic!("{other:?}"),
    }
    assert!(
        !has(&resp.recipients[1], TipKind::LargeAudience),
        "10 is not large"
    );
    assert!(!has(&resp.recipients[2], TipKind::LargeAudience));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_directory_counts_written_to_exchange_attributes() {
    let slapd = Slapd::start(Preset::ActiveDirectory, &demo_ldif(Preset::ActiveDirectory));
    let mut writer_config = slapd.ldap_config(Preset::ActiveDirectory);
    let pw = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(pw.path(), WRITER_PASSWORD).unwrap();
    writer_config.bind_dn = Some(WRITER_DN.into());
    writer_config.bind_password_file = Some(pw.path().to_owned());
    let writer = LdapDirectory::new(writer_config.clone(), Default::default()).unwrap();
    let report = writer.write_group_metrics().await.expect("write-back");
    assert_eq!(report.written, report.groups);
    assert!(report.groups >= 7);

    writer_config.group_metrics = MetricsSource::Stored;
    let reader = LdapDirectory::new(writer_config, Default::default()).unwrap();
    let stored = reader.stored_group_metrics().await.unwrap().unwrap();
    let all_staff = mailtips::directory::ldap::mapping::normalize_dn(&format!(
        "cn=all-staff@contoso.com,ou=groups,{BASE}"
    ));
    // The file directory's own computation is the reference.
    let file = mailtips::directory::FileDirectory::demo(Default::default());
    let reference = mailtips::domain::groups::compute(&file.group_graph().await.unwrap());
    let expected = reference[&mailtips::domain::EntryId::from("all-staff@contoso.com")];
    assert_eq!(stored[&all_staff], expected);
    assert!(expected.total_members > 25);
}
