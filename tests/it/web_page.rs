//! The compose page over real HTTP/1.1 against the in-process server on `127.0.0.1:0`: served
//! at `/` with its assets and security headers next to gRPC-web on the same port, and gone
//! when `server.web_page = false`. (The page's behaviour in a browser is `browser.rs`.)

use std::net::SocketAddr;
use std::path::Path;

use mailtips::config::Config;

use crate::support::*;

/// The embedded demo organisation with `server.web_page` set.
async fn start(web_page: bool) -> TestServer {
    let mut config = demo_config();
    config.server.web_page = web_page;
    TestServer::embedded_demo(config).await
}

/// One HTTP/1.1 request on its own connection; returns the status line, headers (lower-case)
/// and body.
async fn http(addr: SocketAddr, request: String) -> (String, String, Vec<u8>) {
    let (head, body) = http1(addr, request.as_bytes()).await;
    let (status, headers) = head.split_once("\r\n").unwrap_or((&head, ""));
    (status.to_owned(), headers.to_owned(), body)
}

fn get(path: &str, method: &str) -> String {
    format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
}

#[tokio::test]
async fn page_and_assets_are_served_on_the_grpc_port() {
    let server = start(true).await;
    let (status, headers, body) = http(server.addr, get("/", "GET")).await;
    assert_eq!(status, "http/1.1 200 ok");
    assert!(
        headers.contains("content-type: text/html; charset=utf-8"),
        "{headers}"
    );
    assert!(
        headers.contains("content-security-policy: default-src 'none'"),
        "{headers}"
    );
    let html = String::from_utf8(body).unwrap();
    assert!(
        html.contains("<script defer src=\"/assets/app.js\">"),
        "{html}"
    );

    let (status, headers, body) = http(server.addr, get("/assets/app.js", "GET")).await;
    assert_eq!(status, "http/1.1 200 ok");
    assert!(
        headers.contains("content-type: text/javascript"),
        "{headers}"
    );
    assert!(body.len() > 10_000);
    let (status, headers, _) = http(server.addr, get("/assets/app.css", "HEAD")).await;
    assert_eq!(status, "http/1.1 200 ok");
    assert!(headers.contains("content-type: text/css"), "{headers}");

    // Anything else is not the page's: a plain HTTP/1.1 GET elsewhere is refused as before.
    let (status, _, _) = http(server.addr, get("/assets/secret", "GET")).await;
    assert_ne!(status, "http/1.1 200 ok");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn grpc_web_and_preflight_still_work_beside_the_page() {
    let mut config = demo_config();
    config.server.cors_allowed_origins = vec!["https://mail.example.com".into()];
    let server = TestServer::embedded_demo(config).await;
    // A CORS preflight from another origin, as a browser sends before a gRPC-web call.
    let preflight = "OPTIONS /mailtips.v1.MailTipsService/GetMailTips HTTP/1.1\r\nHost: 127.0.0.1\r\n\
         Origin: https://mail.example.com\r\nAccess-Control-Request-Method: POST\r\n\
         Access-Control-Request-Headers: content-type,x-grpc-web\r\nConnection: close\r\n\r\n";
    let (status, headers, _) = http(server.addr, preflight.to_owned()).await;
    assert_eq!(status, "http/1.1 200 ok", "{headers}");
    assert!(
        headers.contains("access-control-allow-origin: https://mail.example.com"),
        "{headers}"
    );

    // An empty GetServiceConfigurationRequest over gRPC-web: one zero-length frame.
    let frame = [0u8, 0, 0, 0, 0];
    let mut req = format!(
        "POST /mailtips.v1.MailTipsService/GetServiceConfiguration HTTP/1.1\r\nHost: 127.0.0.1\r\n\
         Content-Type: application/grpc-web+proto\r\nX-Grpc-Web: 1\r\nOrigin: https://mail.example.com\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        frame.len()
    )
    .into_bytes();
    req.extend_from_slice(&frame);
    let (status, headers, body) = http(server.addr, String::from_utf8(req).unwrap()).await;
    assert_eq!(status, "http/1.1 200 ok", "{headers}");
    assert!(
        headers.contains("content-type: application/grpc-web+proto"),
        "{headers}"
    );
    assert!(
        headers.contains(
            "access-control-expose-headers: grpc-status,grpc-message,grpc-status-details-bin"
        ),
        "{headers}"
    );
    // A data frame with the configuration, then a trailer frame with grpc-status 0. The body
    // may arrive chunked; look for the trailer text.
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("grpc-status:0"), "{text:?}");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn web_page_false_turns_the_page_off() {
    let server = start(false).await;
    let (status, _, _) = http(server.addr, get("/", "GET")).await;
    assert_ne!(status, "http/1.1 200 ok");
    server.stop().await.unwrap();
}

#[test]
fn web_page_is_on_by_default_and_a_documented_key() {
    let base = "[org]\ninternal_domains = [{ domain = \"contoso.com\" }]\n";
    let on = Config::from_toml(base, Path::new("t.toml")).unwrap();
    assert!(on.server.web_page);
    let off = Config::from_toml(
        &format!("[server]\nweb_page = false\n{base}"),
        Path::new("t.toml"),
    )
    .unwrap();
    assert!(!off.server.web_page);
    assert!(DEMO_CONFIG.contains("\nweb_page = true\n"));
    // A misspelt key is refused, not ignored.
    let err = Config::from_toml(
        &format!("[server]\nweb_pages = false\n{base}"),
        Path::new("t.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("web_pages"), "{err}");
}
