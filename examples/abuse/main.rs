//! The abuse suite (`scripts/abuse.sh`, docs/reliability.md): starts a release `mailtips`
//! server on loopback, runs each attack with bounded counts and times while an ordinary caller
//! (from 127.0.0.2, another peer) asks for a small draft's tips, and prints a table: attack,
//! outcome, the server's peak RSS, and the ordinary caller's success rate and p50/p99.
//! `abuse --bin target/release/mailtips`; a build without `[server.limits]` runs with its
//! defaults, so the same suite gives the figures before and after.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use mailtips::pb;
use mailtips::pb::mail_tips_service_client::MailTipsServiceClient;
use prost::Message;
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tonic::transport::{Channel, Endpoint};

mod connections;
use connections::{h2_request, idle_connections, slow_bodies, unfinished_h2};

/// The suite's timeouts, shorter than the defaults so that it runs in minutes, and the
/// anti-harvest budget lifted: the suite measures the limits and load shedding, and its
/// ordinary caller asks far more often than a person (older builds drop both tables).
const LIMITS: &str = "[server.limits]\nidle_timeout = \"5s\"\nrequest_body_timeout = \"5s\"\n\
                      [auth]\nmode = \"none\"\nrecipients_per_minute = 1000000000\n";
/// How long a connection attack waits for the server to close them.
const WINDOW: Duration = Duration::from_secs(8);
const METHOD: &str = "/mailtips.v1.MailTipsService/GetMailTips";
const WATCH: &str = "/mailtips.v1.MailTipsService/WatchMailTips";

struct Server {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `bin` on a free loopback port, under `ulimit -n fd_limit` when given.
    async fn start(bin: &Path, fd_limit: Option<u32>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let base = include_str!("../mailtips.toml");
        // Without the example's own [server.limits] table (absent in older builds).
        let base = match (
            base.find("\n[server.limits]\n"),
            base.find("\n[directory]\n"),
        ) {
            (Some(a), Some(b)) => format!("{}{}", &base[..a], &base[b..]),
            _ => base.to_owned(),
        };
        let path = dir.path().join("mailtips.toml");
        let with_limits =
            base.replacen("\n[directory]\n", &format!("\n{LIMITS}\n[directory]\n"), 1);
        std::fs::write(&path, &with_limits).expect("write config");
        let ok = Command::new(bin)
            .args(["check-config", "--config"])
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            std::fs::write(&path, &base).expect("write config");
        }
        let serve = format!(
            "{}exec \"$0\" serve --config \"$1\" --listen 127.0.0.1:{port}",
            fd_limit.map_or(String::new(), |n| format!("ulimit -n {n} && "))
        );
        let child = Command::new("sh")
            .args(["-c", &serve])
            .arg(bin)
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the server");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let server = Self {
            child,
            addr,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(ch) = endpoint(addr, None).connect().await
                && MailTipsServiceClient::new(ch)
                    .get_mail_tips(small_draft())
                    .await
                    .is_ok()
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the server did not start");
    }

    fn rss_mb(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    }
}

fn endpoint(addr: SocketAddr, from: Option<IpAddr>) -> Endpoint {
    Endpoint::from_shared(format!("http://{addr}"))
        .expect("url")
        .local_address(from)
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(2))
}

fn small_draft() -> pb::GetMailTipsRequest {
    draft(&[
        "kenji.suzuki@contoso.com",
        "hr@contoso.com",
        "yuki.ito@contoso.com",
    ])
}

fn big_draft() -> pb::GetMailTipsRequest {
    let to: Vec<String> = (0..1000).map(|i| format!("user{i}@contoso.com")).collect();
    draft(&to.iter().map(String::as_str).collect::<Vec<_>>())
}

fn draft(to: &[&str]) -> pb::GetMailTipsRequest {
    pb::GetMailTipsRequest {
        sender: "taro.yamada@contoso.com".into(),
        recipients: to
            .iter()
            .map(|a| pb::Recipient {
                address: (*a).into(),
                field: pb::RecipientField::To as i32,
            })
            .collect(),
        ..Default::default()
    }
}

/// A gRPC message frame.
fn frame(req: &pb::GetMailTipsRequest) -> Bytes {
    let msg = req.encode_to_vec();
    let mut out = vec![0u8];
    out.extend_from_slice(&u32::try_from(msg.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(&msg);
    out.into()
}

/// The ordinary caller's figures over one attack.
#[derive(Default)]
struct Caller {
    ok: u32,
    failed: u32,
    latencies: Vec<Duration>,
}

impl Caller {
    fn summary(&mut self) -> String {
        self.latencies.sort();
        let pct = |p: f64| {
            let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
            self.latencies
                .get(i)
                .map_or("-".into(), |d| format!("{:.2}", d.as_secs_f64() * 1000.0))
        };
        let total = self.ok + self.failed;
        let rate = 100.0 * f64::from(self.ok) / f64::from(total.max(1));
        format!("{rate:.1}% of {total}, {} / {}", pct(0.5), pct(0.99))
    }
}

/// An ordinary caller from 127.0.0.2: one small draft every 10 ms, for `how_long`; on a new
/// connection for every call when `fresh` (clients arriving during the attack).
async fn ordinary(addr: SocketAddr, how_long: Duration, fresh: bool) -> Caller {
    let mut c = Caller::default();
    let end = Instant::now() + how_long;
    let from = Some(IpAddr::from([127, 0, 0, 2]));
    let mut client: Option<MailTipsServiceClient<Channel>> = None;
    while Instant::now() < end {
        let start = Instant::now();
        let result = async {
            if client.is_none() {
                let endpoint = endpoint(addr, from);
                let channel =
                    tokio::time::timeout(Duration::from_secs(2), endpoint.connect()).await;
                client = Some(MailTipsServiceClient::new(channel.ok()?.ok()?));
            }
            let call = client.as_mut()?.get_mail_tips(small_draft());
            tokio::time::timeout(Duration::from_secs(2), call)
                .await
                .ok()?
                .ok()
        }
        .await;
        match result {
            Some(_) => {
                c.ok += 1;
                c.latencies.push(start.elapsed());
                if fresh {
                    client = None;
                }
            }
            None => {
                c.failed += 1;
                client = None;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    c
}

/// Runs `attack` while the ordinary caller calls for `how_long` (on a new connection for every
/// call, starting a second into the attack, when `fresh`); samples the server's RSS.
async fn measure<F>(
    server: &Server,
    fresh: bool,
    how_long: Duration,
    attack: F,
) -> (String, f64, String)
where
    F: std::future::Future<Output = String> + Send + 'static,
{
    let attack = tokio::spawn(attack);
    if fresh {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // The ordinary caller is another client: its own thread and runtime, so that it never
    // waits behind the attack's tasks in this process (only for the CPU, as another process
    // on the same machine would).
    let addr = server.addr;
    let caller = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(ordinary(addr, how_long, fresh))
    });
    let mut peak: f64 = 0.0;
    while !caller.is_finished() {
        peak = peak.max(server.rss_mb());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut caller = caller.join().expect("caller");
    let outcome = attack.await.expect("attack");
    peak = peak.max(server.rss_mb());
    (outcome, peak, caller.summary())
}

/// `streams` WatchMailTips calls of 1,000 recipients over `conns` connections whose clients
/// never read (HTTP/2 window 0). Holds them for `hold`.
async fn non_reading_watches(
    addr: SocketAddr,
    conns: usize,
    per_conn: usize,
    hold: Duration,
) -> String {
    let body = frame(&big_draft());
    let accepted = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let mut set = JoinSet::new();
    for _ in 0..conns {
        let (body, accepted, refused) = (body.clone(), accepted.clone(), refused.clone());
        set.spawn(async move {
            let Ok(tcp) = TcpStream::connect(addr).await else {
                return;
            };
            let Ok((client, conn)) = h2::client::Builder::new()
                .initial_window_size(0)
                .handshake::<_, Bytes>(tcp)
                .await
            else {
                return;
            };
            tokio::spawn(conn);
            let mut held = Vec::new();
            for _ in 0..per_conn {
                let Ok(mut client) = client.clone().ready().await else {
                    break;
                };
                let Ok((response, mut send)) = client.send_request(h2_request(addr, WATCH), false)
                else {
                    break;
                };
                let _ = send.send_data(body.clone(), true);
                held.push(tokio::spawn({
                    let (accepted, refused) = (accepted.clone(), refused.clone());
                    async move {
                        match tokio::time::timeout(Duration::from_secs(10), response).await {
                            Ok(Ok(r)) if r.headers().get("grpc-status").is_none() => {
                                accepted.fetch_add(1, Ordering::Relaxed);
                                let _keep = (r, send);
                                std::future::pending::<()>().await;
                            }
                            _ => {
                                refused.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }));
            }
            std::future::pending::<()>().await;
            drop(held);
        });
    }
    tokio::time::sleep(hold).await;
    set.abort_all();
    format!(
        "{} streams open, {} refused or failed",
        accepted.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed)
    )
}

/// How the attacking client's threads are scheduled against everything else on this machine.
#[derive(Clone, Copy)]
enum Attacker {
    /// At the same priority as the server and the ordinary caller: on a 2-core machine the
    /// client's own CPU then competes with both of them.
    SameCores,
    /// `SCHED_IDLE`: the client runs only on cores nothing else wants, as an attacker on
    /// another machine would. The server's work for it is unchanged.
    Elsewhere,
}

impl Attacker {
    /// Applies to the calling thread and to every thread it creates afterwards (Linux threads
    /// inherit their scheduling policy).
    fn apply(self) {
        if let Attacker::Elsewhere = self {
            let param = libc::sched_param { sched_priority: 0 };
            // SAFETY: sched_setscheduler reads `param` only; pid 0 is the calling thread.
            let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
            assert_eq!(rc, 0, "SCHED_IDLE: {}", std::io::Error::last_os_error());
        }
    }
}

/// [`flood`] on its own runtime and threads (two workers, as a client on its own would
/// have), apart from the suite's own tasks.
async fn flooder(addr: SocketAddr, how_long: Duration, attacker: Attacker) -> String {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        attacker.apply();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let _ = tx.send(runtime.block_on(flood(addr, how_long)));
    });
    rx.await.unwrap_or_else(|_| "the flooder failed".into())
}

/// The control for the flood: two threads busy looping for `how_long`, no call to the
/// server. What the ordinary caller meets then is what any process keeping both cores busy
/// costs it on this machine.
async fn busy_cores(how_long: Duration, attacker: Attacker) -> String {
    let end = Instant::now() + how_long;
    let spin = move || {
        attacker.apply();
        let mut n = 0u64;
        while Instant::now() < end {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    };
    let threads = [std::thread::spawn(spin), std::thread::spawn(spin)];
    tokio::task::spawn_blocking(move || threads.map(|t| t.join().is_ok()))
        .await
        .map_or("the threads failed".into(), |_| "-".into())
}

async fn flood(addr: SocketAddr, how_long: Duration) -> String {
    let ok = Arc::new(AtomicUsize::new(0));
    let exhausted = Arc::new(AtomicUsize::new(0));
    let other = Arc::new(AtomicUsize::new(0));
    let ep = endpoint(addr, None).timeout(Duration::from_secs(30));
    let Ok(Ok(ch)) = tokio::time::timeout(Duration::from_secs(5), ep.connect()).await else {
        return "could not connect".into();
    };
    let mut channels = vec![ch];
    for _ in 1..4 {
        match ep.connect().await {
            Ok(ch) => channels.push(ch),
            Err(_) => break,
        }
    }
    let end = Instant::now() + how_long;
    let mut set = JoinSet::new();
    for i in 0..64 {
        let mut client = MailTipsServiceClient::new(channels[i % channels.len()].clone());
        let (ok, exhausted, other) = (ok.clone(), exhausted.clone(), other.clone());
        set.spawn(async move {
            let big = big_draft();
            while Instant::now() < end {
                match client.get_mail_tips(big.clone()).await {
                    Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
                    Err(s) if s.code() == tonic::Code::ResourceExhausted => {
                        exhausted.fetch_add(1, Ordering::Relaxed)
                    }
                    Err(_) => other.fetch_add(1, Ordering::Relaxed),
                };
            }
        });
    }
    while set.join_next().await.is_some() {}
    format!(
        "flooder: {} answered, {} RESOURCE_EXHAUSTED, {} other errors",
        ok.load(Ordering::Relaxed),
        exhausted.load(Ordering::Relaxed),
        other.load(Ordering::Relaxed)
    )
}

/// SIGTERM with `n` WatchMailTips streams open: how long the process takes to exit, its
/// status, and how the streams ended.
async fn sigterm_with_streams(mut server: Server, n: usize) -> String {
    let ch = endpoint(server.addr, None)
        .timeout(Duration::from_secs(60))
        .connect()
        .await;
    let Ok(ch) = ch else {
        return "could not connect".into();
    };
    let mut streams = Vec::new();
    for _ in 0..n {
        let mut client = MailTipsServiceClient::new(ch.clone());
        let open = tokio::time::timeout(Duration::from_secs(5), async {
            let mut s = client
                .watch_mail_tips(small_draft())
                .await
                .ok()?
                .into_inner();
            s.message().await.ok()?;
            Some(s)
        });
        if let Ok(Some(s)) = open.await {
            streams.push(s);
        }
    }
    let ends = tokio::spawn(async move {
        let mut waits = JoinSet::new();
        for mut s in streams {
            waits.spawn(async move {
                match tokio::time::timeout(Duration::from_secs(20), s.message()).await {
                    Ok(Ok(None)) => "ended OK".to_owned(),
                    Ok(Ok(Some(_))) => "sent a message".to_owned(),
                    Ok(Err(status)) => format!("{:?}", status.code()),
                    Err(_) => "still open".to_owned(),
                }
            });
        }
        let mut codes = std::collections::BTreeMap::<String, usize>::new();
        while let Some(Ok(end)) = waits.join_next().await {
            *codes.entry(end).or_default() += 1;
        }
        codes
    });
    let start = Instant::now();
    // SAFETY: kill(2) on the child's pid; no memory is touched.
    unsafe { libc::kill(i32::try_from(server.child.id()).unwrap_or(0), libc::SIGTERM) };
    let mut exit = None;
    while start.elapsed() < Duration::from_secs(15) {
        if let Ok(Some(status)) = server.child.try_wait() {
            exit = Some((start.elapsed(), status));
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if exit.is_none() {
        let _ = server.child.kill();
        let _ = server.child.wait();
    }
    let codes = ends.await.unwrap_or_default();
    let exit = match exit {
        Some((t, status)) => format!("exit {:?} after {:.1} s", status.code(), t.as_secs_f64()),
        None => "still running after 15 s (killed)".into(),
    };
    format!("{exit}; {n} streams: {codes:?}")
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (bin, only) = match args.as_slice() {
        [flag, path] if flag == "--bin" => (PathBuf::from(path), None),
        [flag, path, o, word] if flag == "--bin" && o == "--only" => {
            (PathBuf::from(path), Some(word.clone()))
        }
        _ => {
            eprintln!("usage: abuse --bin path/to/mailtips [--only WORD]");
            std::process::exit(2);
        }
    };
    // `--only WORD`: the quiet row and the attacks whose name holds WORD.
    let wanted = |attack: &str| only.as_ref().is_none_or(|w| attack.contains(w.as_str()));
    let mut rows = Vec::new();
    let server = Server::start(&bin, None).await;
    let addr = server.addr;
    // As long as the flood, so that both p99s come from as many calls.
    let quiet = Duration::from_secs(6);
    rows.push((
        "quiet (no attack)",
        measure(&server, false, quiet, async { String::from("-") }).await,
    ));
    let attack = "500 idle TCP connections";
    if wanted(attack) {
        let row = measure(&server, false, WINDOW, idle_connections(addr, 500)).await;
        rows.push((attack, row));
    }
    let attack = "500 HTTP/1.1 bodies, a byte a second";
    if wanted(attack) {
        let row = measure(&server, false, WINDOW, slow_bodies(addr, 500)).await;
        rows.push((attack, row));
    }
    let attack = "500 unfinished HTTP/2 requests";
    if wanted(attack) {
        let window = WINDOW + Duration::from_secs(4);
        let row = measure(&server, false, window, unfinished_h2(addr, 500)).await;
        rows.push((attack, row));
    }
    let attack = "5,000 non-reading WatchMailTips, 1,000 recipients";
    if wanted(attack) {
        let hold = Duration::from_secs(12);
        let watches = non_reading_watches(addr, 50, 100, hold);
        rows.push((attack, measure(&server, false, hold, watches).await));
    }
    // The flood and its control (no calls, two spinning threads), each with the attacking
    // threads on the same cores as everything else, then at idle priority.
    let flood = Duration::from_secs(6);
    for (attack, calls, attacker) in [
        (
            "flooder: 64 in flight of 1,000-recipient drafts, its client on the same cores",
            true,
            Attacker::SameCores,
        ),
        (
            "flooder: 64 in flight of 1,000-recipient drafts, its client at idle priority",
            true,
            Attacker::Elsewhere,
        ),
        (
            "control for the flood: two busy-looping threads, no calls",
            false,
            Attacker::SameCores,
        ),
        (
            "control for the flood: two busy-looping threads at idle priority, no calls",
            false,
            Attacker::Elsewhere,
        ),
    ] {
        if !wanted(attack) {
            continue;
        }
        let row = if calls {
            measure(&server, false, flood, flooder(addr, flood, attacker)).await
        } else {
            measure(&server, false, flood, busy_cores(flood, attacker)).await
        };
        rows.push((attack, row));
    }
    drop(server);

    let attack = "ulimit -n 256, 300 idle connections (caller: new connection per call)";
    if wanted(attack) {
        let limited = Server::start(&bin, Some(256)).await;
        let addr = limited.addr;
        let row = measure(&limited, true, WINDOW, idle_connections(addr, 300)).await;
        rows.push((attack, row));
    }

    let attack = "SIGTERM with 100 open streams";
    if wanted(attack) {
        let stopping = Server::start(&bin, None).await;
        let rss = stopping.rss_mb();
        let outcome = sigterm_with_streams(stopping, 100).await;
        rows.push((attack, (outcome, rss, "-".into())));
    }

    println!("| attack | outcome | server RSS (peak) | ordinary caller: ok, p50 / p99 (ms) |");
    println!("| --- | --- | --- | --- |");
    for (attack, (outcome, rss, caller)) in rows {
        println!("| {attack} | {outcome} | {rss:.0} MB | {caller} |");
    }
}
