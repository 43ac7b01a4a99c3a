//! Trusted services over real TLS: a client certificate whose DNS name is a trusted service
//! may ask as any sender of its domains and nothing outside them; a certificate naming no
//! trusted service is `UNAUTHENTICATED`; a person's bearer token works over the same port.

use std::sync::Arc;

use mailtips::directory::FileDirectory;
use mailtips::pb::mail_tips_service_client::MailTipsServiceClient;
use tonic::Code;
use tonic::transport::Channel;

use crate::auth::DIRECTORY;
use crate::support::jwt::{self, AUDIENCE, ISSUER, SigningKey};
use crate::support::tls::{TestCa, TlsFiles};
use crate::support::*;

#[tokio::test]
async fn trusted_services_by_client_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = TestCa::new("mailtips test CA");
    let files = TlsFiles::write(tmp.path(), &ca.server_cert(), Some(&ca));
    let key = SigningKey::es256("k1");
    let jwks = tmp.path().join("jwks.json");
    std::fs::write(&jwks, jwt::jwks(&[&key])).unwrap();
    let dir = tmp.path().join("directory.toml");
    std::fs::write(&dir, DIRECTORY).unwrap();

    let config = config(&format!(
        "[server.tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\nclient_ca_file = \"{}\"\n\
         [org]\ninternal_domains = [{{ domain = \"contoso.com\" }}, {{ domain = \"fabrikam.com\" }}]\n\
         [auth]\n\
         [[auth.jwt]]\nissuer = \"{ISSUER}\"\naudience = \"{AUDIENCE}\"\njwks_file = \"{}\"\n\
         [[auth.trusted_service]]\nname = \"webmail.contoso.com\"\nsender_domains = [\"contoso.com\"]\n",
        files.cert_file.display(),
        files.key_file.display(),
        files.client_ca_file.as_ref().unwrap().display(),
        jwks.display()
    ));
    let directory = Arc::new(FileDirectory::load(&dir, config.address_rules()).unwrap());
    let server = TestServer::start_tls(config, directory, ca.client_tls()).await;

    let client = |cert: Option<&str>| {
        let mut tls = ca.client_tls();
        if let Some(dns) = cert {
            tls = tls.identity(ca.client_cert(dns).identity());
        }
        let channel = Channel::from_shared(format!("https://127.0.0.1:{}", server.addr.port()))
            .unwrap()
            .tls_config(tls)
            .unwrap()
            .connect_lazy();
        MailTipsServiceClient::new(channel)
    };
    let code = |r: Result<tonic::Response<_>, tonic::Status>| match r {
        Ok(_) => Code::Ok,
        Err(s) => s.code(),
    };

    let mut webmail = client(Some("webmail.contoso.com"));
    for sender in [
        "boss@contoso.com",
        "taro@contoso.com",
        "anyone@sub.contoso.com",
    ] {
        let r = webmail
            .get_mail_tips(draft(sender, &["taro@contoso.com"]))
            .await;
        assert_eq!(code(r), Code::Ok, "webmail asks as {sender}");
    }
    let status = webmail
        .get_mail_tips(draft("ceo@fabrikam.com", &["taro@contoso.com"]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(
        status.message().contains("webmail.contoso.com")
            && status.message().contains("ceo@fabrikam.com"),
        "{status:?}"
    );

    // A certificate from the trusted CA that names no trusted service.
    let mut other = client(Some("intranet.contoso.com"));
    let status = other
        .get_mail_tips(draft("boss@contoso.com", &[]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");

    // No certificate: a person's bearer token, over the same TLS port.
    let mut person = client(None);
    let mut req = tonic::Request::new(draft("taro@contoso.com", &["boss@contoso.com"]));
    let bearer = format!("Bearer {}", key.sign(&jwt::claims("taro@contoso.com")));
    req.metadata_mut()
        .insert("authorization", bearer.parse().unwrap());
    assert_eq!(code(person.get_mail_tips(req).await), Code::Ok);
    let r = person.get_mail_tips(draft("taro@contoso.com", &[])).await;
    assert_eq!(code(r), Code::Unauthenticated);
}
