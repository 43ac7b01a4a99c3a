//! The load tool behind `mailtips load` and the `load` bench: a real tonic client that drives
//! `GetMailTips` (or `WatchMailTips`, first message) with drafts drawn from a directory, at a
//! fixed concurrency, for a bounded number of requests and a bounded time, optionally at a
//! target rate, and reports throughput, latency percentiles and counts per gRPC status.
//!
//! It only ever talks to the one target it is given. Latencies are kept exactly (one `u32` of
//! microseconds per request) and sorted at the end, so percentiles are exact, not bucketed.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;
use tonic::transport::{Channel, Endpoint};

use crate::api::pb;
use crate::directory::file::Snapshot;
use crate::domain::EntryKind;
use crate::domain::address::AddressRules;
use crate::tools::synth::SplitMix64;

/// Why a load run could not start.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("invalid target {target:?}: {source}")]
    Target {
        target: String,
        source: tonic::transport::Error,
    },
    #[error("cannot connect to {target}: {source}")]
    Connect {
        target: String,
        source: tonic::transport::Error,
    },
    #[error("{0}")]
    Options(String),
}

/// `mailtips load`: drive a running server with drafts drawn from a directory file and report
/// req/s, latency percentiles and gRPC status counts.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The server to load; nothing else is contacted.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    pub target: String,
    /// The directory file drafts are drawn from (e.g. written by gen-directory).
    #[arg(long)]
    pub directory: PathBuf,
    /// Requests in flight at once.
    #[arg(long, short = 'c', default_value_t = 32)]
    pub concurrency: usize,
    /// HTTP/2 connections to spread them over.
    #[arg(long, default_value_t = 1)]
    pub connections: usize,
    /// Stop after this many requests (the run also stops at --duration).
    #[arg(long, short = 'n', default_value_t = 1_000_000)]
    pub requests: u64,
    /// Stop after this long, e.g. 30s (the run also stops at --requests).
    #[arg(long, short = 'z', default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Target requests per second (default: as fast as the server answers).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Recipients per draft.
    #[arg(long, default_value_t = 10)]
    pub recipients: usize,
    /// Share of external recipients (0..1).
    #[arg(long, default_value_t = 0.1)]
    pub external: f64,
    /// Share of unknown internal recipients (0..1).
    #[arg(long, default_value_t = 0.05)]
    pub unknown: f64,
    /// Share of group recipients (0..1).
    #[arg(long, default_value_t = 0.1)]
    pub group: f64,
    /// Distinct drafts to cycle through.
    #[arg(long, default_value_t = 1000)]
    pub pool: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Per-request deadline.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Call WatchMailTips and time its first message instead.
    #[arg(long)]
    pub watch: bool,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write the first draft as a gRPC length-prefixed message to this file (a request body
    /// for h2load, see docs/load-testing.md) and exit without sending anything.
    #[arg(long)]
    pub write_frame: Option<PathBuf>,
}

/// Runs `mailtips load`.
///
/// # Errors
/// An unreadable directory file, a draft mix that cannot be drawn, or a server that cannot be
/// reached.
pub async fn command(args: Args) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let text = std::fs::read_to_string(&args.directory)
        .with_context(|| format!("while reading {}", args.directory.display()))?;
    let snapshot = Snapshot::parse(
        &text,
        &args.directory.display().to_string(),
        AddressRules::default(),
    )?;
    let mix = DraftMix {
        recipients: args.recipients,
        external: args.external,
        unknown: args.unknown,
        group: args.group,
        pool: args.pool,
        message_size: 0,
        seed: args.seed,
    };
    let drafts = AddressBook::from_snapshot(&snapshot).drafts(&mix)?;
    drop(snapshot);
    if let Some(path) = &args.write_frame {
        std::fs::write(path, grpc_frame(&drafts[0]))
            .with_context(|| format!("while writing {}", path.display()))?;
        return Ok(());
    }
    let opts = LoadOptions {
        target: args.target,
        concurrency: args.concurrency,
        connections: args.connections,
        requests: args.requests,
        duration: args.duration,
        rate: args.rate,
        timeout: args.timeout,
        watch: args.watch,
    };
    let report = run(&opts, Arc::new(drafts)).await?;
    println!("{report}");
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("while writing {}", path.display()))?;
    }
    Ok(())
}

/// How the drafts are made.
#[derive(Debug, Clone, PartialEq)]
pub struct DraftMix {
    /// Recipients per draft.
    pub recipients: usize,
    /// Share of recipients that are external (a contact or a one-off external address).
    pub external: f64,
    /// Share of internal addresses that no directory object has.
    pub unknown: f64,
    /// Share of recipients that are groups.
    pub group: f64,
    /// Distinct drafts to cycle through.
    pub pool: usize,
    /// `message_size_bytes` of every draft (0 = unknown).
    pub message_size: u64,
    pub seed: u64,
}

impl Default for DraftMix {
    fn default() -> Self {
        Self {
            recipients: 10,
            external: 0.1,
            unknown: 0.05,
            group: 0.1,
            pool: 1000,
            message_size: 0,
            seed: 1,
        }
    }
}

/// The addresses drafts are drawn from.
#[derive(Debug, Clone, Default)]
pub struct AddressBook {
    pub mailboxes: Vec<String>,
    pub groups: Vec<String>,
    pub contacts: Vec<String>,
}

impl AddressBook {
    /// Every object's primary address, sorted so that a seed gives the same drafts each run.
    pub fn from_snapshot(snapshot: &Snapshot) -> Self {
        let mut book = Self::default();
        for e in snapshot.objects() {
            let list = match e.kind {
                EntryKind::Mailbox => &mut book.mailboxes,
                EntryKind::Group => &mut book.groups,
                EntryKind::Contact => &mut book.contacts,
            };
            list.push(e.primary.as_str().to_owned());
        }
        book.mailboxes.sort();
        book.groups.sort();
        book.contacts.sort();
        book
    }

    /// `mix.pool` distinct requests.
    ///
    /// # Errors
    /// [`LoadError::Options`] when the book has no mailbox to send from.
    pub fn drafts(&self, mix: &DraftMix) -> Result<Vec<pb::GetMailTipsRequest>, LoadError> {
        if self.mailboxes.is_empty() {
            return Err(LoadError::Options(
                "the directory has no mailbox to send from".into(),
            ));
        }
        let mut rng = SplitMix64::new(mix.seed);
        let pick = |rng: &mut SplitMix64, v: &[String]| v[rng.below(v.len())].clone();
        let internal_domain = self.mailboxes[0]
            .rsplit_once('@')
            .map_or("contoso.com", |(_, d)| d)
            .to_owned();
        let mut drafts = Vec::with_capacity(mix.pool.max(1));
        for n in 0..mix.pool.max(1) {
            let sender = pick(&mut rng, &self.mailboxes);
            let recipients = (0..mix.recipients)
                .map(|j| {
                    let address = if rng.chance(mix.external) {
                        if !self.contacts.is_empty() && rng.chance(0.5) {
                            pick(&mut rng, &self.contacts)
                        } else {
                            format!("someone{}@external{}.example", rng.below(1_000_000), j % 7)
                        }
                    } else if rng.chance(mix.group) && !self.groups.is_empty() {
                        pick(&mut rng, &self.groups)
                    } else if rng.chance(mix.unknown) {
                        format!("nobody{n}.{j}@{internal_domain}")
                    } else {
                        pick(&mut rng, &self.mailboxes)
                    };
                    let field = match rng.below(10) {
                        0..=6 => pb::RecipientField::To,
                        7..=8 => pb::RecipientField::Cc,
                        _ => pb::RecipientField::Bcc,
                    };
                    pb::Recipient {
                        address,
                        field: field as i32,
                    }
                })
                .collect();
            drafts.push(pb::GetMailTipsRequest {
                sender,
                recipients,
                message_size_bytes: mix.message_size,
                ..Default::default()
            });
        }
        Ok(drafts)
    }
}

/// How hard and how long to drive the target.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// e.g. `http://127.0.0.1:50051`.
    pub target: String,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// HTTP/2 connections the requests are spread over.
    pub connections: usize,
    /// Stop after this many requests.
    pub requests: u64,
    /// Stop after this long.
    pub duration: Duration,
    /// Requests per second across all workers; `None` = as fast as the target answers.
    pub rate: Option<f64>,
    /// Per-request deadline (sent as `grpc-timeout` too).
    pub timeout: Duration,
    /// Call `WatchMailTips` and time the first message instead of `GetMailTips`.
    pub watch: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            target: "http://127.0.0.1:50051".into(),
            concurrency: 32,
            connections: 1,
            requests: 1_000_000,
            duration: Duration::from_secs(10),
            rate: None,
            timeout: Duration::from_secs(5),
            watch: false,
        }
    }
}

/// Latency percentiles, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Latency {
    pub min: f64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Latency {
    /// Percentiles of `micros` (sorted in place), nearest-rank.
    pub fn from_micros(micros: &mut [u32]) -> Self {
        if micros.is_empty() {
            return Self::default();
        }
        micros.sort_unstable();
        // p in per mille; integer arithmetic so that 99.9% of 1000 is rank 999 exactly.
        let at = |p: usize| {
            let rank = (p * micros.len()).div_ceil(1000);
            f64::from(micros[rank.clamp(1, micros.len()) - 1]) / 1000.0
        };
        let sum: u64 = micros.iter().map(|&m| u64::from(m)).sum();
        Self {
            min: f64::from(micros[0]) / 1000.0,
            mean: sum as f64 / micros.len() as f64 / 1000.0,
            p50: at(500),
            p90: at(900),
            p99: at(990),
            p999: at(999),
            max: f64::from(micros[micros.len() - 1]) / 1000.0,
        }
    }
}

/// What a run measured.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Report {
    pub target: String,
    pub method: &'static str,
    pub concurrency: usize,
    pub connections: usize,
    pub requests: u64,
    pub elapsed_s: f64,
    pub requests_per_s: f64,
    /// Latency of every finished call, successful or not.
    pub latency_ms: Latency,
    /// Calls per gRPC status code name (`Ok`, `Unavailable`, ...).
    pub status: BTreeMap<String, u64>,
    /// Mean encoded response size in bytes (successful calls).
    pub mean_response_bytes: f64,
}

impl Report {
    /// Successful calls.
    pub fn ok(&self) -> u64 {
        self.status.get("Ok").copied().unwrap_or(0)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let l = &self.latency_ms;
        writeln!(
            f,
            "{} {}: {} requests in {:.2} s, concurrency {} over {} connection(s)",
            self.method,
            self.target,
            self.requests,
            self.elapsed_s,
            self.concurrency,
            self.connections
        )?;
        writeln!(f, "  throughput: {:.0} req/s", self.requests_per_s)?;
        writeln!(
            f,
            "  latency ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  (min {:.3}, mean {:.3}, max {:.3})",
            l.p50, l.p90, l.p99, l.p999, l.min, l.mean, l.max
        )?;
        writeln!(f, "  mean response: {:.0} bytes", self.mean_response_bytes)?;
        write!(f, "  status:")?;
        for (code, n) in &self.status {
            write!(f, " {code}={n}")?;
        }
        Ok(())
    }
}

/// `request` as one gRPC message on the wire: a zero compression flag, the big-endian length,
/// then the protobuf bytes. What generic HTTP/2 tools (h2load) send as the body.
pub fn grpc_frame(request: &pb::GetMailTipsRequest) -> Vec<u8> {
    let body = prost::Message::encode_to_vec(request);
    let mut frame = Vec::with_capacity(body.len() + 5);
    frame.push(0);
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(&body);
    frame
}

/// Opens `n` HTTP/2 connections to `target`.
///
/// # Errors
/// [`LoadError`] when the target is not a URI or does not accept connections.
pub async fn connect(target: &str, n: usize) -> Result<Vec<Channel>, LoadError> {
    let endpoint = Endpoint::from_shared(target.to_owned())
        .map_err(|source| LoadError::Target {
            target: target.to_owned(),
            source,
        })?
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5));
    let mut channels = Vec::with_capacity(n.max(1));
    for _ in 0..n.max(1) {
        channels.push(
            endpoint
                .connect()
                .await
                .map_err(|source| LoadError::Connect {
                    target: target.to_owned(),
                    source,
                })?,
        );
    }
    Ok(channels)
}

/// How late tokio's timer may wake a paced worker on its own (its resolution is 1 ms).
const TIMER_SLACK: Duration = Duration::from_millis(2);

#[derive(Default)]
struct WorkerResult {
    micros: Vec<u32>,
    status: Vec<(tonic::Code, u64)>,
    response_bytes: u64,
}

/// Drives `opts.target` with `drafts` (cycled) until `opts.requests` calls have finished or
/// `opts.duration` has passed, whichever comes first.
///
/// # Errors
/// [`LoadError`] when the options are unusable or the target cannot be reached at all.
pub async fn run(
    opts: &LoadOptions,
    drafts: Arc<Vec<pb::GetMailTipsRequest>>,
) -> Result<Report, LoadError> {
    if opts.concurrency == 0 || drafts.is_empty() {
        return Err(LoadError::Options(
            "concurrency and the draft pool must not be empty".into(),
        ));
    }
    if opts.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        return Err(LoadError::Options("rate must be a positive number".into()));
    }
    let channels = connect(&opts.target, opts.connections).await?;
    let next = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let deadline = started + opts.duration;
    let mut workers = Vec::with_capacity(opts.concurrency);
    for w in 0..opts.concurrency {
        let mut client = pb::mail_tips_service_client::MailTipsServiceClient::new(
            channels[w % channels.len()].clone(),
        )
        .max_decoding_message_size(64 << 20);
        let (next, stop, drafts) = (next.clone(), stop.clone(), drafts.clone());
        let (limit, rate, timeout, watch) = (opts.requests, opts.rate, opts.timeout, opts.watch);
        workers.push(tokio::spawn(async move {
            let mut out = WorkerResult {
                micros: Vec::with_capacity(4096),
                ..WorkerResult::default()
            };
            loop {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= limit {
                    break;
                }
                // With a rate, call n is due at start + n/rate. A call that could not be sent
                // on time because every worker was waiting on the server counts its latency
                // from when it was due, so a server that stalls shows as queueing (no
                // coordinated omission); lateness within the timer's ~1 ms resolution is the
                // client's, not the server's, and is not counted.
                let t0 = match rate {
                    Some(r) => {
                        let due = started + Duration::from_secs_f64(n as f64 / r);
                        if due >= deadline {
                            break;
                        }
                        tokio::time::sleep_until(due).await;
                        let now = Instant::now();
                        if now.saturating_duration_since(due) > TIMER_SLACK {
                            due
                        } else {
                            now
                        }
                    }
                    None => Instant::now(),
                };
                if t0 >= deadline {
                    break;
                }
                let mut request = tonic::Request::new(drafts[n as usize % drafts.len()].clone());
                request.set_timeout(timeout);
                let call = async {
                    if watch {
                        let mut stream = client.watch_mail_tips(request).await?.into_inner();
                        match stream.message().await? {
                            Some(r) => Ok(r),
                            None => Err(tonic::Status::unknown("stream ended with no message")),
                        }
                    } else {
                        client.get_mail_tips(request).await.map(|r| r.into_inner())
                    }
                };
                let code = match tokio::time::timeout(timeout, call).await {
                    Ok(Ok(response)) => {
                        out.response_bytes += prost::Message::encoded_len(&response) as u64;
                        tonic::Code::Ok
                    }
                    Ok(Err(status)) => status.code(),
                    Err(_) => tonic::Code::DeadlineExceeded,
                };
                let elapsed = t0.elapsed();
                out.micros
                    .push(u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX));
                match out.status.iter_mut().find(|(c, _)| *c == code) {
                    Some((_, n)) => *n += 1,
                    None => out.status.push((code, 1)),
                }
            }
            out
        }));
    }
    let timer = {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(deadline).await;
            stop.store(true, Ordering::Relaxed);
        })
    };
    let mut micros = Vec::new();
    let mut status: BTreeMap<String, u64> = BTreeMap::new();
    let mut response_bytes = 0u64;
    for w in workers {
        let r = w
            .await
            .map_err(|e| LoadError::Options(format!("load worker failed: {e}")))?;
        micros.extend_from_slice(&r.micros);
        response_bytes += r.response_bytes;
        for (code, n) in r.status {
            *status.entry(format!("{code:?}")).or_default() += n;
        }
    }
    timer.abort();
    let elapsed = started.elapsed().as_secs_f64();
    let requests = micros.len() as u64;
    let ok = status.get("Ok").copied().unwrap_or(0);
    Ok(Report {
        target: opts.target.clone(),
        method: if opts.watch {
            "WatchMailTips (first message)"
        } else {
            "GetMailTips"
        },
        concurrency: opts.concurrency,
        connections: channels.len(),
        requests,
        elapsed_s: elapsed,
        requests_per_s: requests as f64 / elapsed,
        latency_ms: Latency::from_micros(&mut micros),
        status,
        mean_response_bytes: if ok > 0 {
            response_bytes as f64 / ok as f64
        } else {
            0.0
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut v: Vec<u32> = (1..=1000).rev().map(|m| m * 1000).collect();
        let l = Latency::from_micros(&mut v);
        assert_eq!(l.p50, 500.0);
        assert_eq!(l.p99, 990.0);
        assert_eq!(l.p999, 999.0);
        assert_eq!(l.max, 1000.0);
        assert_eq!(l.min, 1.0);
        assert_eq!(Latency::from_micros(&mut []), Latency::default());
    }

    #[test]
    fn drafts_follow_the_mix() {
        let book = AddressBook {
            mailboxes: (0..100).map(|i| format!("m{i}@contoso.com")).collect(),
            groups: vec!["g@contoso.com".into()],
            contacts: vec!["c@partner.example".into()],
        };
        let mix = DraftMix {
            recipients: 50,
            pool: 20,
            external: 0.0,
            unknown: 0.0,
            group: 0.0,
            ..DraftMix::default()
        };
        let d = book.drafts(&mix).unwrap();
        assert_eq!(d.len(), 20);
        assert!(d.iter().all(|r| r.recipients.len() == 50));
        assert!(
            d.iter()
                .flat_map(|r| &r.recipients)
                .all(|r| book.mailboxes.contains(&r.address))
        );
        assert_eq!(d, book.drafts(&mix).unwrap(), "deterministic");
        let all_ext = book
            .drafts(&DraftMix {
                external: 1.0,
                ..mix.clone()
            })
            .unwrap();
        assert!(
            all_ext
                .iter()
                .flat_map(|r| &r.recipients)
                .all(|r| !r.address.ends_with("@contoso.com"))
        );
        assert!(AddressBook::default().drafts(&mix).is_err());
    }
}
