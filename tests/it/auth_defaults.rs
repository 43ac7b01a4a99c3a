//! Secure defaults over real sockets: anonymous only on loopback unless written out, the
//! README's demo unchanged, no CORS grant for origins nobody listed, and `[auth]` mistakes
//! refused at start-up naming the key.

use std::path::Path;
use std::sync::Arc;

use mailtips::api::server::serve_backend;
use mailtips::config::Config;
use mailtips::directory::FileDirectory;

use crate::support::*;

/// Serves the embedded demo with `config` on `listener` until the returned sender is dropped;
/// the task's result says whether the server refused to start.
async fn serve_on(
    config: Config,
    listener: tokio::net::TcpListener,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), mailtips::api::server::ServerError>>,
) {
    let directory = Arc::new(FileDirectory::demo(config.address_rules()));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(serve_backend(
        config,
        directory.into(),
        listener,
        async move {
            let _ = stopped.await;
        },
    ));
    (stop, task)
}

#[tokio::test]
async fn beyond_loopback_without_auth_the_server_refuses_to_start() {
    // All interfaces: not loopback. Nothing is sent to any address but 127.0.0.1.
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let (_stop, task) = serve_on(demo_config(), listener).await;
    let err = task.await.unwrap().expect_err("refused");
    let message = err.to_string();
    assert!(
        message.contains("[auth]") && message.contains("mode = \"none\""),
        "says how to configure authentication: {message}"
    );

    // Written out, anonymous access beyond loopback is the administrator's choice.
    let config = config(&format!("{DEMO_CONFIG}\n[auth]\nmode = \"none\"\n"));
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, task) = serve_on(config, listener).await;
    let channel = tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect_lazy();
    let mut client = mailtips::pb::mail_tips_service_client::MailTipsServiceClient::new(channel);
    let r = client
        .get_mail_tips(draft(TARO, &["boss@contoso.com"]))
        .await;
    assert!(r.is_ok(), "{r:?}");
    drop(client);
    drop(stop);
    assert!(task.await.unwrap().is_ok());
}

#[tokio::test]
async fn the_readme_demo_stays_anonymous_on_loopback() {
    // `mailtips serve` with no flags: the embedded demo config on 127.0.0.1.
    let server = TestServer::embedded_demo(demo_config()).await;
    let r = server
        .tips(request(
            TARO,
            &[("hanako.sato@contoso.com", To), ("nobody@contoso.com", To)],
        ))
        .await;
    assert_eq!(r.recipients.len(), 2);
    // As anyone: no sender authorization without authentication.
    server.tips(draft("board@contoso.com", &[TARO])).await;
}

#[tokio::test]
async fn a_preflight_from_an_unlisted_origin_gets_no_cors_grant() {
    let preflight = |origin: &str| {
        format!(
            "OPTIONS /mailtips.v1.MailTipsService/GetMailTips HTTP/1.1\r\nHost: 127.0.0.1\r\n\
             Origin: {origin}\r\nAccess-Control-Request-Method: POST\r\n\
             Access-Control-Request-Headers: content-type,x-grpc-web,authorization\r\n\
             Connection: close\r\n\r\n"
        )
    };
    // The default: no origin at all.
    let server = TestServer::embedded_demo(demo_config()).await;
    let (head, _) = http1(server.addr, preflight("https://evil.example").as_bytes()).await;
    assert!(!head.contains("access-control-allow-origin"), "{head}");

    // A listed origin is granted, and may send a bearer token; others still are not.
    let mut config = demo_config();
    config.server.cors_allowed_origins = vec!["https://mail.contoso.com".into()];
    let server = TestServer::embedded_demo(config).await;
    let (head, _) = http1(
        server.addr,
        preflight("https://mail.contoso.com").as_bytes(),
    )
    .await;
    assert!(
        head.contains("access-control-allow-origin: https://mail.contoso.com"),
        "{head}"
    );
    assert!(head.contains("authorization"), "{head}");
    let (head, _) = http1(server.addr, preflight("https://evil.example").as_bytes()).await;
    assert!(!head.contains("access-control-allow-origin"), "{head}");
}

#[test]
fn auth_mistakes_are_refused_naming_the_key() {
    let refused = |auth: &str, key: &str| {
        let text =
            format!("[org]\ninternal_domains = [{{ domain = \"contoso.com\" }}]\n[auth]\n{auth}\n");
        let err = Config::from_toml(&text, Path::new("t.toml"))
            .expect_err(auth)
            .to_string();
        assert!(err.contains(key), "{auth}: {err}");
    };
    refused("mode = \"required\"", "auth: ");
    refused("mode = \"maybe\"", "mode");
    refused("recipients_per_minute = 10", "auth.recipients_per_minute");
    refused(
        "[[auth.jwt]]\nissuer = \"http://sso.test\"\naudience = \"m\"",
        "auth.jwt.issuer",
    );
    refused(
        "[[auth.jwt]]\nissuer = \"https://sso.test\"\naudience = \"m\"\njwks_url = \"http://sso.test/k\"",
        "auth.jwt.jwks_url",
    );
    refused(
        "[[auth.trusted_service]]\nname = \"webmail.contoso.com\"\nsender_domains = []",
        "auth.trusted_service.sender_domains",
    );
    refused("[[auth.jwt]]\nissuer = \"https://sso.test\"", "audience");
    refused(
        "[[auth.trusted_service]]\nname = \"webmail.contoso.com\"\nsender_domains = [\"contoso.com\"]",
        "client_ca_file",
    );
}

/// The examples of docs/security.md outside its TLS section: every config example parses (with
/// an accepted domain added) and every `mailtips tips` flag shown exists. (`docs::` loads the
/// directory example, as it does every directory example in the docs.)
#[test]
fn the_security_docs_examples_hold() {
    let doc = std::fs::read_to_string(repo("docs/security.md")).unwrap();
    let body = &doc[..doc.find("\n## TLS").expect("a TLS section")];
    let blocks = |lang: &str| -> Vec<String> {
        body.split(&format!("```{lang}\n"))
            .skip(1)
            .map(|b| b[..b.find("```").expect("closed block")].to_owned())
            .collect()
    };
    let tomls = blocks("toml");
    assert!(tomls.len() >= 4, "{} toml examples", tomls.len());
    for block in tomls {
        if !block.contains("[[mailbox]]") {
            let text =
                format!("{block}\n[org]\ninternal_domains = [{{ domain = \"contoso.com\" }}]\n");
            Config::from_toml(&text, Path::new("security.md"))
                .unwrap_or_else(|e| panic!("{block}: {e}"));
        }
    }
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_mailtips"))
        .args(["tips", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for block in blocks("sh") {
        let tips_part = block
            .split("mailtips tips")
            .skip(1)
            .flat_map(|p| p.split_whitespace().filter(|w| w.starts_with("--")))
            .map(str::to_owned)
            .collect::<Vec<_>>();
        for flag in tips_part {
            assert!(help.contains(&flag), "{flag} in mailtips tips --help");
        }
    }
}
