//! Caller authentication and sender authorization over a real socket: bearer tokens signed in
//! the test (ES256 and EdDSA keys made here, their JWKS in a file), every way a token can be
//! wrong, asking as oneself, as a delegating mailbox, and as someone else; what stays open
//! without a token (health), and the anti-harvest budget.

use std::path::Path;

use mailtips::pb;
use serde_json::json;
use tonic::Code;
use tonic_types::StatusExt;

use crate::support::jwt::{self, AUDIENCE, ISSUER, SigningKey};
use crate::support::*;

/// A small organisation with delegations: boss lets assistant send on its behalf, and deputy
/// and the office group (clerk) send as it.
pub(crate) const DIRECTORY: &str = r#"
[[mailbox]]
address = "taro@contoso.com"
proxy_addresses = ["t.yamada@contoso.com"]

[[mailbox]]
address = "boss@contoso.com"
send_on_behalf = ["assistant@contoso.com"]
send_as = ["deputy@contoso.com", "office@contoso.com"]

[[mailbox]]
address = "assistant@contoso.com"

[[mailbox]]
address = "deputy@contoso.com"

[[mailbox]]
address = "clerk@contoso.com"

[[group]]
address = "office@contoso.com"
members = ["clerk@contoso.com"]
"#;

/// A server requiring tokens of [`ISSUER`], whose keys are in a JWKS file.
pub(crate) struct AuthServer {
    pub server: TestServer,
    _tmp: tempfile::TempDir,
}

/// A config requiring tokens of [`ISSUER`] with keys from `jwks`; `org` and `auth` are added
/// to those sections.
pub(crate) fn auth_config(jwks: &Path, org: &str, auth: &str) -> String {
    format!(
        "[org]\ninternal_domains = [{{ domain = \"contoso.com\" }}]\n{org}\n\
         [auth]\nmode = \"required\"\n{auth}\n\
         [[auth.jwt]]\nissuer = \"{ISSUER}\"\naudience = \"{AUDIENCE}\"\njwks_file = \"{}\"\n",
        jwks.display()
    )
}

impl AuthServer {
    async fn start(keys: &[&SigningKey], org: &str, auth: &str) -> Self {
        Self::start_with(keys, org, auth, |config| async move {
            TestServer::with_directory_file(config, DIRECTORY).await
        })
        .await
    }

    /// Like [`AuthServer::start`], with the server `start` makes from the config.
    pub(crate) async fn start_with<F, Fut>(
        keys: &[&SigningKey],
        org: &str,
        auth: &str,
        start: F,
    ) -> Self
    where
        F: FnOnce(mailtips::config::Config) -> Fut,
        Fut: std::future::Future<Output = TestServer>,
    {
        let tmp = tempfile::tempdir().expect("temp dir");
        let path = tmp.path().join("jwks.json");
        std::fs::write(&path, jwt::jwks(keys)).expect("write jwks");
        let server = start(config(&auth_config(&path, org, auth))).await;
        Self { server, _tmp: tmp }
    }

    pub(crate) async fn ask(
        &self,
        token: Option<&str>,
        sender: &str,
        to: &[&str],
    ) -> Result<pb::GetMailTipsResponse, tonic::Status> {
        let mut req = tonic::Request::new(draft(sender, to));
        if let Some(t) = token {
            req.metadata_mut().insert(
                "authorization",
                format!("Bearer {t}").parse().expect("header"),
            );
        }
        self.server
            .client()
            .get_mail_tips(req)
            .await
            .map(|r| r.into_inner())
    }
}

fn code(r: Result<pb::GetMailTipsResponse, tonic::Status>) -> Code {
    match r {
        Ok(_) => Code::Ok,
        Err(s) => s.code(),
    }
}

#[tokio::test]
async fn every_broken_token_is_unauthenticated() {
    let key = SigningKey::es256("k1");
    let stranger = SigningKey::es256("k2");
    let s = AuthServer::start(&[&key], "", "").await;
    let ask = |t: String| {
        let s = &s;
        async move {
            s.ask(Some(&t), "taro@contoso.com", &["boss@contoso.com"])
                .await
        }
    };
    let good = jwt::claims("taro@contoso.com");
    assert_eq!(code(ask(key.sign(&good)).await), Code::Ok, "a valid token");

    let now = jwt::now();
    let with = |k: &str, v: serde_json::Value| {
        let mut c = good.clone();
        c[k] = v;
        c
    };
    let cases = [
        ("expired", key.sign(&with("exp", json!(now - 120)))),
        ("not yet valid", key.sign(&with("nbf", json!(now + 600)))),
        (
            "wrong issuer",
            key.sign(&with("iss", json!("https://evil.test"))),
        ),
        ("wrong audience", key.sign(&with("aud", json!("other")))),
        ("no exp", {
            let mut c = good.clone();
            c.as_object_mut().unwrap().remove("exp");
            key.sign(&c)
        }),
        ("unknown key", stranger.sign(&good)),
        ("alg none", jwt::unsigned(&good)),
        (
            "HMAC with the public key",
            jwt::hmac_with_public_key(&key, &good),
        ),
        (
            "tampered payload",
            jwt::tampered(&key.sign(&good), &with("email", json!("boss@contoso.com"))),
        ),
        (
            "no address",
            key.sign(&with("email", json!("not an address"))),
        ),
        (
            "unverified email",
            key.sign(&with("email_verified", json!(false))),
        ),
        ("not a JWT", "hello".to_owned()),
    ];
    for (name, token) in cases {
        let r = ask(token).await;
        let Err(status) = r else {
            panic!("{name}: accepted")
        };
        assert_eq!(status.code(), Code::Unauthenticated, "{name}: {status:?}");
    }
    // No token at all, and a header that is not a bearer token.
    let status = s.ask(None, "taro@contoso.com", &[]).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(status.message().contains("bearer token"), "{status:?}");
}

#[tokio::test]
async fn callers_ask_as_themselves_or_as_mailboxes_that_delegate_to_them() {
    let key = SigningKey::ed25519("ed");
    let s = AuthServer::start(&[&key], "", "").await;
    delegations(&s, &key).await;
}

/// Own addresses in any case, delegations directly and through a group, and nothing else,
/// against [`DIRECTORY`] served by any backend.
pub(crate) async fn delegations(s: &AuthServer, key: &SigningKey) {
    let as_ = |who: &str| key.sign(&jwt::claims(who));
    let taro = as_("Taro@Contoso.COM");
    for sender in [
        "taro@contoso.com",
        "TARO@contoso.com",
        "T.Yamada@contoso.com",
    ] {
        let r = s.ask(Some(&taro), sender, &["boss@contoso.com"]).await;
        assert!(r.is_ok(), "{sender}: {r:?}");
    }
    // A token naming a proxy address asks as the primary.
    let proxy = as_("t.yamada@contoso.com");
    assert!(s.ask(Some(&proxy), "taro@contoso.com", &[]).await.is_ok());

    let status = s
        .ask(Some(&taro), "boss@contoso.com", &["x@contoso.com"])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(
        status.message().contains("taro@contoso.com")
            && status.message().contains("boss@contoso.com"),
        "names who asked for which sender: {status:?}"
    );
    // Someone the directory does not know, asking as a person it does not know either.
    let stranger = as_("nobody@contoso.com");
    for sender in ["boss@contoso.com", "ghost@contoso.com"] {
        let r = s.ask(Some(&stranger), sender, &[]).await;
        assert_eq!(code(r), Code::PermissionDenied, "{sender}");
    }

    // send_on_behalf and send_as directly, and send_as through a group.
    for who in [
        "assistant@contoso.com",
        "deputy@contoso.com",
        "clerk@contoso.com",
    ] {
        let r = s
            .ask(Some(&as_(who)), "boss@contoso.com", &["taro@contoso.com"])
            .await;
        assert!(r.is_ok(), "{who} asks as boss: {r:?}");
        // Delegation is one way.
        let r = s.ask(Some(&as_("boss@contoso.com")), who, &[]).await;
        assert_eq!(code(r), Code::PermissionDenied, "boss asks as {who}");
    }
}

#[tokio::test]
async fn health_is_open_and_the_other_methods_need_a_token() {
    let key = SigningKey::es256("k1");
    let s = AuthServer::start(&[&key], "", "").await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(s.server.channel());
    let r = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health answers without a token");
    assert_eq!(r.into_inner().status, 1, "SERVING");

    let mut client = s.server.client();
    let status = client
        .get_service_configuration(pb::GetServiceConfigurationRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = client
        .watch_mail_tips(draft("taro@contoso.com", &[]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);

    let mut req = tonic::Request::new(pb::GetServiceConfigurationRequest::default());
    let bearer = format!("Bearer {}", key.sign(&jwt::claims("taro@contoso.com")));
    req.metadata_mut()
        .insert("authorization", bearer.parse().unwrap());
    assert!(client.get_service_configuration(req).await.is_ok());
}

#[tokio::test]
async fn over_the_budget_is_resource_exhausted_with_retry_info() {
    let key = SigningKey::es256("k1");
    // Two lookups a minute: one refills every 30 s, far longer than this test runs.
    let s = AuthServer::start(
        &[&key],
        "max_recipients_per_request = 2\nper_mailbox_evaluation_cap = 2",
        "recipients_per_minute = 2",
    )
    .await;
    let token = key.sign(&jwt::claims("taro@contoso.com"));
    let two = ["boss@contoso.com", "clerk@contoso.com"];
    assert!(s.ask(Some(&token), "taro@contoso.com", &two).await.is_ok());
    let status = s
        .ask(Some(&token), "taro@contoso.com", &["boss@contoso.com"])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let retry = status.get_details_retry_info().expect("RetryInfo");
    assert!(retry.retry_delay.is_some_and(|d| !d.is_zero()));
    // Another caller has a budget of its own.
    let other = key.sign(&jwt::claims("clerk@contoso.com"));
    assert!(s.ask(Some(&other), "clerk@contoso.com", &two).await.is_ok());
}

/// `mailtips tips --token-file` and `--token` against a server that requires tokens.
#[tokio::test]
async fn the_tips_command_sends_a_bearer_token() {
    let key = SigningKey::es256("k1");
    let s = AuthServer::start(&[&key], "", "").await;
    let token = key.sign(&jwt::claims("taro@contoso.com"));
    let file = s._tmp.path().join("token");
    std::fs::write(&file, format!("{token}\n")).unwrap();
    let run = |extra: Vec<String>| {
        let url = s.server.url();
        async move {
            let out = tokio::task::spawn_blocking(move || {
                std::process::Command::new(env!("CARGO_BIN_EXE_mailtips"))
                    .args(["tips", "--server", &url, "--from", "taro@contoso.com"])
                    .args(["--to", "boss@contoso.com"])
                    .args(extra)
                    .output()
                    .unwrap()
            })
            .await
            .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr);
            (out.status.success(), text)
        }
    };
    let (ok, out) = run(vec!["--token-file".into(), file.display().to_string()]).await;
    assert!(ok && out.contains("boss@contoso.com"), "{out}");
    let (ok, out) = run(vec!["--token".into(), token.clone()]).await;
    assert!(ok, "{out}");
    let (ok, out) = run(vec![]).await;
    assert!(!ok && out.contains("needs a bearer token"), "{out}");
}
