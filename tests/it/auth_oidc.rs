//! A token from a real OpenID Connect provider: glewlwyd on loopback issues an ID token (ES256)
//! after a password login; mailtips finds the provider's keys through discovery and its JWKS
//! over HTTPS, and answers the token's owner, and only as the owner.

use tonic::Code;

use crate::auth::DIRECTORY;
use crate::support::oidc::{CLIENT_ID, Glewlwyd};
use crate::support::tls::TestCa;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_from_glewlwyd_through_discovery_and_jwks_over_https() {
    let ca = TestCa::new("mailtips test CA");
    let idp = Glewlwyd::start(&ca, "taro@contoso.com");
    let config = config(&format!(
        "[org]\ninternal_domains = [{{ domain = \"contoso.com\" }}]\n\
         [auth]\n[[auth.jwt]]\nissuer = \"{}\"\naudience = \"{CLIENT_ID}\"\ntls_ca_file = \"{}\"\n",
        idp.issuer,
        idp.ca_file.display()
    ));
    let server = TestServer::with_directory_file(config, DIRECTORY).await;
    let token = idp.id_token().await;
    let ask = |sender: &str| {
        let mut req = tonic::Request::new(draft(sender, &["boss@contoso.com"]));
        req.metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        let mut client = server.client();
        async move { client.get_mail_tips(req).await }
    };
    let r = ask("taro@contoso.com").await;
    assert!(r.is_ok(), "{r:?}");
    let status = ask("boss@contoso.com").await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
}
