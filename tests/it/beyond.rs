//! The tips beyond Exchange over the real server on the file directory (the same tips over
//! slapd are compared in `ldap_tips.rs`): whole audience (its threshold at and one past, above
//! the 200-recipient cap), visible recipients, read receipts under each policy, sent on
//! behalf, forwarded outside, each switch off, Japanese texts; and the defects fixed with
//! them (text caps, quoted local parts, `ja_JP`, reply-all with no original recipients, a
//! dangling group member).

use mailtips::pb;
use mailtips::pb::TipKind as K;
use mailtips::pb::mail_tip::Data;

use crate::support::*;

/// The draft-level tip of `kind`, if any.
fn draft_tip(r: &pb::GetMailTipsResponse, kind: K) -> Option<&pb::MailTip> {
    r.draft_tips.iter().find(|t| t.kind == kind as i32)
}

/// The demo config with `from` replaced by `to` (which must occur).
fn demo_with(edits: &[(&str, &str)]) -> mailtips::config::Config {
    let mut text = DEMO_CONFIG.to_owned();
    for (from, to) in edits {
        assert!(text.contains(from), "{from:?} is not in the demo config");
        text = text.replace(from, to);
    }
    config(&text)
}

async fn demo_server(edits: &[(&str, &str)]) -> TestServer {
    let server = TestServer::with_directory_file(demo_with(edits), DEMO_DIRECTORY).await;
    server.wait_for_metrics("all-staff@contoso.com").await;
    server
}

/// all-staff@ (37 people) and tokyo-office@ (18, all in all-staff too), hanako by her primary
/// address and by an alias (one person): 56 people, 55 of them through groups, an upper bound.
fn audience_draft() -> pb::GetMailTipsRequest {
    request(
        TARO,
        &[
            ("all-staff@contoso.com", Bcc),
            ("hanako.sato@contoso.com", To),
            ("hanako@contoso.com", Cc),
            ("tokyo-office@contoso.com", Bcc),
        ],
    )
}

#[tokio::test]
async fn whole_audience_counts_people_once_and_groups_by_members() {
    let server = demo_server(&[]).await;
    let r = server.tips(audience_draft()).await;
    let t = draft_tip(&r, K::WholeAudience).expect("whole audience");
    assert_eq!(
        t.data,
        Some(Data::WholeAudience(pb::WholeAudienceData {
            people: 56,
            from_groups: 55,
            upper_bound: true,
            threshold: 25,
        }))
    );
    assert_eq!(
        t.text,
        "This message will reach at most 56 people (55 of them through groups). Are you sure you want to send to this many people?"
    );
    let mut ja = audience_draft();
    ja.locale = "ja".into();
    let r = server.tips(ja).await;
    assert_eq!(
        draft_tip(&r, K::WholeAudience).unwrap().text,
        "このメッセージは最大 56 人に届きます（うちグループ経由 55 人）。本当にこれだけ多くの人に送信しますか？"
    );
}

#[tokio::test]
async fn whole_audience_threshold_at_and_one_past() {
    let key = "# whole_audience_threshold = 25";
    let at = demo_server(&[(key, "whole_audience_threshold = 56")]).await;
    assert!(draft_tip(&at.tips(audience_draft()).await, K::WholeAudience).is_none());
    let past = demo_server(&[(key, "whole_audience_threshold = 55")]).await;
    let r = past.tips(audience_draft()).await;
    assert!(
        matches!(&draft_tip(&r, K::WholeAudience).unwrap().data, Some(Data::WholeAudience(d)) if d.people == 56 && d.threshold == 55)
    );
}

#[tokio::test]
async fn whole_audience_above_the_per_mailbox_cap() {
    let server = demo_server(&[]).await;
    let outside: Vec<String> = (0..240).map(|i| format!("p{i}@gmail.example")).collect();
    let mut to: Vec<(&str, pb::RecipientField)> =
        outside.iter().map(|a| (a.as_str(), Bcc)).collect();
    to.push(("all-staff@contoso.com", Bcc));
    let r = server.tips(request(TARO, &to)).await;
    assert!(r.per_mailbox_tips_skipped, "above the cap of 200");
    assert!(
        matches!(&draft_tip(&r, K::WholeAudience).unwrap().data, Some(Data::WholeAudience(d)) if d.people == 277 && d.from_groups == 37 && d.upper_bound)
    );
}

#[tokio::test]
async fn recipients_visible_threshold_and_outside_domains() {
    let server = demo_server(&[(
        "visible_recipients_threshold = 15",
        "visible_recipients_threshold = 3",
    )])
    .await;
    let three = |third| {
        request(
            TARO,
            &[
                ("kenji.suzuki@contoso.com", To),
                ("yuki.ito@contoso.com", Cc),
                ("hr@contoso.com", third),
            ],
        )
    };
    // At the threshold: shown; one below (the third in Bcc): not.
    let r = server.tips(three(Cc)).await;
    let t = draft_tip(&r, K::RecipientsVisible).expect("at the threshold");
    assert_eq!(
        t.data,
        Some(Data::RecipientsVisible(pb::RecipientsVisibleData {
            visible_count: 3,
            threshold: 3,
            outside_domains: vec![],
        }))
    );
    assert_eq!(
        t.text,
        "All 3 addresses in To and Cc are visible to every recipient. Consider Bcc."
    );
    assert!(draft_tip(&server.tips(three(Bcc)).await, K::RecipientsVisible).is_none());
    // One past: shown too.
    let mut four = three(Cc);
    four.recipients.push(pb::Recipient {
        address: "akiko.tanaka@contoso.com".into(),
        field: To as i32,
    });
    assert!(
        matches!(&draft_tip(&server.tips(four).await, K::RecipientsVisible).unwrap().data, Some(Data::RecipientsVisible(d)) if d.visible_count == 4)
    );

    // Two outside domains (a contact and an address) at the default threshold.
    let server = demo_server(&[]).await;
    let two = request(
        TARO,
        &[("john.smith@partner.example", To), ("x@gmail.example", Cc)],
    );
    let r = server.tips(two.clone()).await;
    assert!(
        matches!(&draft_tip(&r, K::RecipientsVisible).unwrap().data, Some(Data::RecipientsVisible(d)) if d.outside_domains == ["gmail.example", "partner.example"] && d.visible_count == 2)
    );
    let mut ja = two;
    ja.locale = "ja-JP".into();
    assert_eq!(
        draft_tip(&server.tips(ja).await, K::RecipientsVisible)
            .unwrap()
            .text,
        "宛先（To）と CC の 2 件のアドレスは、すべての受信者に表示されます。組織外の 2 個のドメイン（gmail.example、partner.example）の受信者に、互いのアドレスが見えます。BCC の利用を検討してください。"
    );
    let one_outside = request(
        TARO,
        &[("john.smith@partner.example", To), ("x@gmail.example", Bcc)],
    );
    assert!(draft_tip(&server.tips(one_outside).await, K::RecipientsVisible).is_none());
}

fn receipt_draft(sender: &str) -> pb::GetMailTipsRequest {
    let mut d = request(
        sender,
        &[
            ("all-staff@contoso.com", To),
            ("hanako@contoso.com", To),
            ("kenji.suzuki@contoso.com", Cc),
            ("x@gmail.example", Cc),
        ],
    );
    d.read_receipt_requested = true;
    d
}

fn no_receipt_from(r: &pb::GetMailTipsResponse) -> (i32, bool, Vec<String>) {
    match &draft_tip(r, K::ReadReceipt).expect("read receipt").data {
        Some(Data::ReadReceipt(d)) => (d.policy, d.ignored, d.no_receipt_from.clone()),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn read_receipt_under_each_policy() {
    use pb::ReadReceiptPolicy as P;
    // The demo: internal senders and the allow-list (john.smith@partner.example).
    let server = demo_server(&[]).await;
    let groups_and_aliases = vec![
        "all-staff@contoso.com".to_owned(),
        "hanako@contoso.com".to_owned(),
    ];
    let r = server.tips(receipt_draft(TARO)).await;
    assert_eq!(
        no_receipt_from(&r),
        (
            P::InternalAndAllowlist as i32,
            false,
            groups_and_aliases.clone()
        )
    );
    assert_eq!(
        draft_tip(&r, K::ReadReceipt).unwrap().text,
        "全社員 All staff, 佐藤 花子 will never send a read receipt. A read receipt does not prove that the message was delivered."
    );
    let allowed = server
        .tips(receipt_draft("john.smith@partner.example"))
        .await;
    assert_eq!(no_receipt_from(&allowed).2, groups_and_aliases);
    let mut outside = receipt_draft("someone@external.example");
    outside.locale = "ja".into();
    let r = server.tips(outside).await;
    assert_eq!(
        no_receipt_from(&r).2,
        [
            "all-staff@contoso.com",
            "hanako@contoso.com",
            "kenji.suzuki@contoso.com"
        ]
    );
    assert_eq!(
        draft_tip(&r, K::ReadReceipt).unwrap().text,
        "全社員 All staff、佐藤 花子 さん、鈴木 健二 さんからは開封確認が送信されません。開封確認は配信の証明にはなりません。"
    );
    let mut not_asked = receipt_draft(TARO);
    not_asked.read_receipt_requested = false;
    assert!(draft_tip(&server.tips(not_asked).await, K::ReadReceipt).is_none());

    let all = demo_server(&[
        ("policy = \"internal_and_allowlist\"", "policy = \"all\""),
        ("allowlist = [\"john.smith@partner.example\"]", ""),
    ])
    .await;
    let r = all.tips(receipt_draft("someone@external.example")).await;
    assert_eq!(
        no_receipt_from(&r),
        (P::All as i32, false, groups_and_aliases)
    );
    let none = demo_server(&[
        ("policy = \"internal_and_allowlist\"", "policy = \"none\""),
        ("allowlist = [\"john.smith@partner.example\"]", ""),
    ])
    .await;
    let r = none.tips(receipt_draft(TARO)).await;
    assert_eq!(no_receipt_from(&r), (P::None as i32, true, vec![]));
    assert!(
        draft_tip(&r, K::ReadReceipt)
            .unwrap()
            .text
            .contains("will be ignored")
    );
}

#[tokio::test]
async fn sent_on_behalf_unless_its_own_gateway() {
    let server = demo_server(&[]).await;
    let mut d = draft("taro.yamada@tailspin.example", &["hanako.sato@contoso.com"]);
    let r = server.tips(d.clone()).await;
    let t = draft_tip(&r, K::SentOnBehalf).expect("on behalf");
    assert_eq!(
        t.data,
        Some(Data::SentOnBehalf(pb::SentOnBehalfData {
            send_as: "taro.yamada@tailspin.example".into(),
            on_behalf_of: TARO.into(),
            shown_as: "taro.yamada@tailspin.example (on behalf of taro.yamada@contoso.com)".into(),
        }))
    );
    d.locale = "ja".into();
    let r = server.tips(d).await;
    assert_eq!(
        draft_tip(&r, K::SentOnBehalf).unwrap().text,
        "受信者には送信者が「taro.yamada@tailspin.example（taro.yamada@contoso.com 代理）」と表示される場合があります。このアドレスのメールは、そのドメインのサーバーを経由せずに送信されるためです。"
    );
    // Its own outbound gateway, which the demo organisation allows: nothing.
    let gw = draft("taro@northwind.example", &["hanako.sato@contoso.com"]);
    assert!(draft_tip(&server.tips(gw.clone()).await, K::SentOnBehalf).is_none());
    let strict = demo_server(&[(
        "per_user_outbound_gateways = true",
        "per_user_outbound_gateways = false",
    )])
    .await;
    assert!(draft_tip(&strict.tips(gw).await, K::SentOnBehalf).is_some());
    // A send-from address is never a way to reach the mailbox.
    let r = server
        .tips(draft(TARO, &["taro.yamada@tailspin.example"]))
        .await;
    assert_eq!(
        r.recipients[0].resolved_as,
        pb::ResolvedKind::Unknown as i32
    );
    assert_eq!(kinds(&r.recipients[0]), [K::ExternalRecipient]);
}

#[tokio::test]
async fn forwarded_externally_never_says_where() {
    let server = demo_server(&[]).await;
    let mut d = draft(
        TARO,
        &["ryo.kobayashi@contoso.com", "hanako.sato@contoso.com"],
    );
    let r = server.tips(d.clone()).await;
    assert_eq!(kinds(&r.recipients[0]), [K::ForwardedExternally]);
    let t = tip(&r.recipients[0], K::ForwardedExternally);
    assert_eq!(
        t.data,
        Some(Data::ForwardedExternally(pb::ForwardedExternallyData {}))
    );
    assert_eq!(
        t.text,
        "Mail to 小林 亮 is forwarded outside your organisation."
    );
    assert!(!has(&r.recipients[1], K::ForwardedExternally));
    d.locale = "ja".into();
    let r = server.tips(d).await;
    assert_eq!(
        tip(&r.recipients[0], K::ForwardedExternally).text,
        "小林 亮 さん宛てのメールは組織外に転送されます。"
    );
}

#[tokio::test]
async fn each_switch_off() {
    let mut everything = request(
        "taro.yamada@tailspin.example",
        &[
            ("all-staff@contoso.com", To),
            ("john.smith@partner.example", To),
            ("x@gmail.example", To),
            ("ryo.kobayashi@contoso.com", To),
        ],
    );
    everything.read_receipt_requested = true;
    let on = demo_server(&[]).await;
    let r = on.tips(everything.clone()).await;
    for k in [
        K::WholeAudience,
        K::RecipientsVisible,
        K::ReadReceipt,
        K::SentOnBehalf,
    ] {
        assert!(draft_tip(&r, k).is_some(), "{k:?}");
    }
    assert!(has(&r.recipients[3], K::ForwardedExternally));
    for (key, kind) in [
        ("whole_audience", K::WholeAudience),
        ("recipients_visible", K::RecipientsVisible),
        ("read_receipt", K::ReadReceipt),
        ("sent_on_behalf", K::SentOnBehalf),
        ("forwarded_externally", K::ForwardedExternally),
    ] {
        let off = demo_server(&[(&format!("\n{key} = true"), &format!("\n{key} = false"))]).await;
        let r = off.tips(everything.clone()).await;
        assert!(draft_tip(&r, kind).is_none(), "{key} off");
        assert!(r.recipients.iter().all(|x| !has(x, kind)), "{key} off");
        let c = off
            .client()
            .get_service_configuration(pb::GetServiceConfigurationRequest::default())
            .await
            .unwrap()
            .into_inner();
        assert!(!c.enabled_tip_kinds.contains(&(kind as i32)), "{key} off");
        assert_eq!(c.enabled_tip_kinds.len(), 14);
    }
}

#[tokio::test]
async fn service_configuration_has_the_new_settings() {
    let server = demo_server(&[]).await;
    let c = server
        .client()
        .get_service_configuration(pb::GetServiceConfigurationRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(c.whole_audience_threshold, 25);
    assert_eq!(c.visible_recipients_threshold, 15);
    assert_eq!(
        c.read_receipt_policy,
        pb::ReadReceiptPolicy::InternalAndAllowlist as i32
    );
    assert!(c.per_user_outbound_gateways);
    for k in 11..=15 {
        assert!(c.enabled_tip_kinds.contains(&k), "{k}");
    }
}

// The defects found in testing, each with the case that failed before.

#[tokio::test]
async fn texts_stay_within_1000_characters_with_a_long_display_name() {
    let name = "長".repeat(1500);
    let dir = format!(
        "[[mailbox]]\naddress = \"{TARO}\"\n\
         [[mailbox]]\naddress = \"full@contoso.com\"\nname = \"{name}\"\nquota = \"1MB\"\nusage = \"1MB\"\n\
         [[mailbox]]\naddress = \"away@contoso.com\"\nname = \"{name}\"\n\
         auto_reply = {{ internal = \"{}\" }}\n\
         [[mailbox]]\naddress = \"fwd@contoso.com\"\nname = \"{name}\"\nforwarding_address = \"a@b.example\"\n",
        "x".repeat(3000)
    );
    let server = TestServer::with_directory_file(demo_config(), &dir).await;
    for locale in ["en", "ja"] {
        let mut d = draft(
            TARO,
            &["full@contoso.com", "away@contoso.com", "fwd@contoso.com"],
        );
        d.locale = locale.into();
        d.read_receipt_requested = true;
        let r = server.tips(d).await;
        let texts: Vec<&str> = r
            .recipients
            .iter()
            .flat_map(|x| &x.tips)
            .chain(&r.draft_tips)
            .map(|t| t.text.as_str())
            .collect();
        assert_eq!(texts.len(), 4, "{texts:?}");
        for t in texts {
            assert!(
                t.chars().count() <= 1000,
                "{} characters: {t}",
                t.chars().count()
            );
        }
        // The name is cut, not dropped.
        assert!(
            r.recipients[0].tips[0]
                .text
                .contains(&format!("{}…", "長".repeat(100)))
        );
    }
}

#[tokio::test]
async fn quoted_local_part_is_the_same_address() {
    let server = TestServer::demo().await;
    let r = server
        .tips(draft(
            TARO,
            &["\"hanako.sato\"@contoso.com", "\"hanako\"@Contoso.com"],
        ))
        .await;
    for x in &r.recipients {
        assert_eq!(
            x.resolved_as,
            pb::ResolvedKind::Mailbox as i32,
            "{}",
            x.address
        );
        assert_eq!(kinds(x), [K::AutoReply], "{}", x.address);
    }
    // The address is echoed as given.
    assert_eq!(r.recipients[0].address, "\"hanako.sato\"@contoso.com");
}

#[tokio::test]
async fn japanese_texts_call_people_さん_and_shared_mailboxes_by_name() {
    let server = TestServer::demo().await;
    let mut d = draft(TARO, &["board@contoso.com", "kenji.suzuki@contoso.com"]);
    d.locale = "ja".into();
    let r = server.tips(d).await;
    assert_eq!(
        r.recipients[0].tips[0].text,
        "取締役会 Board に送信する権限がありません。メッセージは配信されません。"
    );
    assert_eq!(
        r.recipients[1].tips[0].text,
        "鈴木 健二 さんのメールボックスがいっぱいです。メッセージは配信されません。"
    );
}

#[tokio::test]
async fn posix_locale_ja_jp_is_japanese() {
    let server = TestServer::demo().await;
    let mut d = draft(TARO, &["kenji.suzuki@contoso.com"]);
    d.locale = "ja_JP".into();
    let r = server.tips(d).await;
    assert_eq!(
        r.recipients[0].tips[0].text,
        "鈴木 健二 さんのメールボックスがいっぱいです。メッセージは配信されません。"
    );
}

#[tokio::test]
async fn reply_all_without_original_recipients_says_nothing() {
    let server = TestServer::demo().await;
    let mut d = draft(TARO, &["hanako.sato@contoso.com"]);
    d.reply_all = Some(pb::ReplyAllContext::default());
    assert!(server.tips(d.clone()).await.draft_tips.is_empty());
    // Only addresses that do not parse: nothing to compare either.
    d.reply_all = Some(pb::ReplyAllContext {
        original_to: vec!["not an address".into()],
        original_cc: vec![],
    });
    assert!(server.tips(d.clone()).await.draft_tips.is_empty());
    d.reply_all = Some(pb::ReplyAllContext {
        original_to: vec!["hanako.sato@contoso.com".into()],
        original_cc: vec![],
    });
    assert!(draft_tip(&server.tips(d).await, K::ReplyAllOnBcc).is_some());
}

#[test]
fn a_dangling_member_in_an_internal_domain_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("directory.toml");
    std::fs::write(
        &path,
        "[[mailbox]]\naddress = \"a@contoso.com\"\n[[group]]\naddress = \"g@contoso.com\"\nmembers = [\"a@contoso.com\", \"typo@contoso.com\"]\n",
    )
    .unwrap();
    let err = mailtips::directory::FileDirectory::load(&path, Default::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("group[0] (g@contoso.com): field `members[1]`: typo@contoso.com is not in this directory"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailtips_tips_reply_all_without_originals_says_nothing() {
    let server = TestServer::demo().await;
    let url = server.url();
    let run = move |extra: &'static [&'static str]| {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_mailtips"))
                .args(["tips", "--from", TARO, "--to", "hanako.sato@contoso.com"])
                .args(extra)
                .args(["--server", &url])
                .output()
                .expect("run mailtips tips");
            assert!(out.status.success(), "{out:?}");
            String::from_utf8(out.stdout).unwrap()
        })
    };
    let bare = run(&["--reply-all"]).await.unwrap();
    assert!(!bare.contains("REPLY_ALL_ON_BCC"), "{bare}");
    let with = run(&["--reply-all", "--original-to", "hr@contoso.com"])
        .await
        .unwrap();
    assert!(with.contains("REPLY_ALL_ON_BCC"), "{with}");
}
