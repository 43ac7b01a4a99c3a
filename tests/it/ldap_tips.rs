//! Every tip kind through the real gRPC server backed by a real slapd, with both attribute
//! presets: the demo organisation exported to LDIF must give the same tips as the embedded
//! file directory it came from.

use std::time::Duration;

use mailtips::directory::LdapDirectory;
use mailtips::directory::ldap::config::{Membership, Preset};
use mailtips::pb::{self, TipKind};

use crate::support::slapd::*;
use crate::support::*;

const SENDER: &str = "taro.yamada@contoso.com";

/// Drafts that between them show every tip kind in the demo organisation.
fn drafts() -> Vec<pb::GetMailTipsRequest> {
    let mut main = draft(
        SENDER,
        &[
            "nobody@contoso.com",
            "not-an-address",
            "kenji.suzuki@contoso.com",
            "hanako.sato@contoso.com",
            "Helpdesk@Contoso.com",
            "board@contoso.com",
            "john.smith@partner.example",
            "partners@contoso.com",
            "all-staff@contoso.com",
            "announcements@contoso.com",
            "yuki.ito@contoso.com",
            "t.yamada@jp.contoso.com",
            "someone@fabrikam.com",
        ],
    );
    main.message_size_bytes = 12_000_000;
    main.reply_all = Some(pb::ReplyAllContext {
        original_to: vec!["hr@contoso.com".into()],
        original_cc: vec![],
    });
    let mut ja = draft(SENDER, &["helpdesk@contoso.com", "hanako.sato@contoso.com"]);
    ja.locale = "ja".into();
    // An external sender: legal@ requires authenticated senders; hanako's external reply.
    let external = draft(
        "someone@external.example",
        &[
            "legal@contoso.com",
            "hanako.sato@contoso.com",
            "board@contoso.com",
        ],
    );
    // An executive: board@ accepts executives; announcements@ bypasses moderation.
    let exec = draft(
        "ceo@contoso.com",
        &["board@contoso.com", "announcements@contoso.com"],
    );
    // The moderator herself.
    let moderator = draft("hr@contoso.com", &["announcements@contoso.com"]);
    // Beyond Exchange: a send-from address (found by it over LDAP too), two outside domains in
    // To, a read receipt with a group and an alias, a mailbox forwarding outside; and the whole
    // audience of all-staff@ in the main draft.
    let mut beyond = draft(
        "taro.yamada@tailspin.example",
        &[
            "john.smith@partner.example",
            "x@gmail.example",
            "all-staff@contoso.com",
            "hanako@contoso.com",
            "ryo.kobayashi@contoso.com",
        ],
    );
    beyond.read_receipt_requested = true;
    let mut beyond_ja = beyond.clone();
    beyond_ja.locale = "ja".into();
    let gateway = draft("taro@northwind.example", &["hanako.sato@contoso.com"]);
    vec![
        main, ja, external, exec, moderator, beyond, beyond_ja, gateway,
    ]
}

/// The tip kinds of a recipient, sorted.
fn sorted_kinds(r: &pb::RecipientTips) -> Vec<i32> {
    let mut k: Vec<i32> = r.tips.iter().map(|t| t.kind).collect();
    k.sort_unstable();
    k
}

async fn every_tip_kind(preset: Preset, membership: Membership) {
    let slapd = match membership {
        Membership::MemberOf => Slapd::start_member_of(preset, &demo_ldif_member_of(preset)),
        _ => Slapd::start(preset, &demo_ldif(preset)),
    };
    let config = demo_config();
    let mut lc = slapd.ldap_config(preset);
    lc.group_membership = membership;
    let ldap = LdapDirectory::new(lc, Default::default()).unwrap();
    let over_ldap = TestServer::over_ldap(config.clone(), ldap.clone()).await;
    let over_file = TestServer::embedded_demo(config).await;

    // Group metrics are computed in the background at start-up: wait for them.
    let probe = draft(SENDER, &["all-staff@contoso.com"]);
    for server in [&over_ldap, &over_file] {
        let ready = eventually(Duration::from_secs(30), || async {
            has(
                &server.tips(probe.clone()).await.recipients[0],
                TipKind::LargeAudience,
            )
        })
        .await;
        assert!(ready.is_some(), "group metrics never arrived");
    }

    let mut seen = std::collections::BTreeSet::new();
    for req in drafts() {
        let a = over_ldap.tips(req.clone()).await;
        let b = over_file.tips(req.clone()).await;
        assert!(fully_resolved(&a), "{preset:?}: pending over LDAP: {a:#?}");
        assert_eq!(a.recipients.len(), b.recipients.len());
        for (x, y) in a.recipients.iter().zip(&b.recipients) {
            assert_eq!(
                sorted_kinds(x),
                sorted_kinds(y),
                "{preset:?}: {}: {x:#?} vs {y:#?}",
                x.address
            );
            assert_eq!(x.resolved_as, y.resolved_as, "{}", x.address);
            assert_eq!(x.scope, y.scope, "{}", x.address);
            assert_eq!(x.display_name, y.display_name, "{}", x.address);
            if preset == Preset::Openldap {
                // Same bytes, same texts. (AD stores sizes in KB, so its limits round up.)
                assert_eq!(x.tips, y.tips, "{}", x.address);
            }
            seen.extend(x.tips.iter().map(|t| t.kind));
        }
        let mut da: Vec<i32> = a.draft_tips.iter().map(|t| t.kind).collect();
        let mut db: Vec<i32> = b.draft_tips.iter().map(|t| t.kind).collect();
        da.sort_unstable();
        db.sort_unstable();
        assert_eq!(da, db, "draft tips");
        if preset == Preset::Openldap {
            assert_eq!(a.draft_tips, b.draft_tips, "draft tips");
        }
        seen.extend(da);
    }
    let all: std::collections::BTreeSet<i32> = (1..=15).collect();
    assert_eq!(seen, all, "{preset:?}: not every tip kind was shown");

    // Spot checks of data that only LDAP could have supplied.
    let r = over_ldap.tips(drafts()[0].clone()).await;
    let by = |addr: &str| r.recipients.iter().find(|x| x.address == addr).unwrap();
    let moderated = by("announcements@contoso.com")
        .tips
        .iter()
        .find(|t| t.kind == TipKind::ModeratedRecipient as i32)
        .unwrap();
    match &moderated.data {
        Some(pb::mail_tip::Data::Moderated(m)) => {
            assert_eq!(m.moderators, vec!["hr@contoso.com".to_owned()])
        }
        other => panic!("moderated data: {other:?}"),
    }
    assert_eq!(
        by("t.yamada@jp.contoso.com").resolved_as,
        pb::ResolvedKind::Mailbox as i32,
        "a proxy address resolves"
    );
    assert!(ldap.stats().searches > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tip_kind_openldap_preset() {
    every_tip_kind(Preset::Openldap, Membership::Walk).await;
}

/// The sender's groups read with its entry (the memberof overlay's direct groups, the nesting
/// above them from the index): the same tips.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tip_kind_openldap_preset_member_of() {
    every_tip_kind(Preset::Openldap, Membership::MemberOf).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tip_kind_active_directory_preset() {
    every_tip_kind(Preset::ActiveDirectory, Membership::Walk).await;
}

/// Moderators without `mailtipsModerationEnabled` moderate over LDAP as in the directory file
/// (where `enabled` defaults to true); before, the LDAP backend said "not moderated".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moderators_without_the_flag_moderate_as_in_the_file() {
    let preset = Preset::Openldap;
    let ldif = demo_ldif(preset);
    assert!(ldif.contains("mailtipsModerationEnabled: TRUE\n"));
    let slapd = Slapd::start(
        preset,
        &ldif.replace("mailtipsModerationEnabled: TRUE\n", ""),
    );
    let ldap = LdapDirectory::new(slapd.ldap_config(preset), Default::default()).unwrap();
    let server = TestServer::over_ldap(demo_config(), ldap).await;
    let r = server
        .tips(draft(SENDER, &["announcements@contoso.com"]))
        .await;
    assert!(
        has(&r.recipients[0], TipKind::ModeratedRecipient),
        "{:?}",
        r.recipients[0]
    );
}
