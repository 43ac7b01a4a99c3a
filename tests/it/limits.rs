//! Connection limits over real sockets (`[server.limits]`, with tiny timeouts): idle
//! connections, slow HTTP/1.1 bodies and unfinished HTTP/2 requests are closed, and the
//! connection cap refuses the excess while a real client still gets through once connections
//! are idle. Each test waits for the close itself, bounded generously; none measures time.

use std::time::Duration;

use mailtips::config::{Config, LimitsConfig};
use mailtips::pb::mail_tips_service_client::MailTipsServiceClient;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tonic::transport::Channel;

use crate::support::*;

/// Generous bound for a close that a tiny timeout triggers.
const CLOSED: Duration = Duration::from_secs(10);

/// The demo config with `set` applied to its `[server.limits]`.
fn limits(set: impl FnOnce(&mut LimitsConfig)) -> Config {
    let mut config = demo_config();
    set(&mut config.server.limits);
    config
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

async fn channel(addr: std::net::SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .expect("connect")
}

#[tokio::test]
async fn idle_connections_are_closed() {
    let config = limits(|l| l.idle_timeout = ms(200));
    let server = TestServer::embedded_demo(config).await;
    // A connection that never sends anything.
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    assert!(closed_within(&mut silent, CLOSED).await);
    // A connection that sends half a request head, then nothing.
    let mut half = TcpStream::connect(server.addr).await.unwrap();
    half.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    assert!(closed_within(&mut half, CLOSED).await);
    // An HTTP/2 connection that never opens a stream (the client answers keepalive pings and
    // keeps its handle, so only the server can end it).
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::time::timeout(CLOSED, connection)
        .await
        .expect("the server closes the idle HTTP/2 connection")
        .ok();
    drop(client);
}

#[tokio::test]
async fn a_body_sent_a_byte_at_a_time_is_cut_off() {
    let config = limits(|l| {
        l.request_body_timeout = ms(300);
        l.idle_timeout = ms(300);
    });
    let server = TestServer::embedded_demo(config).await;
    let post = grpc_web_post(server.addr, &draft(TARO, &["kenji.suzuki@contoso.com"]));
    let s = TcpStream::connect(server.addr).await.unwrap();
    let (mut read, mut write) = tokio::io::split(s);
    // The head, then the body a byte every 100 ms; never its last byte.
    let head_end = post.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let trickle = tokio::spawn(async move {
        write.write_all(&post[..head_end]).await.unwrap();
        for b in &post[head_end..post.len() - 1] {
            if write.write_all(&[*b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        std::future::pending::<()>().await;
    });
    assert!(closed_within(&mut read, CLOSED).await);
    trickle.abort();
}

#[tokio::test]
async fn an_unfinished_http2_request_ends_and_its_connection_closes() {
    let config = limits(|l| {
        l.request_body_timeout = ms(300);
        l.idle_timeout = ms(300);
    });
    let server = TestServer::embedded_demo(config).await;
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let (mut client, connection) = h2::client::handshake(tcp).await.unwrap();
    let connection = tokio::spawn(connection);
    let request = http::Request::post(format!(
        "http://{}/mailtips.v1.MailTipsService/GetMailTips",
        server.addr
    ))
    .header("content-type", "application/grpc")
    .header("te", "trailers")
    .body(())
    .unwrap();
    // Headers, and a body that never ends.
    let (response, _body) = client.send_request(request, false).unwrap();
    let response = tokio::time::timeout(CLOSED, response)
        .await
        .expect("an answer")
        .expect("a response");
    let status = match response.headers().get("grpc-status") {
        Some(s) => s.clone(),
        None => {
            let mut body = response.into_body();
            while body.data().await.is_some() {}
            body.trailers().await.unwrap().unwrap()["grpc-status"].clone()
        }
    };
    assert_eq!(status, "4", "DEADLINE_EXCEEDED");
    // The client keeps its handle: only the server can end the connection.
    tokio::time::timeout(CLOSED, connection)
        .await
        .expect("the server closes the idle connection")
        .unwrap()
        .ok();
    drop(client);
}

#[tokio::test]
async fn the_connection_cap_refuses_the_excess_and_real_clients_get_through_once_others_idle() {
    let config = limits(|l| {
        l.max_connections = 3;
        l.idle_timeout = Duration::from_secs(3600);
    });
    let server = TestServer::embedded_demo(config).await;
    // Three connections, each busy with an open stream.
    let mut streams = Vec::new();
    for _ in 0..3 {
        let mut stream = MailTipsServiceClient::new(channel(server.addr).await)
            .watch_mail_tips(draft(TARO, &["kenji.suzuki@contoso.com"]))
            .await
            .unwrap()
            .into_inner();
        stream.message().await.unwrap().unwrap();
        streams.push(stream);
    }
    // A fourth is closed at once (the idle timeout is an hour away).
    let mut fourth = TcpStream::connect(server.addr).await.unwrap();
    assert!(closed_within(&mut fourth, CLOSED).await, "refused at once");

    // The streams end: their connections are idle now, and a new client takes the place of
    // the one idle the longest.
    drop(streams);
    let through = eventually(CLOSED, || async {
        let Ok(ch) = Channel::from_shared(server.url()).unwrap().connect().await else {
            return false;
        };
        MailTipsServiceClient::new(ch)
            .get_mail_tips(draft(TARO, &["kenji.suzuki@contoso.com"]))
            .await
            .is_ok()
    })
    .await;
    assert!(through.is_some(), "a real client got through");
}

/// docs/reliability.md: its command exists, and every key its table names is in the example
/// config's `[server.limits]`.
#[test]
fn the_reliability_docs_hold() {
    let doc = std::fs::read_to_string(repo("docs/reliability.md")).unwrap();
    assert!(doc.contains("```sh\nscripts/abuse.sh\n```"));
    assert!(repo("scripts/abuse.sh").is_file());
    let example = DEMO_CONFIG;
    let limits = &example[example.find("[server.limits]").unwrap()..];
    let limits = &limits[..limits.find("\n[directory]").unwrap()];
    for row in doc.lines().filter(|l| l.starts_with("| `")) {
        for key in row.split('|').nth(1).unwrap().split('`').skip(1).step_by(2) {
            assert!(
                limits.contains(&format!("\n{key} = ")),
                "{key} in examples/mailtips.toml"
            );
        }
    }
}
