//! The integration tests' one fixture: the real server for any backend ([`server`]), a real
//! slapd for the LDAP backend ([`slapd`]), and the helpers the tests share: the demo
//! organisation, request builders, reading tips out of a response, waiting, raw HTTP/1.1,
//! ports and signals.

pub mod jwt;
pub mod oidc;
pub mod server;
pub mod slapd;
pub mod tls;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mailtips::config::Config;
use mailtips::directory::FileDirectory;
use mailtips::pb;
pub use pb::RecipientField::{Bcc, Cc, To};
pub use server::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const DEMO_CONFIG: &str = include_str!("../../../examples/mailtips.toml");
pub const DEMO_DIRECTORY: &str = include_str!("../../../examples/demo-directory.toml");
pub const TARO: &str = "taro.yamada@contoso.com";

/// A path in the repository.
pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// A config from TOML text, which must be valid.
pub fn config(text: &str) -> Config {
    Config::from_toml(text, Path::new("test.toml")).expect("valid config")
}

/// The demo config (examples/mailtips.toml).
pub fn demo_config() -> Config {
    config(DEMO_CONFIG)
}

/// The servers that know the demo organisation (kept out of `server.rs`, which the load
/// bench includes).
impl TestServer {
    /// The demo organisation, from a directory file, with the demo config.
    pub async fn demo() -> Self {
        Self::with_directory_file(demo_config(), DEMO_DIRECTORY).await
    }

    /// The embedded demo organisation (as `mailtips serve` runs with no directory configured)
    /// with `config`.
    pub async fn embedded_demo(config: Config) -> Self {
        let directory = Arc::new(FileDirectory::demo(config.address_rules()));
        Self::start(config, directory).await
    }

    /// Waits (bounded) until the background group metrics have been computed, by asking for a
    /// group's tips until LARGE_AUDIENCE is no longer pending.
    pub async fn wait_for_metrics(&self, group: &str) {
        let mut client = self.client();
        for _ in 0..200 {
            let r = client
                .get_mail_tips(request(TARO, &[(group, To)]))
                .await
                .expect("call")
                .into_inner();
            if !r.recipients[0]
                .pending
                .contains(&(pb::TipKind::LargeAudience as i32))
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("group metrics were not computed within 2 s");
    }
}

pub fn request(sender: &str, recipients: &[(&str, pb::RecipientField)]) -> pb::GetMailTipsRequest {
    pb::GetMailTipsRequest {
        sender: sender.to_owned(),
        recipients: recipients
            .iter()
            .map(|(a, f)| pb::Recipient {
                address: (*a).to_owned(),
                field: *f as i32,
            })
            .collect(),
        ..Default::default()
    }
}

/// A draft from `sender` to `to` (all in To).
pub fn draft(sender: &str, to: &[&str]) -> pb::GetMailTipsRequest {
    let to: Vec<(&str, pb::RecipientField)> = to.iter().map(|a| (*a, To)).collect();
    request(sender, &to)
}

/// The tip kinds of a recipient, in order.
pub fn kinds(r: &pb::RecipientTips) -> Vec<pb::TipKind> {
    r.tips
        .iter()
        .map(|t| pb::TipKind::try_from(t.kind).expect("known kind"))
        .collect()
}

pub fn tip(r: &pb::RecipientTips, kind: pb::TipKind) -> &pb::MailTip {
    r.tips
        .iter()
        .find(|t| t.kind == kind as i32)
        .unwrap_or_else(|| panic!("{:?} has no {kind:?}: {:?}", r.address, kinds(r)))
}

pub fn has(r: &pb::RecipientTips, kind: pb::TipKind) -> bool {
    r.tips.iter().any(|t| t.kind == kind as i32)
}

/// True when nothing in the response is pending.
pub fn fully_resolved(resp: &pb::GetMailTipsResponse) -> bool {
    resp.draft_pending.is_empty() && resp.recipients.iter().all(|r| r.pending.is_empty())
}

/// A channel to a server starting on `127.0.0.1:port` (a spawned binary), once it accepts
/// connections (bounded wait).
pub async fn connect_channel(port: u16) -> tonic::transport::Channel {
    let started = Instant::now();
    loop {
        let endpoint = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
            .expect("url");
        match endpoint.connect().await {
            Ok(channel) => return channel,
            Err(e) if started.elapsed() > Duration::from_secs(30) => {
                panic!("the server did not start: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Polls `f` every 20 ms until it returns true or `limit` passes; returns the time it took.
pub async fn eventually<F, Fut>(limit: Duration, mut f: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < limit {
        if f().await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// One HTTP/1.1 exchange on its own connection (the request says `Connection: close`): the
/// head (status line and headers) lower-cased, and the body as it came.
pub async fn http1(addr: SocketAddr, request: &[u8]) -> (String, Vec<u8>) {
    let s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    http1_on(s, request).await
}

/// [`http1`] on a connection already open (e.g. TLS).
pub async fn http1_on<S>(mut s: S, request: &[u8]) -> (String, Vec<u8>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    s.write_all(request).await.expect("send the request");
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut raw))
        .await
        .expect("the response within 10 s")
        .expect("read the response");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    (
        String::from_utf8_lossy(&raw[..split]).to_lowercase(),
        raw[split + 4..].to_vec(),
    )
}

/// A gRPC-web POST of `req` to GetMailTips, as a browser sends it (`Connection: close`).
pub fn grpc_web_post(host: SocketAddr, req: &pb::GetMailTipsRequest) -> Vec<u8> {
    use prost::Message;
    let msg = req.encode_to_vec();
    let mut frame = vec![0u8];
    frame.extend_from_slice(&u32::try_from(msg.len()).expect("small").to_be_bytes());
    frame.extend_from_slice(&msg);
    let mut post = format!(
        "POST /mailtips.v1.MailTipsService/GetMailTips HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/grpc-web+proto\r\nX-Grpc-Web: 1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        frame.len()
    )
    .into_bytes();
    post.extend_from_slice(&frame);
    post
}

/// Waits (bounded by `limit`) until the peer closes `s`, discarding what it sends; true when
/// it closed (end of stream or reset) within the limit.
pub async fn closed_within<S>(s: &mut S, limit: Duration) -> bool
where
    S: tokio::io::AsyncRead + Unpin,
{
    let mut buf = [0u8; 4096];
    tokio::time::timeout(limit, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind a free port")
        .local_addr()
        .unwrap()
        .port()
}

/// Sends `sig` (`-HUP`, `-STOP`, ...) to process `pid` with kill(1).
/// Stops a process with SIGSTOP and waits until every one of its threads has stopped: the
/// signal takes effect asynchronously, and a thread still running could answer one more
/// request.
pub fn freeze(pid: u32) {
    signal(pid, "-STOP");
    let stopped = || {
        std::fs::read_dir(format!("/proc/{pid}/task"))
            .expect("the process's threads")
            .all(|task| {
                let stat =
                    std::fs::read_to_string(task.unwrap().path().join("stat")).unwrap_or_default();
                // The state follows the command name, which is in parentheses.
                let state = stat.rsplit_once(") ").map(|(_, rest)| rest.chars().next());
                matches!(state, Some(Some('T' | 't')) | None)
            })
    };
    let started = Instant::now();
    while !stopped() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "process {pid} did not stop"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

pub fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok, "kill {sig} {pid} failed");
}
