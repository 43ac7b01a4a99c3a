//! The connection attacks of the abuse suite: idle TCP connections, HTTP/1.1 bodies sent a
//! byte at a time, and HTTP/2 requests that never finish; each reports how many connections
//! the server closed within the window.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::{METHOD, WINDOW};

/// Counts the tasks in `set` that finish (their connection closed) within `window`.
pub(crate) async fn closed_within(mut set: JoinSet<()>, window: Duration) -> usize {
    let closed = Arc::new(AtomicUsize::new(0));
    let _ = tokio::time::timeout(window, async {
        while set.join_next().await.is_some() {
            closed.fetch_add(1, Ordering::Relaxed);
        }
    })
    .await;
    set.abort_all();
    closed.load(Ordering::Relaxed)
}

/// Reads until the peer closes.
pub(crate) async fn until_closed(mut s: impl tokio::io::AsyncRead + Unpin) {
    let mut buf = [0u8; 1024];
    while let Ok(n) = s.read(&mut buf).await {
        if n == 0 {
            return;
        }
    }
}

pub(crate) async fn idle_connections(addr: SocketAddr, n: usize) -> String {
    let mut set = JoinSet::new();
    let mut opened = 0;
    for _ in 0..n {
        if let Ok(s) = TcpStream::connect(addr).await {
            opened += 1;
            set.spawn(until_closed(s));
        }
    }
    let closed = closed_within(set, WINDOW).await;
    format!("{opened} opened, {closed} closed by the server within {WINDOW:?}")
}

pub(crate) async fn slow_bodies(addr: SocketAddr, n: usize) -> String {
    let mut set = JoinSet::new();
    let mut opened = 0;
    for _ in 0..n {
        let Ok(s) = TcpStream::connect(addr).await else {
            continue;
        };
        opened += 1;
        set.spawn(async move {
            let (read, mut write) = tokio::io::split(s);
            let head = format!(
                "POST {METHOD} HTTP/1.1\r\nHost: x\r\nContent-Type: application/grpc-web+proto\r\nContent-Length: 1000\r\n\r\n"
            );
            let trickle = async move {
                if write.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                loop {
                    if write.write_all(b"\0").await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            };
            tokio::select! {
                () = trickle => {}
                () = until_closed(read) => {}
            }
        });
    }
    let closed = closed_within(set, WINDOW).await;
    format!("{opened} opened, {closed} closed by the server within {WINDOW:?}")
}

pub(crate) fn h2_request(addr: SocketAddr, path: &str) -> http::Request<()> {
    http::Request::post(format!("http://{addr}{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .expect("request")
}

pub(crate) async fn unfinished_h2(addr: SocketAddr, n: usize) -> String {
    let mut set = JoinSet::new();
    let mut opened = 0;
    for _ in 0..n {
        let Ok(tcp) = TcpStream::connect(addr).await else {
            continue;
        };
        let Ok((mut client, conn)) = h2::client::handshake(tcp).await else {
            continue;
        };
        opened += 1;
        set.spawn(async move {
            let conn = tokio::spawn(conn);
            // Headers, then a body that never ends; the handles stay so only the server
            // can end the connection.
            let held = client.send_request(h2_request(addr, METHOD), false);
            let _ = conn.await;
            drop((client, held));
        });
    }
    // The request's deadline, then the idle timeout of the connection it leaves behind.
    let window = WINDOW + Duration::from_secs(4);
    let closed = closed_within(set, window).await;
    format!("{opened} opened, {closed} closed by the server within {window:?}")
}
