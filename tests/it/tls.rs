//! TLS on the listening port, over real sockets with certificates made at test time: gRPC,
//! gRPC-web and the compose page over TLS, plaintext refused, client certificates, bad files
//! refused at start-up naming the file, and certificate rotation on SIGHUP that leaves an open
//! `WatchMailTips` stream alone.

use std::sync::Arc;
use std::time::Duration;

use mailtips::api::server::serve_backend;
use mailtips::config::{Config, TlsConfig};
use mailtips::directory::FileDirectory;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tonic::transport::Channel;

use crate::support::tls::{Leaf, TestCa, TlsFiles, connect};
use crate::support::*;

/// The demo config with `[server.tls]` set to `tls`.
fn tls_config(tls: TlsConfig) -> Config {
    let mut config = demo_config();
    config.server.tls = Some(tls);
    config
}

/// A TLS server of the embedded demo with its CA and certificate files.
async fn tls_server(client_ca: Option<&TestCa>) -> (TestServer, TestCa, tempfile::TempDir) {
    let ca = TestCa::new("mailtips test CA");
    let dir = tempfile::tempdir().unwrap();
    let files = TlsFiles::write(dir.path(), &ca.server_cert(), client_ca);
    let config = tls_config(files.config());
    let directory = Arc::new(FileDirectory::demo(config.address_rules()));
    let server = TestServer::start_tls(config, directory, ca.client_tls()).await;
    (server, ca, dir)
}

/// The certificate a new TLS connection to `addr` is served.
async fn served_cert(addr: std::net::SocketAddr, ca: &TestCa) -> CertificateDer<'static> {
    let tls = connect(addr, ca, &[b"h2"]).await.expect("TLS handshake");
    tls.get_ref().1.peer_certificates().expect("a certificate")[0].clone()
}

fn der(leaf: &Leaf) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(leaf.cert_pem.as_bytes()).unwrap()
}

#[tokio::test]
async fn grpc_over_tls_gives_tips() {
    let (server, _ca, _dir) = tls_server(None).await;
    assert!(server.url().starts_with("https://"));
    let r = server
        .tips(draft(TARO, &["kenji.suzuki@contoso.com"]))
        .await;
    assert_eq!(
        kinds(&r.recipients[0]),
        [mailtips::pb::TipKind::MailboxFull]
    );
}

#[tokio::test]
async fn grpc_web_and_the_compose_page_over_tls_with_http1() {
    let (server, ca, _dir) = tls_server(None).await;
    let tls = connect(server.addr, &ca, &[b"http/1.1"]).await.unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let get = format!(
        "GET / HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        server.addr
    );
    let (head, body) = http1_on(tls, get.as_bytes()).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(String::from_utf8_lossy(&body).contains("<html"), "the page");

    let tls = connect(server.addr, &ca, &[b"http/1.1"]).await.unwrap();
    let post = grpc_web_post(server.addr, &draft(TARO, &["kenji.suzuki@contoso.com"]));
    let (head, body) = http1_on(tls, &post).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(
        head.contains("content-type: application/grpc-web+proto"),
        "{head}"
    );
    assert!(
        String::from_utf8_lossy(&body).contains("grpc-status:0"),
        "{}",
        String::from_utf8_lossy(&body)
    );
}

#[tokio::test]
async fn plaintext_to_a_tls_port_fails() {
    let (server, _ca, _dir) = tls_server(None).await;
    let plain = Channel::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .connect()
        .await;
    let failed = match plain {
        Err(_) => true,
        Ok(channel) => mailtips::pb::mail_tips_service_client::MailTipsServiceClient::new(channel)
            .get_mail_tips(draft(TARO, &["kenji.suzuki@contoso.com"]))
            .await
            .is_err(),
    };
    assert!(failed, "a plaintext gRPC call to a TLS port must fail");

    // Plain HTTP/1.1 gets no HTTP answer: the server closes the connection.
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut raw))
        .await
        .expect("closed within 10 s");
    assert!(
        !raw.starts_with(b"HTTP/"),
        "{:?}",
        String::from_utf8_lossy(&raw)
    );
}

#[tokio::test]
async fn client_certificates_are_optional_but_must_verify() {
    let clients = TestCa::new("client CA");
    let (server, ca, _dir) = tls_server(Some(&clients)).await;
    let url = server.url();
    let call = |tls: tonic::transport::ClientTlsConfig| {
        let url = url.clone();
        async move {
            let channel = Channel::from_shared(url)
                .unwrap()
                .tls_config(tls)
                .unwrap()
                .connect()
                .await?;
            mailtips::pb::mail_tips_service_client::MailTipsServiceClient::new(channel)
                .get_mail_tips(draft(TARO, &["kenji.suzuki@contoso.com"]))
                .await
                .map_err(|s| anyhow::anyhow!("{s}"))?;
            anyhow::Ok(())
        }
    };
    // No certificate: connects (authentication decides what such a caller may do).
    call(ca.client_tls()).await.expect("no client certificate");
    // A certificate of the client CA: connects.
    let webmail = clients.client_cert("webmail.contoso.com");
    call(ca.client_tls().identity(webmail.identity()))
        .await
        .expect("a trusted client certificate");
    // A certificate of another CA: the handshake is refused.
    let stranger = TestCa::new("stranger").client_cert("webmail.contoso.com");
    assert!(
        call(ca.client_tls().identity(stranger.identity()))
            .await
            .is_err(),
        "a client certificate of an unknown CA must be refused"
    );
}

/// Starts a server on `tls` and returns its start-up error.
async fn start_up_error(tls: TlsConfig) -> String {
    let config = tls_config(tls);
    let directory = Arc::new(FileDirectory::demo(config.address_rules()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        serve_backend(config, directory.into(), listener, std::future::pending()),
    )
    .await
    .expect("refused at once");
    result.expect_err("refused").to_string()
}

#[tokio::test]
async fn bad_certificate_or_key_files_are_refused_at_start_up_naming_the_file() {
    let ca = TestCa::new("mailtips test CA");
    let dir = tempfile::tempdir().unwrap();
    let files = TlsFiles::write(dir.path(), &ca.server_cert(), None);
    let good = files.config();
    let key = good.key_file.display().to_string();
    let cert = good.cert_file.display().to_string();

    let missing = TlsConfig {
        cert_file: dir.path().join("nowhere.pem"),
        ..good.clone()
    };
    let err = start_up_error(missing).await;
    assert!(
        err.contains("cannot read") && err.contains("nowhere.pem"),
        "{err}"
    );

    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not PEM at all\n").unwrap();
    let err = start_up_error(TlsConfig {
        key_file: garbage.clone(),
        ..good.clone()
    })
    .await;
    assert!(
        err.contains("garbage.pem") && err.contains("private key"),
        "{err}"
    );
    let err = start_up_error(TlsConfig {
        cert_file: garbage,
        ..good.clone()
    })
    .await;
    assert!(
        err.contains("garbage.pem") && err.contains("certificate"),
        "{err}"
    );

    // The key of another certificate.
    let other = dir.path().join("other.key");
    std::fs::write(&other, ca.server_cert().key_pem).unwrap();
    let err = start_up_error(TlsConfig {
        key_file: other,
        ..good.clone()
    })
    .await;
    assert!(
        err.contains("other.key") && err.contains("does not match") && err.contains(&cert),
        "{err}"
    );
    assert!(!err.contains(&key), "{err}");
}

/// SIGHUP reloads the certificate for new connections; an open stream keeps its connection.
/// (The signal goes to this test process: other servers in it reload their unchanged files.)
#[tokio::test]
async fn sighup_serves_a_new_certificate_to_new_connections_and_open_streams_survive() {
    let ca = TestCa::new("mailtips test CA");
    let dir = tempfile::tempdir().unwrap();
    let old = ca.server_cert();
    let files = TlsFiles::write(dir.path(), &old, None);
    let mut config = tls_config(files.config());
    // Keepalive pings would race the paused clock below.
    config.server.limits.keepalive_interval = Duration::from_secs(24 * 3600);
    let directory = Arc::new(FileDirectory::demo(config.address_rules()));
    let server = TestServer::start_tls(config, directory, ca.client_tls()).await;

    let mut stream = server
        .client()
        .watch_mail_tips(draft(TARO, &["kenji.suzuki@contoso.com"]))
        .await
        .unwrap()
        .into_inner();
    stream.message().await.unwrap().expect("the first answer");
    assert_eq!(served_cert(server.addr, &ca).await, der(&old));

    let new = ca.server_cert();
    TlsFiles::write(dir.path(), &new, None);
    signal(std::process::id(), "-HUP");
    let seen = eventually(Duration::from_secs(10), || async {
        served_cert(server.addr, &ca).await == der(&new)
    })
    .await;
    assert!(seen.is_some(), "the new certificate within 10 s of SIGHUP");

    // The stream opened before the swap still answers at its next refresh (2 h, paused clock).
    tokio::time::pause();
    let next = tokio::time::timeout(Duration::from_secs(3 * 3600), stream.message())
        .await
        .expect("the refresh")
        .expect("the stream is still open")
        .expect("a message");
    assert_eq!(next.recipients.len(), 1);
}

/// Runs `mailtips tips` with `args` against `server`; its exit status and output.
async fn tips_cli(args: Vec<std::ffi::OsString>) -> (bool, String) {
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_mailtips"))
            .arg("tips")
            .args(args)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[tokio::test]
async fn the_tips_command_speaks_tls_with_a_ca_file_and_a_client_certificate() {
    let clients = TestCa::new("client CA");
    let (server, ca, dir) = tls_server(Some(&clients)).await;
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let leaf = clients.client_cert("webmail.contoso.com");
    let (cert, key) = (dir.path().join("client.pem"), dir.path().join("client.key"));
    std::fs::write(&cert, &leaf.cert_pem).unwrap();
    std::fs::write(&key, &leaf.key_pem).unwrap();
    let base = |ca: &std::path::Path| -> Vec<std::ffi::OsString> {
        vec![
            "--server".into(),
            server.url().into(),
            "--ca-file".into(),
            ca.into(),
            "--from".into(),
            TARO.into(),
            "--to".into(),
            "kenji.suzuki@contoso.com".into(),
        ]
    };
    let (ok, out) = tips_cli(base(&ca_file)).await;
    assert!(ok && out.contains("kenji.suzuki@contoso.com"), "{out}");
    let mut with_cert = base(&ca_file);
    with_cert.extend(["--cert".into(), cert.into(), "--key".into(), key.into()]);
    let (ok, out) = tips_cli(with_cert).await;
    assert!(ok && out.contains("kenji.suzuki@contoso.com"), "{out}");
    // Trusting another CA: refused.
    let other = dir.path().join("other.pem");
    std::fs::write(&other, TestCa::new("other").pem()).unwrap();
    let (ok, out) = tips_cli(base(&other)).await;
    assert!(!ok, "{out}");
}

/// The examples of docs/security.md's TLS section: the table parses, and the command's flags
/// exist.
#[test]
fn the_tls_docs_examples_hold() {
    let doc = std::fs::read_to_string(repo("docs/security.md")).unwrap();
    let tls = &doc[doc.find("## TLS").expect("a TLS section")..];
    let tls = &tls[..tls[1..].find("\n## ").map_or(tls.len(), |n| n + 1)];
    let block = |lang: &str| {
        let start = tls.find(&format!("```{lang}\n")).expect("an example") + lang.len() + 4;
        tls[start..start + tls[start..].find("```").unwrap()].to_owned()
    };
    let text = format!(
        "{}\n[org]\ninternal_domains = [{{ domain = \"contoso.com\" }}]\n",
        block("toml")
    );
    let parsed = config(&text);
    let files = parsed.server.tls.expect("[server.tls]");
    assert!(files.client_ca_file.is_some());

    let help = std::process::Command::new(env!("CARGO_BIN_EXE_mailtips"))
        .args(["tips", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in block("sh")
        .split_whitespace()
        .filter(|w| w.starts_with("--"))
    {
        assert!(help.contains(flag), "{flag} in mailtips tips --help");
    }
}
