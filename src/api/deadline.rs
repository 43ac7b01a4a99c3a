//! The caller's deadline (`grpc-timeout`): a malformed header is refused with
//! `INVALID_ARGUMENT`, and a call still running when its deadline passes is dropped (its
//! evaluation stops) and answered `DEADLINE_EXCEEDED`. The deadline is also put into the
//! request's extensions ([`Deadline`]) for `WatchMailTips`, whose stream outlives the call.
//!
//! tonic's own timeout reads the same header but ignores a malformed one and answers
//! `CANCELLED`. This layer sits inside tonic's and takes its deadline first (in `call`, before
//! tonic's timer starts), so its answer always wins.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;
use tower::{Layer, Service};

/// When the caller stops waiting, from its `grpc-timeout` header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline(pub(crate) Instant);

/// Why a `grpc-timeout` value was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct BadTimeout;

/// Parses a `grpc-timeout` value: one to eight ASCII digits and a unit, `H`, `M`, `S`, `m`
/// (milliseconds), `u` (microseconds) or `n` (nanoseconds).
pub(crate) fn parse_grpc_timeout(value: &[u8]) -> Result<Duration, BadTimeout> {
    let (&unit, digits) = value.split_last().ok_or(BadTimeout)?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(BadTimeout);
    }
    let n: u64 = std::str::from_utf8(digits)
        .map_err(|_| BadTimeout)?
        .parse()
        .map_err(|_| BadTimeout)?;
    Ok(match unit {
        b'H' => Duration::from_secs(n * 3600),
        b'M' => Duration::from_secs(n * 60),
        b'S' => Duration::from_secs(n),
        b'm' => Duration::from_millis(n),
        b'u' => Duration::from_micros(n),
        b'n' => Duration::from_nanos(n),
        _ => return Err(BadTimeout),
    })
}

/// Applies [`DeadlineService`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DeadlineLayer;

impl<S> Layer<S> for DeadlineLayer {
    type Service = DeadlineService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        DeadlineService { inner }
    }
}

/// See the module documentation.
#[derive(Debug, Clone)]
pub(crate) struct DeadlineService<S> {
    inner: S,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B, RB> Service<http::Request<B>> for DeadlineService<S>
where
    S: Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    RB: Default + Send + 'static,
{
    type Response = http::Response<RB>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        // A `HeaderName` built once: a `&str` is parsed into one on every lookup.
        static GRPC_TIMEOUT: http::HeaderName = http::HeaderName::from_static("grpc-timeout");
        let Some(value) = req.headers().get(&GRPC_TIMEOUT) else {
            return Box::pin(self.inner.call(req));
        };
        let timeout = match parse_grpc_timeout(value.as_bytes()) {
            Ok(t) => t,
            Err(BadTimeout) => {
                let status = tonic::Status::invalid_argument(format!(
                    "grpc-timeout: {:?} is not a timeout (1 to 8 digits and a unit: H, M, S, m, u or n)",
                    String::from_utf8_lossy(value.as_bytes())
                ));
                return Box::pin(std::future::ready(Ok(status.into_http())));
            }
        };
        // Taken now, before tonic's own timer starts (it calls this service first).
        let deadline = Instant::now() + timeout;
        req.extensions_mut().insert(Deadline(deadline));
        let call = self.inner.call(req);
        let sleep = tokio::time::sleep_until(deadline);
        Box::pin(async move {
            tokio::select! {
                biased;
                response = call => response,
                () = sleep => Ok(tonic::Status::deadline_exceeded(
                    "the caller's deadline (grpc-timeout) passed before the answer was ready",
                )
                .into_http()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit_and_refuses_the_rest() {
        assert_eq!(parse_grpc_timeout(b"2H"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_grpc_timeout(b"3M"), Ok(Duration::from_secs(180)));
        assert_eq!(
            parse_grpc_timeout(b"99999999S"),
            Ok(Duration::from_secs(99_999_999))
        );
        assert_eq!(parse_grpc_timeout(b"250m"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout(b"7u"), Ok(Duration::from_micros(7)));
        assert_eq!(parse_grpc_timeout(b"0n"), Ok(Duration::ZERO));
        for bad in [
            &b""[..],
            b"S",
            b"10",
            b"10s",
            b"123456789S",
            b"-1S",
            b" 1S",
            b"1.5S",
            b"soon",
            "１S".as_bytes(),
        ] {
            assert_eq!(parse_grpc_timeout(bad), Err(BadTimeout), "{bad:?}");
        }
    }
}
