//! The compose page with authentication on, in real headless Chromium: a web mail front end
//! hands the page a bearer token in the URL fragment; the page keeps it out of the address bar
//! and sends it on every call (`web/tests/token.e2e.mjs`).

use std::path::PathBuf;
use std::process::Command;

use crate::support::jwt::{self, AUDIENCE, ISSUER, SigningKey};
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compose_page_sends_the_token_it_was_handed() {
    let chromium = std::env::var_os("MAILTIPS_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        chromium.exists() && repo("web/node_modules/playwright-core").exists(),
        "needs Chromium and web/node_modules: `apt-get install chromium` and `npm ci` in web/ \
         (scripts/test.sh does both)"
    );
    let tmp = tempfile::tempdir().unwrap();
    let key = SigningKey::es256("k1");
    let jwks = tmp.path().join("jwks.json");
    std::fs::write(&jwks, jwt::jwks(&[&key])).unwrap();
    let config = config(&format!(
        "{DEMO_CONFIG}\n[auth]\n[[auth.jwt]]\nissuer = \"{ISSUER}\"\naudience = \"{AUDIENCE}\"\n\
         jwks_file = \"{}\"\n",
        jwks.display()
    ));
    let server = TestServer::embedded_demo(config).await;
    let token = key.sign(&jwt::claims(TARO));
    let url = format!("{}/", server.url());
    let status = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(repo("web/tests/token.e2e.mjs"))
            .current_dir(repo("web"))
            .env("MAILTIPS_URL", url)
            .env("MAILTIPS_TOKEN", token)
            .env("MAILTIPS_CHROMIUM", chromium)
            .status()
            .expect("node")
    })
    .await
    .unwrap();
    assert!(
        status.success(),
        "the page did not send the token (steps above)"
    );
}
