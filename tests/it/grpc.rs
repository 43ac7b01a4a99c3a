//! The real server over a real socket with a real tonic client: every tip kind on the demo
//! organisation, every exception, limits, Japanese texts, WatchMailTips, service
//! configuration, health, reflection (v1 and v1alpha) and a gRPC-web call.

use std::time::Duration;

use mailtips::pb;
use mailtips::pb::TipKind as K;
use mailtips::pb::mail_tip::Data;
use tonic_types::StatusExt;

use crate::support::*;

#[tokio::test]
async fn every_tip_kind_in_request_order() {
    let server = TestServer::demo().await;
    server.wait_for_metrics("all-staff@contoso.com").await;
    let mut client = server.client();
    let mut req = request(
        TARO,
        &[
            ("nobody@contoso.com", To),
            ("not-an-address", To),
            ("kenji.suzuki@contoso.com", To),
            ("hanako.sato@contoso.com", Cc),
            ("helpdesk@contoso.com", Cc),
            ("board@contoso.com", Cc),
            ("john.smith@partner.example", Cc),
            ("partners@contoso.com", Bcc),
            ("all-staff@contoso.com", Bcc),
            ("announcements@contoso.com", Bcc),
            ("yuki.ito@contoso.com", Bcc),
            ("someone@fabrikam.com", Bcc),
            ("nobody@contoso.com", To),
        ],
    );
    req.message_size_bytes = 12_000_000;
    req.reply_all = Some(pb::ReplyAllContext {
        original_to: vec!["hanako.sato@contoso.com".into()],
        original_cc: vec![],
    });
    let r = client
        .get_mail_tips(req.clone())
        .await
        .unwrap()
        .into_inner();
    let got: Vec<(String, Vec<K>)> = r
        .recipients
        .iter()
        .map(|r| (r.address.clone(), kinds(r)))
        .collect();
    let want: Vec<(String, Vec<K>)> = vec![
        ("nobody@contoso.com", vec![K::InvalidInternalRecipient]),
        ("not-an-address", vec![K::InvalidInternalRecipient]),
        ("kenji.suzuki@contoso.com", vec![K::MailboxFull]),
        ("hanako.sato@contoso.com", vec![K::AutoReply]),
        ("helpdesk@contoso.com", vec![K::Custom]),
        // board@ has a custom tip too: the restriction hides it.
        ("board@contoso.com", vec![K::RestrictedRecipient]),
        ("john.smith@partner.example", vec![K::ExternalRecipient]),
        ("partners@contoso.com", vec![K::ExternalRecipient]),
        ("all-staff@contoso.com", vec![K::LargeAudience]),
        (
            "announcements@contoso.com",
            vec![K::ModeratedRecipient, K::LargeAudience],
        ),
        ("yuki.ito@contoso.com", vec![K::MessageTooLarge]),
        ("someone@fabrikam.com", vec![]),
        ("nobody@contoso.com", vec![K::InvalidInternalRecipient]),
    ]
    .into_iter()
    .map(|(a, k)| (a.to_owned(), k))
    .collect();
    assert_eq!(got, want);
    let draft: Vec<i32> = r.draft_tips.iter().map(|t| t.kind).collect();
    // all-staff@ alone reaches 37 people: the whole draft is above the threshold too.
    assert_eq!(draft, [K::ReplyAllOnBcc as i32, K::WholeAudience as i32]);
    assert!(
        r.recipients.iter().all(|r| r.pending.is_empty()),
        "{:?}",
        r.recipients
    );

    // Structured data and scopes.
    let rs = &r.recipients;
    assert_eq!(rs[0].scope, pb::RecipientScope::Internal as i32);
    assert_eq!(rs[0].resolved_as, pb::ResolvedKind::Unknown as i32);
    match &rs[1].tips[0].data {
        Some(Data::InvalidRecipient(d)) => {
            assert_eq!(d.reason, pb::InvalidReason::MalformedAddress as i32);
            assert_eq!(d.detail, "missing '@'");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(rs[1].scope, pb::RecipientScope::Unspecified as i32);
    assert!(
        matches!(&rs[2].tips[0].data, Some(Data::MailboxFull(d)) if d.quota_bytes == 2_000_000_000)
    );
    assert_eq!(rs[2].display_name, "鈴木 健二");
    assert!(matches!(&rs[6].tips[0].data, Some(Data::External(d)) if !d.is_group));
    assert_eq!(rs[6].resolved_as, pb::ResolvedKind::Contact as i32);
    assert!(
        matches!(&rs[7].tips[0].data, Some(Data::External(d)) if d.is_group && d.external_member_count == 2 && d.total_member_count == 3)
    );
    // 18 Tokyo + 16 Osaka (one shared) + 2 executives + helpdesk; the nesting loop is survived.
    assert!(
        matches!(&rs[8].tips[0].data, Some(Data::LargeAudience(d)) if d.member_count == 37 && d.threshold == 25)
    );
    assert!(
        matches!(&rs[9].tips[0].data, Some(Data::Moderated(d)) if d.moderators == ["hr@contoso.com"])
    );
    assert!(
        matches!(&rs[10].tips[0].data, Some(Data::MessageTooLarge(d)) if d.limit_bytes == 10_000_000 && d.source == pb::SizeLimitSource::Recipient as i32)
    );
    assert_eq!(rs[11].scope, pb::RecipientScope::RemoteInternal as i32);
    assert_eq!(rs[8].resolved_as, pb::ResolvedKind::Group as i32);

    let evaluated = r.evaluated_at.unwrap();
    let refresh = r.refresh_after.unwrap();
    assert_eq!(refresh.seconds - evaluated.seconds, 7200);
}

#[tokio::test]
async fn auto_reply_texts_html_and_limits() {
    let server = TestServer::demo().await;
    let mut client = server.client();
    let internal = client
        .get_mail_tips(request(TARO, &[("hanako@contoso.com", To)]))
        .await
        .unwrap()
        .into_inner();
    let Some(Data::AutoReply(d)) = &internal.recipients[0].tips[0].data else {
        panic!()
    };
    assert!(
        d.preview.starts_with("お疲れ様です。佐藤です。"),
        "{}",
        d.preview
    );
    assert_eq!(d.preview.chars().count(), 175);
    assert!(d.message.chars().count() > 175 && d.message.chars().count() <= 1000);
    assert!(
        !d.message.contains("<p>") && !d.message.contains("<b>"),
        "HTML turned to text: {}",
        d.message
    );
    assert!(
        d.message
            .contains("Kenji Suzuki <kenji.suzuki@contoso.com>."),
        "entities decoded: {}",
        d.message
    );
    assert!(
        d.message.contains("お急ぎの件は 鈴木 健二"),
        "source line breaks are spaces: {}",
        d.message
    );
    assert!(!d.external_reply);
    // A remote domain marked internal sees the internal text.
    let remote = client
        .get_mail_tips(request(
            "someone@fabrikam.com",
            &[("hanako@contoso.com", To)],
        ))
        .await
        .unwrap()
        .into_inner();
    let Some(Data::AutoReply(d)) = &remote.recipients[0].tips[0].data else {
        panic!()
    };
    assert!(d.preview.starts_with("お疲れ様です"));
    // An external sender sees the external text.
    let external = client
        .get_mail_tips(request("x@gmail.example", &[("hanako@contoso.com", To)]))
        .await
        .unwrap()
        .into_inner();
    let Some(Data::AutoReply(d)) = &external.recipients[0].tips[0].data else {
        panic!()
    };
    assert!(d.external_reply);
    assert!(
        d.preview.starts_with("Thank you for your message."),
        "{}",
        d.preview
    );
}

#[tokio::test]
async fn restriction_moderation_and_authenticated_senders() {
    let server = TestServer::demo().await;
    server.wait_for_metrics("announcements@contoso.com").await;
    let mut client = server.client();
    // The CEO is in executives@, which board@ accepts: no restriction, and the custom tip shows.
    let ceo = client
        .get_mail_tips(request("ceo@contoso.com", &[("board@contoso.com", To)]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(kinds(&ceo.recipients[0]), [K::Custom]);
    // Moderator and bypass (through executives@) see no moderation tip.
    for sender in ["hr@contoso.com", "akiko.tanaka@contoso.com"] {
        let r = client
            .get_mail_tips(request(sender, &[("announcements@contoso.com", To)]))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(kinds(&r.recipients[0]), [K::LargeAudience], "{sender}");
    }
    // legal@ requires authenticated senders: internal fine, external restricted.
    let inside = client
        .get_mail_tips(request(TARO, &[("legal@contoso.com", To)]))
        .await
        .unwrap()
        .into_inner();
    assert!(inside.recipients[0].tips.is_empty());
    let outside = client
        .get_mail_tips(request("x@gmail.example", &[("legal@contoso.com", To)]))
        .await
        .unwrap()
        .into_inner();
    let t = tip(&outside.recipients[0], K::RestrictedRecipient);
    assert!(
        matches!(&t.data, Some(Data::Restricted(d)) if d.reason == pb::RestrictionReason::RequiresAuthenticatedSender as i32)
    );
}

#[tokio::test]
async fn group_members_are_never_evaluated() {
    let server = TestServer::demo().await;
    server.wait_for_metrics("tokyo-office@contoso.com").await;
    let mut client = server.client();
    // tokyo-office holds kenji (full) and hanako (auto-reply): the group shows neither.
    let r = client
        .get_mail_tips(request(TARO, &[("tokyo-office@contoso.com", To)]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(kinds(&r.recipients[0]), Vec::<K>::new());
}

#[tokio::test]
async fn reply_all_judged_on_every_proxy_address_and_size_limits() {
    let server = TestServer::demo().await;
    let mut client = server.client();
    let mut req = request(TARO, &[("hanako.sato@contoso.com", To)]);
    req.reply_all = Some(pb::ReplyAllContext {
        original_to: vec!["hanako.sato@contoso.com".into()],
        original_cc: vec!["T.Yamada@JP.contoso.com".into()],
    });
    req.message_size_bytes = 26_000_000;
    let r = client
        .get_mail_tips(req.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.draft_tips.len(), 1, "{:?}", r.draft_tips);
    assert!(
        matches!(&r.draft_tips[0].data, Some(Data::MessageTooLarge(d)) if d.source == pb::SizeLimitSource::Organization as i32 && d.limit_bytes == 25_000_000)
    );
    // Over the sender's own 30 MB too: the smaller (organisation) limit is named.
    req.message_size_bytes = 31_000_000;
    let r = client.get_mail_tips(req).await.unwrap().into_inner();
    assert!(
        matches!(&r.draft_tips[0].data, Some(Data::MessageTooLarge(d)) if d.limit_bytes == 25_000_000)
    );
}

/// A draft of more than 256 recipients is evaluated on the lower-priority heavy runtime; its
/// answer is the same, in full and in order, as one evaluated on a request worker.
#[tokio::test]
async fn a_heavy_draft_is_answered_like_a_light_one() {
    let server = TestServer::demo().await;
    let people = [
        ("hanako.sato@contoso.com", To),
        ("helpdesk@contoso.com", To),
        ("nobody-here@contoso.com", Cc),
    ];
    let answer = |n: usize| {
        let extra: Vec<String> = (0..n).map(|i| format!("person{i}@gmail.example")).collect();
        let mut recipients = people.to_vec();
        recipients.extend(extra.iter().map(|a| (a.as_str(), Bcc)));
        let req = request("kenji.suzuki@contoso.com", &recipients);
        let mut client = server.client();
        async move { (client.get_mail_tips(req).await.unwrap().into_inner(), extra) }
    };
    let (light, _) = answer(250).await;
    let (heavy, extra) = answer(400).await;
    assert_eq!(light.recipients.len(), 253);
    let addresses: Vec<&str> = heavy
        .recipients
        .iter()
        .map(|r| r.address.as_str())
        .collect();
    let wanted: Vec<&str> = people
        .iter()
        .map(|p| p.0)
        .chain(extra.iter().map(String::as_str))
        .collect();
    assert_eq!(addresses, wanted);
    assert_eq!(kinds(&heavy.recipients[2]), [K::InvalidInternalRecipient]);
    assert_eq!(kinds(&heavy.recipients[3]), [K::ExternalRecipient]);
    for (l, h) in light.recipients.iter().zip(&heavy.recipients).take(4) {
        assert_eq!(l, h);
    }
}

#[tokio::test]
async fn over_200_recipients_skips_mailbox_sourced_tips() {
    let server = TestServer::demo().await;
    let mut client = server.client();
    let mut recipients = vec![
        ("hanako.sato@contoso.com", To),
        ("kenji.suzuki@contoso.com", To),
        ("helpdesk@contoso.com", To),
    ];
    let extra: Vec<String> = (0..198)
        .map(|i| format!("person{i}@gmail.example"))
        .collect();
    recipients.extend(extra.iter().map(|a| (a.as_str(), Bcc)));
    let r = client
        .get_mail_tips(request(TARO, &recipients))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.recipients.len(), 201);
    assert!(r.per_mailbox_tips_skipped);
    assert_eq!(
        r.skipped_tip_kinds,
        [K::MailboxFull as i32, K::AutoReply as i32]
    );
    assert!(r.recipients[0].tips.is_empty());
    assert!(r.recipients[1].tips.is_empty());
    assert_eq!(kinds(&r.recipients[2]), [K::Custom]);
    assert_eq!(kinds(&r.recipients[200]), [K::ExternalRecipient]);
    // Exactly 200 is still evaluated.
    recipients.pop();
    let r = client
        .get_mail_tips(request(TARO, &recipients))
        .await
        .unwrap()
        .into_inner();
    assert!(!r.per_mailbox_tips_skipped);
    assert_eq!(kinds(&r.recipients[0]), [K::AutoReply]);
}

#[tokio::test]
async fn japanese_texts() {
    let server = TestServer::demo().await;
    let mut client = server.client();
    let mut req = request(
        TARO,
        &[
            ("nobody@contoso.com", To),
            ("helpdesk@contoso.com", To),
            ("kenji.suzuki@contoso.com", To),
        ],
    );
    req.locale = "ja-JP".into();
    let r = client.get_mail_tips(req).await.unwrap().into_inner();
    assert_eq!(
        r.recipients[0].tips[0].text,
        "nobody@contoso.com は組織のディレクトリに見つかりません。メッセージは配信されない可能性があります。"
    );
    assert!(r.recipients[1].tips[0].text.starts_with("ヘルプデスクは"));
    assert_eq!(
        r.recipients[2].tips[0].text,
        "鈴木 健二 さんのメールボックスがいっぱいです。メッセージは配信されません。"
    );
}

#[tokio::test]
async fn bad_input_is_invalid_argument_naming_the_field() {
    let server = TestServer::demo().await;
    let mut client = server.client();
    let field_of = |s: tonic::Status| {
        assert_eq!(s.code(), tonic::Code::InvalidArgument, "{s:?}");
        s.get_error_details()
            .bad_request()
            .expect("BadRequest detail")
            .field_violations[0]
            .field
            .clone()
    };
    let err = client
        .get_mail_tips(request("", &[("a@contoso.com", To)]))
        .await
        .unwrap_err();
    assert_eq!(field_of(err), "sender");
    let err = client
        .get_mail_tips(request(
            TARO,
            &[("a@contoso.com", pb::RecipientField::Unspecified)],
        ))
        .await
        .unwrap_err();
    assert_eq!(field_of(err), "recipients[0].field");
    let many: Vec<String> = (0..1001).map(|i| format!("u{i}@contoso.com")).collect();
    let req = request(
        TARO,
        &many.iter().map(|a| (a.as_str(), To)).collect::<Vec<_>>(),
    );
    let err = client.get_mail_tips(req).await.unwrap_err();
    assert!(
        err.message()
            .contains("1001 recipients is more than the maximum of 1000"),
        "{}",
        err.message()
    );
    assert_eq!(field_of(err), "recipients");
    let mut req = request(TARO, &[]);
    req.tip_kinds = vec![42];
    assert_eq!(
        field_of(client.get_mail_tips(req).await.unwrap_err()),
        "tip_kinds[0]"
    );
    let mut req = request(TARO, &[]);
    req.locale = "not a locale".into();
    assert_eq!(
        field_of(client.watch_mail_tips(req).await.unwrap_err()),
        "locale"
    );

    // Hostile recipient addresses only get their own tip; the server keeps answering.
    let hostile = [
        "*",
        "*)(objectClass=*",
        "a\0b@contoso.com",
        "\\@contoso.com",
        "🙂@🙂.example",
        &"x".repeat(1000),
        "@",
        "a@b@c.com",
    ];
    let req = request(TARO, &hostile.iter().map(|a| (*a, To)).collect::<Vec<_>>());
    let r = client.get_mail_tips(req).await.unwrap().into_inner();
    assert_eq!(r.recipients.len(), hostile.len());
    for rt in &r.recipients[..] {
        assert!(rt.resolved_as == pb::ResolvedKind::Unknown as i32, "{rt:?}");
    }
    let err = client
        .get_mail_tips(request(TARO, &[(&"x".repeat(5000), To)]))
        .await
        .unwrap_err();
    assert_eq!(field_of(err), "recipients[0].address");
}

#[tokio::test]
async fn watch_pushes_a_fresh_evaluation_every_refresh_interval() {
    let dir = DEMO_DIRECTORY;
    let server = TestServer::with_directory_file(demo_config(), dir).await;
    let mut client = server.client();
    let mut stream = client
        .watch_mail_tips(request(TARO, &[("yuki.ito@contoso.com", To)]))
        .await
        .unwrap()
        .into_inner();
    let first = stream.message().await.unwrap().unwrap();
    assert!(first.recipients[0].tips.is_empty());

    // Yuki turns automatic replies on while the draft stays open.
    let changed = dir.replace(
        "address = \"yuki.ito@contoso.com\"\nname = \"伊藤 由紀\"\n",
        "address = \"yuki.ito@contoso.com\"\nname = \"伊藤 由紀\"\nauto_reply = { internal = \"On leave\" }\n",
    );
    assert_ne!(changed, dir);
    let file = server.directory_file();
    std::fs::write(&file.path, changed).unwrap();
    file.directory.reload().unwrap();

    tokio::time::pause();
    let paused_at = tokio::time::Instant::now();
    // Nothing within the first hour of (virtual) time...
    assert!(
        tokio::time::timeout(Duration::from_secs(3600), stream.message())
            .await
            .is_err()
    );
    // ...then the refresh at two hours, with the new tip.
    let second = tokio::time::timeout(Duration::from_secs(3 * 3600), stream.message())
        .await
        .expect("refresh within 2 h")
        .unwrap()
        .unwrap();
    let waited = paused_at.elapsed();
    // The stream's timer started a moment before the clock was paused, and tokio fires a
    // timer on the first millisecond tick at or after its deadline: up to 1 ms later.
    assert!(
        waited >= Duration::from_secs(7100)
            && waited <= Duration::from_secs(7200) + Duration::from_millis(1),
        "{waited:?}"
    );
    assert_eq!(kinds(&second.recipients[0]), [K::AutoReply]);
    tokio::time::resume();
    drop(stream);
}

#[tokio::test]
async fn service_configuration() {
    let server = TestServer::demo().await;
    let mut client = server.client();
    let c = client
        .get_service_configuration(pb::GetServiceConfigurationRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(c.mail_tips_enabled);
    assert_eq!(c.enabled_tip_kinds.len(), 15);
    assert_eq!(c.max_recipients_per_request, 1000);
    assert_eq!(c.max_message_size_bytes, 25_000_000);
    assert_eq!(c.large_audience_threshold, 25);
    assert!(c.show_external_recipient_counts);
    assert_eq!(
        c.internal_domains,
        [pb::DomainRule {
            domain: "contoso.com".into(),
            include_subdomains: true
        }]
    );
    assert_eq!(
        c.remote_domains[0].domain.as_ref().unwrap().domain,
        "fabrikam.com"
    );
    assert!(c.remote_domains[0].internal);
    assert_eq!(c.refresh_interval.unwrap().seconds, 7200);
    assert_eq!(c.per_mailbox_evaluation_cap, 200);
}

#[tokio::test]
async fn org_switches_apply() {
    let text = DEMO_CONFIG
        .replace(
            "external_recipient_tips = true",
            "external_recipient_tips = false",
        )
        .replace("custom = true", "custom = false");
    let server = TestServer::with_directory_file(config(&text), DEMO_DIRECTORY).await;
    let mut client = server.client();
    let r = client
        .get_mail_tips(request(
            TARO,
            &[("helpdesk@contoso.com", To), ("x@gmail.example", To)],
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(r.recipients.iter().all(|r| r.tips.is_empty()), "{r:?}");
    let c = client
        .get_service_configuration(pb::GetServiceConfigurationRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(!c.show_external_recipient_counts);
    assert_eq!(c.enabled_tip_kinds.len(), 13);
}

#[tokio::test]
async fn health_reports_serving() {
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};
    let server = TestServer::demo().await;
    let mut health = HealthClient::new(server.channel());
    for service in ["", "mailtips.v1.MailTipsService"] {
        let r = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.status, ServingStatus::Serving as i32, "{service:?}");
    }
}

#[tokio::test]
async fn reflection_v1_and_v1alpha_list_the_service() {
    use tokio_stream::StreamExt;
    let server = TestServer::demo().await;
    let channel = server.channel();
    {
        use tonic_reflection::pb::v1::ServerReflectionRequest;
        use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
        let mut c = ServerReflectionClient::new(channel.clone());
        let req = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut stream = c
            .server_reflection_info(tokio_stream::iter([req]))
            .await
            .unwrap()
            .into_inner();
        let resp = stream.next().await.unwrap().unwrap();
        let Some(MessageResponse::ListServicesResponse(list)) = resp.message_response else {
            panic!("{resp:?}")
        };
        let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
        assert!(
            names.contains(&"mailtips.v1.MailTipsService".to_owned()),
            "{names:?}"
        );
        assert!(
            names.contains(&"grpc.health.v1.Health".to_owned()),
            "{names:?}"
        );
    }
    {
        use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
        use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;
        let mut c = ServerReflectionClient::new(channel);
        let req = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::FileContainingSymbol(
                "mailtips.v1.MailTipsService".into(),
            )),
        };
        let mut stream = c
            .server_reflection_info(tokio_stream::iter([req]))
            .await
            .unwrap()
            .into_inner();
        let resp = stream.next().await.unwrap().unwrap();
        let Some(MessageResponse::FileDescriptorResponse(fds)) = resp.message_response else {
            panic!("{resp:?}")
        };
        assert!(!fds.file_descriptor_proto.is_empty());
    }
}

/// A browser-shaped gRPC-web call over plain HTTP/1.1, with the CORS preflight first.
#[tokio::test]
async fn grpc_web_over_http1_with_cors() {
    use prost::Message;
    let mut config = demo_config();
    config.server.cors_allowed_origins = vec!["http://example.test".into()];
    let server = TestServer::with_directory_file(config, DEMO_DIRECTORY).await;

    let preflight = format!(
        "OPTIONS /mailtips.v1.MailTipsService/GetMailTips HTTP/1.1\r\nHost: {}\r\nOrigin: http://example.test\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type,x-grpc-web,x-user-agent\r\nConnection: close\r\n\r\n",
        server.addr
    );
    let (head, _) = http1(server.addr, preflight.as_bytes()).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(
        head.contains("access-control-allow-origin: http://example.test"),
        "{head}"
    );
    assert!(head.contains("x-grpc-web"), "{head}");

    let msg = request(TARO, &[("kenji.suzuki@contoso.com", To)]).encode_to_vec();
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    frame.extend_from_slice(&msg);
    let mut post = format!(
        "POST /mailtips.v1.MailTipsService/GetMailTips HTTP/1.1\r\nHost: {}\r\nOrigin: http://example.test\r\nContent-Type: application/grpc-web+proto\r\nX-Grpc-Web: 1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        server.addr,
        frame.len()
    )
    .into_bytes();
    post.extend_from_slice(&frame);
    let (head, body) = http1(server.addr, &post).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(
        head.contains("content-type: application/grpc-web+proto"),
        "{head}"
    );
    assert!(head.contains("access-control-expose-headers"), "{head}");
    assert!(head.contains("grpc-status-details-bin"), "{head}");
    // Body: chunked transfer of a data frame then a trailer frame.
    let body = dechunk(&body);
    assert_eq!(body[0], 0, "data frame");
    let len = u32::from_be_bytes(body[1..5].try_into().unwrap()) as usize;
    let resp = pb::GetMailTipsResponse::decode(&body[5..5 + len]).unwrap();
    assert_eq!(kinds(&resp.recipients[0]), [K::MailboxFull]);
    let trailer = &body[5 + len..];
    assert_eq!(trailer[0], 0x80, "trailer frame");
    assert!(String::from_utf8_lossy(&trailer[5..]).contains("grpc-status:0"));
}

fn dechunk(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = body;
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size =
            usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).unwrap().trim(), 16)
                .unwrap();
        rest = &rest[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}
