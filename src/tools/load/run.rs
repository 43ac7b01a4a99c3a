//! Running a load: connections to the one target, paced or unpaced workers with a bounded
//! count and time, and the report of throughput, exact latency percentiles and status counts.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;
use tonic::transport::{Channel, Endpoint};

use super::LoadError;
use crate::api::pb;

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
    /// The `authorization` header every call carries (marked sensitive: never printed).
    pub authorization: Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>,
    /// TLS settings for an `https://` target (the CA to trust); `None`: plaintext.
    pub tls: Option<tonic::transport::ClientTlsConfig>,
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
            authorization: None,
            tls: None,
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
    pub(crate) fn from_micros(micros: &mut [u32]) -> Self {
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

/// Opens `n` HTTP/2 connections to `target`.
///
/// # Errors
/// [`LoadError`] when the target is not a URI or does not accept connections.
pub async fn connect(target: &str, n: usize) -> Result<Vec<Channel>, LoadError> {
    connect_with(target, n, None).await
}

/// [`connect`], over TLS with `tls` when given.
///
/// # Errors
/// [`LoadError`] when the target is not a URL, the TLS settings do not apply, or a connection
/// fails.
pub async fn connect_with(
    target: &str,
    n: usize,
    tls: Option<&tonic::transport::ClientTlsConfig>,
) -> Result<Vec<Channel>, LoadError> {
    let mut endpoint = Endpoint::from_shared(target.to_owned())
        .map_err(|source| LoadError::Target {
            target: target.to_owned(),
            source,
        })?
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5));
    if let Some(tls) = tls {
        endpoint = endpoint
            .tls_config(tls.clone())
            .map_err(|e| LoadError::Options(format!("TLS settings for {target}: {e}")))?;
    }
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
    let channels = connect_with(&opts.target, opts.connections, opts.tls.as_ref()).await?;
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
        let authorization = opts.authorization.clone();
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
                if let Some(value) = &authorization {
                    request
                        .metadata_mut()
                        .insert("authorization", value.clone());
                }
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
}
