//! The headline benchmark (`cargo bench --bench load`): in one process, the real server on a
//! synthetic directory and a bare tonic server whose handler returns a pre-encoded response of
//! the same size, both driven by the same load client at the same concurrency, in alternating
//! rounds. Prints the throughput ratio and both p99s for warm 10- and 200-recipient drafts in two
//! configurations (plaintext; TLS with a bearer token on every call, where the real server
//! verifies the token and both servers terminate TLS), and the real server's p99 with the group
//! metrics job recomputing back-to-back beside it.
//!
//! Flags (after `--`): `--smoke` (tiny directory, 0.5 s rounds: a CI check that it all runs;
//! also what `cargo test` runs, as it passes no `--bench`),
//! `--mailboxes N`, `--groups M`, `--seconds S` per round, `--rounds R`, `--concurrency C`,
//! `--only 10|200|metrics|auth`, `--transport plain|tls|both` (default both), `--json FILE`. `auth` compares the real server requiring a
//! bearer token (ES256, verified once, then served from the verified-token cache) with the
//! same server without authentication, on the same 10-recipient drafts from one sender.
//!
//! Both servers and the client share this machine's cores, as they would in separate
//! processes; the ratio is what the targets are about, the absolute figures drift.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::{BufMut as _, Bytes};
use mailtips::config::Config;
use mailtips::directory::file::Snapshot;
use mailtips::directory::{FileDirectory, GroupSource};
use mailtips::metrics::MetricsStore;
use mailtips::pb;
use mailtips::tools::load::{self, AddressBook, DraftMix, LoadOptions, Report};
use mailtips::tools::synth::{self, GenParams};
use prost::Message as _;
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tonic::codec::{Codec, EncodeBuf, Encoder};
use tonic::{Request, Response, Status};

struct Args {
    smoke: bool,
    mailboxes: usize,
    groups: usize,
    seconds: f64,
    rounds: usize,
    concurrency: usize,
    only: Option<String>,
    transport: String,
    json: Option<String>,
}

fn args() -> Args {
    let mut a = Args {
        smoke: false,
        mailboxes: 100_000,
        groups: 10_000,
        seconds: 5.0,
        rounds: 3,
        concurrency: 32,
        only: None,
        transport: "both".into(),
        json: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().expect("flag needs a value");
        match flag.as_str() {
            "--smoke" => a.smoke = true,
            "--mailboxes" => a.mailboxes = value().parse().expect("--mailboxes N"),
            "--groups" => a.groups = value().parse().expect("--groups N"),
            "--seconds" => a.seconds = value().parse().expect("--seconds S"),
            "--rounds" => a.rounds = value().parse().expect("--rounds R"),
            "--concurrency" => a.concurrency = value().parse().expect("--concurrency C"),
            "--only" => a.only = Some(value()),
            "--transport" => a.transport = value(),
            "--json" => a.json = Some(value()),
            // `cargo bench` passes --bench; filters are not used here.
            _ => {}
        }
    }
    // `cargo test --all-targets` runs this without `--bench`: a smoke run then.
    if !std::env::args().any(|a| a == "--bench") {
        a.smoke = true;
    }
    if a.smoke {
        a.mailboxes = a.mailboxes.min(2_000);
        a.groups = a.groups.min(200);
        a.seconds = a.seconds.min(0.5);
        a.rounds = 1;
    }
    a
}

// ---- The bare baseline: decode the request, answer with pre-encoded bytes. ----

/// Writes already encoded protobuf bytes as the message.
struct PreEncodedEncoder;

impl Encoder for PreEncodedEncoder {
    type Item = Bytes;
    type Error = Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

#[derive(Default)]
struct BareCodec;

impl Codec for BareCodec {
    type Encode = Bytes;
    type Decode = pb::GetMailTipsRequest;
    type Encoder = PreEncodedEncoder;
    type Decoder = tonic_prost::ProstDecoder<pb::GetMailTipsRequest>;
    fn encoder(&mut self) -> Self::Encoder {
        PreEncodedEncoder
    }
    fn decoder(&mut self) -> Self::Decoder {
        tonic_prost::ProstDecoder::default()
    }
}

struct BareHandler(Bytes);

impl tonic::server::UnaryService<pb::GetMailTipsRequest> for BareHandler {
    type Response = Bytes;
    type Future = std::future::Ready<Result<Response<Bytes>, Status>>;
    fn call(&mut self, _request: Request<pb::GetMailTipsRequest>) -> Self::Future {
        std::future::ready(Ok(Response::new(self.0.clone())))
    }
}

/// `mailtips.v1.MailTipsService/GetMailTips` answering every call with the same bytes.
#[derive(Clone)]
struct BareServer(Bytes);

impl tonic::server::NamedService for BareServer {
    const NAME: &'static str = "mailtips.v1.MailTipsService";
}

impl tonic::codegen::Service<http::Request<tonic::body::Body>> for BareServer {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Infallible>> + Send>,
    >;
    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        let bytes = self.0.clone();
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(BareCodec);
            Ok(grpc.unary(BareHandler(bytes), req).await)
        })
    }
}

/// The bare server on a free port; over TLS with `identity` when given (then `https://`).
async fn start_bare(
    response: Bytes,
    identity: Option<tonic::transport::Identity>,
) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let scheme = if identity.is_some() { "https" } else { "http" };
    let mut builder = tonic::transport::Server::builder();
    if let Some(identity) = identity {
        builder = builder
            .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
            .unwrap();
    }
    tokio::spawn(
        builder
            .add_service(BareServer(response))
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
                async {
                    let _ = rx.await;
                },
            ),
    );
    (format!("{scheme}://{addr}"), tx)
}

// ---- The real server, started by the integration tests' fixture. ----

#[path = "../tests/it/support/tls.rs"]
#[allow(
    dead_code,
    reason = "the tests' certificates; the bench uses the CA and the server certificate only"
)]
mod tls;

#[path = "../tests/it/support/server.rs"]
#[allow(
    dead_code,
    reason = "the tests' server fixture; the bench uses its start-up and URL only"
)]
mod server;

/// The bench is one caller measuring throughput: its anti-harvest budget, its per-caller
/// share of the evaluation bound and its lane (fairness between callers) are lifted to the
/// server's total.
const ONE_CALLER: &str = "[server.limits]\nmax_evaluating_recipients_per_caller = 32000\n\
                          max_running_recipients_per_caller = 32000\n";

fn config() -> Config {
    let text = format!(
        "[org]\nexternal_recipient_tips = true\nmax_message_size = \"25MB\"\n\
         internal_domains = [{{ domain = \"contoso.com\", include_subdomains = true }}]\n\
         [auth]\nmode = \"none\"\nrecipients_per_minute = 1000000000\n{ONE_CALLER}"
    );
    Config::from_toml(&text, std::path::Path::new("<bench>")).unwrap()
}

/// Waits until the server's group metrics are computed (the all-staff group shows
/// LARGE_AUDIENCE): the warm state the targets are about.
async fn wait_for_metrics(target: &str) {
    let channel = load::connect(target, 1).await.unwrap().remove(0);
    let mut client = pb::mail_tips_service_client::MailTipsServiceClient::new(channel);
    let started = Instant::now();
    loop {
        let r = client
            .get_mail_tips(pb::GetMailTipsRequest {
                sender: synth::mailbox_address(0),
                recipients: vec![pb::Recipient {
                    address: format!("all-staff@{}", synth::DOMAIN),
                    field: pb::RecipientField::To as i32,
                }],
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        if r.recipients[0]
            .tips
            .iter()
            .any(|t| t.kind == pb::TipKind::LargeAudience as i32)
        {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "metrics never ready"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every draft's real response once; returns the encoded response whose size is closest to
/// the mean, for the baseline to send.
async fn representative_response(target: &str, drafts: &[pb::GetMailTipsRequest]) -> Bytes {
    let channel = load::connect(target, 1).await.unwrap().remove(0);
    let mut client = pb::mail_tips_service_client::MailTipsServiceClient::new(channel)
        .max_decoding_message_size(64 << 20);
    let mut responses = Vec::with_capacity(drafts.len());
    for d in drafts {
        responses.push(client.get_mail_tips(d.clone()).await.unwrap().into_inner());
    }
    let mean = responses.iter().map(|r| r.encoded_len()).sum::<usize>() / responses.len();
    let closest = responses
        .iter()
        .min_by_key(|r| r.encoded_len().abs_diff(mean))
        .unwrap();
    Bytes::from(closest.encode_to_vec())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The name of the servers' runtime threads (both servers run there; the client does not).
const SERVER_THREAD: &str = "bench-server";

/// CPU time this process's threads have run, in seconds: the servers' threads (their runtime
/// and the real server's heavy-draft runtime) and all the others (the load client's runtime
/// and the main thread). Read from the scheduler's own accounting
/// (`/proc/self/task/*/schedstat`, nanoseconds); `None` where there is none.
fn cpu_split() -> Option<(f64, f64)> {
    let (mut server, mut client) = (0.0, 0.0);
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let dir = task.ok()?.path();
        // A thread that ended since the listing has no files left: it ran nothing now.
        let (Ok(name), Ok(stat)) = (
            std::fs::read_to_string(dir.join("comm")),
            std::fs::read_to_string(dir.join("schedstat")),
        ) else {
            continue;
        };
        let ns: f64 = stat.split_whitespace().next()?.parse().ok()?;
        // The real server's own runtime for drafts over 256 recipients is the server's too.
        if matches!(name.trim_end(), SERVER_THREAD | "mailtips-heavy") {
            server += ns / 1e9;
        } else {
            client += ns / 1e9;
        }
    }
    Some((server, client))
}

/// One round's report, with the CPU time per request the servers and the client spent in it.
struct Round {
    report: Report,
    /// Microseconds of the servers' threads per request, and of the client's.
    cpu_us: Option<(f64, f64)>,
}

impl Round {
    fn measure(run: impl FnOnce() -> Report) -> Round {
        let before = cpu_split();
        let report = run();
        let per_request = |(s1, c1): (f64, f64), (s0, c0): (f64, f64)| {
            let n = report.requests.max(1) as f64;
            ((s1 - s0) / n * 1e6, (c1 - c0) / n * 1e6)
        };
        let cpu_us = before.zip(cpu_split()).map(|(b, a)| per_request(a, b));
        Round { report, cpu_us }
    }
}

struct Comparison {
    name: String,
    real: Vec<Round>,
    other: Vec<Round>,
}

impl Comparison {
    fn print(&self, other_name: &str) -> serde_json::Value {
        let real: Vec<&Report> = self.real.iter().map(|r| &r.report).collect();
        let other: Vec<&Report> = self.other.iter().map(|r| &r.report).collect();
        let ratio = median(
            real.iter()
                .zip(&other)
                .map(|(r, b)| r.requests_per_s / b.requests_per_s)
                .collect(),
        );
        let p99_ratio = median(
            real.iter()
                .zip(&other)
                .map(|(r, b)| r.latency_ms.p99 / b.latency_ms.p99)
                .collect(),
        );
        let rps = |v: &[&Report]| median(v.iter().map(|r| r.requests_per_s).collect());
        let p99 = |v: &[&Report]| median(v.iter().map(|r| r.latency_ms.p99).collect());
        let bytes = |v: &[&Report]| median(v.iter().map(|r| r.mean_response_bytes).collect());
        println!(
            "{}: real {:.0} req/s p99 {:.3} ms ({:.0} B) | {other_name} {:.0} req/s p99 {:.3} ms ({:.0} B) | throughput ratio {:.3}  p99 ratio {:.3}  (median of {} rounds)",
            self.name,
            rps(&real),
            p99(&real),
            bytes(&real),
            rps(&other),
            p99(&other),
            bytes(&other),
            ratio,
            p99_ratio,
            real.len()
        );
        // CPU per request, median of the rounds: (servers' threads, everything else).
        let cpu = |v: &[Round]| -> Option<(f64, f64)> {
            let all: Option<Vec<(f64, f64)>> = v.iter().map(|r| r.cpu_us).collect();
            let all = all?;
            Some((
                median(all.iter().map(|c| c.0).collect()),
                median(all.iter().map(|c| c.1).collect()),
            ))
        };
        let (real_cpu, other_cpu) = (cpu(&self.real), cpu(&self.other));
        match real_cpu.zip(other_cpu) {
            Some(((rs, rc), (os, oc))) => println!(
                "  CPU per request: servers' threads {rs:.1} µs real, {os:.1} µs {other_name} \
                 (difference {:.1} µs); client {rc:.1} µs and {oc:.1} µs",
                rs - os
            ),
            None => println!("  CPU per request: not measured (no /proc/self/task/*/schedstat)"),
        }
        let all_ok = |v: &[&Report]| v.iter().all(|r| r.ok() == r.requests);
        assert!(
            all_ok(&real) && all_ok(&other),
            "some calls failed: {:?} {:?}",
            real.iter().map(|r| &r.status).collect::<Vec<_>>(),
            other.iter().map(|r| &r.status).collect::<Vec<_>>()
        );
        let cpu_json = |c: Option<(f64, f64)>| {
            c.map(|(server, client)| serde_json::json!({"server": server, "client": client}))
        };
        serde_json::json!({
            "name": self.name,
            "throughput_ratio": ratio,
            "p99_ratio": p99_ratio,
            "real": real,
            "real_cpu_us_per_request": cpu_json(real_cpu),
            "compared_with": other_name,
            "other": other,
            "other_cpu_us_per_request": cpu_json(other_cpu),
        })
    }
}

fn main() {
    let a = args();
    // Log set-up as `mailtips serve` has it (info level), written nowhere: the server pays for
    // its spans and events as in production.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .with_writer(std::io::sink)
        .init();
    // Servers and client on separate runtimes, as separate processes would be. The servers'
    // threads are named, so each round can tell their CPU time from the client's.
    let servers = tokio::runtime::Builder::new_multi_thread()
        .thread_name(SERVER_THREAD)
        .enable_all()
        .build()
        .unwrap();
    let client = Runtime::new().unwrap();
    println!(
        "load bench: {} mailboxes, {} groups, concurrency {}, {} round(s) of {} s per side{}",
        a.mailboxes,
        a.groups,
        a.concurrency,
        a.rounds,
        a.seconds,
        if a.smoke { " (smoke)" } else { "" }
    );
    let t = Instant::now();
    let (text, _) = synth::generate(&GenParams {
        mailboxes: a.mailboxes,
        groups: a.groups,
        seed: 1,
    });
    let snapshot = Snapshot::parse(&text, "<generated>", Default::default()).unwrap();
    drop(text);
    let book = AddressBook::from_snapshot(&snapshot);
    let directory = Arc::new(FileDirectory::from_snapshot(snapshot));
    println!(
        "directory generated and loaded in {:.2} s",
        t.elapsed().as_secs_f64()
    );

    let real = servers.block_on(server::TestServer::start(config(), directory.clone()));
    let real_target = real.url();
    client.block_on(wait_for_metrics(&real_target));

    // The second configuration: TLS, and a bearer token on every call. The real server
    // requires the token and terminates TLS; the bare one terminates TLS too (and ignores the
    // token), so the comparison shows only the service's own cost.
    let transports: &[bool] = match a.transport.as_str() {
        "plain" => &[false],
        "tls" => &[true],
        _ => &[false, true],
    };
    let secure = transports.contains(&true).then(|| {
        let sender = synth::mailbox_address(0);
        let (mut config, token, keys) = auth_setup(&sender);
        let ca = tls::TestCa::new("mailtips bench CA");
        let leaf = ca.server_cert();
        config.server.tls = Some(tls::TlsFiles::write(keys.path(), &leaf, None).config());
        let server = servers.block_on(server::TestServer::start_tls(
            config,
            directory.clone(),
            ca.client_tls(),
        ));
        let mut authorization: tonic::metadata::MetadataValue<tonic::metadata::Ascii> =
            format!("Bearer {token}").parse().unwrap();
        authorization.set_sensitive(true);
        Secure {
            server,
            sender,
            authorization,
            ca,
            leaf,
            _keys: keys,
        }
    });

    let run_as = |target: &str,
                  drafts: &Arc<Vec<pb::GetMailTipsRequest>>,
                  secure: Option<&Secure>| {
        let opts = LoadOptions {
            target: target.to_owned(),
            concurrency: a.concurrency,
            duration: Duration::from_secs_f64(a.seconds),
            requests: u64::MAX,
            authorization: secure.map(|s| s.authorization.clone()),
            tls: secure.map(|s| s.ca.client_tls()),
            ..LoadOptions::default()
        };
        let round = Round::measure(|| client.block_on(load::run(&opts, drafts.clone())).unwrap());
        let report = &round.report;
        assert_eq!(report.ok(), report.requests, "calls failed: {report}");
        round
    };
    let run =
        |target: &str, drafts: &Arc<Vec<pb::GetMailTipsRequest>>| run_as(target, drafts, None);
    let wanted = |name: &str| a.only.as_deref().is_none_or(|o| o == name);
    let mut results = Vec::new();

    for recipients in [10usize, 200] {
        if !wanted(&recipients.to_string()) {
            continue;
        }
        for &over_tls in transports {
            let secure = over_tls.then(|| secure.as_ref().unwrap());
            let mut drafts = book
                .drafts(&DraftMix {
                    recipients,
                    pool: if a.smoke { 50 } else { 500 },
                    ..DraftMix::default()
                })
                .unwrap();
            if let Some(s) = secure {
                // A token's owner asks as itself.
                for d in &mut drafts {
                    d.sender = s.sender.clone();
                }
            }
            let drafts = Arc::new(drafts);
            // The plaintext server answers the same drafts with the same bytes.
            let response = client.block_on(representative_response(&real_target, &drafts));
            let (bare_target, _stop_bare) =
                servers.block_on(start_bare(response, secure.map(|s| s.leaf.identity())));
            let real_target = secure.map_or_else(|| real_target.clone(), |s| s.server.url());
            // Warm both (connections, allocator, caches) before measuring.
            run_as(&real_target, &drafts, secure);
            run_as(&bare_target, &drafts, secure);
            let mut c = Comparison {
                name: format!(
                    "warm {recipients}-recipient drafts, {}",
                    if over_tls {
                        "TLS + bearer token"
                    } else {
                        "plaintext"
                    }
                ),
                real: Vec::new(),
                other: Vec::new(),
            };
            for round in 0..a.rounds {
                // ABBA order so that drift over time hits both sides alike.
                if round % 2 == 0 {
                    c.other.push(run_as(&bare_target, &drafts, secure));
                    c.real.push(run_as(&real_target, &drafts, secure));
                } else {
                    c.real.push(run_as(&real_target, &drafts, secure));
                    c.other.push(run_as(&bare_target, &drafts, secure));
                }
            }
            results.push(c.print("bare_tonic"));
        }
    }

    if wanted("metrics") {
        // Group metrics time, then request p99 while the job recomputes back-to-back.
        let graph = client.block_on(directory.group_graph()).unwrap();
        let t = Instant::now();
        let n = mailtips::domain::groups::compute(&graph).len();
        println!(
            "group metrics for {n} groups: {:.1} ms",
            t.elapsed().as_secs_f64() * 1000.0
        );
        // The job's slices (what a request queued behind one waits at most).
        let mut expansion = mailtips::domain::Expansion::new(&graph);
        let mut sink = Vec::new();
        let mut slices = Vec::new();
        loop {
            let t = Instant::now();
            let done = expansion.step(mailtips::metrics::SLICE, &mut sink);
            slices.push(t.elapsed());
            if done {
                break;
            }
        }
        slices.sort();
        println!(
            "  in {} slices of {} units: median {:.0} µs, p99 {:.0} µs, max {:.0} µs",
            slices.len(),
            mailtips::metrics::SLICE,
            slices[slices.len() / 2].as_secs_f64() * 1e6,
            slices[slices.len() * 99 / 100].as_secs_f64() * 1e6,
            slices[slices.len() - 1].as_secs_f64() * 1e6,
        );
        let drafts = Arc::new(book.drafts(&DraftMix::default()).unwrap());
        run(&real_target, &drafts);
        let busy = Arc::new(AtomicBool::new(false));
        let refreshes = Arc::new(AtomicU64::new(0));
        let store = Arc::new(MetricsStore::default());
        {
            let (busy, refreshes, directory) = (busy.clone(), refreshes.clone(), directory.clone());
            servers.spawn(async move {
                loop {
                    if busy.load(Ordering::Relaxed) {
                        store.refresh(&directory).await.unwrap();
                        refreshes.fetch_add(1, Ordering::Relaxed);
                    } else {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
            });
        }
        let mut c = Comparison {
            name:
                "10-recipient drafts while group metrics recompute back-to-back (real vs real idle)"
                    .into(),
            real: Vec::new(),
            other: Vec::new(),
        };
        let mut busy_for = Duration::ZERO;
        for _ in 0..a.rounds {
            c.other.push(run(&real_target, &drafts));
            busy.store(true, Ordering::Relaxed);
            let t = Instant::now();
            c.real.push(run(&real_target, &drafts));
            busy_for += t.elapsed();
            busy.store(false, Ordering::Relaxed);
        }
        // Under load a recomputation rests between bursts of slices, so it takes longer than
        // the one-go time above: this is how long, with the drafts running beside it.
        let n = refreshes.load(Ordering::Relaxed);
        println!(
            "({n} metrics refreshes finished during the busy rounds: one per {:.2} s)",
            busy_for.as_secs_f64() / n.max(1) as f64
        );
        results.push(c.print("idle"));
    }

    if wanted("auth") {
        // One sender (the token's owner) for every draft, on both sides.
        let mut drafts = book.drafts(&DraftMix::default()).unwrap();
        let sender = drafts[0].sender.clone();
        for d in &mut drafts {
            d.sender = sender.clone();
        }
        let drafts = Arc::new(drafts);
        let (auth_config, token, _keys) = auth_setup(&sender);
        let authed = servers.block_on(server::TestServer::start(auth_config, directory.clone()));
        let run_authed = || {
            let mut value: tonic::metadata::MetadataValue<tonic::metadata::Ascii> =
                format!("Bearer {token}").parse().unwrap();
            value.set_sensitive(true);
            let opts = LoadOptions {
                target: authed.url(),
                concurrency: a.concurrency,
                duration: Duration::from_secs_f64(a.seconds),
                requests: u64::MAX,
                authorization: Some(value),
                ..LoadOptions::default()
            };
            let round =
                Round::measure(|| client.block_on(load::run(&opts, drafts.clone())).unwrap());
            let report = &round.report;
            assert_eq!(
                report.ok(),
                report.requests,
                "authenticated calls failed: {report}"
            );
            round
        };
        run(&real_target, &drafts);
        run_authed();
        let mut c = Comparison {
            name: "10-recipient drafts, bearer token (cached) vs no authentication".into(),
            real: Vec::new(),
            other: Vec::new(),
        };
        for round in 0..a.rounds {
            if round % 2 == 0 {
                c.other.push(run(&real_target, &drafts));
                c.real.push(run_authed());
            } else {
                c.real.push(run_authed());
                c.other.push(run(&real_target, &drafts));
            }
        }
        results.push(c.print("no_auth"));
    }

    if let Some(path) = &a.json {
        std::fs::write(path, serde_json::to_string_pretty(&results).unwrap()).unwrap();
    }
}

/// The TLS + token configuration: the real server requiring tokens over TLS, the owner of its
/// token, and the certificates both servers present.
struct Secure {
    server: server::TestServer,
    sender: String,
    authorization: tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
    ca: tls::TestCa,
    leaf: tls::Leaf,
    _keys: tempfile::TempDir,
}

/// A config requiring tokens of a test issuer (an ES256 key made here, its JWKS in a temporary
/// file), with a budget the bench never meets; and a token for `sender`.
fn auth_setup(sender: &str) -> (Config, String, tempfile::TempDir) {
    use base64::Engine as _;
    use ring::signature::{self, KeyPair as _};
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let rng = ring::rand::SystemRandom::new();
    let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    let pkcs8 = signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
    let pair = signature::EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap();
    let (x, y) = pair.public_key().as_ref()[1..].split_at(32);
    let jwks = serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "alg": "ES256",
        "kid": "bench", "x": b64.encode(x), "y": b64.encode(y)}]});
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, jwks.to_string()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({"iss": "https://sso.bench.test", "aud": "mailtips",
        "email": sender, "iat": now, "exp": now + 3600});
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some("bench".into());
    let token = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_ec_der(pkcs8.as_ref()),
    )
    .unwrap();
    let text = format!(
        "[org]\nexternal_recipient_tips = true\nmax_message_size = \"25MB\"\n\
         internal_domains = [{{ domain = \"contoso.com\", include_subdomains = true }}]\n\
         [auth]\nrecipients_per_minute = 1000000000\n[[auth.jwt]]\n\
         issuer = \"https://sso.bench.test\"\naudience = \"mailtips\"\njwks_file = \"{}\"\n\
         {ONE_CALLER}",
        path.display()
    );
    let config = Config::from_toml(&text, std::path::Path::new("<bench>")).unwrap();
    (config, token, dir)
}
