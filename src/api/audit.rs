//! Warnings about refused calls (unauthenticated, denied, over budget), with the caller's
//! identity and the reason, rate limited so that an attack cannot flood the log: past
//! [`WARNINGS_PER_SECOND`], refusals are counted and the next warning says how many were not
//! logged.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::api::caller::Caller;

/// Refusal warnings logged per second at most (and in a burst).
const WARNINGS_PER_SECOND: u32 = 10;

static LIMITER: LazyLock<DefaultDirectRateLimiter> = LazyLock::new(|| {
    RateLimiter::direct(Quota::per_second(
        NonZeroU32::new(WARNINGS_PER_SECOND).expect("non-zero"),
    ))
});
static SUPPRESSED: AtomicU64 = AtomicU64::new(0);

/// Logs at warn that a call by `caller` was refused (`what`: unauthenticated, denied,
/// throttled) and why, unless too many were logged this second.
pub(crate) fn refused(caller: &Caller, what: &'static str, reason: &str) {
    crate::telemetry::get().refused(what);
    if LIMITER.check().is_ok() {
        let suppressed = SUPPRESSED.swap(0, Ordering::Relaxed);
        tracing::warn!(%caller, refused = what, reason, suppressed, "call refused");
    } else {
        SUPPRESSED.fetch_add(1, Ordering::Relaxed);
    }
}

/// The peer address tonic recorded for a request, over TCP or TLS.
pub(crate) fn peer_ip(ext: &http::Extensions) -> Option<IpAddr> {
    use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
    ext.get::<TcpConnectInfo>()
        .and_then(TcpConnectInfo::remote_addr)
        .or_else(|| {
            ext.get::<TlsConnectInfo<TcpConnectInfo>>()
                .and_then(|i| i.get_ref().remote_addr())
        })
        .map(|a| a.ip())
}
