//! What the server measures about itself: the Prometheus metrics every layer records into
//! ([`get`], one process-wide registry, so that each measured place needs one line and no
//! handle passed down), and the log subscriber ([`logs`]). The admin listener
//! (`api::admin`) serves [`encode`]d text at `/metrics`; docs/operations.md lists every name.
//!
//! Labels take values from small fixed sets only (method names the server knows, gRPC code
//! names, backend kinds), never from a request, so no client can grow the registry.

pub mod logs;

use std::sync::{LazyLock, OnceLock};
use std::time::{Duration, SystemTime};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// The method label of a gRPC call: the methods the server knows, then `other` for any path a
/// client may send. [`Telemetry::request`] takes an index into this list.
pub const METHODS: [&str; 7] = [
    "GetMailTips",
    "WatchMailTips",
    "GetServiceConfiguration",
    "health.Check",
    "health.Watch",
    "reflection",
    "other",
];

/// The code label of a gRPC call: the status code names, indexed by the code's number.
pub const GRPC_CODES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// The number of the `UNKNOWN` code, which a code out of range counts as.
pub const UNKNOWN_CODE: usize = 2;

/// The directory backends whose lookup series are resolved once ([`Telemetry::lookup`]).
const BACKENDS: [&str; 2] = ["file", "ldap"];

type Labels1 = [(&'static str, &'static str); 1];
type Labels2 = [(&'static str, &'static str); 2];
type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// Every metric the server records, registered under the `mailtips_` prefix.
pub struct Telemetry {
    registry: Registry,
    requests: Family<Labels2, Counter>,
    request_duration: Histograms<Labels1>,
    /// Each method's series of the two families above, taken from them on first use: a
    /// family's `get_or_create` hashes the labels under a lock, and every call records here.
    by_method: [MethodSeries; METHODS.len()],
    /// Each backend's series of `lookup_duration` ([`BACKENDS`]), the same way.
    lookups_by_backend: [OnceLock<Histogram>; BACKENDS.len()],
    recipients: Histogram,
    lookup_duration: Histograms<Labels1>,
    lookup_errors: Family<Labels1, Counter>,
    cache: Family<Labels1, Counter>,
    ldap_connects: Family<Labels1, Counter>,
    group_metrics_duration: Histogram,
    group_metrics_last_success: Gauge<f64, std::sync::atomic::AtomicU64>,
    group_metrics_failures: Counter,
    watch_streams: Gauge,
    refused: Family<Labels1, Counter>,
}

/// One method's handles into the request families (clones share the family's series).
#[derive(Default)]
struct MethodSeries {
    duration: OnceLock<Histogram>,
    calls: [OnceLock<Counter>; GRPC_CODES.len()],
}

/// Latency buckets from 250 µs to about 8 s.
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

/// Group metrics runs: 10 ms to about 20 minutes.
fn job_duration() -> Histogram {
    Histogram::new(exponential_buckets(0.01, 2.0, 18))
}

impl Telemetry {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("mailtips");
        let t = Self {
            requests: Family::default(),
            request_duration: Family::new_with_constructor(latency),
            by_method: Default::default(),
            lookups_by_backend: Default::default(),
            recipients: Histogram::new([
                1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 200.0, 500.0, 1000.0,
            ]),
            lookup_duration: Family::new_with_constructor(latency),
            lookup_errors: Family::default(),
            cache: Family::default(),
            ldap_connects: Family::default(),
            group_metrics_duration: job_duration(),
            group_metrics_last_success: Gauge::default(),
            group_metrics_failures: Counter::default(),
            watch_streams: Gauge::default(),
            refused: Family::default(),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register(
            "grpc_requests",
            "gRPC calls answered, by method and gRPC status code",
            t.requests.clone(),
        );
        r.register_with_unit(
            "grpc_request_duration",
            "Time to answer a gRPC call (to the response headers), by method",
            Unit::Seconds,
            t.request_duration.clone(),
        );
        r.register(
            "request_recipients",
            "Recipients per evaluated draft",
            t.recipients.clone(),
        );
        r.register_with_unit(
            "directory_lookup_duration",
            "Time of one batch lookup in the directory backend, by backend",
            Unit::Seconds,
            t.lookup_duration.clone(),
        );
        r.register(
            "directory_lookup_errors",
            "Batch lookups the directory backend failed, by backend",
            t.lookup_errors.clone(),
        );
        r.register(
            "directory_cache_lookups",
            "Addresses looked up in the directory cache, by result (hit, miss, stale)",
            t.cache.clone(),
        );
        r.register(
            "ldap_connects",
            "Connections opened to the LDAP server (reconnects included), by result",
            t.ldap_connects.clone(),
        );
        r.register_with_unit(
            "group_metrics_duration",
            "Time of a successful group metrics run",
            Unit::Seconds,
            t.group_metrics_duration.clone(),
        );
        r.register(
            "group_metrics_last_success_timestamp_seconds",
            "Unix time of the last successful group metrics run (0: none yet)",
            t.group_metrics_last_success.clone(),
        );
        r.register(
            "group_metrics_failures",
            "Group metrics runs that failed (the previous counts stay)",
            t.group_metrics_failures.clone(),
        );
        r.register(
            "watch_streams_open",
            "WatchMailTips streams open now",
            t.watch_streams.clone(),
        );
        r.register(
            "refused_calls",
            "Calls refused before evaluation, by reason (unauthenticated, denied, throttled, shed)",
            t.refused.clone(),
        );
        Self { registry, ..t }
    }

    /// A call refused before evaluation: `unauthenticated` (no valid credentials), `denied`
    /// (not allowed to ask as the sender), `throttled` (over the anti-harvest budget) or `shed`
    /// (load shedding and stream caps).
    pub fn refused(&self, reason: &'static str) {
        self.refused.get_or_create(&[("reason", reason)]).inc();
    }

    /// A gRPC call to [`METHODS`]`[method]` answered with the gRPC code numbered `code` after
    /// `elapsed`. An index out of range counts as `other` or `UNKNOWN`.
    pub fn request(&self, method: usize, code: usize, elapsed: Duration) {
        let method = method.min(METHODS.len() - 1);
        let code = if code < GRPC_CODES.len() {
            code
        } else {
            UNKNOWN_CODE
        };
        let series = &self.by_method[method];
        series.calls[code]
            .get_or_init(|| {
                let labels = [("method", METHODS[method]), ("code", GRPC_CODES[code])];
                self.requests.get_or_create(&labels).clone()
            })
            .inc();
        series
            .duration
            .get_or_init(|| {
                let labels = [("method", METHODS[method])];
                self.request_duration.get_or_create(&labels).clone()
            })
            .observe(elapsed.as_secs_f64());
    }

    /// A draft with `n` recipients evaluated.
    pub fn recipients(&self, n: usize) {
        self.recipients.observe(n as f64);
    }

    /// One batch lookup in `backend` ("file", "ldap") took `elapsed`; `ok` = it answered.
    pub fn lookup(&self, backend: &'static str, elapsed: Duration, ok: bool) {
        // A backend answers every draft: its series is resolved once (see `by_method`).
        let labels = [("backend", backend)];
        let seconds = elapsed.as_secs_f64();
        match BACKENDS.iter().position(|b| *b == backend) {
            Some(i) => self.lookups_by_backend[i]
                .get_or_init(|| self.lookup_duration.get_or_create(&labels).clone())
                .observe(seconds),
            None => self.lookup_duration.get_or_create(&labels).observe(seconds),
        }
        if !ok {
            self.lookup_errors.get_or_create(&labels).inc();
        }
    }

    /// `n` addresses answered by the directory cache with `result`: "hit", "miss" (asked the
    /// backend) or "stale" (an expired answer served while the backend failed).
    pub fn cache(&self, result: &'static str, n: usize) {
        if n > 0 {
            self.cache
                .get_or_create(&[("result", result)])
                .inc_by(n as u64);
        }
    }

    /// A cache lookup of a batch: `hits` addresses answered fresh, `misses` asked the backend.
    pub fn cache_lookups(&self, hits: usize, misses: usize) {
        self.cache("hit", hits);
        self.cache("miss", misses);
    }

    /// A connection to the LDAP server opened (`ok`) or failed.
    pub fn ldap_connect(&self, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        self.ldap_connects
            .get_or_create(&[("result", result)])
            .inc();
    }

    /// A group metrics run finished after `elapsed`, successfully or not.
    pub fn group_metrics_run(&self, elapsed: Duration, ok: bool) {
        if ok {
            self.group_metrics_duration.observe(elapsed.as_secs_f64());
            let now = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default();
            self.group_metrics_last_success.set(now.as_secs_f64());
        } else {
            self.group_metrics_failures.inc();
        }
    }

    /// A `WatchMailTips` stream opened; it counts as open until the guard drops.
    pub fn watch_stream(&self) -> WatchStreamGuard {
        self.watch_streams.inc();
        WatchStreamGuard(())
    }
}

/// Holds one open Watch stream in `mailtips_watch_streams_open`.
pub struct WatchStreamGuard(());

impl Drop for WatchStreamGuard {
    fn drop(&mut self) {
        get().watch_streams.dec();
    }
}

static TELEMETRY: LazyLock<Telemetry> = LazyLock::new(Telemetry::new);

/// The process-wide metrics.
pub fn get() -> &'static Telemetry {
    &TELEMETRY
}

/// Every metric in the Prometheus text exposition format.
pub fn encode() -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &get().registry);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prometheus_conventions() {
        get().request(0, 0, Duration::from_millis(2));
        get().request(0, 0, Duration::from_millis(3));
        get().request(99, 99, Duration::from_millis(2));
        get().cache("hit", 3);
        get().lookup("file", Duration::from_millis(1), true);
        get().lookup("ldap", Duration::from_millis(1), false);
        get().refused("throttled");
        let text = encode();
        assert!(
            text.contains("mailtips_grpc_requests_total{method=\"GetMailTips\",code=\"OK\"}"),
            "{text}"
        );
        // Out of range: the last method and UNKNOWN, never a new label value.
        assert!(
            text.contains("mailtips_grpc_requests_total{method=\"other\",code=\"UNKNOWN\"} "),
            "{text}"
        );
        assert!(text.contains("mailtips_grpc_request_duration_seconds_bucket"));
        assert!(text.contains("mailtips_directory_cache_lookups_total{result=\"hit\"}"));
        for backend in ["file", "ldap"] {
            let series = format!(
                "mailtips_directory_lookup_duration_seconds_count{{backend=\"{backend}\"}} "
            );
            assert!(text.contains(&series), "{text}");
        }
        assert!(text.contains("mailtips_directory_lookup_errors_total{backend=\"ldap\"} "));
        assert!(text.contains("mailtips_watch_streams_open "));
        assert!(text.contains("mailtips_refused_calls_total{reason=\"throttled\"}"));
        assert!(text.ends_with("# EOF\n"));
    }
}
