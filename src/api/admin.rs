//! The admin listener (`server.admin_listen`, off unless set): `/metrics` (Prometheus, from
//! [`crate::telemetry`]), `/livez` (the process answers) and `/readyz` (200 once the directory
//! is loaded and group metrics computed once, 503 before). Plain HTTP/1.1 on its own port, so
//! that it can stay on loopback or a management network while gRPC faces clients.
//!
//! [`GrpcMetricsLayer`] counts the gRPC calls on the main port by method and status code.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Bytes;
use tokio::net::TcpListener;

use crate::telemetry::{GRPC_CODES, UNKNOWN_CODE};

/// Whether the server is ready for traffic.
pub(crate) type Ready = Arc<dyn Fn() -> bool + Send + Sync>;

/// The most admin connections served at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 32;

/// Binds `addr` and serves the admin endpoints until the returned task is aborted.
///
/// # Errors
/// The bind error.
pub(crate) async fn start(
    addr: SocketAddr,
    ready: Ready,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    if local.ip().is_loopback() {
        tracing::info!(addr = %local, "admin endpoints (/metrics, /livez, /readyz)");
    } else {
        tracing::warn!(addr = %local, "admin endpoints (/metrics, /livez, /readyz) listen beyond loopback, without authentication");
    }
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    Ok(tokio::spawn(async move {
        loop {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return;
            };
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let ready = ready.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let ready = ready.clone();
                    async move { Ok::<_, Infallible>(answer(&req, &ready)) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(5))
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
                drop(permit);
            });
        }
    }))
}

fn answer<B>(req: &Request<B>, ready: &Ready) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "GET only\n");
    }
    match req.uri().path() {
        "/metrics" => Response::builder()
            .header(
                http::header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )
            .body(Full::new(Bytes::from(crate::telemetry::encode())))
            .unwrap_or_default(),
        "/livez" => text(StatusCode::OK, "ok\n"),
        "/readyz" if ready() => text(StatusCode::OK, "ready\n"),
        "/readyz" => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the directory is not loaded or group metrics are not computed yet\n",
        ),
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: /metrics, /livez, /readyz\n",
        ),
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap_or_default()
}

/// Counts each gRPC call on the main port in `mailtips_grpc_requests_total` by method and the
/// status code of its response headers (a stream counts as OK once it opens), and its time
/// to those headers.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct GrpcMetricsLayer;

impl<S> tower::Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetrics<S>;
    fn layer(&self, inner: S) -> Self::Service {
        GrpcMetrics(inner)
    }
}

#[derive(Clone, Debug)]
pub(crate) struct GrpcMetrics<S>(S);

impl<S, B, R> tower::Service<Request<B>> for GrpcMetrics<S>
where
    S: tower::Service<Request<B>, Response = Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let method = method_of(req.uri().path());
        let started = Instant::now();
        let call = self.0.call(req);
        Box::pin(async move {
            let response = call.await;
            let code = match &response {
                Ok(r) => code_of(r),
                Err(_) => UNKNOWN_CODE,
            };
            crate::telemetry::get().request(method, code, started.elapsed());
            response
        })
    }
}

/// The method label, as an index into `telemetry::METHODS`: a method the server knows, else
/// "other" (a client cannot add label values).
fn method_of(path: &str) -> usize {
    match path {
        "/mailtips.v1.MailTipsService/GetMailTips" => 0,
        "/mailtips.v1.MailTipsService/WatchMailTips" => 1,
        "/mailtips.v1.MailTipsService/GetServiceConfiguration" => 2,
        "/grpc.health.v1.Health/Check" => 3,
        "/grpc.health.v1.Health/Watch" => 4,
        p if p.starts_with("/grpc.reflection.") => 5,
        _ => 6,
    }
}

/// The gRPC status code of a response's headers (trailers-only errors carry it there), as its
/// number (`telemetry::GRPC_CODES` names it); none: the call went on (OK), unless the HTTP
/// status says otherwise. Unreadable or out of range: UNKNOWN.
fn code_of<R>(response: &Response<R>) -> usize {
    const OK: usize = 0;
    // A `HeaderName` built once: a `&str` is parsed into one on every lookup.
    static GRPC_STATUS: http::HeaderName = http::HeaderName::from_static("grpc-status");
    match response.headers().get(&GRPC_STATUS) {
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|&n| n < GRPC_CODES.len())
            .unwrap_or(UNKNOWN_CODE),
        None if response.status().is_success() => OK,
        None => UNKNOWN_CODE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::METHODS;

    #[test]
    fn labels_come_from_fixed_sets() {
        let method = |path| METHODS[method_of(path)];
        assert_eq!(
            method("/mailtips.v1.MailTipsService/GetMailTips"),
            "GetMailTips"
        );
        assert_eq!(
            method("/mailtips.v1.MailTipsService/WatchMailTips"),
            "WatchMailTips"
        );
        assert_eq!(
            method("/mailtips.v1.MailTipsService/GetServiceConfiguration"),
            "GetServiceConfiguration"
        );
        assert_eq!(method("/grpc.health.v1.Health/Check"), "health.Check");
        assert_eq!(method("/grpc.health.v1.Health/Watch"), "health.Watch");
        assert_eq!(
            method("/grpc.reflection.v1.ServerReflection/X"),
            "reflection"
        );
        assert_eq!(method("/x.Y/anything-a-client-sends"), "other");
        let r = |code: &str| {
            Response::builder()
                .header("grpc-status", code)
                .body(())
                .unwrap()
        };
        let code = |r: &Response<()>| GRPC_CODES[code_of(r)];
        assert_eq!(code(&r("3")), "INVALID_ARGUMENT");
        assert_eq!(code(&r("16")), "UNAUTHENTICATED");
        assert_eq!(code(&r("99")), "UNKNOWN");
        assert_eq!(code(&r("x")), "UNKNOWN");
        assert_eq!(code(&Response::new(())), "OK");
    }
}
